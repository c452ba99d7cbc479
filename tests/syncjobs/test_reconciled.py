"""How a checked day is read: its state, its counts per kind, what the digest remembers, its amounts."""

from decimal import Decimal

from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from syncjobs import reconciled
from syncjobs.models import ReconciledDay

WHOLE = st.integers(min_value=-(10**15), max_value=10**15)
CENTS = st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False, allow_infinity=False)


def day(**fields) -> ReconciledDay:
    return ReconciledDay(**{"matches": True, **fields})


def test_the_state_of_a_day():
    assert reconciled.state(None) == reconciled.UNCHECKED
    assert reconciled.state(day()) == reconciled.MATCHES
    assert reconciled.state(day(matches=False)) == reconciled.DIFFERS
    assert reconciled.state(day(stock_differences=[{"sku": "A"}])) == reconciled.DIFFERS  # stock counts too
    assert reconciled.state(day(matches=False, error="AMIS did not answer")) == reconciled.ERROR


def test_counts_by_kind_in_reading_order_with_what_nobody_expected_and_stock():
    found = day(
        matches=False,
        differences=[{"kind": k} for k in ("refused", "missing", "missing", "amount")],
        unexpected=[{"source": "#9"}],
        stock_differences=[{"sku": "A"}, {"sku": "B"}],
    )
    assert list(reconciled.counts_by_kind(found).items()) == [
        ("missing", 2),
        ("amount", 1),
        ("refused", 1),
        ("unexpected", 1),
        ("stock", 2),
    ]
    assert reconciled.problem_count(found) == 7


def test_the_fingerprint_changes_with_what_differs_not_with_when_it_was_checked():
    one = {"kind": "missing", "source": "#1", "target_document": None, "detail": "x", "document_id": 5}
    a = day(matches=False, differences=[one])
    b = day(matches=False, differences=[{**one, "document_id": 6}], checked_at=a.checked_at)
    assert reconciled.fingerprint(a) == reconciled.fingerprint(b)
    assert reconciled.fingerprint(a) != reconciled.fingerprint(
        day(matches=False, differences=[{**one, "source": "#2"}])
    )
    assert reconciled.fingerprint(a) != reconciled.fingerprint(
        day(matches=False, differences=[one], error="x")
    )


def test_lines_take_the_stored_sentence_and_a_document_id_only_when_it_is_one():
    found = day(
        matches=False,
        differences=[
            {"kind": "missing", "source": "#1", "detail": "a", "document_id": 7},
            {"kind": "amount", "source": "#2", "detail": "b", "document_id": "x"},
            {"kind": "waiting", "source": "#3", "detail": "c", "document_id": True},
            {"kind": "refused", "source": "#4", "detail": "d"},
        ],
        differences_text=[{"id": "a"}],
    )
    lines = reconciled.lines(found)
    assert [line.document_id for line in lines] == [7, None, None, None]
    assert [line.detail for line in lines] == ["a", "b", "c", "d"]
    assert [line.target_document for line in lines] == ["", "", "", ""]


@given(WHOLE)
def test_dong_are_written_in_vietnamese_figures_and_filed_as_whole_numbers(amount):
    for language in ("vi", "en", "sv"):
        with translation.override(language):
            text = reconciled.money(Decimal(amount), "VND")
        assert text.endswith(" đ") and int(text[:-2].replace(".", "")) == amount
    assert reconciled.plain_amount(Decimal(amount).quantize(Decimal("0.01")), "VND") == str(amount)


@given(CENTS)
def test_other_currencies_keep_their_cents(amount):
    assert Decimal(reconciled.plain_amount(amount, "EUR")) == amount
    with translation.override("en"):
        text = reconciled.money(amount, "EUR")
    assert text.endswith(" EUR") and Decimal(text[:-4].replace(",", "")) == amount
