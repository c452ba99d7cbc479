"""MaventaClient against a stand-in Maventa AutoXChange API (`responses`): the token and its renewal,
registration, the vendor link, the authentication request, settings, sending (multipart, ZIP, our uuid and a
repeated one), reading an invoice back, the receiver lookup, typed errors and secrets. Bodies follow the
shared reference maventa-severa.md §2 (Token; Users, companies, vendor link; Authorization; Settings; Send;
Status, actions; Lookup; Errors)."""

import datetime as dt
import io
import json
import logging
import urllib.parse
import zipfile
from email.parser import BytesParser
from email.policy import HTTP

import pytest
import requests
import responses
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from connectors.http import NotConfiguredError, PermanentError, RetryableError
from maventa.client import (
    SCOPE,
    BidTaken,
    MaventaClient,
    MaventaError,
    MaventaUnauthorized,
    SentInvoice,
    Token,
    VendorKeyNotConfigured,
    parse_retry_after,
    send_zip,
)

API = "https://ax.test"
TOKEN = f"{API}/oauth2/token"
INVOICES = f"{API}/v1/invoices"
COMPANY_UUID = "5f0c6a3e-8d1b-4c2a-9e7f-1a2b3c4d5e6f"
USER_KEY = "b7e1c2d3-user-api-key-0a9f"
VENDOR_KEY = "v-9d8c7b6a-vendor-key"
INVOICE_UUID = "0d3b8c1e-6a4f-5e2d-9c7b-3f1a2e4d5c6b"
XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
)
PDF = b"%PDF-1.4 original invoice image"


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def issued():
    return []


@pytest.fixture
def client(issued):
    return MaventaClient(
        company_uuid=COMPANY_UUID,
        user_api_key=USER_KEY,
        vendor_api_key=VENDOR_KEY,
        label="SE556677889901",
        base_url=API,
        on_token=issued.append,
    )


def token_answer(value="tok-1", expires_in=3600):
    return {"access_token": value, "token_type": "bearer", "expires_in": expires_in, "scope": SCOPE}


def token_ok(rsps, value="tok-1", expires_in=3600):
    rsps.post(TOKEN, json=token_answer(value, expires_in))


def fresh(value="tok-old"):
    return Token(value=value, expires_at=timezone.now() + dt.timedelta(minutes=50))


def error(code, message, details=()):
    return {"code": code, "message": message, "details": list(details)}


def form_of(request) -> dict:
    """A urlencoded body as {name: value}."""
    return dict(urllib.parse.parse_qsl(request.body))


def multipart_of(request) -> list[tuple[str, str | None, bytes]]:
    """A multipart body as [(field name, file name, bytes)] in order."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


def fields_of(request) -> dict:
    return {name: value.decode() for name, filename, value in multipart_of(request) if filename is None}


def invoice_answer(status="PENDING", invoice_id=INVOICE_UUID, actions=()):
    """The 201 Invoice of §2 Send (fields as the spec names them)."""
    return {
        "id": invoice_id,
        "status": status,
        "reference": "",
        "number": "10023",
        "sender": {"eia": "0007:5566778899", "bid": "5566778899", "name": "Demokonsult AB", "country": "SE"},
        "recipient": {
            "eia": "0216:003712345678",
            "bid": "1234567-8",
            "name": "Asiakas Oy",
            "country": "FI",
            "operator": "003721291126",
        },
        "received_at": None,
        "created_at": "2026-12-03T10:00:00Z",
        "date": "2026-12-03",
        "date_due": "2027-01-02",
        "source_format": "PEPPOLBIS30",
        "sum": "1250.00",
        "sum_tax": "250.00",
        "currency": "EUR",
        "origin": "INTERNAL",
        "destination": "EINVOICE",
        "comment": "",
        "files": [],
        "actions": list(actions),
        "revision": "1",
        "virtual_barcode": "",
    }


# --- the token -------------------------------------------------------------------------------------


def test_the_token_is_asked_with_client_credentials_and_used_as_bearer(rsps, client, issued):
    token_ok(rsps, "tok-abc")
    rsps.get(f"{API}/v1/company/authorization", json={"auth_state": "SENT", "auth_email": "a@b.se"})

    client.authorization()

    sent = rsps.calls[0].request
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_of(sent) == {
        "grant_type": "client_credentials",
        "client_id": COMPANY_UUID,
        "client_secret": USER_KEY,
        "vendor_api_key": VENDOR_KEY,
        "scope": "company:read company:write invoice:send invoice:receive lookup",
    }
    assert "Authorization" not in sent.headers
    assert rsps.calls[1].request.headers["Authorization"] == "Bearer tok-abc"
    assert [t.value for t in issued] == ["tok-abc"]
    lifetime = issued[0].expires_at - timezone.now()
    assert dt.timedelta(minutes=59) < lifetime <= dt.timedelta(minutes=60)


def test_the_token_is_kept_between_calls_and_renewed_before_it_ends(rsps, client, issued):
    token_ok(rsps, "tok-1", expires_in=400)  # 6 min 40 s: usable for 1 min 40 s more
    rsps.get(f"{API}/v1/company/vendors", json={"state": "ACTIVE"})
    client.vendor_link()
    client.vendor_link()
    assert len([c for c in rsps.calls if c.request.url == TOKEN]) == 1

    client.token = Token(value="tok-1", expires_at=timezone.now() + dt.timedelta(minutes=4))
    token_ok(rsps, "tok-2")
    client.vendor_link()
    assert [t.value for t in issued] == ["tok-1", "tok-2"]
    assert rsps.calls[-1].request.headers["Authorization"] == "Bearer tok-2"


def test_without_expires_in_the_token_lives_an_hour(rsps, client):
    rsps.post(TOKEN, json={"access_token": "t", "token_type": "bearer"})
    lifetime = client.get_token().expires_at - timezone.now()
    assert dt.timedelta(minutes=59) < lifetime <= dt.timedelta(minutes=60)


def test_a_401_to_a_kept_token_gets_one_new_token_and_one_retry(rsps, client, issued):
    client.token = fresh("tok-old")
    rsps.get(f"{API}/v1/company/authorization", status=401, json=error("invalid_token", "Invalid token"))
    token_ok(rsps, "tok-new")
    rsps.get(
        f"{API}/v1/company/authorization",
        json={"auth_state": "SIGNED", "auth_email": "a@b.se", "company_state": "VERIFIED"},
    )

    assert client.authorization().verified

    auths = [c.request.headers.get("Authorization") for c in rsps.calls]
    assert auths == ["Bearer tok-old", None, "Bearer tok-new"]
    assert [t.value for t in issued] == ["tok-new"]


def test_a_401_to_a_token_just_issued_is_not_retried(rsps, client):
    token_ok(rsps)
    rsps.get(f"{API}/v1/company/authorization", status=401, json=error("invalid_token", "Invalid token"))
    with pytest.raises(MaventaError, match="invalid_token: Invalid token") as caught:
        client.authorization()
    assert caught.value.status == 401 and not isinstance(caught.value, MaventaUnauthorized)
    assert len(rsps.calls) == 2


def test_refused_credentials_are_permanent_with_maventas_words(rsps, client):
    rsps.post(TOKEN, status=401, json=error("invalid_client", "Client authentication failed"))
    with pytest.raises(MaventaError) as caught:
        client.get_token()
    assert "invalid_client: Client authentication failed" in caught.value.text.english()
    assert client.token is None


def test_a_token_answer_without_a_token_is_retryable(rsps, client, issued):
    rsps.post(TOKEN, json={"token_type": "bearer", "expires_in": 3600})
    with pytest.raises(RetryableError, match="without a token"):
        client.get_token()
    assert issued == []


def test_a_token_needs_the_account_keys_and_our_vendor_key(rsps):
    with pytest.raises(ValueError, match="company UUID and user API key"):
        MaventaClient(company_uuid=COMPANY_UUID, vendor_api_key=VENDOR_KEY, base_url=API).get_token()
    with override_settings(MAVENTA_VENDOR_API_KEY=""):
        keyless = MaventaClient(company_uuid=COMPANY_UUID, user_api_key=USER_KEY, base_url=API)
        with pytest.raises(VendorKeyNotConfigured) as caught:
            keyless.get_token()
    assert caught.value.setting == "MAVENTA_VENDOR_API_KEY"
    assert isinstance(caught.value, NotConfiguredError)
    assert len(rsps.calls) == 0


def test_the_settings_give_the_address_and_the_vendor_key(rsps):
    with override_settings(MAVENTA_API_URL="https://ax.elsewhere", MAVENTA_VENDOR_API_KEY="from-settings"):
        configured = MaventaClient(company_uuid=COMPANY_UUID, user_api_key=USER_KEY)
    rsps.post("https://ax.elsewhere/oauth2/token", json=token_answer())
    configured.get_token()
    assert form_of(rsps.calls[0].request)["vendor_api_key"] == "from-settings"


def test_without_an_address_nothing_is_sent(rsps):
    with override_settings(MAVENTA_API_URL=""):
        unset = MaventaClient(company_uuid=COMPANY_UUID, user_api_key=USER_KEY, vendor_api_key=VENDOR_KEY)
        with pytest.raises(NotConfiguredError) as caught:
            unset.get_token()
    assert caught.value.setting == "MAVENTA_API_URL"
    assert len(rsps.calls) == 0


# --- registration and the vendor link ----------------------------------------------------------------


def test_create_user_posts_json_without_a_token_and_returns_the_key(rsps, client):
    rsps.post(f"{API}/v1/users", status=201, json={"user_api_key": "new-user-key-123"})
    assert (
        client.create_user("anna@demokonsult.se", first_name="Anna", last_name="Berg") == "new-user-key-123"
    )
    sent = rsps.calls[0].request
    assert json.loads(sent.body) == {
        "vendor_api_key": VENDOR_KEY,
        "email": "anna@demokonsult.se",
        "first_name": "Anna",
        "last_name": "Berg",
    }
    assert "Authorization" not in sent.headers
    assert "new-user-key-123" not in json.dumps(client.last_exchange.logged())


@pytest.mark.parametrize("answer", [{"user_api_key": ""}, {"user_api_key": None}, {}])
def test_no_key_back_means_the_person_already_has_a_maventa_user(rsps, client, answer):
    rsps.post(f"{API}/v1/users", status=201, json=answer)
    assert client.create_user("anna@demokonsult.se") is None


COMPANY = {
    "user_api_key": USER_KEY,
    "name": "Demokonsult Oy",
    "bid": "FI23456780",
    "no_vat": False,
    "address1": "Mannerheimintie 1",
    "post_code": "00100",
    "post_office": "Helsinki",
    "city": "Helsinki",
    "country": "FI",
    "email": "laskutus@demokonsult.fi",
}


@pytest.mark.parametrize("duetto", [False, True])
def test_create_company_posts_a_multipart_form_with_duetto_explicit(rsps, client, duetto):
    rsps.post(f"{API}/v1/companies", status=201, json={"id": COMPANY_UUID})

    assert client.create_company(**COMPANY, activate_duetto=duetto) == COMPANY_UUID

    sent = rsps.calls[0].request
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert "Authorization" not in sent.headers
    assert fields_of(sent) == {
        "vendor_api_key": VENDOR_KEY,
        "user_api_key": USER_KEY,
        "name": "Demokonsult Oy",
        "bid": "FI23456780",
        "no_vat": "false",
        "address1": "Mannerheimintie 1",
        "post_code": "00100",
        "post_office": "Helsinki",
        "city": "Helsinki",
        "country": "FI",
        "email": "laskutus@demokonsult.fi",
        "activate_duetto": "true" if duetto else "false",
    }
    logged = json.dumps(client.last_exchange.logged())
    assert USER_KEY not in logged and VENDOR_KEY not in logged and COMPANY_UUID not in logged


def test_activate_duetto_has_no_default():
    with pytest.raises(TypeError):
        MaventaClient(base_url=API, vendor_api_key=VENDOR_KEY).create_company(**COMPANY)


@pytest.mark.parametrize(
    "body",
    [
        error("invalid_parameters", "BID ALREADY TAKEN"),
        error("invalid_parameters", "Invalid parameters", ["bid already taken"]),
        {"message": "Bid already taken"},
    ],
)
def test_a_taken_business_id_says_use_the_existing_account(rsps, client, body):
    rsps.post(f"{API}/v1/companies", status=400, json=body)
    with pytest.raises(BidTaken) as caught:
        client.create_company(**COMPANY, activate_duetto=False)
    english = caught.value.text.english()
    assert "FI23456780" in english and '"Existing account"' in english
    assert "already taken" in english.lower()  # Maventa's own words, kept
    assert caught.value.status == 400 and isinstance(caught.value, PermanentError)


def test_another_refusal_of_the_company_is_not_bid_taken(rsps, client):
    rsps.post(f"{API}/v1/companies", status=400, json=error("invalid_parameters", "name is too short"))
    with pytest.raises(MaventaError) as caught:
        client.create_company(**COMPANY, activate_duetto=False)
    assert not isinstance(caught.value, BidTaken)
    assert caught.value.code == "invalid_parameters" and caught.value.message == "name is too short"
    assert "invalid_parameters: name is too short" in str(caught.value)


def test_link_vendor_and_its_state(rsps, client):
    token_ok(rsps)
    rsps.post(f"{API}/v1/company/vendors", status=201, json={"state": "ACTIVE"})
    rsps.get(f"{API}/v1/company/vendors", json={"state": "ACTIVE"})
    assert client.link_vendor() == "ACTIVE"
    assert client.vendor_link() == "ACTIVE"
    assert rsps.calls[1].request.headers["Authorization"] == "Bearer tok-1"


def test_current_reads_who_the_keys_belong_to(rsps, client):
    token_ok(rsps)
    answer = {
        "user": {"id": "u1", "first_name": "Anna", "last_name": "Berg", "email": "anna@demokonsult.se"},
        "company": {"id": COMPANY_UUID, "bid": "5566778899", "name": "Demokonsult AB", "country": "SE"},
        "scopes": ["company:read", "company:write", "invoice:send", "lookup"],
    }
    rsps.get(f"{API}/oauth2/current", json=answer)
    assert client.current()["company"]["bid"] == "5566778899"


# --- authentication (KYC) ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["FI", "SE", "NO", "EN", "NL", "se"])
def test_the_authentication_request_names_the_email_and_its_language(rsps, client, locale):
    token_ok(rsps)
    rsps.post(f"{API}/v1/company/authorization", json={"status": "OK", "count": 1})
    assert client.request_authorization(" signer@demokonsult.se ", locale) == {"status": "OK", "count": 1}
    assert json.loads(rsps.calls[1].request.body) == {
        "auth_email": "signer@demokonsult.se",
        "locale": locale.upper(),
    }


@pytest.mark.parametrize(
    ("email", "locale"), [("a@b.se", "DK"), ("a@b.se", "VI"), ("", "SE"), ("a@b.se", "")]
)
def test_an_authentication_request_maventa_cannot_take_is_not_sent(rsps, client, email, locale):
    with pytest.raises(ValueError):
        client.request_authorization(email, locale)
    assert len(rsps.calls) == 0


def test_a_refused_authentication_request_keeps_maventas_words(rsps, client):
    token_ok(rsps)
    rsps.post(
        f"{API}/v1/company/authorization",
        status=400,
        json=error("invalid_parameters", "auth_email is invalid", ["auth_email"]),
    )
    with pytest.raises(MaventaError) as caught:
        client.request_authorization("not-an-email@", "FI")
    assert caught.value.details == ["auth_email"]
    assert "invalid_parameters: auth_email is invalid (auth_email)" in caught.value.text.english()
    assert "SE556677889901" in caught.value.text.english()


@pytest.mark.parametrize(
    ("answer", "state", "company", "verified"),
    [
        (
            {"auth_state": "PENDING", "auth_email": "s@x.fi", "company_state": "UNVERIFIED"},
            "PENDING",
            "UNVERIFIED",
            False,
        ),
        (
            {"auth_state": "SIGNED", "auth_email": "s@x.fi", "company_state": "VERIFIED"},
            "SIGNED",
            "VERIFIED",
            True,
        ),
        ({"auth_state": "canceled", "company_state": "unknown"}, "CANCELED", "UNKNOWN", False),
        ({}, "NONE", "UNKNOWN", False),
    ],
)
def test_the_authentication_status(rsps, client, answer, state, company, verified):
    token_ok(rsps)
    rsps.get(f"{API}/v1/company/authorization", json=answer)
    status = client.authorization()
    assert (status.auth_state, status.company_state, status.verified) == (state, company, verified)


def test_an_unverified_company_is_its_own_error(rsps, client):
    token_ok(rsps)
    rsps.post(INVOICES, status=401, json=error("auth_unauthorized", "Unauthorized"))
    with pytest.raises(MaventaUnauthorized) as caught:
        client.send_invoice(send_zip(XML), uuid=INVOICE_UUID)
    assert "not verified yet" in caught.value.text.english()
    assert "auth_unauthorized: Unauthorized" in caught.value.text.english()
    assert caught.value.code == "auth_unauthorized"
    assert len(rsps.calls) == 2  # no lookup by uuid: nothing was created


# --- settings ----------------------------------------------------------------------------------------------


SETTINGS = {
    "details": {"name": "Demokonsult Oy", "email": "x@y.fi", "country": "FI", "bid": "2345678-0"},
    "address": {
        "street_address": "Mannerheimintie 1",
        "post_code": "00100",
        "city": "Helsinki",
        "country": "FI",
    },
    "invoice_notifications": {
        "on_receiving": {"enabled": False, "how_to_send": "EMBEDDED", "other_email": ""},
        "on_send_errors": {"to_user": True, "to_emails": []},
    },
}


def test_settings_are_read_by_field_and_patched(rsps, client):
    token_ok(rsps)
    rsps.get(f"{API}/v1/company/settings", json=SETTINGS)
    rsps.patch(f"{API}/v1/company/settings", status=204)

    assert client.get_settings(["send_invoice_email", "send_invoice_print"]) == SETTINGS
    assert urllib.parse.parse_qsl(urllib.parse.urlsplit(rsps.calls[1].request.url).query) == [
        ("fields[]", "send_invoice_email"),
        ("fields[]", "send_invoice_print"),
    ]
    client.update_settings({"send_invoice_print": {"enabled": True, "use_own_pdf": True}})
    assert json.loads(rsps.calls[2].request.body) == {
        "send_invoice_print": {"enabled": True, "use_own_pdf": True}
    }
    with pytest.raises(ValueError):
        client.update_settings({})


def test_send_error_emails_go_to_on_send_errors_with_the_required_settings(rsps, client):
    token_ok(rsps)
    rsps.get(f"{API}/v1/company/settings", json=SETTINGS)
    rsps.patch(f"{API}/v1/company/settings", status=204)

    client.set_send_error_emails(["ops@demokonsult.fi", ""], to_user=False)

    patched = json.loads(rsps.calls[2].request.body)
    assert patched == {
        "details": SETTINGS["details"],
        "address": SETTINGS["address"],
        "invoice_notifications": {
            "on_receiving": SETTINGS["invoice_notifications"]["on_receiving"],
            "on_send_errors": {"to_user": False, "to_emails": ["ops@demokonsult.fi"]},
        },
    }


def test_refused_settings_keep_maventas_words(rsps, client):
    token_ok(rsps)
    rsps.patch(
        f"{API}/v1/company/settings",
        status=400,
        json=error(
            "invalid_parameters", "Invalid parameters", [{"field": "send_invoice_email.contact.email"}]
        ),
    )
    with pytest.raises(MaventaError) as caught:
        client.update_settings({"send_invoice_email": {"enabled": True}})
    assert "send_invoice_email.contact.email" in caught.value.text.english()


# --- sending ----------------------------------------------------------------------------------------------


def test_send_zip_holds_the_xml_and_the_original_pdf():
    content = send_zip(XML, PDF)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.namelist() == ["invoice.xml", "invoice.pdf"]
        assert archive.read("invoice.xml") == XML and archive.read("invoice.pdf") == PDF
    with zipfile.ZipFile(io.BytesIO(send_zip(XML))) as archive:
        assert archive.namelist() == ["invoice.xml"]
    assert send_zip(XML, PDF) == content  # the same invoice, the same bytes
    with pytest.raises(ValueError):
        send_zip(b"")
    with pytest.raises(ValueError):
        send_zip(XML, b"")


@given(xml=st.binary(min_size=1, max_size=2000), pdf=st.none() | st.binary(min_size=1, max_size=2000))
def test_send_zip_round_trips_any_content(xml, pdf):
    with zipfile.ZipFile(io.BytesIO(send_zip(xml, pdf))) as archive:
        assert archive.testzip() is None
        assert archive.read("invoice.xml") == xml
        assert (archive.read("invoice.pdf") if pdf is not None else None) == pdf


def test_an_invoice_is_sent_as_multipart_with_our_uuid(rsps, client):
    token_ok(rsps)
    rsps.post(INVOICES, status=201, json=invoice_answer())
    content = send_zip(XML, PDF)

    sent = client.send_invoice(
        content,
        uuid=INVOICE_UUID,
        recipient_eia="0216:003712345678",
        recipient_operator="003721291126",
        disabled_routes=["print"],
        lang="fi",
    )

    request = rsps.calls[1].request
    assert request.headers["Authorization"] == "Bearer tok-1"
    parts = multipart_of(request)
    assert parts[0] == ("file", "invoice.zip", content)
    assert [(n, v.decode()) for n, f, v in parts[1:]] == [
        ("format", "PEPPOLBIS30"),
        ("uuid", INVOICE_UUID),
        ("recipient_eia", "0216:003712345678"),
        ("recipient_operator", "003721291126"),
        ("lang", "FI"),
        ("disabled_routes[]", "print"),
    ]
    assert isinstance(sent, SentInvoice)
    assert (sent.id, sent.status, sent.pending, sent.repeated) == (INVOICE_UUID, "PENDING", True, False)
    assert (sent.number, sent.recipient_eia, sent.recipient_operator) == (
        "10023",
        "0216:003712345678",
        "003721291126",
    )
    logged = client.last_exchange.logged()
    assert logged["request"]["body"]["file"] == f"<invoice.zip, {len(content)} bytes>"  # not the bytes


def test_a_plain_xml_can_be_sent_too(rsps, client):
    token_ok(rsps)
    rsps.post(INVOICES, status=201, json=invoice_answer())
    client.send_invoice(XML, uuid=INVOICE_UUID, filename="invoice.xml", recipient_email="ap@asiakas.fi")
    name, filename, content = multipart_of(rsps.calls[1].request)[0]
    assert (name, filename, content) == ("file", "invoice.xml", XML)
    assert fields_of(rsps.calls[1].request)["recipient_email"] == "ap@asiakas.fi"


@pytest.mark.parametrize(
    "kw",
    [{"uuid": ""}, {"uuid": INVOICE_UUID, "disabled_routes": ["fax"]}, {"uuid": INVOICE_UUID, "lang": "VI"}],
)
def test_a_send_maventa_cannot_take_is_not_made(rsps, client, kw):
    with pytest.raises(ValueError):
        client.send_invoice(XML, **kw)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("status", [400, 409, 422])
def test_a_repeated_uuid_returns_the_invoice_already_created(rsps, client, status):
    token_ok(rsps)
    rsps.post(
        INVOICES, status=status, json=error("document_duplicate_transmission_id", "uuid already exists")
    )
    rsps.get(f"{INVOICES}/{INVOICE_UUID}", json=invoice_answer("DELIVERED"))

    sent = client.send_invoice(send_zip(XML), uuid=INVOICE_UUID)

    assert (sent.id, sent.delivered, sent.repeated) == (INVOICE_UUID, True, True)
    assert [c.request.method for c in rsps.calls] == ["POST", "POST", "GET"]


def test_a_rejected_invoice_that_does_not_exist_raises_maventas_words(rsps, client):
    token_ok(rsps)
    rsps.post(
        INVOICES,
        status=400,
        json=error("invalid_parameters", "Invoice does not meet minimum content", ["Missing invoice number"]),
    )
    rsps.get(f"{INVOICES}/{INVOICE_UUID}", status=404, json=error("not_found", "Not found"))

    with pytest.raises(MaventaError) as caught:
        client.send_invoice(send_zip(XML), uuid=INVOICE_UUID)

    assert caught.value.status == 400 and not caught.value.retryable
    assert caught.value.details == ["Missing invoice number"]
    assert (
        "invalid_parameters: Invoice does not meet minimum content (Missing invoice number)"
        in caught.value.text.english()
    )


def test_when_the_question_by_uuid_is_refused_too_the_sends_refusal_is_raised(rsps, client):
    token_ok(rsps)
    rsps.post(INVOICES, status=422, json=error("document_duplicate_transmission_id", "Duplicate"))
    rsps.get(f"{INVOICES}/{INVOICE_UUID}", status=403, json=error("forbidden", "Forbidden"))
    with pytest.raises(MaventaError) as caught:
        client.send_invoice(send_zip(XML), uuid=INVOICE_UUID)
    assert caught.value.status == 422 and caught.value.code == "document_duplicate_transmission_id"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_on_send_is_retryable_and_not_resent_here(rsps, client, status):
    token_ok(rsps)
    rsps.post(INVOICES, status=status, body="<html>Bad gateway</html>")
    with pytest.raises(RetryableError) as caught:
        client.send_invoice(send_zip(XML), uuid=INVOICE_UUID)
    assert caught.value.status == status
    assert "<html>Bad gateway</html>" in caught.value.text.english()
    assert len(rsps.calls) == 2


def test_a_timeout_on_send_is_retryable_and_the_exchange_holds_no_file(rsps, client):
    token_ok(rsps)
    rsps.post(INVOICES, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(RetryableError) as caught:
        client.send_invoice(send_zip(XML, PDF), uuid=INVOICE_UUID)
    assert caught.value.exchange.request["uuid"] == INVOICE_UUID
    assert caught.value.exchange.request["file"].startswith("<invoice.zip, ")


@pytest.mark.parametrize(("header", "wait"), [("30", 30.0), ("0", 0.0), (None, None), ("soon", None)])
def test_429_is_retryable_with_retry_after(rsps, client, header, wait):
    token_ok(rsps)
    headers = {"Retry-After": header} if header is not None else {}
    rsps.get(
        f"{INVOICES}/{INVOICE_UUID}",
        status=429,
        json=error("too_many_requests", "Slow down"),
        headers=headers,
    )
    with pytest.raises(RetryableError) as caught:
        client.get_invoice(INVOICE_UUID)
    assert caught.value.retry_after == wait
    assert "too busy" in caught.value.text.english() and "Slow down" in caught.value.text.english()


def test_retry_after_as_an_http_date():
    now = dt.datetime(2026, 12, 3, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("Thu, 03 Dec 2026 12:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Thu, 03 Dec 2026 11:00:00 GMT", now=now) == 0.0


# --- reading a sent invoice -------------------------------------------------------------------------------


ACTIONS = [
    {
        "type": "CREATED",
        "channel": "EINVOICE",
        "message": "Invoice created",
        "happened_at": "2026-12-03T10:00:00Z",
    },
    {
        "type": "ERROR",
        "channel": "EINVOICE",
        "message": "[BR-CO-15] totals differ",
        "happened_at": "2026-12-03T10:01:00Z",
    },
]


def test_find_invoice_by_our_uuid(rsps, client):
    token_ok(rsps)
    rsps.get(f"{INVOICES}/{INVOICE_UUID}", json=invoice_answer("FAILED", actions=ACTIONS))
    found = client.find_invoice(INVOICE_UUID)
    assert found.failed and not found.pending
    assert found.errors == ["[BR-CO-15] totals differ"]
    assert found.actions[0].type == "CREATED" and found.actions[1].channel == "EINVOICE"


def test_find_invoice_says_none_when_maventa_has_none(rsps, client):
    token_ok(rsps)
    rsps.get(f"{INVOICES}/{INVOICE_UUID}", status=404, json=error("not_found", "Invoice not found"))
    assert client.find_invoice(INVOICE_UUID) is None
    with pytest.raises(MaventaError, match="Invoice not found"):
        client.get_invoice(INVOICE_UUID)


def test_an_unknown_status_is_kept_and_counts_as_pending(rsps, client):
    token_ok(rsps)
    rsps.get(f"{INVOICES}/{INVOICE_UUID}", json=invoice_answer("processing"))
    invoice = client.get_invoice(INVOICE_UUID)
    assert invoice.status == "PROCESSING" and invoice.pending


def test_an_invoice_answer_without_the_invoice_is_retryable(rsps, client):
    token_ok(rsps)
    rsps.get(f"{INVOICES}/{INVOICE_UUID}", json={"unexpected": True})
    with pytest.raises(RetryableError, match="without the invoice"):
        client.get_invoice(INVOICE_UUID)


def test_invoice_actions(rsps, client):
    token_ok(rsps)
    rsps.get(f"{INVOICES}/{INVOICE_UUID}/actions", json=ACTIONS)
    actions = client.invoice_actions(INVOICE_UUID, types=["ERROR"])
    assert [a.type for a in actions] == ["CREATED", "ERROR"]
    assert urllib.parse.urlsplit(rsps.calls[1].request.url).query == "type%5B%5D=ERROR"


def test_receivers_are_looked_up_by_business_id(rsps, client):
    token_ok(rsps)
    rsps.get(
        f"{API}/v1/lookup/receivers",
        json=[
            {
                "eia": "0216:003712345678",
                "identifier": {
                    "scheme": "iso6523-actorid-upis",
                    "eaid_name": "FI:OVT",
                    "eaid_code": "0216",
                    "endpoint_id": "003712345678",
                },
                "network": "PEPPOL",
                "operator": "PEPPOL",
                "document_types": [
                    {
                        "document_type": "INVOICE",
                        "document_identifier": "urn:x",
                        "process_identifier": "urn:y",
                    }
                ],
                "participant": {"id": "p1", "name": "Asiakas Oy", "bid": "1234567-8", "country": "FI"},
            }
        ],
    )

    found = client.lookup_receivers(bid="1234567-8", country="FI")

    assert urllib.parse.parse_qsl(urllib.parse.urlsplit(rsps.calls[1].request.url).query) == [
        ("network[]", "PEPPOL"),
        ("bid", "1234567-8"),
        ("country[]", "FI"),
    ]
    assert [(r.eia, r.network, r.name, r.bid, r.document_types) for r in found] == [
        ("0216:003712345678", "PEPPOL", "Asiakas Oy", "1234567-8", ("INVOICE",))
    ]
    with pytest.raises(ValueError):
        client.lookup_receivers()


# --- secrets -------------------------------------------------------------------------------------------


def test_no_key_uuid_or_token_in_repr_exchanges_errors_or_logs(rsps, client, caplog):
    caplog.set_level(logging.DEBUG)
    token_ok(rsps, "tok-secret-123")
    rsps.post(f"{API}/v1/users", status=201, json={"user_api_key": "brand-new-user-key"})
    rsps.post(INVOICES, status=401, json=error("auth_unauthorized", f"Unauthorized {COMPANY_UUID}"))

    client.get_token()
    logged_token = json.dumps(client.last_exchange.logged())
    client.create_user("anna@demokonsult.se")
    logged_user = json.dumps(client.last_exchange.logged())
    with pytest.raises(MaventaUnauthorized) as caught:
        client.send_invoice(XML, uuid=INVOICE_UUID, filename="invoice.xml")
    logged_send = json.dumps(client.last_exchange.logged())

    texts = [
        repr(client),
        repr(client.token),
        logged_token,
        logged_user,
        logged_send,
        str(caught.value),
        caught.value.text.english(),
        caplog.text,
    ]
    for text in texts:
        for secret in (USER_KEY, VENDOR_KEY, "tok-secret-123", "brand-new-user-key"):
            assert secret not in text, (secret, text)
    assert COMPANY_UUID not in logged_token and COMPANY_UUID not in repr(client)
    assert "SE556677889901" in repr(client)


def test_the_token_owner_changes_with_the_keys_and_hides_them(client):
    def owner(**kw):
        keys = {"company_uuid": COMPANY_UUID, "user_api_key": USER_KEY, "vendor_api_key": VENDOR_KEY, **kw}
        return MaventaClient(base_url=API, **keys).token_owner

    assert owner() == client.token_owner
    assert (
        len({owner(), owner(user_api_key="other"), owner(company_uuid="other"), owner(vendor_api_key="x")})
        == 4
    )
    assert USER_KEY not in client.token_owner and COMPANY_UUID not in client.token_owner
