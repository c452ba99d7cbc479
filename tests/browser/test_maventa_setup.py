"""A Maventa account set up in a real browser: the owner connects the demo Severa
organisation, opens the Swedish company's setup page, registers a new Maventa account (the keys are stored,
never shown), sends the authentication request, the signatory signs (the simulator's control), Update shows
the company verified, the settings open, the enable switch refuses a "to transfer" status marked Sent — in
English and in Swedish — and then switches on. Then invoices a person moves to "to transfer" in Severa are
read by the connection page's manual sync and sent; a document page shows the route, the validation and the
UBL, and a refused one its validation table.

Both simulators answer the live server's HTTP calls in-process (as in test_severa_connect.py); Maventa
starts with nobody registered and its signatory never signs by themselves."""

import datetime as dt
import os
import re

import pytest
import requests
import responses
from django.utils import timezone
from playwright.sync_api import expect

from connectors.models import Connection, License, TargetAccount
from maventa import posting
from maventa.setup import COMPANY_UUID, USER_API_KEY, setup_of
from sandbox.maventa import DEMO_VENDOR_API_KEY
from sandbox.server import default_app
from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from sandbox.severa import data as severa_data
from sandbox.testing import mount
from severa.tasks import run_manual_sync
from syncjobs.models import SyncDocument, SyncRun
from tests import factories

BASE = "http://127.0.0.1:8100"
SE = "SE556677889901"
SENT_NAME, TO_TRANSFER_NAME = "Lähetetty", "Valmis lähetettäväksi"
AFTER_NAME, ERROR_NAME = "Lähetetty Maventaan", "Siirto epäonnistui"
REFUSAL = {
    "en": "Status of the invoices to be transferred can not be sent",
    "sv": "Status för fakturorna som ska överföras kan inte vara skickad",
    "vi": "Trạng thái của các hóa đơn cần chuyển không được là trạng thái đã gửi",
}


@pytest.fixture
def sandbox(settings):
    """Severa with the demo organisation but no invoices; Maventa with nobody registered (only our
    vendor), its signatory signing only when told to."""
    settings.SEVERA_API_URL = f"{BASE}/severa/rest-api"
    settings.MAVENTA_API_URL = f"{BASE}/maventa"
    settings.MAVENTA_VENDOR_API_KEY = DEMO_VENDOR_API_KEY
    app = default_app(
        seed_orders=False,
        webhook_sender=lambda *a: (200, "ok"),
        webhook_background=False,
        amis_options={"callback_sender": lambda *a: (200, "ok"), "callback_background": False},
        severa_options={"seed_invoices": False},
        maventa_options={"seed_demo": False},
    )
    app.mounts["/maventa"].set_knobs(auto_sign=False)
    app.mounts["/severa"].set_knobs(rate_limit=0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mount(mock, app, BASE)
        yield app
    app.close()


INVOICE = {
    "company": severa_data.AB_COMPANY,
    "customer": severa_data.PEPPOL_CUSTOMER,
    "rows": [
        {"description": "Konsultation", "quantity": "6", "unit": "h", "price": "1150.00", "vat": "25"},
        {"description": "Kursmaterial", "quantity": "2", "unit": "st", "price": "249.50", "vat": "12"},
    ],
}


def control(system, path, body=None) -> dict:
    resp = requests.post(f"{BASE}/{system}/_sandbox/{path}", json=body or {}, timeout=10)
    resp.raise_for_status()
    return resp.json()


def shot(page, output_dir, name):
    page.screenshot(path=os.path.join(output_dir, f"{name}.png"), full_page=True)


def submit(page, form):
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def switch_language(page, code):
    with page.expect_navigation():
        page.click(f"form.lang button[value={code}]")


def choose(select, label_part):
    """Choose the option whose text contains ``label_part`` (its whole label, marked Sent or not)."""
    label = next(t for t in select.locator("option").all_inner_texts() if label_part in t)
    select.select_option(label=label)


def test_the_owner_registers_signs_chooses_statuses_and_switches_sending_on(
    transactional_db, sandbox, page, sign_in, output_dir
):
    factories.user(email="agare@demokonsult.example")
    sign_in("agare@demokonsult.example")
    switch_language(page, "en")

    # The demo organisation, connected from the overview's card.
    card = page.locator("#connect-severa")
    card.locator("input[name=client_id]").fill(DEMO_CLIENT_ID)
    card.locator("input[name=client_secret]").fill(DEMO_CLIENT_SECRET)
    submit(page, card)
    expect(page).to_have_url(re.compile(r"/connections/\d+/$"))
    conn = Connection.objects.get(source_kind="severa", target_kind="maventa")
    account = TargetAccount.objects.get(connection=conn, external_id=SE)

    # Accounts → the Swedish company → Set up.
    with page.expect_navigation():
        page.click(f"a[href='/connections/{conn.pk}/accounts/']")
    shot(page, output_dir, "1-accounts")
    with page.expect_navigation():
        page.click(f"a[href='/connections/{conn.pk}/accounts/{account.pk}/setup/']")
    settings_card = page.locator("#maventa-settings")
    expect(settings_card).to_contain_text("Every other setting stays locked")
    expect(settings_card.locator("select[name=status_to_transfer]")).to_be_disabled()
    shot(page, output_dir, "2-setup-new")

    # A new Maventa account for the person.
    new = page.locator("#maventa-new")
    new.locator("input[name=email]").fill("sara.ek@demokonsult.example")
    new.locator("input[name=first_name]").fill("Sara")
    new.locator("input[name=last_name]").fill("Ek")
    for name, value in (
        ("address1", "Sveavägen 44"),
        ("post_code", "111 34"),
        ("post_office", "Stockholm"),
        ("city", "Stockholm"),
    ):
        field = new.locator(f"input[name={name}]")
        if not field.input_value():
            field.fill(value)
    submit(page, new)
    expect(page.locator(".messages")).to_contain_text("Registered at Maventa (Duetto off)")
    account.refresh_from_db()
    keys = [account.credentials[USER_API_KEY], account.credentials[COMPANY_UUID]]
    assert all(keys)
    summary = page.locator("#maventa-setup")
    expect(summary.locator("dd .state-done")).to_have_count(2)  # both keys: "set", nothing more
    assert all(key not in page.content() for key in keys)
    expect(page.locator("#maventa-new")).to_have_count(0)
    shot(page, output_dir, "3-registered")

    # The authentication request, in Swedish, to the signatory.
    auth = page.locator("#maventa-authentication")
    auth.locator("input[name=signatory]").fill("Sara Ek")
    auth.locator("input[name=auth_email]").fill("vd@demokonsult.example")
    auth.locator("select[name=auth_locale]").select_option("SE")
    submit(page, auth.locator("form.stacked"))
    auth = page.locator("#maventa-authentication")
    expect(auth.locator("dd .tag").first).to_have_text(re.compile(r"^(PENDING|SENT)$"))
    expect(auth).to_contain_text("vd@demokonsult.example (Swedish)")
    expect(page.locator("#maventa-settings select[name=status_to_transfer]")).to_be_disabled()
    shot(page, output_dir, "4-auth-sent")

    # Switching on is refused while the company is not verified.
    submit(page, page.locator("#maventa-enable form"))
    expect(page.locator(".messages")).to_contain_text("Every other setting stays locked")

    # The signatory signs; Update shows it.
    control("maventa", "sign", {"company": keys[1]})
    submit(page, page.locator("#maventa-authentication form.inline"))
    auth = page.locator("#maventa-authentication")
    expect(auth.locator("dd .tag").first).to_have_text("SIGNED")
    expect(auth.locator("dd .tag").nth(1)).to_have_text("VERIFIED")
    expect(auth.locator("input[name=signatory]")).to_have_count(0)  # nothing more to send
    settings_card = page.locator("#maventa-settings")
    expect(settings_card.locator("select[name=status_to_transfer]")).to_be_enabled()
    expect(settings_card).not_to_contain_text("Every other setting stays locked")
    shot(page, output_dir, "5-verified")

    # The statuses (the one to transfer marked Sent, by mistake) and a Bankgiro.
    form = settings_card.locator("form")
    choose(form.locator("select[name=status_to_transfer]"), SENT_NAME + " (marked Sent)")
    choose(form.locator("select[name=status_after]"), AFTER_NAME)
    choose(form.locator("select[name=status_error]"), ERROR_NAME)
    form.locator("select[name=payment_kind]").select_option("bankgiro")
    form.locator("input[name=payment_account]").fill("5551-2347")
    submit(page, form)
    expect(page.locator(".messages")).to_contain_text("Settings saved, at Maventa too.")
    enable = page.locator("#maventa-enable")
    expect(enable.locator(".notice.bad")).to_contain_text(REFUSAL["en"])

    for language in ("en", "sv", "vi"):
        switch_language(page, language)
        submit(page, page.locator("#maventa-enable form"))
        message = page.locator(".messages")
        expect(message).to_contain_text(REFUSAL[language])
        assert message.inner_text().count(REFUSAL[language]) == 1
        shot(page, output_dir, f"6-refused-{language}")
    assert not setup_of(TargetAccount.objects.get(pk=account.pk)).enabled
    switch_language(page, "en")

    # Fixed: the status to transfer is one Severa does not count as sent.
    form = page.locator("#maventa-settings form")
    choose(form.locator("select[name=status_to_transfer]"), TO_TRANSFER_NAME)
    submit(page, form)
    expect(page.locator(".messages")).to_contain_text("Settings saved, at Maventa too.")
    expect(page.locator("#maventa-enable .notice.bad")).to_have_count(0)
    submit(page, page.locator("#maventa-enable form"))
    expect(page.locator(".messages")).to_contain_text("Sending is on")
    expect(page.locator("#maventa-setup")).to_contain_text("on")
    expect(page.locator("#maventa-enable button.danger")).to_have_text("Switch sending off")
    shot(page, output_dir, "7-enabled")
    setup = setup_of(TargetAccount.objects.get(pk=account.pk))
    assert setup.sending and setup.status_to_transfer == severa_data.TO_TRANSFER
    assert setup.payment == {"kind": "bankgiro", "account": "55512347", "bic": ""}
    assert all(key not in page.content() for key in keys)

    # An invoice a person moves to "to transfer" in Severa: read, sent, and shown with its route (the
    # tenant's licence for the family, as the service's operator adds it).
    License.objects.create(
        tenant=conn.tenant, family="severa_to_maventa", expires_at=timezone.now() + dt.timedelta(days=30)
    )
    # The second names neither a buyer reference nor an order number: BIS 3 refuses it (R003).
    made, unreferenced = (
        control("severa", "invoices", {**INVOICE, **extra})["invoice"]
        for extra in ({"yourReference": "Anna Berg"}, {})
    )
    for invoice in (made, unreferenced):
        control("severa", "move", {"invoice": invoice["guid"], "status": TO_TRANSFER_NAME})
    # The connection page's manual sync of today; what the worker would do next is done here: the run's
    # task (the Severa read), then the sends it queued.
    base = page.url.split("/connections/")[0]
    page.goto(f"{base}/connections/{conn.pk}/")
    sync = page.locator("#manual-sync")
    # From yesterday: the read starts at its date's midnight UTC (severa.services.run_manual), which for
    # today's date is still ahead of UTC in this project's time zone (+07:00) for seven hours a day.
    today = timezone.localdate()
    sync.locator("input[name=date_from]").fill((today - dt.timedelta(days=1)).isoformat())
    sync.locator("input[name=date_to]").fill(today.isoformat())
    submit(page, sync)
    expect(page.locator(".messages")).to_contain_text("Manual sync")
    run = SyncRun.objects.get(connection=conn, kind="manual")
    run_manual_sync(run.pk)
    run.refresh_from_db()
    assert (run.status, run.total) == (SyncRun.Status.DONE, 2)
    shot(page, output_dir, "8-manual-sync")
    for pk in SyncDocument.objects.filter(state=SyncDocument.State.QUEUED).values_list("pk", flat=True):
        posting.send(pk)
    doc = SyncDocument.objects.get(connection=conn, source_id=made["guid"])
    assert doc.state == SyncDocument.State.SENT, doc.last_error
    refused = SyncDocument.objects.get(connection=conn, source_id=unreferenced["guid"])
    assert refused.state == SyncDocument.State.FAILED

    page.goto(f"{base}/logs/")
    row = page.locator("table tr", has_text=doc.source_label)
    expect(row).to_have_count(1)
    shot(page, output_dir, "9-logs")
    with page.expect_navigation():
        row.locator(f"a[href='/documents/{doc.pk}/']").click()
    card = page.locator("#maventa-document")
    expect(card).to_contain_text("E-invoice")
    expect(card).to_contain_text("0007:5560123456")
    expect(card.locator(".notice.ok")).to_contain_text("Valid")
    card.locator("details.payload summary").click()
    expect(card.locator("details.payload pre")).to_contain_text("urn:fdc:peppol.eu:2017:poacc:billing:3.0")
    shot(page, output_dir, "10-document")

    # The refused one: its validation table names the rule, and nothing went to Maventa.
    page.goto(page.url.replace(f"/documents/{doc.pk}/", f"/documents/{refused.pk}/"))
    card = page.locator("#maventa-document")
    expect(card.locator(".notice.bad")).to_contain_text("Not valid")
    table = card.locator("table.validation")
    expect(table.locator("tr.error", has_text="PEPPOL-EN16931-R003")).to_have_count(1)
    expect(card).not_to_contain_text("Maventa's id")
    expect(card).to_contain_text("Not sent to Maventa.")
    shot(page, output_dir, "11-refused-document")
