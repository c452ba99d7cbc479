"""Bulk retry: choose (rows or all matching), confirm per MST, one run per confirmation, progress to 100 %."""

import base64
import json
import re

import pytest
from django.test import Client
from kombu.transport import memory

from connectors.models import Membership
from dashboard import retry as bulk
from dashboard.tasks import bulk_retry
from syncjobs.models import SyncAttempt, SyncDocument, SyncRun
from tests import factories
from tests.dashboard.test_logs import MST_A, MST_B, NOW, make_doc, signed_in

MST_C = "0101243150-001"


def queued_tasks(name: str) -> list[list]:
    """The arguments of every `name` task waiting in the in-memory broker the tests use."""
    found = []
    for queue in memory.Channel.queues.values():
        for message in list(queue.queue):
            if message["headers"]["task"] == name:
                found.append(json.loads(base64.b64decode(message["body"]))[0])
    return found


@pytest.fixture(autouse=True)
def empty_broker():
    for queue in memory.Channel.queues.values():
        queue.queue.clear()


@pytest.fixture
def world(db):
    a, b = factories.tenant("A"), factories.tenant("B")
    conn = factories.connection(a, factories.shop(a, org_id="111"), accounts=(MST_A, MST_B, MST_C))
    conn_b = factories.connection(b, factories.shop(b, org_id="222"))
    accounts = {acc.external_id: acc for acc in conn.accounts.all()}
    return {
        "tenant": a,
        "conn": conn,
        "conn_b": conn_b,
        "acc": accounts,
        "acc_other": conn_b.accounts.get(),
        "accountant": factories.user(a, role=Membership.Role.ACCOUNTANT, email="ke.toan@example.com"),
        "viewer": factories.user(a, role=Membership.Role.VIEWER, email="viewer@example.com"),
        "other_accountant": factories.user(b, role=Membership.Role.ACCOUNTANT, email="b@example.com"),
    }


def failed(world, mst, n, **fields):
    fields = {"state": "failed", "attempts": 8, "last_error": "meInvoice answered HTTP 503", **fields}
    return make_doc(world["conn"], world["acc"][mst], n, **fields)


@pytest.fixture
def mixed(world):
    """Failed: 3 on MST A, 2 on MST B; plus one blocked, done ones, and tenant B's failed ones."""
    docs = {
        "a": [failed(world, MST_A, n) for n in (1, 2, 3)],
        "b": [failed(world, MST_B, n) for n in (4, 5)],
        "blocked": failed(world, MST_C, 6, state="blocked", attempts=2),
        "done": [make_doc(world["conn"], world["acc"][MST_A], n) for n in (7, 8)],
        "other": [
            make_doc(world["conn_b"], world["acc_other"], n, state="failed", attempts=1) for n in (9, 10)
        ],
    }
    return {**world, "docs": docs}


def confirm(client, data):
    resp = client.post("/retry/confirm/", data)
    assert resp.status_code == 200, resp
    return resp


def start(client, confirmation):
    return client.post("/retry/start/", {"selection": confirmation.context["selection"]})


def test_list_counts_what_matches_and_defaults_to_failed(mixed):
    resp = signed_in(mixed["accountant"]).get("/retry/")
    html = resp.content.decode()
    assert resp.context["matching"] == 5 and "5 documents match" in html
    assert {d.pk for d in resp.context["page"].rows} == {
        d.pk for d in mixed["docs"]["a"] + mixed["docs"]["b"]
    }
    assert 'name="scope" value="all"' in html and "Select all 5 matching documents" in html
    both = signed_in(mixed["accountant"]).get("/retry/", {"state": ["failed", "blocked"]})
    assert both.context["matching"] == 6


def test_confirmation_states_the_count_per_mst(mixed):
    resp = confirm(signed_in(mixed["accountant"]), {"state": "failed", "scope": "all"})
    html = resp.content.decode()
    assert resp.context["count"] == 5 and "Retry 5 documents" in html
    per = [(a["tag"], a["count"]) for a in resp.context["per_account"]]
    assert per == [(f"[MST {MST_A}]", 3), (f"[MST {MST_B}]", 2)]
    assert f"[MST {MST_A}]</td>" in html and '<td class="num">3</td>' in html
    assert not SyncRun.objects.exists()  # nothing starts before the confirmation is confirmed


def test_ticked_rows_only_and_never_another_tenants_or_a_done_one(mixed):
    docs = mixed["docs"]
    ticked = [docs["a"][0].pk, docs["b"][1].pk, docs["done"][0].pk, docs["other"][0].pk]
    resp = confirm(signed_in(mixed["accountant"]), {"state": "failed", "scope": "selected", "ids": ticked})
    assert resp.context["count"] == 2
    assert [(a["tag"], a["count"]) for a in resp.context["per_account"]] == [
        (f"[MST {MST_A}]", 1),
        (f"[MST {MST_B}]", 1),
    ]


def test_nothing_ticked_goes_back_with_a_word(mixed):
    resp = signed_in(mixed["accountant"]).post("/retry/confirm/", {"state": "failed"}, follow=True)
    assert resp.redirect_chain[-1][0].startswith("/retry/?state=failed")
    assert "No document chosen" in resp.content.decode()


def test_select_all_matching_covers_more_than_the_visible_page(world):
    docs = [failed(world, MST_A if n % 2 else MST_B, 100 + n) for n in range(120)]
    client = signed_in(world["accountant"])
    page = client.get("/retry/")
    assert len(page.context["page"].rows) == 50 and page.context["matching"] == 120
    resp = confirm(client, {"state": "failed", "scope": "all"})
    assert resp.context["count"] == 120
    run = SyncRun.objects.get(pk=re.search(r"/retry/runs/(\d+)/", start(client, resp)["Location"])[1])
    assert run.total == 120 and sorted(run.params["ids"]) == sorted(d.pk for d in docs)


def test_the_same_confirmation_twice_starts_one_run(mixed, django_capture_on_commit_callbacks):
    client = signed_in(mixed["accountant"])
    confirmation = confirm(client, {"state": "failed", "scope": "all"})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = start(client, confirmation)
    again = start(client, confirmation)
    assert first.status_code == again.status_code == 302 and first["Location"] == again["Location"]
    run = SyncRun.objects.get()
    assert first["Location"] == f"/retry/runs/{run.pk}/"
    assert len(callbacks) == 1 and queued_tasks("dashboard.bulk_retry") == [[run.pk]]
    followed = client.get(again["Location"])
    assert "already started" in followed.content.decode()


def test_the_token_is_enforced_by_the_database(mixed):
    from django.db import IntegrityError, transaction

    run = SyncRun.objects.create(
        connection=mixed["conn"],
        kind=SyncRun.Kind.RETRY,
        request_token="7a0b3a3e-9f7e-4e55-9a8e-0d3f2f1b1c11",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(
            connection=mixed["conn"], kind=SyncRun.Kind.RETRY, request_token=run.request_token
        )


def test_a_tampered_confirmation_starts_nothing(mixed):
    client = signed_in(mixed["accountant"])
    confirmation = confirm(client, {"state": "failed", "scope": "all"})
    selection = confirmation.context["selection"]
    resp = client.post("/retry/start/", {"selection": selection[:-3] + "abc"}, follow=True)
    assert "could not be read" in resp.content.decode() and not SyncRun.objects.exists()
    # Another user (even of the same role) cannot replay it either.
    other = factories.user(mixed["tenant"], role=Membership.Role.ACCOUNTANT)
    signed_in(other).post("/retry/start/", {"selection": selection})
    assert not SyncRun.objects.exists()


def test_the_run_retries_everything_and_reaches_100_percent(mixed, django_capture_on_commit_callbacks):
    client = signed_in(mixed["accountant"])
    confirmation = confirm(client, {"state": ["failed", "blocked"], "scope": "all"})
    # Between the confirmation and the run, one document is fixed by someone else: it is not retried.
    moved = mixed["docs"]["b"][0]
    SyncDocument.objects.filter(pk=moved.pk).update(state="done")
    with django_capture_on_commit_callbacks(execute=True):
        location = start(client, confirmation)["Location"]
    run = SyncRun.objects.get()
    assert run.status == "queued" and run.total == 6 and run.percent == 0
    assert queued_tasks("dashboard.bulk_retry") == [[run.pk]]

    assert bulk.run_bulk_retry(run.pk, chunk=4) == 5  # what the Celery task calls, in chunks of 4
    run.refresh_from_db()
    assert (run.status, run.processed, run.failed, run.percent) == ("done", 6, 1, 100)
    assert run.started_at and run.finished_at and run.finished_at >= run.started_at
    assert "1 document of 6 was not retried" in run.error
    retried = mixed["docs"]["a"] + [mixed["docs"]["b"][1], mixed["docs"]["blocked"]]
    for doc in retried:
        doc.refresh_from_db()
        assert doc.state == "retrying" and doc.attempts == 1
    moved.refresh_from_db()
    assert moved.state == "done"
    for doc in mixed["docs"]["done"] + mixed["docs"]["other"]:
        doc.refresh_from_db()
        assert doc.state in ("done", "failed") and doc.attempts in (0, 1)
    fragment = client.get(f"/runs/{run.pk}/progress/").content.decode()
    assert 'data-percent="100"' in fragment and "hx-trigger" not in fragment  # polling stops
    page = client.get(location).content.decode()
    assert f'id="run-{run.pk}"' in page and "ke.toan@example.com" in page


def test_every_retry_is_audited(mixed):
    client = signed_in(mixed["accountant"])
    start(client, confirm(client, {"state": "failed", "scope": "all"}))
    run = SyncRun.objects.get()
    bulk_retry.run(run.pk)  # the task's own body, in-process
    assert run.created_by == mixed["accountant"]
    run.refresh_from_db()
    assert run.params["filter"] == {"state": ["failed"]} and run.params["scope"] == "all"
    assert run.params["accounts"] == {f"[MST {MST_A}]": 3, f"[MST {MST_B}]": 2}
    ids = sorted(d.pk for d in mixed["docs"]["a"] + mixed["docs"]["b"])
    assert run.params["ids"] == ids
    lines = SyncAttempt.objects.filter(action="retry").order_by("document_id")
    assert [line.document_id for line in lines] == ids
    assert all(line.message.endswith("Retry asked by ke.toan@example.com.") for line in lines)
    assert lines[0].message.startswith(f"[MST {MST_A}]")


def test_a_second_delivery_of_the_task_retries_nothing_more(mixed):
    client = signed_in(mixed["accountant"])
    start(client, confirm(client, {"state": "failed", "scope": "all"}))
    run = SyncRun.objects.get()
    assert bulk.run_bulk_retry(run.pk) == 5
    assert bulk.run_bulk_retry(run.pk) == 0
    run.refresh_from_db()
    assert (run.processed, run.failed) == (5, 0) and SyncAttempt.objects.filter(action="retry").count() == 5


def test_a_run_past_its_time_budget_continues_in_a_fresh_task(mixed):
    client = signed_in(mixed["accountant"])
    start(client, confirm(client, {"state": "failed", "scope": "all"}))
    run = SyncRun.objects.get()
    memory.Channel.queues["celery"].queue.clear()
    assert bulk.run_bulk_retry(run.pk, chunk=2, budget_seconds=0) == 0
    run.refresh_from_db()
    assert run.status == "running" and run.processed == 0
    assert queued_tasks("dashboard.bulk_retry") == [[run.pk]]
    bulk.run_bulk_retry(run.pk, chunk=2)
    run.refresh_from_db()
    assert (run.status, run.processed, run.percent) == ("done", 5, 100)


def test_recent_runs_are_listed(mixed):
    client = signed_in(mixed["accountant"])
    start(client, confirm(client, {"state": "failed", "scope": "all"}))
    run = SyncRun.objects.get()
    html = client.get("/retry/").content.decode()
    assert f'href="/retry/runs/{run.pk}/"' in html and "Recent bulk retries" in html


def test_a_run_never_picked_up_can_be_sent_again(mixed, django_capture_on_commit_callbacks):
    client = signed_in(mixed["accountant"])
    start(client, confirm(client, {"state": "failed", "scope": "all"}))
    run = SyncRun.objects.get()
    SyncRun.objects.filter(pk=run.pk).update(created_at=NOW.replace(year=2020))
    assert "Send it to a worker again" in client.get(f"/retry/runs/{run.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/retry/runs/{run.pk}/resume/")
    assert queued_tasks("dashboard.bulk_retry") == [[run.pk]]


def test_viewer_cannot_bulk_retry(mixed):
    client = signed_in(mixed["viewer"])
    assert client.get("/retry/").status_code == 403
    assert client.post("/retry/confirm/", {"state": "failed", "scope": "all"}).status_code == 403
    accountant = signed_in(mixed["accountant"])
    confirmation = confirm(accountant, {"state": "failed", "scope": "all"})
    assert client.post("/retry/start/", {"selection": confirmation.context["selection"]}).status_code == 403
    assert not SyncRun.objects.exists()


def test_another_tenants_run_is_404(mixed):
    client = signed_in(mixed["accountant"])
    start(client, confirm(client, {"state": "failed", "scope": "all"}))
    run = SyncRun.objects.get()
    other = Client()
    other.force_login(mixed["other_accountant"])
    assert other.get(f"/retry/runs/{run.pk}/").status_code == 404
    assert other.post(f"/retry/runs/{run.pk}/resume/").status_code == 404
    # And tenant B's bulk retry never sees tenant A's failed documents.
    assert other.get("/retry/").context["matching"] == 2


def test_ids_pack_small_and_come_back_the_same():
    ids = [5, 3, 1000, 7, 1001]
    assert bulk.unpack_ids(bulk.pack_ids(ids)) == [3, 5, 7, 1000, 1001]
