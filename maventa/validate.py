"""Validation of a PEPPOL BIS Billing 3.0 UBL document before it is sent (offline, no Java).

``validate(xml) -> Validation`` runs three layers and reports every failed rule with its id:

1. the OASIS UBL 2.1 XSD (``lxml``), rule ``UBL-XSD``;
2. the official CEN EN 16931 UBL business rules (``BR-*``, ``BR-CO-*``, ``BR-S-*`` …), the CEN schematron
   compiled to XSLT 3.0, run with ``saxonche`` — only ``fatal`` assertions make a document invalid, the
   rest are ``warnings``;
3. our own checks for what the PEPPOL BIS 3 overlay and the Swedish/Finnish rules demand and our generator
   could break. The Peppol schematron itself is not used: OpenPeppol grants no redistribution. Where one of
   our checks is a Peppol rule it carries that rule's id (PEPPOL-EN16931-R004, SE-R-005, …); checks with no
   official counterpart are ``LL-*``.

The artefacts are vendored under ``maventa/artefacts/`` (licences next to them); the schemas and the
stylesheet are loaded and compiled once per process. Measured here: the first call compiles the XSLT in
about a second; each document then takes 10–25 ms (see ``tests/maventa/test_ubl.py``). Saxon calls are
serialised by a lock (one compiled stylesheet shared by the process's threads).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from lxml import etree

from connectors.text import Text, verbatim

from .convert import CUSTOMIZATION_ID, F_TAX_NOTE, NS, PROFILE_ID

ARTEFACTS = Path(__file__).resolve().parent / "artefacts"
XSD = {
    "Invoice": ARTEFACTS / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd",
    "CreditNote": ARTEFACTS / "ubl-2.1" / "maindoc" / "UBL-CreditNote-2.1.xsd",
}
CEN_XSLT = ARTEFACTS / "cen" / "CEN-EN16931-UBL.xslt"
SVRL = "http://purl.oclc.org/dsdl/svrl"

# The EAS code list (Peppol BIS v3.0.19) restricted to the schemes this product can meet; 9955 is gone.
ENDPOINT_SCHEMES = {"0007", "0037", "0088", "0096", "0184", "0192", "0208", "0212", "0213", "0216", "9930"}
SE_RATES = {Decimal(25), Decimal(12), Decimal(6)}
CURRENCIES = {"SEK", "EUR", "NOK", "DKK", "USD", "GBP", "CHF", "PLN", "ISK"}


@dataclass(frozen=True)
class Issue:
    rule: str
    message: Text
    location: str = ""


@dataclass(frozen=True)
class Validation:
    valid: bool
    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = field(default=())


# --- identifiers ---------------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """The Luhn check a Swedish organisation number's last digit satisfies."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def se_orgnr_ok(value: str) -> bool:
    digits = value.replace("-", "")
    return len(digits) == 10 and luhn_ok(digits)


def y_tunnus_ok(value: str) -> bool:
    """A Finnish business id NNNNNNN-C (dash optional): mod-11 check digit, weights 7 9 10 5 8 4 2."""
    digits = value.replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        return False
    rest = sum(int(d) * w for d, w in zip(digits[:7], (7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    if rest == 1:
        return False
    return int(digits[7]) == (0 if rest == 0 else 11 - rest)


# --- the three layers ----------------------------------------------------------------------------------


@cache
def _schema(kind: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD[kind])))


_lock = threading.Lock()


@cache
def _cen():
    """(processor, compiled executable), built once; saxonche calls are serialised by ``_lock``."""
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    compiler = processor.new_xslt30_processor()
    return processor, compiler.compile_stylesheet(stylesheet_file=str(CEN_XSLT))


def _xsd_issues(doc: etree._ElementTree, kind: str) -> list[Issue]:
    schema = _schema(kind)
    if schema.validate(doc):
        return []
    return [Issue("UBL-XSD", verbatim(e.message), f"line {e.line}") for e in schema.error_log]


def cen_report(xml: bytes) -> tuple[list[Issue], list[Issue]]:
    """(fatal, warnings) of the CEN EN 16931 rules on the document."""
    with _lock:
        processor, executable = _cen()
        node = processor.parse_xml(xml_text=xml.decode("utf-8"))
        svrl = executable.transform_to_string(xdm_node=node)
    report = etree.fromstring(svrl.encode("utf-8"))
    fatal, warnings = [], []
    for failed in report.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        words = " ".join("".join(failed.itertext()).split())
        issue = Issue(failed.get("id", ""), verbatim(words), failed.get("location", ""))
        (fatal if failed.get("flag", "fatal") == "fatal" else warnings).append(issue)
    return fatal, warnings


def _own_issues(root: etree._Element) -> list[Issue]:
    ns = {"cac": NS["cac"], "cbc": NS["cbc"]}
    issues: list[Issue] = []

    def first(path: str, node=root) -> str:
        found = node.xpath(path, namespaces=ns)
        return found[0].strip() if found else ""

    def add(rule: str, message: Text, location: str = ""):
        issues.append(Issue(rule, message, location))

    if first("cbc:CustomizationID/text()") != CUSTOMIZATION_ID:
        add(
            "PEPPOL-EN16931-R004",
            Text("The document is not declared as PEPPOL BIS Billing 3.0 (CustomizationID)."),
        )
    if first("cbc:ProfileID/text()") != PROFILE_ID:
        add("PEPPOL-EN16931-R007", Text("The document does not name the PEPPOL billing process (ProfileID)."))
    if not first("cbc:BuyerReference/text()") and not first("cac:OrderReference/cbc:ID/text()"):
        add("PEPPOL-EN16931-R003", Text("The invoice needs the buyer's reference or an order number."))

    currency = first("cbc:DocumentCurrencyCode/text()")
    tax_currency = first("cbc:TaxCurrencyCode/text()")
    if currency not in CURRENCIES:
        add("LL-CUR-001", Text("Currency %(currency)s cannot be sent as an e-invoice.", currency=currency))
    for node in root.xpath("//*[@currencyID]"):
        in_tax_total = node.getparent().tag == f"{{{NS['cac']}}}TaxTotal" and not node.getparent().xpath(
            "cac:TaxSubtotal", namespaces=ns
        )
        allowed = {currency, tax_currency} if in_tax_total else {currency}
        if node.get("currencyID") not in allowed:
            add(
                "PEPPOL-EN16931-R051",
                Text(
                    "An amount is in %(found)s, not in the invoice's currency %(currency)s.",
                    found=node.get("currencyID"),
                    currency=currency,
                ),
                root.getroottree().getpath(node),
            )
            break

    seller_country = first(
        "cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode/text()"
    )
    for role, rule in (
        ("AccountingSupplierParty", "PEPPOL-EN16931-R020"),
        ("AccountingCustomerParty", "PEPPOL-EN16931-R010"),
    ):
        party = root.xpath(f"cac:{role}/cac:Party", namespaces=ns)
        who = Text("the seller") if role == "AccountingSupplierParty" else Text("the buyer")
        endpoint = party[0].xpath("cbc:EndpointID", namespaces=ns) if party else []
        if not endpoint or not (endpoint[0].text or "").strip():
            add(
                rule,
                Text("The electronic address (EndpointID) of %(who)s is missing.", who=who),
                f"cac:{role}",
            )
            continue
        scheme, value = endpoint[0].get("schemeID", ""), endpoint[0].text.strip()
        if scheme not in ENDPOINT_SCHEMES:
            add(
                "PEPPOL-EN16931-CL008",
                Text(
                    "The electronic address scheme %(scheme)s of %(who)s is not one Peppol accepts.",
                    scheme=scheme,
                    who=who,
                ),
                f"cac:{role}",
            )
        elif scheme == "0007" and not se_orgnr_ok(value):
            add(
                "PEPPOL-COMMON-R049",
                Text(
                    "%(value)s is not a valid Swedish organisation number (electronic address of %(who)s).",
                    value=value,
                    who=who,
                ),
                f"cac:{role}",
            )
        elif scheme == "0216" and not (
            re.fullmatch(r"0037[0-9]{8}[0-9A-Z]{0,5}", value) and y_tunnus_ok(value[4:12])
        ):
            add(
                "LL-FI-001",
                Text(
                    "%(value)s is not a valid Finnish e-invoice address (OVT) of %(who)s.",
                    value=value,
                    who=who,
                ),
                f"cac:{role}",
            )
        elif scheme == "0037" and not y_tunnus_ok(value):
            add(
                "LL-FI-001",
                Text(
                    "%(value)s is not a valid Finnish business id (Y-tunnus) of %(who)s.",
                    value=value,
                    who=who,
                ),
                f"cac:{role}",
            )
        if not party:
            continue
        country = first("cac:PostalAddress/cac:Country/cbc:IdentificationCode/text()", party[0])
        legal = first("cac:PartyLegalEntity/cbc:CompanyID/text()", party[0])
        vat = first("cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID/text()", party[0])
        if country == "SE" and role == "AccountingSupplierParty":
            if legal and not se_orgnr_ok(legal):
                add(
                    "SE-R-013",
                    Text(
                        "%(value)s is not a valid Swedish organisation number of %(who)s.",
                        value=legal,
                        who=who,
                    ),
                    f"cac:{role}",
                )
            if vat and not re.fullmatch(r"SE[0-9]{10}01", vat):
                add(
                    "SE-R-001",
                    Text("%(value)s is not a Swedish VAT number (SE + 10 digits + 01).", value=vat),
                    f"cac:{role}",
                )
            if F_TAX_NOTE not in party[0].xpath(
                "cac:PartyTaxScheme[cac:TaxScheme/cbc:ID!='VAT']/cbc:CompanyID/text()", namespaces=ns
            ):
                add(
                    "SE-R-005",
                    Text('A Swedish seller must state its F-tax approval ("Godkänd för F-skatt").'),
                    f"cac:{role}",
                )
        if country == "FI" and legal and not y_tunnus_ok(legal):
            add(
                "LL-FI-001",
                Text(
                    "%(value)s is not a valid Finnish business id (Y-tunnus) of %(who)s.",
                    value=legal,
                    who=who,
                ),
                f"cac:{role}",
            )

    if seller_country == "SE":
        for category in root.xpath(
            "//cac:ClassifiedTaxCategory | //cac:TaxSubtotal/cac:TaxCategory", namespaces=ns
        ):
            percent = first("cbc:Percent/text()", category)
            try:
                rate = Decimal(percent) if percent else None
            except InvalidOperation:
                rate = None
            if first("cbc:ID/text()", category) == "S" and rate not in SE_RATES:
                add(
                    "SE-R-006",
                    Text("%(rate)s %% is not a Swedish VAT rate (25, 12 or 6 %%).", rate=percent),
                    root.getroottree().getpath(category),
                )
                break

    for line in root.xpath("cac:InvoiceLine | cac:CreditNoteLine", namespaces=ns):
        try:
            quantity = Decimal(first("cbc:InvoicedQuantity/text() | cbc:CreditedQuantity/text()", line))
            price = Decimal(first("cac:Price/cbc:PriceAmount/text()", line))
            base = Decimal(first("cac:Price/cbc:BaseQuantity/text()", line) or 1)
            net = Decimal(first("cbc:LineExtensionAmount/text()", line))
            charges = sum(
                (
                    Decimal(a.text)
                    for a in line.xpath(
                        "cac:AllowanceCharge[cbc:ChargeIndicator='true']/cbc:Amount", namespaces=ns
                    )
                ),
                Decimal(0),
            )
            allowances = sum(
                (
                    Decimal(a.text)
                    for a in line.xpath(
                        "cac:AllowanceCharge[cbc:ChargeIndicator='false']/cbc:Amount", namespaces=ns
                    )
                ),
                Decimal(0),
            )
        except (InvalidOperation, TypeError):
            continue  # unreadable numbers: the schema and the CEN rules say so
        if abs(quantity * price / base + charges - allowances - net) > Decimal("0.02"):
            add(
                "PEPPOL-EN16931-R120",
                Text(
                    "Line %(line)s: quantity × price does not make its net amount.",
                    line=first("cbc:ID/text()", line),
                ),
                root.getroottree().getpath(line),
            )
    rounding = first("cac:LegalMonetaryTotal/cbc:PayableRoundingAmount/text()")
    try:
        if rounding and abs(Decimal(rounding)) >= 1:
            add(
                "LL-ROUND-001",
                Text(
                    "The payable amount is rounded by %(amount)s: more than a cash rounding.", amount=rounding
                ),
            )
    except InvalidOperation:
        pass
    return issues


def validate(xml: bytes) -> Validation:
    """Every layer on one document; invalid when any layer has an error."""
    try:
        doc = etree.ElementTree(etree.fromstring(xml))
    except etree.XMLSyntaxError as exc:
        return Validation(False, (Issue("XML", verbatim(str(exc))),))
    root = doc.getroot()
    kind = etree.QName(root).localname
    if kind not in XSD or etree.QName(root).namespace not in (NS["inv"], NS["cn"]):
        return Validation(
            False, (Issue("UBL-XSD", Text("The document is neither a UBL Invoice nor a CreditNote.")),)
        )
    errors = _xsd_issues(doc, kind)
    fatal, warnings = cen_report(xml)
    errors += fatal + _own_issues(root)
    return Validation(not errors, tuple(errors), tuple(warnings))
