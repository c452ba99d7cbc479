"""The demo organisation: "Demokonsult AB" (Sweden) with the business unit "Demokonsult Oy",
its own company in Finland; the invoice statuses the Maventa integration is set up with; customers for every
route (PEPPOL id, Finnish OVT + operator, e-mail only, neither); invoices with rows (two VAT rates, a
reverse-charge sale, a credit note).

Fixed GUIDs, so the demo and the tests can name things. Amounts are computed from the rows (Severa's rows
carry no totals: line net = quantity × unit price, maventa-severa.md §3).

Sandbox choices where the reference is silent: a credit note's rows carry **negative quantities** and its
totals are negative (the sign Severa uses is Unconfirmed, §7); the Swedish company's orgnr and the Finnish
company's OVT are not fields of the documented models, so they are only in ``DEMO_COMPANIES`` here (the VAT
numbers, which the API does carry, derive them)."""

from __future__ import annotations

from decimal import Decimal

# Companies (activeCompanies[] of organizationdetails) and their root business units
AB_COMPANY = "5a0c2b8e-0001-4000-8000-000000000001"
OY_COMPANY = "5a0c2b8e-0002-4000-8000-000000000002"
AB_ROOT_BU = "b0000000-0001-4000-8000-000000000001"
AB_STOCKHOLM_BU = "b0000000-0002-4000-8000-000000000002"
OY_ROOT_BU = "b0000000-0003-4000-8000-000000000003"
OY_HELSINKI_BU = "b0000000-0004-4000-8000-000000000004"

DEMO_COMPANIES = {
    AB_COMPANY: {
        "name": "Demokonsult AB",
        "orgnr": "5566778899",
        "vat_number": "SE556677889901",
        "peppol_id": "0007:5566778899",
        "country": "SE",
        "currency": "SEK",
        "root_business_unit": AB_ROOT_BU,
        "address": {
            "addressline": "Sveavägen 44",
            "postalCode": "111 34",
            "city": "Stockholm",
            "state": None,
            "country": "Sweden",
        },
    },
    OY_COMPANY: {
        "name": "Demokonsult Oy",
        "business_id": "2345678-0",
        "vat_number": "FI23456780",
        "ovt": "003723456780",
        "country": "FI",
        "currency": "EUR",
        "root_business_unit": OY_ROOT_BU,
        "address": {
            "addressline": "Aleksanterinkatu 15",
            "postalCode": "00100",
            "city": "Helsinki",
            "state": None,
            "country": "Finland",
        },
    },
}

# Invoice statuses (GET /v1/invoicestatuses)
DRAFT = "5e000000-0001-4000-8000-000000000001"
TO_TRANSFER = "5e000000-0002-4000-8000-000000000002"
TRANSFERRED = "5e000000-0003-4000-8000-000000000003"
TRANSFER_FAILED = "5e000000-0004-4000-8000-000000000004"
SENT = "5e000000-0005-4000-8000-000000000005"
STATUSES = [
    # guid, name, isSent, isDefault, hasInvoiceNumber
    (DRAFT, "Luonnos", False, True, False),
    (TO_TRANSFER, "Valmis lähetettäväksi", False, False, True),
    (TRANSFERRED, "Lähetetty Maventaan", True, False, True),
    (TRANSFER_FAILED, "Siirto epäonnistui", False, False, True),
    (SENT, "Lähetetty", True, False, True),
]

CURRENCIES = {
    "SEK": {
        "guid": "c0000000-0001-4000-8000-000000000001",
        "name": "Swedish krona",
        "code": "SEK",
        "symbol": "kr",
    },
    "EUR": {"guid": "c0000000-0002-4000-8000-000000000002", "name": "Euro", "code": "EUR", "symbol": "€"},
}

# Customers: one per route
PEPPOL_CUSTOMER = "c1000000-0001-4000-8000-000000000001"
OVT_CUSTOMER = "c2000000-0002-4000-8000-000000000002"
EMAIL_CUSTOMER = "c3000000-0003-4000-8000-000000000003"
PRINT_CUSTOMER = "c4000000-0004-4000-8000-000000000004"

SWEDEN = {"name": "Sweden", "code2": "SE", "code3": "SWE"}
FINLAND = {"name": "Finland", "code2": "FI", "code3": "FIN"}


def _address(line: str, postal: str, city: str, country: dict) -> dict:
    return {
        "addressline": line,
        "postalCode": postal,
        "city": city,
        "state": None,
        "country": country["name"],
    }


CUSTOMERS = {
    PEPPOL_CUSTOMER: {
        "name": "Nordisk Handel AB",
        "number": 101,
        "email": "ekonomi@nordiskhandel.example",
        "vatNumber": "SE556012345601",
        "eInvoiceAddress": "0007:5560123456",
        "eInvoiceOperator": None,
        "organizationUnitNumber": None,
        "language": {"code": "sv"},
        "currency": "SEK",
        "headquarterAddress": _address("Storgatan 1", "111 22", "Stockholm", SWEDEN),
        "isInternal": False,
        "country": SWEDEN,
    },
    OVT_CUSTOMER: {
        "name": "Esimerkki Oy",
        "number": 102,
        "email": "laskut@esimerkki.example",
        "vatNumber": "FI76543212",
        "eInvoiceAddress": "003776543212",
        "eInvoiceOperator": "003721291126",
        "organizationUnitNumber": None,
        "language": {"code": "fi"},
        "currency": "EUR",
        "headquarterAddress": _address("Mannerheimintie 10", "00100", "Helsinki", FINLAND),
        "isInternal": False,
        "country": FINLAND,
    },
    EMAIL_CUSTOMER: {
        "name": "Café Lindqvist",
        "number": 103,
        "email": "faktura@lindqvist.example",
        "vatNumber": None,
        "eInvoiceAddress": None,
        "eInvoiceOperator": None,
        "organizationUnitNumber": None,
        "language": {"code": "sv"},
        "currency": "SEK",
        "headquarterAddress": _address("Kungsgatan 5", "411 19", "Göteborg", SWEDEN),
        "isInternal": False,
        "country": SWEDEN,
    },
    PRINT_CUSTOMER: {
        "name": "Erik Svensson",
        "number": 104,
        "email": None,
        "vatNumber": None,
        "eInvoiceAddress": None,
        "eInvoiceOperator": None,
        "organizationUnitNumber": None,
        "language": {"code": "sv"},
        "currency": "SEK",
        "headquarterAddress": _address("Byvägen 3", "820 40", "Järvsö", SWEDEN),
        "isInternal": False,
        "country": SWEDEN,
    },
}

# GET /v1/customers/{guid}/customercountrysettings: the Swedish customer bought from Finland tax-free
COUNTRY_SETTINGS = {
    PEPPOL_CUSTOMER: [
        {
            "country": FINLAND,
            "valueAddedTax": None,
            "isTaxFree": True,
            "taxFreeDescription": "Reverse charge, VAT Directive art. 196",
            "zeroVatCategoryCodeEn16931": "AE",
        }
    ],
}

# Invoices. Rows: (description, quantity, unit, unit price, VAT rate).
INVOICE_TWO_RATES = "1a000000-1001-4000-8000-000000001001"
INVOICE_OVT = "1a000000-5001-4000-8000-000000005001"
INVOICE_EMAIL = "1a000000-1002-4000-8000-000000001002"
INVOICE_REVERSE_CHARGE = "1a000000-5002-4000-8000-000000005002"
CREDIT_NOTE = "1a000000-1003-4000-8000-000000001003"
INVOICE_SENT = "1a000000-1000-4000-8000-000000001000"

D = Decimal
INVOICES = [
    {
        "guid": INVOICE_SENT,
        "number": 1000,
        "company": AB_COMPANY,
        "customer": PRINT_CUSTOMER,
        "status": SENT,
        "rows": [("Rådgivning, mars", D("3"), "h", D("1200.00"), D("25"))],
    },
    {
        "guid": INVOICE_TWO_RATES,
        "number": 1001,
        "company": AB_COMPANY,
        "customer": PEPPOL_CUSTOMER,
        "status": TO_TRANSFER,
        "yourReference": "Anna Berg",
        "orderNumber": "PO-4711",
        "rows": [
            ("Konsultation, april", D("10"), "h", D("1150.00"), D("25")),
            ("Utbildningsmaterial", D("4"), "st", D("249.50"), D("12")),
        ],
    },
    {
        "guid": INVOICE_EMAIL,
        "number": 1002,
        "company": AB_COMPANY,
        "customer": EMAIL_CUSTOMER,
        "status": DRAFT,
        "yourReference": "Maja Lindqvist",  # PEPPOL-EN16931-R003 wants a buyer reference or an order number
        "rows": [("Workshop", D("1"), "st", D("8500.00"), D("25"))],
    },
    {
        "guid": CREDIT_NOTE,
        "number": 1003,
        "company": AB_COMPANY,
        "customer": PEPPOL_CUSTOMER,
        "status": TO_TRANSFER,
        "credit_note_of": INVOICE_TWO_RATES,
        "yourReference": "Anna Berg",
        "rows": [("Konsultation, april (kreditering)", D("-2"), "h", D("1150.00"), D("25"))],
    },
    {
        "guid": INVOICE_OVT,
        "number": 5001,
        "company": OY_COMPANY,
        "customer": OVT_CUSTOMER,
        "status": TO_TRANSFER,
        "yourReference": "Matti Virtanen",
        "rows": [
            ("Konsultointi, huhtikuu", D("7.5"), "h", D("120.00"), D("25.5")),
            ("Matkakulut", D("1"), "kpl", D("86.40"), D("25.5")),
        ],
    },
    {
        "guid": INVOICE_REVERSE_CHARGE,
        "number": 5002,
        "company": OY_COMPANY,
        "customer": PEPPOL_CUSTOMER,
        "status": TO_TRANSFER,
        "orderNumber": "PO-4712",
        "reverse_charge": True,
        "rows": [("Projektledning", D("12"), "h", D("135.00"), D("0"))],
    },
]

# What the generator drafts and moves to "to transfer" (``POST /_sandbox/generate {count, mix}``): a template
# per route and VAT case, named; the default mix is the four demo invoices above that are not a credit note
# and not sent, in that order (one each in turn).
_BY_GUID = {spec["guid"]: spec for spec in INVOICES}
GENERATOR_TEMPLATES = {
    "peppol": _BY_GUID[INVOICE_TWO_RATES],  # AB → a Swedish PEPPOL id, two rates
    # AB → a customer with an e-mail address only; with the buyer's reference a BIS 3 invoice needs
    # (PEPPOL-EN16931-R003: a buyer reference or an order reference), which the demo draft lacks
    "email": {**_BY_GUID[INVOICE_EMAIL], "yourReference": "Lena Lindqvist"},
    "ovt": _BY_GUID[INVOICE_OVT],  # Oy → a Finnish OVT with its operator
    "reverse_charge": _BY_GUID[INVOICE_REVERSE_CHARGE],  # Oy → the Swedish PEPPOL customer, reverse charge
    "print": {  # AB → a consumer with neither an e-invoice address nor an e-mail address
        "company": AB_COMPANY,
        "customer": PRINT_CUSTOMER,
        "yourReference": "Erik Svensson",
        "rows": [
            ("Rådgivning", D("3"), "h", D("1200.00"), D("25")),
            ("Rapport", D("1"), "st", D("450.00"), D("6")),
        ],
    },
}
DEFAULT_MIX = {"peppol": 1, "email": 1, "ovt": 1, "reverse_charge": 1}
