"""The everyday screens in a real browser: accounts, mapping with its preview, failures and the logs."""

import json

import pytest
from playwright.sync_api import expect

from connectors.models import TargetAccount
from haravan.services import intake_order
from meinvoice import services as meinvoice
from sandbox.server import default_app
from sandbox.testing import LiveSandbox
from tests import factories


@pytest.fixture
def sandbox(settings):
    """The simulated meInvoice and Haravan, over real HTTP, for the app running on the live server."""
    with LiveSandbox(default_app(seed_orders=False)) as live:
        settings.MEINVOICE_API_URL = f"{live.url}/meinvoice/api/integration"
        settings.HARAVAN_API_URL = f"{live.url}/haravan"
        yield live


@pytest.fixture
def shop(transactional_db):
    tenant = factories.tenant("Cửa hàng Demo")
    connection = factories.connection(tenant, factories.shop(tenant, org_id="200000001"), accounts=())
    factories.user(tenant, email="owner@example.com")
    return connection


def add_account(conn, mst, *, default=False, password="demo"):
    account = TargetAccount.objects.create(
        connection=conn,
        external_id=mst,
        name=f"Công ty {mst}",
        is_default=default,
        credentials={"app_id": "demo-app", "username": "demo", "password": password},
    )
    meinvoice.sync_templates(account)
    return account


def paid_order(order_id, **fields):
    line = {"id": 1, "title": "Áo thun cotton", "quantity": 2, "price": 108000.0, "sku": "AT-01"}
    return factories.order(
        order_id,
        financial_status="paid",
        total_price=216000.0,
        line_items=[{**line, "total_discount": 0, "variant_id": 11, "product_id": 1}],
        **fields,
    )


def test_owner_adds_an_mst_account_and_tests_it_against_meinvoice(shop, sandbox, page, sign_in):
    base = sign_in("owner@example.com")
    page.goto(f"{base}/connections/{shop.pk}/accounts/")
    page.click(f"a[href='/connections/{shop.pk}/accounts/add/']")
    page.fill("#id_external_id", "0101243151")  # one digit off: the check digit fails
    page.fill("#id_cred_app_id", "demo-app")
    page.fill("#id_cred_username", "demo")
    page.fill("#id_cred_password", "demo")
    page.click("form.stacked button[type=submit]")
    expect(page.locator(".errorlist")).to_be_visible()
    assert page.input_value("#id_cred_password") == ""  # a secret is never sent back, not even masked
    page.fill("#id_external_id", "0101243150")
    page.fill("#id_name", "Công ty Demo — Hà Nội")
    page.fill("#id_cred_password", "demo")
    page.click("form.stacked button[type=submit]")
    account = TargetAccount.objects.get(connection=shop, external_id="0101243150")
    row = page.locator(f"#account-{account.pk}")
    expect(row).to_contain_text("[MST 0101243150]")
    row.locator("form[action$='/test/'] button").click()
    expect(page.locator(f"#account-{account.pk}-result .notice.ok")).to_contain_text("[MST 0101243150]")
    assert account.is_default  # the first account is the default
    page.goto(f"{base}/connections/{shop.pk}/accounts/{account.pk}/edit/")
    assert page.input_value("#id_cred_password") == ""  # write-only: stored, never shown


def test_a_new_routing_rule_changes_the_preview(shop, sandbox, page, sign_in):
    add_account(shop, "0101243150", default=True)
    hcm = add_account(shop, "0312345673")
    order = paid_order(7001, location_id=1002)
    base = sign_in("owner@example.com")
    page.goto(f"{base}/connections/{shop.pk}/mapping/")
    page.fill("#id_order_json", json.dumps(order, ensure_ascii=False))
    page.locator("#preview form").last.locator("button[type=submit]").click()
    expect(page.locator("#preview-result .facts")).to_contain_text("[MST 0101243150]")

    page.select_option("#id_rule-dimension", "location")
    page.fill("#id_rule-value", "1002")
    page.select_option("#id_rule-account", str(hcm.pk))
    page.click("#rules form.rule-add button[type=submit]")
    expect(page.locator("#rules tbody")).to_contain_text("0312345673")

    page.locator("#preview form").last.locator("button[type=submit]").click()
    expect(page.locator("#preview-result .facts")).to_contain_text("[MST 0312345673]")
    expect(page.locator("#preview-result .invoice-lines")).to_be_visible()


def test_a_failed_document_raises_the_banner_and_shows_in_the_logs(shop, sandbox, page, sign_in):
    add_account(shop, "0101243150", default=True)
    order = paid_order(
        7002,
        note_attributes=[
            {"name": "vat_tax_code", "value": "0101243151"},  # the buyer's tax code has a wrong check digit
            {"name": "vat_company_name", "value": "Công ty TNHH An Phát"},
        ],
    )
    intake_order("200000001", order, trigger="test")
    base = sign_in("owner@example.com")
    expect(page.locator(".banner.bad")).to_be_visible()
    page.click(".banner.bad a")
    expect(page.locator("#needs-person")).to_contain_text("0101243151")
    page.goto(f"{base}/logs/?state=blocked")
    row = page.locator("table tbody tr", has_text="#7002")
    expect(row).to_contain_text("[MST 0101243150]")
    expect(row).to_contain_text("0101243151")
    row.locator("a").first.click()
    expect(page.locator("main")).to_contain_text("0101243151")
