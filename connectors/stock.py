"""A stock movement as every source describes it and every accounting target reads it: neutral, Decimal.

A source's reader (``haravan.inventory``) turns its inventory documents — purchase receives, purchase returns,
adjustments and stock counts, transfers between locations — into a ``StockDocument``; an accounting target
(AMIS) builds its vouchers from the ``StockDocument`` alone. Quantities are signed only for adjustments
(a decrease is negative); costs are line totals in the document's currency, ``None`` where the source gives
none (a transfer's lines carry no cost: the target values them).

What a reader promises: it never raises; what it cannot read is one of ``problems`` (a sentence naming the
source's own field), and a document with problems is held for a person, never posted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from .text import Text

# The kinds of stock document (``SyncDocument.source_type`` of their documents)
PURCHASE_RECEIVE = "purchase_receive"
PURCHASE_RETURN = "purchase_return"
ADJUSTMENT = "adjustment"
TRANSFER = "transfer"
STOCK_KINDS = (PURCHASE_RECEIVE, PURCHASE_RETURN, ADJUSTMENT, TRANSFER)

# Where a stock document stands, in neutral words (the source's own words stay in ``status_words``)
DRAFT = "draft"  # not booked at the source yet (a receive "Nháp")
IN_TRANSIT = "in_transit"  # a transfer sent, not received ("Active")
DONE = "done"  # booked at the source: received, returned, adjusted, transfer received
CANCELLED = "cancelled"  # "Đã hủy"; a receive later returned stays DONE and its return is its own document
STOCK_STATUSES = (DRAFT, IN_TRANSIT, DONE, CANCELLED)

# Why an adjustment moved stock (Haravan's reasons; "" when the source gives none)
REASONS = ("newproduct", "returned", "productionofgoods", "damaged", "shrinkage", "promotion", "transfer")


@dataclass(frozen=True)
class Supplier:
    """Who goods were bought from or returned to, as the source names them."""

    key: str = ""  # the source's own id of the supplier ("" when it only has a name)
    name: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""
    tax_code: str = ""


@dataclass(frozen=True)
class StockLine:
    sku: str
    name: str
    quantity: Decimal  # in the line's unit; signed for adjustments only
    unit: str = ""  # the unit the quantity counts ("" = the item's main unit)
    unit_cost: Decimal | None = None  # per unit, after the line's discount
    amount: Decimal | None = None  # the line's total cost (signed like the quantity), None when not given
    item_id: str = ""  # the source's variant id
    lots: tuple[tuple[str, str, Decimal], ...] = ()  # (lot number, expiry date ISO, quantity)


@dataclass(frozen=True)
class StockDocument:
    kind: str  # one of STOCK_KINDS
    source_id: str
    number: str  # how people name it: "IR100012", "IT100001", "IA100017"
    status: str  # one of STOCK_STATUSES
    status_words: str  # the source's own words, normalised ("Đã nhập hàng", "Received")
    at: dt.datetime | None  # when it moved stock (received, returned, adjusted); None when not yet
    location: str  # the location stock moved at (a transfer's origin)
    to_location: str = ""  # a transfer's destination
    location_name: str = ""
    to_location_name: str = ""
    reason: str = ""  # an adjustment's reason (REASONS) or a transfer's / return's free text
    adjustment_type: str = ""  # "adjust" (by a quantity) or "set" (a stock count)
    supplier: Supplier | None = None
    refers_to: str = ""  # the receive a return undoes, the purchase order a receive fills (source ids)
    refers_to_number: str = ""  # how people name that one ("IR100012", "PO100001"), "" when not known
    reference: str = ""  # the supplier's own reference ("ref_number")
    note: str = ""
    currency: str = "VND"
    lines: tuple[StockLine, ...] = ()
    total_quantity: Decimal | None = None  # as the source states it
    total_cost: Decimal | None = None  # as the source states it (None when it gives none)
    updated_at: dt.datetime | None = None
    problems: tuple[Text, ...] = field(default=())

    @property
    def increases(self) -> tuple[StockLine, ...]:
        return tuple(line for line in self.lines if line.quantity > 0)

    @property
    def decreases(self) -> tuple[StockLine, ...]:
        return tuple(line for line in self.lines if line.quantity < 0)


@dataclass(frozen=True)
class StockBalance:
    """What a source or a target says is on hand of one item at one place."""

    place: str  # a source location id, or a target stock code
    sku: str
    quantity: Decimal
