"""A day's check hands a target its documents' results reduced to the keys it declares: a read-only mapping
that answers like the stored result for those keys; and the comparison names duplicates however many."""

from decimal import Decimal

import pytest

from connectors.daycheck import EMPTY_RESULT, UNDECLARED_RESULT, DeclaredResult
from connectors.reconcile import DUPLICATED, Confirmed, Expected, reconcile


def test_a_declared_result_answers_like_the_stored_result_for_its_keys():
    result = DeclaredResult(("ref_id", "inv_series", "series"), ("abc-1", "1C26TAA", None))
    assert result.get("ref_id") == "abc-1"
    assert result["inv_series"] == "1C26TAA"
    assert result.get("series") is None and "series" not in result
    assert result.get("inv_no") is None
    with pytest.raises(KeyError):
        result["series"]
    assert dict(result) == {"ref_id": "abc-1", "inv_series": "1C26TAA"}
    assert len(result) == 2 and result


def test_a_result_without_the_declared_keys_is_as_truthy_as_the_stored_one():
    assert not EMPTY_RESULT and EMPTY_RESULT.get("ref_id") is None
    assert UNDECLARED_RESULT and UNDECLARED_RESULT.get("ref_id") is None
    with pytest.raises(TypeError):
        UNDECLARED_RESULT["ref_id"] = "x"  # shared by every document: read-only


def test_three_documents_for_one_order_are_one_duplicate_naming_all_three():
    day = reconcile(
        [Expected("#1", Decimal(5))],
        [
            Confirmed("#1", "INV-3", Decimal(5)),
            Confirmed("#1", "INV-1", Decimal(5)),
            Confirmed("#1", "INV-2", Decimal(5)),
        ],
    )
    (diff,) = day.differences
    assert (diff.kind, diff.target_document, diff.detail) == (
        DUPLICATED,
        "INV-2",
        "3 target documents: INV-1, INV-2, INV-3",
    )
    assert day.confirmed_count == 3 and day.confirmed_total == Decimal(15)
