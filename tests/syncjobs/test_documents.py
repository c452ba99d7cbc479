"""The document row: one per (connection, account, source object, kind), newest snapshot, safe re-routing."""

import datetime as dt

import pytest
from django.utils import timezone

from connectors.models import License
from haravan.services import intake_order
from syncjobs.models import SyncAttempt, SyncDocument
from tests import factories


@pytest.fixture
def conn(db):
    t = factories.tenant()
    c = factories.connection(t, factories.shop(t, org_id="200000001"), accounts=("0101243150", "0312345673"))
    factories.rule(c, "location", "1002", "0312345673", priority=10)
    return c


def test_out_of_order_delivery_keeps_the_newest_snapshot(conn):
    newer = factories.order(7001, financial_status="paid", updated_at="2026-11-20T10:05:00Z")
    older = factories.order(7001, financial_status="pending", updated_at="2026-11-20T10:00:00Z")
    intake_order("200000001", newer, trigger="webhook orders/paid")
    intake_order("200000001", older, trigger="webhook orders/create")
    doc = SyncDocument.objects.get()
    assert doc.source_data["financial_status"] == "paid"
    assert (
        SyncAttempt.objects.filter(document=doc, action="intake").count() == 1
    )  # the stale copy changed nothing


def test_pending_document_follows_a_new_route(conn):
    intake_order(
        "200000001",
        factories.order(7002, location_id=1001, updated_at="2026-11-20T10:00:00Z"),
        trigger="webhook orders/create",
    )
    intake_order(
        "200000001",
        factories.order(7002, location_id=1002, updated_at="2026-11-20T10:01:00Z"),
        trigger="webhook orders/updated",
    )
    doc = SyncDocument.objects.get()
    assert doc.account.external_id == "0312345673"
    last = SyncAttempt.objects.filter(document=doc).latest("id")
    assert "moved from [MST 0101243150]" in last.message


def test_document_that_reached_the_target_never_moves(conn):
    intake_order(
        "200000001",
        factories.order(7003, location_id=1001, updated_at="2026-11-20T10:00:00Z"),
        trigger="webhook orders/create",
    )
    SyncDocument.objects.update(state=SyncDocument.State.DONE)
    intake_order(
        "200000001",
        factories.order(7003, location_id=1002, updated_at="2026-11-20T10:01:00Z"),
        trigger="webhook orders/updated",
    )
    assert list(SyncDocument.objects.values_list("account__external_id", flat=True)) == ["0101243150"]


def test_expired_license_blocks_with_a_clear_error_and_loses_nothing(conn):
    License.objects.filter(tenant=conn.tenant, family="haravan_to_meinvoice").update(
        expires_at=timezone.now() - dt.timedelta(days=1)
    )
    intake_order("200000001", factories.order(7004), trigger="webhook orders/create")
    doc = SyncDocument.objects.get()
    assert doc.state == "blocked"
    assert "license expired on" in doc.last_error and "renew" in doc.last_error
    assert SyncAttempt.objects.filter(
        document=doc, outcome="error", message__contains="license expired"
    ).exists()
    # Renewed: the next delivery of the order unblocks it.
    License.objects.filter(tenant=conn.tenant).update(expires_at=timezone.now() + dt.timedelta(days=30))
    intake_order(
        "200000001", factories.order(7004, updated_at="2026-11-21T00:00:00Z"), trigger="webhook orders/paid"
    )
    doc.refresh_from_db()
    # Unblocked: meInvoice now judges the order itself (unpaid, so not issued yet, and it says why).
    assert doc.state == "skipped" and "issued when it is paid" in doc.last_error


def test_missing_license_is_named(conn):
    License.objects.filter(tenant=conn.tenant).delete()
    intake_order("200000001", factories.order(7005), trigger="webhook orders/create")
    assert "No Haravan → meInvoice license" in SyncDocument.objects.get().last_error


def test_missing_mapping_blocks_with_what_to_do(conn):
    conn.accounts.update(is_default=False)
    intake_order("200000001", factories.order(7006, location_id=1001), trigger="webhook orders/create")
    doc = SyncDocument.objects.get()
    assert doc.account is None and doc.state == "blocked"
    assert "Add a default MST account" in doc.last_error


def test_disabled_connection_takes_nothing(conn):
    conn.enabled = False
    conn.save()
    assert intake_order("200000001", factories.order(7007), trigger="webhook orders/create") == 0
    assert not SyncDocument.objects.exists()


def test_unique_constraint_is_enforced_by_the_database(conn):
    from django.db import IntegrityError, transaction

    intake_order("200000001", factories.order(7008), trigger="webhook orders/create")
    doc = SyncDocument.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncDocument.objects.create(
            connection=conn, account=doc.account, source_type="order", source_id="7008", kind="invoice"
        )


def test_a_document_whose_target_has_no_processor_waits_for_a_person_with_the_reason(db):
    """A connection made for a target that cannot send yet (one registered later, or removed) does not
    leave its documents "pending" for ever: they need a person, are counted so and are alerted."""
    from django.core import mail

    from dashboard import stats
    from syncjobs import alerts

    t = factories.tenant()
    conn = factories.connection(
        t, factories.shop(t, org_id="200000009"), target_kind="fortnox", accounts=("A1",)
    )
    conn.alert_email, conn.alert_language = "ketoan@example.com", "en"
    conn.save()
    intake_order("200000009", factories.order(7100, financial_status="paid"), trigger="test")
    doc = SyncDocument.objects.get()
    assert doc.state == "blocked"
    assert doc.last_error.startswith("No processor for fortnox documents yet")
    assert SyncAttempt.objects.filter(
        document=doc, outcome="error", message__contains="No processor"
    ).exists()
    assert SyncDocument.objects.filter(state__in=stats.NEEDS_PERSON).get() == doc
    assert alerts.send_digests() == 1 and "No processor for fortnox documents yet" in mail.outbox[0].body


def test_documents_left_pending_for_a_target_that_never_sent_are_held_by_the_migration(db):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("amis.migrations.0001_documents_wait_for_a_person")
    t = factories.tenant()
    amis = factories.connection(
        t, factories.shop(t, org_id="200000010"), target_kind="amis", accounts=("A1",)
    )
    meinvoice = factories.connection(t, factories.shop(t, org_id="200000011"))
    for n, connection in enumerate((amis, meinvoice)):
        SyncDocument.objects.create(
            connection=connection,
            account=connection.accounts.get(),
            source_type="order",
            source_id=str(n),
            kind="x",
        )
    migration.hold(apps, None)
    held = SyncDocument.objects.get(connection=amis)
    assert held.state == "blocked" and held.last_error.startswith("No processor for MISA AMIS accounting")
    assert held.error_display.startswith("Chưa có bộ xử lý")  # a sentence each reader gets in their language
    assert SyncDocument.objects.get(connection=meinvoice).state == "pending"
