"""A Haravan order → a source-neutral ``Sale`` (see ``connectors.sale``): pure, no database, no HTTP.

Haravan's order, as its Admin API documents it (https://docs.haravan.com/docs/omni-apis/orders/): amounts
are JSON numbers (or numeric strings) in VND; ``line_items`` carry their own ``total_discount`` (or
``applied_discounts``); ``discount_codes`` are order-level (``fixed_amount`` / ``percentage``: their
``amount`` is the VND taken; ``shipping``: taken off the shipping); ``shipping_lines`` are charged on
top; ``total_price`` is what the buyer pays; ``refunds`` list the units returned (``refund_line_items``)
and the money given back (``transactions`` of kind ``refund``), separately.

Order-level codes are shared across the goods in proportion to each line's value after its own discount,
and shipping codes across the shipping lines, by largest remainder (ties to the earlier line), so the
shares add up to the đồng. Haravan has no tax-code field: the VAT buyer comes from note attributes whose
names the shop chooses (``ReadOptions.buyer``). Nothing is refused here: what cannot be read becomes one of
the sale's ``problems``, worded with Haravan's own field names, and the target decides.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.utils.dateparse import parse_datetime

from connectors.money import Unreadable, allocate, amount_text, quantum, read_amount, read_quantity
from connectors.sale import (
    ZERO,
    Buyer,
    Charge,
    Discount,
    Payment,
    ReadOptions,
    Refund,
    RefundLine,
    Sale,
    SaleLine,
    SaleStatus,
    SourceTotals,
)
from connectors.text import Text, fold, is_email, join, plain, status_key

DIMENSIONS = ("location", "source", "storefront", "carrier", "gateway")
GOODS_CODE_KINDS = ("fixed_amount", "percentage")
DEFAULT_ITEM_NAME = "Hàng hóa"  # "goods": what a line with no title at all is called


# --- small readers ----------------------------------------------------------------------------------


def moment(value: Any) -> dt.datetime | None:
    """An ISO timestamp (Haravan writes UTC with a Z); a naive one is read as UTC; unreadable → None."""
    raw = plain(value)
    if not raw:
        return None
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        parsed = parse_datetime(raw)
        if parsed is None:
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


# --- labels and facts ---------------------------------------------------------------------------------


def order_label(order: dict) -> str:
    return str(
        order.get("name") or (f"#{order['order_number']}" if order.get("order_number") else order.get("id"))
    )


def updated_at(obj: dict) -> dt.datetime | None:
    raw = obj.get("updated_at") or obj.get("created_at")
    if not raw:
        return None
    value = parse_datetime(str(raw))
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def describe_order(order: dict) -> Text:
    """One line for the log: what state the shop reports."""
    parts = [
        Text("financial %(status)s", status=order.get("financial_status") or "-"),
        Text("fulfillment %(status)s", status=order.get("fulfillment_status"))
        if order.get("fulfillment_status")
        else Text("fulfillment not fulfilled"),
    ]
    if order.get("cancelled_at"):
        parts.append(Text("cancelled"))
    try:
        total = Decimal(str(order.get("total_price")))
    except InvalidOperation:
        total = None
    if total is not None and total.is_finite():
        parts.append(
            Text(
                "total %(amount)s %(currency)s",
                amount=f"{total:,.0f}".replace(",", "."),
                currency=order.get("currency") or "VND",
            )
        )
    return join(parts, ", ")


def _add(facts: dict, dimension: str, value) -> None:
    if value is None:
        return
    value = str(value).strip()
    if value and value not in facts[dimension]:
        facts[dimension].append(value)


def _listed(value: Any) -> list:
    """A JSON list as a list; a text or an object is walked as Python walks it (each is then "not an
    object"), anything else (a number, true) is an empty list."""
    if isinstance(value, list | tuple | str | dict):
        return list(value)
    return []


def _objects(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# Lists of objects and objects an order is made of: what makes a JSON object an order at all.
OBJECT_LISTS = (
    "line_items",
    "shipping_lines",
    "discount_codes",
    "fulfillments",
    "note_attributes",
    "refunds",
)
OBJECTS = ("customer", "billing_address", "shipping_address")


def shape_problem(order: Any) -> str | None:
    """Why this JSON is not shaped like a Haravan order (a pasted fragment, another API's object), or None."""
    if not isinstance(order, dict):
        return "not a JSON object"
    for name in OBJECT_LISTS:
        value = order.get(name)
        if value is None:
            continue
        if not isinstance(value, list):
            return f"{name} is not a list"
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                return f"{name}[{i}] is not an object"
    for name in OBJECTS:
        if order.get(name) is not None and not isinstance(order.get(name), dict):
            return f"{name} is not an object"
    return None


def routing_facts(order: dict) -> dict[str, list[str]]:
    """What an order says about each routing dimension.

    Haravan has no "channel" field: the sales channel is source_name (or source). The storefront is the
    host the buyer landed on. Carriers are named on fulfillments, or by the shipping line before fulfilment.
    """
    facts: dict[str, list[str]] = {d: [] for d in DIMENSIONS}
    _add(facts, "location", order.get("location_id"))
    _add(facts, "location", order.get("assigned_location_id"))
    for fulfillment in _objects(order.get("fulfillments")):
        _add(facts, "location", fulfillment.get("location_id"))
        _add(facts, "carrier", fulfillment.get("tracking_company"))
        _add(facts, "carrier", fulfillment.get("tracking_company_code"))
    _add(facts, "source", order.get("source_name"))
    _add(facts, "source", order.get("source"))
    for name in ("landing_site", "referring_site"):
        host = urlsplit(str(order.get(name) or "")).hostname
        if host:
            _add(facts, "storefront", host)
            break
    for line in _objects(order.get("shipping_lines")):
        _add(facts, "carrier", line.get("code"))
        _add(facts, "carrier", line.get("title"))
    _add(facts, "gateway", order.get("gateway_code"))
    _add(facts, "gateway", order.get("gateway"))
    return facts


# --- the buyer --------------------------------------------------------------------------------------


def _attributes(order: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in _listed(order.get("note_attributes")):
        if isinstance(item, dict) and item.get("name") is not None:
            out.setdefault(fold(item["name"]), plain(item.get("value")))
    return out


def _address_line(address: Any) -> str:
    if not isinstance(address, dict):
        return ""
    parts = [plain(address.get(k)) for k in ("address1", "address2", "ward", "district", "province")]
    return ", ".join(p for p in parts if p)


def _person_name(order: dict, customer: dict) -> str:
    for key in ("billing_address", "shipping_address"):
        address = order.get(key)
        if isinstance(address, dict):
            name = plain(address.get("name"))
            if not name:
                name = plain(f"{address.get('last_name') or ''} {address.get('first_name') or ''}")
            if name:
                return name
    if customer:
        return plain(f"{customer.get('last_name') or ''} {customer.get('first_name') or ''}")
    return ""


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def read_buyer(order: dict, options: ReadOptions, profile=None) -> Buyer:
    """Who the sale is made out to. A tax code in the note attributes asks for a company invoice: then the
    company's name and address come from the attributes (or the billing address's company, when allowed);
    without one the buyer is the person, at the billing (else shipping) address. A budget-relation unit
    code asks for the company's name and address too. The Decree 70 identifiers (personal identification
    number, passport, budget-relation code) are read from the attributes the mapping names, if any; the
    person's own address is kept as ``home_address`` whatever the tax code. Contact details missing
    from the order come from the shop's customer list (``profile``); a tax code never does."""
    fields = options.buyer
    attrs = _attributes(order)
    billing, shipping = _dict(order.get("billing_address")), _dict(order.get("shipping_address"))
    customer = _dict(order.get("customer"))
    if profile is not None and customer.get("id"):
        customer = {
            **customer,
            "email": customer.get("email") or profile.email,
            "phone": customer.get("phone") or profile.phone,
        }

    tax_code = "".join(attrs.get(fold(fields.tax_code), "").split())
    legal_name = attrs.get(fold(fields.legal_name), "")
    company_address = attrs.get(fold(fields.address), "")
    invoice_email = attrs.get(fold(fields.email), "")
    id_number, passport, budget_code = (
        "".join(attrs.get(fold(name), "").split()) if name else ""
        for name in (fields.id_number, fields.passport, fields.budget_code)
    )
    email = invoice_email
    if not email:
        for candidate in (order.get("email"), order.get("contact_email"), customer.get("email")):
            candidate = plain(candidate)
            if candidate and is_email(candidate):
                email = candidate
                break
    phone = next(
        (
            p
            for p in (plain(billing.get("phone")), plain(shipping.get("phone")), plain(customer.get("phone")))
            if p
        ),
        "",
    )
    origin = {
        "tax_code": fields.tax_code,
        "legal_name": fields.legal_name,
        "address": fields.address,
        "email": fields.email,
        "id_number": fields.id_number,
        "passport": fields.passport,
        "budget_code": fields.budget_code,
    }
    home_address = _address_line(billing) or _address_line(shipping)
    if tax_code or budget_code:
        address = company_address
        if not legal_name and fields.use_billing_company:
            legal_name = plain(billing.get("company"))
            if legal_name and not address:
                address = _address_line(billing)  # the billing address of that company
    else:
        address = home_address
    return Buyer(
        code=plain(customer.get("id")),
        name=_person_name(order, customer),
        legal_name=legal_name,
        tax_code=tax_code,
        address=address,
        email=email,
        phone=phone,
        invoice_email=invoice_email,
        id_number=id_number,
        passport=passport,
        budget_code=budget_code,
        home_address=home_address,
        origin=origin,
    )


# --- lines, charges, discounts ------------------------------------------------------------------------


def _line_discount(line: dict, what: str, currency: str) -> Decimal:
    applied = line.get("applied_discounts")
    applied_total = None
    if isinstance(applied, list) and applied:
        applied_total = ZERO
        for i, item in enumerate(applied):
            if item is not None and not isinstance(item, dict):
                raise Unreadable(Text("%(what)s is not an object", what=f"{what}.applied_discounts[{i}]"))
            applied_total += read_amount(
                (item or {}).get("amount"), f"{what}.applied_discounts[{i}].amount", currency=currency
            )
    total = line.get("total_discount")
    if total is not None and not (isinstance(total, str) and not total.strip()):
        total_discount = read_amount(total, f"{what}.total_discount", currency=currency)
        if applied_total is not None and applied_total != total_discount and total_discount != 0:
            raise Unreadable(
                Text(
                    "%(what)s: total_discount %(total)s disagrees with its applied_discounts (%(applied)s)",
                    what=what,
                    total=amount_text(total_discount, currency),
                    applied=amount_text(applied_total, currency),
                )
            )
        if total_discount:
            return total_discount
    return applied_total or ZERO


def _item_name(line: dict) -> str:
    title = plain(line.get("title"))
    variant = plain(line.get("variant_title"))
    if title and variant and variant.casefold() != "default title":
        return f"{title} - {variant}"
    return title or plain(line.get("name")) or plain(line.get("sku")) or DEFAULT_ITEM_NAME


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        return ()
    return tuple(t for t in (plain(v) for v in value) if t)


def _sale_line(line: dict, index: int, what: str, catalogue: dict, currency: str) -> SaleLine | None:
    """One line item (None for a line of zero units: nothing was sold)."""
    units = read_quantity(line.get("quantity"), f"{what}.quantity")
    price = read_amount(line.get("price"), f"{what}.price", currency=currency, required=True)
    if price < 0:
        raise Unreadable(Text("%(what)s.price is negative", what=what))
    discount = _line_discount(line, what, currency)
    if discount < 0 or discount > price * units:
        raise Unreadable(
            Text(
                "%(what)s: its discount %(discount)s is not between 0 and its value %(value)s",
                what=what,
                discount=amount_text(discount, currency),
                value=amount_text(price * units, currency),
            )
        )
    if units == 0:
        return None
    item = catalogue.get(str(line.get("variant_id")))  # the shop's product: unit, type, vendor and tags
    tags = line.get("tags") or line.get("product_tags") or (item.tags if item is not None else None)
    return SaleLine(
        key=plain(line.get("id")) or f"line:{index}",
        item_code=plain(line.get("sku")) or plain(line.get("variant_id")),
        name=_item_name(line),
        quantity=units,
        unit_price=price,
        line_discount=discount,
        unit=plain(line.get("unit")) or (plain(item.unit) if item is not None else ""),
        sku=plain(line.get("sku")),
        item_id=plain(line.get("variant_id")),
        # The catalogue's type fills the line's own "type", which is read before "product_type".
        product_type=plain(
            line.get("type") or (item.product_type if item is not None else None) or line.get("product_type")
        ),
        vendor=plain(line.get("vendor")) or (plain(item.vendor) if item is not None else ""),
        tags=_tags(tags),
    )


def _charge(line: dict, index: int, what: str, currency: str) -> Charge:
    price = read_amount(line.get("price"), f"{what}.price", currency=currency)
    if price < 0:
        raise Unreadable(Text("%(what)s.price is negative", what=what))
    return Charge(
        key=f"shipping:{index}",
        kind="shipping",
        code=plain(line.get("code")),
        name=plain(line.get("title")),
        amount=price,
    )


def _discount(code: dict, what: str, currency: str) -> Discount:
    kind = plain(code.get("type")).lower() or "fixed_amount"
    if kind not in (*GOODS_CODE_KINDS, "shipping"):
        raise Unreadable(Text("%(what)s: unknown discount type %(kind)s", what=what, kind=repr(kind)))
    value = read_amount(code.get("amount"), f"{what}.amount", currency=currency)
    if value < 0:
        raise Unreadable(Text("%(what)s.amount is negative", what=what))
    return Discount(
        code=plain(code.get("code")),
        kind=kind,
        applies_to="charges" if kind == "shipping" else "goods",
        amount=value,
    )


def _each(items: Any, what: str, read, problems: list[Text], label: str) -> list:
    """Read each object of a JSON list; what cannot be read is a problem, and is left out."""
    out = []
    if items not in (None, "", [], {}) and not isinstance(items, list | tuple | str | dict):
        problems.append(_of_order(label, Text("%(what)s is not a list", what=what)))
    for i, item in enumerate(_listed(items)):
        where = f"{what}[{i}]"
        if not isinstance(item, dict):
            problems.append(_of_order(label, Text("%(what)s is not an object", what=where)))
            continue
        try:
            value = read(item, i, where)
        except Unreadable as exc:
            problems.append(_of_order(label, exc.text))
            continue
        if value is not None:
            out.append(value)
    return out


def _at(what: Text, path: str) -> Text:
    """A field inside something named in words: "order #1: refund 9" + ".transactions[0].amount"."""
    return Text("%(what)s%(path)s", what=what, path=path)


def _of_order(label: str, problem: Text) -> Text:
    """A problem of one order, in the words the converters print: "order #100123: line_items[0].price …"."""
    return Text("order %(label)s: %(problem)s", label=label, problem=problem)


# --- payments and refunds -------------------------------------------------------------------------------


# Haravan writes a transaction's status in English or in Vietnamese, in any case ("success", "Success",
# "Thành công"; https://docs.haravan.com/docs/omni-apis/refunds/). Only these mean the money moved.
SUCCESS_STATUSES = frozenset({"success", "thanh cong"})
UNSETTLED_STATUSES = frozenset(
    {"pending", "failure", "error", "that bai", "loi", "dang xu ly", "cho xu ly", "dang cho xu ly", "da huy"}
)


def _status_words(value: Any) -> str:
    """A status without case or accents ("Thành công" → "thanh cong"): Haravan writes either language."""
    decomposed = unicodedata.normalize("NFD", fold(value).replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("_", " ")


def transaction_succeeded(status: Any) -> bool | None:
    """True: the money moved; False: it did not (pending, failed); None: a status we cannot read."""
    words = _status_words(status)
    if words in SUCCESS_STATUSES:
        return True
    if words in UNSETTLED_STATUSES:
        return False
    return None


def _payment(tx: dict, currency: str) -> Payment | None:
    try:
        value = abs(read_amount(tx.get("amount"), "amount", currency=currency))
    except Unreadable:
        return None
    return Payment(
        key=plain(tx.get("id")),
        kind=plain(tx.get("kind")).lower(),
        status=plain(tx.get("status")),
        amount=value,
        gateway=plain(tx.get("gateway")),
        at=moment(tx.get("created_at")),
        succeeded=transaction_succeeded(tx.get("status")) is True,
    )


def _returned_lines(refund: dict, what: Text, goods_keys: set[str]) -> list[RefundLine]:
    lines = []
    for i, item in enumerate(_listed(refund.get("refund_line_items"))):
        if not isinstance(item, dict):
            lines.append(
                RefundLine(
                    "",
                    ZERO,
                    problem=Text("%(what)s is not an object", what=_at(what, f".refund_line_items[{i}]")),
                )
            )
            continue
        line_id = item.get("line_item_id")
        if line_id is None and isinstance(item.get("line_item"), dict):
            line_id = item["line_item"].get("id")
        key = plain(line_id)
        restock = bool(item.get("restock") or refund.get("restock")) or plain(
            item.get("restock_type")
        ).lower() not in ("", "no_restock")
        if key not in goods_keys:
            problem = Text(
                "%(what)s returns line item %(line)s, which is not on the order", what=what, line=str(line_id)
            )
            lines.append(RefundLine(key, ZERO, restock, problem=problem))
            continue
        try:
            units = read_quantity(item.get("quantity"), _at(what, f".refund_line_items[{i}].quantity"))
        except Unreadable as exc:
            lines.append(RefundLine(key, ZERO, restock, problem=exc.text))
            continue
        lines.append(RefundLine(key, units, restock))
    return lines


def _money_returned(refund: dict, what: Text, currency: str) -> tuple[Decimal | None, Text | None, list]:
    """(money, problem, payments): the sum of the refund's successful refund transactions. An empty list
    is a restock with no money (0); a missing list or a status we cannot read leaves the money unknown."""
    transactions = refund.get("transactions")
    if not isinstance(transactions, list):
        problem = (
            Text("%(what)s does not list its transactions: the money given back is unknown", what=what)
            if transactions is None
            else Text("%(what)s is not a list", what=_at(what, ".transactions"))
        )
        return None, problem, []
    money, problem, payments = ZERO, None, []
    for i, tx in enumerate(transactions):
        if not isinstance(tx, dict) or plain(tx.get("kind")).lower() != "refund":
            continue
        where = _at(what, f".transactions[{i}]")
        payment = _payment(tx, currency)
        if payment is not None:
            payments.append(payment)
        outcome = transaction_succeeded(tx.get("status"))
        if outcome is None:
            problem = problem or Text(
                "%(what)s has the status “%(status)s”, which says neither success nor failure: the money "
                "given back is unknown",
                what=where,
                status=plain(tx.get("status")),
            )
            continue
        if not outcome:
            continue  # pending or failed: no money has moved (yet)
        try:
            money += abs(read_amount(tx.get("amount"), _at(where, ".amount"), currency=currency))
        except Unreadable as exc:
            problem = problem or exc.text
    return (None if problem else money), problem, payments


def read_refund(refund: dict, *, label: str, goods_keys: Iterable[str], currency: str = "VND") -> Refund:
    """One refund: the units returned (each checked against the sale's lines), and apart from them the
    money given back in its successful refund transactions (Haravan may write their amounts negative).
    Goods may come back with no money (a restock) and money with no goods."""
    what = _of_order(label, Text("refund %(refund)s", refund=str(refund.get("id"))))
    lines = _returned_lines(refund, what, set(goods_keys))
    money, problem, payments = _money_returned(refund, what, currency)
    return Refund(
        key=plain(refund.get("id")),
        name=str(refund.get("id")),
        created_at=moment(refund.get("created_at")),
        lines=tuple(lines),
        money=money,
        payments=tuple(payments),
        note=plain(refund.get("note")),
        problem=problem,
    )


# --- the sale -----------------------------------------------------------------------------------------


def read_order(order: dict, options: ReadOptions | None = None, *, catalogue=None, profile=None) -> Sale:
    """The sale an order describes. ``catalogue`` ({variant id: item}) and ``profile`` (the customer as
    the shop's customer list knows them) fill in what Haravan order lines and buyers do not carry."""
    options = options or ReadOptions()
    catalogue = catalogue or {}
    label = order_label(order)
    currency = plain(order.get("currency")) or "VND"
    problems: list[Text] = []

    paid, paid_problem = None, None
    try:
        paid = read_amount(order.get("total_price"), "total_price", currency=currency, required=True)
    except Unreadable as exc:
        paid_problem = exc.text
        problems.append(_of_order(label, exc.text))

    goods = _each(
        order.get("line_items"),
        "line_items",
        lambda line, i, what: _sale_line(line, i, what, catalogue, currency),
        problems,
        label,
    )
    charges = _each(
        order.get("shipping_lines"),
        "shipping_lines",
        lambda c, i, w: _charge(c, i, w, currency),
        problems,
        label,
    )
    discounts = _each(
        order.get("discount_codes"),
        "discount_codes",
        lambda c, i, w: _discount(c, w, currency),
        problems,
        label,
    )

    goods_codes = sum((d.amount for d in discounts if d.applies_to == "goods"), ZERO)
    charge_codes = sum((d.amount for d in discounts if d.applies_to == "charges"), ZERO)
    goods_values = [line.list_value - line.line_discount for line in goods]
    charged = [c for c in charges if c.amount > 0]
    if not problems:
        if goods_codes > sum(goods_values, ZERO):
            problems.append(
                Text(
                    "Order %(label)s: its discount codes (%(codes)s) exceed the goods they apply to "
                    "(%(goods)s).",
                    label=label,
                    codes=amount_text(goods_codes, currency),
                    goods=amount_text(sum(goods_values, ZERO), currency),
                )
            )
        elif charge_codes > sum((c.amount for c in charged), ZERO):
            problems.append(
                Text(
                    "Order %(label)s: its shipping discounts (%(codes)s) exceed the shipping charged "
                    "(%(shipping)s).",
                    label=label,
                    codes=amount_text(charge_codes, currency),
                    shipping=amount_text(sum((c.amount for c in charged), ZERO), currency),
                )
            )
        else:
            # The checks above leave nothing to share when there is nothing to share it over.
            step = quantum(currency)
            shares = allocate(goods_codes, goods_values, step)
            goods = [replace(line, order_discount=share) for line, share in zip(goods, shares, strict=True)]
            shares = iter(allocate(charge_codes, [c.amount for c in charged], step))
            charges = [replace(c, discount=next(shares)) if c.amount > 0 else c for c in charges]

    tax, tax_problem = ZERO, None
    try:
        tax = read_amount(order.get("total_tax"), "total_tax", currency=currency)
    except Unreadable as exc:
        tax_problem = _of_order(label, exc.text)
    goods_keys = [line.key for line in goods]
    refunds = [
        read_refund(r, label=label, goods_keys=goods_keys, currency=currency)
        for r in _listed(order.get("refunds"))
        if isinstance(r, dict)
    ]
    transactions = order.get("transactions") if isinstance(order.get("transactions"), list) else []
    return Sale(
        source_id=plain(order.get("id")),
        label=label,
        currency=currency,
        prices_include_tax=order.get("taxes_included") is not False,
        status=SaleStatus(
            payment=plain(order.get("financial_status")),
            fulfillment=plain(order.get("fulfillment_status")),
            channel=plain(order.get("source_name") or order.get("source")),
            cancelled=bool(order.get("cancelled_at"))
            or status_key(order.get("cancelled_status")) == "cancelled",
        ),
        lines=tuple(goods),
        charges=tuple(charges),
        discounts=tuple(discounts),
        buyer=read_buyer(order, options, profile),
        totals=SourceTotals(
            lines=sum((line.list_value for line in goods), ZERO),
            line_discounts=sum((line.line_discount for line in goods), ZERO),
            order_discounts=goods_codes,
            charges=sum((c.amount for c in charged), ZERO),
            charge_discounts=charge_codes,
            tax=tax,
            paid=paid,
            tax_on_top=order.get("taxes_included") is False,
        ),
        routing={k: tuple(v) for k, v in routing_facts(order).items()},
        payments=tuple(p for p in (_payment(t, currency) for t in transactions if isinstance(t, dict)) if p),
        refunds=tuple(sorted(refunds, key=lambda r: r.sort_key)),
        created_at=moment(order.get("created_at")),
        updated_at=moment(order.get("updated_at")),
        cancelled_at=moment(order.get("cancelled_at")),
        cancel_reason=plain(order.get("cancel_reason")),
        problems=tuple(problems),
        paid_problem=paid_problem,
        tax_problem=tax_problem,
    )
