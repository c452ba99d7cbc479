"""The shop's catalogue and buyers, cached for conversion; kept current by webhooks."""

import json

import pytest
import responses
from django.test import Client

from connectors.models import BuyerProfile, CatalogItem
from haravan import services
from haravan.signature import sign
from sandbox.haravan import HaravanSimulator
from sandbox.server import SandboxApp
from sandbox.testing import mount
from tests import factories


@pytest.fixture
def shop(db, settings):
    settings.HARAVAN_RATE_CAPACITY = 1000
    tenant = factories.tenant()
    shop = factories.shop(tenant, org_id="200000001", token="demo-token")
    conn = factories.connection(tenant, shop)
    factories.rule(conn, "location", "1002", "0101243150")
    return shop


def test_sync_reads_every_variant_and_customer_from_the_simulator(shop):
    sim = HaravanSimulator(
        seed=5, seed_orders=False, webhook_sender=lambda *a: (200, ""), webhook_background=False
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mount(mock, SandboxApp({"/haravan": sim}), "http://127.0.0.1:8100")
        products = services.sync_products(shop)
        customers = services.sync_customers(shop)
    variants = sum(len(p["variants"]) for p in sim.shops[200000001].products.values())
    assert products == variants == CatalogItem.objects.count() > 10
    assert customers == BuyerProfile.objects.count() > 5
    assert CatalogItem.objects.filter(tenant=shop.tenant, sku__gt="").exists()


def test_catalogue_gives_order_lines_their_unit_and_tags(shop):
    product = {
        "id": 9,
        "title": "Sách Toán",
        "product_type": "Sách",
        "vendor": "NXB",
        "tags": "sach, ĐVT:Cuốn",
        "variants": [{"id": 91, "sku": "BK-1", "title": "Default Title", "price": 50000}],
    }
    services.store_products("200000001", [product])
    item = CatalogItem.objects.get()
    assert (item.unit, item.tags, item.name) == ("Cuốn", ["sach", "ĐVT:Cuốn"], "Sách Toán")
    conn = shop.tenant.connections.get()
    order = factories.order(
        line_items=[{"variant_id": 91, "title": "Sách Toán", "quantity": 1, "price": 50000}]
    )
    (line,) = services.sale_for(conn, order).lines
    assert line.unit == "Cuốn" and "sach" in line.tags and line.product_type == "Sách"
    assert order["line_items"][0].get("unit") is None  # the stored order itself is left as it came


def test_product_and_customer_webhooks_keep_the_cache_current(shop):
    client = Client()

    def deliver(topic, body):
        raw = json.dumps(body).encode()
        client.post(
            "/webhooks/haravan/",
            data=raw,
            content_type="application/json",
            HTTP_X_HARAVAN_TOPIC=topic,
            HTTP_X_HARAVAN_ORG_ID="200000001",
            HTTP_X_HARAVAN_HMACSHA256=sign(raw, "test-client-secret"),
        )
        from syncjobs.models import InboundEvent

        for event in InboundEvent.objects.filter(status="pending"):
            services.process_event(event.pk)

    deliver(
        "products/update",
        {"id": 7, "title": "Trà", "tags": "unit:Hộp", "variants": [{"id": 71, "sku": "TRA"}]},
    )
    assert CatalogItem.objects.get(item_id="71").unit == "Hộp"
    deliver("products/deleted", {"id": 7})
    assert not CatalogItem.objects.exists()
    deliver(
        "customers/update",
        {
            "id": 5,
            "first_name": "An",
            "last_name": "Nguyễn",
            "email": "an@example.vn",
            "tags": "MST:0101243150",
            "default_address": {"company": "Công ty An"},
        },
    )
    buyer = BuyerProfile.objects.get()
    assert (buyer.name, buyer.tax_code, buyer.company) == ("Nguyễn An", "0101243150", "Công ty An")
