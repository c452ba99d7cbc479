"""POST /webhooks/haravan/: verify, store first, deduplicate, answer with a clear message."""

import json

import pytest
from django.conf import settings
from django.test import Client

from haravan import services
from haravan.signature import sign
from syncjobs.models import InboundEvent, SyncAttempt, SyncDocument
from tests import factories

URL = "/webhooks/haravan/"


@pytest.fixture
def shop(db):
    tenant = factories.tenant()
    shop = factories.shop(tenant, org_id="200000001")
    factories.connection(tenant, shop, accounts=("0101243150", "0312345673"))
    return shop


def post(
    client,
    body: bytes,
    *,
    topic="orders/create",
    org="200000001",
    signature=None,
    header="HTTP_X_HARAVAN_HMACSHA256",
):
    headers = {"HTTP_X_HARAVAN_TOPIC": topic, "HTTP_X_HARAVAN_ORG_ID": org}
    headers[header] = signature if signature is not None else sign(body, settings.HARAVAN_CLIENT_SECRET)
    return client.post(URL, data=body, content_type="application/json; charset=utf-8", **headers)


def is_event_insert(sql: str) -> bool:
    """The statement storing a delivery: plain, or run from its prepared form on PostgreSQL."""
    return sql.startswith(("INSERT INTO", "EXECUTE")) and ("syncjobs_inboundevent" in sql or "intake_" in sql)


def body_of(order) -> bytes:
    return json.dumps(order, ensure_ascii=False).encode()


def test_signed_order_is_stored_then_processed(shop, django_capture_on_commit_callbacks):
    client = Client()
    order = factories.order(4001, location_id=1002)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resp = post(client, body_of(order))
    assert resp.status_code == 200
    assert resp.json()["status"] == "accepted"
    event = InboundEvent.objects.get()
    assert event.status == "pending" and event.topic == "orders/create" and event.tenant_id == shop.tenant_id
    assert json.loads(event.body)["id"] == 4001
    assert len(callbacks) == 1  # the worker is told only after the event row is committed

    assert services.process_event(event.pk) == "done"
    event.refresh_from_db()
    assert event.status == "done" and event.processed_at is not None
    doc = SyncDocument.objects.get()
    assert (doc.source_id, doc.kind, doc.source_label) == ("4001", "invoice", "#4001")
    assert doc.account.external_id == "0101243150"  # no rules: the default account
    log = SyncAttempt.objects.get(document=doc, action="intake")
    assert log.message.startswith("[MST 0101243150] Order #4001 received (webhook orders/create)")


def test_lowercase_signature_header_spelling_is_accepted(shop):
    resp = post(Client(), body_of(factories.order(4002)), header="HTTP_X_HARAVAN_HMAC_SHA256")
    assert resp.status_code == 200


def test_repeated_delivery_is_one_event_and_one_document(shop):
    client = Client()
    body = body_of(factories.order(4003))
    first = post(client, body)
    second = post(client, body)
    assert first.json()["status"] == "accepted" and second.json()["status"] == "duplicate"
    event = InboundEvent.objects.get()
    assert event.deliveries == 2
    services.process_event(event.pk)
    services.process_event(event.pk)  # a second worker run is a no-op
    assert SyncDocument.objects.count() == 1
    assert SyncAttempt.objects.filter(action="intake").count() == 1


@pytest.mark.parametrize(
    ("signature", "expected"),
    [("", "missing X-Haravan-HmacSha256"), ("bm90LXRoZS1zaWduYXR1cmU=", "does not match")],
)
def test_bad_signature_is_401_with_audit_row(shop, signature, expected):
    resp = post(Client(), body_of(factories.order(4004)), signature=signature)
    assert resp.status_code == 401
    assert expected in resp.json()["error"]
    audit = InboundEvent.objects.get()
    assert audit.status == "rejected" and audit.http_status == 401 and expected in audit.error
    assert not SyncDocument.objects.exists()


def test_signature_with_another_secret_is_refused(shop):
    body = body_of(factories.order(4005))
    resp = post(Client(), body, signature=sign(body, "someone-elses-secret"))
    assert resp.status_code == 401


def test_malformed_json_is_400_with_audit_row(shop):
    resp = post(Client(), b'{"id": 1, "line_items": [')
    assert resp.status_code == 400
    assert "not valid JSON" in resp.json()["error"]
    assert InboundEvent.objects.get().status == "rejected"


def test_json_that_is_not_an_object_is_400(shop):
    assert post(Client(), b"[1,2,3]").status_code == 400


def test_a_body_that_is_not_utf8_is_400_not_a_server_error(shop):
    resp = post(Client(), '{"id": 4010}'.encode("utf-16"))  # JSON, but stored as text it must be UTF-8
    assert resp.status_code == 400
    assert "not valid JSON" in resp.json()["error"] and "not UTF-8" in resp.json()["error"]
    assert InboundEvent.objects.get().status == "rejected"


def test_json_the_fast_parser_refuses_is_still_accepted(shop):
    """Valid for Python's json (an integer wider than 64 bits): accepted and processed, not refused."""
    body = b'{"id": 4011, "name": "#4011", "note_attributes": [], "huge": 123456789012345678901234567890}'
    assert post(Client(), body).json()["status"] == "accepted"
    event = InboundEvent.objects.get()
    assert services.process_event(event.pk) in ("done", "ignored")  # a failure would leave it pending


def test_unknown_shop_is_404_with_audit_row(shop):
    resp = post(Client(), body_of(factories.order(4006)), org="999999")
    assert resp.status_code == 404
    assert "999999" in resp.json()["error"]
    audit = InboundEvent.objects.get()
    assert (audit.status, audit.http_status, audit.source_key) == ("rejected", 404, "999999")


def test_uninstalled_shop_is_unknown(shop):
    body = b"{}"
    assert post(Client(), body, topic="app/uninstalled").status_code == 200
    services.process_event(InboundEvent.objects.get().pk)
    shop.refresh_from_db()
    assert shop.uninstalled_at is not None
    assert post(Client(), body_of(factories.order(4007))).status_code == 404


def test_subscribe_handshake_answers_challenge_only_with_the_verify_token(db):
    client = Client()
    ok = client.get(
        URL,
        {
            "hub.mode": "subscribe",
            "hub.verify_token": settings.HARAVAN_VERIFY_TOKEN,
            "hub.challenge": "abc123",
        },
    )
    assert ok.status_code == 200 and ok.content == b"abc123"
    bad = client.get(URL, {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "abc123"})
    assert bad.status_code == 401 and b"abc123" not in bad.content


def test_unhandled_topic_is_ignored_with_a_reason(shop):
    post(Client(), b'{"id": 5}', topic="shop/update")
    event = InboundEvent.objects.get()
    assert services.process_event(event.pk) == "ignored"
    event.refresh_from_db()
    assert "shop/update" in event.error


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_each_delivery_is_committed_by_one_statement():
    """The production path: no surrounding transaction, the upsert commits (or counts) on its own."""
    tenant = factories.tenant()
    factories.connection(tenant, factories.shop(tenant, org_id="200000001"), accounts=("0101243150",))
    client, body = Client(), body_of(factories.order(4101))
    answers = [post(client, body).json() for _ in range(3)]
    assert [a["status"] for a in answers] == ["accepted", "duplicate", "duplicate"]
    assert len({a["event"] for a in answers}) == 1
    event = InboundEvent.objects.get(status="pending")
    assert event.deliveries == 3 and event.tenant_id == tenant.pk and event.headers["X-Haravan-Org-Id"]


def test_a_database_failure_is_answered_503_so_haravan_delivers_again(shop):
    """Not stored means not acknowledged: Haravan retries a non-2xx answer, and the retry is deduplicated."""
    from django.db import OperationalError, connection

    def refuse_inserts(execute, sql, params, many, context):
        if is_event_insert(sql):
            raise OperationalError("could not write to the database: disk full")
        return execute(sql, params, many, context)

    body = body_of(factories.order(4102))
    with connection.execute_wrapper(refuse_inserts):
        resp = post(Client(), body)
    assert resp.status_code == 503 and resp["Retry-After"] == "5"
    assert "not accepted" in resp.json()["error"] and "disk full" not in resp.json()["error"]
    assert not InboundEvent.objects.exists()
    assert post(Client(), body).json()["status"] == "accepted"  # the redelivery is stored


@pytest.mark.django_db(transaction=True)
def test_postgresql_plans_the_storing_statement_once_per_connection(settings):
    """PREPARE on a connection's first delivery, then EXECUTE only; a new connection prepares again."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    tenant = factories.tenant()
    factories.connection(tenant, factories.shop(tenant, org_id="200000001"), accounts=("0101243150",))
    seen = []

    def record(execute, sql, params, many, context):
        seen.append(sql.split(" ", 1)[0])
        return execute(sql, params, many, context)

    connection.close()  # start from a connection nothing was prepared on
    with connection.execute_wrapper(record):
        answers = [post(Client(), body_of(factories.order(4200 + n))).json() for n in range(3)]
        assert seen.count("PREPARE") == 1 and seen.count("EXECUTE") == 3
        connection.close()
        answers.append(post(Client(), body_of(factories.order(4200))).json())  # a redelivery, new connection
    assert seen.count("PREPARE") == 2 and seen.count("EXECUTE") == 4
    assert [a["status"] for a in answers] == ["accepted"] * 3 + ["duplicate"]
    assert InboundEvent.objects.get(pk=answers[0]["event"]).deliveries == 2

    settings.DB_PREPARED_STATEMENTS = False  # behind a pgbouncer in transaction mode
    seen.clear()
    with connection.execute_wrapper(record):
        assert post(Client(), body_of(factories.order(4210))).json()["status"] == "accepted"
    assert "PREPARE" not in seen and "EXECUTE" not in seen and "INSERT" in seen


@pytest.mark.django_db(transaction=True)
def test_a_statement_deallocated_behind_our_back_fails_one_delivery_then_is_prepared_again():
    """Someone ran DEALLOCATE ALL on the connection: that delivery is 503 (Haravan sends it again), and
    the redelivery prepares the statement afresh instead of failing for the connection's whole life."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    tenant = factories.tenant()
    factories.connection(tenant, factories.shop(tenant, org_id="200000001"), accounts=("0101243150",))
    client = Client()
    assert post(client, body_of(factories.order(4301))).json()["status"] == "accepted"
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    body = body_of(factories.order(4302))
    refused = post(client, body)
    assert refused.status_code == 503 and "Deliver it again" in refused.json()["error"]
    assert post(client, body).json()["status"] == "accepted"
    assert InboundEvent.objects.filter(status="pending").count() == 2
