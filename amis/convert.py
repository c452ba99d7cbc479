"""A sale → MISA AMIS vouchers: pure functions, no database, no HTTP.

Reads only the source-neutral ``connectors.sale.Sale`` and a company's ``amis.mapping.Mapping``; builds
the voucher objects of AMIS's ``save`` call (reference §4–§7):

- the sales voucher (PBH, ``voucher_type`` 13): ``reftype`` 3530 unpaid (debit 131), 3531 paid in cash
  (debit 1111) or 3537 paid by bank (debit 1121) when the whole amount was captured by its date, with a
  nested stock issue (``in_outward``, reftype 2020) when the sale's location has a warehouse;
- the sales order (ĐĐH, 20/3520);
- a cash receipt (``ca_receipt`` 5/1010) or bank deposit (``ba_deposit`` 1/1500) per captured payment
  the sales voucher did not already book.

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
from connectors.sale import Sale, SaleLine
from connectors.taxcode import buyer_tax_code_error
from connectors.text import Text, as_text, fold, plain

from .mapping import Location, Mapping, MappingError, Rate, lookup, rate, rate_of_fraction

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


@dataclass(frozen=True)
class Party:
    """The AMIS account object a sale is booked to."""

    code: str
    name: str
    address: str = ""
    tax_code: str | None = None


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
        return Party(code, buyer.legal_name, buyer.address, buyer.tax_code)
    channel_code = lookup(rules.by_channel, sale.status.channel) if sale.status.channel else None
    if channel_code:
        return Party(channel_code, buyer.name or channel_code, buyer.home_address)
    if buyer.code:
        return Party(
            rules.customer_code.format(customer_id=buyer.code), buyer.name or buyer.code, buyer.home_address
        )
    return Party(rules.walk_in, buyer.name or rules.walk_in, buyer.home_address)


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
    combo = lookup(mapping.combos, code)
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


def figures(list_value: int, gross: int, quantity: int, line_rate: Rate, prices_include_tax: bool) -> Figures:
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
        "total_sale_amount": sale_amount,
        "total_sale_amount_oc": sale_amount,
        "total_discount_amount": discount,
        "total_discount_amount_oc": discount,
        "total_vat_amount": vat,
        "total_vat_amount_oc": vat,
        "total_amount": total,
        "total_amount_oc": total,
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


# --- what a preview shows -------------------------------------------------------------------------------


def voucher_summary(voucher: dict) -> dict:
    """One voucher in the preview's shape (issue 13 §7)."""
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
