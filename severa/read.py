"""A Severa invoice (with its rows, customer and tax settings) → the source-neutral ``connectors.sale.Sale``.

Pure: no database, no HTTP. The input is what Severa's REST API answers (reference §3), gathered as
``{"invoice", "rows", "customer", "invoiceSettings", "customerCountrySettings"}`` — the shape the preview
command reads. Like every reader it never raises: what it cannot read is one of the sale's ``problems``,
named by Severa's own field.

Severa prices exclude VAT (tax on top) and gives no row totals: a line is quantity × unit price, its VAT
rate in percent. A reverse-charged invoice (``invoiceSettings.isReverseCharged``) puts every line in VAT
category AE at 0 %; a zero rate takes the customer's country settings' EN 16931 category
(``zeroVatCategoryCodeEn16931``, "Z" when none is given). Amounts keep Severa's signs (how Severa signs a
credit note's amounts is unconfirmed: the target normalises them for the document it makes).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.sale import ZERO, Buyer, Sale, SaleLine, SaleStatus, SourceTotals
from connectors.text import Text

REVERSE_CHARGE = "AE"
STANDARD, ZERO_RATED = "S", "Z"
HUNDRED = Decimal(100)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()


def _amount(value: Any) -> Decimal | None:
    """Severa's money is ``{amount, currencyCode}``; a bare number is read too."""
    raw = value.get("amount") if isinstance(value, dict) else value
    if raw is None or isinstance(raw, bool) or raw == "":
        return None
    try:
        number = Decimal(str(raw))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _date(value: Any) -> dt.date | None:
    text = _text(value)
    try:
        return dt.date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _moment(value: Any) -> dt.datetime | None:
    text = _text(value)
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def invoice_label(invoice: dict) -> str:
    """How people name a Severa invoice: its number ("1001"), else its guid."""
    return _text(invoice.get("number")) or _text(invoice.get("guid"))


def shape_problem(data: Any) -> str | None:
    """Why pasted JSON is not a Severa invoice bundle, or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    invoice = data.get("invoice")
    if not isinstance(invoice, dict) or not _text(invoice.get("guid")):
        return 'no "invoice" object with a "guid"'
    if not isinstance(data.get("rows"), list):
        return 'no "rows" list (the invoice rows, as GET /v1/invoices/{guid}/invoicerows gives them)'
    return None


def routing_facts(data: dict) -> dict[str, list[str]]:
    """What routes an invoice to a Maventa account: the company that issued it (its VAT number, as the
    invoice names its sender) and the business unit that numbered it."""
    invoice = _dict(data.get("invoice"))
    facts = {
        "company": [_text(invoice.get("senderVatNumber")).replace(" ", "").upper()],
        "business_unit": [_text(invoice.get("invoiceNumberBusinessUnitGuid"))],
    }
    return {name: [v for v in values if v] for name, values in facts.items() if any(values)}


def _zero_category(country_settings: Any) -> tuple[str, str]:
    """The EN 16931 category and exemption reason for a 0 % line, from the customer's country settings."""
    rows = country_settings if isinstance(country_settings, list) else [country_settings]
    for row in rows:
        row = _dict(row)
        code = _text(row.get("zeroVatCategoryCodeEn16931")).upper()
        if code or row.get("isTaxFree"):
            return code or ZERO_RATED, _text(row.get("taxFreeDescription"))
    return ZERO_RATED, ""


def _line(row: dict, number: int, category: str, problems: list, *, reverse: bool) -> SaleLine | None:
    """A row at its own rate; the customer's zero category (a tax-free country setting) names only its 0 %
    rows: a row Severa taxes is taxed, and only a reverse-charged invoice puts every row in AE."""
    where = Text("row %(number)s (%(name)s)", number=number, name=_text(row.get("description")) or "?")
    quantity = _amount(row.get("quantity"))
    price = _amount(row.get("unitPrice"))
    rate = _amount(row.get("vatRate"))
    for field, value in (("quantity", quantity), ("unitPrice", price), ("vatRate", rate)):
        if value is None:
            problems.append(
                Text("Severa's %(field)s of %(where)s is not a number.", field=field, where=where)
            )
    if quantity is None or price is None or rate is None:
        return None
    codes = row.get("code") if isinstance(row.get("code"), list) else []
    code = next((_text(c) for c in codes if _text(c)), "") or _text(row.get("category"))
    if category == REVERSE_CHARGE and reverse:
        tax_rate, tax_category = ZERO, REVERSE_CHARGE
    elif rate == 0:
        tax_rate, tax_category = ZERO, category
    else:
        tax_rate, tax_category = rate / HUNDRED, STANDARD
    return SaleLine(
        key=_text(row.get("guid")) or str(number),
        item_code=code,
        name=_text(row.get("description")),
        quantity=quantity,
        unit_price=price,
        unit=_text(row.get("measurementUnit")),
        tax_rate=tax_rate,
        tax_category=tax_category,
        sku=code,
        product_type=_text(row.get("rowType")),
    )


def _buyer(invoice: dict, customer: dict) -> Buyer:
    address = _dict(invoice.get("receiverAddress")) or _dict(customer.get("headquarterAddress"))
    parts = [
        _text(address.get("addressline")),
        " ".join(p for p in (_text(address.get("postalCode")), _text(address.get("city"))) if p),
        _text(address.get("country")),
    ]
    email = _text(invoice.get("receiverContactEmail")) or _text(customer.get("email"))
    return Buyer(
        code=_text(customer.get("guid")) or _text(_dict(invoice.get("customer")).get("guid")),
        name=_text(invoice.get("receiverContactName")),
        legal_name=_text(invoice.get("receiverCustomerName")) or _text(customer.get("name")),
        tax_code=(_text(invoice.get("receiverVatNumber")) or _text(customer.get("vatNumber"))).replace(
            " ", ""
        ),
        address=", ".join(p for p in parts if p),
        email=email,
        invoice_email=_text(customer.get("email")),
        origin={"tax_code": "receiverVatNumber", "email": "receiverContactEmail"},
    )


def read_invoice(data: dict) -> Sale:
    """The sale a Severa invoice (or credit note) describes."""
    invoice = _dict(data.get("invoice"))
    customer = _dict(data.get("customer"))
    settings = _dict(data.get("invoiceSettings"))
    problems: list[Text] = []
    reverse = bool(settings.get("isReverseCharged"))
    zero_category, _reason = _zero_category(data.get("customerCountrySettings"))
    category = REVERSE_CHARGE if reverse else zero_category
    given = data.get("rows") if isinstance(data.get("rows"), list) else []
    rows = [r for r in given if isinstance(r, dict)]
    rows.sort(key=lambda r: _amount(r.get("sortOrder")) or ZERO)
    read = (_line(row, n, category, problems, reverse=reverse) for n, row in enumerate(rows, start=1))
    lines = tuple(line for line in read if line is not None)
    if not rows:
        problems.append(Text("The Severa invoice has no rows."))
    currency = _text(_dict(invoice.get("currency")).get("code")) or _text(
        _dict(invoice.get("totalIncludingTax")).get("currencyCode")
    )
    if not currency:
        problems.append(Text("Severa's invoice gives no currency (currency.code)."))
    paid = _amount(invoice.get("totalIncludingTax"))
    tax = _amount(invoice.get("totalTax"))
    status = _dict(invoice.get("status"))
    credited = _dict(invoice.get("creditNoteInvoice"))
    return Sale(
        source_id=_text(invoice.get("guid")),
        label=invoice_label(invoice),
        currency=currency,
        prices_include_tax=False,
        status=SaleStatus(payment="paid" if status.get("isPaid") else "", channel="severa"),
        lines=lines,
        charges=(),
        discounts=(),
        buyer=_buyer(invoice, customer),
        totals=SourceTotals(
            lines=sum((line.list_value for line in lines), ZERO),
            tax=tax if tax is not None else ZERO,
            paid=paid,
            tax_on_top=True,
        ),
        routing={name: tuple(values) for name, values in routing_facts(data).items()},
        created_at=_moment(invoice.get("entryDate")) or _moment(invoice.get("date")),
        updated_at=_moment(invoice.get("lastUpdatedDateTime")),
        document_type="credit_note" if invoice.get("isCreditNote") else "sale",
        corrects=_text(credited.get("guid")) or _text(credited.get("number")),
        due_date=_date(invoice.get("dueDate")),
        payment_reference=_text(invoice.get("referenceNumber")),
        problems=tuple(problems),
        paid_problem=None if paid is not None else Text("totalIncludingTax is missing"),
        tax_problem=None if tax is not None else Text("totalTax is missing"),
    )


# Country names as Severa writes them in addresses (English, and the Nordic languages' own names) → ISO
# 3166-1 alpha-2. Severa's addresses carry a name, never a code (reference §3); a code given is kept.
COUNTRIES = {
    "sweden": "SE", "sverige": "SE", "ruotsi": "SE",
    "finland": "FI", "suomi": "FI",
    "norway": "NO", "norge": "NO", "norja": "NO",
    "denmark": "DK", "danmark": "DK", "tanska": "DK",
    "iceland": "IS", "ísland": "IS",
    "estonia": "EE", "eesti": "EE", "viro": "EE",
    "germany": "DE", "deutschland": "DE", "tyskland": "DE", "saksa": "DE",
    "netherlands": "NL", "nederland": "NL", "the netherlands": "NL",
    "belgium": "BE", "france": "FR", "spain": "ES", "italy": "IT", "poland": "PL", "austria": "AT",
    "ireland": "IE", "latvia": "LV", "lithuania": "LT", "united kingdom": "GB",
    "united states": "US",
}  # fmt: skip


def country_code(value: Any) -> str:
    """ISO alpha-2 of a country as Severa gives it (a name, a code, or ``{code2|code, name}``); "" unknown."""
    if isinstance(value, dict):
        return country_code(value.get("code2") or value.get("code") or value.get("name"))
    text = _text(value)
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return COUNTRIES.get(text.casefold(), "")


def _party_address(address: dict) -> dict:
    return {
        "street": _text(address.get("addressline")),
        "postal_code": _text(address.get("postalCode")),
        "city": _text(address.get("city")),
        "country": country_code(address.get("country")),
    }


def invoice_facts(data: dict) -> dict:
    """What an e-invoice needs of a Severa invoice beyond its sale, in neutral names: the seller and the
    buyer as the invoice names them, the buyer's e-invoice address and operator, the references and dates.
    JSON-able, for the target and its preview."""
    invoice = _dict(data.get("invoice"))
    customer = _dict(data.get("customer"))
    settings = _dict(data.get("invoiceSettings"))
    buyer_address = _dict(invoice.get("receiverAddress")) or _dict(customer.get("headquarterAddress"))
    buyer_place = _party_address(buyer_address)
    if not buyer_place["country"]:
        buyer_place["country"] = country_code(customer.get("country"))
    _category, reason = _zero_category(data.get("customerCountrySettings"))
    credited = _dict(invoice.get("creditNoteInvoice"))
    language = _text(_dict(invoice.get("language")).get("code")) or _text(invoice.get("culture"))
    return {
        "number": invoice_label(invoice),
        "issue_date": _text(invoice.get("date"))[:10],
        "due_date": _text(invoice.get("dueDate"))[:10],
        "buyer_reference": _text(invoice.get("yourReference")),
        "order_reference": _text(invoice.get("orderNumber")),
        "credit_note": bool(invoice.get("isCreditNote")),
        "corrects_number": _text(credited.get("number")),
        "reverse_charge": bool(settings.get("isReverseCharged")),
        "reverse_charge_reason": _text(settings.get("reverseChargeDescription")),
        "exemption_reason": reason,
        "payment_term_days": _text(invoice.get("paymentTerm")),
        "language": language[:2].upper(),
        "seller": {
            "name": _text(invoice.get("senderName")),
            "vat_number": _text(invoice.get("senderVatNumber")).replace(" ", "").upper(),
            "contact": _text(invoice.get("senderContactName")),
            **_party_address(_dict(invoice.get("senderAddress"))),
        },
        "buyer": {
            "name": _text(invoice.get("receiverCustomerName")) or _text(customer.get("name")),
            "vat_number": (_text(invoice.get("receiverVatNumber")) or _text(customer.get("vatNumber")))
            .replace(" ", "")
            .upper(),
            "email": _text(invoice.get("receiverContactEmail")) or _text(customer.get("email")),
            "einvoice_address": _text(customer.get("eInvoiceAddress")).replace(" ", ""),
            "einvoice_operator": _text(customer.get("eInvoiceOperator")).replace(" ", ""),
            "contact": _text(invoice.get("receiverContactName")),
            **buyer_place,
        },
    }
