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

from connectors.models import Connection, TargetAccount
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
    take(paid_orders(1)[0])
    services.sync_orders()
    out = StringIO()
    call_command("report_orders", "--org", conn.tenant.slug, "--date", today().isoformat(), stdout=out)
    text = out.getvalue()
    assert f"[MST {MST}]" in text and "matches" in text and "expected        1" in text
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
