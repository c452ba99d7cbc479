"""A Maventa account's setup against the Maventa simulator (in-process through `responses`): registering a
user and a company, linking an existing company, the authentication request and its states, the settings
Maventa keeps, the statuses and the enable switch (maventa-severa.md §1–2)."""

import json

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from maventa import accounts
from maventa.accounts import CANNOT_BE_SENT, WHERE_TO_CHANGE, iban_ok, payment_problem
from maventa.setup import COMPANY_UUID, USER_API_KEY, setup_of, store_setup
from maventa.validate import luhn_ok
from syncjobs.models import SyncAttempt

from .conftest import (
    ADDRESS,
    AFTER,
    DRAFT,
    ERROR,
    NEW_SE_VAT,
    SE_VAT,
    SENT,
    TO_TRANSFER,
    account_of,
    demo_keys,
    sim_company,
)

pytestmark = pytest.mark.django_db

PERSON = {"email": "anna@nyforetag.example", "first_name": "Anna", "last_name": "Berg"}


@pytest.fixture(autouse=True)
def english():
    """The messages are compared with their English words."""
    with translation.override("en"):
        yield


def rows(account):
    return list(SyncAttempt.objects.filter(account=account).order_by("id"))


def assert_no_secret_logged(account):
    secrets = [v for v in account.credentials.values() if v]
    for row in rows(account):
        stored = json.dumps([row.message, row.text, row.request, row.response], default=str)
        for secret in secrets:
            assert secret not in stored, row.message


def register(account, **kw):
    return accounts.register(account, **{**PERSON, "activate_duetto": False, "address": ADDRESS, **kw})


def verify(account, maventa):
    """The signatory signs in Maventa; the account reads it."""
    account.refresh_from_db()
    maventa.sim.sign(maventa.sim.companies[account.credentials[COMPANY_UUID]])
    assert accounts.refresh_authentication(account).ok
    account.refresh_from_db()
    assert setup_of(account).verified


def new_company(maventa, vat, email="ekonomi@nyforetag.example"):
    """A Maventa company registered elsewhere (in Maventa's own screens): its keys."""
    user = maventa.raw(
        "POST",
        "/v1/users",
        body=json.dumps({"vendor_api_key": next(iter(maventa.sim.vendor_keys)), "email": email}).encode(),
        headers={"Content-Type": "application/json"},
    ).json()["user_api_key"]
    fields = [
        ("vendor_api_key", next(iter(maventa.sim.vendor_keys))),
        ("user_api_key", user),
        ("name", "Nyföretaget AB"),
        ("bid", vat),
        ("no_vat", "false"),
        *ADDRESS.items(),
        ("country", vat[:2]),
        ("email", email),
        ("activate_duetto", "false"),
    ]
    company = maventa.multipart("POST", "/v1/companies", fields).json()["id"]
    return {"user_api_key": user, "company_uuid": company}


def auth(**kw):
    return {"signatory": "Anna Berg", "auth_email": "anna@nyforetag.example", "auth_locale": "SE", **kw}


# --- registering -------------------------------------------------------------------------------------


def test_register_creates_the_user_and_the_company_and_stores_the_keys_encrypted(maventa, conn):
    account = account_of(conn, NEW_SE_VAT, name="Nyföretaget AB")
    result = register(account)
    assert result.ok, result.message
    account.refresh_from_db()
    company = sim_company(maventa, NEW_SE_VAT)
    assert account.credentials[COMPANY_UUID] == company.id
    assert maventa.sim.user_by_key(account.credentials[USER_API_KEY]).email == PERSON["email"]
    assert company.name == "Nyföretaget AB" and company.no_vat is False and company.country == "SE"
    assert company.address["address1"] == "Sveavägen 12"
    assert company.activate_duetto is False  # sent explicitly: Maventa's default would be on
    setup = setup_of(account)
    assert setup.origin == "registered" and setup.auth_email == PERSON["email"]
    assert company.auth_state == "NONE"  # the person sends the authentication request next
    # the keys are encrypted at rest: the column never holds them in clear
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connectors_targetaccount WHERE id = %s", [account.pk])
        raw = str(cursor.fetchone()[0])
    assert company.id not in raw and account.credentials[USER_API_KEY] not in raw
    messages = [r.message for r in rows(account)]
    assert all(m.startswith(f"[Maventa {NEW_SE_VAT}] ") for m in messages)
    assert "send the authentication request" in messages[-1]
    assert_no_secret_logged(account)


def test_register_sends_duetto_on_when_chosen(maventa, conn):
    account = account_of(conn, NEW_SE_VAT, name="Nyföretaget AB")
    assert register(account, activate_duetto=True).ok
    assert sim_company(maventa, NEW_SE_VAT).activate_duetto is True


def test_a_person_who_already_has_a_maventa_user_is_told_what_to_do_and_nothing_is_registered(maventa, conn):
    account = account_of(conn, NEW_SE_VAT, name="Nyföretaget AB")
    result = register(account, email="ekonomi@demokonsult.example")  # the demo company's user
    assert not result.ok
    assert result.message.english() == (
        "This person already has a Maventa user: finish the company in Maventa, then paste its user API key "
        "and company UUID under Existing account"
    )
    account.refresh_from_db()
    assert account.credentials == {}
    assert not any(c.bid == NEW_SE_VAT for c in maventa.sim.companies.values())
    assert rows(account)[-1].outcome == SyncAttempt.Outcome.INFO


def test_a_vat_number_maventa_already_has_is_refused_pointing_at_existing_account(maventa, conn):
    account = account_of(conn, SE_VAT)
    result = register(account)
    assert not result.ok
    words = result.message.english()
    assert SE_VAT in words and "Existing account" in words
    account.refresh_from_db()
    assert COMPANY_UUID not in account.credentials and setup_of(account).origin == ""


def test_a_company_maventa_refused_is_registered_again_with_the_same_user(maventa, conn):
    account = account_of(conn, "SE559012345101", name="Nyföretaget AB")  # a mistyped organisation number
    result = register(account)
    assert not result.ok and "bid is not a valid business id" in result.message.english()
    users = len(maventa.sim.users)
    account.refresh_from_db()
    account.external_id = NEW_SE_VAT  # corrected under Edit
    account.save()
    result = register(account, email="someone.else@nyforetag.example")
    assert result.ok, result.message
    assert len(maventa.sim.users) == users  # no second Maventa user
    account.refresh_from_db()
    company = sim_company(maventa, NEW_SE_VAT)
    assert maventa.sim.user_by_key(account.credentials[USER_API_KEY]).email == PERSON["email"]
    assert account.credentials[COMPANY_UUID] == company.id
    assert "Using the Maventa user created by the earlier attempt." in [
        r.message.split("] ", 1)[1] for r in rows(account)
    ]


def test_register_refuses_missing_address_and_bad_email_before_calling_maventa(maventa, conn):
    account = account_of(conn, NEW_SE_VAT, name="Nyföretaget AB")
    calls = len(maventa.sim.calls) if hasattr(maventa.sim, "calls") else None
    result = register(account, email="not-an-email", address={"address1": "x"})
    assert not result.ok and result.invalid
    assert "e-mail" in result.message.english() and "postcode" in result.message.english()
    assert rows(account) == []
    if calls is not None:
        assert len(maventa.sim.calls) == calls


# --- an existing account -----------------------------------------------------------------------------


def test_link_existing_checks_the_keys_links_the_vendor_and_sends_the_authentication_request(maventa, conn):
    keys = new_company(maventa, NEW_SE_VAT)
    company = maventa.sim.companies[keys["company_uuid"]]
    company.vendors.clear()  # registered through another vendor's screens: not linked to us
    account = account_of(conn, NEW_SE_VAT, name="Nyföretaget AB")
    result = accounts.link_existing(account, **keys, **auth())
    assert result.ok, result.message
    account.refresh_from_db()
    assert account.credentials == {USER_API_KEY: keys["user_api_key"], COMPANY_UUID: keys["company_uuid"]}
    assert company.vendors == {next(iter(maventa.sim.vendor_keys)): "LINKED"}
    assert company.auth_email == "anna@nyforetag.example" and company.auth_locale == "SE"
    setup = setup_of(account)
    assert setup.origin == "linked" and setup.signatory == "Anna Berg" and setup.auth_state == "PENDING"
    assert setup.company_state == "UNVERIFIED" and setup.auth_checked_at
    assert "linked" in result.message.english() and "Authentication request sent" in result.message.english()
    assert_no_secret_logged(account)


def test_link_existing_with_wrong_keys_stores_nothing(maventa, conn):
    account = account_of(conn, SE_VAT)
    keys = {**demo_keys(0), "user_api_key": "wrong-key"}
    result = accounts.link_existing(account, **keys, **auth())
    assert not result.ok
    assert "did not accept the user API key and company UUID" in result.message.english()
    account.refresh_from_db()
    assert account.credentials == {} and setup_of(account).origin == ""
    assert "wrong-key" not in json.dumps([r.request for r in rows(account)])


def test_link_existing_refuses_the_keys_of_another_company(maventa, conn):
    account = account_of(conn, SE_VAT)
    result = accounts.link_existing(account, **demo_keys(1), **auth())  # Demokonsult Oy's keys
    assert not result.ok and "FI23456780" in result.message.english() and SE_VAT in result.message.english()
    account.refresh_from_db()
    assert account.credentials == {}


def test_linking_a_company_already_signed_reads_it_as_verified(maventa, conn):
    account = account_of(conn, SE_VAT)
    result = accounts.link_existing(account, **demo_keys(0), **auth())
    assert result.ok, result.message
    account.refresh_from_db()
    setup = setup_of(account)
    assert setup.verified and setup.auth_state == "SIGNED"
    assert "verified" in result.message.english()


def test_link_existing_refuses_a_malformed_uuid_and_a_missing_signatory(maventa, conn):
    account = account_of(conn, SE_VAT)
    result = accounts.link_existing(
        account, user_api_key="k", company_uuid="not-a-uuid", **auth(signatory="", auth_locale="DE")
    )
    assert not result.ok and result.invalid
    assert "company UUID" in result.message.english() and "signatory" in result.message.english()
    assert "FI, SE, NO, EN, NL" in result.message.english()


# --- authentication ----------------------------------------------------------------------------------


def test_authentication_goes_pending_sent_then_signed_and_verified(maventa, conn):
    account = account_of(conn, NEW_SE_VAT, name="Nyföretaget AB")
    assert register(account).ok
    account.refresh_from_db()
    result = accounts.request_authentication(
        account, **auth(auth_locale="EN", auth_email="vd@nyforetag.example")
    )
    assert result.ok, result.message
    company = sim_company(maventa, NEW_SE_VAT)
    assert (company.auth_email, company.auth_locale) == ("vd@nyforetag.example", "EN")
    account.refresh_from_db()
    assert setup_of(account).auth_state == "PENDING"
    asked = next(r for r in rows(account) if "Authentication request sent" in r.message)
    assert asked.request["body"]["options"] == json.dumps({"signatory": "Anna Berg"})

    maventa.sim.advance(2)  # the e-mail to the signatory leaves
    assert accounts.refresh_authentication(account).ok
    account.refresh_from_db()
    setup = setup_of(account)
    assert (setup.auth_state, setup.company_state) == ("SENT", "UNVERIFIED")
    assert "Waiting for the signatory" in str(accounts.auth_words(setup))

    maventa.control("POST", "sign", {"company": company.id})
    result = accounts.refresh_authentication(account)
    account.refresh_from_db()
    setup = setup_of(account)
    assert (setup.auth_state, setup.company_state) == ("SIGNED", "VERIFIED") and setup.verified
    assert "verified" in result.message.english()


def test_authentication_needs_keys_first(maventa, conn):
    account = account_of(conn, NEW_SE_VAT)
    result = accounts.request_authentication(account, **auth())
    assert not result.ok and "no Maventa keys yet" in result.message.english()


def test_pending_authentications_are_refreshed_and_verified_accounts_left_alone(maventa, conn):
    pending = account_of(conn, NEW_SE_VAT, name="Nyföretaget AB")
    assert register(pending).ok
    pending.refresh_from_db()
    assert accounts.request_authentication(pending, **auth()).ok
    verified = account_of(conn, SE_VAT)
    assert accounts.link_existing(verified, **demo_keys(0), **auth()).ok
    no_keys = account_of(conn, "FI23456780", name="Demokonsult Oy")
    before = {a.pk: len(rows(a)) for a in (pending, verified, no_keys)}

    maventa.sim.sign(sim_company(maventa, NEW_SE_VAT))
    counts = accounts.refresh_pending_authentications()
    assert counts == {"checked": 1, "verified": 1, "failed": 0}
    pending.refresh_from_db()
    assert setup_of(pending).verified
    assert len(rows(pending)) == before[pending.pk] + 1
    assert len(rows(verified)) == before[verified.pk] and len(rows(no_keys)) == 0
    assert accounts.refresh_pending_authentications() == {"checked": 0, "verified": 0, "failed": 0}


# --- settings ----------------------------------------------------------------------------------------


def settings_of(**kw):
    return {
        "attach_pdf": True,
        "email_fallback": True,
        "print_allowed": False,
        "error_emails": ["fel@nyforetag.example", "ekonomi@nyforetag.example"],
        "status_to_transfer": TO_TRANSFER,
        "status_after": AFTER,
        "status_error": ERROR,
        "payment": {"kind": "bankgiro", "account": "991-2346", "bic": ""},
        **kw,
    }


@pytest.fixture
def registered(maventa, conn, severa_statuses):
    account = account_of(conn, NEW_SE_VAT, name="Nyföretaget AB")
    assert register(account).ok
    account.refresh_from_db()
    return account


def test_settings_stay_locked_until_the_company_is_verified(maventa, registered):
    result = accounts.save_settings(registered, **settings_of())
    assert not result.ok and "locked until the company is verified" in result.message.english()
    registered.refresh_from_db()
    assert setup_of(registered).status_to_transfer == ""


def test_settings_are_saved_at_maventa_and_on_the_account(maventa, registered):
    verify(registered, maventa)
    result = accounts.save_settings(registered, **settings_of())
    assert result.ok, result.message
    stored = sim_company(maventa, NEW_SE_VAT).settings
    assert stored["send_invoice_email"]["enabled"] is True
    assert (
        stored["send_invoice_print"]["enabled"] is False
        and stored["send_invoice_print"]["use_own_pdf"] is True
    )
    assert stored["invoice_notifications"]["on_send_errors"]["to_emails"] == [
        "fel@nyforetag.example",
        "ekonomi@nyforetag.example",
    ]
    assert stored["send_invoice_print"]["letter_class"] == "ECONOMY"  # the rest of the group kept
    registered.refresh_from_db()
    setup = setup_of(registered)
    assert (setup.status_to_transfer, setup.status_after, setup.status_error) == (TO_TRANSFER, AFTER, ERROR)
    assert setup.payment == {"kind": "bankgiro", "account": "9912346", "bic": ""}
    assert (setup.attach_pdf, setup.email_fallback, setup.print_allowed) == (True, True, False)

    assert accounts.save_settings(registered, **settings_of(email_fallback=False, error_emails=[])).ok
    stored = sim_company(maventa, NEW_SE_VAT).settings
    assert stored["send_invoice_email"]["enabled"] is False
    assert stored["invoice_notifications"]["on_send_errors"]["to_emails"] == []


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"status_after": TO_TRANSFER}, "must differ"),
        ({"status_error": "gone"}, "not one of Severa's invoice statuses"),
        ({"status_error": ""}, "Choose all three statuses"),
        ({"error_emails": ["fel@"]}, "Not e-mail addresses: fel@"),
        ({"payment": {"kind": "bankgiro", "account": "991-2347"}}, "Bankgiro"),
        ({"payment": {"kind": "plusgiro", "account": "123456789"}}, "Plusgiro"),
        ({"payment": {"kind": "iban", "account": "SE45 5000 0000 0583 9825 7467"}}, "IBAN"),
        ({"payment": {"kind": "iban", "account": "SE4550000000058398257466", "bic": "ESSE"}}, "BIC"),
    ],
)
def test_wrong_settings_are_refused_and_nothing_changes(maventa, registered, changes, words):
    verify(registered, maventa)
    before = json.dumps(sim_company(maventa, NEW_SE_VAT).settings, sort_keys=True)
    result = accounts.save_settings(registered, **settings_of(**changes))
    assert not result.ok and result.invalid and words in result.message.english()
    assert json.dumps(sim_company(maventa, NEW_SE_VAT).settings, sort_keys=True) == before
    registered.refresh_from_db()
    assert setup_of(registered).status_to_transfer == ""


def test_an_iban_with_a_bic_and_no_payment_account_are_accepted(maventa, registered):
    verify(registered, maventa)
    iban = {"kind": "iban", "account": "se45 5000 0000 0583 9825 7466", "bic": "eSSesess"}
    assert accounts.save_settings(registered, **settings_of(payment=iban)).ok
    registered.refresh_from_db()
    assert setup_of(registered).payment == {
        "kind": "iban",
        "account": "SE4550000000058398257466",
        "bic": "ESSESESS",
    }
    assert accounts.save_settings(registered, **settings_of(payment={})).ok
    registered.refresh_from_db()
    assert setup_of(registered).payment == {}


# --- the switch --------------------------------------------------------------------------------------


def test_enabling_needs_verification_and_statuses(maventa, registered):
    result = accounts.set_enabled(registered, True)
    assert not result.ok and "locked until the company is verified" in result.message.english()
    verify(registered, maventa)
    result = accounts.set_enabled(registered, True)
    assert not result.ok and "Choose the three statuses" in result.message.english()
    registered.refresh_from_db()
    assert setup_of(registered).enabled is False


def test_enabling_is_refused_when_the_status_to_transfer_is_marked_sent(maventa, registered):
    verify(registered, maventa)
    assert accounts.save_settings(registered, **settings_of(status_to_transfer=SENT)).ok
    registered.refresh_from_db()
    result = accounts.set_enabled(registered, True)
    assert not result.ok
    assert result.message.english() == (
        "Status of the invoices to be transferred can not be sent. Choose a status that is not marked Sent "
        "in Severa (Settings → Invoice statuses), or another status here."
    )
    assert (
        result.message.params["part0"] == CANNOT_BE_SENT and result.message.params["part1"] == WHERE_TO_CHANGE
    )
    registered.refresh_from_db()
    assert setup_of(registered).enabled is False


def test_enabling_then_disabling(maventa, registered):
    verify(registered, maventa)
    assert accounts.save_settings(registered, **settings_of(status_to_transfer=DRAFT)).ok
    registered.refresh_from_db()
    result = accounts.set_enabled(registered, True)
    assert result.ok, result.message
    registered.refresh_from_db()
    assert setup_of(registered).sending
    assert accounts.set_enabled(registered, False).ok
    registered.refresh_from_db()
    assert not setup_of(registered).enabled


def test_while_sending_is_on_the_status_to_transfer_cannot_become_one_marked_sent(maventa, registered):
    verify(registered, maventa)
    assert accounts.save_settings(registered, **settings_of()).ok
    assert accounts.set_enabled(registered, True).ok
    result = accounts.save_settings(registered, **settings_of(status_to_transfer=SENT))
    assert not result.ok and result.message.english().startswith(str(CANNOT_BE_SENT))
    registered.refresh_from_db()
    assert setup_of(registered).status_to_transfer == TO_TRANSFER and setup_of(registered).sending


def test_disabling_is_always_allowed(maventa, registered):
    setup = setup_of(registered)
    setup.enabled = True
    store_setup(registered, setup)
    assert accounts.set_enabled(registered, False).ok
    registered.refresh_from_db()
    assert setup_of(registered).enabled is False


# --- payment accounts --------------------------------------------------------------------------------


def with_luhn(digits: str) -> str:
    return next(digits + str(d) for d in range(10) if luhn_ok(digits + str(d)))


def iban_of(country: str, bban: str) -> str:
    number = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


@given(st.text("0123456789", min_size=6, max_size=7))
def test_a_bankgiro_with_its_check_digit_is_accepted_and_any_other_last_digit_refused(body):
    number = with_luhn(body)
    assert payment_problem("bankgiro", number) is None
    for d in "0123456789":
        if d != number[-1]:
            assert payment_problem("bankgiro", number[:-1] + d) is not None


@given(st.text("0123456789", min_size=1, max_size=7))
def test_a_plusgiro_has_two_to_eight_digits_with_its_check_digit(body):
    assert payment_problem("plusgiro", with_luhn(body)) is None
    assert payment_problem("plusgiro", with_luhn(body.rjust(8, "1"))) is not None  # 9 digits


@given(
    st.sampled_from(["SE", "FI", "DE", "NO"]),
    st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=12, max_size=26),
)
def test_ibans_with_their_check_digits_pass_and_a_wrong_check_digit_fails(country, bban):
    iban = iban_of(country, bban)
    assert iban_ok(iban) and payment_problem("iban", iban) is None
    changed = iban[:2] + str((int(iban[2]) + 1) % 10) + iban[3:]  # a wrong check digit
    assert not iban_ok(changed)


def test_a_second_registration_of_the_same_account_at_the_same_time_is_refused(maventa, conn):
    """Two presses of Register at once would make two Maventa users: the second waits for nothing and
    is told someone is at it (the lock is held here by another database session)."""
    import threading

    from django.db import connections

    from connectors.locks import try_lock

    account = account_of(conn, NEW_SE_VAT, name="Nyföretaget AB")
    holding, release = threading.Event(), threading.Event()

    def other_person():
        try:
            with try_lock(f"maventa-account-setup:{account.pk}") as got:
                assert got
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_person)
    thread.start()
    try:
        assert holding.wait(10)
        users = len(maventa.sim.users)
        result = register(account)
        assert not result.ok and "Someone is registering or linking this account" in result.message.english()
        assert len(maventa.sim.users) == users
    finally:
        release.set()
        thread.join(10)
    assert register(account).ok


def test_without_our_vendor_key_nothing_is_registered_and_the_setting_is_named(maventa, conn, settings):
    settings.MAVENTA_VENDOR_API_KEY = ""
    account = account_of(conn, NEW_SE_VAT, name="Nyföretaget AB")
    result = register(account)
    assert not result.ok and "MAVENTA_VENDOR_API_KEY" in result.message.english()
    assert "Correct what Maventa names" in result.message.english()
    assert rows(account)[-1].outcome == SyncAttempt.Outcome.ERROR
    account.refresh_from_db()
    assert account.credentials == {}


def test_maventa_failing_is_said_as_try_again_and_nothing_changes(maventa, conn):
    account = account_of(conn, SE_VAT)
    assert accounts.link_existing(account, **demo_keys(0), **auth()).ok
    account.refresh_from_db()
    before = dict(account.settings)
    maventa.sim.set_knobs(error_rate=1.0)
    result = accounts.refresh_authentication(account)
    assert not result.ok and "Try again in a few minutes" in result.message.english()
    assert rows(account)[-1].outcome == SyncAttempt.Outcome.RETRYABLE
    account.refresh_from_db()
    assert account.settings == before
