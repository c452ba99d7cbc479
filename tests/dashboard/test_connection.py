"""The connection screen: shop, licence, owner-only settings, the schedule, manual sync with progress."""

import datetime as dt
import json
import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app as celery_app
from connectors.models import Connection, License, Membership
from haravan import schedules
from haravan.models import HaravanShop
from syncjobs.models import SyncRun
from tests import factories

Role = Membership.Role


def sync_form(date_from, date_to, *, token=None) -> dict:
    """The manual sync form as the page renders it: its one-time token included."""
    return {"date_from": date_from, "date_to": date_to, "request_token": token or str(uuid.uuid4())}


def signed_in(user):
    return factories.signed_in(user)


def section(html: str, element_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{element_id}".*?</section>', html, re.S)
    assert match, f"no section {element_id}"
    return match.group(0)


def messages_of(resp) -> list[str]:
    return [str(m) for m in resp.context["messages"]] if resp.context else []


@pytest.fixture
def setup(db):
    tenant = factories.tenant("Shop A")
    shop = factories.shop(tenant, org_id="111", private=True)
    conn = factories.connection(tenant, shop)
    return {
        "tenant": tenant,
        "shop": shop,
        "conn": conn,
        "url": f"/connections/{conn.pk}/",
        "owner": factories.user(tenant, role=Role.OWNER),
        "accountant": factories.user(tenant, role=Role.ACCOUNTANT),
        "viewer": factories.user(tenant, role=Role.VIEWER),
    }


def page(setup, who="owner") -> str:
    resp = signed_in(setup[who]).get(setup["url"])
    assert resp.status_code == 200
    return resp.content.decode()


# --- what the page shows --------------------------------------------------------------------------------


def test_shows_the_shop_and_how_to_reconnect(setup):
    html = page(setup)
    source = section(html, "source")
    assert "111" in source and "Private app token" in source and 'data-shop="installed"' in source
    assert 'href="/haravan/install/"' in source and "Reconnect" in source
    assert 'aria-current="page"' in html  # the connection tab of the shared tabs
    assert "shop-token" not in html  # the token is never rendered

    HaravanShop.objects.filter(pk=setup["shop"].pk).update(uninstalled_at=timezone.now())
    source = section(page(setup), "source")
    assert 'data-shop="uninstalled"' in source and "no new orders arrive" in source
    assert "Reconnect" not in section(page(setup, "viewer"), "source")


def test_licence_valid_expiring_expired_and_missing(setup):
    licence = License.objects.get(tenant=setup["tenant"], family="haravan_to_meinvoice")
    valid_until = timezone.localdate(licence.expires_at).isoformat()
    part = section(page(setup), "licence")
    assert 'data-licence="valid"' in part and f"Valid until {valid_until}" in part
    assert "expires in 30 days" in part

    noon_in_three_days = dt.datetime.combine(timezone.localdate() + dt.timedelta(days=3), dt.time(12))
    expires = timezone.make_aware(noon_in_three_days)  # "3 days" is counted in the shop's local days
    License.objects.filter(pk=licence.pk).update(expires_at=expires)
    part = section(page(setup), "licence")
    assert 'data-licence="expiring"' in part and "expires in 3 days" in part and "Renew it before" in part

    License.objects.filter(pk=licence.pk).update(expires_at=timezone.now() - dt.timedelta(days=2))
    part = section(page(setup), "licence")
    assert 'data-licence="expired"' in part and "licence-bad" in part
    assert "Syncing is paused" in part and "Renew the licence" in part

    licence.delete()
    part = section(page(setup), "licence")
    assert 'data-licence="missing"' in part and "Ask your LedgerLink reseller for a licence" in part


def test_another_tenants_connection_is_404_for_reading_and_writing(setup):
    other = factories.tenant("Shop B")
    theirs = factories.connection(other, factories.shop(other, org_id="222"))
    client = signed_in(setup["owner"])
    assert client.get(f"/connections/{theirs.pk}/").status_code == 404
    for action, data in [
        ("enabled", {"enabled": "0"}),
        ("alerts", {"alert_email": "x@example.com"}),
        ("schedule", {"every_minutes": "30", "enabled": "on"}),
        ("sync", {"date_from": "2026-11-01", "date_to": "2026-11-02"}),
    ]:
        assert client.post(f"/connections/{theirs.pk}/{action}/", data).status_code == 404
    theirs.refresh_from_db()
    assert theirs.enabled and theirs.alert_email == "" and not theirs.runs.exists()


# --- settings: the owner only ------------------------------------------------------------------------


def test_owner_switches_the_connection_off_and_on(setup):
    client, conn = signed_in(setup["owner"]), setup["conn"]
    resp = client.post(f"{setup['url']}enabled/", {"enabled": "0"}, follow=True)
    conn.refresh_from_db()
    assert not conn.enabled and "The connection is off" in " ".join(messages_of(resp))
    assert not PeriodicTask.objects.get(name=schedules.task_name(conn)).enabled
    assert 'data-enabled="off"' in resp.content.decode()

    client.post(f"{setup['url']}enabled/", {"enabled": "1"})
    conn.refresh_from_db()
    assert conn.enabled and PeriodicTask.objects.get(name=schedules.task_name(conn)).enabled


def test_owner_sets_a_valid_alert_email_and_an_invalid_one_is_refused(setup):
    client, conn = signed_in(setup["owner"]), setup["conn"]
    resp = client.post(f"{setup['url']}alerts/", {"alert_email": " ketoan@shop.vn "}, follow=True)
    conn.refresh_from_db()
    assert conn.alert_email == "ketoan@shop.vn" and "now go to ketoan@shop.vn" in " ".join(messages_of(resp))

    resp = client.post(f"{setup['url']}alerts/", {"alert_email": "ketoan at shop"})
    conn.refresh_from_db()
    assert resp.status_code == 200 and conn.alert_email == "ketoan@shop.vn"
    assert "That is not an e-mail address we can write to" in section(resp.content.decode(), "settings")

    client.post(f"{setup['url']}alerts/", {"alert_email": ""})
    conn.refresh_from_db()
    assert conn.alert_email == ""


@pytest.mark.parametrize("who", ["viewer", "accountant"])
def test_only_the_owner_changes_settings(setup, who):
    client, conn = signed_in(setup[who]), setup["conn"]
    task = PeriodicTask.objects.get(name=schedules.task_name(conn))
    for action, data in [
        ("enabled", {"enabled": "0"}),
        ("alerts", {"alert_email": "x@example.com"}),
        ("schedule", {"every_minutes": "60", "enabled": ""}),
    ]:
        assert client.post(f"{setup['url']}{action}/", data).status_code == 403
    conn.refresh_from_db()
    task.refresh_from_db()
    assert conn.enabled and conn.alert_email == "" and task.interval.every == 15 and task.enabled
    html = page(setup, who)
    assert "/enabled/" not in html and "/alerts/" not in html and "/schedule/" not in html


# --- the schedule --------------------------------------------------------------------------------------


def test_schedule_interval_and_switch_change_the_same_periodic_task(setup):
    client, conn = signed_in(setup["owner"]), setup["conn"]
    before = PeriodicTask.objects.get(name=schedules.task_name(conn))
    assert before.interval.every == 15 and before.enabled

    resp = client.post(f"{setup['url']}schedule/", {"every_minutes": "30", "enabled": "on"}, follow=True)
    task = PeriodicTask.objects.get(name=schedules.task_name(conn))
    assert task.pk == before.pk and task.interval.every == 30 and task.interval.period == "minutes"
    assert task.enabled and json.loads(task.args) == [conn.pk] and task.task == "haravan.scheduled_sync"
    assert "every 30 minutes" in section(resp.content.decode(), "schedule")

    client.post(f"{setup['url']}schedule/", {"every_minutes": "30"})  # the box unticked: off
    task.refresh_from_db()
    assert not task.enabled and task.interval.every == 30
    client.post(f"{setup['url']}alerts/", {"alert_email": "a@shop.vn"})  # saving the connection...
    client.post(f"{setup['url']}enabled/", {"enabled": "0"})
    client.post(f"{setup['url']}enabled/", {"enabled": "1"})
    task.refresh_from_db()
    assert not task.enabled  # ...does not switch the schedule back on behind the person's back
    assert PeriodicTask.objects.filter(task="haravan.scheduled_sync").count() == 1


def test_a_schedule_out_of_range_is_refused_in_words(setup):
    resp = signed_in(setup["owner"]).post(f"{setup['url']}schedule/", {"every_minutes": "1", "enabled": "on"})
    assert resp.status_code == 200
    assert "At least 5 minutes" in section(resp.content.decode(), "schedule")
    assert PeriodicTask.objects.get(name=schedules.task_name(setup["conn"])).interval.every == 15


# --- manual sync and progress --------------------------------------------------------------------------


def queued_task_names() -> list[str]:
    """What the in-memory broker holds on the default queue (read off, so the next test starts empty)."""
    names = []
    with celery_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(celery_app.conf.task_default_queue)
        try:
            while True:
                message = queue.get(block=False)
                names.append(message.headers["task"])
                message.ack()
        except queue.Empty:
            pass
        finally:
            queue.close()
    return names


@pytest.mark.parametrize("who", ["owner", "accountant"])
def test_manual_sync_creates_a_run_enqueues_it_and_shows_its_progress(
    setup, who, django_capture_on_commit_callbacks
):
    queued_task_names()  # empty the queue
    client, conn = signed_in(setup[who]), setup["conn"]
    today = timezone.localdate()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        resp = client.post(
            f"{setup['url']}sync/",
            sync_form((today - dt.timedelta(days=3)).isoformat(), today.isoformat()),
        )
    run = SyncRun.objects.get(connection=conn)
    assert resp.status_code == 302 and resp["Location"] == f"{setup['url']}#run-{run.pk}"
    assert (run.kind, run.status, run.created_by) == ("manual", "queued", setup[who])
    assert run.params["created_at_min"].startswith((today - dt.timedelta(days=3)).isoformat())
    assert run.params["created_at_max"].startswith(today.isoformat())
    assert len(callbacks) == 1 and queued_task_names() == ["haravan.manual_sync"]

    resp = client.get(resp["Location"])
    runs = section(resp.content.decode(), "runs")
    assert f'id="run-{run.pk}"' in runs and f'hx-get="/runs/{run.pk}/progress/"' in runs
    assert 'hx-trigger="every 1s"' in runs and "<progress" in runs
    assert f"Manual sync #{run.pk} started" in " ".join(messages_of(resp))


def test_the_same_sync_form_posted_twice_starts_one_run(setup, django_capture_on_commit_callbacks):
    client, today = signed_in(setup["owner"]), timezone.localdate().isoformat()
    token = re.search(r'name="request_token" value="([0-9a-f-]+)"', client.get(setup["url"]).content.decode())
    form = sync_form(today, today, token=token.group(1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = client.post(f"{setup['url']}sync/", form)
        second = client.post(f"{setup['url']}sync/", form)
    run = SyncRun.objects.get(connection=setup["conn"])
    assert first["Location"] == second["Location"] == f"{setup['url']}#run-{run.pk}" and len(callbacks) == 1


def test_an_end_before_the_start_is_refused_with_a_message(setup, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        resp = signed_in(setup["owner"]).post(f"{setup['url']}sync/", sync_form("2026-11-20", "2026-11-18"))
    assert resp.status_code == 200 and not SyncRun.objects.exists() and not callbacks
    assert "The end date (2026-11-18) is before the start date (2026-11-20)" in section(
        resp.content.decode(), "manual-sync"
    )


def test_a_viewer_cannot_start_a_manual_sync(setup):
    today = timezone.localdate().isoformat()
    resp = signed_in(setup["viewer"]).post(f"{setup['url']}sync/", sync_form(today, today))
    assert resp.status_code == 403 and not SyncRun.objects.exists()
    assert 'id="manual-sync"' not in page(setup, "viewer")


def test_manual_sync_waits_for_a_licence(setup):
    License.objects.filter(tenant=setup["tenant"]).delete()
    today = timezone.localdate().isoformat()
    resp = signed_in(setup["owner"]).post(f"{setup['url']}sync/", sync_form(today, today))
    assert resp.status_code == 200 and not SyncRun.objects.exists()
    assert "licence is missing or expired" in section(resp.content.decode(), "manual-sync")


def test_the_progress_fragment_shows_the_percent_and_stops_polling_when_done(setup):
    run = SyncRun.objects.create(
        connection=setup["conn"],
        kind=SyncRun.Kind.MANUAL,
        status=SyncRun.Status.RUNNING,
        total=8,
        processed=2,
    )
    client = signed_in(setup["viewer"])
    fragment = client.get(f"/runs/{run.pk}/progress/").content.decode()
    assert 'value="25"' in fragment and "25%" in fragment and 'hx-trigger="every 1s"' in fragment
    assert 'data-percent="25"' in section(page(setup, "viewer"), "runs")

    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.DONE, processed=8)
    fragment = client.get(f"/runs/{run.pk}/progress/").content.decode()
    assert 'value="100"' in fragment and "hx-trigger" not in fragment


def test_the_polled_fragment_does_not_count_what_needs_a_person(setup):
    """The banner's count is for whole pages; a fragment asked for every second must not pay for it."""
    run = SyncRun.objects.create(connection=setup["conn"], kind=SyncRun.Kind.MANUAL, status="running")
    client = signed_in(setup["viewer"])
    with CaptureQueriesContext(connection) as fragment:
        client.get(f"/runs/{run.pk}/progress/")
    with CaptureQueriesContext(connection) as whole_page:
        client.get("/")
    banner = [q["sql"] for q in whole_page.captured_queries if 'COUNT(*) AS "__count"' in q["sql"]]
    assert len(banner) == 1 and "syncjobs_syncdocument" in banner[0]  # once, though base.html reads it twice
    assert not any("syncjobs_syncdocument" in q["sql"] for q in fragment.captured_queries)


def test_connection_page_stays_generic_over_target_kinds(setup, other_target):
    books = Connection.objects.create(
        tenant=setup["tenant"],
        name="Shop → Books",
        source_kind="haravan",
        source_key="111",
        target_kind=other_target.name,
    )
    License.objects.create(
        tenant=setup["tenant"], family=other_target.family, expires_at=timezone.now() + dt.timedelta(days=90)
    )
    html = signed_in(setup["owner"]).get(f"/connections/{books.pk}/").content.decode()
    assert "Test Books" in html and 'data-licence="valid"' in section(html, "licence")


def test_a_connection_to_a_target_that_is_not_registered_still_shows_and_says_so(setup):
    """Registered targets only are offered, but a connection made earlier (to a target since removed, or
    not yet able to post) keeps its page: nothing is licensed or sent for it."""
    old = Connection.objects.create(
        tenant=setup["tenant"],
        name="Shop → Fortnox",
        source_kind="haravan",
        source_key="111",
        target_kind="fortnox",
    )
    html = signed_in(setup["owner"]).get(f"/connections/{old.pk}/").content.decode()
    assert "Shop → Fortnox" in html and 'data-licence="missing"' in section(html, "licence")
