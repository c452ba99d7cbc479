"""A shop connected with a private app token: Haravan signs its webhooks with the shop's own webhook secret
(Settings → Notifications → Webhooks), not with the app's client secret. The intake verifies with that
secret, the merchant enters it write-only, and the simulator signs such a shop's deliveries with it."""

import json
import logging

import pytest
import responses
from django.conf import settings
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from connectors.models import Connection, Membership
from haravan.models import HaravanShop
from haravan.signature import sign
from sandbox.generator import OrderGenerator
from sandbox.haravan import HaravanSimulator
from sandbox.server import SandboxApp
from sandbox.testing import django_client_sender, mount
from syncjobs.models import InboundEvent, SyncAttempt
from tests import factories

URL = "/webhooks/haravan/"
ORG = "200000001"
SECRET = "shop-webhook-secret-7f3a"


@pytest.fixture(autouse=True)
def _language_restored():
    """The pages below are read in English; the next test file starts in the default language again."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def post(client, body: bytes, secret: str, *, org=ORG, topic="orders/create"):
    return client.post(
        URL,
        data=body,
        content_type="application/json; charset=utf-8",
        HTTP_X_HARAVAN_TOPIC=topic,
        HTTP_X_HARAVAN_ORG_ID=org,
        HTTP_X_HARAVAN_HMACSHA256=sign(body, secret),
    )


def body_of(order_id: int) -> bytes:
    return json.dumps(factories.order(order_id), ensure_ascii=False).encode()


@pytest.fixture
def private_shop(db):
    tenant = factories.tenant()
    shop = factories.shop(tenant, org_id=ORG, private=True, webhook_secret=SECRET)
    factories.connection(tenant, shop, accounts=("0101243150",))
    return shop


def test_private_shop_delivery_signed_with_its_webhook_secret_is_accepted(private_shop):
    resp = post(Client(), body_of(5001), SECRET)
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    event = InboundEvent.objects.get()
    assert (event.status, event.tenant_id, event.source_key) == ("pending", private_shop.tenant_id, ORG)
    assert post(Client(), body_of(5001), SECRET).json()["status"] == "duplicate"  # deduplicated the same way


def test_private_shop_delivery_signed_with_the_client_secret_is_refused(private_shop, caplog):
    with caplog.at_level(logging.WARNING, logger="syncjobs.intake"):
        resp = post(Client(), body_of(5002), settings.HARAVAN_CLIENT_SECRET)
    assert resp.status_code == 401
    reason = resp.json()["error"]
    assert "signed with the app's client secret" in reason and "private app token" in reason
    assert "Settings → Notifications → Webhooks" in reason
    audit = InboundEvent.objects.get()  # only the audit row: nothing was stored to process
    assert (audit.status, audit.http_status) == ("rejected", 401) and audit.error == reason
    assert any("client secret" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert SECRET not in reason and settings.HARAVAN_CLIENT_SECRET not in reason
    assert SECRET not in caplog.text


def test_private_shop_delivery_with_a_wrong_secret_or_none_entered(private_shop):
    resp = post(Client(), body_of(5003), "not-the-shop-secret")
    assert resp.status_code == 401 and "does not match the webhook secret entered" in resp.json()["error"]

    HaravanShop.objects.filter(pk=private_shop.pk).update(secrets={"access_token": "shop-token"})
    resp = post(Client(), body_of(5004), SECRET)
    assert resp.status_code == 401 and "none has been entered" in resp.json()["error"]
    assert not InboundEvent.objects.exclude(status="rejected").exists()


def test_an_installed_app_shop_still_takes_one_statement_and_refuses_a_shop_secret(db):
    tenant = factories.tenant()
    factories.connection(tenant, factories.shop(tenant, org_id=ORG), accounts=("0101243150",))
    body = body_of(5005)
    with CaptureQueriesContext(db_connection) as queries:
        resp = post(Client(), body, settings.HARAVAN_CLIENT_SECRET)
    assert resp.status_code == 200
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1  # the shop lookup runs inside the storing statement, as before

    resp = post(Client(), body_of(5006), SECRET)  # an app's shop has no webhook secret of its own
    assert resp.status_code == 401 and "Check HARAVAN_CLIENT_SECRET" in resp.json()["error"]


def test_the_shop_secret_is_encrypted_at_rest(private_shop):
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM haravan_haravanshop WHERE id = %s", [private_shop.pk])
        (stored,) = cursor.fetchone()
    assert SECRET not in str(stored)
    assert HaravanShop.objects.get(pk=private_shop.pk).webhook_secret == SECRET


# --- the simulator signs a private shop's deliveries with its secret ----------------------------------


def test_simulator_signs_private_shop_deliveries_with_the_shop_secret(private_shop, settings):
    settings.HARAVAN_RATE_CAPACITY = 1000
    sim = HaravanSimulator(seed=5, seed_orders=False, webhook_background=False)
    sim.set_webhook_sender(django_client_sender(Client()))
    sim.shops.clear()
    sim.add_shop(int(ORG), token="private-token", webhook_secret=SECRET)
    sim.add_shop(200000002, token="app-token")  # an app's shop: signed with the client secret
    tenant = factories.tenant()
    factories.connection(tenant, factories.shop(tenant, org_id="200000002"), accounts=("0312345673",))
    base = "http://sim.test"
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mount(mock, SandboxApp({"/haravan": sim}), base)
            for token in ("private-token", "app-token"):
                OrderGenerator(f"{base}/haravan", token, seed=2).create_random_order()
        sim.webhooks.drain()
        answers = {(str(d["org_id"]), d["status_code"]) for d in sim.webhooks.deliveries()}
    finally:
        sim.close()
    assert answers == {(ORG, 200), ("200000002", 200)}
    accepted = InboundEvent.objects.filter(status="pending")
    assert set(accepted.values_list("source_key", flat=True)) == {ORG, "200000002"}
    assert not InboundEvent.objects.filter(status="rejected").exists()


# --- where the merchant enters it -----------------------------------------------------------------------


@pytest.fixture
def sim(settings):
    settings.HARAVAN_RATE_CAPACITY = 1000
    simulator = HaravanSimulator(seed=3, seed_orders=False, webhook_sender=lambda *a: (200, "ok"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mount(mock, SandboxApp({"/haravan": simulator}), "http://127.0.0.1:8100")
        yield simulator
    simulator.close()


def test_private_connect_takes_the_webhook_secret_and_a_new_token_keeps_it(db, sim):
    user = factories.user(None)
    client = Client()
    client.force_login(user)
    resp = client.post("/haravan/connect-private/", {"token": "demo-token", "webhook_secret": f" {SECRET} "})
    assert resp.status_code == 302
    shop = HaravanShop.objects.get()
    assert (shop.token_kind, shop.webhook_secret) == ("private", SECRET)
    assert client.post("/haravan/connect-private/", {"token": "demo-token"}).status_code == 302
    assert HaravanShop.objects.get().webhook_secret == SECRET  # a replaced token keeps the entered secret
    assert post(Client(), body_of(5010), SECRET).status_code == 200


def test_connection_page_masks_the_secret_and_lets_the_owner_replace_it(private_shop):
    tenant = private_shop.tenant
    owner, viewer = factories.user(tenant), factories.user(tenant, role=Membership.Role.VIEWER)
    conn = Connection.objects.get(source_key=ORG)
    client = factories.signed_in(owner)
    html = client.get(f"/connections/{conn.pk}/").content.decode()
    assert 'action="/haravan/webhook-secret/"' in html and 'data-webhook-secret="set"' in html
    assert 'name="webhook_secret" type="password"' in html
    assert SECRET not in html  # write-only: never rendered, not even masked

    resp = client.post("/haravan/webhook-secret/", {"org_id": ORG, "webhook_secret": "new-secret-2"})
    assert resp.status_code == 302 and resp["Location"] == f"/connections/{conn.pk}/"
    assert HaravanShop.objects.get().webhook_secret == "new-secret-2"
    assert "new-secret-2" not in client.get(f"/connections/{conn.pk}/").content.decode()
    assert post(Client(), body_of(5011), SECRET).status_code == 401  # the old one no longer opens the door
    assert post(Client(), body_of(5011), "new-secret-2").status_code == 200
    row = SyncAttempt.objects.get(action="install")
    assert "webhook secret" in row.message and "new-secret-2" not in row.message

    refused = factories.signed_in(viewer).post(
        "/haravan/webhook-secret/", {"org_id": ORG, "webhook_secret": "stolen"}
    )
    assert refused.status_code == 400 and "Only the shop's owner" in refused.content.decode()
    assert client.post("/haravan/webhook-secret/", {"org_id": ORG, "webhook_secret": " "}).status_code == 400
    assert HaravanShop.objects.get().webhook_secret == "new-secret-2"


def test_no_webhook_secret_form_for_an_installed_app_shop(db):
    tenant = factories.tenant()
    conn = factories.connection(tenant, factories.shop(tenant, org_id=ORG), accounts=("0101243150",))
    client = factories.signed_in(factories.user(tenant))
    assert "webhook-secret" not in client.get(f"/connections/{conn.pk}/").content.decode()
    resp = client.post("/haravan/webhook-secret/", {"org_id": ORG, "webhook_secret": "x"})
    assert resp.status_code == 400 and "installed app" in resp.content.decode()
