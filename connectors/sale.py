"""A sale as every source describes it and every target reads it: a source-neutral, Decimal-only record.

A source's reader (``haravan.read``, later Severa's) turns its own object — a Haravan order, a Severa
invoice — into a ``Sale``; a target's converter (meInvoice's invoice, AMIS's vouchers, Maventa's
e-invoice) builds its document from the ``Sale`` alone. Amounts are ``Decimal`` in the sale's currency,
in whole minor units (no fraction of a đồng, no fraction of a cent).

What a reader promises (property-tested per reader, against an independent oracle):

- it never raises: what it cannot read, or what it cannot share out, is one of the sale's ``problems`` (a
  sentence naming the source's own field), in reading order; each target decides when a problem matters
  (an unpaid order with a broken line is not worth an alert until it would be invoiced);
- without problems, every order-level discount is allocated to the lines and every charge discount to the
  charges, to the last minor unit (``Σ line.order_discount == totals.order_discounts``);
- ``adds_up`` says whether ``Σ line.amount + Σ charge.net (+ totals.tax when the prices exclude tax) ==
  totals.paid``: what the lines say is what the buyer paid, to the đồng or the cent. A target that invoices
  a total refuses a sale that does not add up under its own price basis.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from .text import Text

ZERO = Decimal(0)


@dataclass(frozen=True)
class BuyerFields:
    """Which free-form fields of the source object carry the buyer of a VAT (company) invoice.

    Haravan has no tax-code field: shops collect it at checkout in note attributes, under names each shop
    chooses; a source with real fields ignores these names.
    """

    tax_code: str = "vat_tax_code"
    legal_name: str = "vat_company_name"
    address: str = "vat_company_address"
    email: str = "vat_email"
    use_billing_company: bool = True  # the billing address's company stands in for a missing legal name
    # Decree 70 identifiers, each collected only where the shop asks for it ("": not collected)
    id_number: str = ""  # the buyer's 12-digit personal identification number
    passport: str = ""  # a (foreign) buyer's passport number
    budget_code: str = ""  # the 7-digit code of a unit with budget relations


@dataclass(frozen=True)
class ReadOptions:
    """What a target asks of a reader beyond the object itself."""

    buyer: BuyerFields = field(default_factory=BuyerFields)


@dataclass(frozen=True)
class SaleStatus:
    """The source's own words for where the sale stands (targets match them against their conditions)."""

    payment: str = ""  # "paid", "partially_refunded", … ("" unknown)
    fulfillment: str = ""  # "fulfilled", "partial", … ("" unknown / not fulfilled)
    channel: str = ""  # the sales channel: "web", "pos", "shopee", …
    cancelled: bool = False


@dataclass(frozen=True)
class SaleLine:
    """One line of goods or services."""

    key: str  # the source's line id: what refunds name
    item_code: str  # SKU, else the source's item id
    name: str
    quantity: Decimal
    unit_price: Decimal  # listed price per unit, VAT included or not as ``Sale.prices_include_tax`` says
    line_discount: Decimal = ZERO  # the line's own discount (for the whole line)
    order_discount: Decimal = ZERO  # its share of the order-level discounts
    unit: str = ""  # the source's own unit of measure ("" when it has none)
    tax_rate: Decimal | None = None  # as the source states it (0.08); None: the target's rules decide
    tax_category: str = ""  # the source's tax category ("" unknown)
    sku: str = ""
    item_id: str = ""  # the source's variant / product id
    product_type: str = ""
    vendor: str = ""
    tags: tuple[str, ...] = ()

    @property
    def list_value(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def amount(self) -> Decimal:
        """What the buyer pays for the line, in the sale's price basis."""
        return self.list_value - self.line_discount - self.order_discount

    def unit_price_with_tax(self, prices_include_tax: bool) -> Decimal | None:
        """The gross unit price, when the basis or the line's own rate says it."""
        if prices_include_tax:
            return self.unit_price
        return None if self.tax_rate is None else self.unit_price * (1 + self.tax_rate)

    def unit_price_without_tax(self, prices_include_tax: bool) -> Decimal | None:
        """The net unit price, when the basis or the line's own rate says it."""
        if not prices_include_tax:
            return self.unit_price
        return None if self.tax_rate is None else self.unit_price / (1 + self.tax_rate)


@dataclass(frozen=True)
class Charge:
    """Something charged besides the goods: shipping, a fee."""

    key: str
    kind: str  # "shipping" | "fee"
    code: str  # the carrier's or the fee's code ("" none)
    name: str  # as the source names it
    amount: Decimal
    discount: Decimal = ZERO  # its share of the discounts on charges
    tax_rate: Decimal | None = None

    @property
    def net(self) -> Decimal:
        return self.amount - self.discount


@dataclass(frozen=True)
class Discount:
    """An order-level discount as the source lists it (already allocated to lines or charges)."""

    code: str
    kind: str  # the source's own type: "fixed_amount", "percentage", "shipping"
    applies_to: str  # "goods" | "charges"
    amount: Decimal


@dataclass(frozen=True)
class Buyer:
    """Who the sale is made out to. Nothing here is validated: each target checks it against its own law
    (a Vietnamese MST, a Finnish business id) and says what is wrong in its own words."""

    code: str = ""  # the source's customer id
    name: str = ""  # the person
    legal_name: str = ""  # the company an invoice is asked for ("" a person)
    tax_code: str = ""  # as given, spaces removed
    address: str = ""  # the company's when a tax code is given, else the person's
    email: str = ""  # the e-mail asked for invoices, else the person's first valid address
    phone: str = ""
    invoice_email: str = ""  # the e-mail asked for invoices, as given ("" none)
    id_number: str = ""  # the personal identification number, as given, spaces removed
    passport: str = ""  # the passport number, as given, spaces removed
    budget_code: str = ""  # the budget-relation unit code, as given, spaces removed
    home_address: str = ""  # the person's own address (billing, else shipping), whatever the tax code
    # Where each fact came from, in the source's words ("vat_tax_code"): for messages a person acts on.
    origin: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_company(self) -> bool:
        return bool(self.tax_code)


@dataclass(frozen=True)
class Payment:
    """Money moving between buyer and seller: a sale, a capture, a refund."""

    key: str
    kind: str  # the source's own kind: "sale", "capture", "refund", …
    status: str  # the source's own status: "success", "Thành công", "pending", …
    amount: Decimal  # as a positive number
    gateway: str = ""
    at: dt.datetime | None = None
    # The reader's verdict on ``status``: True only when the money really moved ("success", "Thành công");
    # pending, failed and unreadable statuses move nothing.
    succeeded: bool = False


@dataclass(frozen=True)
class RefundLine:
    """Units of one sale line the buyer gave back."""

    line_key: str  # the SaleLine.key returned ("" when the source named none)
    quantity: Decimal
    restock: bool = False
    problem: Text | None = None  # what could not be read of this returned line


@dataclass(frozen=True)
class Refund:
    """Goods returned and money returned, kept apart: either may come without the other."""

    key: str  # the source's refund id
    name: str  # how messages name it (the id as the source printed it)
    created_at: dt.datetime | None
    lines: tuple[RefundLine, ...] = ()
    # What was given back in successful refund transactions (0: goods restocked, no money returned);
    # None: the source does not say (then ``problem`` says why).
    money: Decimal | None = None
    payments: tuple[Payment, ...] = ()
    note: str = ""
    problem: Text | None = None  # what could not be read of the money returned

    @property
    def sort_key(self) -> tuple:
        """Chronological: by creation, then by numeric id (refunds made in the same second)."""
        moment = self.created_at or dt.datetime.min.replace(tzinfo=dt.UTC)
        return (moment, int(self.key) if self.key.isdigit() else 0, self.key)


@dataclass(frozen=True)
class SourceTotals:
    """The source's own figures: the truth the buyer paid, against which the lines are checked."""

    lines: Decimal = ZERO  # Σ unit price × quantity
    line_discounts: Decimal = ZERO
    order_discounts: Decimal = ZERO  # on goods
    charges: Decimal = ZERO
    charge_discounts: Decimal = ZERO
    tax: Decimal = ZERO  # the source's total tax
    paid: Decimal | None = None  # what the buyer paid; None when the source did not say it readably
    tax_on_top: bool = False  # the source says its prices exclude tax (tax is added on top)

    def computed(self, *, with_tax: bool) -> Decimal:
        value = self.lines - self.line_discounts - self.order_discounts + self.charges - self.charge_discounts
        return value + self.tax if with_tax else value


@dataclass(frozen=True)
class Sale:
    source_id: str
    label: str  # how people name it: "#100123"
    currency: str
    prices_include_tax: bool  # the source's own basis (Vietnamese shops price VAT included)
    status: SaleStatus
    lines: tuple[SaleLine, ...]
    charges: tuple[Charge, ...]
    discounts: tuple[Discount, ...]
    buyer: Buyer
    totals: SourceTotals
    routing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # dimension → facts
    payments: tuple[Payment, ...] = ()
    refunds: tuple[Refund, ...] = ()  # oldest first
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    cancel_reason: str = ""
    # An invoicing source (Severa) also sends credit notes, due dates and payment references; a shop's
    # order is a "sale" with none of them.
    document_type: str = "sale"  # "sale" | "credit_note"
    corrects: str = ""  # for a credit note: the source id of the sale it corrects
    due_date: dt.date | None = None
    payment_reference: str = ""
    problems: tuple[Text, ...] = ()  # why the amounts cannot be trusted, in reading order
    paid_problem: Text | None = None  # why ``totals.paid`` is missing, in a few words
    tax_problem: Text | None = None  # why ``totals.tax`` could not be read (then it counts as 0)

    @property
    def adds_up(self) -> bool:
        """The reader's promise, checked: the lines and charges make what the buyer paid."""
        if self.problems or self.totals.paid is None:
            return False
        made = sum((line.amount for line in self.lines), ZERO) + sum((c.net for c in self.charges), ZERO)
        if not self.prices_include_tax:
            made += self.totals.tax
        return made == self.totals.paid
