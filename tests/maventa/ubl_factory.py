"""Neutral sales, parties and options for the UBL tests (Severa-like: net prices, no discounts)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from connectors.sale import Buyer, Sale, SaleLine, SaleStatus, SourceTotals
from maventa.convert import Options, Party, PaymentAccount

SE_SELLER = Party(
    name="Demokonsult AB",
    country="SE",
    org_number="556677-8899",
    vat_number="SE556677889901",
    street="Drottninggatan 1",
    city="Stockholm",
    postal_code="111 51",
)
FI_SELLER = Party(
    name="Demokonsult Oy",
    country="FI",
    org_number="2345678-0",
    vat_number="FI23456780",
    ovt="003723456780",
    street="Mannerheimintie 1",
    city="Helsinki",
    postal_code="00100",
)
SE_BUYER = Party(
    name="Kund AB",
    country="SE",
    org_number="5560360793",
    vat_number="SE556036079301",
    street="Storgatan 2",
    city="Göteborg",
    postal_code="411 01",
)
FI_BUYER = Party(
    name="Asiakas Oy",
    country="FI",
    org_number="0112038-9",
    vat_number="FI01120389",
    street="Hämeenkatu 3",
    city="Tampere",
    postal_code="33100",
)
DE_BUYER = Party(
    name="Kunde GmbH",
    country="DE",
    vat_number="DE123456789",
    endpoint="9930:DE123456789",
    street="Hauptstraße 4",
    city="Berlin",
    postal_code="10115",
)

BANKGIRO = PaymentAccount("bankgiro", "5050-1055")
IBAN = PaymentAccount("iban", "FI2112345600000785", bic="NDEAFIHH")


def line(name, quantity, price, rate, unit="h", category="") -> SaleLine:
    return SaleLine(
        key=name,
        item_code="",
        name=name,
        quantity=Decimal(quantity),
        unit_price=Decimal(price),
        unit=unit,
        tax_rate=None if rate is None else Decimal(rate),
        tax_category=category,
    )


def sale(
    lines, *, currency="SEK", label="1001", credit_note=False, corrects="", due=dt.date(2026, 12, 31)
) -> Sale:
    return Sale(
        source_id=f"guid-{label}",
        label=label,
        currency=currency,
        prices_include_tax=False,
        status=SaleStatus(),
        lines=tuple(lines),
        charges=(),
        discounts=(),
        buyer=Buyer(),
        totals=SourceTotals(tax_on_top=True),
        created_at=dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC),
        document_type="credit_note" if credit_note else "sale",
        corrects=corrects,
        due_date=due,
        payment_reference="1001",
    )


def options(**kwargs) -> Options:
    kwargs.setdefault("buyer_reference", "Anna Andersson")
    kwargs.setdefault("payment", BANKGIRO)
    return Options(**kwargs)
