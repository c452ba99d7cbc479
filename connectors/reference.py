"""What one target's own records say about the things a sale names, offered to the other targets of the
same shop: the accounting system's names, units and tax rates of items, and its records of buyers.

A target that keeps such records (AMIS keeps each company's items and account objects) answers
``TargetAdapter.reference_facts`` with a ``ReferenceFacts`` for one source object; another target of the same
shop (meInvoice) may describe the sale with them, so that the invoice and the books name a sale the same way.
Nothing here is a provider's: the facts are plain values, keyed by what the source's sale itself says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

# The tax categories a rate of 0 may stand for: not subject to VAT, not declared.
NOT_SUBJECT, NOT_DECLARED = "KCT", "KKKNT"


def item_key(code) -> str:
    """How item codes are compared: as the accounting systems compare them, ignoring case and the spaces
    around them."""
    return str(code or "").strip().casefold()


def tax_key(code) -> str:
    """How tax codes are compared: without any space."""
    return "".join(str(code or "").split())


@dataclass(frozen=True)
class ItemFacts:
    """An item as the target's records describe it ("" and None: they say nothing of that)."""

    code: str  # the item's code in the target's records
    name: str = ""
    unit: str = ""
    tax_rate: Decimal | None = None  # the item's own rate as a fraction (0.08); None: none stated
    tax_category: str = ""  # NOT_SUBJECT or NOT_DECLARED (then ``tax_rate`` is 0); "" a plain percentage


@dataclass(frozen=True)
class BuyerFacts:
    """A buyer's record in the target (an account object in AMIS)."""

    code: str  # the record's code in the target
    legal_name: str = ""
    tax_code: str = ""  # "" the record has none
    address: str = ""


@dataclass(frozen=True)
class ReferenceFacts:
    """What a target's records say about one source object's items and buyer.

    ``items`` are keyed by ``item_key`` of the sale line's own ``item_code`` (SKU, else the source's item
    id) — the target translates to its own codes itself; only the lines it found are there. ``buyer`` is the
    buyer's own record, found by the code the target files this buyer under (never a shared walk-in or
    channel record); ``companies`` are records found by the sale buyer's tax code (``tax_key``), only where
    the records agree on one legal name."""

    source: str  # who keeps these records, in the words of the logs: "AMIS demo-hanoi"
    items: Mapping[str, ItemFacts] = field(default_factory=dict)
    buyer: BuyerFacts | None = None
    companies: Mapping[str, BuyerFacts] = field(default_factory=dict)

    def item(self, code) -> ItemFacts | None:
        key = item_key(code)
        return self.items.get(key) if key else None

    def company(self, tax_code) -> BuyerFacts | None:
        key = tax_key(tax_code)
        return self.companies.get(key) if key else None
