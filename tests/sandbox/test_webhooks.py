"""Outbound order webhooks: real headers, verifiable signature, topics, retries, duplicates, non-blocking."""

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings

from sandbox.haravan import HaravanSimulator
from sandbox.server import SandboxApp
from sandbox.testing import RecordingSender, django_client_sender
from sandbox.webhooks import WebhookDispatcher

from .helpers import Client, line, make_order


def signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_create_sends_signed_bare_order(client, sim, sender):
    order = make_order(client)
    assert sender.calls == []  # nothing leaves before drain() in manual mode
    sim.webhooks.drain()
    (call,) = sender.calls
    headers, body = call["headers"], call["body"]
    assert call["method"] == "POST" and call["url"] == settings.SANDBOX_WEBHOOK_URL
    assert headers["X-Haravan-Topic"] == "orders/create"
    assert headers["X-Haravan-Org-Id"] == "200000001"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Haravan-HmacSha256"] == signature(body, settings.HARAVAN_CLIENT_SECRET)
    assert json.loads(body) == order  # the bare order object, no envelope
    assert "Áo sơ mi".encode() in body and b"\\u" not in body  # raw UTF-8, not \\u escapes


def test_signature_verifies_with_the_apps_own_checker(client, sim, sender):
    from haravan import signature as app_signature

    make_order(client)
    sim.webhooks.drain()
    call = sender.calls[0]
    assert app_signature.is_valid(
        call["body"], settings.HARAVAN_CLIENT_SECRET, call["headers"]["X-Haravan-HmacSha256"]
    )


def test_topics_for_pay_cancel_update_and_tags(client, sim, sender):
    order = make_order(client, line_items=[line(1010000001, 2)])
    oid = order["id"]
    client.post(f"/com/orders/{oid}/transactions.json", {"transaction": {"kind": "capture", "amount": 1000}})
    client.post(f"/com/orders/{oid}/transactions.json", {"transaction": {"kind": "capture"}})
    client.put(f"/com/orders/{oid}.json", {"order": {"note": "đã xuất hóa đơn"}})
    client.put(f"/com/orders/{oid}.json", {"order": {"note": "đã xuất hóa đơn"}})  # no change: no webhook
    client.post(f"/com/orders/{oid}/tags.json", {"tags": "einvoice"})
    client.delete(f"/com/orders/{oid}/tags.json", {"tags": "einvoice"})
    client.post(f"/com/orders/{oid}/cancel.json", {"reason": "customer", "amount": 1000})
    sim.webhooks.drain()
    assert sender.topics() == [
        "orders/create",
        "orders/updated",  # partially paid
        "orders/paid",
        "orders/updated",
        "orders/updated",
        "orders/updated",
        "orders/cancelled",
    ]
    paid_body = json.loads(sender.calls[2]["body"])
    assert paid_body["financial_status"] == "paid"
    cancelled = json.loads(sender.calls[-1]["body"])
    assert (
        cancelled["cancelled_status"] == "cancelled" and cancelled["financial_status"] == "partially_refunded"
    )
    log = client.get("/_sandbox/webhooks", token=None).json()
    assert [w["topic"] for w in log["webhooks"]] == sender.topics()
    assert all(
        w["order_id"] == oid and w["status_code"] == 200 and w["attempts"] == 1 for w in log["webhooks"]
    )


def test_created_paid_sends_create_then_paid(client, sim, sender):
    make_order(client, financial_status="paid")
    sim.webhooks.drain()
    assert sender.topics() == ["orders/create", "orders/paid"]


def test_duplicate_knob_delivers_twice(client, sim, sender):
    client.post("/_sandbox/knobs", {"duplicate_webhooks": 1.0}, token=None)
    make_order(client)
    sim.webhooks.drain()
    assert sender.topics() == ["orders/create", "orders/create"]
    assert sender.calls[0]["body"] == sender.calls[1]["body"]
    assert sender.calls[0]["headers"] == sender.calls[1]["headers"]
    assert [w["duplicate"] for w in sim.webhooks.deliveries()] == [False, True]


def test_failed_delivery_is_retried_then_given_up(client, sim):
    attempts = []

    def flaky(method, url, headers, body):
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise ConnectionError("refused")
        return 503, "busy"

    sim.set_webhook_sender(flaky)
    sim.set_knobs(webhook_max_attempts=4)
    make_order(client)
    sim.webhooks.drain()
    (delivery,) = sim.webhooks.deliveries()
    assert len(attempts) == 4 and delivery["attempts"] == 4
    assert delivery["gave_up"] and not delivery["ok"] and delivery["status_code"] == 503


def test_background_delivery_does_not_block_and_backs_off():
    slow_started = threading.Event()
    calls = []

    def slow_then_ok(method, url, headers, body):
        calls.append(time.monotonic())
        slow_started.set()
        if len(calls) == 1:
            time.sleep(0.3)
            return 500, "oops"
        return 200, "ok"

    sim = HaravanSimulator(seed_orders=False, webhook_sender=slow_then_ok)
    sim.set_knobs(webhook_backoff_seconds=0.05)
    client = Client(SandboxApp({"/haravan": sim}))
    try:
        started = time.monotonic()
        make_order(client)
        assert time.monotonic() - started < 0.2  # the API answer did not wait for the slow receiver
        assert slow_started.wait(2)
        assert sim.webhooks.wait_idle(5)
        (delivery,) = sim.webhooks.deliveries()
        assert delivery["ok"] and delivery["attempts"] == 2
        assert calls[1] - calls[0] >= 0.3 + 0.05
    finally:
        sim.close()


def test_require_subscription_and_subscribe_api(client, sim, sender):
    sim.set_knobs(require_subscription=True)
    make_order(client)
    sim.webhooks.drain()
    assert sender.calls == [] and sim.skipped_webhooks == 1
    resp = client("POST", "/webhook/api/subscribe", body={})
    assert resp.status == 200
    assert resp.json()["data"]["subscribed"] is True
    assert client("GET", "/webhook/api/subscribe").json()["data"]["subscribed"] is True
    assert client("POST", "/webhook/api/subscribe", body={}, token=None).status == 401
    make_order(client)
    sim.webhooks.drain()
    assert sender.topics() == ["orders/create"]
    assert client("DELETE", "/webhook/api/subscribe", body={}).json()["data"]["subscribed"] is False
    subs = client.get("/_sandbox/subscriptions", token=None).json()
    assert [e["method"] for e in subs["log"]] == ["POST", "GET", "DELETE"]


def test_webhook_url_from_knob_and_constructor(client, sim, sender):
    client.post("/_sandbox/knobs", {"webhook_url": "http://app.test/hooks/"}, token=None)
    make_order(client)
    sim.webhooks.drain()
    assert sender.calls[0]["url"] == "http://app.test/hooks/"
    other = HaravanSimulator(seed_orders=False, webhook_background=False, webhook_url="http://x.test/h")
    assert other.webhook_url == "http://x.test/h"
    other.close()


def test_uninstall_revokes_tokens_and_sends_app_uninstalled(client, sim, sender):
    resp = client.post("/_sandbox/uninstall", {"org_id": 200000001}, token=None)
    assert resp.status == 200 and resp.json()["revoked_tokens"] >= 1
    assert client.get("/com/shop.json").status == 401
    sim.webhooks.drain()
    assert sender.topics() == ["app/uninstalled"]
    assert json.loads(sender.calls[0]["body"])["id"] == 200000001


def test_verify_webhook_handshake(client, sim):
    seen = {}

    def answer_challenge(method, url, headers, body):
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(url).query)
        seen.update(method=method, token=query["hub.verify_token"][0])
        return 200, query["hub.challenge"][0]

    sim.set_webhook_sender(answer_challenge)
    result = client.post("/_sandbox/verify_webhook", {}, token=None).json()
    assert result["ok"] is True
    assert seen == {"method": "GET", "token": settings.HARAVAN_VERIFY_TOKEN}


def test_django_client_sender_passes_headers_and_body():
    class StubClient:
        def generic(self, method, path, data, content_type, headers):
            self.args = (method, path, data, content_type, headers)
            return type("R", (), {"status_code": 202, "content": b"accepted"})()

    stub = StubClient()
    send = django_client_sender(stub)
    status, text = send(
        "POST",
        "http://127.0.0.1:8000/webhooks/haravan/?x=1",
        {"Content-Type": "application/json; charset=utf-8", "X-Haravan-Topic": "orders/create"},
        b"{}",
    )
    assert (status, text) == (202, "accepted")
    assert stub.args == (
        "POST",
        "/webhooks/haravan/?x=1",
        b"{}",
        "application/json; charset=utf-8",
        {"X-Haravan-Topic": "orders/create"},
    )


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/haravan/", _Receiver.received
    server.shutdown()
    server.server_close()


def test_default_sender_posts_over_http(receiver):
    url, received = receiver
    sim = HaravanSimulator(seed_orders=False, webhook_url=url)
    client = Client(SandboxApp({"/haravan": sim}))
    try:
        make_order(client)
        assert sim.webhooks.wait_idle(5)
        ((headers, body),) = received
        assert headers["X-Haravan-Topic"] == "orders/create"
        assert headers["X-Haravan-HmacSha256"] == signature(body, settings.HARAVAN_CLIENT_SECRET)
        assert sim.webhooks.deliveries()[0]["status_code"] == 200
    finally:
        sim.close()


def test_dispatcher_recording_sender_and_clear():
    sender = RecordingSender(status=500)
    dispatcher = WebhookDispatcher(sender, background=False, max_attempts=2)
    dispatcher.enqueue(topic="t", url="http://x", headers={}, body=b"1")
    assert dispatcher.pending() == 1
    assert dispatcher.drain() == 2
    assert dispatcher.pending() == 0 and dispatcher.deliveries()[0]["gave_up"]
    dispatcher.clear()
    assert dispatcher.deliveries() == []
