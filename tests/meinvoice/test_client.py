"""MeInvoiceClient against a stand-in meInvoice (`responses`): auth, envelopes, errors, exactly-once rules."""

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.utils import timezone

from connectors.http import PermanentError, RetryableError
from meinvoice.client import MeInvoiceClient, PublishResult, QuantityTooLarge, Token

API = "https://meinvoice.test/api/integration"
LOGIN = f"{API}/auth/token"
TEMPLATES = f"{API}/invoice/templates"
PUBLISH = f"{API}/invoice"
STATUS = f"{API}/invoice/status"
MST = "0101243150"
APP_ID = "app-id-3f1c9"
PASSWORD = "pa55-w0rd!"


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def issued():
    return []


@pytest.fixture
def client(issued):
    return MeInvoiceClient(
        tax_code=MST,
        app_id=APP_ID,
        username="ketoan@shop.vn",
        password=PASSWORD,
        base_url=API,
        on_token=issued.append,
    )


def fresh(value="tok-old"):
    return Token(value=value, expires_at=timezone.now() + dt.timedelta(days=10))


def ok(data, **extra):
    return {"Success": True, "Data": data, "ErrorCode": None, "Errors": [], "CustomData": None, **extra}


def failed(code, description="", **extra):
    return {
        "Success": False,
        "Data": None,
        "ErrorCode": code,
        "Errors": [],
        "descriptionErrorCode": description,
    }


def login_ok(rsps, token="tok-1"):
    rsps.post(LOGIN, json=ok(token))


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def sent(call):
    return json.loads(call.request.body)


def template(tid, series):
    return {"IPTemplateID": tid, "InvSeries": series, "TemplateName": "Hóa đơn GTGT", "Inactive": False}


def invoice(ref):
    return {"RefID": ref, "InvSeries": "1C25TYY", "InvDate": "2025-03-01"}


def published(ref, n, **extra):
    return {
        "RefID": ref,
        "TransactionID": f"TX{n}",
        "InvNo": f"{n:08d}",
        "InvSeries": "1C25TYY",
        "InvCode": f"M1-25-{n}",
        "InvDate": "2025-03-01T00:00:00",
        "ErrorCode": None,
        **extra,
    }


# --- login and the token ------------------------------------------------------------------------------


def test_login_sends_the_credentials_and_reports_the_token(rsps, client, issued):
    login_ok(rsps, "tok-1")
    token = client.login()
    assert sent(rsps.calls[0]) == {
        "appid": APP_ID,
        "taxcode": MST,
        "username": "ketoan@shop.vn",
        "password": PASSWORD,
    }
    assert token.value == "tok-1"
    assert dt.timedelta(days=13, hours=23) < token.expires_at - timezone.now() <= dt.timedelta(days=14)
    assert issued == [token] and client.token == token


def test_one_login_serves_every_call_with_bearer_and_tax_code(rsps, client, issued):
    login_ok(rsps, "tok-1")
    rsps.get(TEMPLATES, json=ok([template("t1", "1C25TYY")]))
    client.templates(with_code=True)
    client.templates(with_code=True)
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [LOGIN, TEMPLATES, TEMPLATES]
    for call in rsps.calls[1:]:
        assert call.request.headers["Authorization"] == "Bearer tok-1"
        assert call.request.headers["CompanyTaxCode"] == MST
    assert len(issued) == 1


def test_a_given_token_is_used_without_logging_in(rsps, client):
    client.token = fresh("tok-stored")
    rsps.get(TEMPLATES, json=ok([]))
    client.templates(with_code=False)
    assert len(rsps.calls) == 1
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer tok-stored"


def test_a_token_within_a_day_of_expiry_is_renewed_first(rsps, client, issued):
    client.token = Token("tok-old", timezone.now() + dt.timedelta(hours=20))
    login_ok(rsps, "tok-new")
    rsps.get(TEMPLATES, json=ok([]))
    client.templates(with_code=True)
    assert rsps.calls[0].request.url == LOGIN
    assert rsps.calls[1].request.headers["Authorization"] == "Bearer tok-new"
    assert [t.value for t in issued] == ["tok-new"]


@pytest.mark.parametrize(
    "status, code",
    [
        (401, "TokenExpiredCode"),
        (200, "TokenExpiredCode"),
        (401, "InvalidTokenCode"),
        (200, "InvalidTokenCode"),
        (400, "UnAuthorize"),  # on a business call: a stale token, not wrong credentials
    ],
)
def test_an_expired_token_means_one_login_and_one_retry(rsps, client, issued, status, code):
    client.token = fresh("tok-old")
    rsps.get(TEMPLATES, json=failed(code), status=status)
    login_ok(rsps, "tok-new")
    rsps.get(TEMPLATES, json=ok(json.dumps([template("t1", "1C25TYY")])))
    assert client.templates(with_code=True) == [template("t1", "1C25TYY")]
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [TEMPLATES, LOGIN, TEMPLATES]
    assert rsps.calls[2].request.headers["Authorization"] == "Bearer tok-new"
    assert [t.value for t in issued] == ["tok-new"]


def test_an_expired_token_on_publish_is_resent_once_because_nothing_was_issued(rsps, client):
    client.token = fresh("tok-old")
    rsps.post(PUBLISH, json=failed("TokenExpiredCode"), status=401)
    login_ok(rsps, "tok-new")
    rsps.post(PUBLISH, json={"success": True, "publishInvoiceResult": [published("r1", 1)]})
    assert client.publish([invoice("r1")])[0].ok
    assert len([c for c in rsps.calls if c.request.url == PUBLISH]) == 2


def test_a_token_refused_twice_is_retryable(rsps, client):
    client.token = fresh("tok-old")
    rsps.get(TEMPLATES, json=failed("TokenExpiredCode"), status=401)
    login_ok(rsps, "tok-new")
    with pytest.raises(RetryableError, match=MST):
        client.templates(with_code=True)
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [TEMPLATES, LOGIN, TEMPLATES]


@pytest.mark.parametrize("code", ["UnAuthorize", "InvalidAppID"])
def test_wrong_credentials_are_permanent_and_name_the_mst_only(rsps, client, issued, code):
    rsps.post(LOGIN, json=failed(code, f"bad appid {APP_ID}"), status=400)
    with pytest.raises(PermanentError) as caught:
        client.templates(with_code=True)
    message = str(caught.value)
    assert message == (
        f"meInvoice refused the credentials for MST {MST}: "
        "check the app ID, user name and password of this account"
    )
    assert PASSWORD not in message and APP_ID not in message
    assert len(rsps.calls) == 1 and issued == [] and client.token is None


def test_a_login_answer_without_a_token_is_retryable(rsps, client):
    rsps.post(LOGIN, json=ok(None))
    with pytest.raises(RetryableError, match="without a token"):
        client.login()


# --- envelopes ----------------------------------------------------------------------------------------


def test_templates_parse_a_json_string_data(rsps, client):
    client.token = fresh()
    rows = [template("t1", "1C25TYY"), template("t2", "2C25TAA")]
    rsps.get(TEMPLATES, json=ok(json.dumps(rows)))
    assert client.templates(with_code=True) == rows
    assert query(rsps.calls[0]) == {"invoiceWithCode": "true", "ticket": "false"}


def test_templates_of_both_kinds_are_merged_without_duplicates(rsps, client):
    client.token = fresh()
    rsps.get(TEMPLATES, json=ok(json.dumps([template("t1", "1C25TYY"), template("t2", "1C25TAA")])))
    rsps.get(TEMPLATES, json=ok([template("t2", "1C25TAA"), template("t3", "1K25TBB")]))
    ids = [row["IPTemplateID"] for row in client.templates()]
    assert ids == ["t1", "t2", "t3"]
    assert [query(c)["invoiceWithCode"] for c in rsps.calls] == ["true", "false"]


def test_a_camel_case_envelope_reads_the_same(rsps, client):
    client.token = fresh()
    rsps.post(STATUS, json={"success": True, "data": json.dumps([{"RefID": "r1", "PublishStatus": 1}])})
    assert client.status(["r1"]) == [{"RefID": "r1", "PublishStatus": 1}]


def test_a_camel_case_error_is_permanent_with_code_and_description(rsps, client):
    client.token = fresh()
    rsps.post(
        STATUS,
        status=400,
        json={"success": False, "errorCode": "InvoiceQuantityTooLarge", "descriptionErrorCode": "Tối đa 50"},
    )
    with pytest.raises(PermanentError) as caught:
        client.status(["r1"])
    assert "InvoiceQuantityTooLarge" in str(caught.value) and "Tối đa 50" in str(caught.value)
    assert caught.value.status == 400


# --- publish ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_string", [True, False])
def test_publish_reads_each_invoice_on_its_own(rsps, client, as_string):
    client.token = fresh()
    results = [
        published("r1", 1),
        published("r2", 0, TransactionID=None, InvNo=None, InvCode=None, ErrorCode="InvalidTaxCode"),
        published("r3", 0, TransactionID=None, InvNo=None, ErrorCode="DuplicateInvoiceRefID"),
        published("r4", 0, TransactionID=None, InvNo=None, ErrorCode="InvoiceNumberNotCotinuous"),
    ]
    answer = json.dumps(results) if as_string else results
    rsps.post(PUBLISH, json={"success": True, "errorCode": None, "publishInvoiceResult": answer})
    r1, r2, r3, r4 = client.publish([invoice("r1"), invoice("r2"), invoice("r3"), invoice("r4")])
    assert sent(rsps.calls[0]) == {
        "SignType": 2,
        "InvoiceData": [invoice("r1"), invoice("r2"), invoice("r3"), invoice("r4")],
        "PublishInvoiceData": None,
    }
    assert r1 == PublishResult(
        ref_id="r1",
        ok=True,
        transaction_id="TX1",
        inv_no="00000001",
        inv_series="1C25TYY",
        inv_code="M1-25-1",
        inv_date="2025-03-01",
        error_code="",
        description="",
    )
    assert not r1.duplicate and not r1.retryable
    assert (r2.ok, r2.error_code, r2.duplicate, r2.retryable) == (False, "InvalidTaxCode", False, False)
    assert (r3.ok, r3.duplicate) == (False, True)
    assert (r4.ok, r4.retryable) == (False, True)


def test_publish_results_come_back_in_input_order(rsps, client):
    client.token = fresh()
    rsps.post(PUBLISH, json={"success": True, "publishInvoiceResult": [published("b", 2), published("a", 1)]})
    assert [r.ref_id for r in client.publish([invoice("a"), invoice("b")])] == ["a", "b"]


def test_a_top_level_duplicate_for_one_invoice_is_that_invoice_s_duplicate(rsps, client):
    client.token = fresh()
    rsps.post(
        PUBLISH, json={"success": False, "errorCode": "DuplicateInvoiceRefID", "publishInvoiceResult": None}
    )
    [result] = client.publish([invoice("r1")])
    assert result.ref_id == "r1" and result.duplicate and not result.ok


def test_an_answer_missing_a_ref_id_is_retryable_so_it_is_looked_up(rsps, client):
    client.token = fresh()
    rsps.post(PUBLISH, json={"success": True, "publishInvoiceResult": [published("r1", 1)]})
    with pytest.raises(RetryableError, match="r2"):
        client.publish([invoice("r1"), invoice("r2")])


def test_more_than_fifty_invoices_are_refused_before_any_call(rsps, client):
    with pytest.raises(ValueError, match="50"):
        client.publish([invoice(f"r{i}") for i in range(51)])
    assert len(rsps.calls) == 0


def test_an_invoice_without_ref_id_is_refused_before_any_call(rsps, client):
    with pytest.raises(ValueError, match="RefID"):
        client.publish([{"InvSeries": "1C25TYY"}])
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    "failure",
    [requests.exceptions.ReadTimeout(), requests.exceptions.ConnectionError()],
    ids=["timeout", "reset"],
)
def test_a_publish_without_an_answer_is_retryable_and_never_resent(rsps, client, failure):
    client.token = fresh()
    rsps.post(PUBLISH, body=failure)
    with pytest.raises(RetryableError):
        client.publish([invoice("r1")])
    assert len(rsps.calls) == 1
    assert client.last_exchange.error


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_publish_answered_by_5xx_is_retryable_and_never_resent(rsps, client, status):
    client.token = fresh()
    rsps.post(PUBLISH, json={"Message": "An error has occurred."}, status=status)
    with pytest.raises(RetryableError) as caught:
        client.publish([invoice("r1")])
    assert caught.value.status == status
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(
    "code, phrase",
    [
        ("LicenseInfo_OutOfInvoice", "has no invoices left"),
        ("LicenseInfo_Expired", "has expired"),
        ("LicenseInfo_NotBuy", "has not been bought"),
    ],
)
def test_licence_problems_are_permanent_and_plain(rsps, client, code, phrase):
    client.token = fresh()
    rsps.post(PUBLISH, json={"success": False, "errorCode": code, "publishInvoiceResult": None})
    with pytest.raises(PermanentError) as caught:
        client.publish([invoice("r1")])
    assert f"The meInvoice licence of MST {MST} {phrase}" in str(caught.value)


def test_a_call_level_validation_error_is_permanent_with_the_code(rsps, client):
    client.token = fresh()
    rsps.post(
        PUBLISH,
        status=400,
        json={"success": False, "errorCode": "InvalidInvoiceData", "descriptionErrorCode": "Dữ liệu sai"},
    )
    with pytest.raises(PermanentError, match="InvalidInvoiceData: Dữ liệu sai"):
        client.publish([invoice("r1")])


# --- status, paging, preview --------------------------------------------------------------------------


def test_status_asks_fifty_ref_ids_at_a_time_as_a_bare_array(rsps, client):
    client.token = fresh()
    ids = [f"ref-{i:03d}" for i in range(120)]
    for start in (0, 50, 100):
        rows = [{"RefID": ref, "PublishStatus": 1} for ref in ids[start : start + 50 : 2]]  # half are unknown
        rsps.post(STATUS, json=ok(json.dumps(rows)))
    rows = client.status(ids)
    assert len(rsps.calls) == 3
    assert [sent(c) for c in rsps.calls] == [ids[:50], ids[50:100], ids[100:]]
    for call in rsps.calls:
        assert query(call) == {"invoiceWithCode": "true", "invoiceCalcu": "false", "inputType": "2"}
    assert [r["RefID"] for r in rows] == ids[::2]


def test_status_by_transaction_id_uses_input_type_1(rsps, client):
    client.token = fresh()
    rsps.post(STATUS, json=ok([]))
    assert client.status(["TX1"], by="transaction_id", with_code=False) == []
    assert query(rsps.calls[0]) == {"invoiceWithCode": "false", "invoiceCalcu": "false", "inputType": "1"}
    with pytest.raises(ValueError):
        client.status(["TX1"], by="number")


def test_paging_sends_misa_dates(rsps, client):
    client.token = fresh()
    page = {"PageData": [{"RefID": "r1", "InvTemplateNo": "1", "InvSeries": "C25TAA"}], "TotalCount": 101}
    rsps.post(f"{API}/invoice/paging", json=ok(json.dumps(page)))
    got = client.paging(from_date=dt.date(2025, 3, 1), to_date=dt.date(2025, 3, 31), skip=100, take=50)
    assert got.total == 101 and [(r["RefID"], r["InvSeries"]) for r in got.rows] == [("r1", "1C25TAA")]
    assert sent(rsps.calls[0]) == {"FromDate": "20250301", "ToDate": "20250331", "Skip": 100, "Take": 50}


def test_paging_reads_a_bare_list_as_the_whole_range(rsps, client):
    client.token = fresh()
    rsps.post(f"{API}/invoice/paging", json=ok(json.dumps([{"RefID": "r1"}])))
    got = client.paging(from_date=dt.date(2025, 3, 1), to_date=dt.date(2025, 3, 31), skip=100, take=50)
    assert got.rows == [{"RefID": "r1"}] and got.total == 101


def test_unpublish_view_returns_the_link(rsps, client):
    client.token = fresh()
    rsps.post(f"{API}/invoice/unpublishview", json=ok("https://view.meinvoice.test/abc"))
    assert client.unpublish_view(invoice("r1")) == "https://view.meinvoice.test/abc"
    assert sent(rsps.calls[0]) == invoice("r1")


# --- transport and rate limits ------------------------------------------------------------------------


def test_a_500_is_retryable(rsps, client):
    client.token = fresh()
    rsps.get(TEMPLATES, body="<html>Service Unavailable</html>", status=500)
    with pytest.raises(RetryableError, match="HTTP 500") as caught:
        client.templates(with_code=True)
    assert caught.value.status == 500


def test_a_429_is_retryable_with_its_retry_after(rsps, client):
    client.token = fresh()
    rsps.post(STATUS, json={}, status=429, headers={"Retry-After": "7"})
    with pytest.raises(RetryableError) as caught:
        client.status(["r1"])
    assert caught.value.retry_after == 7.0


def test_a_200_that_is_not_an_envelope_is_retryable(rsps, client):
    client.token = fresh()
    rsps.get(TEMPLATES, body="<html>proxy</html>", status=200)
    with pytest.raises(RetryableError, match="not its envelope"):
        client.templates(with_code=True)


# --- secrets ------------------------------------------------------------------------------------------


def test_the_login_exchange_logs_no_secret(rsps, client):
    login_ok(rsps, "tok-secret-123")
    client.login()
    log = json.dumps(client.last_exchange.logged(), ensure_ascii=False)
    assert client.last_exchange.url == LOGIN
    for secret in (PASSWORD, APP_ID, "tok-secret-123"):
        assert secret not in log
    assert MST in log  # the MST is what the attempt log is tagged with, not a secret
    assert PASSWORD not in repr(client) and APP_ID not in repr(client)


def test_an_authenticated_exchange_logs_no_token(rsps, client):
    login_ok(rsps, "tok-secret-123")
    rsps.post(STATUS, json=ok([]))
    client.status(["r1"])
    assert "tok-secret-123" not in json.dumps(client.last_exchange.logged())


def test_an_error_listed_only_in_errors_still_counts(rsps, client):
    client.token = fresh()
    rsps.post(STATUS, json={"Success": False, "ErrorCode": None, "Errors": ["InvalidTaxCode"], "Data": None})
    with pytest.raises(PermanentError, match="InvalidTaxCode"):
        client.status(["r1"])


# --- what MISA answers -----------------------------------------------------------------------


def test_a_cash_register_series_publishes_with_sign_type_5(rsps, client):
    client.token = fresh()
    cash = {**invoice("m1"), "InvSeries": "1C25MYY"}
    rsps.post(
        PUBLISH, json={"success": True, "publishInvoiceResult": [published("m1", 1, InvSeries="1C25MYY")]}
    )
    assert client.publish([cash])[0].ok
    assert sent(rsps.calls[0])["SignType"] == 5
    rsps.post(PUBLISH, json={"success": True, "publishInvoiceResult": [published("r1", 1)]})
    client.publish([invoice("r1")])
    assert sent(rsps.calls[1])["SignType"] == 2
    with pytest.raises(ValueError, match="separate calls"):
        client.publish([cash, invoice("r2")])


def test_results_in_split_form_and_upper_case_are_ours(rsps, client):
    client.token = fresh()
    item = published("AB-1", 1, InvTemplateNo="1", InvSeries="C25TYY", InvDate=None)
    item["PublishedTime"] = "2025-03-01T23:30:00Z"  # already 2 March in Vietnam
    rsps.post(PUBLISH, json={"success": True, "publishInvoiceResult": [item]})
    result = client.publish([invoice("ab-1")])[0]
    assert (result.ref_id, result.inv_series, result.inv_date) == ("ab-1", "1C25TYY", "2025-03-02")


def test_status_rows_are_normalised_and_calcu_is_asked_for(rsps, client):
    client.token = fresh()
    row = {
        "RefID": "AB-1",
        "InvTemplateNo": "1",
        "InvSeries": "C25MYY",
        "PublishedTime": "2025-03-01T09:00:00",
    }
    rsps.post(STATUS, json=ok(json.dumps([row])))
    rows = client.status(["ab-1"], calcu=True)
    assert (rows[0]["RefID"], rows[0]["InvSeries"], rows[0]["InvDate"]) == ("ab-1", "1C25MYY", "2025-03-01")
    assert query(rsps.calls[0])["invoiceCalcu"] == "true"


def test_a_batch_too_large_says_so_and_nothing_was_issued(rsps, client):
    client.token = fresh()
    rsps.post(PUBLISH, json=failed("InvoiceQuantityTooLarge", "Dữ liệu quá lớn"), status=400)
    with pytest.raises(QuantityTooLarge) as caught:
        client.publish([invoice("r1"), invoice("r2")])
    assert caught.value.description == "Dữ liệu quá lớn" and not caught.value.retryable
