"""The Maventa account's setup page and the Maventa part of a document's page, through the Django test
client against the Maventa simulator: who may act, tenants, secrets never rendered, settings locked until
the company is verified, the enable refusal in English and in Swedish."""

import html

import polib
import pytest

from connectors.models import Membership
from maventa.setup import COMPANY_UUID, USER_API_KEY, setup_of, store_setup
from syncjobs.models import SyncDocument
from tests import factories

from .conftest import ADDRESS, AFTER, ERROR, NEW_SE_VAT, SE_VAT, SENT, TO_TRANSFER, account_of, demo_keys

pytestmark = pytest.mark.django_db

# The Swedish the page must show (the same lines are in the branch's Swedish translations file, for the
# committed catalogue).
SWEDISH = {
    "Status of the invoices to be transferred can not be sent": (
        "Status för fakturorna som ska överföras kan inte vara skickad"
    ),
    "Choose a status that is not marked Sent in Severa (Settings → Invoice statuses), or another status "
    "here.": (
        "Välj en status som inte är markerad som Skickad i Severa (Inställningar → Fakturastatusar), eller "
        "en annan status här."
    ),
}
REFUSAL_EN = (
    "Status of the invoices to be transferred can not be sent. Choose a status that is not marked Sent in "
    "Severa (Settings → Invoice statuses), or another status here."
)


@pytest.fixture
def swedish(settings, tmp_path):
    """The committed Swedish catalogue, with this page's lines added in front when it lacks them."""
    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Language": "sv"}
    for msgid, msgstr in SWEDISH.items():
        po.append(polib.POEntry(msgid=msgid, msgstr=msgstr))
    folder = tmp_path / "sv" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po.save_as_mofile(str(folder / "django.mo"))
    settings.LOCALE_PATHS = [str(tmp_path), *settings.LOCALE_PATHS]


def signed_in(tenant, role=Membership.Role.OWNER, language="en"):
    return factories.signed_in(factories.user(tenant, role=role), language=language)


@pytest.fixture
def owner(tenant):
    return signed_in(tenant)


@pytest.fixture
def viewer(tenant):
    return signed_in(tenant, Membership.Role.VIEWER)


def page(conn, account, action=""):
    base = f"/connections/{conn.pk}/accounts/{account.pk}/setup/"
    return base + (f"{action}/" if action else "")


def body(response) -> str:
    return html.unescape(response.content.decode())


def register_form(**kw):
    return {
        "email": "anna@nyforetag.example",
        "first_name": "Anna",
        "last_name": "Berg",
        **ADDRESS,
        **kw,
    }


def verified(account, **fields):
    setup = setup_of(account)
    setup.auth_state, setup.company_state = "SIGNED", "VERIFIED"
    for name, value in fields.items():
        setattr(setup, name, value)
    store_setup(account, setup)
    return account


@pytest.fixture
def new_account(conn):
    return account_of(conn, NEW_SE_VAT, name="Nyföretaget AB")


def test_the_accounts_list_links_each_account_to_its_setup_page(owner, conn, new_account):
    response = owner.get(f"/connections/{conn.pk}/accounts/")
    assert response.status_code == 200
    assert page(conn, new_account) in response.content.decode()


def test_the_page_shows_new_and_existing_account_and_locked_settings(
    owner, conn, new_account, maventa, severa_statuses
):
    response = owner.get(page(conn, new_account))
    assert response.status_code == 200
    words = body(response)
    for heading in ("New account", "Existing account", "Settings", "Activate Duetto", "Switch sending on"):
        assert heading in words
    assert "Every other setting stays locked until the company is verified" in words
    assert '<fieldset class="sections" disabled>' in response.content.decode()
    assert 'name="activate_duetto"' in words and 'name="activate_duetto" checked' not in words
    for status in severa_statuses:
        assert status.name in words


def test_the_owner_registers_and_the_keys_are_never_shown(owner, conn, new_account, maventa, severa_statuses):
    response = owner.post(page(conn, new_account, "register"), register_form())
    assert response.status_code == 302
    new_account.refresh_from_db()
    keys = [new_account.credentials[USER_API_KEY], new_account.credentials[COMPANY_UUID]]
    response = owner.get(page(conn, new_account))
    words = body(response)
    assert "Registered at Maventa (Duetto off)" in words
    assert "Send authentication request" in words and "No authentication request sent yet." in words
    assert all(key not in words for key in keys)
    assert f"[Maventa {NEW_SE_VAT}] Maventa user created for anna@nyforetag.example." in words  # its history
    assert "New account" not in words  # the keys exist: registering again is not offered
    logs = owner.get("/logs/?q=" + NEW_SE_VAT)
    assert all(key not in body(logs) for key in keys)


def test_the_authentication_request_and_update_from_the_page(
    owner, conn, new_account, maventa, severa_statuses
):
    assert owner.post(page(conn, new_account, "register"), register_form()).status_code == 302
    response = owner.post(
        page(conn, new_account, "authenticate"),
        {"signatory": "Anna Berg", "auth_email": "vd@nyforetag.example", "auth_locale": "FI"},
        follow=True,
    )
    words = body(response)
    assert "Authentication request sent to vd@nyforetag.example (FI) for Anna Berg to sign." in words
    new_account.refresh_from_db()
    maventa.sim.sign(maventa.sim.companies[new_account.credentials[COMPANY_UUID]])
    words = body(owner.post(page(conn, new_account, "refresh"), follow=True))
    assert "The company is verified: it can send invoices." in words
    assert "Every other setting stays locked" not in words
    assert '<fieldset class="sections">' in words


def test_existing_account_keys_are_write_only_even_when_refused(owner, conn, maventa, severa_statuses):
    account = account_of(conn, SE_VAT)
    keys = demo_keys(0)
    form = {**keys, "company_uuid": keys["company_uuid"] + "-x", "signatory": "", "auth_email": "x@y.example"}
    response = owner.post(page(conn, account, "link"), {**form, "auth_locale": "SE"})
    assert response.status_code == 400
    words = body(response)
    assert "Nothing was sent" in words or "company UUID" in words
    assert keys["user_api_key"] not in words and keys["company_uuid"] not in words

    response = owner.post(
        page(conn, account, "link"),
        {**keys, "signatory": "Eva Ek", "auth_email": "ekonomi@demokonsult.example", "auth_locale": "SE"},
        follow=True,
    )
    words = body(response)
    assert "The existing Maventa company is linked and its keys are stored." in words
    assert "The company is verified" in words
    assert keys["user_api_key"] not in words and keys["company_uuid"] not in words


def test_settings_are_refused_before_verification_and_saved_after(owner, conn, maventa, severa_statuses):
    account = account_of(conn, SE_VAT)
    account.credentials = demo_keys(0)
    account.save()
    form = {
        "attach_pdf": "on",
        "email_fallback": "on",
        "error_emails": "fel@demokonsult.example",
        "status_to_transfer": TO_TRANSFER,
        "status_after": AFTER,
        "status_error": ERROR,
        "payment_kind": "bankgiro",
        "payment_account": "991-2346",
    }
    words = body(owner.post(page(conn, account, "settings"), form, follow=True))
    assert "Every other setting stays locked until the company is verified" in words
    account.refresh_from_db()
    assert setup_of(account).status_to_transfer == ""

    verified(account)
    bad = owner.post(page(conn, account, "settings"), {**form, "payment_account": "991-2347"})
    assert bad.status_code == 400 and "A Bankgiro number has 7 or 8 digits" in body(bad)
    words = body(owner.post(page(conn, account, "settings"), form, follow=True))
    assert "Settings saved, at Maventa too." in words
    account.refresh_from_db()
    assert setup_of(account).status_after == AFTER and not setup_of(account).print_allowed


def test_enable_refusal_in_english(owner, conn, maventa, severa_statuses):
    account = verified(
        account_of(conn, SE_VAT), status_to_transfer=SENT, status_after=AFTER, status_error=ERROR
    )
    account.credentials = demo_keys(0)
    account.save()
    assert REFUSAL_EN in body(owner.get(page(conn, account)))  # said before anyone presses
    words = body(owner.post(page(conn, account, "enable"), follow=True))
    assert words.count(REFUSAL_EN) >= 1
    account.refresh_from_db()
    assert not setup_of(account).enabled


def test_enable_refusal_in_swedish(tenant, conn, maventa, severa_statuses, swedish):
    account = verified(
        account_of(conn, SE_VAT), status_to_transfer=SENT, status_after=AFTER, status_error=ERROR
    )
    account.credentials = demo_keys(0)
    account.save()
    client = signed_in(tenant, language="sv")
    words = body(client.post(page(conn, account, "enable"), follow=True))
    sv = " ".join(SWEDISH.values()).replace("skickad Välj", "skickad. Välj")
    assert sv in words and REFUSAL_EN not in words


def test_enable_then_disable_from_the_page(owner, conn, maventa, severa_statuses):
    account = verified(
        account_of(conn, SE_VAT), status_to_transfer=TO_TRANSFER, status_after=AFTER, status_error=ERROR
    )
    account.credentials = demo_keys(0)
    account.save()
    words = body(owner.post(page(conn, account, "enable"), follow=True))
    assert "Sending is on: invoices in the chosen status go to Maventa." in words
    assert "Switch sending off" in words
    words = body(owner.post(page(conn, account, "disable"), follow=True))
    assert "Sending is off" in words
    account.refresh_from_db()
    assert not setup_of(account).enabled


def test_a_viewer_sees_but_cannot_act(viewer, conn, new_account, maventa, severa_statuses):
    response = viewer.get(page(conn, new_account))
    assert response.status_code == 200
    words = body(response)
    assert "Only the shop's owner can change this account." in words
    assert ">Register<" not in words and "Switch sending on" not in words
    assert viewer.post(page(conn, new_account, "register"), register_form()).status_code == 403
    assert viewer.post(page(conn, new_account, "enable")).status_code == 403
    new_account.refresh_from_db()
    assert new_account.credentials == {}


def test_another_tenant_gets_404(conn, new_account, maventa, severa_statuses):
    stranger = signed_in(factories.tenant("Other"))
    assert stranger.get(page(conn, new_account)).status_code == 404
    assert stranger.post(page(conn, new_account, "register"), register_form()).status_code == 404
    new_account.refresh_from_db()
    assert new_account.credentials == {}


def test_an_unknown_action_is_404(owner, conn, new_account, maventa, severa_statuses):
    assert owner.post(page(conn, new_account, "explode")).status_code == 404


def test_a_target_without_a_setup_page_has_none(owner, tenant):
    other = factories.connection(tenant, factories.shop(tenant))
    account = other.accounts.get()
    response = owner.get(page(other, account))
    assert response.status_code == 302 and response["Location"] == f"/connections/{other.pk}/accounts/"
    assert owner.post(page(other, account, "refresh")).status_code == 404
    response = owner.get(f"/connections/{other.pk}/accounts/")
    assert "/setup/" not in response.content.decode()


# --- the document page -------------------------------------------------------------------------------

UBL = (
    '<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">'
    "<cbc:ID>10023</cbc:ID><script>alert(1)</script></Invoice>"
)


def test_the_document_page_shows_the_ubl_validation_route_and_maventa_actions(owner, conn):
    account = account_of(conn, SE_VAT)
    document = SyncDocument.objects.create(
        connection=conn,
        account=account,
        source_type="invoice",
        source_id="guid-10023",
        source_label="10023",
        kind="invoice",
        state=SyncDocument.State.SENT,
        target_ref="0d3b8c1e-6a4f-5e2d-9c7b-3f1a2e4d5c6b",
        payload={
            "ubl": UBL,
            "validation": {
                "valid": False,
                "errors": [{"rule": "BR-CO-15", "message": "Total with VAT is not net plus VAT."}],
                "warnings": [{"rule": "PEPPOL-EN16931-R003", "message": "No buyer reference."}],
            },
            "route": {
                "channel": "einvoice",
                "recipient_eia": "0007:5560123456",
                "recipient_operator": "PEPPOL",
                "recipient_email": None,
                "why": "The customer is reachable on PEPPOL (found by its organisation number).",
            },
        },
        result={
            "status": "DELIVERED",
            "maventa_id": "7f1c2d3e-maventa-id",
            "actions": [
                {
                    "type": "CREATED",
                    "channel": "EINVOICE",
                    "message": "Invoice received",
                    "happened_at": "2026-12-01T10:00:00Z",
                },
                {
                    "type": "DELIVERED",
                    "channel": "EINVOICE",
                    "message": "Delivered to PEPPOL",
                    "happened_at": "2026-12-01T10:05:00Z",
                },
            ],
        },
    )
    response = owner.get(f"/documents/{document.pk}/")
    assert response.status_code == 200
    raw = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw and "<script>alert(1)" not in raw
    assert '<details class="payload">' in raw
    words = body(response)
    for fact in (
        "0d3b8c1e-6a4f-5e2d-9c7b-3f1a2e4d5c6b",
        "7f1c2d3e-maventa-id",
        "DELIVERED",
        "BR-CO-15",
        "Total with VAT is not net plus VAT.",
        "PEPPOL-EN16931-R003",
        "0007:5560123456",
        "The customer is reachable on PEPPOL",
        "Delivered to PEPPOL",
        "Not valid: the invoice was not sent.",
    ):
        assert fact in words, fact


def test_a_document_not_sent_yet_says_so(owner, conn):
    account = account_of(conn, SE_VAT)
    document = SyncDocument.objects.create(
        connection=conn, account=account, source_type="invoice", source_id="g-1", kind="invoice"
    )
    words = body(owner.get(f"/documents/{document.pk}/"))
    assert "not sent yet" in words and "Not validated yet." in words and "No route chosen yet." in words


def test_other_targets_document_pages_have_no_maventa_part(owner, tenant):
    other = factories.connection(tenant, factories.shop(tenant))
    document = SyncDocument.objects.create(
        connection=other, account=other.accounts.get(), source_type="order", source_id="1", kind="invoice"
    )
    assert 'id="maventa-document"' not in owner.get(f"/documents/{document.pk}/").content.decode()
