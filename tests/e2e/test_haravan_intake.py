"""Haravan intake end to end on real parts: sandbox order → signed webhook (HTTP) → gunicorn → PostgreSQL
→ Redis → a Celery worker process → document and timeline row."""

import collections
import time
from urllib.parse import parse_qs

import pytest
import requests

from sandbox.generator import OrderGenerator
from sandbox.server import default_app
from sandbox.testing import LiveSandbox
from syncjobs.models import InboundEvent, SyncAttempt, SyncDocument, SyncRun
from tests import factories
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.services

ORG = "200000001"
TOKEN = "demo-token"


@pytest.fixture
def demo_tenant(transactional_db):

    tenant = factories.tenant("Demo")
    shop = factories.shop(tenant, org_id=ORG, token=TOKEN)
    conn = factories.connection(tenant, shop, accounts=("0101243150", "0312345673", "0101243150-001"))
    factories.rule(conn, "source", "shopee", "0101243150-001", priority=10)
    factories.rule(conn, "location", "1002", "0312345673", priority=20)
    return conn


@pytest.fixture
def sandbox():
    with LiveSandbox(default_app(seed_orders=False)) as live:
        yield live


def point_webhooks(sandbox, web_url, **knobs):
    requests.post(
        f"{sandbox.url}/haravan/_sandbox/knobs",
        json={"webhook_url": f"{web_url}/webhooks/haravan/", **knobs},
        timeout=5,
    ).raise_for_status()


def expected_mst(order):
    if order.get("source_name") == "shopee":
        return "0101243150-001"
    if str(order.get("location_id")) == "1002":
        return "0312345673"
    return "0101243150"


def test_sandbox_orders_become_documents_through_a_real_worker(stack, demo_tenant, sandbox):
    web = stack.start_web()
    stack.start_worker()
    point_webhooks(sandbox, web)
    generator = OrderGenerator(f"{sandbox.url}/haravan", TOKEN, seed=7)
    orders = [generator.create_random_order() for _ in range(6)]

    def all_documents():
        docs = {d.source_id: d for d in SyncDocument.objects.select_related("account")}
        return docs if len(docs) == len(orders) else None

    docs = wait_until(all_documents, timeout=45, message=f"{len(orders)} documents\n{stack.logs()}")
    for order in orders:
        doc = docs[str(order["id"])]
        assert doc.account.external_id == expected_mst(order), doc.route_explanation
        assert doc.kind == "invoice" and doc.source_label == order["name"]
        row = SyncAttempt.objects.get(document=doc, action="intake")
        assert row.message.startswith(
            f"[MST {expected_mst(order)}] Order {order['name']} received (webhook orders/create)"
        )
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"done"}


def test_duplicate_deliveries_make_one_document(stack, demo_tenant, sandbox):
    web = stack.start_web()
    stack.start_worker()
    point_webhooks(sandbox, web, duplicate_webhooks=1.0)
    order = OrderGenerator(f"{sandbox.url}/haravan", TOKEN, seed=8).create_random_order()
    wait_until(lambda: InboundEvent.objects.filter(deliveries=2).exists(), message="the second delivery")
    wait_until(lambda: InboundEvent.objects.filter(status="done").count() == 1, message="processing")
    assert SyncDocument.objects.filter(source_id=str(order["id"])).count() == 1
    assert InboundEvent.objects.count() == 1


def test_broker_outage_loses_nothing(stack, demo_tenant, sandbox, redis_server):
    stack.env["INTAKE_SWEEP_AFTER_SECONDS"] = "1"
    stack.env["INTAKE_SWEEP_INTERVAL_SECONDS"] = "1"
    web = stack.start_web()
    stack.start_worker()
    stack.start_beat()
    point_webhooks(sandbox, web)
    generator = OrderGenerator(f"{sandbox.url}/haravan", TOKEN, seed=9)

    redis_server.stop()
    during = [generator.create_random_order() for _ in range(3)]
    wait_until(
        lambda: InboundEvent.objects.count() == 3, message="webhooks accepted while the broker is down"
    )
    deliveries = requests.get(f"{sandbox.url}/haravan/_sandbox/webhooks", timeout=5).json()
    assert all(d["status_code"] == 200 for d in deliveries["webhooks"]), deliveries  # accepted, not refused
    time.sleep(2)
    assert not SyncDocument.objects.exists()  # nobody could tell a worker

    redis_server.start()  # the broker comes back on the same port, empty
    ids = {str(o["id"]) for o in during}
    wait_until(
        lambda: set(SyncDocument.objects.values_list("source_id", flat=True)) == ids,
        timeout=60,
        message=f"the sweeper to re-send pending events\n{stack.logs()}",
    )
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"done"}


def what_was_asked(call: dict) -> str:
    """A logged simulator call as one of the three requests of a manual pass, or in full when it is none."""
    query = parse_qs(call["query"])
    filters = {"status": ["any"], "created_at_min": ["2000-01-01T00:00:00Z"]}
    if call["path"] == "/haravan/com/orders/count.json" and query == filters:
        return "count"
    listing = {**filters, "order": ["updated_at asc"], "limit": ["50"], "page": ["1"]}
    if call["path"] == "/haravan/com/orders.json" and query == listing:
        return "page 1"
    # The next page is asked for from where the first ended (the last order's updated_at), not by number.
    if call["path"] == "/haravan/com/orders.json" and query == {
        **listing,
        "updated_at_min": query.get("updated_at_min"),
    }:
        return "page 2"
    return f"{call['method']} {call['path']}?{call['query']}"


def test_two_workers_share_the_haravan_bucket(stack, demo_tenant, sandbox):
    """Many passes over the shop on two worker processes: never faster than 4 calls/s after the burst."""
    capacity, rate = 4, 4.0
    # Setting up: no webhooks in this test, and the sandbox's own limit lifted while the orders are made.
    point_webhooks(sandbox, "http://127.0.0.1:9", require_subscription=True, rate_capacity=100000)
    generator = OrderGenerator(f"{sandbox.url}/haravan", TOKEN, seed=100)
    for _ in range(60):
        generator.create_random_order()
    point_webhooks(sandbox, "http://127.0.0.1:9", rate_capacity=80)
    stack.env.update(
        {
            "HARAVAN_API_URL": f"{sandbox.url}/haravan",
            "HARAVAN_RATE_CAPACITY": str(capacity),
            "HARAVAN_RATE_PER_SECOND": str(rate),
        }
    )
    stack.start_worker(name="w1")
    stack.start_worker(name="w2")
    since = requests.get(f"{sandbox.url}/haravan/_sandbox/calls", timeout=5).json()["last_seq"]
    runs = [
        SyncRun.objects.create(
            connection=demo_tenant,
            kind=SyncRun.Kind.MANUAL,
            params={"created_at_min": "2000-01-01T00:00:00Z"},
        )
        for _ in range(10)
    ]
    from config.celery import app
    from haravan.tasks import manual_sync

    with app.connection_for_write(stack.env["CELERY_BROKER_URL"]) as conn:
        for run in runs:
            manual_sync.apply_async(args=[run.pk], connection=conn)
    wait_until(
        lambda: SyncRun.objects.filter(status="done").count() == len(runs),
        timeout=90,
        message=f"10 manual runs\n{stack.logs()}",
    )
    log = requests.get(f"{sandbox.url}/haravan/_sandbox/calls", params={"since": since}, timeout=5).json()
    api = log["calls"]
    # What reached the simulator is exactly ten passes over the shop, each a count, then page 1 (50 orders),
    # then page 2 (from the 50th order's updated_at on: the last 10): none asked twice, none left out,
    # nothing else in between, and every call answered at once (no 429 to retry).
    asked = [what_was_asked(c) for c in api]
    assert collections.Counter(asked) == {"count": 10, "page 1": 10, "page 2": 10}, asked
    assert all((c["kind"], c["shop"], c["method"], c["status"]) == ("api", int(ORG), "GET", 200) for c in api)
    for i in range(len(asked)):  # in each pass the count comes first, page 2 only after page 1
        so_far = collections.Counter(asked[: i + 1])
        assert so_far["page 2"] <= so_far["page 1"] <= so_far["count"], asked[: i + 1]
    assert set(SyncRun.objects.values_list("status", "total", "processed", "failed")) == {("done", 60, 60, 0)}
    times = sorted(c["mono"] for c in api)
    # In any window, no more than the burst plus what drains in that window (+ scheduling slack).
    for i, start in enumerate(times):
        for j in range(i + 1, len(times)):
            window = times[j] - start
            assert j - i + 1 <= capacity + rate * window + 1, f"{j - i + 1} calls in {window:.2f}s"
    sustained = (len(times) - capacity) / (times[-1] - times[0])
    assert sustained <= rate * 1.05, f"{sustained:.2f} calls/s"
    workers_used = {w.name for w in stack.workers if "haravan.manual_sync" in w.output()}
    assert workers_used == {"w1", "w2"}
    assert SyncDocument.objects.count() == 60
