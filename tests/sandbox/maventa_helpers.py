"""Shared pieces of the Maventa simulator tests: an in-process client, UBL documents and multipart bodies."""

import io
import json
import zipfile
from urllib.parse import urlencode

import pytest
from urllib3 import encode_multipart_formdata

from sandbox.core import Request
from sandbox.maventa import (
    CUSTOMIZATION_ID,
    DEMO_COMPANIES,
    DEMO_VENDOR_API_KEY,
    PROFILE_ID,
    MaventaSimulator,
)
from sandbox.server import SandboxApp

SE = DEMO_COMPANIES[0]  # Demokonsult AB
FI = DEMO_COMPANIES[1]  # Demokonsult Oy


def ubl(
    *,
    root="Invoice",
    number="INV-1",
    buyer_endpoint=("0007", "5560123456"),
    buyer_bid="5560123456",
    buyer_name="Nordvik Konsult AB",
    buyer_email=None,
    buyer_street="Storgatan 1",
    customization=CUSTOMIZATION_ID,
    drop=(),
) -> bytes:
    """A small PEPPOL BIS 3 invoice (or credit note); ``drop`` leaves out elements by name."""
    line = "InvoiceLine" if root == "Invoice" else "CreditNoteLine"
    qty = "InvoicedQuantity" if root == "Invoice" else "CreditedQuantity"
    type_code = (
        "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>"
        if root == "Invoice"
        else "<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>"
    )
    endpoint = (
        f'<cbc:EndpointID schemeID="{buyer_endpoint[0]}">{buyer_endpoint[1]}</cbc:EndpointID>'
        if buyer_endpoint
        else ""
    )
    pieces = {
        "CustomizationID": f"<cbc:CustomizationID>{customization}</cbc:CustomizationID>",
        "ProfileID": f"<cbc:ProfileID>{PROFILE_ID}</cbc:ProfileID>",
        "ID": f"<cbc:ID>{number}</cbc:ID>",
        "IssueDate": "<cbc:IssueDate>2026-03-01</cbc:IssueDate>",
        "DueDate": "<cbc:DueDate>2026-03-31</cbc:DueDate>" if root == "Invoice" else "",
        "TypeCode": type_code,
        "DocumentCurrencyCode": "<cbc:DocumentCurrencyCode>SEK</cbc:DocumentCurrencyCode>",
        "BuyerReference": "<cbc:BuyerReference>Anna</cbc:BuyerReference>",
        "AccountingSupplierParty": (
            "<cac:AccountingSupplierParty><cac:Party>"
            '<cbc:EndpointID schemeID="0007">5566778899</cbc:EndpointID>'
            "<cac:PartyLegalEntity><cbc:RegistrationName>Demokonsult AB</cbc:RegistrationName>"
            "<cbc:CompanyID>5566778899</cbc:CompanyID></cac:PartyLegalEntity>"
            "</cac:Party></cac:AccountingSupplierParty>"
        ),
        "AccountingCustomerParty": (
            f"<cac:AccountingCustomerParty><cac:Party>{endpoint}"
            + (
                f"<cac:PostalAddress><cbc:StreetName>{buyer_street}</cbc:StreetName>"
                "<cac:Country><cbc:IdentificationCode>SE</cbc:IdentificationCode></cac:Country></cac:PostalAddress>"
                if buyer_street
                else ""
            )
            + f"<cac:PartyLegalEntity><cbc:RegistrationName>{buyer_name}</cbc:RegistrationName>"
            + (f"<cbc:CompanyID>{buyer_bid}</cbc:CompanyID>" if buyer_bid else "")
            + "</cac:PartyLegalEntity>"
            + (
                f"<cac:Contact><cbc:ElectronicMail>{buyer_email}</cbc:ElectronicMail></cac:Contact>"
                if buyer_email
                else ""
            )
            + "</cac:Party></cac:AccountingCustomerParty>"
        ),
        "PaymentMeans": (
            "<cac:PaymentMeans><cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>"
            "<cbc:PaymentID>1234567890</cbc:PaymentID></cac:PaymentMeans>"
        ),
        "TaxTotal": '<cac:TaxTotal><cbc:TaxAmount currencyID="SEK">250.00</cbc:TaxAmount></cac:TaxTotal>',
        "LegalMonetaryTotal": (
            "<cac:LegalMonetaryTotal>"
            '<cbc:LineExtensionAmount currencyID="SEK">1000.00</cbc:LineExtensionAmount>'
            '<cbc:TaxExclusiveAmount currencyID="SEK">1000.00</cbc:TaxExclusiveAmount>'
            '<cbc:TaxInclusiveAmount currencyID="SEK">1250.00</cbc:TaxInclusiveAmount>'
            '<cbc:PayableAmount currencyID="SEK">1250.00</cbc:PayableAmount>'
            "</cac:LegalMonetaryTotal>"
        ),
        "Line": (
            f'<cac:{line}><cbc:ID>1</cbc:ID><cbc:{qty} unitCode="HUR">10</cbc:{qty}>'
            f'<cbc:LineExtensionAmount currencyID="SEK">1000.00</cbc:LineExtensionAmount></cac:{line}>'
        ),
    }
    body = "".join(v for k, v in pieces.items() if k not in drop)
    ns = f"urn:oasis:names:specification:ubl:schema:xsd:{root}-2"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{ns}" '
        'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
        f'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">{body}</{root}>'
    ).encode()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class Maventa:
    """Calls the Maventa simulator in-process as a client would."""

    def __init__(self, app: SandboxApp, sim: MaventaSimulator):
        self.app = app
        self.sim = sim

    def raw(self, method, path, *, body=b"", headers=None, query=None):
        q = {k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in (query or {}).items()}
        return self.app.handle(Request(method, "/maventa" + path, q, headers or {}, body))

    def token_response(self, company=SE, api_key=None, vendor=DEMO_VENDOR_API_KEY, scope=None, **extra):
        form = {
            "grant_type": "client_credentials",
            "client_id": company["id"] if isinstance(company, dict) else company,
            "client_secret": api_key or (company["api_key"] if isinstance(company, dict) else ""),
            "vendor_api_key": vendor,
            **({"scope": scope} if scope is not None else {}),
            **extra,
        }
        return self.raw(
            "POST",
            "/oauth2/token",
            body=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def token(self, company=SE, **kw):
        resp = self.token_response(company, **kw)
        assert resp.status == 200, resp.text
        return resp.json()["access_token"]

    def api(self, method, path, token, *, body=None, query=None, headers=None):
        hdrs = {"Authorization": f"Bearer {token}", **(headers or {})}
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        return self.raw(method, path, body=data, headers=hdrs, query=query)

    def multipart(self, method, path, fields, token=None):
        body, content_type = encode_multipart_formdata(fields)
        headers = {"Content-Type": content_type}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.raw(method, path, body=body, headers=headers)

    def send(self, token, xml=None, *, filename="invoice.xml", fmt="PEPPOLBIS30", **fields):
        parts = [("file", (filename, ubl() if xml is None else xml, "application/octet-stream"))]
        if fmt is not None:
            parts.append(("format", fmt))
        for name, value in fields.items():
            for item in value if isinstance(value, list) else [value]:
                parts.append((name, item))
        return self.multipart("POST", "/v1/invoices", parts, token)

    def control(self, method, name, body=None, query=None):
        data = json.dumps(body).encode() if body is not None else b""
        return self.raw(method, "/_sandbox/" + name, body=data, query=query)


@pytest.fixture
def maventa_sim(clock):
    """The demo companies and directory; the signatory never signs by themselves (tests sign)."""
    simulator = MaventaSimulator(seed=3, clock=clock, now=clock.wall)
    simulator.set_knobs(auto_sign=False)
    yield simulator
    simulator.close()


@pytest.fixture
def maventa(maventa_sim):
    return Maventa(SandboxApp({"/maventa": maventa_sim}), maventa_sim)
