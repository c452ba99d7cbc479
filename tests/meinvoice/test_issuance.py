"""Issuance against the simulators, in-process: routing to MSTs, draft → publish, exactly once, write-back,
status, returns. The real client, services and database; only the network is replaced."""

import copy

import pytest
from django.utils import timezone

from connectors.models import Connection, TargetAccount
from haravan import services as haravan_services
from haravan.client import HaravanClient
from meinvoice import services
from meinvoice.models import MeInvoiceTemplate
from sandbox.generator import OrderGenerator
from syncjobs.models import SyncAttempt, SyncDocument
from tests import factories

BASE = "http://127.0.0.1:8100"
ORG = "200000001"
MSTS = ("0101243150", "0312345673", "0101243150-001")


@pytest.fixture
def conn(db, sandbox):
    tenant = factories.tenant("Demo")
    shop = factories.shop(tenant, org_id=ORG, token="demo-token")
    connection = Connection.objects.create(
        tenant=tenant, name="Demo → meInvoice", source_kind="haravan", source_key=ORG, target_kind="meinvoice"
    )
    for i, mst in enumerate(MSTS):
        account = TargetAccount.objects.create(
            connection=connection,
            external_id=mst,
            is_default=(i == 0),
            name=f"Company {mst}",
            credentials={"app_id": "demo-app", "username": "demo", "password": "demo"},
        )
        services.sync_templates(account)
    factories.rule(connection, "source", "shopee", "0101243150-001", priority=10)
    factories.rule(connection, "location", "1002", "0312345673", priority=20)
    assert shop
    return connection


def meinvoice(sandbox):
    return sandbox["/meinvoice"]


def gen():
    return OrderGenerator(f"{BASE}/haravan", "demo-token", seed=21)


def fresh(order_id):
    return HaravanClient(ORG, "demo-token").get_order(order_id)


def take(order):
    haravan_services.intake_order(ORG, order, trigger="test")
    return SyncDocument.objects.get(source_id=str(order["id"]), kind="invoice")


def paid_order(g=None, **build):
    g = g or gen()
    order = g.create_random_order()
    if order["financial_status"] != "paid":
        g.pay(order["id"])
    return fresh(order["id"])


def expected_mst(order):
    if order.get("source_name") == "shopee":
        return "0101243150-001"
    return "0312345673" if str(order.get("location_id")) == "1002" else "0101243150"


def test_an_unset_meinvoice_url_fails_the_invoice_naming_the_variable(conn, sandbox, settings):
    """Production has no default address: nothing is sent, and the document says what to set."""
    doc = take(paid_order())
    assert doc.state == "queued"
    settings.MEINVOICE_API_URL = ""
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "failed" and doc.next_retry_at is None  # for a person: retrying cannot help
    assert doc.last_error.startswith("POST ") and "MEINVOICE_API_URL is not set" in doc.last_error
    assert meinvoice(sandbox).invoices() == []


def test_template_sync_stores_series_and_picks_an_active_one(conn):
    account = conn.accounts.get(external_id="0101243150")
    series = set(MeInvoiceTemplate.objects.filter(account=account).values_list("inv_series", "inactive"))
    yy = f"{timezone.localdate().year % 100:02d}"
    assert (f"1C{yy}TAA", False) in series and (f"1C{yy}TCC", True) in series
    assert account.settings["series"] in {s for s, inactive in series if not inactive}


def test_paid_orders_are_published_on_the_routed_mst_and_written_back(conn, sandbox):
    g = gen()
    orders = [paid_order(g) for _ in range(6)]
    for order in orders:
        assert take(order).state == "queued"
    assert services.sync_orders() == 6
    issued = {i["RefID"]: i for i in meinvoice(sandbox).invoices()}
    assert len(issued) == 6
    for order in orders:
        doc = SyncDocument.objects.get(source_id=str(order["id"]))
        assert doc.state == "done" and doc.account.external_id == expected_mst(order)
        invoice = issued[doc.result["ref_id"]]
        assert invoice["MST"] == expected_mst(order)
        assert doc.result["transaction_id"] == invoice["TransactionID"]
        assert (
            SyncAttempt.objects.filter(document=doc, action="publish", outcome="ok")
            .get()
            .message.startswith(f"[MST {expected_mst(order)}] Invoice ")
        )
        services.write_back(doc.pk)
        attrs = {a["name"]: a["value"] for a in fresh(order["id"])["note_attributes"]}
        assert attrs["einvoice_lookup_code"] == doc.result["transaction_id"]
        assert attrs["einvoice_mst"] == expected_mst(order)
    # Numbers are sequential per MST and series, with no gap.
    by_series = {}
    for inv in meinvoice(sandbox).invoices():
        by_series.setdefault((inv["MST"], inv["InvSeries"]), []).append(int(inv["InvNo"]))
    for numbers in by_series.values():
        assert numbers == list(range(1, len(numbers) + 1))


def test_unpaid_order_waits_with_a_reason_then_issues_when_paid(conn, sandbox):
    g = gen()
    order = g.create_random_order()
    if order["financial_status"] == "paid":
        pytest.skip("the generator paid this one at once")
    doc = take(fresh(order["id"]))
    assert doc.state == "skipped" and "issued when it is paid" in doc.last_error
    g.pay(order["id"])
    doc = take(fresh(order["id"]))
    assert doc.state == "queued"
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "done"


def test_invalid_buyer_tax_code_blocks_the_order_and_says_why(conn, sandbox):
    order = paid_order()
    order = copy.deepcopy(order)
    order["note_attributes"] = [
        {"name": "vat_tax_code", "value": "0101243151"},
        {"name": "vat_company_name", "value": "Công ty Sai Mã"},
        {"name": "vat_company_address", "value": "1 Tràng Tiền, Hà Nội"},
    ]
    doc = take(order)
    assert doc.state == "blocked" and "0101243151" in doc.last_error
    assert services.sync_orders() == 0 and not meinvoice(sandbox).invoices()


def test_a_lost_answer_is_looked_up_not_sent_twice(conn, sandbox):
    doc = take(paid_order())
    meinvoice(sandbox).set_knobs(timeout_after_commit_rate=1.0, lost_answer_mode="504")
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "retrying" and doc.attempts == 1
    assert len(meinvoice(sandbox).invoices()) == 1  # it was issued although the answer was lost
    meinvoice(sandbox).set_knobs(timeout_after_commit_rate=0.0)
    SyncDocument.objects.filter(pk=doc.pk).update(next_retry_at=timezone.now())
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "done" and len(meinvoice(sandbox).invoices()) == 1
    assert "found already issued" in SyncAttempt.objects.filter(document=doc).latest("id").message


def test_a_duplicate_refid_answer_takes_the_existing_invoice(conn, sandbox):
    doc = take(paid_order())
    services.sync_orders()
    doc.refresh_from_db()
    first = dict(doc.result)
    # As if our record of success were lost: the document goes back to the queue with its same RefID.
    SyncDocument.objects.filter(pk=doc.pk).update(state="queued", attempts=0)
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "done" and doc.result["transaction_id"] == first["transaction_id"]
    assert len(meinvoice(sandbox).invoices()) == 1


def test_server_errors_retry_with_backoff_then_fail_for_a_person(conn, sandbox):
    doc = take(paid_order())
    meinvoice(sandbox).set_knobs(error_rate=1.0)
    for _ in range(services.MAX_ATTEMPTS):
        SyncDocument.objects.filter(pk=doc.pk).update(next_retry_at=None)
        services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "failed" and "Gave up after" in doc.last_error
    assert not meinvoice(sandbox).invoices()


def test_expired_token_is_renewed_transparently(conn, sandbox):
    meinvoice(sandbox).expire_tokens()
    take(paid_order())
    assert services.sync_orders() == 1
    assert SyncDocument.objects.get().state == "done"


def test_draft_mode_keeps_the_invoice_until_an_accountant_publishes(conn, sandbox):
    for account in conn.accounts.all():
        account.settings = {**account.settings, "auto_publish": False}
        account.save()
    doc = take(paid_order())
    assert doc.state == "draft" and doc.payload["TotalAmount"] > 0
    assert services.sync_orders() == 0 and not meinvoice(sandbox).invoices()
    assert services.publish_drafts([doc]) == 1
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "done" and len(meinvoice(sandbox).invoices()) == 1


def test_cancelled_before_issuance_issues_nothing(conn, sandbox):
    g = gen()
    order = g.create_random_order()
    g.cancel(order["id"])
    doc = take(fresh(order["id"]))
    assert doc.state == "skipped" and "cancelled" in doc.last_error


def test_cancellation_after_issuance_becomes_an_adjustment(conn, sandbox):
    g = gen()
    order = paid_order(g)
    doc = take(order)
    services.sync_orders()
    doc.refresh_from_db()
    g.cancel(order["id"])
    take(fresh(order["id"]))
    adj = SyncDocument.objects.get(kind="cancel")
    assert adj.state == "queued" and adj.payload["ReferenceType"] == 2
    assert adj.payload["TotalAmount"] == -doc.payload["TotalAmount"]
    services.sync_orders()
    adj.refresh_from_db()
    assert adj.state == "done"
    originals = {i["RefID"]: i for i in meinvoice(sandbox).invoices()}
    assert originals[doc.result["ref_id"]]["EInvoiceStatus"] == 8  # adjusted


def test_status_refresh_records_the_tax_authority_answer(conn, sandbox):
    doc = take(paid_order())
    services.sync_orders()
    meinvoice(sandbox).advance(60)
    assert services.refresh_status() == 1
    doc.refresh_from_db()
    assert doc.result["send_tax_status"] == 2
    services.write_back(doc.pk)  # the new status reaches the order as well
    attrs = {a["name"]: a["value"] for a in fresh(doc.source_id)["note_attributes"]}
    assert attrs["einvoice_tax_status"] == "accepted by the tax authority"
    assert (
        "accepted by the tax authority"
        in SyncAttempt.objects.filter(document=doc, action="status").get().message
    )


def test_test_connection_reports_both_outcomes(conn, sandbox):
    account = conn.accounts.get(external_id="0312345673")
    ok, message = services.test_connection(account)
    assert ok and "Connected" in message.english()
    account.credentials = {**account.credentials, "password": "wrong"}
    account.save()
    ok, message = services.test_connection(account)
    assert not ok and "0312345673" in message.english() and "wrong" not in message.english()


def test_manual_returns_policy_holds_the_change_for_a_person_until_retried(conn, sandbox):
    g = gen()
    order = paid_order(g)
    take(order)
    services.sync_orders()
    conn.settings = {"meinvoice": {"returns": {"on_cancel_after_issue": "manual"}}}
    conn.save()
    g.cancel(order["id"])
    take(fresh(order["id"]))
    held = SyncDocument.objects.get(kind="cancel")
    assert held.state == "blocked" and "returns policy is manual" in held.last_error
    assert services.sync_orders() == 0
    conn.settings = {"meinvoice": {"returns": {"on_cancel_after_issue": "adjust"}}}
    conn.save()
    assert services.retry([held]) == 1
    adj = SyncDocument.objects.get(kind="cancel")
    assert adj.state == "queued" and adj.payload["ReferenceType"] == 2
    services.sync_orders()
    adj.refresh_from_db()
    assert adj.state == "done"


def test_tag_write_back(conn, sandbox):
    conn.settings = {"meinvoice": {"writeback": "tag"}}
    conn.save()
    order = paid_order()
    doc = take(order)
    services.sync_orders()
    doc.refresh_from_db()
    services.write_back(doc.pk)
    assert f"einvoice_lookup_code:{doc.result['transaction_id']}" in fresh(order["id"])["tags"]


def test_draft_view_link_comes_from_meinvoice(conn, sandbox):
    for account in conn.accounts.all():
        account.settings = {**account.settings, "auto_publish": False}
        account.save()
    doc = take(paid_order())
    link = services.draft_view_link(doc)
    assert link.startswith("http") and "/meinvoice/view/" in link


def test_refund_under_replacement_policy_issues_a_replacement_for_what_the_buyer_keeps(conn, sandbox):
    conn.settings = {"meinvoice": {"returns": {"on_refund": "replace"}}}
    conn.save()
    order = paid_order()
    doc = take(order)
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "done"
    # The buyer sends back one unit of the first line and gets its price back.
    line = order["line_items"][0]
    unit_paid = int(float(line["price"]))
    refunded = copy.deepcopy(order)
    refunded["refunds"] = [
        {
            "id": 77,
            "created_at": "2026-11-22T09:00:00Z",
            "note": "Khách trả 1 sản phẩm",
            "refund_line_items": [{"line_item_id": line["id"], "quantity": 1, "line_item": line}],
            "transactions": [{"kind": "refund", "status": "Thành công", "amount": -unit_paid}],
        }
    ]
    refunded["updated_at"] = "2099-01-01T00:00:00Z"
    take(refunded)
    replacement = SyncDocument.objects.get(kind="replace:77")
    assert replacement.state == "queued", replacement.last_error
    assert replacement.payload["ReferenceType"] == 1
    assert replacement.payload["OrgInvNo"] == doc.result["inv_no"]
    assert replacement.payload["TotalAmount"] == doc.payload["TotalAmount"] - unit_paid
    services.sync_orders()
    replacement.refresh_from_db()
    assert replacement.state == "done"
    by_ref = {i["RefID"]: i for i in meinvoice(sandbox).invoices()}
    assert by_ref[doc.result["ref_id"]]["EInvoiceStatus"] == 7  # replaced
    assert by_ref[replacement.result["ref_id"]]["EInvoiceStatus"] == 3  # a replacement
    assert not SyncDocument.objects.filter(kind__startswith="refund:").exists()


def test_haravans_refund_flow_adjusts_only_the_money_given_back(conn, sandbox):
    """Haravan's documented flow, through the simulator: two restocks with no money change no invoice;
    the money given back alone becomes one adjustment of exactly that amount."""
    g = gen()
    order = g.create_random_order()
    if order["financial_status"] != "paid":
        g.pay(order["id"])
    doc = take(fresh(order["id"]))
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "done"
    units = [li["id"] for li in order["line_items"] for _ in range(li["quantity"])]
    for line_id in units[:2]:  # one unit back at a time, restocked, no money
        g.refund(order["id"], {line_id: 1}, restock=True, note="wrong size")
        take(fresh(order["id"]))
    assert not SyncDocument.objects.filter(kind__startswith="refund:").exists()
    given = g.refund(order["id"], money=15_000, note="hoàn tiền")
    take(fresh(order["id"]))
    (adjustment,) = SyncDocument.objects.filter(kind__startswith="refund:")
    assert adjustment.kind == f"refund:{given['id']}", adjustment.last_error
    assert adjustment.payload["TotalAmount"] == -15_000 and adjustment.payload["ReferenceType"] == 2
    services.sync_orders()
    adjustment.refresh_from_db()
    assert adjustment.state == "done"
    by_ref = {i["RefID"]: i for i in meinvoice(sandbox).invoices()}
    assert by_ref[adjustment.result["ref_id"]]["EInvoiceStatus"] == 5  # an adjustment


def test_a_token_is_reused_until_the_credentials_change(conn):
    account = conn.accounts.get(is_default=True)
    ok, _message = services.test_connection(account)
    assert ok and services.client_for(account).token is not None  # shared with every worker
    account.credentials = {**account.credentials, "password": "a-new-password"}
    account.save()
    assert services.client_for(account).token is None  # logs in again with what the person entered
