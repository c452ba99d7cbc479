"""Haravan → meInvoice end to end on real parts: the simulators live over HTTP, gunicorn, Redis,
PostgreSQL, Celery worker processes and beat. Exactly once under faults and a killed worker."""

import os
import signal
from collections import Counter

import pytest
import requests

from connectors.models import Connection, TargetAccount
from meinvoice import services
from sandbox.generator import OrderGenerator
from sandbox.server import default_app
from sandbox.testing import LiveSandbox
from syncjobs.models import SyncAttempt, SyncDocument
from tests import factories
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.services

ORG = "200000001"
TOKEN = "demo-token"
MSTS = ("0101243150", "0312345673", "0101243150-001")


@pytest.fixture
def sandbox():
    with LiveSandbox(default_app(seed_orders=False)) as live:
        yield live


@pytest.fixture
def demo(transactional_db, sandbox, settings):
    settings.MEINVOICE_API_URL = f"{sandbox.url}/meinvoice/api/integration"
    tenant = factories.tenant("Demo")
    factories.shop(tenant, org_id=ORG, token=TOKEN)
    conn = Connection.objects.create(
        tenant=tenant, name="Demo → meInvoice", source_kind="haravan", source_key=ORG, target_kind="meinvoice"
    )
    for i, mst in enumerate(MSTS):
        account = TargetAccount.objects.create(
            connection=conn,
            external_id=mst,
            is_default=(i == 0),
            credentials={"app_id": "demo-app", "username": "demo", "password": "demo"},
        )
        services.sync_templates(account)
    factories.rule(conn, "source", "shopee", "0101243150-001", priority=10)
    factories.rule(conn, "location", "1002", "0312345673", priority=20)
    return conn


def knobs(sandbox, system, **values):
    requests.post(f"{sandbox.url}/{system}/_sandbox/knobs", json=values, timeout=5).raise_for_status()


def issued(sandbox) -> list[dict]:
    """Every invoice the simulated meInvoice holds, all MSTs together."""
    per_mst = requests.get(f"{sandbox.url}/meinvoice/_sandbox/invoices", timeout=10).json()["invoices"]
    return [invoice for invoices in per_mst.values() for invoice in invoices]


def haravan_order(sandbox, order_id):
    """The order as the simulator holds it, read on its control side: watching must not spend the shop's
    80-call budget, which the product's own write-backs need."""
    resp = requests.get(f"{sandbox.url}/haravan/_sandbox/orders/{order_id}", timeout=5)
    resp.raise_for_status()
    return resp.json()["order"]


def expected_mst(order):
    if order.get("source_name") == "shopee":
        return "0101243150-001"
    return "0312345673" if str(order.get("location_id")) == "1002" else "0101243150"


def start(stack, sandbox, **env):
    stack.env.update(
        {
            "HARAVAN_API_URL": f"{sandbox.url}/haravan",
            "MEINVOICE_API_URL": f"{sandbox.url}/meinvoice/api/integration",
            "INTAKE_SWEEP_AFTER_SECONDS": "2",
            "INTAKE_SWEEP_INTERVAL_SECONDS": "1",
            "MEINVOICE_SYNC_INTERVAL_SECONDS": "2",
            "MEINVOICE_RETRY_BASE_SECONDS": "1",
            **env,
        }
    )
    web = stack.start_web()
    knobs(sandbox, "haravan", webhook_url=f"{web}/webhooks/haravan/")
    return web


def test_order_to_published_invoice_with_lookup_code_on_the_order(stack, demo, sandbox):
    start(stack, sandbox)
    stack.start_worker(concurrency=2)
    gen = OrderGenerator(f"{sandbox.url}/haravan", TOKEN, seed=31)
    orders = []
    for _ in range(4):
        order = gen.create_random_order()
        if order["financial_status"] != "paid":
            gen.pay(order["id"])
        orders.append(order)

    def written_back():
        fresh = [haravan_order(sandbox, o["id"]) for o in orders]
        codes = [
            {a["name"]: a["value"] for a in o["note_attributes"]}.get("einvoice_lookup_code") for o in fresh
        ]
        return fresh if all(codes) else None

    fresh = wait_until(written_back, timeout=60, message=f"lookup codes on the orders\n{stack.logs()}")
    by_ref = {i["RefID"]: i for i in issued(sandbox)}
    assert len(by_ref) == len(orders)
    for order in fresh:
        doc = SyncDocument.objects.get(source_id=str(order["id"]), kind="invoice")
        invoice = by_ref[doc.result["ref_id"]]
        attrs = {a["name"]: a["value"] for a in order["note_attributes"]}
        assert invoice["MST"] == expected_mst(order) == doc.account.external_id
        assert attrs["einvoice_lookup_code"] == invoice["TransactionID"]
        assert attrs["einvoice_number"] == f"{invoice['InvSeries']}-{invoice['InvNo']}"
        assert invoice["TotalAmount"] == int(float(order["total_price"]))


def test_faults_and_a_killed_worker_leave_exactly_one_invoice_per_order(stack, demo, sandbox):
    """200 orders; 20 % of meInvoice calls fail (answers lost after commit, 5xx, expired tokens) plus a
    Haravan 429 storm; the only worker is killed with SIGKILL while a batch is in flight."""
    start(stack, sandbox, HTTP_TIMEOUT="2", HARAVAN_RATE_CAPACITY="100000", HARAVAN_RATE_PER_SECOND="1000")
    knobs(sandbox, "haravan", rate_capacity=100000, rate_per_second=1000)
    # Every answer is lost after commit until one has been; then 8 % of them, plus 5xx and token expiry.
    lost_one = False
    knobs(
        sandbox,
        "meinvoice",
        latency_ms=400,
        timeout_after_commit_rate=1.0,
        timeout_after_commit_seconds=3,
        lost_answer_mode="sleep",
        error_rate=0.08,
        token_expiry_rate=0.04,
    )
    first = stack.start_worker(name="w1", concurrency=2)
    stack.start_beat()
    gen = OrderGenerator(f"{sandbox.url}/haravan", TOKEN, seed=41)
    orders = []
    for i in range(200):
        order = gen.create_random_order()
        if order["financial_status"] != "paid":
            gen.pay(order["id"])
        orders.append(order)
        if i == 100:
            knobs(sandbox, "haravan", storm_seconds=2.0)  # a 429 storm in the middle of the write-backs
        if not lost_one and i % 10 == 9:
            calls = requests.get(f"{sandbox.url}/meinvoice/_sandbox/calls", timeout=10).json()["calls"]
            if any(c["lost"] for c in calls):
                lost_one = True
                knobs(sandbox, "meinvoice", timeout_after_commit_rate=0.08)

    wait_until(
        lambda: SyncDocument.objects.filter(state="processing").exists(),
        timeout=60,
        interval=0.02,
        message="a batch in flight",
    )
    os.killpg(first.proc.pid, signal.SIGKILL)  # the worker and its pool, mid-batch
    first.proc.wait(10)
    stack.start_worker(name="w2", concurrency=2)

    ids = {str(o["id"]) for o in orders}

    def all_done():
        states = Counter(SyncDocument.objects.filter(kind="invoice").values_list("state", flat=True))
        return states if states.get("done") == len(ids) else None

    try:
        wait_until(all_done, timeout=240, interval=1, message="every order invoiced")
    finally:
        knobs(
            sandbox, "meinvoice", latency_ms=0, timeout_after_commit_rate=0, error_rate=0, token_expiry_rate=0
        )
    calls = requests.get(f"{sandbox.url}/meinvoice/_sandbox/calls", timeout=10).json()["calls"]
    faults = Counter(
        "lost answer" if c["lost"] else "5xx" if c["status"] >= 500 else c["error_code"]
        for c in calls
        if c["lost"] or c["status"] >= 500 or c["error_code"] in ("TokenExpiredCode", "InvalidTokenCode")
    )
    print(f"\n{len(calls)} meInvoice calls, faults injected: {dict(faults)}")
    assert faults["lost answer"] >= 1 and sum(faults.values()) >= 3, faults  # the run really had faults
    assert SyncAttempt.objects.filter(action="publish", outcome="retryable").exists()
    invoices = issued(sandbox)
    per_ref = Counter(i["RefID"] for i in invoices)
    assert max(per_ref.values()) == 1, "a RefID was issued twice"
    docs = {d.result["ref_id"]: d for d in SyncDocument.objects.filter(kind="invoice")}
    assert set(per_ref) == set(docs), "an invoice without a document, or a document without an invoice"
    assert {d.source_id for d in docs.values()} == ids
    for invoice in invoices:
        doc = docs[invoice["RefID"]]
        assert invoice["MST"] == doc.account.external_id
        assert doc.result["transaction_id"] == invoice["TransactionID"]
    # Numbers stay sequential per MST and series: nothing skipped, nothing repeated.
    numbers = {}
    for invoice in invoices:
        numbers.setdefault((invoice["MST"], invoice["InvSeries"]), []).append(int(invoice["InvNo"]))
    for series_numbers in numbers.values():
        assert sorted(series_numbers) == list(range(1, len(series_numbers) + 1))
