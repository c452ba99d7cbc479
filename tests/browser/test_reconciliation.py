"""The reconciliation calendar in a real browser: a green and a red day, the red one opened in place (htmx,
no page load) with its differences, and its failed document retried with one click."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from connectors.models import Membership
from connectors.text import Text, stored
from syncjobs.models import ReconciledDay, SyncAttempt, SyncDocument
from tests import factories
from tests.dashboard.test_logs import make_doc

MST = "0101243150"


@pytest.fixture
def shop(transactional_db):
    tenant = factories.tenant("Cửa hàng Demo")
    connection = factories.connection(tenant, factories.shop(tenant, org_id="200000001"), accounts=(MST,))
    factories.user(tenant, email="ketoan@example.com", role=Membership.Role.ACCOUNTANT)
    return connection


def test_accountant_opens_a_red_day_and_retries_its_failed_invoice(shop, page, sign_in):
    account = shop.accounts.get()
    first = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    green, red = first.replace(day=10), first.replace(day=11)
    failed = make_doc(
        shop, account, 5001, state="failed", attempts=8, last_error="meInvoice answered HTTP 503"
    )
    common = {"tenant": shop.tenant, "connection": shop, "account": account}
    ReconciledDay.objects.create(
        **common,
        day=green,
        expected_count=12,
        expected_total=Decimal("2592000"),
        confirmed_count=12,
        confirmed_total=Decimal("2592000"),
        matches=True,
    )
    detail = "expected 216000, none at the target"
    ReconciledDay.objects.create(
        **common,
        day=red,
        expected_count=2,
        expected_total=Decimal("432000"),
        confirmed_count=1,
        confirmed_total=Decimal("216000"),
        differences=[
            {
                "kind": "missing",
                "source": "#5001",
                "target_document": None,
                "detail": detail,
                "document_id": failed.pk,
            },
        ],
        differences_text=[stored(Text(detail))[1]],
        matches=False,
    )

    base = sign_in("ketoan@example.com")
    page.goto(f"{base}/connections/{shop.pk}/")
    page.click(f"nav.tabs a[href='/connections/{shop.pk}/reconciliation/']")
    calendar_url = f"{base}/connections/{shop.pk}/reconciliation/?month={first:%Y-%m}"
    page.goto(calendar_url)
    section = page.locator(f"#account-{account.pk}")
    expect(section).to_contain_text(f"[MST {MST}]")
    green_cell = section.locator(f"td.day[data-date='{green.isoformat()}']")
    expect(green_cell).to_have_attribute("data-state", "matches")
    expect(green_cell).to_contain_text("2.592.000 đ")
    expect(green_cell).to_contain_text("12")
    red_cell = section.locator(f"td.day[data-date='{red.isoformat()}']")
    expect(red_cell).to_have_attribute("data-state", "differs")
    expect(red_cell).to_contain_text("1")
    expect(section.locator(f"td.day[data-date='{first.replace(day=12).isoformat()}']")).to_have_attribute(
        "data-state", "unchecked"
    )

    red_cell.locator("a").click()
    card = page.locator("#day-detail .day-card")
    expect(card).to_have_attribute("data-date", red.isoformat())
    expect(card).to_contain_text("#5001")
    expect(card).to_contain_text(detail)
    assert page.url == calendar_url  # opened in place: no page load

    card.locator("form.retry-one button").click()
    expect(page.locator("#day-detail .notice.ok")).to_contain_text("#5001")
    assert page.url == calendar_url
    assert SyncDocument.objects.get(pk=failed.pk).state == "retrying"
    assert SyncAttempt.objects.filter(document=failed, action="retry", message__contains="ketoan@example.com")
