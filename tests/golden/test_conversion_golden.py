"""The meInvoice conversions give exactly what they gave before the source-neutral redesign.

``conversions.jsonl`` holds every call the suite made of the conversion functions (orders, refunds,
cancellations, replacements, issuance decisions, buyers), with the mapping and the answer or the refusal
(its class and its words), captured once from the code as it was. ``call`` below is the only part that
follows the code: it feeds the same inputs through today's API. ``UPDATE_GOLDEN=1`` rewrites the answers:
only for a change of behaviour that is meant (then read the diff of the file).
"""

import dataclasses
import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.text import Text
from haravan import read
from meinvoice import convert
from meinvoice.mapping import Mapping

GOLDEN = Path(__file__).parent / "conversions.jsonl"
CASES = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines()]
UPDATING = os.environ.get("UPDATE_GOLDEN") == "1"


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
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {"__dataclass__": type(value).__name__, **fields}
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if isinstance(value, Text):
        return value.english()
    return value


def call(case):
    """The captured call, through today's API: the order is read into a sale by the Haravan reader (with
    the buyer fields of the mapping it was converted with), then converted."""
    args, kwargs = revive(case["args"]), revive(case["kwargs"])
    order, rest = args[0], args[1:]
    mapping = next((a for a in [*rest, *kwargs.values()] if isinstance(a, Mapping)), Mapping())
    sale = read.read_order(order, mapping.read_options)

    def refund_of(body):
        goods = [line.key for line in sale.lines]
        return read.read_refund(body, label=sale.label, goods_keys=goods, currency=sale.currency)

    def issue():
        names = ("tax_code", "series", "ref_id", "inv_date")
        return convert.Issue(**{name: kwargs[name] for name in names})

    match case["fn"]:
        case "check_issuance":
            return convert.check_issuance(sale, mapping)
        case "buyer_of":
            return convert.buyer_of(sale)
        case "order_to_invoice":
            shop = kwargs.get("seller_shop_name", "")
            return convert.sale_to_invoice(sale, mapping, issue(), seller_shop_name=shop)
        case "adjustment_for_refund":
            changed = convert.Changed(kwargs["original"], kwargs.get("original_invoice"))
            return convert.adjustment_for_refund(sale, refund_of(rest[0]), mapping, issue(), changed)
        case "adjustment_for_cancellation":
            changed = convert.Changed(kwargs["original"], kwargs["original_invoice"])
            priors = kwargs.get("prior_adjustments", ())
            return convert.adjustment_for_cancellation(sale, mapping, issue(), changed, priors)
        case "replacement_for_refund":
            first = convert.Changed(kwargs["original"], kwargs["original_invoice"])
            current = convert.Changed(kwargs["current"], kwargs["current_invoice"])
            return convert.replacement_for_refund(sale, refund_of(rest[0]), mapping, issue(), first, current)
    raise AssertionError(f"no such conversion: {case['fn']}")


@pytest.fixture(scope="module", autouse=True)
def _rewritten_when_updating():
    yield
    if UPDATING:
        GOLDEN.write_text(
            "".join(json.dumps(c, ensure_ascii=False, sort_keys=True, default=str) + "\n" for c in CASES),
            encoding="utf-8",
        )


def _update(case) -> None:
    case.pop("result", None)
    case.pop("error", None)
    try:
        case["result"] = json.loads(json.dumps(plain(call(case)), ensure_ascii=False, default=str))
    except convert.ConversionError as exc:
        case["error"] = {"type": type(exc).__name__, "reason": exc.reason}


@pytest.mark.parametrize("case", CASES, ids=[f"{n}-{c['fn']}" for n, c in enumerate(CASES)])
def test_conversion_is_unchanged(case):
    if UPDATING:
        _update(case)
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
