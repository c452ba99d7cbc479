"""Stock documents posted to AMIS companies through the sales path (queue → save → callbacks → generated),
against the in-process simulator and the test database. The source here is the test's own adapter (the
Haravan reader lives elsewhere): its snapshot holds the ``StockDocument`` it reads back."""

import base64
import dataclasses
import datetime as dt
import pickle
from decimal import Decimal

import pytest
import requests
from django.test import Client

from amis import callbacks, posting, sending, services
from amis.adapter import AmisTarget
from connectors import registry, stock
from connectors.models import Connection, RoutingRule, TargetAccount
from connectors.routing import route
from connectors.stock import StockBalance, StockDocument, StockLine, Supplier
from connectors.text import Text
from sandbox.testing import django_client_sender
from syncjobs.models import InboundEvent, SyncAttempt, SyncDocument
from syncjobs.services import hand_to_target, upsert_document
from tests import factories

BASE = "http://127.0.0.1:8100"
State = SyncDocument.State
T0 = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)
STOCK_ON = {"purchase_receive": True, "purchase_return": True, "adjustment": True, "transfer": True}
MAPPING = {
    "locations": {"1001": {"stock_code": "KHO01"}, "1002": {"stock_code": "KHO02"}, "1003": {}},
    "stock": STOCK_ON,
}


class StockSource(registry.SourceAdapter):
    """A source whose stored objects are StockDocuments (pickled into the snapshot)."""

    name = "stocktest"
    label = "Stock test"
    dimensions = (("location", "Location"),)

    def __init__(self):
        self.on_hand: list[StockBalance] = []

    def stock_kinds(self):
        return stock.STOCK_KINDS

    def read_stock_document(self, connection, raw):
        return pickle.loads(base64.b64decode(raw["stock_document"]))  # noqa: S301 - the test's own snapshot

    def stock_on_hand(self, connection, *, skus=None):
        return list(self.on_hand)

    def routing_facts(self, raw):
        return {"location": [self.read_stock_document(None, raw).location]}

    def label_of(self, raw):
        return self.read_stock_document(None, raw).number


@pytest.fixture
def source():
    adapter = registry.register_source(StockSource())
    yield adapter
    registry.unregister_source(adapter.name)


@pytest.fixture
def sim(sandbox):
    amis = sandbox.mounts["/amis"]
    amis.webhooks.sender = django_client_sender(Client())
    amis.set_knobs(auto_generate=False)
    return amis


@pytest.fixture
def connection(db, sim, source):
    tenant = factories.tenant("Books")
    conn = Connection.objects.create(
        tenant=tenant, name="Stock → AMIS", source_kind="stocktest", source_key="shop-1", target_kind="amis"
    )
    for code, default, mapping in (
        ("demo-hanoi", True, MAPPING),
        ("demo-hcm", False, {**MAPPING, "stock": {}}),
    ):
        TargetAccount.objects.create(
            connection=conn,
            external_id=code,
            is_default=default,
            name=code,
            credentials={"access_code": "demo"},
            settings={"mapping": mapping},
        )
    RoutingRule.objects.create(
        connection=conn, dimension="location", value="1002", account=conn.accounts.get(external_id="demo-hcm")
    )
    return conn


def document(kind=stock.PURCHASE_RECEIVE, *lines, version=0, **changes):
    lines = lines or (
        StockLine(sku="SKU-AO-01", name="Áo thun", quantity=Decimal(10), amount=Decimal(900000)),
    )
    base = StockDocument(
        kind=kind,
        source_id=changes.pop("source_id", "5001"),
        number=changes.pop("number", "IR100012"),
        status=stock.DONE,
        status_words="Đã nhập hàng",
        at=T0,
        location="1001",
        supplier=Supplier(key="77", name="Công ty May Việt") if kind.startswith("purchase") else None,
        lines=tuple(lines),
        updated_at=T0 + dt.timedelta(minutes=version),
    )
    return dataclasses.replace(base, **changes)


def take(conn, doc: StockDocument) -> SyncDocument:
    decision = route(conn, {"location": [doc.location]})
    up = upsert_document(
        connection=conn,
        account=decision.account,
        source_type=doc.kind,
        source_id=doc.source_id,
        source_label=doc.number,
        kind=doc.kind,
        snapshot={"stock_document": base64.b64encode(pickle.dumps(doc)).decode()},
        source_updated_at=doc.updated_at,
        explanation=decision.explanation,
    )
    if up.changed:
        hand_to_target(up.document, decision, trigger="test")
    up.document.refresh_from_db()
    return up.document


def deliver(sim):
    sim.advance(5)
    sim.pump(release_held=True)
    sim.webhooks.drain()
    for event in InboundEvent.objects.filter(source_kind="amis", status=InboundEvent.Status.PENDING):
        callbacks.process_event(event.pk)


def generate(company, org_refid=None):
    body = {"company": company, **({"org_refid": org_refid} if org_refid else {})}
    requests.post(f"{BASE}/amis/_sandbox/generate", json=body, timeout=5).raise_for_status()


def proposals(company):
    resp = requests.get(f"{BASE}/amis/_sandbox/proposals", params={"company": company}, timeout=5)
    return resp.json()["proposals"][company]


def docs(conn, **filters):
    return {d.kind: d for d in SyncDocument.objects.filter(connection=conn, **filters).order_by("pk")}


def test_a_received_purchase_becomes_a_proposal_then_a_generated_purchase_voucher(connection, sim):
    main = take(connection, document())
    assert main.state == State.QUEUED, main.last_error
    voucher = main.payload["voucher"]
    assert (voucher["voucher_type"], voucher["reftype"], voucher["account_object_code"]) == (18, 302, "NCC77")
    assert [d["account_object_code"] for d in main.payload["dictionary"]] == ["NCC77"]
    assert sending.sync_orders() == 1
    main.refresh_from_db()
    assert main.state == State.SENT
    deliver(sim)
    generate("demo-hanoi", main.target_ref)
    deliver(sim)
    main.refresh_from_db()
    assert main.state == State.DONE and main.result["amis"] == posting.GENERATED
    assert main.result["refno"].startswith("MH")
    lines = list(SyncAttempt.objects.filter(document=main).values_list("message", flat=True))
    assert lines and all(line.startswith("[AMIS demo-hanoi] ") for line in lines), lines
    vendor = sim.companies["demo-hanoi"].dictionary[1][-1]
    assert vendor["account_object_code"] == "NCC77" and vendor["is_vendor"] is True
    assert sim.companies["demo-hanoi"].balances[("sku-ao-01", "kho01")][2] == 10


def test_kinds_are_off_by_default_and_a_switched_off_kind_is_skipped(connection, sim):
    assert AmisTarget().wanted_stock_kinds(connection) == stock.STOCK_KINDS
    hcm = take(connection, document(location="1002", source_id="5002"))
    assert hcm.account.external_id == "demo-hcm" and hcm.state == State.SKIPPED
    assert "does not post purchase receive documents" in hcm.last_error
    TargetAccount.objects.filter(connection=connection).update(settings={"mapping": {}})
    assert AmisTarget().wanted_stock_kinds(connection) == ()


def test_a_document_not_done_is_skipped_with_the_reason_then_queued_once_done(connection, sim):
    draft = take(connection, document(status=stock.DRAFT, status_words="Nháp"))
    assert draft.state == State.SKIPPED and "not done yet (Nháp)" in draft.last_error
    done = take(connection, document(version=1))
    assert done.pk == draft.pk and done.state == State.QUEUED


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"location": "1003"}, "location 1003 has no AMIS warehouse"),
        ({"problems": (Text("line 2 has no variant"),)}, "line 2 has no variant"),
        ({"supplier": None}, "names no supplier with an id"),
    ],
)
def test_what_a_person_must_fix_holds_the_document_with_what_to_do(connection, sim, changes, words):
    held = take(connection, document(**changes))
    assert held.state == State.BLOCKED and words in held.last_error
    assert sending.sync_orders() == 0


def test_items_or_warehouses_amis_lacks_hold_the_document_once_master_data_is_synced(connection, sim):
    account = connection.accounts.get(external_id="demo-hanoi")
    services.sync_master_data(account)
    unknown = StockLine(sku="SKU-NOPE", name="?", quantity=Decimal(1), amount=Decimal(5))
    held = take(connection, document(stock.PURCHASE_RECEIVE, unknown))
    assert held.state == State.BLOCKED and "no item with the code(s) SKU-NOPE" in held.last_error
    account.settings = {"mapping": {**MAPPING, "locations": {"1001": {"stock_code": "KHO77"}}}}
    account.save()
    other = take(connection, document(source_id="5009"))
    assert other.state == State.BLOCKED and "no warehouse with the code(s) KHO77" in other.last_error


def test_an_adjustment_makes_a_receipt_and_a_sibling_issue_and_both_move_stock(connection, sim):
    lines = (
        StockLine(sku="SKU-AO-01", name="Áo", quantity=Decimal(4), amount=Decimal(400000)),
        StockLine(sku="SKU-MU-03", name="Mũ", quantity=Decimal(-2), amount=Decimal(-100000)),
    )
    main = take(connection, document(stock.ADJUSTMENT, *lines, number="IA100017", reason="damaged"))
    found = docs(connection)
    assert set(found) == {"adjustment", "adjustment:issue"}
    assert main.payload["voucher"]["voucher_type"] == 7
    assert found["adjustment:issue"].payload["voucher"]["voucher_type"] == 8
    assert sending.sync_orders() == 2
    deliver(sim)
    generate("demo-hanoi")
    deliver(sim)
    assert {d.state for d in docs(connection).values()} == {State.DONE}
    balances = {k: v[2] for k, v in sim.companies["demo-hanoi"].balances.items()}
    assert balances == {("sku-ao-01", "kho01"): 4, ("sku-mu-03", "kho01"): -2}


def test_a_change_before_generation_replaces_the_proposal_and_after_generation_waits_for_a_person(
    connection, sim
):
    main = take(connection, document())
    sending.sync_orders()
    main.refresh_from_db()
    first = main.target_ref
    more = StockLine(sku="SKU-AO-01", name="Áo thun", quantity=Decimal(12), amount=Decimal(1080000))
    main = take(connection, document(stock.PURCHASE_RECEIVE, more, version=1))
    sending.sync_orders()
    main.refresh_from_db()
    assert main.state == State.SENT and main.target_ref != first
    statuses = {p["org_refid"]: p["status"] for p in proposals("demo-hanoi")}
    assert statuses[first] == "deleted" and statuses[main.target_ref] == "proposal"
    assert main.payload["voucher"]["total_amount"] == 1080000
    deliver(sim)
    generate("demo-hanoi", main.target_ref)
    deliver(sim)
    main.refresh_from_db()
    assert main.state == State.DONE
    fewer = StockLine(sku="SKU-AO-01", name="Áo thun", quantity=Decimal(11), amount=Decimal(990000))
    take(connection, document(stock.PURCHASE_RECEIVE, fewer, version=2))
    found = docs(connection)
    main.refresh_from_db()
    assert main.state == State.DONE  # what AMIS generated stays as it is
    held = found["purchase_receive:change"]
    assert held.state == State.BLOCKED and "changed after AMIS generated voucher(s) MH" in held.last_error
    assert "990,000 VND" in held.last_error
    assert sending.sync_orders() == 0


def test_a_cancelled_document_withdraws_its_waiting_proposal(connection, sim):
    main = take(connection, document())
    sending.sync_orders()
    main.refresh_from_db()
    refid = main.target_ref
    take(connection, document(status=stock.CANCELLED, status_words="Đã hủy", version=1))
    sending.sync_orders()
    main.refresh_from_db()
    assert main.state == State.SKIPPED
    assert {p["org_refid"]: p["status"] for p in proposals("demo-hanoi")}[refid] == "deleted"


def test_a_transfer_inside_a_company_is_a_transfer_voucher_and_between_companies_is_held(connection, sim):
    line = StockLine(sku="SKU-AO-01", name="Áo", quantity=Decimal(3))
    account = connection.accounts.get(external_id="demo-hanoi")
    account.settings = {
        "mapping": {**MAPPING, "locations": {**MAPPING["locations"], "1004": {"stock_code": "KHO02"}}}
    }
    account.save()
    inside = take(connection, document(stock.TRANSFER, line, number="IT100001", to_location="1004"))
    assert inside.state == State.QUEUED, inside.last_error
    assert (inside.payload["voucher"]["voucher_type"], inside.payload["voucher"]["reftype"]) == (9, 2030)
    assert sending.sync_orders() == 1
    across = take(
        connection, document(stock.TRANSFER, line, source_id="9002", number="IT100002", to_location="1002")
    )
    assert across.state == State.BLOCKED
    assert "Post in demo-hanoi a sale to demo-hcm with a stock issue from KHO01" in across.last_error
    assert "a purchase from demo-hanoi with a stock receipt into KHO02" in across.last_error


def test_stock_differences_compare_the_companys_warehouses_with_the_locations_routed_to_it(
    connection, sim, source
):
    sim.set_balance("demo-hanoi", "SKU-AO-01", "KHO01", 10)
    sim.set_balance("demo-hanoi", "SKU-MU-03", "KHO01", 4)
    sim.set_balance("demo-hanoi", "SKU-QUAN-02", "KHO02", 9)  # a warehouse no location of hanoi maps to
    source.on_hand = [
        StockBalance(place="1001", sku="SKU-AO-01", quantity=Decimal(10)),
        StockBalance(place="1001", sku="SKU-MU-03", quantity=Decimal(3)),
        StockBalance(place="1001", sku="SKU-COMBO-04", quantity=Decimal("1.5")),
        StockBalance(place="1002", sku="SKU-AO-01", quantity=Decimal(99)),  # routed to demo-hcm
    ]
    account = connection.accounts.get(external_id="demo-hanoi")
    assert AmisTarget().stock_differences(account) == [
        {"sku": "SKU-COMBO-04", "place": "KHO01", "source": "1.5", "target": "0"},
        {"sku": "SKU-MU-03", "place": "KHO01", "source": "3", "target": "4"},
    ]


def test_a_person_fixes_the_mapping_and_retries_a_held_document(connection, sim):
    held = take(connection, document(location="1003"))
    assert held.state == State.BLOCKED
    account = held.account
    account.settings = {
        "mapping": {**MAPPING, "locations": {**MAPPING["locations"], "1003": {"stock_code": "KHO02"}}}
    }
    account.save()
    assert posting.retry([held]) == 1
    held.refresh_from_db()
    assert held.state == State.QUEUED and held.payload["voucher"]["detail"][0]["stock_code"] == "KHO02"
    sending.sync_orders()
    deliver(sim)
    generate("demo-hanoi")
    deliver(sim)
    held.refresh_from_db()
    assert held.state == State.DONE
    words = list(SyncAttempt.objects.filter(document=held).values_list("message", flat=True))
    assert any(w.startswith("[AMIS demo-hanoi] Voucher MH") and w.endswith("for IR100012.") for w in words), (
        words
    )
