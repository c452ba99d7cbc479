"""Haravan order → meInvoice ``InvoiceData`` (publish API, SignType 2): pure functions, no DB, no HTTP.

The shop's totals are the truth. An order whose own numbers do not add up is refused
(``ConversionError``), and every invoice made here totals exactly what the buyer paid (or, for an
adjustment, exactly what was given back).

Conventions
-----------
- Money is whole đồng (``int``) throughout; a fractional đồng anywhere in the order is refused.
  Divisions use ``Decimal`` and round half up (away from zero for negatives); each line is rounded, then
  lines are summed — never the other way round.
- A product line's *gross* is ``price × quantity − its own discount − its share of the order's codes``.
  Order-level codes (``fixed_amount`` / ``percentage``; their ``amount`` is the VND taken) are shared
  across the product lines in proportion to each line's value after its own discount, by largest
  remainder (ties to the earlier line), so the shares add up exactly. ``shipping`` codes are shared the
  same way across the shipping lines only.
- Each shipping line with a price above 0 becomes its own invoice line (ItemType 1, ItemCode the
  carrier's code or ``SHIP``, quantity 1, the mapping's name and shipping rate); its discount codes
  show as its discount. Zero-priced shipping is left out.
- VAT-inclusive prices (the default, how Vietnamese shops price): ``AmountWithoutVAT =
  round(gross / (1 + r))`` and ``VATAmount = gross − AmountWithoutVAT``; ``Amount`` (before discount,
  before VAT) is ``round(price × quantity / (1 + r))`` and ``DiscountAmount = Amount − AmountWithoutVAT``
  (so the discount shown is pre-VAT). KCT, KKKNT and 0 % carry no VAT.
- VAT-exclusive prices (``prices_include_vat = False``): ``AmountWithoutVAT = gross`` and ``VATAmount =
  round(gross × r)``. The invoice then totals more than the lines, so it is only made when the shop's
  ``total_price`` already contains that VAT as ``total_tax`` (Σ lines − discounts + shipping + total_tax
  = total_price) *and* our per-line VAT equals ``total_tax`` to the đồng; otherwise ConversionError —
  the invoice would show a total the buyer never paid.
- ``UnitPrice`` is ``Amount / Quantity`` rounded half up to 4 decimals (``UnitPriceDecimalDigits`` 4);
  ``|Quantity × UnitPrice − Amount| < 1`` is checked. ``DiscountRate`` is ``DiscountAmount / Amount``
  in percent with 2 decimals, for information. Amounts are JSON integers; a unit price or rate with
  decimals is a JSON number that prints exactly as its 4- (2-) decimal value.
- Adjustments (returns, cancellations) are new invoices with ``ReferenceType`` 2 whose quantities and
  amounts are negative (the unit price stays positive, so ``Amount = Quantity × UnitPrice`` still
  holds). A reduction of value alone (money given back without goods, e.g. shipping) is a line with
  ``Quantity`` 0 and ``UnitPrice`` 0 whose ``Amount`` carries the (negative) value; it bears the code,
  name, unit and rate of the line whose value it reduces.
- Every invoice is checked by ``check_invoice`` before it is returned (a ConversionError, not an
  ``assert``, so it also holds under ``python -O``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .mapping import Mapping, vat_fraction
from .taxcode import tax_code_error
from .words import amount_in_words

# Never change: every RefID ever issued was derived from it (a new namespace would re-issue invoices).
REFID_NAMESPACE = uuid.UUID("6f1d0c1e-4b7a-5d0e-9a53-2c8e6a1f7b90")

SERIES_RE = re.compile(r"^[1256][CK]\d{2}[TM][A-Z0-9]{2}$")
SHIPPING_CODE = "SHIP"

OPTION_USER_DEFINED = {
    # MISA's own samples send these as strings.
    "MainCurrency": "VND",
    "AmountDecimalDigits": "0",
    "AmountOCDecimalDigits": "0",
    "UnitPriceOCDecimalDigits": "4",
    "UnitPriceDecimalDigits": "4",
    "QuantityDecimalDigits": "2",
    "CoefficientDecimalDigits": "2",
    "ExchangRateDecimalDigits": "0",  # sic: MISA's spelling
}

_ONE = Decimal(1)
_UNIT_PRICE_STEP = Decimal("0.0001")
_RATE_STEP = Decimal("0.01")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_AMOUNT_FIELDS = ("Amount", "DiscountAmount", "AmountWithoutVAT", "VATAmount")


class ConversionError(ValueError):
    """The order cannot become a correct invoice; ``reason`` says why (permanent: a person must look)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class InvalidBuyer(ConversionError):
    """The buyer asked for a company invoice with details meInvoice would refuse (or that are wrong)."""


class NothingToAdjust(ConversionError):
    """The refund gives no money back (an exchange, a free gift returned): no adjustment invoice is due.
    The caller may record the refund as done without issuing anything."""


@dataclass(frozen=True)
class Buyer:
    code: str = ""  # BuyerCode: the Haravan customer id
    legal_name: str = ""  # BuyerLegalName: the company (empty for a retail buyer)
    tax_code: str = ""  # BuyerTaxCode: a valid MST, or empty
    address: str = ""  # BuyerAddress
    full_name: str = ""  # BuyerFullName: the person buying
    phone: str = ""  # BuyerPhoneNumber
    email: str = ""  # BuyerEmail (and ReceiverEmail)

    @property
    def is_company(self) -> bool:
        return bool(self.tax_code)


# --- small readers ----------------------------------------------------------------------------------

# No amount or quantity has more digits than this (a quadrillion đồng): "1e100000000" is refused unexpanded.
MAX_DIGITS = 15


def _round(value: Decimal) -> int:
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP))


def _vnd(value: Any, what: str, *, required: bool = False) -> int:
    """Whole đồng from a Haravan JSON number or numeric string."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ConversionError(f"{what} is missing")
        return 0
    if isinstance(value, bool):
        raise ConversionError(f"{what}: {value!r} is not an amount")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ConversionError(f"{what}: {value!r} is not an amount") from exc
    if not number.is_finite() or number.adjusted() > MAX_DIGITS:
        raise ConversionError(f"{what}: {value!r} is not an amount")
    if number != number.to_integral_value():
        raise ConversionError(f"{what}: {value} is not a whole number of đồng")
    return int(number)


def _quantity(value: Any, what: str) -> int:
    if isinstance(value, bool) or value is None:
        raise ConversionError(f"{what}: {value!r} is not a quantity")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ConversionError(f"{what}: {value!r} is not a quantity") from exc
    if (
        not number.is_finite()
        or number.adjusted() > MAX_DIGITS
        or number != number.to_integral_value()
        or number < 0
    ):
        raise ConversionError(f"{what}: {value!r} is not a whole, non-negative quantity")
    return int(number)


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value not in (None, "") else ""


def _fold(value: Any) -> str:
    """For comparing names: NFC (Vietnamese may arrive decomposed), case-folded, spaces collapsed."""
    return unicodedata.normalize("NFC", _text(value)).casefold()


def _vnd_text(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " đồng"


def _json_number(value: Decimal) -> int | float:
    """An int when whole, else a float that prints exactly as ``value`` (checked)."""
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) != value.normalize():
        raise ConversionError(f"{value} cannot be sent exactly as a JSON number")
    return as_float


def _order_label(order: dict) -> str:
    return str(order.get("name") or order.get("order_number") or order.get("id") or "?")


def _allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder, ties to the earlier index)."""
    whole = sum(weights)
    if total == 0:
        return [0] * len(weights)
    if whole <= 0:
        raise ConversionError(f"cannot share {_vnd_text(total)} over lines worth nothing")
    shares, remainders = [], []
    for i, weight in enumerate(weights):
        share, remainder = divmod(total * weight, whole)
        shares.append(share)
        remainders.append((-remainder, i))
    for _, i in sorted(remainders)[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _date_text(value: Any, what: str) -> str:
    """``yyyy-MM-dd`` from a date, a datetime or an ISO text."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = _text(value)
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError as exc:
        raise ConversionError(f"{what}: {value!r} is not a date") from exc


# --- RefID ------------------------------------------------------------------------------------------


def ref_id_for(account_tax_code: str, order_id, kind: str) -> str:
    """The RefID (meInvoice's duplicate key) of one document: the same (account, order, kind) always
    gives the same UUID. Kinds used: ``"invoice"``, ``"refund:<refund id>"``, ``"cancel"``."""
    account = _text(account_tax_code)
    order = _text(order_id)
    kind = _text(kind)
    if not account or not order or not kind:
        raise ValueError("ref_id_for needs an account tax code, an order id and a kind")
    return str(uuid.uuid5(REFID_NAMESPACE, f"meinvoice|{account}|{order}|{kind}"))


# --- which orders get an invoice --------------------------------------------------------------------


def _status_key(value: Any) -> str:
    return _text(value).lower().replace("_", "")


def check_issuance(order: dict, mapping: Mapping) -> tuple[bool, str]:
    """(issue?, why): which condition failed, or why the order qualifies.

    ``paid`` and ``created`` triggers evaluate the same conditions (the caller decides which events may
    issue); ``fulfilled`` additionally needs fulfillment_status fulfilled. Cancelled orders never qualify.
    """
    cond = mapping.conditions
    label = _order_label(order)
    if order.get("cancelled_at") or _status_key(order.get("cancelled_status")) == "cancelled":
        return False, f"Order {label} is cancelled."
    financial = _text(order.get("financial_status")) or "pending"
    if cond.financial_statuses and _status_key(financial) not in {
        _status_key(s) for s in cond.financial_statuses
    }:
        wanted = ", ".join(cond.financial_statuses)
        return False, f"Order {label} is {financial}; invoices are issued when it is {wanted}."
    fulfillment = _text(order.get("fulfillment_status")).lower() or "notfulfilled"
    if cond.fulfillment_statuses and fulfillment not in cond.fulfillment_statuses:
        wanted = ", ".join(cond.fulfillment_statuses)
        return False, f"Order {label} is {fulfillment}; invoices are issued when it is {wanted}."
    if cond.trigger == "fulfilled" and fulfillment != "fulfilled":
        return False, f"Order {label} is {fulfillment}; invoices are issued once it is fulfilled."
    source = _text(order.get("source_name") or order.get("source"))
    if cond.sources and _fold(source) not in {_fold(s) for s in cond.sources}:
        return False, f"Order {label} comes from {source or 'no source'}, not from {', '.join(cond.sources)}."
    try:
        total = _vnd(order.get("total_price"), "total_price", required=True)
    except ConversionError as exc:
        return False, f"Order {label}: {exc.reason}."
    if total < cond.min_total:
        return False, (
            f"Order {label} totals {_vnd_text(total)}, below the minimum of "
            f"{_vnd_text(_round(cond.min_total))}."
        )
    return True, (
        f"Order {label} qualifies: {financial}, {fulfillment}, source {source or '-'}, "
        f"total {_vnd_text(total)} (trigger: {cond.trigger})."
    )


# --- the buyer --------------------------------------------------------------------------------------


def _attributes(order: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in order.get("note_attributes") or []:
        if isinstance(item, dict) and item.get("name") is not None:
            out.setdefault(_fold(item["name"]), _text(item.get("value")))
    return out


def _address_line(address: dict | None) -> str:
    if not isinstance(address, dict):
        return ""
    parts = [_text(address.get(k)) for k in ("address1", "address2", "ward", "district", "province")]
    return ", ".join(p for p in parts if p)


def _person_name(order: dict) -> str:
    for key in ("billing_address", "shipping_address"):
        address = order.get(key)
        if isinstance(address, dict):
            name = _text(address.get("name"))
            if not name:
                name = _text(f"{address.get('last_name') or ''} {address.get('first_name') or ''}")
            if name:
                return name
    customer = order.get("customer")
    if isinstance(customer, dict):
        return _text(f"{customer.get('last_name') or ''} {customer.get('first_name') or ''}")
    return ""


def buyer_of(order: dict, mapping: Mapping) -> Buyer:
    """Who the invoice is made out to. A tax code in the note attributes makes a company invoice and must
    be a valid MST with a legal name and an address; without one the buyer is a retail buyer."""
    fields = mapping.buyer
    attrs = _attributes(order)
    billing = order.get("billing_address") if isinstance(order.get("billing_address"), dict) else {}
    shipping = order.get("shipping_address") if isinstance(order.get("shipping_address"), dict) else {}
    customer = order.get("customer") if isinstance(order.get("customer"), dict) else {}
    label = _order_label(order)

    raw_code = attrs.get(_fold(fields.tax_code), "")
    tax_code = "".join(raw_code.split())
    legal_name = attrs.get(_fold(fields.legal_name), "")
    address = attrs.get(_fold(fields.address), "")
    vat_email = attrs.get(_fold(fields.email), "")

    if vat_email and not _EMAIL.match(vat_email):
        raise InvalidBuyer(
            f"Order {label}: the invoice e-mail “{vat_email}” ({fields.email}) is not an address."
        )
    email = vat_email
    if not email:
        for candidate in (order.get("email"), order.get("contact_email"), customer.get("email")):
            candidate = _text(candidate)
            if candidate and _EMAIL.match(candidate):
                email = candidate
                break
    phone = next(
        (
            p
            for p in (_text(billing.get("phone")), _text(shipping.get("phone")), _text(customer.get("phone")))
            if p
        ),
        "",
    )
    code = _text(customer.get("id"))
    full_name = _person_name(order)

    if not tax_code:
        if legal_name:
            raise InvalidBuyer(
                f"Order {label}: the buyer asks for an invoice to “{legal_name}” ({fields.legal_name}) "
                f"but gives no tax code ({fields.tax_code}); add the tax code or remove the company name."
            )
        return Buyer(
            code=code,
            full_name=full_name,
            address=_address_line(billing) or _address_line(shipping),
            phone=phone,
            email=email,
        )

    if re.fullmatch(r"\d{12}", tax_code):
        raise InvalidBuyer(
            f"Order {label}: “{tax_code}” ({fields.tax_code}) has 12 digits: that is a personal citizen ID "
            f"(CCCD), not an enterprise tax code, and is not put in BuyerTaxCode. Ask the buyer for their "
            f"MST (10 digits, or 10-3 for a branch), or invoice them as a retail buyer."
        )
    error = tax_code_error(tax_code)
    if error:
        raise InvalidBuyer(f"Order {label}: the buyer's tax code ({fields.tax_code}): {error}")
    if not legal_name and fields.use_billing_company:
        legal_name = _text(billing.get("company"))
        if legal_name and not address:
            address = _address_line(billing)  # the billing address of that company
    missing = [
        what
        for what, value in (
            (f"the company name ({fields.legal_name})", legal_name),
            (f"the company address ({fields.address})", address),
        )
        if not value
    ]
    if missing:
        raise InvalidBuyer(
            f"Order {label}: tax code {tax_code} is given without {' and '.join(missing)}; "
            f"meInvoice requires both with a tax code."
        )
    return Buyer(
        code=code,
        legal_name=legal_name,
        tax_code=tax_code,
        address=address,
        full_name=full_name,
        phone=phone,
        email=email,
    )


# --- VAT rate of a line -----------------------------------------------------------------------------


def _line_values(line: dict, match: str) -> list[str]:
    if match == "product_type":
        return [_text(line.get("type") or line.get("product_type"))]
    if match == "vendor":
        return [_text(line.get("vendor"))]
    if match == "sku":
        return [_text(line.get("sku"))]
    tags = line.get("tags") or line.get("product_tags") or []
    if isinstance(tags, str):
        tags = tags.split(",")
    return [_text(t) for t in tags]


def vat_rate_for_line(line: dict, mapping: Mapping) -> str:
    """The first tax rule (in list order) that matches the line, else the default rate.

    Matching ignores case, spacing and Unicode form. ``tag`` rules read ``line["tags"]`` (a list or a
    comma-separated text): Haravan line items carry no product tags, so the caller must copy the
    product's tags onto the line for such rules to match.
    """
    for rule in mapping.tax_rules:
        wanted = _fold(rule.value)
        if any(_fold(v) == wanted for v in _line_values(line, rule.match) if v):
            return rule.rate
    return mapping.default_vat_rate


# --- from the order to priced parts -----------------------------------------------------------------


@dataclass
class _Part:
    """One future invoice line, in the shop's money (VAT-inclusive or not, per the mapping)."""

    kind: str  # "goods" | "shipping"
    key: str  # line item id, or "shipping:<index>"
    code: str
    name: str
    unit: str
    rate: str
    quantity: int
    list_value: int  # price × quantity
    own_discount: int  # the line's own discount (goods) — 0 for shipping
    shared_discount: int = 0  # its share of the order's codes
    payable: int = 0  # what the buyer pays for it, VAT included (filled by _parts)

    @property
    def gross(self) -> int:
        return self.list_value - self.own_discount - self.shared_discount


def _line_discount(line: dict, what: str) -> int:
    applied = line.get("applied_discounts")
    applied_total = None
    if isinstance(applied, list) and applied:
        applied_total = sum(
            _vnd((a or {}).get("amount"), f"{what}.applied_discounts[{i}].amount")
            for i, a in enumerate(applied)
        )
    total = line.get("total_discount")
    if total is not None and not (isinstance(total, str) and not total.strip()):
        total_discount = _vnd(total, f"{what}.total_discount")
        if applied_total is not None and applied_total != total_discount and total_discount != 0:
            raise ConversionError(
                f"{what}: total_discount {_vnd_text(total_discount)} disagrees with its applied_discounts "
                f"({_vnd_text(applied_total)})"
            )
        if total_discount:
            return total_discount
    return applied_total or 0


def _item_name(line: dict) -> str:
    title = _text(line.get("title"))
    variant = _text(line.get("variant_title"))
    if title and variant and variant.casefold() != "default title":
        return f"{title} - {variant}"
    return title or _text(line.get("name")) or _text(line.get("sku")) or "Hàng hóa"


def _unit_for(line: dict, mapping: Mapping) -> str:
    if _text(line.get("unit")):  # the product's own unit, from the shop's catalogue
        return _text(line.get("unit"))
    product_type = _fold(line.get("type") or line.get("product_type"))
    if product_type:
        for name, unit in mapping.unit_by_type.items():
            if _fold(name) == product_type:
                return unit
    return mapping.default_unit


def _payable(gross: int, rate: str, include_vat: bool) -> int:
    return gross if include_vat else gross + _round(gross * vat_fraction(rate))


@dataclass
class _Parts:
    parts: list[_Part]
    total_price: int


def _parts(order: dict, mapping: Mapping) -> _Parts:
    """The order's lines, codes shared out, checked against the order's own total."""
    label = _order_label(order)
    currency = _text(order.get("currency")) or "VND"
    if currency.upper() != "VND":
        raise ConversionError(f"Order {label} is in {currency}; only VND orders are invoiced.")
    total_price = _vnd(order.get("total_price"), f"order {label}: total_price", required=True)

    goods: list[_Part] = []
    for i, line in enumerate(order.get("line_items") or []):
        what = f"order {label}: line_items[{i}]"
        if not isinstance(line, dict):
            raise ConversionError(f"{what} is not an object")
        quantity = _quantity(line.get("quantity"), f"{what}.quantity")
        price = _vnd(line.get("price"), f"{what}.price", required=True)
        if price < 0:
            raise ConversionError(f"{what}.price is negative")
        discount = _line_discount(line, what)
        if discount < 0 or discount > price * quantity:
            raise ConversionError(
                f"{what}: its discount {_vnd_text(discount)} is not between 0 and its value "
                f"{_vnd_text(price * quantity)}"
            )
        if quantity == 0:
            continue
        code = _text(line.get("sku")) or _text(line.get("variant_id"))
        goods.append(
            _Part(
                kind="goods",
                key=_text(line.get("id")) or f"line:{i}",
                code=code,
                name=_item_name(line),
                unit=_unit_for(line, mapping),
                rate=vat_rate_for_line(line, mapping),
                quantity=quantity,
                list_value=price * quantity,
                own_discount=discount,
            )
        )

    shipping: list[_Part] = []
    for i, line in enumerate(order.get("shipping_lines") or []):
        what = f"order {label}: shipping_lines[{i}]"
        if not isinstance(line, dict):
            raise ConversionError(f"{what} is not an object")
        price = _vnd(line.get("price"), f"{what}.price")
        if price < 0:
            raise ConversionError(f"{what}.price is negative")
        if price == 0:
            continue
        shipping.append(
            _Part(
                kind="shipping",
                key=f"shipping:{i}",
                code=_text(line.get("code")) or SHIPPING_CODE,
                name=mapping.shipping_item_name,
                unit=mapping.shipping_unit,
                rate=mapping.shipping_rate,
                quantity=1,
                list_value=price,
                own_discount=0,
            )
        )

    goods_codes = shipping_codes = 0
    for i, code in enumerate(order.get("discount_codes") or []):
        what = f"order {label}: discount_codes[{i}]"
        if not isinstance(code, dict):
            raise ConversionError(f"{what} is not an object")
        kind = _text(code.get("type")).lower() or "fixed_amount"
        if kind not in ("fixed_amount", "percentage", "shipping"):
            raise ConversionError(f"{what}: unknown discount type {kind!r}")
        amount = _vnd(code.get("amount"), f"{what}.amount")
        if amount < 0:
            raise ConversionError(f"{what}.amount is negative")
        if kind == "shipping":
            shipping_codes += amount
        else:
            goods_codes += amount

    goods_after_own = [p.list_value - p.own_discount for p in goods]
    if goods_codes > sum(goods_after_own):
        raise ConversionError(
            f"Order {label}: its discount codes ({_vnd_text(goods_codes)}) exceed the goods they apply to "
            f"({_vnd_text(sum(goods_after_own))})."
        )
    for part, share in zip(goods, _allocate(goods_codes, goods_after_own), strict=True):
        part.shared_discount = share
    shipping_total = sum(p.list_value for p in shipping)
    if shipping_codes > shipping_total:
        raise ConversionError(
            f"Order {label}: its shipping discounts ({_vnd_text(shipping_codes)}) exceed the shipping "
            f"charged ({_vnd_text(shipping_total)})."
        )
    for part, share in zip(
        shipping, _allocate(shipping_codes, [p.list_value for p in shipping]), strict=True
    ):
        part.shared_discount = share

    parts = goods + shipping
    if not parts:
        raise ConversionError(f"Order {label} has nothing to invoice: no line items and no shipping.")

    # The order's own arithmetic first: never invoice a total the buyer did not pay.
    line_total = sum(p.list_value for p in goods)
    line_discounts = sum(p.own_discount for p in goods)
    tax = 0 if mapping.prices_include_vat else _vnd(order.get("total_tax"), f"order {label}: total_tax")
    computed = line_total - line_discounts - goods_codes + shipping_total - shipping_codes + tax
    if computed != total_price:
        hint = ""
        if (
            mapping.prices_include_vat
            and _vnd(order.get("total_tax"), "total_tax")
            and order.get("taxes_included") is False
        ):
            hint = " (the order adds total_tax on top of its prices: should prices_include_vat be off?)"
        raise ConversionError(
            f"Order {label}: its totals do not add up — lines {_vnd_text(line_total)} − line discounts "
            f"{_vnd_text(line_discounts)} − discount codes {_vnd_text(goods_codes)} + shipping "
            f"{_vnd_text(shipping_total)} − shipping discounts {_vnd_text(shipping_codes)}"
            + (f" + total_tax {_vnd_text(tax)}" if not mapping.prices_include_vat else "")
            + f" = {_vnd_text(computed)}, but total_price is {_vnd_text(total_price)}{hint}. "
            "Refusing to invoice a total the buyer did not pay."
        )
    for part in parts:
        part.payable = _payable(part.gross, part.rate, mapping.prices_include_vat)
    payable = sum(p.payable for p in parts)
    if payable != total_price:  # only possible with VAT-exclusive prices
        raise ConversionError(
            f"Order {label}: the VAT computed per line ({_vnd_text(payable - (computed - tax))}) differs "
            "from "
            f"the order's total_tax ({_vnd_text(tax)}); the invoice would total {_vnd_text(payable)} while "
            f"the buyer paid {_vnd_text(total_price)}."
        )
    return _Parts(parts=parts, total_price=total_price)


# --- presenting lines -------------------------------------------------------------------------------


@dataclass
class _Figures:
    quantity: int
    unit_price: Decimal
    amount: int
    discount: int
    net: int
    vat: int

    def negated(self) -> _Figures:
        return _Figures(-self.quantity, self.unit_price, -self.amount, -self.discount, -self.net, -self.vat)


def _figures(list_value: int, payable: int, quantity: int, rate: str, include_vat: bool) -> _Figures:
    """Quantity, pre-VAT unit price, Amount, DiscountAmount, AmountWithoutVAT and VATAmount of a line
    that lists ``list_value`` (shop money) and costs the buyer ``payable`` (VAT included)."""
    r = vat_fraction(rate)
    net = _round(Decimal(payable) / (1 + r))
    vat = payable - net
    amount = _round(Decimal(list_value) / (1 + r)) if include_vat else list_value
    if amount < net:  # a rounding artefact only (the payable never exceeds the listed value)
        amount = net
    unit_price = (
        (Decimal(amount) / quantity).quantize(_UNIT_PRICE_STEP, ROUND_HALF_UP) if quantity else Decimal(0)
    )
    if quantity and abs(quantity * unit_price - amount) >= 1:
        raise ConversionError(
            f"a quantity of {quantity} is too large to state a 4-decimal unit price within 1 đồng of {amount}"
        )
    return _Figures(quantity, unit_price, amount, amount - net, net, vat)


def _value_only(payable: int, rate: str) -> _Figures:
    """A reduction of value without goods: Quantity 0, UnitPrice 0, the value in Amount."""
    r = vat_fraction(rate)
    net = _round(Decimal(payable) / (1 + r))
    return _Figures(0, Decimal(0), net, 0, net, payable - net)


def _detail(
    number: int, *, code: str, name: str, unit: str, rate: str, f: _Figures, item_type: int = 1
) -> dict:
    rate_pct = (
        (Decimal(f.discount) * 100 / Decimal(f.amount)).quantize(_RATE_STEP, ROUND_HALF_UP)
        if f.amount
        else Decimal(0)
    )
    return {
        "ItemType": item_type,
        "SortOrder": number,
        "LineNumber": number,
        "ItemCode": code,
        "ItemName": name,
        "UnitName": unit,
        "Quantity": f.quantity,
        "UnitPrice": _json_number(f.unit_price),
        "AmountOC": f.amount,
        "Amount": f.amount,
        "DiscountRate": _json_number(rate_pct),
        "DiscountAmountOC": f.discount,
        "DiscountAmount": f.discount,
        "AmountWithoutVATOC": f.net,
        "AmountWithoutVAT": f.net,
        "VATRateName": rate,
        "VATAmountOC": f.vat,
        "VATAmount": f.vat,
    }


def _renumber(details: list[dict]) -> list[dict]:
    for number, detail in enumerate(details, start=1):
        detail["SortOrder"] = detail["LineNumber"] = number
    return details


def _tax_rate_info(details: Iterable[dict]) -> list[dict]:
    by_rate: dict[str, list[int]] = {}
    for d in details:
        if d.get("VATRateName") is None:
            continue
        sums = by_rate.setdefault(d["VATRateName"], [0, 0])
        sums[0] += d["AmountWithoutVATOC"]
        sums[1] += d["VATAmountOC"]
    return [
        {"VATRateName": rate, "AmountWithoutVATOC": s[0], "VATAmountOC": s[1]} for rate, s in by_rate.items()
    ]


def _totals(details: list[dict]) -> dict:
    """Header totals from the lines (every line made here is ItemType 1, so MISA's ItemType-3 terms are 0)."""
    sale = sum(d["Amount"] for d in details)
    discount = sum(d["DiscountAmount"] for d in details)
    without_vat = sum(d["AmountWithoutVAT"] for d in details)
    vat = sum(d["VATAmount"] for d in details)
    total = without_vat + vat
    return {
        "TotalSaleAmountOC": sale,
        "TotalSaleAmount": sale,
        "TotalDiscountAmountOC": discount,
        "TotalDiscountAmount": discount,
        "TotalAmountWithoutVATOC": without_vat,
        "TotalAmountWithoutVAT": without_vat,
        "TotalVATAmountOC": vat,
        "TotalVATAmount": vat,
        "TotalAmountOC": total,
        "TotalAmount": total,
        "TotalAmountInWords": amount_in_words(total),
    }


def check_invoice(invoice: dict, expected_total: int | None = None) -> None:
    """Raise ConversionError unless the invoice's arithmetic holds (totals, per-rate sums, whole đồng,
    each ``…OC`` equal to its twin); with ``expected_total``, unless it totals exactly that."""
    details = invoice.get("OriginalInvoiceDetail") or []
    problems = []
    for d in details:
        if d.get("ItemType") != 1:
            problems.append(f"line {d.get('LineNumber')}: ItemType {d.get('ItemType')!r} is not 1")
            continue
        for name in _AMOUNT_FIELDS:
            if type(d.get(name)) is not int or d.get(name + "OC") != d.get(name):
                problems.append(f"line {d.get('LineNumber')}: {name} is not a whole amount equal to {name}OC")
        if d.get("AmountWithoutVAT") != d.get("Amount", 0) - d.get("DiscountAmount", 0):
            problems.append(f"line {d.get('LineNumber')}: AmountWithoutVAT ≠ Amount − DiscountAmount")
        quantity, unit_price = Decimal(str(d.get("Quantity", 0))), Decimal(str(d.get("UnitPrice", 0)))
        if quantity and abs(quantity * unit_price - d["Amount"]) >= 1:
            problems.append(f"line {d.get('LineNumber')}: Quantity × UnitPrice is not Amount")
    expected = _totals(details)
    for name, value in expected.items():
        if invoice.get(name) != value:
            problems.append(f"{name} is {invoice.get(name)!r}, the lines say {value!r}")
    if invoice.get("TotalAmount") != (invoice.get("TotalAmountWithoutVAT") or 0) + (
        invoice.get("TotalVATAmount") or 0
    ):
        problems.append("TotalAmount ≠ TotalAmountWithoutVAT + TotalVATAmount")
    if sorted(map(_rate_row, invoice.get("TaxRateInfo") or [])) != sorted(
        map(_rate_row, _tax_rate_info(details))
    ):
        problems.append("TaxRateInfo differs from the per-rate sums of the lines")
    if expected_total is not None and invoice.get("TotalAmount") != expected_total:
        problems.append(f"TotalAmount {invoice.get('TotalAmount')!r} is not {expected_total}")
    if problems:
        raise ConversionError("The invoice does not add up: " + "; ".join(problems))


def _rate_row(row: dict) -> tuple:
    return (row.get("VATRateName"), row.get("AmountWithoutVATOC"), row.get("VATAmountOC"))


# --- the invoice ------------------------------------------------------------------------------------


def _check_document_ids(series: str, ref_id: str, what: str = "series") -> None:
    if not SERIES_RE.match(_text(series)):
        raise ConversionError(f"{what} {series!r} is not a meInvoice series (like 1C25TYY)")
    if not _text(ref_id):
        raise ConversionError("a RefID is required")


def _header(
    *, ref_id: str, series: str, inv_date, buyer: Buyer, mapping: Mapping, seller_shop_name: str
) -> dict:
    return {
        "RefID": ref_id,
        "InvSeries": series,
        "InvDate": _date_text(inv_date, "inv_date"),
        "CurrencyCode": "VND",
        "ExchangeRate": 1,
        "PaymentMethodName": mapping.payment_method_name,
        "IsInvoiceSummary": False,
        "IsSendEmail": bool(buyer.email),
        "ReceiverName": buyer.full_name or buyer.legal_name,
        "ReceiverEmail": buyer.email,
        "SellerShopName": seller_shop_name,
        "BuyerCode": buyer.code,
        "BuyerLegalName": buyer.legal_name,
        "BuyerTaxCode": buyer.tax_code,
        "BuyerAddress": buyer.address,
        "BuyerFullName": buyer.full_name,
        "BuyerPhoneNumber": buyer.phone,
        "BuyerEmail": buyer.email,
    }


def _assemble(header: dict, details: list[dict], expected_total: int) -> dict:
    invoice = dict(header)
    invoice.update(_totals(details))
    invoice["OriginalInvoiceDetail"] = details
    invoice["TaxRateInfo"] = _tax_rate_info(details)
    invoice["OptionUserDefined"] = dict(OPTION_USER_DEFINED)
    check_invoice(invoice, expected_total)
    return invoice


def _original_details(parts: list[_Part], include_vat: bool) -> list[dict]:
    return [
        _detail(
            n,
            code=p.code,
            name=p.name,
            unit=p.unit,
            rate=p.rate,
            f=_figures(p.list_value, p.payable, p.quantity, p.rate, include_vat),
        )
        for n, p in enumerate(parts, start=1)
    ]


def order_to_invoice(
    order: dict,
    mapping: Mapping,
    *,
    tax_code: str,
    series: str,
    ref_id: str,
    inv_date: dt.date,
    seller_shop_name: str = "",
) -> dict:
    """The InvoiceData of one order (for ``POST /invoice``, SignType 2). Its TotalAmount is the order's
    total_price to the đồng, or ConversionError / InvalidBuyer says why no correct invoice can be made.
    ``tax_code`` is the seller's MST (the account), checked but not part of the payload."""
    _check_seller(tax_code)
    _check_document_ids(series, ref_id)
    buyer = buyer_of(order, mapping)
    built = _parts(order, mapping)
    details = _original_details(built.parts, mapping.prices_include_vat)
    header = _header(
        ref_id=ref_id,
        series=series,
        inv_date=inv_date,
        buyer=buyer,
        mapping=mapping,
        seller_shop_name=seller_shop_name,
    )
    return _assemble(header, details, built.total_price)


def _check_seller(tax_code: str) -> None:
    error = tax_code_error(tax_code)
    if error:
        raise ConversionError(f"The seller's tax code (the meInvoice account): {error}")


# --- adjustments ------------------------------------------------------------------------------------


def _reference(original: dict, note: str, *, reference_type: int = 2) -> dict:
    """The fields that make an invoice an adjustment (2) or a replacement (1) of ``original``."""
    series = _text(original.get("InvSeries"))
    if not SERIES_RE.match(series):
        raise ConversionError(f"the original invoice's series {series!r} is not a meInvoice series")
    number = _text(original.get("InvNo"))
    if not number:
        raise ConversionError("the original invoice has no number (InvNo): was it published?")
    return {
        "ReferenceType": reference_type,
        "OrgInvoiceType": 1,
        "OrgInvTemplateNo": series[0],
        "OrgInvSeries": series[-6:],
        "OrgInvNo": number,
        "OrgInvDate": _date_text(original.get("InvDate"), "the original invoice's InvDate"),
        "InvoiceNote": note,
    }


def _original_words(original: dict) -> str:
    date = _date_text(original.get("InvDate"), "the original invoice's InvDate")
    day = dt.date.fromisoformat(date).strftime("%d/%m/%Y")
    return (
        f"hóa đơn số {_text(original.get('InvNo'))}, ký hiệu {_text(original.get('InvSeries'))}, ngày {day}"
    )


def _buyer_from_invoice(invoice: dict) -> Buyer:
    return Buyer(
        code=_text(invoice.get("BuyerCode")),
        legal_name=_text(invoice.get("BuyerLegalName")),
        tax_code=_text(invoice.get("BuyerTaxCode")),
        address=_text(invoice.get("BuyerAddress")),
        full_name=_text(invoice.get("BuyerFullName")),
        phone=_text(invoice.get("BuyerPhoneNumber")),
        email=_text(invoice.get("BuyerEmail")),
    )


def _line_signature(details: Iterable[dict]) -> list[tuple]:
    return [
        (d.get("VATRateName"), d.get("Quantity"), d.get("AmountWithoutVAT"), d.get("VATAmount"))
        for d in details
        if d.get("ItemType") == 1
    ]


def _check_same_original(order: dict, recomputed: list[dict], original_invoice: dict) -> None:
    issued = original_invoice.get("OriginalInvoiceDetail") or []
    if _line_signature(recomputed) != _line_signature(issued):
        raise ConversionError(
            f"Order {_order_label(order)} no longer converts to the invoice that was issued (its lines, "
            "prices or the VAT mapping changed since): adjust this one by hand."
        )


@dataclass
class _RefundState:
    quantity: dict[str, int] = field(default_factory=dict)  # units returned so far, per part key
    paid_back: dict[str, int] = field(default_factory=dict)  # payable given back so far, per part key


@dataclass
class _RefundPlan:
    returned: list[tuple[_Part, int, int]]  # (part, units, payable given back)
    value_only: list[tuple[_Part, int]]  # (part, payable given back without goods)
    total: int


def _refund_money(refund: dict, what: str) -> int | None:
    """Σ of the refund's successful refund transactions (Haravan may sign them negative), or None
    when the refund lists no transactions."""
    transactions = refund.get("transactions")
    if not transactions:
        return None
    total = 0
    for i, tx in enumerate(transactions):
        if not isinstance(tx, dict) or _text(tx.get("kind")).lower() != "refund":
            continue
        if _text(tx.get("status")).lower() in ("failure", "error"):
            continue
        total += abs(_vnd(tx.get("amount"), f"{what}.transactions[{i}].amount"))
    return total


def _plan_refund(refund: dict, parts: list[_Part], state: _RefundState, label: str) -> _RefundPlan:
    what = f"order {label}: refund {refund.get('id')}"
    goods = {p.key: p for p in parts if p.kind == "goods"}
    returned: list[list] = []
    for i, item in enumerate(refund.get("refund_line_items") or []):
        if not isinstance(item, dict):
            raise ConversionError(f"{what}.refund_line_items[{i}] is not an object")
        line_id = item.get("line_item_id")
        if line_id is None and isinstance(item.get("line_item"), dict):
            line_id = item["line_item"].get("id")
        part = goods.get(_text(line_id))
        if part is None:
            raise ConversionError(f"{what} returns line item {line_id}, which is not on the order")
        units = _quantity(item.get("quantity"), f"{what}.refund_line_items[{i}].quantity")
        if not units:
            continue
        done = state.quantity.get(part.key, 0) + sum(u for p, u, _ in returned if p is part)
        if done + units > part.quantity:
            raise ConversionError(
                f"{what} returns {units} × “{part.name}”, but only {part.quantity - done} of {part.quantity} "
                "are left to return"
            )
        given = state.paid_back.get(part.key, 0) + sum(v for p, _, v in returned if p is part)
        left = part.payable - given
        if done + units == part.quantity:
            value = left  # the last units take what is left, so returns add up to the line exactly
        else:
            value = _round(Decimal(part.payable) * units / part.quantity)
        value = max(0, min(value, left))
        returned.append([part, units, value])

    lines_value = sum(v for _, _, v in returned)
    money = _refund_money(refund, what)
    if money is None:
        money = lines_value
    if money < lines_value:
        # The money given back is the truth: the returned lines share it.
        for row, share in zip(returned, _allocate(money, [v for _, _, v in returned]), strict=True):
            row[2] = share
        lines_value = money

    extra = money - lines_value
    value_only: list[tuple[_Part, int]] = []
    if extra:
        # Money beyond the returned goods: first the shipping charged, then the value of what remains.
        for part in (p for p in parts if p.kind == "shipping"):
            room = part.payable - state.paid_back.get(part.key, 0)
            take = min(room, extra)
            if take > 0:
                value_only.append((part, take))
                extra -= take
    if extra:
        candidates = [p for p in parts if p.kind == "goods"]
        rooms = [
            p.payable - state.paid_back.get(p.key, 0) - sum(v for q, _, v in returned if q is p)
            for p in candidates
        ]
        if extra > sum(rooms):
            raise ConversionError(
                f"{what} gives back {_vnd_text(money)}, more than remains invoiced on the order"
            )
        for part, share in zip(candidates, _allocate(extra, rooms), strict=True):
            if share:
                value_only.append((part, share))

    for part, units, value in returned:
        state.quantity[part.key] = state.quantity.get(part.key, 0) + units
        state.paid_back[part.key] = state.paid_back.get(part.key, 0) + value
    for part, value in value_only:
        state.paid_back[part.key] = state.paid_back.get(part.key, 0) + value
    return _RefundPlan([(p, u, v) for p, u, v in returned], value_only, money)


def _when(obj: dict) -> tuple:
    raw = _text(obj.get("created_at"))
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
    except ValueError:
        moment = dt.datetime.min.replace(tzinfo=dt.UTC)
    identifier = _text(obj.get("id"))
    return (moment, int(identifier) if identifier.isdigit() else 0, identifier)


def adjustment_for_refund(
    order: dict,
    refund: dict,
    mapping: Mapping,
    *,
    tax_code: str,
    series: str,
    ref_id: str,
    inv_date: dt.date,
    original: dict,
    original_invoice: dict | None = None,
) -> dict:
    """An adjustment-down invoice (ReferenceType 2) for one Haravan refund of an invoiced order.

    Returned units become negative lines valued pro rata of what the buyer paid for the line (the last
    units returned take exactly what is left of it). Money given back beyond the returned goods becomes
    value-only lines: first against the shipping charged, then shared over the goods still invoiced
    (one value-only line per line). When less money is given back than the returned units are worth,
    the money given back is what is adjusted, shared over the returned lines. Earlier refunds of the
    order (``order["refunds"]``, by created_at) are replayed first, so repeated partial returns add up to
    the original invoice exactly. The adjustment totals minus the money given back.

    ``original``: {"InvSeries", "InvNo", "InvDate", "TransactionID"} of the issued invoice. With
    ``original_invoice`` (the InvoiceData that was issued), the order must still convert to the same
    lines, and its buyer is used as it was issued.
    """
    _check_seller(tax_code)
    _check_document_ids(series, ref_id)
    label = _order_label(order)
    built = _parts(order, mapping)
    if original_invoice is not None:
        _check_same_original(
            order, _original_details(built.parts, mapping.prices_include_vat), original_invoice
        )
        buyer = _buyer_from_invoice(original_invoice)
    else:
        buyer = buyer_of(order, mapping)

    target_key = _when(refund)
    target_id = _text(refund.get("id"))
    earlier = [
        r
        for r in (order.get("refunds") or [])
        if isinstance(r, dict)
        and (not target_id or _text(r.get("id")) != target_id)
        and _when(r) < target_key
    ]
    state = _RefundState()
    for previous in sorted(earlier, key=_when):
        _plan_refund(previous, built.parts, state, label)
    plan = _plan_refund(refund, built.parts, state, label)
    if plan.total == 0:
        raise NothingToAdjust(
            f"Order {label}: refund {refund.get('id')} gives back no money: there is nothing to adjust."
        )

    include_vat = mapping.prices_include_vat
    details: list[dict] = []
    for part, units, value in plan.returned:
        list_value = part.list_value * units // part.quantity  # price × units: exact
        figures = _figures(list_value, value, units, part.rate, include_vat)
        details.append(
            _detail(0, code=part.code, name=part.name, unit=part.unit, rate=part.rate, f=figures.negated())
        )
    for part, value in plan.value_only:
        figures = _value_only(value, part.rate).negated()
        details.append(_detail(0, code=part.code, name=part.name, unit=part.unit, rate=part.rate, f=figures))
    _renumber(details)

    reason = f"Điều chỉnh giảm {_original_words(original)} do trả hàng/hoàn tiền đơn hàng {label}"
    note = _text(refund.get("note"))
    header = _header(
        ref_id=ref_id,
        series=series,
        inv_date=inv_date,
        buyer=buyer,
        mapping=mapping,
        seller_shop_name=_text(original_invoice.get("SellerShopName")) if original_invoice else "",
    )
    header.update(_reference(original, f"{reason}: {note}" if note else reason))
    return _assemble(header, details, -plan.total)


def adjustment_for_cancellation(
    order: dict,
    mapping: Mapping,
    *,
    tax_code: str,
    series: str,
    ref_id: str,
    inv_date: dt.date,
    original: dict,
    original_invoice: dict,
    prior_adjustments: Sequence[dict] = (),
) -> dict:
    """An adjustment invoice that brings ``original_invoice`` (the InvoiceData that was issued) to zero:
    every line negated, the buyer as issued.

    ``prior_adjustments``: the InvoiceData of adjustments already issued against it (refunds). They are
    netted per line (same item code, name, unit and rate), so only what is still invoiced is reversed;
    value-only reductions that match no line are reversed back, so the total is always minus what remains.
    """
    _check_seller(tax_code)
    _check_document_ids(series, ref_id)
    if _text(original.get("InvSeries")) and _text(original_invoice.get("InvSeries")) not in (
        "",
        _text(original.get("InvSeries")),
    ):
        raise ConversionError("original and original_invoice are not the same invoice (their series differ)")
    issued = [
        _whole_detail(d, "the original invoice") for d in original_invoice.get("OriginalInvoiceDetail") or []
    ]
    if not issued:
        raise ConversionError("the original invoice has no lines")
    for prior in prior_adjustments:
        if prior.get("ReferenceType") != 2:
            raise ConversionError("prior_adjustments must be adjustment invoices (ReferenceType 2)")
    taken_back = [
        _whole_detail(d, "an earlier adjustment")
        for p in prior_adjustments
        for d in p.get("OriginalInvoiceDetail") or []
    ]
    remaining = _net_lines(issued, taken_back)
    details = [_negate_detail(d) for d in remaining]
    if not details:
        raise ConversionError("nothing remains invoiced: earlier adjustments already brought it to zero")
    _renumber(details)
    expected = -sum(
        _vnd(invoice.get("TotalAmount"), "TotalAmount", required=True)
        for invoice in (original_invoice, *prior_adjustments)
    )
    label = _order_label(order)
    reason = f"Điều chỉnh giảm toàn bộ {_original_words(original)} do hủy đơn hàng {label}"
    cancel_reason = _text(order.get("cancel_reason"))
    header = _header(
        ref_id=ref_id,
        series=series,
        inv_date=inv_date,
        buyer=_buyer_from_invoice(original_invoice),
        mapping=mapping,
        seller_shop_name=_text(original_invoice.get("SellerShopName")),
    )
    header.update(_reference(original, f"{reason} ({cancel_reason})" if cancel_reason else reason))
    return _assemble(header, details, expected)


def replacement_for_refund(
    order: dict,
    refund: dict,
    mapping: Mapping,
    *,
    tax_code: str,
    series: str,
    ref_id: str,
    inv_date: dt.date,
    original: dict,
    original_invoice: dict,
    current: dict,
    current_invoice: dict,
) -> dict:
    """A replacement invoice (ReferenceType 1) for the invoice in force after a refund: what the buyer keeps.

    The refund is valued as its adjustment would be (against ``original_invoice``, the first invoice of the
    order, earlier refunds replayed); its lines are netted out of ``current_invoice`` (the invoice being
    replaced: the original, or the last replacement), and the new invoice totals exactly what is left.
    """
    delta = adjustment_for_refund(
        order,
        refund,
        mapping,
        tax_code=tax_code,
        series=series,
        ref_id=ref_id,
        inv_date=inv_date,
        original=original,
        original_invoice=original_invoice,
    )
    issued = [
        _whole_detail(d, "the invoice being replaced")
        for d in current_invoice.get("OriginalInvoiceDetail") or []
    ]
    taken_back = [_whole_detail(d, "the refund") for d in delta["OriginalInvoiceDetail"]]
    details = _net_lines(issued, taken_back)
    if not details:
        raise ConversionError("everything was given back: nothing is left to invoice, so adjust instead")
    _renumber(details)
    expected = _vnd(current_invoice.get("TotalAmount"), "TotalAmount", required=True) + delta["TotalAmount"]
    label = _order_label(order)
    header = _header(
        ref_id=ref_id,
        series=series,
        inv_date=inv_date,
        buyer=_buyer_from_invoice(current_invoice),
        mapping=mapping,
        seller_shop_name=_text(current_invoice.get("SellerShopName")),
    )
    header.update(
        _reference(
            current,
            f"Thay thế {_original_words(current)} do trả hàng/hoàn tiền đơn hàng {label}",
            reference_type=1,
        )
    )
    return _assemble(header, details, expected)


def _whole_detail(d: dict, whose: str) -> dict:
    """A copy of an issued line with whole-đồng int amounts (MISA may echo them as 646296.0)."""
    if not isinstance(d, dict):
        raise ConversionError(f"{whose} has a line that is not an object")
    out = dict(d)
    for name in _AMOUNT_FIELDS:
        out[name] = out[name + "OC"] = _vnd(
            d.get(name), f"{whose}, line {d.get('LineNumber')}: {name}", required=True
        )
    try:
        quantity = Decimal(str(d.get("Quantity") or 0))
    except InvalidOperation as exc:
        raise ConversionError(f"{whose}, line {d.get('LineNumber')}: Quantity is not a number") from exc
    out["Quantity"] = _json_number(quantity)
    return out


def _negate_detail(d: dict) -> dict:
    out = dict(d)
    out["Quantity"] = _json_number(-Decimal(str(d.get("Quantity") or 0)))
    for name in _AMOUNT_FIELDS:
        out[name] = out[name + "OC"] = -d[name]
    return out


def _line_key(d: dict) -> tuple:
    return (d.get("ItemType"), _text(d.get("ItemCode")), _text(d.get("ItemName")), _text(d.get("UnitName")),
            d.get("VATRateName"))  # fmt: skip


def _net_lines(issued: list[dict], adjustments: list[dict]) -> list[dict]:
    """``issued`` lines minus what ``adjustments`` (negative lines) already took back, per line key."""
    if not adjustments:
        return issued
    merged: dict[tuple, dict] = {}
    order: list[tuple] = []
    for d in [*issued, *adjustments]:
        key = _line_key(d)
        if key not in merged:
            merged[key] = {**d, "Quantity": Decimal(0), **{n: 0 for n in _AMOUNT_FIELDS}}
            order.append(key)
        row = merged[key]
        row["Quantity"] += Decimal(str(d.get("Quantity") or 0))
        for name in _AMOUNT_FIELDS:
            row[name] += d.get(name) or 0
    issued_keys = {_line_key(d) for d in issued}
    out = []
    for key in order:
        row = merged[key]
        quantity, payable = row["Quantity"], row["AmountWithoutVAT"] + row["VATAmount"]
        if key in issued_keys and (quantity < 0 or payable < 0):
            raise ConversionError(
                f"earlier adjustments took back more of “{row.get('ItemName')}” than was invoiced"
            )
        if quantity != quantity.to_integral_value():
            raise ConversionError(f"“{row.get('ItemName')}”: a fractional quantity cannot be netted")
        if not quantity and not payable:
            continue  # all taken back already (what is left is rounding of the net/VAT split)
        rate = row.get("VATRateName")
        if quantity:
            # What remains is re-split like any line: net and VAT from what the buyer still pays for it.
            net = _round(Decimal(payable) / (1 + vat_fraction(rate)))
            amount = max(row["Amount"], net)
            unit_price = (Decimal(amount) / quantity).quantize(_UNIT_PRICE_STEP, ROUND_HALF_UP)
            if abs(quantity * unit_price - amount) >= 1:
                raise ConversionError(f"“{row.get('ItemName')}”: no 4-decimal unit price fits {amount}")
            figures = _Figures(int(quantity), unit_price, amount, amount - net, net, payable - net)
        else:
            figures = _value_only(payable, rate)
        out.append(
            _detail(
                0,
                code=row.get("ItemCode") or "",
                name=row.get("ItemName") or "",
                unit=row.get("UnitName") or "",
                rate=rate,
                f=figures,
                item_type=row.get("ItemType") or 1,
            )
        )
    return out
