"""Scheduled and manual passes, and the app install, against the Haravan simulator (in-process)."""

import datetime as dt
from urllib.parse import urlsplit

import pytest
import requests
import responses
from django.db import connection as db_connection
from django.test import Client
from django.utils import timezone

from connectors.models import Connection, License, Membership
from haravan import services
from haravan.models import HaravanLocation, HaravanShop
from sandbox.generator import OrderGenerator
from sandbox.haravan import HaravanSimulator
from sandbox.server import SandboxApp
from sandbox.testing import mount
from syncjobs.models import SyncAttempt, SyncCursor, SyncDocument, SyncRun
from tests import factories

BASE = "http://127.0.0.1:8100"  # the settings' default simulator address, answered in-process


@pytest.fixture
def sim(settings):
    settings.HARAVAN_RATE_CAPACITY = 1000  # the simulator's bucket is the one under test elsewhere
    simulator = HaravanSimulator(
        seed=3, seed_orders=False, webhook_sender=lambda *a: (200, "ok"), webhook_background=False
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


def generator():
    return OrderGenerator(f"{BASE}/haravan", "demo-token", seed=11)


def test_scheduled_pass_reads_updated_orders_once(conn, sim):
    gen = generator()
    orders = [gen.create_random_order() for _ in range(3)]
    assert services.scheduled_sync(conn.pk) == 3
    assert set(SyncDocument.objects.values_list("source_id", flat=True)) == {str(o["id"]) for o in orders}
    run = SyncRun.objects.get()
    assert (run.kind, run.status, run.total, run.processed, run.percent) == ("scheduled", "done", 3, 3, 100)
    assert SyncCursor.objects.get(connection=conn).value is not None
    logs = SyncAttempt.objects.count()

    services.scheduled_sync(conn.pk)  # nothing changed: the overlap re-reads, but writes nothing new
    assert SyncDocument.objects.count() == 3 and SyncAttempt.objects.count() == logs

    gen.pay(orders[0]["id"])
    services.scheduled_sync(conn.pk)
    doc = SyncDocument.objects.get(source_id=str(orders[0]["id"]))
    assert doc.source_data["financial_status"] == "paid"
    assert (
        SyncAttempt.objects.filter(document=doc, action="intake")
        .latest("id")
        .message.startswith("[MST 0101243150] Order")
    )


def test_manual_run_over_a_date_range_reports_progress(conn, sim):
    gen = generator()
    for _ in range(4):
        gen.create_random_order()
    today = timezone.localdate()
    run = services.start_manual_sync(conn, date_from=today - dt.timedelta(days=1), date_to=today)
    services.manual_sync(run.pk)
    run.refresh_from_db()
    assert (run.status, run.total, run.processed, run.failed, run.percent) == ("done", 4, 4, 0, 100)
    assert SyncDocument.objects.count() == 4
    summary = SyncAttempt.objects.get(action="sync")
    assert (
        summary.message
        == f"[Haravan 200000001] Manual sync #{run.pk}: 4 orders read, 4 new or changed, 0 failed."
    )
    assert summary.request["url"].startswith(f"{BASE}/haravan/com/orders.json")
    assert "demo-token" not in str(summary.request) + str(summary.response)

    old = services.start_manual_sync(
        conn, date_from=today - dt.timedelta(days=30), date_to=today - dt.timedelta(days=20)
    )
    services.manual_sync(old.pk)
    old.refresh_from_db()
    assert (old.status, old.total) == ("done", 0)


def test_manual_range_must_be_in_order(conn):
    today = timezone.localdate()
    with pytest.raises(ValueError, match="end date is before the start"):
        services.start_manual_sync(conn, date_from=today, date_to=today - dt.timedelta(days=1))


def test_pass_without_license_stops_with_the_reason(conn, sim):
    License.objects.filter(tenant=conn.tenant).delete()
    services.scheduled_sync(conn.pk)
    run = SyncRun.objects.get()
    assert run.status == "failed" and "No Haravan → meInvoice license" in run.error
    assert SyncAttempt.objects.filter(action="sync", outcome="error", message__contains="license").exists()


def test_pass_when_haravan_refuses_the_token(conn, sim):
    HaravanShop.objects.filter(pk__isnull=False).update(secrets={"access_token": "revoked"})
    services.scheduled_sync(conn.pk)
    run = SyncRun.objects.get()
    assert run.status == "failed" and "401" in run.error
    row = SyncAttempt.objects.get(action="sync")
    assert row.http_status == 401 and row.message.startswith(
        f"[Haravan 200000001] Scheduled sync #{run.pk} stopped"
    )


def test_each_haravan_connection_gets_an_editable_beat_entry(conn):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="haravan.scheduled_sync")
    assert task.args == f"[{conn.pk}]" and task.interval.every == 15 and task.enabled
    conn.enabled = False
    conn.save()
    task.refresh_from_db()
    assert not task.enabled
    conn.delete()
    assert not PeriodicTask.objects.filter(task="haravan.scheduled_sync").exists()


# --- install ----------------------------------------------------------------------------------------


def follow_to_callback(client, start_path="/haravan/install/"):
    start = client.get(start_path)
    assert start.status_code == 302
    authorize = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert authorize.status_code == 302, authorize.text
    back = urlsplit(authorize.headers["Location"])
    assert back.path == "/haravan/install/callback/"
    return client.get(f"{back.path}?{back.query}")


def test_install_creates_tenant_shop_owner_and_connection(db, sim):
    client = Client()
    done = follow_to_callback(client)
    assert done.status_code == 302 and done["Location"] == "/"
    shop = HaravanShop.objects.get(org_id="200000001")
    assert shop.token_kind == "oauth" and shop.access_token
    with db_connection.cursor() as cur:
        cur.execute("SELECT secrets FROM haravan_haravanshop WHERE id = %s", [shop.pk])
        assert shop.access_token not in cur.fetchone()[0]  # encrypted at rest
    owner = Membership.objects.get(tenant=shop.tenant)
    assert owner.role == "owner" and owner.user.email == "lienhe@demo-shop.vn"
    assert Connection.objects.filter(
        tenant=shop.tenant, source_key="200000001", target_kind="meinvoice"
    ).exists()
    assert HaravanLocation.objects.filter(shop=shop).count() == 2
    assert sim.shops[200000001].subscription  # webhooks subscribed with the new token
    assert client.get("/").status_code == 200  # signed in as the owner

    again = Client()
    assert follow_to_callback(again).status_code == 302  # the owner signs in again through Haravan
    assert HaravanShop.objects.count() == 1 and Membership.objects.count() == 1


def test_install_refuses_to_sign_into_someone_elses_account(db, sim):
    factories.user(None, email="lienhe@demo-shop.vn")
    resp = follow_to_callback(Client())
    assert resp.status_code == 409 and "sign in" in resp.content.decode()


def test_signed_in_user_becomes_owner_of_the_installed_shop(db, sim):
    user = factories.user(None, email="someone@example.com")
    client = Client()
    client.force_login(user)
    follow_to_callback(client)
    assert Membership.objects.get(user=user).role == "owner"


def test_callback_with_a_foreign_state_is_refused(db, sim):
    client = Client()
    client.get("/haravan/install/")
    resp = client.get("/haravan/install/callback/", {"code": "x", "state": "not-ours"})
    assert resp.status_code == 400 and "Start the install again" in resp.content.decode()
    assert not HaravanShop.objects.exists()


def test_private_app_token_connects_the_shop(db, sim):
    user = factories.user(None)
    client = Client()
    client.force_login(user)
    resp = client.post("/haravan/connect-private/", {"token": "demo-token"})
    assert resp.status_code == 302
    shop = HaravanShop.objects.get()
    assert shop.token_kind == "private" and Membership.objects.get(user=user).tenant == shop.tenant
    bad = client.post("/haravan/connect-private/", {"token": "wrong"})
    assert bad.status_code == 400 and "did not accept the token" in bad.content.decode()
