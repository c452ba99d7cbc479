"""A sale → meInvoice ``InvoiceData`` (publish API, SignType 2): pure functions, no DB, no HTTP.

Built from the source-neutral ``connectors.sale.Sale`` only: whatever the shop, the invoice is made from
the sale's lines, charges and buyer. The sale's totals are the truth. A sale whose own numbers do not add
up is refused (``ConversionError``), and every invoice made here totals exactly what the buyer paid (or,
for an adjustment, exactly what was given back).

Conventions
-----------
- Money is whole đồng (``int``) throughout: a VND sale has no fraction of a đồng. Divisions use
  ``Decimal`` and round half up (away from zero for negatives); each line is rounded, then lines are
  summed — never the other way round.
- A line's *gross* is ``price × quantity − its own discount − its share of the order's discounts`` (the
  reader shares order-level discounts over the goods, and charge discounts over the charges, to the đồng).
- Each charge (shipping) above 0 becomes its own invoice line (ItemType 1, ItemCode the carrier's code or
  ``SHIP``, quantity 1, the mapping's name and shipping rate); its discount shows as its discount. A charge
  of 0 is left out.
- VAT-inclusive prices (the default, how Vietnamese shops price): ``AmountWithoutVAT =
  round(gross / (1 + r))`` and ``VATAmount = gross − AmountWithoutVAT``; ``Amount`` (before discount,
  before VAT) is ``round(price × quantity / (1 + r))`` and ``DiscountAmount = Amount − AmountWithoutVAT``
  (so the discount shown is pre-VAT). KCT, KKKNT and 0 % carry no VAT.
- VAT-exclusive prices (``prices_include_vat = False``): ``AmountWithoutVAT = gross`` and ``VATAmount =
  round(gross × r)``. The invoice then totals more than the lines, so it is only made when the sale's paid
  total already contains that VAT as its tax (Σ lines − discounts + charges + tax = paid) *and* our per-line
  VAT equals that tax to the đồng; otherwise ConversionError — the invoice would show a total the buyer
  never paid.
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
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from connectors.money import Unreadable, allocate, amount_text, read_amount
from connectors.reference import NOT_DECLARED, NOT_SUBJECT
from connectors.sale import Charge, Refund, Sale, SaleLine
from connectors.taxcode import (
    budget_code_error,
    buyer_tax_code_error,
    is_personal_id,
    passport_error,
    personal_id_error,
    tax_code_error,
)
from connectors.text import Text, as_text, fold, is_email, plain, status_key

from .mapping import REDUCED_RATE, REDUCTION_BASE, Mapping, reduction_decree, vat_fraction, vat_rate_error
from .words import amount_in_words

# Never change: every RefID ever issued was derived from it (a new namespace would re-issue invoices).
REFID_NAMESPACE = uuid.UUID("6f1d0c1e-4b7a-5d0e-9a53-2c8e6a1f7b90")

SERIES_RE = re.compile(r"^[1256][CK]\d{2}[TM][A-Z0-9]{2}$")
SHIPPING_CODE = "SHIP"
GOODS, PROMOTION, NOTE = 1, 2, 4  # ItemType: goods, promotion (free gift), note line
REDUCTION_NOTE = (
    "Đã giảm %(amount)s đồng tương ứng 20%% mức tỷ lệ %% để tính thuế giá trị gia tăng theo Nghị quyết số "
    "204/2025/QH15"
)

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
_AMOUNT_FIELDS = ("Amount", "DiscountAmount", "AmountWithoutVAT", "VATAmount")
# Buyer → InvoiceData names of the Decree 70 identifiers. MISA's web-app API names them CitizenIDNumber,
# PassportNumber and RelatedUnitCode (AccountObject… family); the publish API's Buyer… names are the
# reading chosen here (unconfirmed by a published guide): change them here only.
BUYER_ID_FIELDS = {
    "id_number": "BuyerIDNumber",
    "passport": "BuyerPassport",
    "budget_code": "BuyerBudgetCode",
}


class ConversionError(ValueError):
    """The sale cannot become a correct invoice; ``text`` says why (permanent: a person must look).
    ``reason`` is the same in English."""

    def __init__(self, text: Text | str):
        self.text = as_text(text)
        self.reason = self.text.english()
        super().__init__(self.reason)


class InvalidBuyer(ConversionError):
    """The buyer asked for a company invoice with details meInvoice would refuse (or that are wrong)."""


class NothingToAdjust(ConversionError):
    """The refund gives no money back (an exchange, a free gift returned): no adjustment invoice is due.
    The caller may record the refund as done without issuing anything."""


@dataclass(frozen=True)
class Buyer:
    """The buyer as the invoice names them."""

    code: str = ""  # BuyerCode: the source's customer id
    legal_name: str = ""  # BuyerLegalName: the company (empty for a retail buyer)
    tax_code: str = ""  # BuyerTaxCode: a valid MST, or empty
    address: str = ""  # BuyerAddress
    full_name: str = ""  # BuyerFullName: the person buying
    phone: str = ""  # BuyerPhoneNumber
    email: str = ""  # BuyerEmail (and ReceiverEmail)
    id_number: str = ""  # BuyerIDNumber: a 12-digit personal identification number (Decree 70)
    passport: str = ""  # BuyerPassport: a passport number (Decree 70)
    budget_code: str = ""  # BuyerBudgetCode: a budget-relation unit's 7-digit code (Decree 70)

    @property
    def is_company(self) -> bool:
        return bool(self.tax_code)

    @property
    def is_business(self) -> bool:
        """An enterprise, organisation, household business or business individual (Decree 70): anyone with
        a tax code, a budget-relation code or a legal name. Everyone else is an individual."""
        return bool(self.tax_code or self.budget_code or self.legal_name)


@dataclass(frozen=True)
class Issue:
    """What every invoice made here is issued as: the seller's MST (the account), the series, its RefID
    (meInvoice's duplicate key) and its date. Checked before anything is built."""

    tax_code: str
    series: str
    ref_id: str
    inv_date: dt.date
    summary: bool = False  # IsInvoiceSummary: the chosen template's IsSendSummary

    @property
    def is_vat(self) -> bool:
        """A VAT invoice (series 1…); a sales invoice (2…, the direct method) carries no VAT."""
        return not plain(self.series).startswith("2")

    def check(self) -> None:
        error = tax_code_error(self.tax_code)
        if error:
            raise ConversionError(
                Text("The seller's tax code (the meInvoice account): %(error)s", error=error)
            )
        _check_series(self.series)
        if not plain(self.ref_id):
            raise ConversionError(Text("a RefID is required"))


# --- small helpers ----------------------------------------------------------------------------------


def _round(value: Decimal) -> int:
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP))


def _dong(value: Decimal) -> int:
    """A VND amount of the sale as whole đồng (the reader guarantees there is no fraction)."""
    return int(value)


def _vnd(value: Any, what: Text | str, *, required: bool = False) -> int:
    """Whole đồng from an amount of an invoice we issued (MISA may echo them as 646296.0)."""
    try:
        return int(read_amount(value, what, currency="VND", required=required))
    except Unreadable as exc:
        raise ConversionError(exc.text) from exc


def _json_number(value: Decimal) -> int | float:
    """An int when whole, else a float that prints exactly as ``value`` (checked)."""
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) != value.normalize():
        raise ConversionError(Text("%(value)s cannot be sent exactly as a JSON number", value=str(value)))
    return as_float


def _share(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` đồng in proportion to ``weights`` (largest remainder, ties to the earlier index)."""
    if total and sum(weights) <= 0:
        raise ConversionError(
            Text("cannot share %(amount)s over lines worth nothing", amount=amount_text(total))
        )
    return [int(s) for s in allocate(Decimal(total), [Decimal(w) for w in weights])]


def _date_text(value: Any, what: str) -> str:
    """``yyyy-MM-dd`` from a date, a datetime or an ISO text."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = plain(value)
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError as exc:
        raise ConversionError(
            Text("%(what)s: %(value)s is not a date", what=what, value=repr(value))
        ) from exc


# --- RefID ------------------------------------------------------------------------------------------


def ref_id_for(account_tax_code: str, order_id, kind: str) -> str:
    """The RefID (meInvoice's duplicate key) of one document: the same (account, order, kind) always
    gives the same UUID. Kinds used: ``"invoice"``, ``"refund:<refund id>"``, ``"cancel"``."""
    account = plain(account_tax_code)
    order = plain(order_id)
    kind = plain(kind)
    if not account or not order or not kind:
        raise ValueError("ref_id_for needs an account tax code, an order id and a kind")
    return str(uuid.uuid5(REFID_NAMESPACE, f"meinvoice|{account}|{order}|{kind}"))


# --- which sales get an invoice ---------------------------------------------------------------------


def check_issuance(sale: Sale, mapping: Mapping) -> tuple[bool, Text]:
    """(issue?, why): which condition failed, or why the sale qualifies.

    ``paid`` and ``created`` triggers evaluate the same conditions (the caller decides which events may
    issue); ``fulfilled`` additionally needs fulfillment_status fulfilled. Cancelled sales never qualify.
    """
    cond = mapping.conditions
    label = sale.label
    if sale.status.cancelled:
        return False, Text("Order %(label)s is cancelled.", label=label)
    financial = sale.status.payment or "pending"
    if cond.financial_statuses and status_key(financial) not in {
        status_key(s) for s in cond.financial_statuses
    }:
        return False, Text(
            "Order %(label)s is %(status)s; invoices are issued when it is %(wanted)s.",
            label=label,
            status=financial,
            wanted=", ".join(cond.financial_statuses),
        )
    fulfillment = sale.status.fulfillment.lower() or "notfulfilled"
    if cond.fulfillment_statuses and fulfillment not in cond.fulfillment_statuses:
        return False, Text(
            "Order %(label)s is %(status)s; invoices are issued when it is %(wanted)s.",
            label=label,
            status=fulfillment,
            wanted=", ".join(cond.fulfillment_statuses),
        )
    if cond.trigger == "fulfilled" and fulfillment != "fulfilled":
        return False, Text(
            "Order %(label)s is %(status)s; invoices are issued once it is fulfilled.",
            label=label,
            status=fulfillment,
        )
    source = sale.status.channel
    if cond.sources and fold(source) not in {fold(s) for s in cond.sources}:
        return False, Text(
            "Order %(label)s comes from %(source)s, not from %(wanted)s.",
            label=label,
            source=source if source else Text("no source"),
            wanted=", ".join(cond.sources),
        )
    if sale.totals.paid is None:
        return False, Text("Order %(label)s: %(problem)s.", label=label, problem=sale.paid_problem)
    total = _dong(sale.totals.paid)
    if total < cond.min_total:
        return False, Text(
            "Order %(label)s totals %(total)s, below the minimum of %(minimum)s.",
            label=label,
            total=amount_text(total),
            minimum=amount_text(_round(cond.min_total)),
        )
    return True, Text(
        "Order %(label)s qualifies: %(financial)s, %(fulfillment)s, source %(source)s, total %(total)s "
        "(trigger: %(trigger)s).",
        label=label,
        financial=financial,
        fulfillment=fulfillment,
        source=source or "-",
        total=amount_text(total),
        trigger=cond.trigger,
    )


# --- the buyer --------------------------------------------------------------------------------------


def buyer_of(sale: Sale) -> Buyer:
    """Who the invoice is made out to. A tax code makes a company invoice: a valid MST, or (an individual or
    household business, Decree 70) a 12-digit personal identification number, with a name and an address
    (for a personal number: the person's own, unless given). A budget-relation unit code also needs a name
    and an address. A personal identification number, a passport number and a budget-relation code are
    each checked by their own format; an invalid one stops the invoice with the reason."""
    given, label = sale.buyer, sale.label
    where = {"tax_code": "", "legal_name": "", "address": "", "email": "", **dict(given.origin)}
    if given.invoice_email and not is_email(given.invoice_email):
        raise InvalidBuyer(
            Text(
                "Order %(label)s: the invoice e-mail “%(email)s” (%(field)s) is not an address.",
                label=label,
                email=given.invoice_email,
                field=where["email"],
            )
        )
    identifiers = _identifiers(sale)
    tax_code = given.tax_code
    if not tax_code:
        if identifiers["budget_code"]:
            # A unit with budget relations may be invoiced by that code alone, with its name and address.
            missing = _missing_name_and_address(sale, given.legal_name, given.address)
            if missing:
                raise InvalidBuyer(
                    Text(
                        "Order %(label)s: budget-relation unit code %(code)s is given without %(missing)s; "
                        "meInvoice requires both with it.",
                        label=label,
                        code=identifiers["budget_code"],
                        missing=missing,
                    )
                )
            legal_name = given.legal_name
        elif given.legal_name:
            raise InvalidBuyer(
                Text(
                    "Order %(label)s: the buyer asks for an invoice to “%(name)s” (%(name_field)s) but gives "
                    "no tax code (%(code_field)s); add the tax code or remove the company name.",
                    label=label,
                    name=given.legal_name,
                    name_field=where["legal_name"],
                    code_field=where["tax_code"],
                )
            )
        else:
            legal_name = ""
        return Buyer(
            code=given.code,
            legal_name=legal_name,
            full_name=given.name,
            address=given.address,
            phone=given.phone,
            email=given.email,
            **identifiers,
        )
    error = buyer_tax_code_error(tax_code)
    if error:
        raise InvalidBuyer(
            Text(
                "Order %(label)s: the buyer's tax code (%(field)s): %(error)s",
                label=label,
                field=where["tax_code"],
                error=error,
            )
        )
    legal_name, address = given.legal_name, given.address
    if is_personal_id(tax_code):
        # An individual's or household business's tax code is their personal identification number: the
        # invoice names them, at their own address, unless the buyer wrote a business name and address.
        legal_name = legal_name or given.name
        address = address or given.home_address
    missing = _missing_name_and_address(sale, legal_name, address)
    if missing:
        raise InvalidBuyer(
            Text(
                "Order %(label)s: tax code %(code)s is given without %(missing)s; meInvoice requires both "
                "with a tax code.",
                label=label,
                code=tax_code,
                missing=missing,
            )
        )
    return Buyer(
        code=given.code,
        legal_name=legal_name,
        tax_code=tax_code,
        address=address,
        full_name=given.name,
        phone=given.phone,
        email=given.email,
        **identifiers,
    )


def _identifiers(sale: Sale) -> dict[str, str]:
    """The buyer's Decree 70 identifiers, each checked by its own format (InvalidBuyer says which)."""
    given, label = sale.buyer, sale.label
    where = {"id_number": "", "passport": "", "budget_code": "", **dict(given.origin)}
    values = {
        "id_number": given.id_number.strip(),
        "passport": given.passport.strip().upper(),
        "budget_code": given.budget_code.strip(),
    }
    checks = {"id_number": personal_id_error, "passport": passport_error, "budget_code": budget_code_error}
    names = {
        "id_number": Text("personal identification number"),
        "passport": Text("passport number"),
        "budget_code": Text("budget-relation unit code"),
    }
    for key, value in values.items():
        error = checks[key](value) if value else None
        if error:
            raise InvalidBuyer(
                Text(
                    "Order %(label)s: the buyer's %(what)s (%(field)s): %(error)s",
                    label=label,
                    what=names[key],
                    field=where[key],
                    error=error,
                )
            )
    return values


def _missing_name_and_address(sale: Sale, legal_name: str, address: str) -> Text | None:
    """What of the buyer's name and address is missing (meInvoice wants both with a tax code or a
    budget-relation code), naming the fields they come from; None when both are there."""
    where = {"legal_name": "", "address": "", **dict(sale.buyer.origin)}
    missing = [
        text
        for text, value in (
            (Text("the company name (%(field)s)", field=where["legal_name"]), legal_name),
            (Text("the company address (%(field)s)", field=where["address"]), address),
        )
        if not value
    ]
    if not missing:
        return None
    if len(missing) == 1:
        return missing[0]
    return Text("%(first)s and %(second)s", first=missing[0], second=missing[1])


# --- VAT rate and unit of a line --------------------------------------------------------------------


def _line_values(line: SaleLine, match: str) -> Iterable[str]:
    if match == "product_type":
        return [line.product_type]
    if match == "vendor":
        return [line.vendor]
    if match == "sku":
        return [line.sku]
    return line.tags


def stated_rate(line: SaleLine) -> str | None:
    """The meInvoice rate a line states itself (``SaleLine.tax_rate``, with ``tax_category`` KCT or KKKNT for
    a rate of 0): "8%", "KHAC:3.5%", "KKKNT"; None when it states none, or one meInvoice has no name for.
    Haravan's reader states none; an accounting system's item does when the mapping takes its words."""
    if line.tax_rate is None:
        return None
    if line.tax_category in (NOT_SUBJECT, NOT_DECLARED):
        return line.tax_category
    percent = (line.tax_rate * 100).normalize()
    if percent == percent.to_integral_value() and int(percent) in (0, 5, 8, 10):
        return f"{int(percent)}%"
    name = f"KHAC:{format(percent, 'f')}%"
    return None if vat_rate_error(name) else name


def vat_rate_for_line(line: SaleLine, mapping: Mapping) -> str:
    """The line's own rate when it states one, else the first tax rule (in list order) that matches the
    line, else the default rate.

    Matching ignores case, spacing and Unicode form. ``tag`` rules read the product's tags (Haravan order
    lines carry none: the reader takes them from the shop's catalogue).
    """
    stated = stated_rate(line)
    if stated is not None:
        return stated
    rule = _tax_rule_for(line, mapping)
    return mapping.default_vat_rate if rule is None else rule.rate


def _tax_rule_for(line: SaleLine, mapping: Mapping):
    for rule in mapping.tax_rules:
        wanted = fold(rule.value)
        if any(fold(v) == wanted for v in _line_values(line, rule.match) if v):
            return rule
    return None


def reduction_eligible(line: SaleLine, mapping: Mapping) -> bool:
    """Whether a reduction rule lists the line among the goods at 10 % that get the 8 % reduction (the
    rule for the default rate takes the lines no tax rule names, when that rate is 10 %; a line stating its
    own rate of 10 % counts as at the default rate: it is the standard rate of the goods, not a rule's)."""
    for rule in mapping.reduction.rules:
        if rule.every_line:
            stated = stated_rate(line)
            if stated is not None:
                if stated == REDUCTION_BASE:
                    return True
            elif mapping.default_vat_rate == REDUCTION_BASE and _tax_rule_for(line, mapping) is None:
                return True
            continue
        wanted = fold(rule.value)
        if any(fold(v) == wanted for v in _line_values(line, rule.match) if v):
            return True
    return False


def rate_on(
    mapped: str, eligible: bool, mapping: Mapping, on: dt.date, *, vat: bool, what: Text
) -> str | None:
    """The rate a line is issued at on ``on``: its mapped rate, or 8 % for goods at 10 % eligible for the
    reduction while it is in force (the mapping's window and a decree's). A mapped ``8%`` is such goods
    too, but refused outside the window rather than silently issued at another rate. A sales invoice
    (``vat`` False) carries no rate: None."""
    legacy = mapped == REDUCED_RATE
    if not (legacy or eligible):
        return mapped if vat else None
    if not legacy and mapped != REDUCTION_BASE:
        raise ConversionError(
            Text(
                "%(what)s is listed for the VAT reduction but mapped to %(rate)s: the reduction to "
                "%(reduced)s applies only to goods otherwise taxed at %(base)s. Fix the tax rule or the "
                "reduction rule.",
                what=what,
                rate=mapped,
                reduced=REDUCED_RATE,
                base=REDUCTION_BASE,
            )
        )
    if not vat:
        return None
    if mapping.reduction.in_force(on):
        return REDUCED_RATE
    if legacy:
        window = mapping.reduction
        raise ConversionError(
            Text(
                "%(what)s is mapped to %(reduced)s, but the VAT reduction is not in force on %(day)s "
                "(the mapping allows it from %(start)s to %(end)s, within the decrees' windows): refusing "
                "to issue at %(reduced)s. Map these goods to %(base)s and list them under the reduction "
                "rules instead.",
                what=what,
                reduced=REDUCED_RATE,
                base=REDUCTION_BASE,
                day=on.strftime("%d/%m/%Y"),
                start=window.valid_from.strftime("%d/%m/%Y"),
                end=window.valid_to.strftime("%d/%m/%Y"),
            )
        )
    return REDUCTION_BASE


_EMOJI = re.compile("[\U00010000-\U0010ffff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\ufe00-\ufe0f\u200d\u20e3]")


def strip_emoji(value: str) -> str:
    """``value`` without emoji (meInvoice refuses them: InvalidXMLContainEmoji), spaces collapsed."""
    return " ".join(_EMOJI.sub("", value).split())


_MISA_EMAIL = re.compile(
    r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
)


def email_addresses(value: str) -> tuple[list[str], list[str]]:
    """(addresses meInvoice accepts, the rest) of an e-mail field that may list several (``;``, ``,`` or
    spaces between them)."""
    good: list[str] = []
    bad: list[str] = []
    for part in re.split(r"[;,\s]+", value or ""):
        part = part.strip()
        if not part:
            continue
        (good if _MISA_EMAIL.match(part) else bad).append(part)
    return good, bad


def cleaning_notes(sale: Sale) -> list[Text]:
    """What the invoice of ``sale`` leaves out so that meInvoice accepts it (said to the merchant):
    e-mail addresses outside meInvoice's format, emoji in item names."""
    notes: list[Text] = []
    _good, bad = email_addresses(sale.buyer.email)
    if bad:
        notes.append(
            Text(
                "The e-mail %(emails)s is not an address meInvoice accepts: the invoice is issued without "
                "sending it there.",
                emails=", ".join(bad),
            )
        )
    names = [line.name for line in sale.lines if strip_emoji(line.name) != plain(line.name)]
    if names:
        notes.append(Text("Emoji removed from item names: %(names)s.", names=", ".join(names)))
    return notes


def _unit_for(line: SaleLine, mapping: Mapping) -> str:
    if line.unit:  # the product's own unit, from the shop's catalogue
        return line.unit
    product_type = fold(line.product_type)
    if product_type:
        for name, unit in mapping.unit_by_type.items():
            if fold(name) == product_type:
                return unit
    return mapping.default_unit


# --- from the sale to priced parts ------------------------------------------------------------------


@dataclass
class _Part:
    """One future invoice line, in the shop's money (VAT-inclusive or not, per the mapping)."""

    kind: str  # "goods" | "shipping"
    key: str  # the sale line's key, or the charge's
    code: str
    name: str
    unit: str
    rate: str | None  # None on a sales invoice
    quantity: int
    list_value: int  # price × quantity
    own_discount: int  # the line's own discount (goods) — 0 for shipping
    shared_discount: int = 0  # its share of the order's codes
    payable: int = 0  # what the buyer pays for it, VAT included (filled by _parts)

    @property
    def gross(self) -> int:
        return self.list_value - self.own_discount - self.shared_discount


def _item_name(name: str, code: str, label: str) -> str:
    cleaned = strip_emoji(name)
    if not cleaned:
        raise ConversionError(
            Text(
                "Order %(label)s: the item %(code)s is named only with emoji (%(name)s), which meInvoice "
                "refuses: give it a name.",
                label=label,
                code=code or "-",
                name=name,
            )
        )
    return cleaned


def _goods_part(line: SaleLine, mapping: Mapping, on: dt.date, vat: bool, label: str) -> _Part:
    mapped = vat_rate_for_line(line, mapping)
    what = Text("“%(name)s”", name=line.name)
    if line.unit_price == 0:
        # A free gift is a promotion line (ItemType 2) worth nothing: the reduction has nothing to reduce.
        rate = (REDUCTION_BASE if mapped == REDUCED_RATE else mapped) if vat else None
    else:
        rate = rate_on(mapped, reduction_eligible(line, mapping), mapping, on, vat=vat, what=what)
    return _Part(
        kind="goods",
        key=line.key,
        code=line.item_code,
        name=_item_name(line.name, line.item_code, label),
        unit=_unit_for(line, mapping),
        rate=rate,
        quantity=int(line.quantity),
        list_value=_dong(line.list_value),
        own_discount=_dong(line.line_discount),
        shared_discount=_dong(line.order_discount),
    )


def shipping_eligible(mapping: Mapping) -> bool:
    """Shipping at 10 % gets the reduction when the mapping says so, or when it has no rate of its own and
    the goods at the default rate get it."""
    if mapping.shipping_rate != REDUCTION_BASE:
        return False
    by_default = mapping.shipping_vat_rate is None and any(r.every_line for r in mapping.reduction.rules)
    return mapping.reduction.shipping or by_default


def _charge_part(charge: Charge, mapping: Mapping, on: dt.date, vat: bool) -> _Part:
    what = Text("The shipping line")
    return _Part(
        kind="shipping",
        key=charge.key,
        code=charge.code or SHIPPING_CODE,
        name=strip_emoji(mapping.shipping_item_name) or "Phí vận chuyển",
        unit=mapping.shipping_unit,
        rate=rate_on(mapping.shipping_rate, shipping_eligible(mapping), mapping, on, vat=vat, what=what),
        quantity=1,
        list_value=_dong(charge.amount),
        own_discount=0,
        shared_discount=_dong(charge.discount),
    )


def _payable(gross: int, rate: str | None, include_vat: bool) -> int:
    return gross if include_vat else gross + _round(gross * vat_fraction(rate))


@dataclass
class _Parts:
    parts: list[_Part]
    total_price: int


def _parts(sale: Sale, mapping: Mapping, issue: Issue | None = None, on: dt.date | None = None) -> _Parts:
    """The sale's lines and charges as invoice parts, checked against the sale's own total. Their rates are
    those in force on ``on`` (default: the issue's date; an adjustment passes its original's) for the
    kind of invoice ``issue`` makes (a sales invoice: no rate)."""
    label = sale.label
    vat = issue.is_vat if issue is not None else True
    if on is None:
        on = issue.inv_date if issue is not None else dt.date.today()
    if sale.currency.upper() != "VND":
        raise ConversionError(
            Text(
                "Order %(label)s is in %(currency)s; only VND orders are invoiced.",
                label=label,
                currency=sale.currency,
            )
        )
    if sale.problems:
        raise ConversionError(sale.problems[0])
    parts = [_goods_part(line, mapping, on, vat, label) for line in sale.lines] + [
        _charge_part(charge, mapping, on, vat) for charge in sale.charges if charge.amount > 0
    ]
    if not parts:
        raise ConversionError(
            Text("Order %(label)s has nothing to invoice: no line items and no shipping.", label=label)
        )

    # The sale's own arithmetic first: never invoice a total the buyer did not pay.
    totals = sale.totals
    include_vat = mapping.prices_include_vat
    if not include_vat and sale.tax_problem is not None:
        raise ConversionError(sale.tax_problem)
    tax = 0 if include_vat else _dong(totals.tax)
    computed = _dong(totals.computed(with_tax=not include_vat))
    total_price = _dong(totals.paid)
    if computed != total_price:
        hint = (
            Text(" (the order adds total_tax on top of its prices: should prices_include_vat be off?)")
            if include_vat and totals.tax and totals.tax_on_top
            else ""
        )
        raise ConversionError(
            Text(
                "Order %(label)s: its totals do not add up — lines %(lines)s − line discounts "
                "%(line_discounts)s − discount codes %(codes)s + shipping %(shipping)s − shipping discounts "
                "%(shipping_codes)s%(tax)s = %(computed)s, but total_price is %(paid)s%(hint)s. Refusing "
                "to invoice a total the buyer did not pay.",
                label=label,
                lines=amount_text(_dong(totals.lines)),
                line_discounts=amount_text(_dong(totals.line_discounts)),
                codes=amount_text(_dong(totals.order_discounts)),
                shipping=amount_text(_dong(totals.charges)),
                shipping_codes=amount_text(_dong(totals.charge_discounts)),
                tax="" if include_vat else f" + total_tax {amount_text(tax)}",
                computed=amount_text(computed),
                paid=amount_text(total_price),
                hint=hint,
            )
        )
    for part in parts:
        part.payable = _payable(part.gross, part.rate, include_vat)
    payable = sum(p.payable for p in parts)
    if payable != total_price:  # only possible with VAT-exclusive prices
        raise ConversionError(
            Text(
                "Order %(label)s: the VAT computed per line (%(vat)s) differs from the order's total_tax "
                "(%(tax)s); the invoice would total %(payable)s while the buyer paid %(paid)s.",
                label=label,
                vat=amount_text(payable - (computed - tax)),
                tax=amount_text(tax),
                payable=amount_text(payable),
                paid=amount_text(total_price),
            )
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


def _figures(list_value: int, payable: int, quantity: int, rate: str | None, include_vat: bool) -> _Figures:
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
            Text(
                "a quantity of %(quantity)s is too large to state a 4-decimal unit price within 1 đồng of "
                "%(amount)s",
                quantity=quantity,
                amount=amount,
            )
        )
    return _Figures(quantity, unit_price, amount, amount - net, net, vat)


def _value_only(payable: int, rate: str | None) -> _Figures:
    """A reduction of value without goods: Quantity 0, UnitPrice 0, the value in Amount."""
    r = vat_fraction(rate)
    net = _round(Decimal(payable) / (1 + r))
    return _Figures(0, Decimal(0), net, 0, net, payable - net)


def _detail(
    number: int,
    *,
    code: str,
    name: str,
    unit: str,
    rate: str | None,
    f: _Figures,
    item_type: int | None = None,
) -> dict:
    if item_type is None:
        # Goods given for nothing (a free gift, or its return) are a promotion line, worth 0.
        free = f.quantity and not f.unit_price and not any((f.amount, f.discount, f.net, f.vat))
        item_type = PROMOTION if free else GOODS
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
    """LineNumber: the position; SortOrder: the row number printed (none on a note line, as MISA asks)."""
    row = 0
    for number, detail in enumerate(details, start=1):
        detail["LineNumber"] = number
        if detail.get("ItemType") == NOTE:
            detail["SortOrder"] = None
        else:
            row += 1
            detail["SortOrder"] = row
    return details


def _tax_rate_info(details: Iterable[dict]) -> list[dict]:
    by_rate: dict[str, list[int]] = {}
    for d in details:
        if d.get("VATRateName") is None or d.get("ItemType") in (PROMOTION, NOTE):
            continue
        sums = by_rate.setdefault(d["VATRateName"], [0, 0])
        sums[0] += d["AmountWithoutVATOC"]
        sums[1] += d["VATAmountOC"]
    return [
        {"VATRateName": rate, "AmountWithoutVATOC": s[0], "VATAmountOC": s[1]} for rate, s in by_rate.items()
    ]


def _totals(details: list[dict]) -> dict:
    """Header totals from the goods lines (promotion and note lines count for nothing; no line made here
    is ItemType 3, so MISA's ItemType-3 terms are 0)."""
    details = [d for d in details if d.get("ItemType", GOODS) == GOODS]
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
        if d.get("ItemType") == NOTE:
            continue
        if d.get("ItemType") == PROMOTION:
            if any(d.get(name) for name in _AMOUNT_FIELDS):
                problems.append(f"line {d.get('LineNumber')}: a promotion line carries an amount")
            continue
        if d.get("ItemType") != GOODS:
            problems.append(f"line {d.get('LineNumber')}: ItemType {d.get('ItemType')!r} is not 1, 2 or 4")
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
        # Our own arithmetic failing is a defect, not the merchant's data: the details stay in English.
        raise ConversionError(Text("The invoice does not add up: %(problems)s", problems="; ".join(problems)))


def _rate_row(row: dict) -> tuple:
    return (row.get("VATRateName"), row.get("AmountWithoutVATOC"), row.get("VATAmountOC"))


# --- the invoice ------------------------------------------------------------------------------------


def _check_series(series: str, what: str = "series") -> None:
    if not SERIES_RE.match(plain(series)):
        raise ConversionError(
            Text(
                "%(what)s %(series)s is not a meInvoice series (like 1C25TYY)", what=what, series=repr(series)
            )
        )


def _header(*, issue: Issue, buyer: Buyer, mapping: Mapping, seller_shop_name: str) -> dict:
    # BuyerEmail holds one address; ReceiverEmail may list several, separated by ";" (MISA's guide).
    emails, _refused = email_addresses(buyer.email)
    return {
        "RefID": issue.ref_id,
        "InvSeries": issue.series,
        "InvDate": _date_text(issue.inv_date, "inv_date"),
        "CurrencyCode": "VND",
        "ExchangeRate": 1,
        "PaymentMethodName": mapping.payment_method_name,
        "IsInvoiceSummary": bool(issue.summary),
        "IsTaxReduction43": False,  # set by _assemble from the lines
        "IsSendEmail": bool(emails),
        "ReceiverName": buyer.full_name or buyer.legal_name,
        "ReceiverEmail": ";".join(emails),
        "SellerShopName": seller_shop_name,
        "BuyerCode": buyer.code,
        "BuyerLegalName": buyer.legal_name,
        "BuyerTaxCode": buyer.tax_code,
        "BuyerAddress": buyer.address,
        "BuyerFullName": buyer.full_name,
        "BuyerPhoneNumber": buyer.phone,
        "BuyerEmail": emails[0] if emails else "",
        # Decree 70 identifiers, only when the buyer gave them
        **{name: getattr(buyer, attr) for attr, name in BUYER_ID_FIELDS.items() if getattr(buyer, attr)},
    }


def _without_emoji(value: Any) -> Any:
    if isinstance(value, str):
        return strip_emoji(value) if _EMOJI.search(value) else value
    if isinstance(value, dict):
        return {k: _without_emoji(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_emoji(v) for v in value]
    return value


def _reduction_flag(header: dict, details: list[dict]) -> bool:
    """IsTaxReduction43: the invoice applies the 2 % reduction (a line at 8 %, or a sales invoice's
    reduction note). Refused when no decree grants it on the date that decides (an adjustment's or a
    replacement's original date, else the invoice date)."""
    reduced = bool(header.get("IsTaxReduction43")) or any(
        d.get("VATRateName") == REDUCED_RATE and d.get("ItemType", GOODS) not in (PROMOTION, NOTE)
        for d in details
    )
    if reduced:
        deciding = header.get("OrgInvDate") if header.get("ReferenceType") in (1, 2) else header["InvDate"]
        day = dt.date.fromisoformat(_date_text(deciding, "InvDate"))
        if reduction_decree(day) is None:
            raise ConversionError(
                Text(
                    "The VAT reduction (%(reduced)s) is not in force on %(day)s: no invoice dated then may "
                    "apply it.",
                    reduced=REDUCED_RATE,
                    day=day.strftime("%d/%m/%Y"),
                )
            )
    return reduced


def _assemble(header: dict, details: list[dict], expected_total: int) -> dict:
    header, details = _without_emoji(header), _without_emoji(details)
    invoice = dict(header)
    invoice["IsTaxReduction43"] = _reduction_flag(header, details)
    invoice.update(_totals(details))
    invoice["OriginalInvoiceDetail"] = details
    invoice["TaxRateInfo"] = _tax_rate_info(details)
    invoice["OptionUserDefined"] = dict(OPTION_USER_DEFINED)
    check_invoice(invoice, expected_total)
    return invoice


def _original_details(parts: list[_Part], include_vat: bool) -> list[dict]:
    """The lines of an invoice from its parts (a part worth nothing at price 0 is a promotion line)."""
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


def sale_to_invoice(sale: Sale, mapping: Mapping, issue: Issue, *, seller_shop_name: str = "") -> dict:
    """The InvoiceData of one sale (for ``POST /invoice``, SignType 2). Its TotalAmount is what the buyer
    paid, to the đồng, or ConversionError / InvalidBuyer says why no correct invoice can be made."""
    issue.check()
    buyer = buyer_of(sale)
    built = _parts(sale, mapping, issue)
    details = _original_details(built.parts, mapping.prices_include_vat)
    header = _header(issue=issue, buyer=buyer, mapping=mapping, seller_shop_name=seller_shop_name)
    if not issue.is_vat:
        note = _sales_reduction_note(sale, mapping, issue, built.parts)
        if note is not None:
            details.append(note)
            _renumber(details)
            header["IsTaxReduction43"] = True
    return _assemble(header, details, built.total_price)


def _sales_reduction_note(sale: Sale, mapping: Mapping, issue: Issue, parts: list[_Part]) -> dict | None:
    """The note a sales invoice (direct method) carries when it applies the reduction: 20 % of the
    percentage of revenue (``mapping.reduction.sales_percent``) on the eligible goods, in đồng. None when
    no eligible line is sold or the reduction is not in force on the invoice date."""
    if not mapping.reduction.in_force(issue.inv_date):
        return None
    by_key = {line.key: line for line in sale.lines}
    eligible = 0
    for part in parts:
        if part.kind == "shipping":
            chosen = shipping_eligible(mapping) or mapping.shipping_rate == REDUCED_RATE
        else:
            line = by_key[part.key]
            chosen = vat_rate_for_line(line, mapping) == REDUCED_RATE or reduction_eligible(line, mapping)
        if chosen:
            eligible += part.payable
    if not eligible:
        return None
    amount = _round(Decimal(eligible) * Decimal(mapping.reduction.sales_percent) / 100 * Decimal("0.2"))
    if not amount:
        return None
    text = REDUCTION_NOTE % {"amount": f"{amount:,}".replace(",", ".")}
    return {"ItemType": NOTE, "SortOrder": None, "LineNumber": 0, "ItemName": text, "VATRateName": None}


# --- adjustments and replacements ---------------------------------------------------------------------


@dataclass(frozen=True)
class Changed:
    """The issued invoice a later one changes: how it is named (``original``: {"InvSeries", "InvNo",
    "InvDate", "TransactionID"}) and the InvoiceData that was issued (``invoice``, when known)."""

    original: dict
    invoice: dict | None = None

    def reference(self, note: str, *, reference_type: int = 2) -> dict:
        """The fields that make an invoice an adjustment (2) or a replacement (1) of this one."""
        series = plain(self.original.get("InvSeries"))
        if not SERIES_RE.match(series):
            raise ConversionError(
                Text(
                    "the original invoice's series %(series)s is not a meInvoice series", series=repr(series)
                )
            )
        number = plain(self.original.get("InvNo"))
        if not number:
            raise ConversionError(Text("the original invoice has no number (InvNo): was it published?"))
        return {
            "ReferenceType": reference_type,
            "OrgInvoiceType": 1,
            "OrgInvTemplateNo": series[0],
            "OrgInvSeries": series[-6:],
            "OrgInvNo": number,
            "OrgInvDate": _date_text(self.original.get("InvDate"), "the original invoice's InvDate"),
            "InvoiceNote": note,  # printed on the invoice itself: in Vietnamese, for the buyer
        }

    def words(self) -> str:
        """How the note on the invoice names it (in Vietnamese, as the invoice is)."""
        date = _date_text(self.original.get("InvDate"), "the original invoice's InvDate")
        day = dt.date.fromisoformat(date).strftime("%d/%m/%Y")
        return (
            f"hóa đơn số {plain(self.original.get('InvNo'))}, "
            f"ký hiệu {plain(self.original.get('InvSeries'))}, ngày {day}"
        )

    def buyer(self) -> Buyer:
        invoice = self.invoice or {}
        return Buyer(
            code=plain(invoice.get("BuyerCode")),
            legal_name=plain(invoice.get("BuyerLegalName")),
            tax_code=plain(invoice.get("BuyerTaxCode")),
            address=plain(invoice.get("BuyerAddress")),
            full_name=plain(invoice.get("BuyerFullName")),
            phone=plain(invoice.get("BuyerPhoneNumber")),
            email=plain(invoice.get("BuyerEmail")),
            **{attr: plain(invoice.get(name)) for attr, name in BUYER_ID_FIELDS.items()},
        )

    def shop_name(self) -> str:
        return plain((self.invoice or {}).get("SellerShopName"))

    def issued_on(self) -> dt.date:
        """The original's date: what decides its rates (the VAT reduction), for what changes it too."""
        return dt.date.fromisoformat(
            _date_text(self.original.get("InvDate"), "the original invoice's InvDate")
        )

    def lines(self, whose: Text) -> list[dict]:
        return [
            _whole_detail(d, whose)
            for d in (self.invoice or {}).get("OriginalInvoiceDetail") or []
            if not (isinstance(d, dict) and d.get("ItemType") == NOTE)
        ]


@dataclass(frozen=True)
class CorrectionReference:
    """What the seller relied on to adjust or replace an issued invoice (Decree 70, amending Decree 123
    art. 19): the written agreement with a business buyer, or the notice to an individual buyer."""

    text: str  # how the merchant names it: its number ("01/2026/BBTT")
    date: dt.date


def buyer_is_business(invoice: dict) -> bool:
    """Whether the invoice's buyer is a business (an agreement is needed) rather than an individual (a
    notice is enough): a tax code, a budget-relation code or a legal name on it."""
    return any(plain(invoice.get(name)) for name in ("BuyerTaxCode", "BuyerBudgetCode", "BuyerLegalName"))


def correction_words(invoice: dict, reference: CorrectionReference) -> str:
    """The Vietnamese words naming the agreement (or notice), as printed on the invoice."""
    number = re.sub(r"^(?:số|so)\s*[:.]?\s*", "", plain(reference.text), flags=re.IGNORECASE)
    day = reference.date.strftime("%d/%m/%Y")
    document = "biên bản thỏa thuận" if buyer_is_business(invoice) else "thông báo"
    return f"theo {document} số {number} ngày {day}"


def with_correction_reference(invoice: dict, reference: CorrectionReference) -> dict:
    """A copy of an adjustment or replacement whose ``InvoiceNote`` ends with the agreement's (or the
    notice's) reference. meInvoice's publish API has no field of its own for it (none found in MISA's
    guides): the note printed on the invoice carries it."""
    if invoice.get("ReferenceType") not in (1, 2):
        raise ConversionError(Text("only an adjustment or a replacement carries an agreement reference"))
    if not plain(reference.text):
        raise ConversionError(Text("the agreement reference is empty"))
    note = plain(invoice.get("InvoiceNote"))
    words = correction_words(invoice, reference)
    return {**invoice, "InvoiceNote": f"{note}, {words}" if note else words[0].upper() + words[1:]}


def _changing(issue: Issue, mapping: Mapping, buyer: Buyer, shop: str, reference: dict) -> dict:
    """The header every adjustment and replacement starts from: checked ids, the buyer as issued."""
    header = _header(issue=issue, buyer=buyer, mapping=mapping, seller_shop_name=shop)
    header.update(reference)
    return header


def _line_signature(details: Iterable[dict]) -> list[tuple]:
    """What must not change between an issued invoice and its order today: the goods lines worth something
    (a line worth nothing, such as a free gift issued as goods before it became a promotion line, is left
    out: it carries no money to adjust)."""
    return [
        (d.get("VATRateName"), d.get("Quantity"), d.get("AmountWithoutVAT"), d.get("VATAmount"))
        for d in details
        if d.get("ItemType") in (GOODS, PROMOTION) and (d.get("AmountWithoutVAT") or d.get("VATAmount"))
    ]


def _check_same_original(sale: Sale, recomputed: list[dict], original_invoice: dict) -> None:
    issued = original_invoice.get("OriginalInvoiceDetail") or []
    if _line_signature(recomputed) != _line_signature(issued):
        raise ConversionError(
            Text(
                "Order %(label)s no longer converts to the invoice that was issued (its lines, prices or the "
                "VAT mapping changed since): adjust this one by hand.",
                label=sale.label,
            )
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


def _plan_refund(refund: Refund, parts: list[_Part], state: _RefundState, label: str) -> _RefundPlan:
    what = Text(
        "order %(label)s: %(problem)s", label=label, problem=Text("refund %(refund)s", refund=refund.name)
    )
    goods = {p.key: p for p in parts if p.kind == "goods"}
    returned: list[list] = []
    for item in refund.lines:
        if item.problem is not None:
            raise ConversionError(item.problem)
        part = goods[item.line_key]
        units = int(item.quantity)
        if not units:
            continue
        done = state.quantity.get(part.key, 0) + sum(u for p, u, _ in returned if p is part)
        if done + units > part.quantity:
            raise ConversionError(
                Text(
                    "%(what)s returns %(units)s × “%(name)s”, but only %(left)s of %(quantity)s are left to "
                    "return",
                    what=what,
                    units=units,
                    name=part.name,
                    left=part.quantity - done,
                    quantity=part.quantity,
                )
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
    if refund.problem is not None:
        raise ConversionError(refund.problem)
    if refund.money is None:
        raise ConversionError(Text("%(what)s does not say what money was given back", what=what))
    money = _dong(refund.money)
    if money < lines_value:
        # The money given back is the truth: the returned lines share it (a restock with no money: 0 each).
        for row, share in zip(returned, _share(money, [v for _, _, v in returned]), strict=True):
            row[2] = share
        lines_value = money

    extra = money - lines_value
    value_only: list[tuple[_Part, int]] = []
    if extra and returned:
        # Money beyond the returned goods: first the shipping charged, then the value of what remains.
        for part in (p for p in parts if p.kind == "shipping"):
            room = part.payable - state.paid_back.get(part.key, 0)
            take = min(room, extra)
            if take > 0:
                value_only.append((part, take))
                extra -= take
    if extra:
        # Money with no goods (a reduction, or what a restock left to pay back) reduces everything still
        # invoiced in proportion, so each rate gives back its share; with goods, what the shipping left.
        candidates = [p for p in parts if p.kind == "goods" or not returned]
        rooms = [
            p.payable - state.paid_back.get(p.key, 0) - sum(v for q, _, v in returned if q is p)
            for p in candidates
        ]
        if extra > sum(rooms):
            raise ConversionError(
                Text(
                    "%(what)s gives back %(money)s, more than remains invoiced on the order",
                    what=what,
                    money=amount_text(money),
                )
            )
        for part, share in zip(candidates, _share(extra, rooms), strict=True):
            if share:
                value_only.append((part, share))

    for part, units, value in returned:
        state.quantity[part.key] = state.quantity.get(part.key, 0) + units
        state.paid_back[part.key] = state.paid_back.get(part.key, 0) + value
    for part, value in value_only:
        state.paid_back[part.key] = state.paid_back.get(part.key, 0) + value
    return _RefundPlan([(p, u, v) for p, u, v in returned], value_only, money)


def adjustment_for_refund(
    sale: Sale, refund: Refund, mapping: Mapping, issue: Issue, changed: Changed
) -> dict:
    """An adjustment-down invoice (ReferenceType 2) for one refund of an invoiced sale, worth exactly the
    money given back in the refund's successful transactions: goods restocked with no money change no
    total (``NothingToAdjust``), and money given back with no goods is an adjustment all the same.

    Returned units become negative lines valued pro rata of what the buyer paid for the line (the last
    units returned take exactly what is left of it). When less money is given back than the returned
    units are worth, the money is what is adjusted, shared over the returned lines. Money beyond the
    returned goods becomes value-only lines: first against the shipping charged, then shared over the
    goods still invoiced. Money with no goods returned is shared over everything still invoiced, goods
    and shipping, in proportion (one value-only line per invoice line, so each VAT rate takes its share).
    The sale's earlier refunds (by creation) are replayed first, so repeated partial returns add up to the
    original invoice exactly. The adjustment totals minus the money given back.

    With ``changed.invoice`` (the InvoiceData that was issued), the sale must still convert to the same
    lines, and its buyer is used as it was issued.
    """
    issue.check()
    label = sale.label
    built = _parts(sale, mapping, issue, changed.issued_on())
    if changed.invoice is not None:
        _check_same_original(
            sale, _original_details(built.parts, mapping.prices_include_vat), changed.invoice
        )
        buyer = changed.buyer()
    else:
        buyer = buyer_of(sale)

    state = _RefundState()
    for previous in sale.refunds:
        if (not refund.key or previous.key != refund.key) and previous.sort_key < refund.sort_key:
            _plan_refund(previous, built.parts, state, label)
    plan = _plan_refund(refund, built.parts, state, label)
    if plan.total == 0:
        raise NothingToAdjust(
            Text(
                "Order %(label)s: refund %(refund)s gives back no money: there is nothing to adjust.",
                label=label,
                refund=refund.name,
            )
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

    reason = f"Điều chỉnh giảm {changed.words()} do trả hàng/hoàn tiền đơn hàng {label}"
    note = f"{reason}: {refund.note}" if refund.note else reason
    header = _changing(issue, mapping, buyer, changed.shop_name(), changed.reference(note))
    return _assemble(header, details, -plan.total)


def adjustment_for_cancellation(
    sale: Sale, mapping: Mapping, issue: Issue, changed: Changed, prior_adjustments: Sequence[dict] = ()
) -> dict:
    """An adjustment invoice that brings ``changed.invoice`` (the InvoiceData that was issued) to zero:
    every line negated, the buyer as issued.

    ``prior_adjustments``: the InvoiceData of adjustments already issued against it (refunds). They are
    netted per line (same item code, name, unit and rate), so only what is still invoiced is reversed;
    value-only reductions that match no line are reversed back, so the total is always minus what remains.
    """
    issue.check()
    original, original_invoice = changed.original, changed.invoice or {}
    if plain(original.get("InvSeries")) and plain(original_invoice.get("InvSeries")) not in (
        "",
        plain(original.get("InvSeries")),
    ):
        raise ConversionError(
            Text("original and original_invoice are not the same invoice (their series differ)")
        )
    issued = changed.lines(Text("the original invoice"))
    if not issued:
        raise ConversionError(Text("the original invoice has no lines"))
    for prior in prior_adjustments:
        if prior.get("ReferenceType") != 2:
            raise ConversionError(Text("prior_adjustments must be adjustment invoices (ReferenceType 2)"))
    taken_back = [
        _whole_detail(d, Text("an earlier adjustment"))
        for p in prior_adjustments
        for d in p.get("OriginalInvoiceDetail") or []
    ]
    remaining = _net_lines(issued, taken_back)
    details = [_negate_detail(d) for d in remaining]
    if not details:
        raise ConversionError(
            Text("nothing remains invoiced: earlier adjustments already brought it to zero")
        )
    _renumber(details)
    expected = -sum(
        _vnd(invoice.get("TotalAmount"), "TotalAmount", required=True)
        for invoice in (original_invoice, *prior_adjustments)
    )
    reason = f"Điều chỉnh giảm toàn bộ {changed.words()} do hủy đơn hàng {sale.label}"
    note = f"{reason} ({sale.cancel_reason})" if sale.cancel_reason else reason
    header = _changing(issue, mapping, changed.buyer(), changed.shop_name(), changed.reference(note))
    return _assemble(header, details, expected)


def replacement_for_refund(
    sale: Sale, refund: Refund, mapping: Mapping, issue: Issue, first: Changed, current: Changed
) -> dict:
    """A replacement invoice (ReferenceType 1) for the invoice in force after a refund: what the buyer keeps.

    The refund is valued as its adjustment would be (against ``first``, the first invoice of the sale,
    earlier refunds replayed); its lines are netted out of ``current`` (the invoice being replaced: the
    original, or the last replacement), and the new invoice totals exactly what is left.
    """
    delta = adjustment_for_refund(sale, refund, mapping, issue, first)
    issued = current.lines(Text("the invoice being replaced"))
    taken_back = [_whole_detail(d, Text("the refund")) for d in delta["OriginalInvoiceDetail"]]
    details = _net_lines(issued, taken_back)
    if not details:
        raise ConversionError(
            Text("everything was given back: nothing is left to invoice, so adjust instead")
        )
    _renumber(details)
    expected = (
        _vnd((current.invoice or {}).get("TotalAmount"), "TotalAmount", required=True) + delta["TotalAmount"]
    )
    note = f"Thay thế {current.words()} do trả hàng/hoàn tiền đơn hàng {sale.label}"
    header = _changing(
        issue, mapping, current.buyer(), current.shop_name(), current.reference(note, reference_type=1)
    )
    return _assemble(header, details, expected)


def _whole_detail(d: dict, whose: Text) -> dict:
    """A copy of an issued line with whole-đồng int amounts (MISA may echo them as 646296.0)."""
    if not isinstance(d, dict):
        raise ConversionError(Text("%(whose)s has a line that is not an object", whose=whose))
    out = dict(d)
    for name in _AMOUNT_FIELDS:
        where = Text("%(whose)s, line %(line)s: %(field)s", whose=whose, line=d.get("LineNumber"), field=name)
        out[name] = out[name + "OC"] = _vnd(d.get(name), where, required=True)
    try:
        quantity = Decimal(str(d.get("Quantity") or 0))
    except InvalidOperation as exc:
        raise ConversionError(
            Text("%(whose)s, line %(line)s: Quantity is not a number", whose=whose, line=d.get("LineNumber"))
        ) from exc
    out["Quantity"] = _json_number(quantity)
    return out


def _negate_detail(d: dict) -> dict:
    out = dict(d)
    out["Quantity"] = _json_number(-Decimal(str(d.get("Quantity") or 0)))
    for name in _AMOUNT_FIELDS:
        out[name] = out[name + "OC"] = -d[name]
    return out


def _line_key(d: dict) -> tuple:
    return (d.get("ItemType"), plain(d.get("ItemCode")), plain(d.get("ItemName")), plain(d.get("UnitName")),
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
        name = row.get("ItemName")
        if key in issued_keys and (quantity < 0 or payable < 0):
            raise ConversionError(
                Text("earlier adjustments took back more of “%(name)s” than was invoiced", name=name)
            )
        if quantity != quantity.to_integral_value():
            raise ConversionError(Text("“%(name)s”: a fractional quantity cannot be netted", name=name))
        if not quantity and not payable:
            continue  # all taken back already (what is left is rounding of the net/VAT split)
        rate = row.get("VATRateName")
        if quantity:
            # What remains is re-split like any line: net and VAT from what the buyer still pays for it.
            net = _round(Decimal(payable) / (1 + vat_fraction(rate)))
            amount = max(row["Amount"], net)
            unit_price = (Decimal(amount) / quantity).quantize(_UNIT_PRICE_STEP, ROUND_HALF_UP)
            if abs(quantity * unit_price - amount) >= 1:
                raise ConversionError(
                    Text("“%(name)s”: no 4-decimal unit price fits %(amount)s", name=name, amount=amount)
                )
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
