"""One account's day, reconciled: what the source says should exist against what the target confirms.

Pure: no database, no HTTP. The caller gathers, for one account and one day, the source objects that should
have become a target document (``Expected``), the documents the target itself confirms (``Confirmed``: asked
of the target where it can say, not read from our own rows), and what is still on its way or was refused
(by source key). ``reconcile`` lists every difference one by one, in the kinds the report prints:

- ``missing``: expected, nothing confirmed, not waiting, not refused;
- ``duplicated``: two or more target documents for one source object;
- ``amount``: one target document whose amount differs from the source's (exact: đồng / cent);
- ``waiting``: expected, not confirmed yet, still on its way;
- ``refused``: expected, refused by the target (a person must act).

A confirmed document whose source object nobody expected (one the source says should not have made a
document that day) is kept apart in ``unexpected``: the report decides how to show it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
MISSING, DUPLICATED, AMOUNT, WAITING, REFUSED = "missing", "duplicated", "amount", "waiting", "refused"
KINDS = (MISSING, DUPLICATED, AMOUNT, WAITING, REFUSED)


@dataclass(frozen=True, slots=True)
class Expected:
    source: str  # how people name the source object: "#100123", "1001"
    amount: Decimal  # what the buyer pays, as the source says


@dataclass(frozen=True, slots=True)
class Confirmed:
    source: str  # the source object the target document was made from
    document: str  # the target's own name of it: an invoice number, a voucher number, a Maventa id
    amount: Decimal


@dataclass(frozen=True)
class Difference:
    kind: str
    source: str
    target_document: str | None
    detail: str

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "source": self.source,
            "target_document": self.target_document,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class AccountDay:
    expected_count: int
    expected_total: Decimal
    confirmed_count: int
    confirmed_total: Decimal
    differences: tuple[Difference, ...] = ()
    unexpected: tuple[Confirmed, ...] = field(default=())

    @property
    def matches(self) -> bool:
        return not self.differences and not self.unexpected


def _money(value: Decimal) -> str:
    return f"{value:f}"


def reconcile(
    expected: Iterable[Expected],
    confirmed: Iterable[Confirmed],
    *,
    waiting: Mapping[str, str] | None = None,
    refused: Mapping[str, str] | None = None,
) -> AccountDay:
    """`waiting` and `refused` map a source object to why (in the target's or our words)."""
    confirmed = confirmed if isinstance(confirmed, list) else list(confirmed)
    waiting, refused = waiting or {}, refused or {}
    # One entry per source object: its document, or the list of them when the target holds several
    by_source: dict[str, Confirmed | list[Confirmed]] = {}
    for doc in confirmed:
        held = by_source.get(doc.source)
        if held is None:
            by_source[doc.source] = doc
        elif isinstance(held, list):
            held.append(doc)
        else:
            by_source[doc.source] = [held, doc]
    unique: dict[str, Expected] = {}
    for item in expected:
        unique.setdefault(item.source, item)  # the source listed it twice: one object, one check
    differences: list[Difference] = []
    for item in unique.values():
        held = by_source.get(item.source)
        if held is None:
            docs = []
        else:
            docs = sorted(held, key=lambda d: d.document) if isinstance(held, list) else [held]
        if not docs:
            if item.source in refused:
                differences.append(Difference(REFUSED, item.source, None, refused[item.source]))
            elif item.source in waiting:
                differences.append(Difference(WAITING, item.source, None, waiting[item.source]))
            else:
                differences.append(
                    Difference(
                        MISSING, item.source, None, f"expected {_money(item.amount)}, none at the target"
                    )
                )
            continue
        if len(docs) > 1:
            names = ", ".join(d.document for d in docs)
            differences.append(
                Difference(
                    DUPLICATED, item.source, docs[1].document, f"{len(docs)} target documents: {names}"
                )
            )
            continue
        (doc,) = docs
        if doc.amount != item.amount:
            differences.append(
                Difference(
                    AMOUNT,
                    item.source,
                    doc.document,
                    f"source {_money(item.amount)}, target {_money(doc.amount)} "
                    f"(difference {_money(doc.amount - item.amount)})",
                )
            )
    unexpected = tuple(doc for doc in confirmed if doc.source not in unique)
    return AccountDay(
        expected_count=len(unique),
        expected_total=sum((e.amount for e in unique.values()), ZERO),
        confirmed_count=len(confirmed),
        confirmed_total=sum((d.amount for d in confirmed), ZERO),
        differences=tuple(differences),
        unexpected=unexpected,
    )
