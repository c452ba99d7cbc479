"""The reconciliation of one account's day names every planted difference, and nothing else."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connectors.reconcile import (
    AMOUNT,
    DUPLICATED,
    MISSING,
    REFUSED,
    WAITING,
    Confirmed,
    Expected,
    reconcile,
)

D = Decimal


def test_each_kind_of_difference_is_named_with_its_documents():
    expected = [Expected(f"#{n}", D("100.00")) for n in range(1, 7)]
    confirmed = [
        Confirmed("#1", "INV-1", D("100.00")),  # matches
        Confirmed("#2", "INV-2", D("100.00")),  # duplicated behind our back
        Confirmed("#2", "INV-9", D("100.00")),
        Confirmed("#3", "INV-3", D("99.99")),  # edited at the target
        Confirmed("#99", "INV-99", D("5")),  # nobody expected it
    ]
    day = reconcile(
        expected, confirmed, waiting={"#5": "sent, no answer yet"}, refused={"#6": "InvalidTaxCode"}
    )
    found = {(d.kind, d.source): d for d in day.differences}
    assert set(found) == {
        (DUPLICATED, "#2"),
        (AMOUNT, "#3"),
        (MISSING, "#4"),
        (WAITING, "#5"),
        (REFUSED, "#6"),
    }
    assert found[(DUPLICATED, "#2")].detail == "2 target documents: INV-2, INV-9"
    assert found[(AMOUNT, "#3")].target_document == "INV-3"
    assert found[(AMOUNT, "#3")].detail == "source 100.00, target 99.99 (difference -0.01)"
    assert found[(REFUSED, "#6")].detail == "InvalidTaxCode"
    assert [d.document for d in day.unexpected] == ["INV-99"]
    assert (day.expected_count, day.expected_total) == (6, D("600.00"))
    assert (day.confirmed_count, day.confirmed_total) == (5, D("404.99"))
    assert not day.matches


def test_a_day_that_matches_has_nothing_to_say():
    day = reconcile([Expected("1001", D("1250"))], [Confirmed("1001", "M-1", D("1250"))])
    assert day.matches and day.differences == () and day.confirmed_total == D("1250")


money = st.decimals(min_value=D("0.01"), max_value=D("99999999"), places=2)
plans = st.lists(
    st.tuples(money, st.sampled_from(["ok", MISSING, DUPLICATED, AMOUNT, WAITING, REFUSED])), max_size=40
)


@given(plans)
def test_what_is_planted_is_exactly_what_is_found(plan):
    expected, confirmed, waiting, refused, planted = [], [], {}, {}, set()
    for n, (amount, kind) in enumerate(plan):
        source = f"#{n}"
        expected.append(Expected(source, amount))
        if kind in ("ok", AMOUNT, DUPLICATED):
            confirmed.append(Confirmed(source, f"T{n}", amount + (D("0.01") if kind == AMOUNT else 0)))
        if kind == DUPLICATED:
            confirmed.append(Confirmed(source, f"T{n}b", amount))
        if kind == WAITING:
            waiting[source] = "on its way"
        if kind == REFUSED:
            refused[source] = "refused"
        if kind != "ok":
            planted.add((kind, source))
    day = reconcile(expected, confirmed, waiting=waiting, refused=refused)
    assert {(d.kind, d.source) for d in day.differences} == planted
    assert len(day.differences) == len(planted)
    assert day.expected_total == sum((a for a, _k in plan), D(0))
    assert day.confirmed_total == sum((c.amount for c in confirmed), D(0))
    assert day.matches == (not planted)
