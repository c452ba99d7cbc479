"""`preview_invoice` prints, byte for byte, what it printed before the source-neutral redesign.

Every order the tests fed to the meInvoice conversion (``orders/``, captured once from the suite) is
previewed on one fixed connection: two MSTs, a location rule, a catalogue item and a known buyer, a fixed
day. ``preview/`` holds the output of the code as it was before the redesign; any difference is a change
of behaviour. ``UPDATE_GOLDEN=1`` rewrites them: only for a change of behaviour that is meant.
"""

import datetime as dt
import json
import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from connectors.models import BuyerProfile, CatalogItem, RoutingRule
from tests import factories

HERE = Path(__file__).parent
ORDERS = sorted((HERE / "orders").glob("*.json"))
DAY = dt.date(2026, 1, 15)
ORG = "200000001"


@pytest.fixture
def preview_connection(db, monkeypatch):
    tenant = factories.tenant()
    shop = factories.shop(tenant, org_id=ORG)
    conn = factories.connection(tenant, shop, accounts=("0101243150", "0312345673"))
    # A fixed id: the routing explanation names the rule ("Rule #9001 …") whatever ran before.
    RoutingRule.objects.create(
        pk=9001,
        connection=conn,
        dimension="location",
        value="1002",
        priority=10,
        account=conn.accounts.get(external_id="0312345673"),
    )
    for account in conn.accounts.all():
        account.settings = {"series": "1C26TAA"}
        account.save()
    CatalogItem.objects.create(
        tenant=tenant,
        source_kind="haravan",
        source_key=ORG,
        item_id="11",
        sku="AT-01",
        name="Áo thun",
        product_type="Thời trang",
        vendor="Demo",
        tags=["ĐVT:Hộp", "summer"],
        unit="Hộp",
    )
    BuyerProfile.objects.create(
        tenant=tenant,
        source_kind="haravan",
        source_key=ORG,
        buyer_id="2001",
        name="Nguyễn Thị Lan",
        email="lan.profile@example.vn",
        phone="0900000001",
    )
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: DAY)
    return conn


def preview(path: Path) -> str:
    out = StringIO()
    try:
        call_command("preview_invoice", "--org", ORG, str(path), stdout=out)
    except CommandError as exc:
        return f"CommandError: {exc}\n"
    return out.getvalue()


@pytest.mark.parametrize("path", ORDERS, ids=[p.stem for p in ORDERS])
def test_preview_is_byte_identical(preview_connection, path):
    golden = HERE / "preview" / path.name
    printed = preview(path)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(printed, encoding="utf-8")
    assert printed == golden.read_text(encoding="utf-8")


def test_the_corpus_is_the_captured_one():
    assert len(ORDERS) >= 150
    assert all(isinstance(json.loads(p.read_text(encoding="utf-8")), dict) for p in ORDERS)
