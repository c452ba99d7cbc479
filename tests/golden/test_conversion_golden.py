"""The meInvoice conversions give exactly what they gave before the source-neutral redesign.

``conversions.jsonl`` holds every call the suite made of the conversion functions (orders, refunds,
cancellations, replacements, issuance decisions, buyers), with the mapping and the answer or the refusal
(its class and its words), captured once from the code as it was. ``call`` below is the only part that
follows the code: it feeds the same inputs through today's API.
"""

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from meinvoice import convert
from meinvoice.mapping import Mapping

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent / "conversions.jsonl").read_text(encoding="utf-8").splitlines()
]


def revive(value):
    """The captured JSON back into the objects the functions took."""
    if isinstance(value, list):
        return [revive(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__mapping__" in value:
        return Mapping.from_dict(value["__mapping__"])
    if "__date__" in value:
        text = value["__date__"]
        return dt.datetime.fromisoformat(text) if "T" in text else dt.date.fromisoformat(text)
    if "__decimal__" in value:
        return Decimal(value["__decimal__"])
    return {k: revive(v) for k, v in value.items()}


def plain(value):
    if dataclasses.is_dataclass(value):
        return {
            "__dataclass__": type(value).__name__,
            **{f.name: getattr(value, f.name) for f in dataclasses.fields(value)},
        }
    if isinstance(value, tuple):
        return list(value)
    return value


def call(case):
    function = getattr(convert, case["fn"])
    return function(*revive(case["args"]), **revive(case["kwargs"]))


@pytest.mark.parametrize("case", CASES, ids=[f"{n}-{c['fn']}" for n, c in enumerate(CASES)])
def test_conversion_is_unchanged(case):
    if "error" in case:
        with pytest.raises(convert.ConversionError) as caught:
            call(case)
        assert type(caught.value).__name__ == case["error"]["type"]
        assert caught.value.reason == case["error"]["reason"]
    else:
        assert plain(call(case)) == case["result"]


def test_the_captured_calls_cover_every_conversion():
    kinds = {c["fn"] for c in CASES}
    assert kinds >= {
        "order_to_invoice",
        "adjustment_for_refund",
        "adjustment_for_cancellation",
        "replacement_for_refund",
        "check_issuance",
        "buyer_of",
    }
    assert sum("error" in c for c in CASES) >= 40
