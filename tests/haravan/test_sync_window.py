"""A pass over the shop's orders reads every order in its window even when orders change while it reads.

Haravan lists orders page by page (`page=1,2,…`, 50 a page); our own write-back changes orders (tags, note
attributes) while a pass is reading, which moves their `updated_at`. With page numbers, an order changed
between two page reads leaves its place, every later order moves up one, and the one that slid onto the
page already read was never seen — not by this pass, and not by the next one either when it is older than
the overlap.
"""

import datetime as dt
import json

import pytest
import responses
from django.utils import timezone

from haravan import services
from sandbox.core import Headers, Request
from sandbox.generator import OrderGenerator
from sandbox.haravan import HaravanSimulator
from sandbox.server import SandboxApp
from sandbox.testing import mount
from syncjobs.models import SyncDocument, SyncRun
from tests import factories

BASE = "http://127.0.0.1:8100"


class SteppingClock:
    """The shop's clock: starts hours ago and moves one second at each look, so every change has its own
    `updated_at` and all of them fall inside a pass that starts now."""

    def __init__(self):
        self.at = timezone.now() - dt.timedelta(hours=6)

    def __call__(self):
        self.at += dt.timedelta(seconds=1)
        return self.at


@pytest.fixture
def sim(settings):
    settings.HARAVAN_RATE_CAPACITY = 1000
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
def conn(db, sim):
    tenant = factories.tenant()
    shop = factories.shop(tenant, org_id="200000001", token="demo-token")
    return factories.connection(tenant, shop, accounts=("0101243150",))


def touch_after_first_listing(sim, pick):
    """After the simulator answers the pass's first listing call, change one order it returned the way our
    write-back does (a tag added through the API): Haravan moves that order's `updated_at` to its now."""
    answer_api = sim.handle_api
    state = {"touched": None}

    def handle_api(request):
        response = answer_api(request)
        if state["touched"] is None and request.method == "GET" and request.path == "/com/orders.json":
            order = pick(json.loads(response.body)["orders"])
            state["touched"] = order["id"]
            headers = Headers({"Authorization": "Bearer demo-token", "Content-Type": "application/json"})
            body = json.dumps({"tags": "einvoice_tax_status:1"}).encode()
            tagged = answer_api(Request("POST", f"/com/orders/{order['id']}/tags.json", {}, headers, body))
            assert tagged.status == 200
            assert sim.shop().orders[order["id"]]["updated_at"] > order["updated_at"]
        return response

    sim.handle_api = handle_api
    return state


def test_an_order_changed_between_two_page_reads_does_not_hide_another(conn, sim):
    gen = OrderGenerator(f"{BASE}/haravan", "demo-token", seed=11)
    orders = [gen.create_random_order() for _ in range(60)]  # two pages
    state = touch_after_first_listing(sim, pick=lambda listed: listed[0])

    services.scheduled_sync(conn.pk)

    assert state["touched"] is not None
    run = SyncRun.objects.get()
    assert run.status == "done"
    read = set(SyncDocument.objects.values_list("source_id", flat=True))
    assert read == {str(o["id"]) for o in orders}  # none skipped
    touched = SyncDocument.objects.get(source_id=str(state["touched"]))
    assert "einvoice_tax_status:1" in touched.source_data["tags"]  # read again after its change


def test_more_than_a_page_changed_in_the_same_instant_is_read_whole(conn, sim):
    """Keyset reading steps over a page of orders sharing one `updated_at` with page numbers."""
    gen = OrderGenerator(f"{BASE}/haravan", "demo-token", seed=11)
    orders = [gen.create_random_order() for _ in range(70)]
    shop = sim.shop()
    same = "2026-01-02T03:04:05.006Z"
    with sim.lock:
        for order in orders[:55]:
            shop.orders[order["id"]]["updated_at"] = same
    run = SyncRun.objects.create(connection=conn, kind=SyncRun.Kind.MANUAL, params={})
    services.manual_sync(run.pk)
    run.refresh_from_db()
    assert (run.status, run.processed) == ("done", 70)
    assert SyncDocument.objects.count() == 70
