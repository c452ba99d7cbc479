"""Maventa's minimum-content check at ``POST /v1/invoices`` (maventa-severa.md §2 "Validation": rejected on
the API), for the one format the simulator reads, PEPPOLBIS30: the file must be a UBL 2.1 ``Invoice`` or
``CreditNote`` carrying the BIS 3 header (CustomizationID and ProfileID of PEPPOL BIS Billing 3.0, ID,
IssueDate, the type code, DocumentCurrencyCode, seller and buyer parties with names, a TaxTotal, the
LegalMonetaryTotal's PayableAmount) and at least one line. What it reads back (number, dates, sums, parties)
fills the invoice Maventa answers with.

Not the schema nor the schematron: Maventa applies those only on the PEPPOL route, later; a buyer without an
``EndpointID`` fails there (``PEPPOL-EN16931-R020``), which ``invoices`` turns into FAILED + ERROR.

Parsed with the standard library (no new dependency); a DOCTYPE is refused outright, so no entity is ever
expanded."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation

NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
INVOICE_TYPE_CODES = frozenset(
    [
        "71",
        "80",
        "82",
        "84",
        "102",
        "218",
        "219",
        "326",
        "331",
        "380",
        "382",
        "383",
        "384",
        "386",
        "388",
        "393",
        "395",
        "553",
        "575",
        "623",
        "780",
        "817",
        "870",
        "875",
        "876",
        "877",
    ]
)
CREDIT_NOTE_TYPE_CODES = frozenset({"381", "396", "81", "83", "532"})


class NotUbl(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _text(node: ET.Element | None, path: str) -> str:
    found = node.find(path, NS) if node is not None else None
    return (found.text or "").strip() if found is not None and found.text else ""


def _amount(text: str) -> str | None:
    try:
        return str(Decimal(text)) if text else None
    except InvalidOperation:
        return None


def _party(root: ET.Element, role: str) -> dict:
    party = root.find(f"cac:{role}/cac:Party", NS)
    endpoint = party.find("cbc:EndpointID", NS) if party is not None else None
    scheme = endpoint.get("schemeID", "") if endpoint is not None else ""
    value = (endpoint.text or "").strip() if endpoint is not None and endpoint.text else ""
    return {
        "present": party is not None,
        "name": _text(party, "cac:PartyLegalEntity/cbc:RegistrationName")
        or _text(party, "cac:PartyName/cbc:Name"),
        "eia": f"{scheme}:{value}" if scheme and value else None,
        "bid": _text(party, "cac:PartyLegalEntity/cbc:CompanyID") or None,
        "vat": _text(party, "cac:PartyTaxScheme/cbc:CompanyID") or None,
        "country": _text(party, "cac:PostalAddress/cac:Country/cbc:IdentificationCode") or None,
        "street": _text(party, "cac:PostalAddress/cbc:StreetName") or None,
        "email": _text(party, "cac:Contact/cbc:ElectronicMail") or None,
    }


def check(data: bytes) -> dict:
    """The document's facts, or ``NotUbl`` with each missing piece in words."""
    head = data[:2048].lstrip()
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise NotUbl(["the XML must not carry a DOCTYPE"])
    if not head.startswith(b"<"):
        raise NotUbl(["the file is not XML"])
    try:
        root = ET.fromstring(data)  # noqa: S314 - no DOCTYPE, so no entities (checked above)
    except ET.ParseError as exc:
        raise NotUbl([f"the XML is not well-formed: {exc}"]) from exc
    if root.tag == f"{{{NS['inv']}}}Invoice":
        kind, line, type_path, codes = "Invoice", "cac:InvoiceLine", "cbc:InvoiceTypeCode", INVOICE_TYPE_CODES
    elif root.tag == f"{{{NS['cn']}}}CreditNote":
        kind, line, type_path, codes = (
            "CreditNote",
            "cac:CreditNoteLine",
            "cbc:CreditNoteTypeCode",
            CREDIT_NOTE_TYPE_CODES,
        )
    else:
        raise NotUbl([f"the root element {root.tag} is not a UBL 2.1 Invoice or CreditNote"])
    problems = []
    if _text(root, "cbc:CustomizationID") != CUSTOMIZATION_ID:
        problems.append("CustomizationID is not PEPPOL BIS Billing 3.0")
    if _text(root, "cbc:ProfileID") != PROFILE_ID:
        problems.append("ProfileID is not urn:fdc:peppol.eu:2017:poacc:billing:01:1.0")
    for path, label in (
        ("cbc:ID", "ID (invoice number)"),
        ("cbc:IssueDate", "IssueDate"),
        ("cbc:DocumentCurrencyCode", "DocumentCurrencyCode"),
    ):
        if not _text(root, path):
            problems.append(f"{label} is missing")
    type_code = _text(root, type_path)
    if type_code not in codes:
        problems.append(f"{type_path.split(':')[1]} {type_code or '(missing)'} is not allowed for a {kind}")
    seller, buyer = _party(root, "AccountingSupplierParty"), _party(root, "AccountingCustomerParty")
    for party, label in ((seller, "AccountingSupplierParty"), (buyer, "AccountingCustomerParty")):
        if not party["present"]:
            problems.append(f"{label} is missing")
        elif not party["name"]:
            problems.append(f"{label} has no name")
    if root.find("cac:TaxTotal/cbc:TaxAmount", NS) is None:
        problems.append("TaxTotal is missing")
    payable = _amount(_text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount"))
    if payable is None:
        problems.append("LegalMonetaryTotal/PayableAmount is missing or not a number")
    if root.find(line, NS) is None:
        problems.append(f"the {kind} has no {line.split(':')[1]}")
    if problems:
        raise NotUbl(problems)
    return {
        "kind": kind,
        "type_code": type_code,
        "number": _text(root, "cbc:ID"),
        "date": _text(root, "cbc:IssueDate"),
        "date_due": _text(root, "cbc:DueDate") or _text(root, "cac:PaymentMeans/cbc:PaymentDueDate") or None,
        "currency": _text(root, "cbc:DocumentCurrencyCode"),
        "sum": _amount(_text(root, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount")) or payable,
        "sum_tax": _amount(_text(root, "cac:TaxTotal/cbc:TaxAmount")),
        "payable": payable,
        "reference": _text(root, "cac:PaymentMeans/cbc:PaymentID") or None,
        "seller": seller,
        "buyer": buyer,
    }
