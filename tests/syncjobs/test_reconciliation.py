"""The daily reconciliation against the simulators, in-process: Haravan orders issued in meInvoice, then
each kind of difference planted where it happens (in meInvoice's own screens, a lost webhook, the tax
authority) and the report naming each one. The real clients, services and database; only the network is
replaced."""

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from hypothesis import example, given
from hypothesis import strategies as st

from connectors.models import CatalogItem, Connection, TargetAccount
from haravan import services as haravan_services
from haravan.client import HaravanClient
from meinvoice import services
from sandbox.generator import OrderGenerator
from syncjobs.models import ReconciledDay, SyncDocument
from syncjobs.reconciliation import check_day, nightly_connections
from tests import factories

BASE = "http://127.0.0.1:8100"
ORG = "200000001"
MST = "0101243150"
VN = dt.timezone(dt.timedelta(hours=7))


@pytest.fixture
def conn(db, sandbox):
    tenant = factories.tenant("Demo")
    factories.shop(tenant, org_id=ORG, token="demo-token")
    connection = Connection.objects.create(
        tenant=tenant, name="Demo → meInvoice", source_kind="haravan", source_key=ORG, target_kind="meinvoice"
    )
    account = TargetAccount.objects.create(
        connection=connection,
        external_id=MST,
        is_default=True,
        credentials={"app_id": "demo-app", "username": "demo", "password": "demo"},
    )
    services.sync_templates(account)
    return connection


def today():
    return dt.datetime.now(VN).date()


def control(sandbox, path, **body):
    from sandbox.core import Headers, Request

    request = Request(
        method="POST",
        path=f"/meinvoice/_sandbox/{path}",
        query={},
        headers=Headers({"Content-Type": "application/json"}),
        body=json.dumps(body).encode(),
    )
    response = sandbox.handle(request)
    assert response.status < 300, response.body
    return json.loads(response.body)


def paid_orders(n, seed=21):
    g = OrderGenerator(f"{BASE}/haravan", "demo-token", seed=seed)
    orders = []
    for _ in range(n):
        order = g.create_random_order()
        if order["financial_status"] != "paid":
            g.pay(order["id"])
        orders.append(HaravanClient(ORG, "demo-token").get_order(order["id"]))
    return orders


def take(order):
    haravan_services.intake_order(ORG, order, trigger="test")
    return SyncDocument.objects.get(source_id=str(order["id"]), kind="invoice")


def report(conn, day=None, *extra):
    out = StringIO()
    call_command(
        "report_orders",
        "--org",
        conn.tenant.slug,
        "--date",
        (day or today()).isoformat(),
        "--json",
        *extra,
        stdout=out,
    )
    return json.loads(out.getvalue())


def number(doc):
    return f"{doc.result['inv_series']}-{doc.result['inv_no']}"


def test_a_clean_day_matches_with_its_count_and_sum(conn, sandbox):
    orders = paid_orders(4)
    for order in orders:
        take(order)
    assert services.sync_orders() == 4
    answer = report(conn)
    assert answer["date"] == today().isoformat()
    (account,) = answer["accounts"]
    total = sum(Decimal(str(o["total_price"])) for o in orders)
    assert account == {
        "target": "meinvoice",
        "account": MST,
        "expected": {"count": 4, "total": int(total)},
        "confirmed": {"count": 4, "total": int(total)},
        "differences": [],
    }
    row = ReconciledDay.objects.get()
    assert row.matches and not row.error and row.day == today()


def test_each_planted_difference_is_named(conn, sandbox):
    orders = paid_orders(8)
    lost, duplicated, edited, refused, waiting, clean, never_reached, cancelled = orders
    docs = {o["id"]: take(o) for o in orders if o is not never_reached}
    held = [docs.pop(waiting["id"]).pk, docs.pop(cancelled["id"]).pk]
    SyncDocument.objects.filter(pk__in=held).update(state="pending")  # not handed out yet
    assert services.sync_orders() == 5
    SyncDocument.objects.filter(pk=held[0]).update(state="queued")
    # a refusal of our own: the document failed before anything was issued (a person must act)
    SyncDocument.objects.filter(pk=held[1]).update(state="failed", last_error="Invalid buyer")
    docs = {k: SyncDocument.objects.get(pk=d.pk) for k, d in docs.items()}
    assert all(d.state == "done" for d in docs.values())
    sim = sandbox["/meinvoice"]
    # refused: the tax authority rejected it (SendTaxStatus 3)
    sim.accounts[MST].find_ref(docs[refused["id"]].result["ref_id"]).tax_fate = 3
    sim.advance(60)
    control(sandbox, "delete_invoice", mst=MST, ref_id=docs[lost["id"]].result["ref_id"])
    edited_total = int(Decimal(str(edited["total_price"]))) + 1000
    control(sandbox, "edit_invoice", mst=MST, ref_id=docs[edited["id"]].result["ref_id"], total=edited_total)
    twin_payload = docs[duplicated["id"]].payload
    twin = control(
        sandbox,
        "issue_outside",
        mst=MST,
        total=twin_payload["TotalAmount"],
        buyer_legal_name=twin_payload.get("BuyerLegalName"),
        buyer_full_name=twin_payload.get("BuyerFullName"),
    )["invoice"]

    answer = report(conn)
    (account,) = answer["accounts"]
    by_source = {d["source"]: d for d in account["differences"]}
    assert set(by_source) == {
        lost["name"],
        duplicated["name"],
        edited["name"],
        refused["name"],
        waiting["name"],
        never_reached["name"],
        cancelled["name"],
    }
    assert clean["name"] not in by_source
    assert by_source[lost["name"]]["kind"] == "missing"
    assert by_source[lost["name"]]["target_document"] is None
    assert "deleted" in by_source[lost["name"]]["detail"]
    assert by_source[duplicated["name"]]["kind"] == "duplicated"
    twin_number = f"{twin['InvSeries']}-{twin['InvNo']}"
    assert by_source[duplicated["name"]]["target_document"] == twin_number
    assert number(docs[duplicated["id"]]) in by_source[duplicated["name"]]["detail"]
    assert by_source[edited["name"]] == {
        "kind": "amount",
        "source": edited["name"],
        "target_document": number(docs[edited["id"]]),
        "detail": by_source[edited["name"]]["detail"],
    }
    assert "difference 1.000 đồng" in by_source[edited["name"]]["detail"]
    assert by_source[refused["name"]]["kind"] == "refused"
    assert "SendTaxStatus 3" in by_source[refused["name"]]["detail"]
    assert by_source[cancelled["name"]]["kind"] == "refused"
    assert by_source[cancelled["name"]]["detail"] == "Invalid buyer"
    assert by_source[waiting["name"]]["kind"] == "waiting"
    assert by_source[waiting["name"]]["detail"].startswith("Queued to send since ")
    assert by_source[never_reached["name"]]["kind"] == "missing"
    assert "never reached this service" in by_source[never_reached["name"]]["detail"]
    assert account["expected"]["count"] == 8
    # the stored row: every difference keeps the document a retry would resend
    row = ReconciledDay.objects.get()
    assert not row.matches
    stored = {d["source"]: d for d in row.differences}
    assert stored[cancelled["name"]]["document_id"] == held[1]
    assert stored[cancelled["name"]]["retryable"] is True
    assert stored[lost["name"]]["retryable"] is False
    assert stored[never_reached["name"]]["document_id"] is None


def test_a_target_that_cannot_be_asked_is_an_error_not_a_match(conn, sandbox, settings):
    take(paid_orders(1)[0])
    services.sync_orders()
    sandbox["/meinvoice"].set_knobs(error_rate=1.0)
    (row,) = check_day(conn, today())
    assert not row.matches and "could not be asked" in row.error
    assert row.expected_count == 1


def test_the_command_prints_a_readable_report_and_refuses_bad_input(conn, sandbox):
    doc = take(paid_orders(1)[0])
    services.sync_orders()
    out = StringIO()
    call_command("report_orders", "--org", conn.tenant.slug, "--date", today().isoformat(), stdout=out)
    text = out.getvalue()
    assert f"[MST {MST}]" in text and "matches" in text and "expected        1" in text
    doc.refresh_from_db()
    control(sandbox, "delete_invoice", mst=MST, ref_id=doc.result["ref_id"])
    out = StringIO()
    call_command(
        "report_orders",
        "--org",
        conn.tenant.slug,
        "--date",
        today().isoformat(),
        "--language",
        "vi",
        stdout=out,
    )
    text = out.getvalue()
    assert "1 differences" in text
    assert f"  - missing    {doc.source_label}: meInvoice ghi hóa đơn" in text or (
        f"  - missing    {doc.source_label}: meInvoice lists invoice" in text  # before the catalogue has it
    )
    with pytest.raises(CommandError, match="no enabled connection"):
        call_command(
            "report_orders", "--org", conn.tenant.slug, "--date", today().isoformat(), "--connection", "0"
        )
    with pytest.raises(CommandError, match="No merchant"):
        call_command("report_orders", "--org", "nobody", "--date", today().isoformat())
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("report_orders", "--org", conn.tenant.slug, "--date", "03/12/2026")


def test_the_nightly_job_checks_every_connection_s_day_before_in_its_own_zone(conn, sandbox, settings):
    from syncjobs import tasks

    take(paid_orders(1)[0])
    services.sync_orders()
    assert tasks.reconcile_day(conn.pk, today().isoformat()) == {
        "day": today().isoformat(),
        "accounts": 1,
        "matching": 1,
    }
    assert nightly_connections() == [conn.pk]
    Connection.objects.create(
        tenant=conn.tenant,
        name="Off",
        source_kind="haravan",
        source_key="9",
        target_kind="amis",
        enabled=False,
    )
    assert nightly_connections() == [conn.pk]
    assert tasks.reconcile_day(conn.pk)["day"] == (today() - dt.timedelta(days=1)).isoformat()
    yesterday = ReconciledDay.objects.get(day=today() - dt.timedelta(days=1))
    assert yesterday.matches and yesterday.expected_count == 0
    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-yesterday"]
    assert entry["task"] == "syncjobs.reconcile_yesterday"
    assert entry["schedule"].hour == {settings.RECONCILE_HOUR}


# --- AMIS: what the accountant does in AMIS, named ------------------------------------------------------

AMIS_MAPPING = {
    "locations": {"1001": {"stock_code": "KHO01"}, "1002": {"stock_code": "KHO02"}},
    "parties": {"walk_in": "KHACHLE", "by_channel": {"shopee": "KHACHLE_SHOPEE"}},
    "gateways": {"Thanh toán khi giao hàng (COD)": "cash", "Chuyển khoản ngân hàng": "bank"},
    "default_gateway": "cash",
}


@pytest.fixture
def amis(sandbox):
    from django.test import Client

    from sandbox.testing import django_client_sender

    sim = sandbox.mounts["/amis"]
    sim.webhooks.sender = django_client_sender(Client())  # callbacks reach our own endpoint
    sim.set_knobs(auto_generate=False)  # the accountant generates when the test says so
    return sim


@pytest.fixture
def books(db, amis):
    tenant = factories.tenant("Books")
    factories.shop(tenant, org_id=ORG, token="demo-token")
    connection = Connection.objects.create(
        tenant=tenant, name="Demo → AMIS", source_kind="haravan", source_key=ORG, target_kind="amis"
    )
    for code, default in (("demo-hanoi", True), ("demo-hcm", False), ("demo-tmdt", False)):
        TargetAccount.objects.create(
            connection=connection,
            external_id=code,
            is_default=default,
            credentials={"access_code": "demo"},
            settings={"mapping": AMIS_MAPPING},
        )
    return connection


def amis_control(sandbox, path, **body):
    from sandbox.core import Headers, Request

    request = Request(
        method="POST",
        path=f"/amis/_sandbox/{path}",
        query={},
        headers=Headers({"Content-Type": "application/json"}),
        body=json.dumps(body).encode(),
    )
    response = sandbox.handle(request)
    assert response.status < 300, response.body
    return json.loads(response.body)


def deliver(sim):
    """The simulator's due callbacks reach our endpoint; a worker then applies the stored events."""
    from amis import callbacks
    from syncjobs.models import InboundEvent

    sim.advance(5)
    sim.pump(release_held=True)
    sim.webhooks.drain()
    for event in InboundEvent.objects.filter(source_kind="amis", status=InboundEvent.Status.PENDING):
        callbacks.process_event(event.pk)


def test_amis_vouchers_edited_deleted_doubled_and_a_deleted_proposal_are_named(books, amis, sandbox):
    from amis import sending

    orders = paid_orders(5, seed=5)
    kept, deleted_proposal, edited, lost, doubled = orders
    for order in orders:
        haravan_services.intake_order(ORG, order, trigger="test")
    sending.sync_orders()
    deliver(amis)
    docs = {o["id"]: SyncDocument.objects.get(connection=books, source_id=str(o["id"]), kind="sales_voucher")
            for o in orders}  # fmt: skip
    assert all(d.state == "sent" for d in docs.values())
    for order in orders:
        if order is not deleted_proposal:
            doc = docs[order["id"]]
            amis_control(sandbox, "generate", company=doc.account.external_id, org_refid=doc.target_ref)
    deliver(amis)
    docs = {k: SyncDocument.objects.get(pk=d.pk) for k, d in docs.items()}
    assert [d.state for d in docs.values()].count("done") == 4
    # the accountant, in AMIS's own screens
    gone = docs[deleted_proposal["id"]]
    amis_control(sandbox, "delete_proposal", company=gone.account.external_id, org_refid=gone.target_ref)
    doc = docs[edited["id"]]
    edited_total = int(Decimal(str(edited["total_price"]))) + 1000
    amis_control(
        sandbox, "edit_voucher", company=doc.account.external_id, org_refid=doc.target_ref, total=edited_total
    )
    doc = docs[lost["id"]]
    amis_control(sandbox, "delete_voucher", company=doc.account.external_id, org_refid=doc.target_ref)
    doc = docs[doubled["id"]]
    copy = amis_control(
        sandbox,
        "add_voucher",
        company=doc.account.external_id,
        custom_field1=str(doubled["id"]),
        total=int(Decimal(str(doubled["total_price"]))),
    )["voucher"]
    deliver(amis)

    answer = report(books)
    differences = {d["source"]: d for a in answer["accounts"] for d in a["differences"]}
    assert set(differences) == {deleted_proposal["name"], edited["name"], lost["name"], doubled["name"]}
    waiting = differences[deleted_proposal["name"]]
    assert waiting["kind"] == "waiting" and waiting["target_document"] is None
    assert "AMIS accepted the proposal on" in waiting["detail"] and "deletes a proposal" in waiting["detail"]
    amount = differences[edited["name"]]
    assert amount["kind"] == "amount" and amount["target_document"] == docs[edited["id"]].result["refno"]
    assert "difference 1.000 đồng" in amount["detail"]
    missing = differences[lost["name"]]
    assert missing["kind"] == "missing" and missing["target_document"] is None
    assert missing["detail"] == f"voucher {docs[lost['id']].result['refno']} was deleted in AMIS"
    doubled_row = differences[doubled["name"]]
    assert doubled_row["kind"] == "duplicated"
    assert {doubled_row["target_document"], docs[doubled["id"]].result["refno"]} >= {copy["refno"]}
    assert (
        docs[doubled["id"]].result["refno"] in doubled_row["detail"]
        and copy["refno"] in doubled_row["detail"]
    )
    kept_account = docs[kept["id"]].account.external_id
    (kept_row,) = [a for a in answer["accounts"] if a["account"] == kept_account]
    assert kept["name"] not in {d["source"] for d in kept_row["differences"]}
    assert sum(a["expected"]["count"] for a in answer["accounts"]) == 5


def test_an_amis_day_where_every_voucher_was_generated_matches(books, amis, sandbox):
    from amis import sending

    orders = paid_orders(3, seed=7)
    for order in orders:
        haravan_services.intake_order(ORG, order, trigger="test")
    sending.sync_orders()
    deliver(amis)
    amis_control(sandbox, "generate", company="demo-hanoi")
    amis_control(sandbox, "generate", company="demo-hcm")
    amis_control(sandbox, "generate", company="demo-tmdt")
    deliver(amis)
    assert set(SyncDocument.objects.filter(connection=books).values_list("state", flat=True)) == {"done"}
    rows = check_day(books, today())
    assert all(row.matches for row in rows), [(r.account.external_id, r.differences, r.error) for r in rows]
    assert sum(row.expected_count for row in rows) == 3
    assert sum(row.confirmed_total for row in rows) == sum(Decimal(str(o["total_price"])) for o in orders)


# --- Severa → Maventa: what Maventa holds ---------------------------------------------------------------


@pytest.fixture
def severa_maventa(db, sandbox, settings):
    from tests.maventa import test_transfer as transfer

    settings.MAVENTA_API_URL = f"{BASE}/maventa"
    settings.MAVENTA_VENDOR_API_KEY = transfer.DEMO_VENDOR_API_KEY
    severa, maventa = sandbox.mounts["/severa"], sandbox.mounts["/maventa"]
    severa.set_knobs(rate_limit=0)
    maventa.set_knobs(delivery_seconds=5)
    return transfer.connection.__wrapped__(db, (severa, maventa), None), maventa


def test_maventa_a_second_invoice_sent_by_hand_and_a_failed_delivery_are_named(severa_maventa, sandbox):
    from maventa import posting
    from severa import services as severa_services

    conn, maventa = severa_maventa
    severa_services.sync_invoices(conn)
    for pk in SyncDocument.objects.filter(state="queued").values_list("pk", flat=True):
        posting.send(pk)
    maventa.advance(10)
    posting.follow_deliveries()
    docs = {d.source_label: d for d in SyncDocument.objects.filter(connection=conn, kind="invoice")}
    assert set(docs) == {"1001", "5001", "5002"} and {d.state for d in docs.values()} == {"done"}
    day = dt.date.fromisoformat(docs["1001"].source_data["invoice"]["date"][:10])
    found = [d for row in check_day(conn, day) for d in row.differences]
    assert found == []  # three invoices delivered, each at Severa's own total to the cent

    twin = sandbox.handle(
        _post("/maventa/_sandbox/send_outside", invoice_id=docs["5002"].result["maventa_id"])
    )
    twin_id = json.loads(twin.body)["id"]
    failed = docs["5001"].result["maventa_id"]
    invoice = next(i for c in maventa.companies.values() for i in c.invoices.values() if i.id == failed)
    invoice.status = "FAILED"
    invoice.actions.append({"type": "ERROR", "channel": "EINVOICE", "message": "Receiver unknown"})

    answer = report(conn, day)
    differences = {d["source"]: d for a in answer["accounts"] for d in a["differences"]}
    assert set(differences) == {"5001", "5002"}
    assert differences["5002"]["kind"] == "duplicated"
    assert twin_id in differences["5002"]["detail"]
    assert docs["5002"].result["maventa_id"] in differences["5002"]["detail"]
    assert differences["5001"] == {
        "kind": "refused",
        "source": "5001",
        "target_document": None,
        "detail": "Maventa could not deliver invoice 5001: Receiver unknown",
    }
    assert {a["target"] for a in answer["accounts"]} == {"maventa"}


def _post(path, **body):
    from sandbox.core import Headers, Request

    return Request(
        method="POST",
        path=path,
        query={},
        headers=Headers({"Content-Type": "application/json"}),
        body=json.dumps(body).encode(),
    )


# --- pure parts -----------------------------------------------------------------------------------------


def test_a_stored_moment_falls_on_the_day_of_the_zone_it_is_read_in():
    from syncjobs.reconciliation import day_of

    assert day_of("2026-12-02T17:30:00.000Z", VN) == dt.date(2026, 12, 3)  # 00:30 in Vietnam
    assert day_of("2026-12-02T16:59:59.999Z", VN) == dt.date(2026, 12, 2)
    assert day_of("2026-12-03T00:10:00+07:00", dt.UTC) == dt.date(2026, 12, 2)
    assert day_of("2026-12-02T23:00:00", VN) == dt.date(2026, 12, 3)  # no offset: UTC
    assert day_of("2026-12-02", VN) == dt.date(2026, 12, 2)  # a bare date is that day anywhere
    assert day_of("", VN) is None and day_of("soon", VN) is None and day_of(None, VN) is None


@example(Decimal("2.50"))
@example(Decimal("-0.50"))
@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False, allow_infinity=False))
def test_json_amounts_are_numbers_to_the_dong_or_the_cent(amount):
    from connectors.money import round_half_up
    from syncjobs.management.commands.report_orders import number

    dong = number(amount, "VND")
    assert isinstance(dong, int) and Decimal(dong) == round_half_up(amount)
    cents = number(amount, "EUR")
    assert Decimal(str(cents)) == amount and json.loads(json.dumps(cents)) == cents


def test_an_amis_company_that_books_stock_has_its_stock_compared_on_the_latest_day(books, amis, sandbox):
    """Haravan's on hand against AMIS's balance per SKU and warehouse, read from both simulators: a SKU that
    agrees is not listed, one that does not is, with both quantities; the day then does not match."""
    from amis.services import sync_master_data
    from haravan.models import HaravanShop
    from haravan.services import sync_products

    account = books.accounts.get(external_id="demo-hanoi")
    account.settings = {"mapping": {**AMIS_MAPPING, "stock": {"adjustment": True}}}
    account.save()
    sync_products(HaravanShop.objects.get(org_id=ORG))
    sync_master_data(account)
    on_hand = {
        (str(row["loc_id"]), row["variant_id"]): row["qty_onhand"]
        for row in HaravanClient(ORG, "demo-token").iter_inventory_locations()
    }
    skus = {item.item_id: item.sku for item in CatalogItem.objects.filter(source_key=ORG).exclude(sku="")}
    (agree, agree_qty), (differ, differ_qty) = [
        ((loc, skus[str(variant)]), qty)
        for (loc, variant), qty in sorted(on_hand.items())
        if loc == "1001" and str(variant) in skus
    ][:2]
    for (_loc, sku), quantity in ((agree, agree_qty), (differ, Decimal(str(differ_qty)) + 3)):
        amis_control(
            sandbox, "balance", company="demo-hanoi", item=sku, stock="KHO01", quantity=str(quantity)
        )

    rows = {row.account.external_id: row for row in check_day(books, today())}
    hanoi = rows["demo-hanoi"]
    listed = {(d["sku"], d["place"]): d for d in hanoi.stock_differences}
    assert (agree[1], "KHO01") not in listed  # the same on both sides
    found = listed[(differ[1], "KHO01")]
    assert Decimal(found["source"]) == Decimal(str(differ_qty))
    assert Decimal(found["target"]) == Decimal(str(differ_qty)) + 3
    assert not hanoi.matches
    # KHO02 (location 1002) is demo-hanoi's too here, and AMIS holds nothing there: each SKU is listed
    assert listed[(agree[1], "KHO02")]["target"] == "0"
    assert rows["demo-hcm"].stock_differences == []  # no location is routed to it here: nothing to compare
    answer = report(books)
    stock = next(a for a in answer["accounts"] if a["account"] == "demo-hanoi")["stock"]
    assert any(item["sku"] == differ[1] for item in stock)

    older = check_day(books, today() - dt.timedelta(days=5))
    assert all(row.stock_differences == [] for row in older)  # balances are today's: not an older day's
