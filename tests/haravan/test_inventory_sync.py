"""Polling Haravan's inventory documents into the pipeline, against the Haravan simulator (in-process): only
connections whose target posts a kind read it, an unchanged document is not read again, a changed one is,
a transfer's Active → Received is seen, a manual run reads the days asked for, and the same document twice is
one SyncDocument."""

import datetime as dt

import pytest
import requests
import responses
from django.utils import timezone

from connectors import registry
from connectors.stock import (
    ADJUSTMENT,
    PURCHASE_RECEIVE,
    PURCHASE_RETURN,
    STOCK_KINDS,
    TRANSFER,
    StockBalance,
)
from haravan import inventory_sync, services, tasks
from haravan.client import HaravanClient
from haravan.models import HaravanLocation, HaravanShop
from sandbox.haravan import HaravanSimulator
from sandbox.haravan.inventory_adjustments import add_adjustment
from sandbox.server import SandboxApp
from sandbox.testing import mount
from syncjobs.models import SyncAttempt, SyncDocument, SyncRun
from tests import factories

BASE = "http://127.0.0.1:8100"
API = f"{BASE}/haravan"
SHIRT_S, SHIRT_M = 1010000001, 1010000002
HANOI, HCM = 1001, 1002


class SteppingClock:
    """The shop's clock: starts an hour ago and moves one second at each look."""

    def __init__(self):
        self.at = timezone.now() - dt.timedelta(hours=1)

    def __call__(self):
        self.at += dt.timedelta(seconds=1)
        return self.at


class StockBooks(registry.TargetAdapter):
    """A target that posts the stock kinds it is told to and remembers what it was handed."""

    name = "stockbooks"
    label = "Stock Books"
    family = "haravan_to_stockbooks"
    family_label = "Haravan → Stock Books"
    tag_label = "BOOKS"
    source_kinds = ("haravan",)
    order_document_kind = "voucher"
    document_kinds = {"voucher": "Voucher", **{k: k for k in STOCK_KINDS}}

    def __init__(self):
        self.kinds = STOCK_KINDS
        self.seen = []

    def wanted_stock_kinds(self, connection):
        return self.kinds

    def on_document_changed(self, document, *, trigger=""):
        self.seen.append((document.source_type, document.source_label, document.source_data.get("status")))


@pytest.fixture
def books():
    adapter = registry.register_target(StockBooks())
    yield adapter
    registry.unregister_target(adapter.name)


@pytest.fixture
def sim(settings):
    settings.HARAVAN_RATE_CAPACITY = 1000
    settings.HARAVAN_API_URL = API
    simulator = HaravanSimulator(
        seed=3,
        seed_orders=False,
        now=SteppingClock(),
        webhook_sender=lambda *a: (200, "ok"),
        webhook_background=False,
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mount(mock, SandboxApp({"/haravan": simulator}), BASE)
        yield simulator
    simulator.close()


@pytest.fixture
def conn(db, sim, books):
    tenant = factories.tenant()
    shop = factories.shop(tenant, org_id="200000001", token="demo-token")
    HaravanLocation.objects.create(shop=shop, location_id=str(HANOI), name="Chi nhánh Hà Nội")
    HaravanLocation.objects.create(shop=shop, location_id=str(HCM), name="Chi nhánh Hồ Chí Minh")
    connection = factories.connection(tenant, shop, target_kind="stockbooks", accounts=("HN", "HCM"))
    factories.rule(connection, "location", str(HCM), "HCM")
    return connection


def control(path, body):
    resp = requests.post(f"{API}/_sandbox/inventory/{path}", json=body, timeout=5)
    assert resp.status_code < 300, resp.text
    return resp.json()


def api(method, path, body=None):
    resp = requests.request(
        method, f"{API}/com/{path}", json=body, headers={"Authorization": "Bearer demo-token"}, timeout=5
    )
    assert resp.status_code < 300, resp.text
    return resp.json()


def detail_calls(sim, fragment):
    return sum(1 for call in sim.calls if fragment in call["path"] and call["path"].endswith(".json"))


def test_a_receive_is_read_whole_routed_by_location_and_not_read_again_unchanged(conn, sim, books):
    order = control(
        "purchase_orders",
        {"location_id": HCM, "line_items": [{"product_variant_id": SHIRT_S, "quantity": 4}]},
    )
    receive = control(
        "purchase_receives",
        {
            "status": "Nháp",
            "location_id": HCM,
            "ref_purchase_order_id": order["purchase_order"]["id"],
            "line_items": [
                {
                    "product_variant_id": SHIRT_S,
                    "quantity": 4,
                    "original_cost": 150000,
                    "discount_amount": 5000,
                }
            ],
        },
    )["purchase_receive"]
    assert tasks.sync_inventory_purchase_orders() == {"shops": 1, "read": 1, "changed": 1, "failed": 0}
    doc = SyncDocument.objects.get(source_type=PURCHASE_RECEIVE)
    assert (doc.kind, doc.source_label, doc.account.external_id) == (
        PURCHASE_RECEIVE,
        receive["receive_number"],
        "HCM",
    )
    assert doc.source_data["line_items"][0]["cost"] == 145000  # the detail, not the list's null lines
    assert (
        doc.source_data["ref_purchase_order"]["purchase_number"] == order["purchase_order"]["purchase_number"]
    )
    assert books.seen == [(PURCHASE_RECEIVE, receive["receive_number"], "Nháp")]
    intake = SyncAttempt.objects.get(document=doc, action="intake")
    assert intake.message.startswith(
        f"[BOOKS HCM] Purchase receive {receive['receive_number']} received (inventory poll)"
    )

    path = f"/purchase_receives/{receive['id']}.json"
    fetched = detail_calls(sim, path)
    tasks.sync_inventory_purchase_orders()
    assert detail_calls(sim, path) == fetched  # unchanged: listed, not fetched
    assert len(books.seen) == 1 and SyncDocument.objects.count() == 1

    control("status", {"kind": "purchase_receive", "id": receive["id"], "status": "Đã nhập hàng"})
    tasks.sync_inventory_purchase_orders()
    assert detail_calls(sim, path) == fetched + 1
    doc.refresh_from_db()
    assert doc.source_data["status"] == "Đã nhập hàng" and SyncDocument.objects.count() == 1
    assert books.seen[-1] == (PURCHASE_RECEIVE, receive["receive_number"], "Đã nhập hàng")


def test_a_transfer_moving_from_active_to_received_is_seen(conn, sim, books):
    body = {
        "transfer": {
            "from_loc_id": HANOI,
            "to_loc_id": HCM,
            "line_items": [{"product_variant_id": SHIRT_S, "quantity": 3}],
        }
    }
    transfer = api("POST", "inventories/transfer.json", body)["transfer"]
    tasks.sync_inventory_transfers()
    doc = SyncDocument.objects.get(source_type=TRANSFER)
    assert doc.account.external_id == "HN"  # routed by its origin
    assert doc.source_data["from_location"] == {"id": HANOI, "name": "Chi nhánh Hà Nội"}
    assert doc.source_data["to_location"] == {"id": HCM, "name": "Chi nhánh Hồ Chí Minh"}
    api("POST", f"inventories/transfer/{transfer['id']}/receive.json", {"transfer": {"user_id": 1}})
    tasks.sync_inventory_transfers()
    doc.refresh_from_db()
    assert doc.source_data["status"] == "Received"
    assert [s for _k, _n, s in books.seen] == ["Active", "Received"]


def test_a_return_is_stored_with_the_details_words_not_the_lists_code(conn, sim, books):
    receive = control("purchase_receives", {"line_items": [{"product_variant_id": SHIRT_M, "quantity": 2}]})[
        "purchase_receive"
    ]
    returned = control("purchase_returns", {"receive_id": receive["id"]})["purchase_return"]
    tasks.sync_inventory_purchase_returns()
    doc = SyncDocument.objects.get(source_type=PURCHASE_RETURN)
    assert doc.source_data["status"] == "Đã xuất trả" and doc.source_label == returned["return_number"]
    assert doc.source_data["ref_receive"] == {
        "id": receive["id"],
        "receive_number": receive["receive_number"],
    }
    adapter = registry.source("haravan")
    read = adapter.read_stock_document(conn, doc.source_data)
    assert (read.kind, read.status, read.refers_to_number, read.problems) == (
        PURCHASE_RETURN,
        "done",
        receive["receive_number"],
        (),
    )


def test_only_wanted_kinds_are_read_and_the_poll_reads_a_bounded_number_of_pages(conn, sim, books, settings):
    shop = sim.shop()
    for _ in range(60):
        add_adjustment(
            sim,
            shop,
            {
                "location_id": HANOI,
                "reason": "promotion",
                "line_items": [{"product_variant_id": SHIRT_S, "quantity": 1}],
            },
        )
    books.kinds = (TRANSFER,)
    before = len(sim.calls)
    assert tasks.sync_inventory_adjustments() == {"shops": 0, "read": 0, "changed": 0, "failed": 0}
    assert len(sim.calls) == before  # nobody posts adjustments: Haravan is not asked
    books.kinds = (ADJUSTMENT,)
    settings.HARAVAN_INVENTORY_POLL_PAGES = 1
    assert tasks.sync_inventory_adjustments()["changed"] == 50
    numbers = set(SyncDocument.objects.values_list("source_label", flat=True))
    assert "IA100060" in numbers and "IA100010" not in numbers  # the newest page


def test_the_same_document_twice_is_one_document(conn, sim, books):
    raw = api(
        "POST",
        "inventories/adjustorset.json",
        {
            "inventory": {
                "location_id": HCM,
                "type": "adjust",
                "reason": "damaged",
                "line_items": [{"product_variant_id": SHIRT_S, "quantity": -2}],
            }
        },
    )["adjustment"]
    first = inventory_sync.intake_stock_for(conn, ADJUSTMENT, raw, trigger="test")
    second = inventory_sync.intake_stock_for(conn, ADJUSTMENT, raw, trigger="test")
    assert (first.created, second.created, second.changed) == (True, False, False)
    assert SyncDocument.objects.filter(source_type=ADJUSTMENT).count() == 1
    assert SyncAttempt.objects.filter(action="intake").count() == 1 and len(books.seen) == 1


def test_a_manual_run_reads_the_inventory_documents_created_in_its_days(conn, sim, books):
    for quantity in (1, 2, 3):
        api(
            "POST",
            "inventories/adjustorset.json",
            {
                "inventory": {
                    "location_id": HANOI,
                    "type": "adjust",
                    "reason": "newproduct",
                    "line_items": [{"product_variant_id": SHIRT_M, "quantity": quantity}],
                }
            },
        )
    api(
        "POST",
        "inventories/transfer.json",
        {
            "transfer": {
                "from_loc_id": HCM,
                "to_loc_id": HANOI,
                "line_items": [{"product_variant_id": SHIRT_S, "quantity": 1}],
            }
        },
    )
    books.kinds = (ADJUSTMENT, TRANSFER)
    today = timezone.localdate()
    old = services.start_manual_sync(
        conn, date_from=today - dt.timedelta(days=30), date_to=today - dt.timedelta(days=20)
    )
    services.manual_sync(old.pk)
    assert SyncDocument.objects.count() == 0
    run = services.start_manual_sync(conn, date_from=today - dt.timedelta(days=1), date_to=today)
    services.manual_sync(run.pk)
    run.refresh_from_db()
    assert (run.status, run.processed, run.failed) == (SyncRun.Status.DONE, 4, 0)
    assert sorted(SyncDocument.objects.values_list("source_type", flat=True)) == [ADJUSTMENT] * 3 + [TRANSFER]
    summaries = [a.message for a in SyncAttempt.objects.filter(action="sync").order_by("id")]
    assert any(
        m.endswith(f"Adjustment, manual sync #{run.pk}: 3 read, 3 new or changed, 0 failed.")
        for m in summaries
    )
    assert any(
        m.endswith(f"Manual sync #{run.pk}: 0 orders read, 0 new or changed, 0 failed.") for m in summaries
    )


def test_a_run_with_no_last_day_reads_up_to_now(conn, sim, books):
    """A run "since" a day (no created_at_max, as a catch-up asks) reads the inventory documents to now."""
    api(
        "POST",
        "inventories/adjustorset.json",
        {
            "inventory": {
                "location_id": HANOI,
                "type": "adjust",
                "reason": "newproduct",
                "line_items": [{"product_variant_id": SHIRT_M, "quantity": 2}],
            }
        },
    )
    books.kinds = (ADJUSTMENT,)
    run = SyncRun.objects.create(
        connection=conn, kind=SyncRun.Kind.MANUAL, params={"created_at_min": "2000-01-01T00:00:00Z"}
    )
    services.manual_sync(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.DONE
    assert list(SyncDocument.objects.values_list("source_type", flat=True)) == [ADJUSTMENT]


def test_stock_on_hand_per_location_and_sku(conn, sim):
    services.sync_products(HaravanShop.objects.get(org_id=conn.source_key))
    adapter = registry.source("haravan")
    api(
        "POST",
        "inventories/adjustorset.json",
        {
            "inventory": {
                "location_id": HCM,
                "type": "adjust",
                "reason": "shrinkage",
                "line_items": [{"product_variant_id": SHIRT_S, "quantity": -5}],
            }
        },
    )
    assert sorted(adapter.stock_on_hand(conn, skus=["asm-ox-s"]), key=lambda b: b.place) == [
        StockBalance(place=str(HANOI), sku="ASM-OX-S", quantity=50),
        StockBalance(place=str(HCM), sku="ASM-OX-S", quantity=45),
    ]
    everything = adapter.stock_on_hand(conn)
    assert len(everything) == 2 * len(sim.shop().inventory.costs)
    assert adapter.stock_on_hand(conn, skus=["NO-SUCH-SKU"]) == []


def test_the_four_polls_are_beat_entries_on_the_setting(settings):
    settings.HARAVAN_INVENTORY_POLL_SECONDS = 321.0
    schedule = registry.beat_schedule()
    tasks_by_name = {entry["task"]: entry["schedule"] for entry in schedule.values()}
    for name in (
        "haravan.sync_inventory_purchase_orders",
        "haravan.sync_inventory_purchase_returns",
        "haravan.sync_inventory_transfers",
        "haravan.sync_inventory_adjustments",
    ):
        assert tasks_by_name[name] == 321.0
    assert registry.source("haravan").stock_kinds() == STOCK_KINDS


def test_client_pages_inventory_lists_and_balances_in_groups_of_fifty(conn, sim):
    shop = sim.shop()
    for _ in range(55):
        add_adjustment(
            sim,
            shop,
            {
                "location_id": HANOI,
                "reason": "promotion",
                "line_items": [{"product_variant_id": SHIRT_S, "quantity": 1}],
            },
        )
    client = HaravanClient(org_id="200000001", token="demo-token")
    rows = list(client.iter_adjustments())
    assert len(rows) == 55 == client.count_adjustments()
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    before = len(sim.calls)
    balances = list(
        client.iter_inventory_locations(location_ids=[HANOI], variant_ids=[SHIRT_S + i for i in range(60)])
    )
    assert len(sim.calls) - before == 2  # 50 ids, then 10
    assert {b["variant_id"] for b in balances} == set(range(SHIRT_S, SHIRT_S + len(shop.inventory.costs)))
