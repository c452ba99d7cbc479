"""SeveraClient against a stand-in Severa REST API (`responses`): the token and the client_id header,
renewal, paging by NextPageToken and firstRow, 429 and the shared bucket, typed errors, the JSON Patch
status change, the PDF, and no secret in reprs or logged exchanges. Shapes follow maventa-severa.md §3."""

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
import responses
from django.utils import timezone

from connectors.http import NotConfiguredError, RetryableError
from connectors.ratelimit import DatabaseBackend, LeakyBucket
from severa.client import (
    JSON_PATCH,
    SeveraAuthError,
    SeveraClient,
    SeveraNotFound,
    SeveraRefused,
    Token,
)

API = "https://severa.test/rest-api"
CLIENT_ID = "integration-4f1c"
SECRET = "s3cr3t-Severa-9QX"
STATUS = "5e000000-0002-4000-8000-000000000002"
INVOICE = "1a000000-1001-4000-8000-000000001001"

pytestmark = pytest.mark.django_db


def token_answer(value="tok-1", seconds=3600):
    expires = (timezone.now() + dt.timedelta(seconds=seconds)).astimezone(dt.UTC)
    return {
        "access_token": value,
        "access_token_type": "Bearer",
        "access_token_expires_in": seconds,
        "access_token_expires_utc": expires.isoformat().replace("+00:00", "Z"),
        "refresh_token": "refresh-1",
        "refresh_token_expires_in": 86400,
        "refresh_token_expires_utc": expires.isoformat(),
        "scope": "invoices:read,invoices:write",
    }


def severa_error(status, kind, message):
    return {
        "error": {"httpStatusCode": status, "type": kind, "details": [{"message": message}], "stack": None}
    }


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def tokens():
    return []


@pytest.fixture
def client(rsps, tokens):
    """A client whose bucket lives in the test database and barely waits, with a token endpoint."""
    rsps.add(responses.POST, f"{API}/v1/token", json=token_answer())
    bucket = LeakyBucket(f"severa:test-{uuid.uuid4().hex}", 100, 1000.0, backend=DatabaseBackend())
    return SeveraClient(
        client_id=CLIENT_ID, client_secret=SECRET, base_url=API, bucket=bucket, on_token=tokens.append
    )


# --- the token -------------------------------------------------------------------------------------


def test_signing_in_sends_the_client_id_header_and_comma_separated_scopes(rsps, client, tokens):
    token = client.authenticate()
    call = rsps.calls[0]
    assert call.request.headers["client_id"] == CLIENT_ID
    body = json.loads(call.request.body)
    assert body["client_id"] == CLIENT_ID and body["client_secret"] == SECRET
    assert body["scope"].split(",") == [
        "invoices:read",
        "invoices:write",
        "customers:read",
        "settings:read",
        "organization:read",
        "files:read",
    ]
    assert token.value == "tok-1" and tokens == [token] and token.usable()
    assert dt.timedelta(minutes=59) < token.expires_at - timezone.now() <= dt.timedelta(hours=1)
    logged = json.dumps(client.last_exchange.logged())
    assert SECRET not in logged and "tok-1" not in logged and "refresh-1" not in logged


def test_no_secret_in_reprs(client):
    client.authenticate()
    for text in (repr(client), repr(client.token), str(client.__dict__.get("token"))):
        assert SECRET not in text and "tok-1" not in text
    assert CLIENT_ID not in repr(client)  # the bucket key is a digest of the client id
    assert client.bucket.key.startswith("severa:")


def test_every_call_carries_the_bearer_token_and_the_client_id(rsps, client):
    rsps.add(responses.GET, f"{API}/v1/organizationdetails", json={"name": "Demokonsult AB"})
    assert client.organization_details()["name"] == "Demokonsult AB"
    sent = rsps.calls[-1].request.headers
    assert sent["Authorization"] == "Bearer tok-1" and sent["client_id"] == CLIENT_ID


def test_a_token_about_to_end_is_renewed_first(rsps, client):
    client.token = Token(value="old", expires_at=timezone.now() + dt.timedelta(minutes=2))
    rsps.add(responses.GET, f"{API}/v1/organizationdetails", json={"name": "x"})
    client.organization_details()
    assert [c.request.url.rsplit("/", 1)[-1] for c in rsps.calls] == ["token", "organizationdetails"]
    assert rsps.calls[-1].request.headers["Authorization"] == "Bearer tok-1"


def test_a_refused_token_signs_in_again_once(rsps, client):
    client.token = Token(value="revoked", expires_at=timezone.now() + dt.timedelta(hours=1))
    url = f"{API}/v1/organizationdetails"
    rsps.add(responses.GET, url, status=401, json=severa_error(401, "AuthenticationRequired", "expired"))
    rsps.add(responses.GET, url, json={"name": "x"})
    assert client.organization_details() == {"name": "x"}
    assert [c.request.headers.get("Authorization") for c in rsps.calls if c.request.url == url] == [
        "Bearer revoked",
        "Bearer tok-1",
    ]


def test_wrong_credentials_are_a_permanent_error_saying_where_to_look(rsps):
    rsps.add(
        responses.POST,
        f"{API}/v1/token",
        status=401,
        json=severa_error(401, "AuthenticationRequired", "Invalid client credentials"),
    )
    bucket = LeakyBucket(f"severa:test-{uuid.uuid4().hex}", 100, 1000.0, backend=DatabaseBackend())
    client = SeveraClient(client_id=CLIENT_ID, client_secret="bad", base_url=API, bucket=bucket)
    with pytest.raises(SeveraAuthError) as caught:
        client.organization_details()
    assert caught.value.kind == "AuthenticationRequired"
    assert "Integrations → REST API" in str(caught.value) and "bad" not in str(caught.value)


def test_no_address_means_not_configured(settings):
    settings.SEVERA_API_URL = ""
    client = SeveraClient(client_id=CLIENT_ID, client_secret=SECRET)
    with pytest.raises(NotConfiguredError) as caught:
        client.authenticate()
    assert caught.value.setting == "SEVERA_API_URL"


# --- paging ----------------------------------------------------------------------------------------


def test_invoices_follow_next_page_token_through_every_page(rsps, client):
    url = f"{API}/v1/invoices"
    rsps.add(
        responses.GET,
        url,
        body='[{"guid": "a", "totalIncludingTax": {"amount": 12.10}}]',
        headers={"NextPageToken": "p2"},
    )
    rsps.add(responses.GET, url, json=[{"guid": "b"}], headers={"NextPageToken": "p3"})
    rsps.add(responses.GET, url, json=[{"guid": "c"}])
    since = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    found = list(client.invoices(status_guids=[STATUS, "other-guid"], changed_since=since))
    assert [i["guid"] for i in found] == ["a", "b", "c"]
    assert found[0]["totalIncludingTax"]["amount"] == Decimal("12.10")  # money stays Decimal
    calls = [c.request for c in rsps.calls if c.request.url.startswith(url)]
    first = calls[0].url
    assert f"invoiceStatusGuids={STATUS}&invoiceStatusGuids=other-guid" in first  # the key repeats
    assert "changedSince=2026-03-01T07%3A30%3A00.000Z" in first and "pageToken" not in first
    assert "pageToken=p2" in calls[1].url and "pageToken=p3" in calls[2].url


def test_one_invoice_page(rsps, client):
    rsps.add(responses.GET, f"{API}/v1/invoices", json=[{"guid": "a"}], headers={"NextPageToken": "n"})
    page = client.invoice_page(status_guids=[STATUS], page_token="t", row_count=5)
    assert page.next_page_token == "n" and page.invoices == [{"guid": "a"}]
    assert "pageToken=t" in rsps.calls[-1].request.url and "rowCount=5" in rsps.calls[-1].request.url


def test_invoice_rows_page_too(rsps, client):
    url = f"{API}/v1/invoices/{INVOICE}/invoicerows"
    rsps.add(responses.GET, url, json=[{"guid": "r1", "quantity": 7.5}], headers={"NextPageToken": "x"})
    rsps.add(responses.GET, url, json=[{"guid": "r2", "quantity": 1}])
    rows = client.invoice_rows(INVOICE)
    assert [r["guid"] for r in rows] == ["r1", "r2"] and rows[0]["quantity"] == Decimal("7.5")


def test_business_units_page_by_first_row(rsps, client):
    url = f"{API}/v1/businessunits"
    rsps.add(responses.GET, url, json=[{"guid": str(i)} for i in range(100)])
    rsps.add(responses.GET, url, json=[{"guid": "last"}])
    units = client.business_units(company_guid="c1")
    assert len(units) == 101
    urls = [c.request.url for c in rsps.calls if c.request.url.startswith(url)]
    assert "firstRow=0" in urls[0] and "firstRow=100" in urls[1] and "companyGuid=c1" in urls[0]
    assert "active=true" in urls[0]


def test_a_list_that_is_not_a_list_is_retryable(rsps, client):
    rsps.add(responses.GET, f"{API}/v1/invoicestatuses", json={"oops": True})
    with pytest.raises(RetryableError):
        client.invoice_statuses()


# --- the limit -------------------------------------------------------------------------------------

QUOTA = {"statusCode": 429, "message": "API calls quota exceeded! maximum admitted 10 per 1s."}


def test_a_429_is_tried_again_after_retry_after(rsps, client):
    url = f"{API}/v1/invoicestatuses"
    rsps.add(responses.GET, url, status=429, json=QUOTA, headers={"Retry-After": "0"})
    rsps.add(responses.GET, url, json=[{"guid": STATUS, "isSent": False}])
    assert client.invoice_statuses() == [{"guid": STATUS, "isSent": False}]


def test_a_long_retry_after_fills_the_shared_bucket_and_goes_back_to_the_task(rsps, client):
    rsps.add(
        responses.GET, f"{API}/v1/invoicestatuses", status=429, json=QUOTA, headers={"Retry-After": "120"}
    )
    with pytest.raises(RetryableError) as caught:
        client.invoice_statuses()
    assert caught.value.retry_after == 120 and caught.value.status == 429
    assert "quota exceeded" in str(caught.value)
    assert client.bucket.reserve() >= 119  # every worker's next call for this organisation waits too


def test_repeated_429s_give_up_after_three_retries(rsps, client):
    url = f"{API}/v1/invoicestatuses"
    rsps.add(responses.GET, url, status=429, json=QUOTA, headers={"Retry-After": "0"})
    with pytest.raises(RetryableError):
        client.invoice_statuses()
    assert len([c for c in rsps.calls if c.request.url.startswith(url)]) == 4


def test_the_default_bucket_is_per_organisation_at_nine_a_second():
    client = SeveraClient(
        client_id=CLIENT_ID, client_secret=SECRET, base_url=API, organisation="SE556677889901"
    )
    assert client.bucket.key == "severa:SE556677889901"
    assert client.bucket.capacity == 1 and client.bucket.rate == pytest.approx(9.0)


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        (400, "InvalidParameter", SeveraRefused),
        (404, "InvalidParameter", SeveraNotFound),
        (403, "InsufficientApiScope", SeveraAuthError),
        (500, "InternalSystemError", RetryableError),
        (503, "InternalSystemError", RetryableError),
    ],
)
def test_errors_are_typed_and_keep_severas_words(rsps, client, status, kind, error):
    rsps.add(
        responses.GET,
        f"{API}/v1/customers/c1",
        status=status,
        json=severa_error(status, kind, "Customer c1 says no"),
    )
    with pytest.raises(error) as caught:
        client.customer("c1")
    assert "Customer c1 says no" in str(caught.value) and caught.value.status == status
    if isinstance(caught.value, SeveraRefused):
        assert caught.value.kind == kind and caught.value.message == "Customer c1 says no"


# --- the rest --------------------------------------------------------------------------------------


def test_status_change_by_json_patch(rsps, client):
    url = f"{API}/v1/invoices/{INVOICE}"
    rsps.add(responses.PATCH, url, json=[{"guid": INVOICE, "status": {"guid": STATUS}}])
    invoice = client.set_invoice_status(INVOICE, STATUS)
    assert invoice["status"]["guid"] == STATUS
    sent = rsps.calls[-1].request
    assert sent.headers["Content-Type"] == JSON_PATCH
    assert json.loads(sent.body) == [{"op": "replace", "path": "/status/guid", "value": STATUS}]


def test_the_status_path_can_be_configured(rsps, client):
    client.status_patch_path = "/invoiceStatus/guid"
    rsps.add(responses.PATCH, f"{API}/v1/invoices/{INVOICE}", json={"guid": INVOICE})
    assert client.set_invoice_status(INVOICE, STATUS) == {"guid": INVOICE}
    assert json.loads(rsps.calls[-1].request.body)[0]["path"] == "/invoiceStatus/guid"


def test_reads_of_one_invoice_and_customer(rsps, client):
    rsps.add(responses.GET, f"{API}/v1/invoices/{INVOICE}", json={"guid": INVOICE})
    rsps.add(responses.GET, f"{API}/v1/invoices/{INVOICE}/invoicesettings", json={"isReverseCharged": True})
    rsps.add(responses.GET, f"{API}/v1/customers/c1", json={"eInvoiceAddress": "003776543212"})
    rsps.add(responses.GET, f"{API}/v1/customers/c1/customercountrysettings", json=[{"isTaxFree": True}])
    assert client.invoice(INVOICE) == {"guid": INVOICE}
    assert client.invoice_settings(INVOICE)["isReverseCharged"] is True
    assert client.customer("c1")["eInvoiceAddress"] == "003776543212"
    assert client.customer_country_settings("c1") == [{"isTaxFree": True}]


def test_pdf_bytes_and_what_is_not_a_pdf(rsps, client):
    url = f"{API}/v1/invoices/{INVOICE}/pdf"
    rsps.add(responses.GET, url, body=b"%PDF-1.4 ...", content_type="application/pdf")
    rsps.add(responses.GET, url, body=b"<html>login</html>", content_type="text/html")
    assert client.invoice_pdf(INVOICE) == b"%PDF-1.4 ..."
    assert "pdfGetOptions=All" in rsps.calls[-1].request.url
    assert "bytes of application/pdf" in client.last_exchange.response
    with pytest.raises(RetryableError):
        client.invoice_pdf(INVOICE)
