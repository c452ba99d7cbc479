"""An accountant's bulk retry, end to end on real parts: Chromium → gunicorn → Redis → a Celery worker →
PostgreSQL, with the simulated Haravan and meInvoice over HTTP.

The story: a shop's meInvoice password was wrong, so its paid orders failed and wait for a person; the owner
fixes the password; the accountant selects every failed document, confirms, and watches the run reach 100 %.
"""

import re

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from playwright.sync_api import expect

from connectors.models import Connection, Membership, TargetAccount
from meinvoice import services as meinvoice
from sandbox.generator import OrderGenerator
from sandbox.server import default_app
from sandbox.testing import LiveSandbox
from syncjobs.models import SyncDocument, SyncRun
from tests import factories
from tests.e2e.conftest import Stack, wait_until

pytestmark = pytest.mark.services

ORG, TOKEN, MST = "200000001", "demo-token", "0101243150"
ORDERS = 6


@pytest.fixture
def sandbox(settings):
    with LiveSandbox(default_app(seed_orders=False)) as live:
        settings.MEINVOICE_API_URL = f"{live.url}/meinvoice/api/integration"
        yield live


@pytest.fixture
def stack(transactional_db, postgres_url, redis_server, sandbox):
    s = Stack(
        postgres_url,
        redis_server.url,
        {
            "HARAVAN_API_URL": f"{sandbox.url}/haravan",
            "MEINVOICE_API_URL": f"{sandbox.url}/meinvoice/api/integration",
            "MEINVOICE_RETRY_BASE_SECONDS": "1",
        },
    )
    yield s
    s.stop()


def test_accountant_retries_every_failed_document_and_watches_the_run_finish(stack, sandbox, page, sign_in):
    tenant = factories.tenant("Cửa hàng Demo")
    factories.shop(tenant, org_id=ORG, token=TOKEN)
    conn = Connection.objects.create(
        tenant=tenant, name="Demo → meInvoice", source_kind="haravan", source_key=ORG, target_kind="meinvoice"
    )
    account = TargetAccount.objects.create(
        connection=conn,
        external_id=MST,
        is_default=True,
        credentials={"app_id": "demo-app", "username": "demo", "password": "demo"},
    )
    meinvoice.sync_templates(account)
    account.credentials = {**account.credentials, "password": "typo"}  # what the owner first entered
    account.save()
    accountant = factories.user(tenant, email="ketoan@example.com", role=Membership.Role.ACCOUNTANT)
    # gunicorn runs the production settings: store the password with their hasher, not the tests' fast one
    accountant.password = PBKDF2PasswordHasher().encode("pw", "bulk-retry-salt")
    accountant.save(update_fields=["password"])

    web = stack.start_web()
    stack.start_worker(concurrency=2)
    knobs = {"webhook_url": f"{web}/webhooks/haravan/"}
    requests.post(f"{sandbox.url}/haravan/_sandbox/knobs", json=knobs, timeout=5).raise_for_status()
    shop = OrderGenerator(f"{sandbox.url}/haravan", TOKEN, seed=7)
    for _ in range(ORDERS):
        order = shop.create_random_order()
        if order["financial_status"] != "paid":
            shop.pay(order["id"])

    failed = SyncDocument.objects.filter(connection=conn, kind="invoice", state=SyncDocument.State.FAILED)
    wait_until(lambda: failed.count() == ORDERS, timeout=60, message=f"failed invoices\n{stack.logs()}")
    assert "credentials" in failed.first().last_error

    account.credentials = {**account.credentials, "password": "demo"}  # the owner fixes it
    account.save()

    sign_in("ketoan@example.com", base=web)
    expect(page.locator(".banner.bad")).to_be_visible()
    page.goto(f"{web}/retry/")
    page.check("input[name=scope][value=all]")
    page.click("form.retry-pick button[type=submit]")
    expect(page.locator("table.per-account")).to_contain_text(f"[MST {MST}]")
    expect(page.locator("table.per-account td.num")).to_have_text(str(ORDERS))
    page.click("form.confirm button[type=submit]")
    expect(page).to_have_url(re.compile(r"/retry/runs/\d+/"))
    run_url = page.url
    progress = page.locator(".run-progress")
    expect(progress).to_have_attribute("data-status", "done", timeout=60_000)
    expect(progress).to_have_attribute("data-percent", "100")
    assert page.locator(".run-progress progress").get_attribute("value") == "100"

    page.go_back()  # the confirmation page again: submitting it twice must not start a second run
    page.click("form.confirm button[type=submit]")
    assert page.url == run_url and SyncRun.objects.filter(kind=SyncRun.Kind.RETRY).count() == 1

    issued = SyncDocument.objects.filter(connection=conn, kind="invoice", state=SyncDocument.State.DONE)
    wait_until(lambda: issued.count() == ORDERS, timeout=60, message=f"published invoices\n{stack.logs()}")
    invoices = requests.get(f"{sandbox.url}/meinvoice/_sandbox/invoices", timeout=10).json()["invoices"][MST]
    assert len(invoices) == ORDERS  # each failed order issued exactly once
    for doc in issued:
        assert doc.timeline.filter(action="retry", message__contains="ketoan@example.com").exists()
