"""A source-neutral sale → a PEPPOL BIS Billing 3.0 UBL 2.1 document (pure: no database, no HTTP).

``sale_to_ubl(sale, seller, buyer, options)`` returns the XML bytes of an ``Invoice`` (type 380) or, when
``sale.document_type == "credit_note"``, a ``CreditNote`` (type 381) referencing ``sale.corrects`` in
``cac:BillingReference``. What it cannot build it raises as ``ConversionError`` (a ``Text`` a person reads);
what it builds is checked by ``maventa.validate`` before anything is sent.

Readings chosen where the sources leave room (see ``shared/reference/maventa-severa.md`` §4–§5):

- Prices are net (Severa's are; BIS prices are net): a sale priced VAT included is refused.
- Line net = quantity × unit price rounded half-up to 2 decimals, minus the line's discounts (sent as a line
  allowance); VAT is computed per (category, rate) group on the group's taxable amount and rounded once per
  group (BR-CO-17), never per line. Charges (shipping, fees) become invoice lines of quantity 1.
- A credit note keeps its amounts positive: when a source gives a credit note's lines negative in total
  (how Severa signs them is unconfirmed), every quantity is flipped; prices stay positive (BR-27).
- Seller and buyer endpoints: an explicit ``Party.endpoint`` ("scheme:value") wins; else a Swedish party is
  ``0007:<orgnr>`` and a Finnish one ``0216:<OVT>`` (its OVT, or ``0037`` + Y-tunnus digits when none is
  given). ``0037:<Y-tunnus digits>`` (the legacy scheme) is accepted when given explicitly.
- The Swedish F-tax approval is the seller's second ``PartyTaxScheme`` (CompanyID "Godkänd för F-skatt",
  TaxScheme "TAX"), the form PEPPOL rule SE-R-005 reads; it is written for every Swedish seller with
  ``f_tax_approved`` (the default).
- Cash rounding (Severa ``currencyRoundingType`` NearestInteger) goes to ``PayableRoundingAmount`` (BR-CO-16).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from connectors.sale import Sale
from connectors.text import Text

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
F_TAX_NOTE = "Godkänd för F-skatt"

NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
CAC = f"{{{NS['cac']}}}"
CBC = f"{{{NS['cbc']}}}"

CENT = Decimal("0.01")
ZERO = Decimal(0)
HUNDRED = Decimal(100)

# EN 16931 VAT categories this generator writes, and the exemption reason each one needs (BR-x-10);
# S and Z must carry none.
CATEGORIES = ("S", "Z", "E", "AE", "K", "G", "O")
DEFAULT_EXEMPTION = {
    "AE": ("VATEX-EU-AE", "Reverse charge"),
    "K": ("VATEX-EU-IC", "Intra-Community supply"),
    "G": ("VATEX-EU-G", "Export outside the EU"),
    "O": ("VATEX-EU-O", "Not subject to VAT"),
}

# A source's free-text unit → UN/ECE Recommendation 20 (anything else: C62, "one").
UNITS = {
    "h": "HUR",
    "hr": "HUR",
    "hour": "HUR",
    "hours": "HUR",
    "tim": "HUR",
    "timme": "HUR",
    "timmar": "HUR",
    "t": "HUR",
    "tunti": "HUR",
    "tuntia": "HUR",
    "d": "DAY",
    "day": "DAY",
    "days": "DAY",
    "dag": "DAY",
    "dagar": "DAY",
    "pv": "DAY",
    "päivä": "DAY",
    "km": "KMT",
    "kg": "KGM",
    "month": "MON",
    "mån": "MON",
    "kk": "MON",
    "pcs": "H87",
    "st": "H87",
    "kpl": "H87",
}


class ConversionError(Exception):
    """The sale cannot become a BIS 3 document; ``text`` says why, for a person."""

    def __init__(self, text: Text):
        super().__init__(text.english())
        self.text = text


@dataclass(frozen=True)
class Party:
    """The seller or the buyer as the e-invoice names them.

    ``org_number``: a Swedish organisationsnummer (10 digits, dash allowed) or a Finnish Y-tunnus
    (NNNNNNN-C); ``vat_number`` as registered (SE…01, FI…); ``ovt``: a Finnish e-invoice address
    (0037 + Y-tunnus digits + optional suffix); ``endpoint``: "scheme:value" overriding the derived one.
    """

    name: str
    country: str  # ISO 3166-1 alpha-2
    org_number: str = ""
    vat_number: str = ""
    ovt: str = ""
    endpoint: str = ""
    street: str = ""
    city: str = ""
    postal_code: str = ""
    email: str = ""
    f_tax_approved: bool = True  # a Swedish seller approved for F-skatt

    def endpoint_id(self) -> tuple[str, str]:
        """(EAS scheme, value) of the party's electronic address ("", "") when nothing says one."""
        if self.endpoint:
            scheme, _, value = self.endpoint.partition(":")
            return scheme.strip(), value.strip()
        digits = "".join(ch for ch in self.org_number if ch.isdigit())
        if self.country == "SE" and digits:
            return "0007", digits
        if self.country == "FI" and (self.ovt or digits):
            return "0216", self.ovt or "0037" + digits
        return "", ""

    def legal_id(self) -> str:
        """The registration number as BT-30/BT-47 carry it: SE digits only, FI with its dash."""
        if self.country == "SE":
            return "".join(ch for ch in self.org_number if ch.isdigit())
        return self.org_number.strip()


@dataclass(frozen=True)
class PaymentAccount:
    """Where the buyer pays: ``kind`` "bankgiro" | "plusgiro" | "iban"."""

    kind: str
    account: str
    bic: str = ""


@dataclass(frozen=True)
class Options:
    """What the invoice needs beyond the sale (from the source's invoice and customer settings)."""

    issue_date: dt.date | None = None  # default: the sale's creation date
    number: str = ""  # the invoice number; default: the sale's label
    buyer_reference: str = ""  # BT-10 (Severa yourReference)
    order_reference: str = ""  # BT-13 (Severa orderNumber)
    corrects_issue_date: dt.date | None = None  # the credited invoice's date
    reverse_charge: bool = False  # every line AE
    reverse_charge_reason: str = ""  # default "Reverse charge"
    zero_vat_category: str = "Z"  # the category of 0 % lines without one of their own (Z, E, K, G, O)
    exemption_reason: str = ""  # BT-120 for E/K/G/O (E has no default)
    exemption_reason_code: str = ""  # BT-121 (VATEX-…)
    delivery_date: dt.date | None = None  # for K (BR-IC-11); default: the issue date
    payment: PaymentAccount | None = None
    payment_terms: str = ""
    cash_rounding: Decimal | None = None  # e.g. Decimal(1): the payable amount in whole units
    tax_currency: str = ""  # the seller's VAT accounting currency when it differs (BT-6)
    tax_currency_rate: Decimal | None = None  # document currency → tax currency


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def percent_of(rate: Decimal) -> Decimal:
    """0.25 → 25, 0.125 → 12.5 (a source rate is a fraction)."""
    value = (rate * HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP).normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral() else value


def text(value: Decimal) -> str:
    return format(value, "f")


@dataclass(frozen=True)
class _Line:
    name: str
    item_code: str
    quantity: Decimal
    price: Decimal
    allowance: Decimal
    net: Decimal
    unit: str
    category: str
    percent: Decimal


@dataclass(frozen=True)
class Group:
    """One TaxSubtotal: lines of the same category and rate."""

    category: str
    percent: Decimal
    taxable: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Totals:
    lines: Decimal
    tax_exclusive: Decimal
    tax: Decimal
    tax_inclusive: Decimal
    rounding: Decimal
    payable: Decimal
    groups: tuple[Group, ...]


def _category(rate: Decimal, own: str, options: Options) -> str:
    if options.reverse_charge:
        return "AE"
    if own in CATEGORIES:
        return own
    return "S" if rate > 0 else options.zero_vat_category


def _lines(sale: Sale, options: Options) -> list[_Line]:
    sign = Decimal(1)
    if sale.document_type == "credit_note":
        total = sum((line.amount for line in sale.lines), ZERO) + sum((c.net for c in sale.charges), ZERO)
        sign = Decimal(-1) if total < 0 else sign
    out = []
    for line in sale.lines:
        if line.tax_rate is None:
            raise ConversionError(
                Text("Line %(name)s of %(label)s has no VAT rate.", name=line.name, label=sale.label)
            )
        if line.unit_price < 0:
            raise ConversionError(
                Text("Line %(name)s of %(label)s has a negative price.", name=line.name, label=sale.label)
            )
        quantity = line.quantity * sign
        allowance = (line.line_discount + line.order_discount) * sign
        category = _category(line.tax_rate, line.tax_category, options)
        percent = percent_of(line.tax_rate) if category == "S" else ZERO
        out.append(
            _Line(
                name=line.name.strip() or line.item_code or line.key,
                item_code=line.item_code,
                quantity=quantity,
                price=line.unit_price,
                allowance=money(allowance),
                net=money(quantity * line.unit_price) - money(allowance),
                unit=UNITS.get(line.unit.strip().lower().rstrip("."), "C62"),
                category=category,
                percent=percent,
            )
        )
    for charge in sale.charges:
        net = charge.net * sign
        rate = charge.tax_rate if charge.tax_rate is not None else ZERO
        category = _category(rate, "", options)
        out.append(
            _Line(
                name=charge.name.strip() or charge.kind,
                item_code=charge.code,
                quantity=Decimal(1) if net >= 0 else Decimal(-1),
                price=abs(net),
                allowance=ZERO,
                net=money(net),
                unit="C62",
                category=category,
                percent=percent_of(rate) if category == "S" else ZERO,
            )
        )
    return out


def totals(lines: Iterable[_Line], options: Options) -> Totals:
    """BR-CO-10…16 by construction: sums of rounded amounts, VAT rounded once per group."""
    lines = list(lines)
    groups: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        key = (line.category, line.percent)
        groups[key] = groups.get(key, ZERO) + line.net
    subtotals = tuple(
        Group(cat, pct, taxable, money(taxable * pct / HUNDRED)) for (cat, pct), taxable in groups.items()
    )
    line_total = sum((line.net for line in lines), ZERO)
    tax = sum((g.tax for g in subtotals), ZERO)
    inclusive = line_total + tax
    rounding = ZERO
    if options.cash_rounding:
        step = options.cash_rounding
        rounding = (inclusive / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step - inclusive
        rounding = money(rounding)
    return Totals(line_total, line_total, tax, inclusive, rounding, inclusive + rounding, subtotals)


def _el(parent, tag: str, value=None, **attrs):
    node = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v})
    if value is not None:
        node.text = value if isinstance(value, str) else text(value)
    return node


def _amount(parent, tag: str, value: Decimal, currency: str):
    return _el(parent, CBC + tag, text(money(value)), currencyID=currency)


def _party(parent, tag: str, party: Party, *, seller: bool, with_vat: bool):
    wrapper = _el(parent, CAC + tag)
    node = _el(wrapper, CAC + "Party")
    scheme, value = party.endpoint_id()
    if value:
        _el(node, CBC + "EndpointID", value, schemeID=scheme)
    if party.name:
        _el(_el(node, CAC + "PartyName"), CBC + "Name", party.name)
    address = _el(node, CAC + "PostalAddress")
    if party.street:
        _el(address, CBC + "StreetName", party.street)
    if party.city:
        _el(address, CBC + "CityName", party.city)
    if party.postal_code:
        _el(address, CBC + "PostalZone", party.postal_code)
    _el(_el(address, CAC + "Country"), CBC + "IdentificationCode", party.country)
    if party.vat_number and with_vat:
        scheme_node = _el(node, CAC + "PartyTaxScheme")
        _el(scheme_node, CBC + "CompanyID", party.vat_number)
        _el(_el(scheme_node, CAC + "TaxScheme"), CBC + "ID", "VAT")
    if seller and party.country == "SE" and party.f_tax_approved:
        scheme_node = _el(node, CAC + "PartyTaxScheme")
        _el(scheme_node, CBC + "CompanyID", F_TAX_NOTE)
        _el(_el(scheme_node, CAC + "TaxScheme"), CBC + "ID", "TAX")
    legal = _el(node, CAC + "PartyLegalEntity")
    _el(legal, CBC + "RegistrationName", party.name)
    if party.legal_id():
        _el(legal, CBC + "CompanyID", party.legal_id(), schemeID="0007" if party.country == "SE" else "")
    if party.email:
        _el(_el(node, CAC + "Contact"), CBC + "ElectronicMail", party.email)


def _tax_category(parent, tag: str, category: str, percent: Decimal, options: Options, *, reason: bool):
    node = _el(parent, CAC + tag)
    _el(node, CBC + "ID", category)
    if category != "O":
        _el(node, CBC + "Percent", percent)
    if reason and category not in ("S", "Z"):
        code, words = DEFAULT_EXEMPTION.get(category, ("", ""))
        if category == "AE" and options.reverse_charge_reason:
            words = options.reverse_charge_reason
        elif category != "AE":
            code = options.exemption_reason_code or code
            words = options.exemption_reason or words
        if code:
            _el(node, CBC + "TaxExemptionReasonCode", code)
        if words:
            _el(node, CBC + "TaxExemptionReason", words)
    _el(_el(node, CAC + "TaxScheme"), CBC + "ID", "VAT")


def _payment_means(root, sale: Sale, options: Options, due: dt.date | None, credit: bool):
    account = options.payment
    if account is None and not (credit and due):
        return
    node = _el(root, CAC + "PaymentMeans")
    kind = account.kind if account else ""
    code = "58" if kind == "iban" and sale.currency == "EUR" else ("30" if account else "1")
    _el(node, CBC + "PaymentMeansCode", code)
    if credit and due:
        _el(node, CBC + "PaymentDueDate", due.isoformat())
    if sale.payment_reference:
        _el(node, CBC + "PaymentID", sale.payment_reference)
    if account is None:
        return
    payee = _el(node, CAC + "PayeeFinancialAccount")
    number = account.account.replace(" ", "")
    _el(payee, CBC + "ID", number.replace("-", "") if kind != "iban" else number)
    branch = {"bankgiro": "SE:BANKGIRO", "plusgiro": "SE:PLUSGIRO"}.get(kind, account.bic)
    if branch:
        _el(_el(payee, CAC + "FinancialInstitutionBranch"), CBC + "ID", branch)


def _same_total_as_source(sale: Sale, sums: Totals) -> None:
    """The source's total is the truth: an e-invoice whose VAT-inclusive total differs from it (a VAT category
    read wrongly, a row lost) is refused rather than sent. A cent per VAT group is VAT rounded per row at
    the source and once per group here (BR-CO-14)."""
    paid = sale.totals.paid
    if paid is None:
        return
    slack = Decimal("0.01") * len(sums.groups)
    if abs(abs(paid) - abs(sums.tax_inclusive)) > slack:
        raise ConversionError(
            Text(
                "%(label)s would total %(ours)s %(currency)s with VAT, but the source says %(theirs)s: "
                "check each row's VAT rate and the customer's tax settings at the source.",
                label=sale.label,
                ours=text(abs(sums.tax_inclusive)),
                currency=sale.currency.upper(),
                theirs=text(abs(paid)),
            )
        )


def sale_to_ubl(sale: Sale, seller: Party, buyer: Party, options: Options | None = None) -> bytes:
    """The sale as a PEPPOL BIS Billing 3.0 Invoice or CreditNote (UTF-8 XML bytes)."""
    options = options or Options()
    if sale.prices_include_tax:
        raise ConversionError(
            Text("%(label)s is priced VAT included: an e-invoice needs net prices.", label=sale.label)
        )
    if not sale.lines and not sale.charges:
        raise ConversionError(Text("%(label)s has no lines.", label=sale.label))
    credit = sale.document_type == "credit_note"
    currency = sale.currency.upper()
    lines = _lines(sale, options)
    sums = totals(lines, options)
    _same_total_as_source(sale, sums)
    issue = options.issue_date or (sale.created_at.date() if sale.created_at else None)
    if issue is None:
        raise ConversionError(Text("%(label)s has no issue date.", label=sale.label))
    kind = "cn" if credit else "inv"
    root = etree.Element(
        str(etree.QName(NS[kind], "CreditNote" if credit else "Invoice")),
        nsmap={None: NS[kind], "cac": NS["cac"], "cbc": NS["cbc"]},
    )
    _el(root, CBC + "CustomizationID", CUSTOMIZATION_ID)
    _el(root, CBC + "ProfileID", PROFILE_ID)
    _el(root, CBC + "ID", options.number or sale.label)
    _el(root, CBC + "IssueDate", issue.isoformat())
    if not credit and sale.due_date:
        _el(root, CBC + "DueDate", sale.due_date.isoformat())
    _el(root, CBC + ("CreditNoteTypeCode" if credit else "InvoiceTypeCode"), "381" if credit else "380")
    _el(root, CBC + "DocumentCurrencyCode", currency)
    tax_currency = options.tax_currency.upper()
    if tax_currency and tax_currency != currency:
        _el(root, CBC + "TaxCurrencyCode", tax_currency)
    if options.buyer_reference:
        _el(root, CBC + "BuyerReference", options.buyer_reference)
    if options.order_reference:
        _el(_el(root, CAC + "OrderReference"), CBC + "ID", options.order_reference)
    if credit and sale.corrects:
        ref = _el(_el(root, CAC + "BillingReference"), CAC + "InvoiceDocumentReference")
        _el(ref, CBC + "ID", sale.corrects)
        if options.corrects_issue_date:
            _el(ref, CBC + "IssueDate", options.corrects_issue_date.isoformat())
    with_vat = not any(line.category == "O" for line in lines)
    _party(root, "AccountingSupplierParty", seller, seller=True, with_vat=with_vat)
    _party(root, "AccountingCustomerParty", buyer, seller=False, with_vat=with_vat)
    if any(line.category == "K" for line in lines):
        delivery = _el(root, CAC + "Delivery")
        _el(delivery, CBC + "ActualDeliveryDate", (options.delivery_date or issue).isoformat())
        place = _el(_el(delivery, CAC + "DeliveryLocation"), CAC + "Address")
        _el(_el(place, CAC + "Country"), CBC + "IdentificationCode", buyer.country)
    _payment_means(root, sale, options, sale.due_date, credit)
    if options.payment_terms:
        _el(_el(root, CAC + "PaymentTerms"), CBC + "Note", options.payment_terms)
    tax_total = _el(root, CAC + "TaxTotal")
    _amount(tax_total, "TaxAmount", sums.tax, currency)
    for group in sums.groups:
        sub = _el(tax_total, CAC + "TaxSubtotal")
        _amount(sub, "TaxableAmount", group.taxable, currency)
        _amount(sub, "TaxAmount", group.tax, currency)
        _tax_category(sub, "TaxCategory", group.category, group.percent, options, reason=True)
    if tax_currency and tax_currency != currency and options.tax_currency_rate:
        _amount(_el(root, CAC + "TaxTotal"), "TaxAmount", sums.tax * options.tax_currency_rate, tax_currency)
    legal = _el(root, CAC + "LegalMonetaryTotal")
    _amount(legal, "LineExtensionAmount", sums.lines, currency)
    _amount(legal, "TaxExclusiveAmount", sums.tax_exclusive, currency)
    _amount(legal, "TaxInclusiveAmount", sums.tax_inclusive, currency)
    if sums.rounding:
        _amount(legal, "PayableRoundingAmount", sums.rounding, currency)
    _amount(legal, "PayableAmount", sums.payable, currency)
    for number, line in enumerate(lines, start=1):
        node = _el(root, CAC + ("CreditNoteLine" if credit else "InvoiceLine"))
        _el(node, CBC + "ID", str(number))
        _el(
            node,
            CBC + ("CreditedQuantity" if credit else "InvoicedQuantity"),
            line.quantity.normalize() if line.quantity != 0 else Decimal(0),
            unitCode=line.unit,
        )
        _amount(node, "LineExtensionAmount", line.net, currency)
        if line.allowance:
            allowance = _el(node, CAC + "AllowanceCharge")
            _el(allowance, CBC + "ChargeIndicator", "false")
            _el(allowance, CBC + "AllowanceChargeReason", "Discount")
            _amount(allowance, "Amount", line.allowance, currency)
        item = _el(node, CAC + "Item")
        _el(item, CBC + "Name", line.name)
        if line.item_code:
            _el(_el(item, CAC + "SellersItemIdentification"), CBC + "ID", line.item_code)
        _tax_category(item, "ClassifiedTaxCategory", line.category, line.percent, options, reason=False)
        _el(
            _el(node, CAC + "Price"),
            CBC + "PriceAmount",
            line.price.normalize() if line.price else Decimal(0),
            currencyID=currency,
        )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
