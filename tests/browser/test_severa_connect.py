"""Connecting a Severa organisation in a real browser: the overview's card, the client id and secret typed
into password fields, the connection's Severa card (companies, their Maventa accounts, business units,
statuses)."""

import os
import re

from playwright.sync_api import expect

from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from tests import factories


def test_a_fresh_user_connects_the_demo_organisation(transactional_db, sandbox, page, sign_in, output_dir):
    factories.user(email="konsult@example.com")
    sign_in("konsult@example.com")
    page.click("form.lang button[value=en]")
    card = page.locator("#connect-severa")
    expect(card).to_contain_text("Settings → Integrations → REST API")
    expect(card.locator("input[name=client_secret]")).to_have_attribute("type", "password")
    page.screenshot(path=os.path.join(output_dir, "overview.png"), full_page=True)
    card.locator("input[name=client_id]").fill(DEMO_CLIENT_ID)
    card.locator("input[name=client_secret]").fill(DEMO_CLIENT_SECRET)
    with page.expect_navigation():
        card.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/connections/\d+/$"))
    source = page.locator("#source")
    expect(source).to_contain_text("Demokonsult Oy")
    expect(source).to_contain_text("[Maventa FI23456780]")
    expect(source).to_contain_text("uses Demokonsult AB's account")
    expect(source).to_contain_text("Lähetetty Maventaan")
    assert DEMO_CLIENT_SECRET not in page.content() and DEMO_CLIENT_ID not in page.content()
    with page.expect_navigation():
        source.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text("Severa organisation read again.")
