"""The AMIS cache serves meInvoice too: a shop with both connections, the meInvoice mapping's
"describe items and buyers as the accounting system does" on — the invoice names items, units and buyers as
the AMIS company the order is routed to does; off — nothing changes. Real models and database, no network."""

from decimal import Decimal

import pytest

from amis import services as amis_services
from amis.models import AmisDictionaryEntry
from connectors.models import Connection, TargetAccount
from connectors.reference import NOT_DECLARED
from meinvoice import services
from meinvoice.models import MeInvoiceTemplate
from meinvoice.preview import preview_order
from syncjobs.models import SyncDocument
from tests import factories
from tests.contracts import AMIS_MAPPING

ORG, SERIES, MST = "200000001", "1C26TAA", "0101243150"


def item(account, code, name, unit="Cái", rate=10, inactive=False):
    return AmisDictionaryEntry.objects.create(
        account=account,
        data_type=2,
        code=code,
        name=name,
        inactive=inactive,
        data={"inventory_item_code": code, "inventory_item_name": name, "unit_name": unit, "tax_rate": rate},
    )


def account_object(account, code, name, tax_code="", address=""):
    return AmisDictionaryEntry.objects.create(
        account=account,
        data_type=1,
        code=code,
        name=name,
        data={
            "account_object_code": code,
            "account_object_name": name,
            "company_tax_code": tax_code,
            "address": address,
        },
    )


@pytest.fixture
def shop(db):
    """A tenant whose shop posts to meInvoice (drafts on one series) and to AMIS: Hà Nội by default,
    HCM for location 1002."""
    tenant = factories.tenant()
    factories.shop(tenant, org_id=ORG)
    meinvoice = Connection.objects.create(
        tenant=tenant, name="Shop → meInvoice", source_kind="haravan", source_key=ORG, target_kind="meinvoice"
    )
    invoicing = TargetAccount.objects.create(
        connection=meinvoice,
        external_id=MST,
        is_default=True,
        name="Công ty Demo",
        credentials={"app_id": "app", "username": "u", "password": "pw"},
        settings={"series": SERIES, "auto_publish": False},
    )
    MeInvoiceTemplate.objects.create(account=invoicing, template_id="t1", inv_series=SERIES)
    amis = Connection.objects.create(
        tenant=tenant, name="Shop → AMIS", source_kind="haravan", source_key=ORG, target_kind="amis"
    )
    hanoi, hcm = (
        TargetAccount.objects.create(
            connection=amis,
            external_id=code,
            is_default=code == "demo-hanoi",
            name=code,
            credentials={"access_code": "demo"},
            settings={"mapping": AMIS_MAPPING},
        )
        for code in ("demo-hanoi", "demo-hcm")
    )
    factories.rule(amis, "location", "1002", "demo-hcm", priority=10)
    item(hcm, "at-01", "Áo thun cotton trắng", unit="Chiếc", rate=10)
    item(hanoi, "AT-01", "Áo thun (Hà Nội)")
    return meinvoice, amis, hanoi, hcm


def switch(connection, on: bool):
    connection.settings = {**connection.settings, "meinvoice": {"describe_as_accounting": on}}
    connection.save()


def evaluated(connection, order) -> dict:
    document = SyncDocument.objects.create(
        connection=connection,
        account=connection.accounts.get(),
        source_type="order",
        source_id=str(order["id"]),
        kind="invoice",
        source_data=order,
    )
    services.evaluate(document)
    document.refresh_from_db()
    assert document.state == SyncDocument.State.DRAFT, document.last_error
    return document.payload


def goods(invoice: dict) -> list[tuple]:
    return [
        (d["ItemCode"], d["ItemName"], d["UnitName"], d["VATRateName"])
        for d in invoice["OriginalInvoiceDetail"]
    ]


def test_with_the_switch_on_the_invoice_names_items_as_the_routed_amis_company(shop):
    meinvoice, *_ = shop
    order = factories.paid_order()  # location 1002: AMIS company demo-hcm
    switch(meinvoice, False)
    plain = evaluated(meinvoice, order)
    assert goods(plain) == [("AT-01", "Áo thun", "Cái", "8%")]
    switch(meinvoice, True)
    SyncDocument.objects.all().delete()
    described = evaluated(meinvoice, order)
    assert goods(described) == [("AT-01", "Áo thun cotton trắng", "Chiếc", "8%")]
    assert described["TotalAmount"] == plain["TotalAmount"] == 216000
    preview = preview_order(meinvoice, order)["invoice"]
    assert goods(preview) == goods(described)
    # Routed elsewhere, the other company's words.
    elsewhere = factories.paid_order(location_id=1001)
    assert goods(preview_order(meinvoice, elsewhere)["invoice"])[0][1] == "Áo thun (Hà Nội)"


def test_with_the_switch_off_or_without_an_amis_connection_nothing_changes(shop):
    meinvoice, amis, *_ = shop
    order = factories.paid_order()
    switch(meinvoice, False)
    assert goods(preview_order(meinvoice, order)["invoice"]) == [("AT-01", "Áo thun", "Cái", "8%")]
    switch(meinvoice, True)
    amis.enabled = False
    amis.save()
    assert services.accounting_connections(meinvoice) == []
    assert goods(preview_order(meinvoice, order)["invoice"]) == [("AT-01", "Áo thun", "Cái", "8%")]


def test_a_named_customers_tax_code_and_legal_name_come_from_their_account_object(shop):
    meinvoice, _amis, _hanoi, hcm = shop
    switch(meinvoice, True)
    account_object(hcm, "KH777", "CÔNG TY TNHH KHÁCH BẢY", tax_code=MST, address="7 Tràng Tiền, Hà Nội")
    order = factories.paid_order(customer={"id": 777, "first_name": "Bảy", "last_name": "Nguyễn"})
    invoice = preview_order(meinvoice, order)["invoice"]
    assert (invoice["BuyerTaxCode"], invoice["BuyerLegalName"]) == (MST, "CÔNG TY TNHH KHÁCH BẢY")
    assert invoice["BuyerAddress"] == "7 Tràng Tiền, Hà Nội"
    # A walk-in buyer is never given the walk-in object's words.
    account_object(hcm, "KHACHLE", "Khách lẻ", tax_code="0312345673", address="x")
    walk_in = preview_order(meinvoice, factories.paid_order())["invoice"]
    assert (walk_in["BuyerTaxCode"], walk_in["BuyerLegalName"]) == ("", "")


def test_a_vat_buyers_legal_name_is_the_account_object_with_their_tax_code(shop):
    meinvoice, _amis, _hanoi, hcm = shop
    switch(meinvoice, True)
    account_object(hcm, "KH00001", "CÔNG TY CỔ PHẦN KHÁCH HÀNG MỘT", tax_code=MST)
    attributes = [
        {"name": "vat_tax_code", "value": MST},
        {"name": "vat_company_name", "value": "cty khach hang 1"},
        {"name": "vat_company_address", "value": "1 Phố Huế"},
    ]
    invoice = preview_order(meinvoice, factories.paid_order(note_attributes=attributes))["invoice"]
    assert (invoice["BuyerLegalName"], invoice["BuyerAddress"]) == (
        "CÔNG TY CỔ PHẦN KHÁCH HÀNG MỘT",
        "1 Phố Huế",
    )


# --- the cache read, alone ------------------------------------------------------------------------


def test_reference_facts_reads_only_the_codes_asked_case_insensitively(shop):
    _meinvoice, _amis, hanoi, _hcm = shop
    item(hanoi, "QJ-02", "Quần jean", unit="Chiếc", rate=-2)
    item(hanoi, "MU-03", "Mũ", rate=-1)
    item(hanoi, "OLD-9", "Cũ", inactive=True)
    item(hanoi, "NOT-ASKED", "Không hỏi")
    facts = amis_services.reference_facts(
        hanoi, {"sku-a": "at-01", "qj-02": "QJ-02", "mu-03": "MU-03", "old-9": "OLD-9", "zz": "ZZ"}
    )
    assert facts.source == "AMIS demo-hanoi"
    assert sorted(facts.items) == ["mu-03", "qj-02", "sku-a"]
    assert (facts.item("SKU-A").name, facts.item("SKU-A").tax_rate) == ("Áo thun (Hà Nội)", Decimal("0.1"))
    assert (facts.item("qj-02").tax_rate, facts.item("qj-02").tax_category) == (Decimal(0), NOT_DECLARED)
    assert facts.item("mu-03").tax_rate is None  # −1 is also AMIS's default for an item nobody set
    assert facts.buyer is None and facts.companies == {}


def test_reference_facts_finds_the_buyer_by_code_and_companies_by_an_agreed_tax_code(shop):
    _meinvoice, _amis, hanoi, _hcm = shop
    account_object(hanoi, "KH1", "CÔNG TY A", tax_code=MST)
    account_object(hanoi, "KH2", "Công ty A", tax_code=MST)
    account_object(hanoi, "KH3", "CÔNG TY B", tax_code="0312345673")
    account_object(hanoi, "KH4", "CÔNG TY C", tax_code="0312345673")
    facts = amis_services.reference_facts(hanoi, {}, buyer_code="kh3", tax_codes=[MST, "0312345673", ""])
    assert facts.buyer.code == "KH3" and facts.buyer.tax_code == "0312345673"
    assert list(facts.companies) == [MST]  # B and C disagree on the name of 0312345673: neither
    assert facts.company(MST).code == "KH1"
