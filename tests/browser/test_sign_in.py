"""Signing in, the lock-out, languages, tenants: what every user meets first, in a real browser."""

import re

from playwright.sync_api import expect

from haravan.services import intake_order
from syncjobs.models import SyncDocument
from tests import factories


def test_sign_in_lands_on_the_overview_in_vietnamese_then_english(transactional_db, page, sign_in):
    tenant = factories.tenant("Cửa hàng Demo")
    factories.connection(tenant, factories.shop(tenant, org_id="200000001"))
    factories.user(tenant, email="owner@example.com")
    sign_in("owner@example.com")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator("header.top")).to_contain_text("Cửa hàng Demo")
    page.click("form.lang button[value=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("header.top nav")).to_contain_text("Overview")


def test_repeated_wrong_passwords_pause_sign_in(transactional_db, page, sign_in, settings):
    tenant = factories.tenant()
    factories.user(tenant, email="kt@example.com")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("kt@example.com", "wrong-password")
    expect(page.locator("#locked-out")).to_be_visible()  # the last wrong one already pauses sign-in
    sign_in("kt@example.com", "pw")  # the right password, too late
    expect(page.locator("#locked-out")).to_be_visible()
    assert page.locator("header.top nav").count() == 0  # not signed in
    page.goto(page.url.split("/accounts/")[0] + "/")
    assert "/accounts/login/" in page.url


def test_a_user_of_tenant_a_gets_404_on_a_tenant_b_document(transactional_db, page, sign_in):
    a, b = factories.tenant("A"), factories.tenant("B")
    factories.connection(a, factories.shop(a, org_id="111"))
    conn_b = factories.connection(b, factories.shop(b, org_id="222"))
    intake_order("222", factories.order(2), trigger="test")
    doc_b = SyncDocument.objects.get(connection=conn_b)
    factories.user(a, email="a@example.com")
    base = sign_in("a@example.com")
    answer = page.goto(f"{base}/documents/{doc_b.pk}/")
    assert answer.status == 404
    assert "#2" not in page.content() and "[MST" not in page.content()


def test_a_user_in_two_tenants_switches_between_them(transactional_db, page, sign_in):
    a, b = factories.tenant("Alpha"), factories.tenant("Beta")
    user = factories.user(a, email="both@example.com")
    factories.Membership.objects.create(user=user, tenant=b, role="viewer")
    sign_in("both@example.com")
    expect(page.locator("#tenant-switch")).to_have_value(str(a.pk))
    page.select_option("#tenant-switch", str(b.pk))
    page.click("header.top form.inline button[type=submit] >> nth=0")
    expect(page.locator("#tenant-switch")).to_have_value(str(b.pk))
