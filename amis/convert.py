"""A sale → MISA AMIS vouchers: pure functions, no database, no HTTP.

Reads only the source-neutral ``connectors.sale.Sale`` and a company's ``amis.mapping.Mapping``; builds
the voucher objects of AMIS's ``save`` call (reference §4–§7):

- the sales voucher (PBH, ``voucher_type`` 13): ``reftype`` 3530 unpaid (debit 131), 3531 paid in cash
  (debit 1111) or 3537 paid by bank (debit 1121) when the whole amount was captured by its date, with a
  nested stock issue (``in_outward``, reftype 2020) when the sale's location has a warehouse;
- the sales order (ĐĐH, 20/3520);
- a cash receipt (``ca_receipt`` 5/1010) or bank deposit (``ba_deposit`` 1/1500) per captured payment
  the sales voucher did not already book;
- a sales return (hàng bán trả lại, 12/3540, Unconfirmed at MISA) per refund of a sale whose voucher AMIS
  has generated (``refund_to_return``), worth exactly the money given back;
- the account object a named customer or VAT buyer needs, for the same ``save`` call's ``dictionary``
  (``party_dictionary``).

Amounts are whole đồng. AMIS lines are pre-VAT: each line's VAT-inclusive value is split into
``amount − discount_amount`` (pre-VAT) and ``vat_amount`` so that the line adds up to what the buyer pays
for it, to the đồng; header totals are the line sums, so ``total_amount`` is what the buyer paid.
``org_refid`` is a UUID derived from (company, document kind, source id, revision), so the same sale
always gives the same vouchers and a resend updates AMIS's pending proposal instead of adding one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connectors.money import allocate, amount_text
from connectors.sale import Refund, Sale, SaleLine
from connectors.taxcode import buyer_tax_code_error
from connectors.text import Text, as_text, fold, plain

from .mapping import (
    Combo,
    Component,
    Location,
    Mapping,
    MappingError,
    Rate,
    combo_tag,
    lookup,
    rate,
    rate_of_fraction,
)

REFID_NAMESPACE = uuid.UUID("0b0c8a52-61c4-5d4e-8f0e-7a3d9c2e4b17")
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

# Document kinds, their (voucher_type, reftype) [reference §5, MISA's sample client].
SALES_VOUCHER, SALES_ORDER, CASH_RECEIPT, BANK_DEPOSIT = (
    "sales_voucher",
    "sales_order",
    "cash_receipt",
    "bank_deposit",
)
UNPAID, PAID_CASH, PAID_BANK = 3530, 3531, 3537
TYPES = {SALES_VOUCHER: 13, SALES_ORDER: 20, CASH_RECEIPT: 5, BANK_DEPOSIT: 1}
REFTYPES = {SALES_ORDER: 3520, CASH_RECEIPT: 1010, BANK_DEPOSIT: 1500}
OUTWARD_REFTYPE = 2020  # the stock issue nested in a sales voucher
GOODS_ITEM, SERVICE_ITEM = 0, 2  # inventory_item_type on lines
CAPTURE_KINDS = ("capture", "sale")  # payments that move money to the seller
PAID_STATUSES = ("paid", "partially_refunded", "refunded")

_ONE = Decimal(1)
_UNIT_PRICE_STEP = Decimal("0.0001")
_RATE_STEP = Decimal("0.01")
_MEMO_LIMIT = 250


class ConversionError(ValueError):
    """The sale cannot become correct vouchers; ``text`` says why, for a person to act on."""

    def __init__(self, text: Text | str):
        self.text = as_text(text)
        self.reason = self.text.english()
        super().__init__(self.reason)


# --- identity and dates -------------------------------------------------------------------------------


def org_refid_for(company: str, kind: str, source_id: Any, revision: int = 0) -> str:
    """AMIS's key of one document (``org_refid``): the same (company, kind, source id, revision) always
    gives the same UUID; a new revision gives a new one (a replacement after a deleted proposal)."""
    company, kind, source = plain(company), plain(kind), plain(source_id)
    if not company or not kind or not source or int(revision) < 0:
        raise ValueError("org_refid_for needs a company, a kind, a source id and a revision ≥ 0")
    return str(uuid.uuid5(REFID_NAMESPACE, f"amis|{company}|{kind}|{source}|{int(revision)}"))


def _child_id(parent: str, what: str) -> str:
    return str(uuid.uuid5(uuid.UUID(parent), what))


def local_time(moment: dt.datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Vietnam's time (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M:%S")


# --- which documents are due ----------------------------------------------------------------------------


def due_kinds(sale: Sale, mapping: Mapping) -> tuple[str, ...]:
    """The sales documents the policy makes of the sale as it stands (none for a cancelled sale)."""
    if sale.status.cancelled or sale.document_type != "sale":
        return ()
    policy = mapping.documents
    kinds = []
    if policy.sales_order == "created":
        kinds.append(SALES_ORDER)
    event = policy.sales_voucher
    payment = plain(sale.status.payment).lower()
    if (
        event == "created"
        or (event == "paid" and payment in PAID_STATUSES)
        or (event == "fulfilled" and plain(sale.status.fulfillment).lower() == "fulfilled")
    ):
        kinds.append(SALES_VOUCHER)
    return tuple(kinds)


def why_not_due(sale: Sale, mapping: Mapping) -> Text:
    if sale.status.cancelled:
        return Text("Order %(label)s is cancelled: nothing is posted.", label=sale.label)
    if sale.document_type != "sale":
        return Text("%(label)s is not a sale: only sales are posted to AMIS.", label=sale.label)
    event = mapping.documents.sales_voucher
    if event == "paid":
        return Text(
            "Order %(label)s is not paid yet: its sales voucher is made once it is paid.", label=sale.label
        )
    if event == "fulfilled":
        return Text(
            "Order %(label)s is not fulfilled yet: its sales voucher is made once it is fulfilled.",
            label=sale.label,
        )
    return Text("The AMIS settings make no voucher of order %(label)s.", label=sale.label)


# --- the party ----------------------------------------------------------------------------------------


# Who a party is (``Party.kind``): a VAT buyer and a named customer are their own account objects, which
# must exist in AMIS before their vouchers (``party_dictionary``); a channel's and the walk-in object are
# fixed objects the accountant keeps.
VAT_BUYER, NAMED_CUSTOMER, CHANNEL, WALK_IN = "vat_buyer", "customer", "channel", "walk_in"


@dataclass(frozen=True)
class Party:
    """The AMIS account object a sale is booked to."""

    code: str
    name: str
    address: str = ""
    tax_code: str | None = None
    kind: str = WALK_IN


def party_of(sale: Sale, mapping: Mapping) -> Party:
    """A VAT buyer (valid tax code) is their own object; else a fixed channel object, a named customer's
    own object, or the walk-in object."""
    buyer, rules = sale.buyer, mapping.parties
    if buyer.tax_code:
        error = buyer_tax_code_error(buyer.tax_code)
        if error:
            raise ConversionError(
                Text(
                    "Order %(label)s: the buyer's tax code (note attribute %(field)s) is invalid: %(error)s "
                    "Correct it in the order, or remove it to book the sale to a retail customer.",
                    label=sale.label,
                    field=buyer.origin.get("tax_code") or "tax_code",
                    error=error,
                )
            )
        if not buyer.legal_name:
            raise ConversionError(
                Text(
                    "Order %(label)s: the buyer gives tax code %(code)s but no company name: add it to the "
                    "order's note attributes.",
                    label=sale.label,
                    code=buyer.tax_code,
                )
            )
        code = (
            rules.customer_code.format(customer_id=buyer.code)
            if buyer.code
            else rules.tax_code_code.format(tax_code=buyer.tax_code)
        )
        return Party(code, buyer.legal_name, buyer.address, buyer.tax_code, VAT_BUYER)
    channel_code = lookup(rules.by_channel, sale.status.channel) if sale.status.channel else None
    if channel_code:
        return Party(channel_code, buyer.name or channel_code, buyer.home_address, kind=CHANNEL)
    if buyer.code:
        return Party(
            rules.customer_code.format(customer_id=buyer.code),
            buyer.name or buyer.code,
            buyer.home_address,
            kind=NAMED_CUSTOMER,
        )
    return Party(rules.walk_in, buyer.name or rules.walk_in, buyer.home_address, kind=WALK_IN)


# --- the location -------------------------------------------------------------------------------------


def location_of(sale: Sale, mapping: Mapping) -> Location:
    """The branch and warehouse of the first location of the sale the mapping lists; a sale from no listed
    location books to the default branch without a warehouse."""
    for fact in sale.routing.get("location", ()):
        found = lookup(mapping.locations, fact)
        if found is not None:
            return found
    return Location(branch_id=mapping.default_branch_id, stock_code=None)


# --- from the sale to priced parts ----------------------------------------------------------------------


@dataclass
class _Part:
    """One future voucher line, in the shop's money (VAT included or not as the sale says)."""

    code: str
    name: str
    unit: str
    rate: Rate
    quantity: int
    list_value: int  # price × quantity
    discount: int  # its own discount and its share of the order's
    revenue_account: str
    service: bool

    @property
    def gross(self) -> int:
        return self.list_value - self.discount


def _line_values(line: SaleLine, match: str) -> tuple[str, ...]:
    if match == "tag":
        return line.tags
    return ({"product_type": line.product_type, "vendor": line.vendor, "sku": line.sku}[match],)


def rate_for_line(line: SaleLine, mapping: Mapping) -> Rate:
    """The sale's own rate when it states one, else the first tax rule that matches, else the default."""
    if line.tax_rate is not None:
        return rate_of_fraction(line.tax_rate)
    for rule in mapping.tax_rules:
        if any(fold(value) == fold(rule.value) for value in _line_values(line, rule.match)):
            return rate(rule.rate)
    return rate(mapping.default_vat_rate)


def item_code_of(line: SaleLine, mapping: Mapping, label: str) -> str:
    """The AMIS item code: the mapping table's entry for the SKU (or, for a line without SKU, for the
    source's item id), else the SKU itself."""
    key = line.sku or line.item_id
    mapped = lookup(mapping.item_codes, key) if key else None
    code = plain(mapped or line.sku)
    if not code:
        raise ConversionError(
            Text(
                "Order %(label)s: the item “%(name)s” has no SKU and no AMIS item code is mapped for it "
                "(item id %(item)s): give the variant a SKU or map it to an AMIS item.",
                label=label,
                name=line.name,
                item=line.item_id or "-",
            )
        )
    return code


def _accounts_for(line: SaleLine, mapping: Mapping) -> tuple[str, bool]:
    accounts = mapping.accounts
    override = lookup(accounts.by_product_type, line.product_type) if line.product_type else None
    service = bool(override and override.service)
    default = accounts.revenue_services if service else accounts.revenue_goods
    return (override.revenue or default if override else default), service


def _goods_parts(line: SaleLine, mapping: Mapping, label: str) -> list[_Part]:
    code = item_code_of(line, mapping, label)
    line_rate = rate_for_line(line, mapping)
    revenue, service = _accounts_for(line, mapping)
    quantity = int(line.quantity)
    list_value = int(line.list_value)
    discount = int(line.line_discount + line.order_discount)
    combo = combo_of(line, code, mapping, label)
    if combo is None:
        unit = lookup(mapping.units, code) or line.unit or mapping.default_unit
        return [_Part(code, line.name, unit, line_rate, quantity, list_value, discount, revenue, service)]
    lists = split_combo(
        list_value, [c.weight * c.quantity for c in combo.components], [c.quantity for c in combo.components]
    )
    discounts = split_combo(discount, lists, [c.quantity for c in combo.components])
    return [
        _Part(
            code=component.code,
            name=f"{line.name} ({component.code})",
            unit=lookup(mapping.units, component.code) or mapping.default_unit,
            rate=rate(component.vat_rate) if component.vat_rate else line_rate,
            quantity=quantity * component.quantity,
            list_value=share,
            discount=off,
            revenue_account=revenue,
            service=service,
        )
        for component, share, off in zip(combo.components, lists, discounts, strict=True)
    ]


def combo_of(line: SaleLine, code: str, mapping: Mapping, label: str) -> Combo | None:
    """The components a line of item ``code`` is booked as, or None when it is no combo: the mapping's
    ``combos`` table first, by the item code then by the SKU (the table wins over a tag), else the one tag
    of the line's product written as ``mapping.combo_tag_prefix`` says (``amis.mapping.combo_tag``; the tag
    applies to every variant of the product). A tag's components are SKUs: each becomes its AMIS code
    through ``item_codes`` as a line's SKU does, and takes the line's VAT rate. A malformed combo tag, or
    two combo tags, hold the sale with the reason."""
    combo = lookup(mapping.combos, code)
    if combo is None and line.sku:  # the table may name the combo by its SKU too
        combo = lookup(mapping.combos, plain(line.sku))
    if combo is not None or not mapping.combo_tag_prefix:
        return combo
    found: list[tuple[str, Combo]] = []
    for tag in line.tags:
        try:
            written = combo_tag(tag, mapping.combo_tag_prefix)
        except MappingError as exc:
            raise ConversionError(
                Text(
                    "Order %(label)s: the product tag “%(tag)s” of “%(name)s” is not a combo AMIS can "
                    "book: %(error)s. Write it as %(example)s (quantity after *, optional weight after @), "
                    "or set the combo in the AMIS mapping.",
                    label=label,
                    tag=tag,
                    name=line.name,
                    error=str(exc),
                    example=f"{mapping.combo_tag_prefix}SKU-A*2+SKU-B",
                )
            ) from exc
        if written is not None:
            found.append((tag, written))
    if len(found) > 1:
        raise ConversionError(
            Text(
                "Order %(label)s: the product of “%(name)s” has two combo tags, “%(first)s” and "
                "“%(second)s”: keep one in Haravan, or set the combo in the AMIS mapping.",
                label=label,
                name=line.name,
                first=found[0][0],
                second=found[1][0],
            )
        )
    if not found:
        return None
    return Combo(
        [
            Component(plain(lookup(mapping.item_codes, c.code) or c.code), c.quantity, c.weight)
            for c in found[0][1].components
        ]
    )


def split_combo(total: int, weights: Sequence[int], fallback: Sequence[int]) -> list[int]:
    """``total`` shared in proportion to ``weights`` by largest remainder (ties to the earlier component);
    by ``fallback`` when every weight is 0. The shares add up to ``total`` exactly, and sharing a
    discount over the shares of a price never gives a component more discount than price."""
    if not total:
        return [0] * len(weights)
    use = weights if sum(weights) > 0 else fallback
    return [int(s) for s in allocate(Decimal(total), [Decimal(w) for w in use])]


def _shipping_parts(sale: Sale, mapping: Mapping) -> list[_Part]:
    ship = mapping.shipping
    shipping_rate = rate(ship.vat_rate or mapping.default_vat_rate)
    return [
        _Part(
            code=ship.item_code,
            name=ship.name,
            unit=ship.unit,
            rate=rate_of_fraction(charge.tax_rate) if charge.tax_rate is not None else shipping_rate,
            quantity=1,
            list_value=int(charge.amount),
            discount=int(charge.discount),
            revenue_account=mapping.accounts.revenue_services,
            service=True,
        )
        for charge in sale.charges
        if charge.amount > 0
    ]


# --- the figures of a line -----------------------------------------------------------------------------


def _round(value: Decimal) -> int:
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Figures:
    """A line as AMIS states it: pre-VAT ``amount`` (quantity × unit price) less ``discount`` is the
    pre-VAT value; ``vat`` on top; ``payable`` what the buyer pays for it."""

    quantity: int
    unit_price: Decimal
    amount: int
    discount: int
    vat: int

    @property
    def payable(self) -> int:
        return self.amount - self.discount + self.vat


def figures(
    list_value: int | Decimal, gross: int, quantity: int, line_rate: Rate, prices_include_tax: bool
) -> Figures:
    """The figures of a line listed at ``list_value`` and sold for ``gross`` (after its discounts), both in
    the shop's price basis. VAT-inclusive: the pre-VAT value is ``gross ÷ (1 + rate)`` rounded half up and
    the VAT is the remainder, so the line adds up to ``gross`` exactly. VAT-exclusive: the VAT is the
    pre-VAT value × rate, rounded half up."""
    r = line_rate.fraction
    if prices_include_tax:
        net = _round(Decimal(gross) / (1 + r))
        vat = gross - net
        amount = max(_round(Decimal(list_value) / (1 + r)), net)  # never a negative discount from rounding
    else:
        net, amount = gross, list_value
        vat = _round(Decimal(net) * r)
    unit_price = (
        (Decimal(amount) / quantity).quantize(_UNIT_PRICE_STEP, ROUND_HALF_UP) if quantity else Decimal(0)
    )
    return Figures(quantity, unit_price, amount, amount - net, vat)


def _number(value: Decimal) -> int | float:
    """An int when whole, else the float of a 4-decimal value (exact enough: 15 significant digits)."""
    return int(value) if value == value.to_integral_value() else float(value)


# --- the sale's lines, checked against what the buyer paid ----------------------------------------------


@dataclass
class Priced:
    """The sale's lines as voucher figures, and what they must add up to."""

    parts: list[_Part]
    figures: list[Figures]
    expected_total: int  # what the buyer paid, less the shipping left out of the books

    @property
    def total(self) -> int:
        return sum(f.payable for f in self.figures)


def price(sale: Sale, mapping: Mapping) -> Priced:
    """The sale's goods (combos exploded) and shipping as priced parts; refuses a sale whose lines do not
    make what the buyer paid."""
    label = sale.label
    if plain(sale.currency).upper() != "VND":
        raise ConversionError(
            Text(
                "Order %(label)s is in %(currency)s; only VND sales are posted.",
                label=label,
                currency=sale.currency,
            )
        )
    if sale.problems:
        raise ConversionError(sale.problems[0])
    if sale.totals.paid is None:
        raise ConversionError(
            sale.paid_problem or Text("Order %(label)s does not say what was paid.", label=label)
        )
    if not sale.prices_include_tax and sale.tax_problem is not None:
        raise ConversionError(sale.tax_problem)
    parts = [part for line in sale.lines for part in _goods_parts(line, mapping, label)]
    shipping = _shipping_parts(sale, mapping)
    if mapping.shipping.mode == "line":
        parts += shipping
    if not parts:
        raise ConversionError(
            Text("Order %(label)s has nothing to post: no goods and no shipping.", label=label)
        )
    include = sale.prices_include_tax
    computed = int(sale.totals.computed(with_tax=not include))
    paid = int(sale.totals.paid)
    if computed != paid:
        raise ConversionError(
            Text(
                "Order %(label)s: its lines, discounts and shipping make %(computed)s, but the buyer paid "
                "%(paid)s. Refusing to post a total the buyer did not pay.",
                label=label,
                computed=amount_text(computed),
                paid=amount_text(paid),
            )
        )
    left_out = 0
    if mapping.shipping.mode == "leave_out":
        left_out = sum(figures(p.list_value, p.gross, 1, p.rate, include).payable for p in shipping)
    lines = [figures(p.list_value, p.gross, p.quantity, p.rate, include) for p in parts]
    priced = Priced(parts, lines, paid - left_out)
    if priced.total != priced.expected_total:  # VAT-exclusive prices only: per-line VAT ≠ the order's
        raise ConversionError(
            Text(
                "Order %(label)s: the VAT computed per line makes the vouchers total %(total)s, but the "
                "buyer paid %(paid)s (the order's own tax is %(tax)s).",
                label=label,
                total=amount_text(priced.total),
                paid=amount_text(priced.expected_total),
                tax=amount_text(int(sale.totals.tax)),
            )
        )
    return priced


# --- payments -------------------------------------------------------------------------------------------


def gateway_kind(gateway: str, mapping: Mapping, label: str) -> str:
    """cash | bank | none for a payment gateway, per the mapping."""
    kind = lookup(mapping.gateways, gateway) if gateway else None
    kind = kind or mapping.default_gateway
    if kind is None:
        raise ConversionError(
            Text(
                "Order %(label)s: payment gateway “%(gateway)s” is not mapped to cash or bank: map it in the "
                "AMIS settings.",
                label=label,
                gateway=gateway or "-",
            )
        )
    return kind


def captures(sale: Sale) -> list:
    """The payments that moved money to the seller."""
    return [p for p in sale.payments if p.succeeded and p.kind in CAPTURE_KINDS and p.amount > 0]


def _paid_at_sale(sale: Sale, mapping: Mapping, total: int, at: dt.datetime) -> tuple[int, list]:
    """(reftype, the captures it books) of the sales voucher dated ``at``."""
    if not mapping.documents.paid_at_sale:
        return UNPAID, []
    moment = _aware(at)
    by_then = [p for p in captures(sale) if p.at is None or _aware(p.at) <= moment]
    kinds = {gateway_kind(p.gateway, mapping, sale.label) for p in by_then}
    if (
        by_then
        and len(kinds) == 1
        and kinds <= {"cash", "bank"}
        and sum(int(p.amount) for p in by_then) == total
    ):
        return (PAID_CASH if kinds == {"cash"} else PAID_BANK), by_then
    return UNPAID, []


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


# --- vouchers -------------------------------------------------------------------------------------------


def _memo(words: str) -> str:
    return words[:_MEMO_LIMIT]


def _party_fields(party: Party) -> dict:
    return {
        "account_object_code": party.code,
        "account_object_name": party.name,
        "account_object_address": party.address,
        "account_object_tax_code": party.tax_code,
    }


def _detail(
    refid: str,
    number: int,
    part: _Part,
    f: Figures,
    *,
    debit: str,
    mapping: Mapping,
    party: Party,
    stock: str | None,
) -> dict:
    accounts = mapping.accounts
    discount_rate = (
        (Decimal(f.discount) * 100 / Decimal(f.amount)).quantize(_RATE_STEP, ROUND_HALF_UP)
        if f.amount
        else Decimal(0)
    )
    detail = {
        "ref_detail_id": _child_id(refid, f"line:{number}"),
        "refid": refid,
        "sort_order": number,
        "inventory_item_code": part.code,
        "inventory_item_name": part.name,
        "description": part.name,
        "inventory_item_type": SERVICE_ITEM if part.service else GOODS_ITEM,
        "unit_name": part.unit,
        "main_unit_name": part.unit,
        "main_convert_rate": 1,
        "exchange_rate_operator": "*",
        "quantity": f.quantity,
        "main_quantity": f.quantity,
        "unit_price": _number(f.unit_price),
        "main_unit_price": _number(f.unit_price),
        "amount": f.amount,
        "amount_oc": f.amount,
        "discount_rate": _number(discount_rate),
        "discount_amount": f.discount,
        "discount_amount_oc": f.discount,
        "vat_rate": part.rate.code,
        "vat_amount": f.vat,
        "vat_amount_oc": f.vat,
        "vat_account": accounts.vat_output,
        "debit_account": debit,
        "credit_account": part.revenue_account,
        "account_object_code": party.code,
        "stock_code": None if part.service else stock,
        "is_promotion": part.list_value == 0,
    }
    if part.rate.other is not None:
        detail["other_vat_rate"] = _number(part.rate.other)
    if stock and not part.service:
        detail["cost_account"] = accounts.cost_of_goods
        detail["stock_account"] = accounts.inventory
    return detail


def _header(
    kind: str, reftype: int, refid: str, sale: Sale, company: str, revision: int, at: dt.datetime
) -> dict:
    when = local_time(at)
    return {
        "voucher_type": TYPES[kind],
        "org_refid": org_refid_for(company, kind, sale.source_id, revision),
        "org_refno": sale.label,
        "org_reftype": reftype,
        "reftype": reftype,
        "refid": refid,
        "is_get_new_id": True,
        "refdate": when,
        "posted_date": when,
        "currency_id": "VND",
        "exchange_rate": 1,
        "custom_field1": sale.source_id,
    }


def _totals(sale_amount: int, discount: int, vat: int, total: int) -> dict:
    """A sales document's header totals, each also in the original currency (VND, rate 1)."""
    totals = {
        "total_sale_amount": sale_amount,
        "total_discount_amount": discount,
        "total_vat_amount": vat,
        "total_amount": total,
    }
    return {k: v for name, value in totals.items() for k, v in ((name, value), (f"{name}_oc", value))}


def _sales_document(
    kind: str,
    sale: Sale,
    mapping: Mapping,
    company: str,
    revision: int,
    priced: Priced,
    party: Party,
    location: Location,
    at: dt.datetime,
) -> dict:
    accounts = mapping.accounts
    if kind == SALES_VOUCHER:
        reftype, _ = _paid_at_sale(sale, mapping, priced.total, at)
        debit = {UNPAID: accounts.receivable, PAID_CASH: accounts.cash, PAID_BANK: accounts.bank}[reftype]
        memo = f"Bán hàng theo đơn {sale.label} ({sale.source_id})"
    else:
        reftype, debit = REFTYPES[SALES_ORDER], accounts.receivable
        memo = f"Đơn đặt hàng {sale.label} ({sale.source_id})"
    org_refid = org_refid_for(company, kind, sale.source_id, revision)
    refid = _child_id(org_refid, "refid")
    stock = location.stock_code if mapping.documents.stock_issue else None
    detail = [
        _detail(refid, n, part, f, debit=debit, mapping=mapping, party=party, stock=stock)
        for n, (part, f) in enumerate(zip(priced.parts, priced.figures, strict=True), start=1)
    ]
    sale_amount = sum(d["amount"] for d in detail)
    discount = sum(d["discount_amount"] for d in detail)
    vat = sum(d["vat_amount"] for d in detail)
    total = sale_amount - discount + vat
    voucher = {
        **_header(kind, reftype, refid, sale, company, revision, at),
        "org_reftype_name": "Bán hàng" if kind == SALES_VOUCHER else "Đơn đặt hàng",
        "branch_id": location.branch_id,
        **_party_fields(party),
        "discount_type": 1,
        "discount_rate_voucher": 0,
        "journal_memo": _memo(memo),
        **_totals(sale_amount, discount, vat, total),
        "detail": detail,
    }
    if kind == SALES_ORDER:
        voucher.update(
            status=0, delivered_status=0, revenue_status=0, is_invoiced=False, total_receipted_amount=0
        )
        for d in detail:
            d.update(quantity_delivered=0, quantity_remain=d["quantity"], status=0)
        return voucher
    issues_stock = bool(stock) and any(d["stock_code"] for d in detail)
    voucher.update(
        is_paid=reftype != UNPAID,
        paid_type=0,
        include_invoice=0,
        is_sale_with_outward=issues_stock,
    )
    if issues_stock:
        outward_refid = _child_id(org_refid, "in_outward")
        voucher["outward_refid"] = outward_refid
        voucher["outward_exported_status"] = 1
        voucher["in_outward"] = {
            "refid": outward_refid,
            "reftype": OUTWARD_REFTYPE,
            "voucher_type": 8,
            "branch_id": location.branch_id,
            **_party_fields(party),
            "refdate": voucher["refdate"],
            "posted_date": voucher["posted_date"],
            "in_reforder": voucher["refdate"],
            "journal_memo": _memo(f"Xuất kho bán hàng theo đơn {sale.label}"),
        }
    if reftype == PAID_BANK and accounts.bank_account_number:
        voucher["bank_account_number"] = accounts.bank_account_number
    return voucher


def _receipt(
    sale: Sale,
    mapping: Mapping,
    company: str,
    revision: int,
    payment,
    number: int,
    party: Party,
    location: Location,
    at,
) -> dict | None:
    kind = gateway_kind(payment.gateway, mapping, sale.label)
    if kind == "none":
        return None
    accounts = mapping.accounts
    doc = CASH_RECEIPT if kind == "cash" else BANK_DEPOSIT
    key = payment.key or str(number)
    org_refid = org_refid_for(company, f"{doc}:{key}", sale.source_id, revision)
    refid = _child_id(org_refid, "refid")
    amount = int(payment.amount)
    when = local_time(payment.at or at)
    memo = _memo(f"Thu tiền đơn hàng {sale.label} ({payment.gateway or kind})")
    voucher = {
        "voucher_type": TYPES[doc],
        "org_refid": org_refid,
        "org_refno": f"{sale.label}-{number}",
        "org_reftype": REFTYPES[doc],
        "reftype": REFTYPES[doc],
        "refid": refid,
        "is_get_new_id": True,
        "refdate": when,
        "posted_date": when,
        "currency_id": "VND",
        "exchange_rate": 1,
        "custom_field1": sale.source_id,
        "branch_id": location.branch_id,
        **_party_fields(party),
        "journal_memo": memo,
        "total_amount": amount,
        "total_amount_oc": amount,
        "detail": [
            {
                "ref_detail_id": _child_id(refid, "line:1"),
                "refid": refid,
                "sort_order": 1,
                "description": memo,
                "debit_account": accounts.cash if kind == "cash" else accounts.bank,
                "credit_account": accounts.receivable,
                "amount": amount,
                "amount_oc": amount,
                "account_object_code": party.code,
            }
        ],
    }
    if doc == CASH_RECEIPT:
        voucher["account_object_contact_name"] = sale.buyer.name or party.name
    elif accounts.bank_account_number:
        voucher["bank_account_number"] = accounts.bank_account_number
    return voucher


def _moment(sale: Sale, at: dt.datetime | None) -> dt.datetime:
    moment = at or sale.created_at
    if moment is None:
        raise ConversionError(Text("Order %(label)s has no date to post it on.", label=sale.label))
    return moment


def sale_to_vouchers(
    sale: Sale,
    mapping: Mapping,
    company: str,
    revision: int = 0,
    *,
    at: dt.datetime | None = None,
    kinds: Sequence[str] | None = None,
) -> list[dict]:
    """The vouchers of ``sale`` for the AMIS company ``company`` (its ``org_company_code``): the sales
    order and/or sales voucher the policy makes (or ``kinds``), then a receipt per captured payment the
    sales voucher does not book. ``at`` dates the sales voucher (the moment of the event that made it
    due; default: the sale's creation); the sales order is dated at the sale's creation, a receipt at its
    payment. Raises ``ConversionError`` when the sale cannot be booked as it is."""
    kinds = tuple(due_kinds(sale, mapping) if kinds is None else kinds)
    for kind in kinds:
        if kind not in (SALES_ORDER, SALES_VOUCHER):
            raise ValueError(f"unknown sales document kind {kind!r}")
    if not kinds:
        return []
    try:
        priced = price(sale, mapping)
        party = party_of(sale, mapping)
    except MappingError as exc:  # a sale's own rate AMIS cannot code
        raise ConversionError(Text("Order %(label)s: %(error)s", label=sale.label, error=str(exc))) from exc
    location = location_of(sale, mapping)
    vouchers = []
    if SALES_ORDER in kinds:
        created = _moment(sale, None)
        vouchers.append(
            _sales_document(SALES_ORDER, sale, mapping, company, revision, priced, party, location, created)
        )
    if SALES_VOUCHER in kinds:
        moment = _moment(sale, at)
        voucher = _sales_document(
            SALES_VOUCHER, sale, mapping, company, revision, priced, party, location, moment
        )
        vouchers.append(voucher)
        if mapping.documents.receipts:
            _, booked = _paid_at_sale(sale, mapping, priced.total, moment)
            booked_keys = {id(p) for p in booked}
            for number, payment in enumerate(captures(sale), start=1):
                if id(payment) in booked_keys:
                    continue
                receipt = _receipt(sale, mapping, company, revision, payment, number, party, location, moment)
                if receipt is not None:
                    vouchers.append(receipt)
    return vouchers


# --- named customers as account objects -----------------------------------------------------------------

ACCOUNT_OBJECT = 1  # save's dictionary_type of an account object [reference §8, M]
ORGANISATION, PERSON = 0, 1  # account_object_type [reference §8, M]


def account_object_id(code: str) -> str:
    """Our GUID of the account object ``code`` (the same code always gives the same id)."""
    return str(uuid.uuid5(REFID_NAMESPACE, f"amis|account_object|{plain(code)}"))


def party_dictionary(sale: Sale, mapping: Mapping) -> list[dict]:
    """The account object (``dictionary_type`` 1) the sale's vouchers need, for the same ``save`` call's
    ``dictionary`` list (reference §8: AMIS upserts master data by code, and a voucher whose object is
    neither in AMIS nor in the call fails). A VAT buyer is an organisation with its ``company_tax_code``
    (AMIS's field; not ``tax_code``), a named customer a person; both are customers, never vendors (their
    codes come from the party rules, which refuse supplier prefixes). Walk-in and channel objects are the
    accountant's fixed objects: none. Raises ``ConversionError`` as ``party_of`` does."""
    party = party_of(sale, mapping)
    if party.kind not in (VAT_BUYER, NAMED_CUSTOMER):
        return []
    buyer = sale.buyer
    item: dict[str, Any] = {
        "dictionary_type": ACCOUNT_OBJECT,
        "account_object_id": account_object_id(party.code),
        "account_object_code": party.code,
        "account_object_name": party.name,
        "account_object_type": ORGANISATION if party.tax_code else PERSON,
        "is_customer": True,
        "is_vendor": False,
        "is_employee": False,
        "address": party.address,
        "company_tax_code": party.tax_code or "",
        "receive_account": mapping.accounts.receivable,
        "inactive": False,
    }
    branch = location_of(sale, mapping).branch_id
    if branch:
        item["branch_id"] = branch
    if buyer.phone:
        item["tel"] = buyer.phone
    email = buyer.invoice_email or buyer.email
    if email:
        item["email_address"] = email
    if party.tax_code and buyer.name and buyer.name != party.name:
        item["contact_name"] = buyer.name
    return [item]


# --- sales returns -------------------------------------------------------------------------------------

SALES_RETURN = "sales_return"
TYPES[SALES_RETURN] = 12
REFTYPES[SALES_RETURN] = 3540
# The stock receipt nested in a return (nhập kho hàng bán trả lại): reftype 2010 is what one Nhanh.vn → AMIS
# client sends for "nhập kho trả hàng" (reference §0, id 60975617687) — Unconfirmed, like the whole return.
RETURN_INWARD_REFTYPE = 2010
_REFNO_LIMIT = 20


class NothingToReturn(ConversionError):
    """The refund gives back no money (goods restocked only): there is no return voucher to post."""


@dataclass
class _RefundState:
    """What the sale's earlier refunds already took back: units per sale line, money per part."""

    units: dict[str, int]
    paid_back: dict[int, int]


@dataclass
class _RefundPlan:
    returned: list[list]  # [part index, units of the part, money, restock]
    value_only: list[tuple[int, int]]  # (part index, money)
    money: int


def _refund_label(sale: Sale, refund: Refund) -> Text:
    return Text("Order %(label)s, refund %(refund)s", label=sale.label, refund=refund.name or refund.key)


def _plan_refund(
    sale: Sale, refund: Refund, priced: Priced, owners: list[SaleLine | None], state: _RefundState
) -> _RefundPlan:
    """How one refund's money is shared over the parts, as meInvoice values a refund: returned units at
    their share of what the buyer paid for them (the last units take what is left of the part), the money
    given back being the truth — less money is shared over the returned units, more goes first to the
    shipping, then over the goods still booked; money with no goods over everything still booked."""
    what = _refund_label(sale, refund)
    payable = [f.payable for f in priced.figures]
    by_line: dict[str, list[int]] = {}
    for index, owner in enumerate(owners):
        if owner is not None:
            by_line.setdefault(owner.key, []).append(index)
    lines = {line.key: line for line in sale.lines}
    returned: list[list] = []  # [part index, units of the part, money, restock]
    units_now: dict[str, int] = {}  # units of each sale line this refund returns
    for item in refund.lines:
        if item.problem is not None:
            raise ConversionError(item.problem)
        units = int(item.quantity)
        if not units:
            continue
        line = lines.get(item.line_key)
        if line is None:
            raise ConversionError(
                Text(
                    "%(what)s returns line %(line)s, which is not on the order.",
                    what=what,
                    line=item.line_key,
                )
            )
        done = state.units.get(line.key, 0) + units_now.get(line.key, 0)
        quantity = int(line.quantity)
        if done + units > quantity:
            raise ConversionError(
                Text(
                    "%(what)s returns %(units)s × “%(name)s”, but only %(left)s of %(quantity)s are left to "
                    "return.",
                    what=what,
                    units=units,
                    name=line.name,
                    left=quantity - done,
                    quantity=quantity,
                )
            )
        units_now[line.key] = units_now.get(line.key, 0) + units
        for index in by_line.get(line.key, []):
            part = priced.parts[index]
            given = state.paid_back.get(index, 0) + sum(r[2] for r in returned if r[0] == index)
            left = payable[index] - given
            # the last units take what is left, so returns add up to the part exactly
            value = left if done + units == quantity else _round(Decimal(payable[index]) * units / quantity)
            per = part.quantity // quantity  # a combo's components: their units per combo
            returned.append([index, units * per, max(0, min(value, left)), item.restock])

    if refund.problem is not None:
        raise ConversionError(refund.problem)
    if refund.money is None:
        raise ConversionError(
            Text("%(what)s does not say what money was given back: check the refund in Haravan.", what=what)
        )
    money = int(refund.money)
    lines_value = sum(r[2] for r in returned)
    if money < lines_value:
        # The money given back is the truth: the returned lines share it (a restock with no money: 0 each).
        weights = [Decimal(r[2]) for r in returned]
        for row, share in zip(returned, allocate(Decimal(money), weights), strict=True):
            row[2] = int(share)
        lines_value = money

    extra = money - lines_value
    value_only: list[tuple[int, int]] = []
    taken = {}
    for row in returned:
        taken[row[0]] = taken.get(row[0], 0) + row[2]
    if extra and returned:
        for index, owner in enumerate(owners):
            if owner is None:  # the shipping charged
                room = payable[index] - state.paid_back.get(index, 0)
                take = min(room, extra)
                if take > 0:
                    value_only.append((index, take))
                    taken[index] = taken.get(index, 0) + take
                    extra -= take
    if extra:
        candidates = [i for i, owner in enumerate(owners) if owner is not None or not returned]
        rooms = [payable[i] - state.paid_back.get(i, 0) - taken.get(i, 0) for i in candidates]
        if not candidates or extra > sum(rooms):
            raise ConversionError(
                Text(
                    "%(what)s gives back %(money)s, more than the sale's vouchers still book: post this "
                    "return in AMIS by hand.",
                    what=what,
                    money=amount_text(money),
                )
            )
        for index, share in zip(
            candidates, allocate(Decimal(extra), [Decimal(r) for r in rooms]), strict=True
        ):
            if share:
                value_only.append((index, int(share)))

    for index, value in [(r[0], r[2]) for r in returned] + value_only:
        state.paid_back[index] = state.paid_back.get(index, 0) + value
    for key, units in units_now.items():
        state.units[key] = state.units.get(key, 0) + units
    return _RefundPlan(returned, value_only, money)


def _owners(sale: Sale, mapping: Mapping, priced: Priced) -> list[SaleLine | None]:
    """The sale line each priced part comes from (None: the shipping), in the parts' order."""
    owners: list[SaleLine | None] = [
        line for line in sale.lines for _ in _goods_parts(line, mapping, sale.label)
    ]
    return owners + [None] * (len(priced.parts) - len(owners))


def _return_refno(sale: Sale, refund: Refund) -> str:
    """``#100123-TL<refund id>`` when it fits AMIS's 20 characters; else without the "#"; else the refund's
    place among the sale's refunds (``#100123-TL2``); else the last 20 characters."""
    key = refund.key or refund.name
    candidates = [f"{sale.label}-TL{key}", f"{sale.label.lstrip('#')}-TL{key}"]
    keys = [r.key for r in sale.refunds]
    if refund.key in keys:
        candidates.append(f"{sale.label}-TL{keys.index(refund.key) + 1}")
    for candidate in candidates:
        if len(candidate) <= _REFNO_LIMIT:
            return candidate
    return candidates[-1][-_REFNO_LIMIT:]


def _credit_account(sale: Sale, refund: Refund, mapping: Mapping) -> str:
    """Where the money given back leaves from: the cash (or bank) account when every successful refund
    transaction went through cash (or bank) gateways, else the buyer's receivable."""
    paid = [p for p in refund.payments if p.succeeded and p.amount > 0]
    kinds = {
        # a refund transaction that names no gateway, with no default gateway: money owed back to the buyer
        gateway_kind(p.gateway, mapping, sale.label) if p.gateway or mapping.default_gateway else "none"
        for p in paid
    }
    accounts = mapping.accounts
    if kinds == {"cash"}:
        return accounts.cash
    if kinds == {"bank"}:
        return accounts.bank
    return accounts.receivable


def _returned_figures(part: _Part, units: int, value: int, include: bool) -> Figures:
    """The figures of ``units`` returned units of a part worth ``value`` (VAT included): pre-VAT value
    ``value ÷ (1 + rate)`` rounded half up, VAT the remainder; the listed amount pro rata of the part's."""
    r = part.rate.fraction
    listed = Decimal(part.list_value) * units / part.quantity
    gross_list = listed if include else listed * (1 + r)
    return figures(gross_list, value, units, part.rate, True)


def _value_only(part: _Part, value: int) -> Figures:
    """Money given back with no goods: quantity 0, unit price 0, the pre-VAT value in ``amount``."""
    net = _round(Decimal(value) / (1 + part.rate.fraction))
    return Figures(0, Decimal(0), net, 0, value - net)


def refund_to_return(
    sale: Sale,
    refund: Refund,
    mapping: Mapping,
    company: str,
    revision: int = 0,
    *,
    at: dt.datetime | None = None,
) -> dict:
    """The sales return voucher (hàng bán trả lại, ``voucher_type`` 12, reftype 3540) of one refund of a
    sale whose sales voucher AMIS has already generated. **Unconfirmed at MISA** (reference §5, §6.5): no
    source shows an accepted 12/3540 payload; this is the best guess, shaped like the sales voucher.

    Worth exactly the money given back (``refund.money``, the refund's successful refund transactions),
    never a recomputed value. The sale is priced as its vouchers were (``price``) and the refund valued as
    meInvoice values it: returned units at their share of what the buyer paid for their line (the last
    units take what is left), less money shared over them, more going to the shipping then the goods still
    booked, money with no goods shared over everything still booked (one value-only line per voucher line,
    quantity 0, so each VAT rate takes its share). The sale's earlier refunds are replayed first (all of
    them for a refund without a date).

    Lines are pre-VAT: debit ``accounts.sales_returns`` (TT200 5212), VAT on ``accounts.vat_output``
    (33311), credit the account the money left from: cash / bank when every successful refund transaction
    went through a cash / bank gateway (as the till or bank really paid it back, whether the sale was paid
    at sale or through a receipt), else the buyer's receivable (131: the return reduces what they owe).
    Restocked goods carry the sale's warehouse and a nested stock receipt (``in_inward``, reftype
    ``RETURN_INWARD_REFTYPE``), only when the sale issued stock. Header totals are the line sums and
    ``total_amount`` is the money given back. Dated ``at`` (default: the refund's creation), Vietnam time.

    Raises ``NothingToReturn`` when the refund gives back no money, ``ConversionError`` when the money is
    unknown or the refund cannot be booked as it is."""
    what = _refund_label(sale, refund)
    if refund.problem is not None:
        raise ConversionError(
            Text(
                "%(problem)s. Correct the refund in Haravan, or post the return in AMIS by hand.",
                problem=refund.problem,
            )
        )
    try:
        priced = price(sale, mapping)
        party = party_of(sale, mapping)
    except MappingError as exc:
        raise ConversionError(Text("Order %(label)s: %(error)s", label=sale.label, error=str(exc))) from exc
    owners = _owners(sale, mapping, priced)
    state = _RefundState({}, {})
    for previous in sale.refunds:
        # a refund without a date (say a cancellation standing for everything left) comes after all others
        if previous.key != refund.key and (refund.created_at is None or previous.sort_key < refund.sort_key):
            _plan_refund(sale, previous, priced, owners, state)
    plan = _plan_refund(sale, refund, priced, owners, state)
    if plan.money == 0:
        raise NothingToReturn(
            Text(
                "%(what)s gives back no money (goods restocked only): there is no return voucher to post.",
                what=what,
            )
        )
    key = refund.key or refund.name
    if not plain(key):
        raise ConversionError(
            Text("Order %(label)s: a refund without an id cannot be posted.", label=sale.label)
        )
    moment = at or refund.created_at
    if moment is None:
        raise ConversionError(Text("%(what)s has no date to post it on.", what=what))

    include = sale.prices_include_tax
    location = location_of(sale, mapping)
    stock = location.stock_code if mapping.documents.stock_issue else None
    accounts = mapping.accounts
    credit = _credit_account(sale, refund, mapping)
    kind = f"return:{key}"
    org_refid = org_refid_for(company, kind, sale.source_id, revision)
    refid = _child_id(org_refid, "refid")
    rows: list[tuple[_Part, Figures, bool]] = []
    for index, units, value, restock in plan.returned:
        part = priced.parts[index]
        rows.append((part, _returned_figures(part, units, value, include), restock))
    for index, value in plan.value_only:
        rows.append((priced.parts[index], _value_only(priced.parts[index], value), False))
    detail = []
    for number, (part, f, restock) in enumerate(rows, start=1):
        receives = bool(stock) and restock and not part.service and f.quantity > 0
        line = _detail(
            refid,
            number,
            part,
            f,
            debit=accounts.sales_returns,
            mapping=mapping,
            party=party,
            stock=stock if receives else None,
        )
        line["credit_account"] = credit
        line["stock_code"] = stock if receives else None
        detail.append(line)

    sale_amount = sum(d["amount"] for d in detail)
    discount = sum(d["discount_amount"] for d in detail)
    vat = sum(d["vat_amount"] for d in detail)
    total = sale_amount - discount + vat
    if total != plan.money:  # the plan shares the money exactly; a guard against a broken invariant
        raise ConversionError(
            Text(
                "%(what)s: the return lines make %(total)s, not the %(money)s given back.",
                what=what,
                total=amount_text(total),
                money=amount_text(plan.money),
            )
        )
    when = local_time(moment)
    memo = f"Hàng bán trả lại theo đơn {sale.label} ({sale.source_id}), trả hàng {refund.name or key}"
    if refund.note:
        memo = f"{memo}: {refund.note}"
    voucher = {
        "voucher_type": TYPES[SALES_RETURN],
        "org_refid": org_refid,
        "org_refno": _return_refno(sale, refund),
        "org_reftype": REFTYPES[SALES_RETURN],
        "reftype": REFTYPES[SALES_RETURN],
        "org_reftype_name": "Hàng bán trả lại",
        "refid": refid,
        "is_get_new_id": True,
        "refdate": when,
        "posted_date": when,
        "currency_id": "VND",
        "exchange_rate": 1,
        "custom_field1": sale.source_id,
        "custom_field2": plain(key),
        "branch_id": location.branch_id,
        **_party_fields(party),
        "discount_type": 1,
        "discount_rate_voucher": 0,
        "include_invoice": 0,
        "journal_memo": _memo(memo),
        **_totals(sale_amount, discount, vat, total),
        "detail": detail,
    }
    receives_stock = any(d["stock_code"] for d in detail)
    voucher["is_return_with_inward"] = receives_stock
    if receives_stock:
        inward_refid = _child_id(org_refid, "in_inward")
        voucher["inward_refid"] = inward_refid
        voucher["in_inward"] = {
            "refid": inward_refid,
            "reftype": RETURN_INWARD_REFTYPE,
            "voucher_type": 7,
            "branch_id": location.branch_id,
            **_party_fields(party),
            "refdate": when,
            "posted_date": when,
            "in_reforder": when,
            "journal_memo": _memo(f"Nhập kho hàng bán trả lại theo đơn {sale.label}"),
        }
    return voucher


# --- what a preview shows -------------------------------------------------------------------------------


def voucher_summary(voucher: dict) -> dict:
    """One voucher in the preview's shape."""
    return {
        "voucher_type": voucher["voucher_type"],
        "reftype": voucher["reftype"],
        "org_refid": voucher["org_refid"],
        "org_refno": voucher["org_refno"],
        "account_object_code": voucher["account_object_code"],
        "account_object_tax_code": voucher.get("account_object_tax_code"),
        "branch_id": voucher.get("branch_id"),
        "total_sale_amount": voucher.get("total_sale_amount", voucher["total_amount"]),
        "total_discount_amount": voucher.get("total_discount_amount", 0),
        "total_vat_amount": voucher.get("total_vat_amount", 0),
        "total_amount": voucher["total_amount"],
        "detail": [
            {
                "inventory_item_code": d.get("inventory_item_code", ""),
                "quantity": d.get("quantity", 1),
                "unit_price": d.get("unit_price", d["amount"]),
                "amount": d["amount"],
                "discount_amount": d.get("discount_amount", 0),
                "vat_rate": d.get("vat_rate", 0),
                "vat_amount": d.get("vat_amount", 0),
                "debit_account": d["debit_account"],
                "credit_account": d["credit_account"],
                "stock_code": d.get("stock_code"),
            }
            for d in voucher["detail"]
        ],
    }


def preview(
    sale: Sale, mapping: Mapping, company: str, revision: int = 0, *, at: dt.datetime | None = None
) -> dict:
    """``{"post", "reason", "vouchers"}``: what would be posted for the sale to ``company`` and why (the
    caller adds the routed ``account``)."""
    kinds = due_kinds(sale, mapping)
    if not kinds:
        return {"post": False, "reason": why_not_due(sale, mapping).english(), "vouchers": []}
    try:
        vouchers = sale_to_vouchers(sale, mapping, company, revision, at=at, kinds=kinds)
    except ConversionError as exc:
        return {"post": False, "reason": exc.reason, "vouchers": []}
    reason = Text(
        "Order %(label)s would be posted as: %(kinds)s.",
        label=sale.label,
        kinds=", ".join(f"{v['voucher_type']}/{v['reftype']} {v['org_refno']}" for v in vouchers),
    )
    return {"post": True, "reason": reason.english(), "vouchers": [voucher_summary(v) for v in vouchers]}


# --- items AMIS does not have yet ------------------------------------------------------------------------


def item_dictionary(vouchers: Sequence[dict], codes: Sequence[str], mapping: Mapping) -> list[dict]:
    """The ``dictionary_type: 3`` items (amis.md §8) that create ``codes`` in AMIS in the same ``save`` call
    as the vouchers using them: named, typed, unit and VAT rate as the vouchers' lines describe them, with
    the mapping's accounts. Codes compare as AMIS compares them (case-insensitively); each comes once."""
    wanted = {fold(code) for code in codes}
    items: dict[str, dict] = {}
    for voucher in vouchers:
        for line in voucher.get("detail") or []:
            code = str(line.get("inventory_item_code") or "")
            if not code or fold(code) not in wanted or fold(code) in items:
                continue
            service = line.get("inventory_item_type") == SERVICE_ITEM
            accounts = mapping.accounts
            items[fold(code)] = {
                "dictionary_type": 3,
                "inventory_item_id": str(uuid.uuid5(REFID_NAMESPACE, f"item|{fold(code)}")),
                "inventory_item_code": code,
                "inventory_item_name": str(line.get("inventory_item_name") or code)[:255],
                "inventory_item_type": SERVICE_ITEM if service else GOODS_ITEM,
                "unit_name": line.get("unit_name") or mapping.default_unit,
                "tax_rate": line.get("vat_rate"),
                "sale_account": line.get("credit_account"),
                "inventory_account": None if service else accounts.inventory,
                "cogs_account": accounts.cost_of_goods,
                "inactive": False,
            }
    return list(items.values())


def catalogue_item(sku: str, name: str, unit: str, mapping: Mapping) -> dict | None:
    """A shop's variant as the AMIS item (``dictionary_type`` 3) ``sync_products`` upserts by code: coded
    as the mapping codes its SKU, in its main unit, taxed at the default rate, booked to the goods
    accounts. None for a variant without a SKU (nothing to match it by in AMIS)."""
    code = lookup(mapping.item_codes, plain(sku)) or plain(sku)
    if not code:
        return None
    accounts = mapping.accounts
    return {
        "dictionary_type": 3,
        "inventory_item_id": str(uuid.uuid5(REFID_NAMESPACE, f"item|{fold(code)}")),
        "inventory_item_code": code,
        "inventory_item_name": (plain(name) or code)[:255],
        "inventory_item_type": GOODS_ITEM,
        "unit_name": lookup(mapping.units, code) or plain(unit) or mapping.default_unit,
        "tax_rate": rate(mapping.default_vat_rate).code,
        "sale_account": accounts.revenue_goods,
        "inventory_account": accounts.inventory,
        "cogs_account": accounts.cost_of_goods,
        "inactive": False,
    }


def customer_object(
    buyer_id: str,
    name: str,
    *,
    company: str = "",
    tax_code: str = "",
    address: str = "",
    email: str = "",
    phone: str = "",
    mapping: Mapping,
) -> dict | None:
    """A shop's customer as the AMIS account object ``sync_customers`` upserts by code: coded by the
    mapping's rule for named customers (never a supplier's code), an organisation when the customer list
    gives a valid tax code and a company name. None for a customer without an id."""
    buyer_id = plain(buyer_id)
    if not buyer_id:
        return None
    code = mapping.parties.customer_code.format(customer_id=buyer_id)
    valid_tax_code = bool(tax_code) and buyer_tax_code_error(tax_code) is None and bool(plain(company))
    item: dict[str, Any] = {
        "dictionary_type": ACCOUNT_OBJECT,
        "account_object_id": account_object_id(code),
        "account_object_code": code,
        "account_object_name": (plain(company) if valid_tax_code else plain(name)) or code,
        "account_object_type": ORGANISATION if valid_tax_code else PERSON,
        "is_customer": True,
        "is_vendor": False,
        "is_employee": False,
        "address": plain(address),
        "company_tax_code": plain(tax_code) if valid_tax_code else "",
        "receive_account": mapping.accounts.receivable,
        "inactive": False,
    }
    if phone:
        item["tel"] = plain(phone)
    if email:
        item["email_address"] = plain(email)
    if valid_tax_code and plain(name) and plain(name) != plain(company):
        item["contact_name"] = plain(name)
    return item
