"""AmisClient against a stand-in AMIS actopen API (`responses`): connect, envelopes, token renewal, typed
errors, batch limits, paging with 429, and the callback signature. Envelopes follow the samples in the
shared reference amis.md (§1 connect, §3 paths, §9 dictionary, §10 callbacks, §11 error codes)."""

import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid

import pytest
import requests
import responses
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from amis.client import (
    AmisClient,
    AmisDisconnected,
    AmisRefused,
    AppIdNotConfigured,
    CallbackRejected,
    Token,
    datetime_to_ticks,
    ticks_to_datetime,
    verify_callback,
)
from connectors.http import NotConfiguredError, PermanentError, RetryableError
from connectors.ratelimit import DatabaseBackend, LeakyBucket

API = "https://actapp.test"
CONNECT = f"{API}/api/oauth/actopen/connect"
SYNC = f"{API}/apir/sync/actopen"
APP_ID = "app-7c1e2d"
ACCESS_CODE = "ma-ket-noi-9XQ2"
COMPANY = "congtydemoketnoiact"
UNIX_EPOCH_TICKS = 621_355_968_000_000_000  # .NET: new DateTime(1970, 1, 1).Ticks


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def issued():
    return []


@pytest.fixture
def client(issued):
    return AmisClient(
        org_company_code=COMPANY,
        access_code=ACCESS_CODE,
        app_id=APP_ID,
        base_url=API,
        on_token=issued.append,
    )


@pytest.fixture
def reader(db, issued):
    """A client whose read bucket lives in the test database and barely waits."""
    bucket = LeakyBucket(f"amis:test-{uuid.uuid4().hex}", 100, 1000.0, backend=DatabaseBackend())
    waits = []
    client = AmisClient(
        org_company_code=COMPANY,
        access_code=ACCESS_CODE,
        app_id=APP_ID,
        base_url=API,
        on_token=issued.append,
        token=fresh(),
        bucket=bucket,
        sleep=waits.append,
    )
    client.waits = waits
    return client


def fresh(value="tok-old"):
    return Token(value=value, expires_at=timezone.now() + dt.timedelta(hours=6))


def ticks_of(wall: dt.datetime) -> int:
    """.NET ticks of a wall-clock time, computed from the Unix epoch's tick count."""
    seconds = (wall - dt.datetime(1970, 1, 1)).total_seconds()
    return UNIX_EPOCH_TICKS + int(seconds) * 10_000_000


def ok(data=None, **extra):
    return {"Success": True, "ErrorCode": None, "ErrorMessage": None, "Data": data, **extra}


def failed(code, message=""):
    return {"Success": False, "ErrorCode": code, "ErrorMessage": message, "Data": None}


def connect_answer(token="tok-1", wall=None):
    wall = wall or (dt.datetime.now(dt.UTC) + dt.timedelta(hours=19)).replace(tzinfo=None, microsecond=0)
    data = {
        "access_token": token,
        "expired_time": wall.strftime("%Y-%m-%dT%H:%M:%S"),
        "expired_time_ticks": ticks_of(wall),
        "tenant_code": COMPANY,
    }
    return ok(json.dumps(data))  # Data is a JSON string (§1)


def connect_ok(rsps, token="tok-1"):
    rsps.post(CONNECT, json=connect_answer(token))


def sent(call):
    return json.loads(call.request.body)


def voucher(ref, lines=1):
    detail = [{"inventory_item_code": f"SKU{i}", "amount": 1000} for i in range(lines)]
    return {"voucher_type": 13, "org_refid": ref, "org_refno": f"#{ref}", "reftype": 3530, "detail": detail}


# --- connect and token -----------------------------------------------------------------------------


def test_connect_posts_the_company_pair_and_reads_the_token_from_the_data_string(rsps, client, issued):
    wall = dt.datetime(2026, 12, 4, 2, 30, 0)
    rsps.post(CONNECT, json=connect_answer("tok-abc", wall))

    token = client.connect()

    assert sent(rsps.calls[0]) == {"app_id": APP_ID, "access_code": ACCESS_CODE, "org_company_code": COMPANY}
    assert "X-MISA-AccessToken" not in rsps.calls[0].request.headers
    assert token.value == "tok-abc"
    # ticks read as Vietnam wall-clock time: 02:30 +07:00 = 19:30 UTC the day before
    assert token.expires_at == dt.datetime(2026, 12, 3, 19, 30, tzinfo=dt.UTC)
    assert issued == [token]


def test_ticks_round_trip_and_match_dotnet():
    assert ticks_to_datetime(UNIX_EPOCH_TICKS) == dt.datetime(
        1970, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=7))
    )
    moment = dt.datetime(2026, 12, 3, 14, 5, 7, 123456, tzinfo=dt.UTC)
    assert ticks_to_datetime(datetime_to_ticks(moment)) == moment
    assert ticks_to_datetime(str(ticks_of(dt.datetime(2030, 1, 2, 3, 4, 5)))).replace(
        tzinfo=None
    ) == dt.datetime(2030, 1, 2, 3, 4, 5)
    with pytest.raises(ValueError):
        ticks_to_datetime(0)


@given(
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
    )
)
def test_ticks_round_trip_for_any_moment(moment):
    ticks = datetime_to_ticks(moment)
    assert ticks % 10 == 0  # microseconds: one tick is 100 ns
    assert ticks_to_datetime(ticks) == moment


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"access_token": "t", "expired_time": "2026-12-04T02:30:00"},
            dt.datetime(2026, 12, 3, 19, 30, tzinfo=dt.UTC),
        ),
        (
            {"access_token": "t", "expired_time": "2026-12-04T02:30:00+00:00"},
            dt.datetime(2026, 12, 4, 2, 30, tzinfo=dt.UTC),
        ),
        (
            {"access_token": "t", "expired_time_ticks": "garbage", "expired_time": "2026-12-04T02:30:00"},
            dt.datetime(2026, 12, 3, 19, 30, tzinfo=dt.UTC),
        ),
    ],
)
def test_without_ticks_the_expiry_comes_from_expired_time(rsps, client, data, expected):
    rsps.post(CONNECT, json=ok(json.dumps(data)))
    assert client.connect().expires_at == expected


def test_without_any_expiry_the_token_lives_twelve_hours(rsps, client):
    rsps.post(CONNECT, json=ok({"access_token": "t"}))  # Data as an object is read too
    expires = client.connect().expires_at - timezone.now()
    assert dt.timedelta(hours=11, minutes=59) < expires <= dt.timedelta(hours=12)


def test_a_connect_answer_without_a_token_is_retryable(rsps, client, issued):
    rsps.post(CONNECT, json=ok(json.dumps({"expired_time_ticks": ticks_of(dt.datetime(2030, 1, 1))})))
    with pytest.raises(RetryableError, match="without a token"):
        client.connect()
    assert issued == [] and client.token is None


def test_token_is_renewed_ten_minutes_before_it_ends(rsps, client):
    client.token = Token(value="tok-old", expires_at=timezone.now() + dt.timedelta(minutes=9))
    connect_ok(rsps, "tok-new")
    rsps.post(f"{SYNC}/get_company_info", json=ok(json.dumps({"company_name": "Công ty Demo"})))

    assert client.get_company_info() == {"company_name": "Công ty Demo"}
    assert rsps.calls[1].request.headers["X-MISA-AccessToken"] == "tok-new"
    assert Token(value="t", expires_at=timezone.now() + dt.timedelta(minutes=11)).usable()


def test_a_usable_token_is_used_without_connecting(rsps, client):
    client.token = fresh("tok-kept")
    rsps.post(f"{SYNC}/get_company_info", json=ok({"company_name": "X"}))

    client.get_company_info()

    assert len(rsps.calls) == 1
    assert rsps.calls[0].request.headers["X-MISA-AccessToken"] == "tok-kept"
    assert sent(rsps.calls[0]) == {"app_id": APP_ID, "branch_id": None}


@pytest.mark.parametrize("code", ["ExpiredToken", "InvalidToken", "InvalidAccessToken"])
def test_a_token_error_code_reconnects_once_and_repeats_the_call(rsps, client, issued, code):
    client.token = fresh("tok-old")
    rsps.post(f"{SYNC}/save", json=failed(code, "Token hết hạn"))
    connect_ok(rsps, "tok-new")
    rsps.post(f"{SYNC}/save", json=ok())

    result = client.save([voucher("r1")])

    assert result.ok
    assert [c.request.url for c in rsps.calls] == [f"{SYNC}/save", CONNECT, f"{SYNC}/save"]
    assert rsps.calls[2].request.headers["X-MISA-AccessToken"] == "tok-new"
    assert [t.value for t in issued] == ["tok-new"]


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_reconnect_once(rsps, client, status):
    client.token = fresh("tok-old")
    rsps.post(f"{SYNC}/get_company_info", status=status, body="")
    connect_ok(rsps, "tok-new")
    rsps.post(f"{SYNC}/get_company_info", json=ok({"company_name": "X"}))

    assert client.get_company_info() == {"company_name": "X"}
    assert len(rsps.calls) == 3


def test_a_token_refused_twice_is_retryable_and_connects_only_once(rsps, client):
    client.token = fresh("tok-old")
    rsps.post(f"{SYNC}/save", json=failed("InvalidToken"))
    connect_ok(rsps, "tok-new")
    rsps.post(f"{SYNC}/save", json=failed("InvalidToken"))

    with pytest.raises(RetryableError, match="freshly issued token"):
        client.save([voucher("r1")])
    assert len(rsps.calls) == 3


def test_a_refused_access_code_is_permanent_and_says_what_to_check(rsps, client):
    rsps.post(CONNECT, json=failed("InvalidAccessToken", "Mã kết nối không hợp lệ"))

    with pytest.raises(AmisRefused) as caught:
        client.connect()
    assert caught.value.code == "InvalidAccessToken"
    assert caught.value.message == "Mã kết nối không hợp lệ"
    assert "access code" in str(caught.value)


def test_an_unknown_app_id_is_permanent(rsps, client):
    rsps.post(CONNECT, json=failed("InvalidAppID"))

    with pytest.raises(AmisRefused, match="AMIS_APP_ID"):
        client.connect()


@pytest.mark.parametrize(
    ("code", "hint"),
    [("AppIDDisconnect", "connect it again"), ("DBAmisNotConnectDBACT", "accounting database")],
)
def test_a_disconnected_company_raises_a_typed_permanent_error(rsps, client, code, hint):
    client.token = fresh()
    rsps.post(f"{SYNC}/save", json=failed(code, "Đơn vị đã ngắt kết nối"))

    with pytest.raises(AmisDisconnected) as caught:
        client.save([voucher("r1")])
    error = caught.value
    assert isinstance(error, PermanentError) and not error.retryable
    assert error.code == code and error.message == "Đơn vị đã ngắt kết nối"
    assert hint in str(error) and "Kết nối ứng dụng" in str(error)
    assert len(rsps.calls) == 1  # not a token problem: no reconnect


def test_disconnect_on_connect_is_the_same_typed_error(rsps, client):
    rsps.post(CONNECT, json=failed("AppIDDisconnect"))
    with pytest.raises(AmisDisconnected):
        client.connect()


def test_camel_case_envelope_keys_are_read(rsps, client):
    client.token = fresh()
    rsps.post(
        f"{SYNC}/save", json={"success": False, "errorCode": "InvalidParam", "errorMessage": "Thiếu refdate"}
    )

    result = client.save([voucher("r1")])

    assert not result.ok
    assert (result.error_code, result.error_message) == ("InvalidParam", "Thiếu refdate")


# --- settings ----------------------------------------------------------------------------------------


def test_without_an_address_nothing_is_sent_and_the_setting_is_named(settings, rsps):
    settings.AMIS_API_URL = ""
    client = AmisClient(org_company_code=COMPANY, access_code=ACCESS_CODE, app_id=APP_ID)

    with pytest.raises(NotConfiguredError) as caught:
        client.connect()
    assert caught.value.setting == "AMIS_API_URL"
    assert "AMIS_API_URL" in str(caught.value)
    assert not rsps.calls


def test_without_an_app_id_nothing_is_sent(settings, rsps):
    settings.AMIS_APP_ID = ""
    client = AmisClient(org_company_code=COMPANY, access_code=ACCESS_CODE, base_url=API)

    with pytest.raises(AppIdNotConfigured) as caught:
        client.connect()
    assert caught.value.setting == "AMIS_APP_ID" and "AMIS_APP_ID" in str(caught.value)
    assert not rsps.calls


def test_the_app_id_comes_from_the_settings(settings, rsps):
    settings.AMIS_APP_ID = "from-settings"
    client = AmisClient(org_company_code=COMPANY, access_code=ACCESS_CODE, base_url=API)
    connect_ok(rsps)
    client.connect()
    assert sent(rsps.calls[0])["app_id"] == "from-settings"


# --- save, save_dictionary, delete -------------------------------------------------------------------


def test_save_posts_vouchers_and_dictionary_and_returns_queued(rsps, client):
    client.token = fresh()
    rsps.post(f"{SYNC}/save", json=ok("[]"))
    items = [{"dictionary_type": 1, "account_object_code": "KHACHLE"}]

    result = client.save([voucher("r1"), voucher("r2")], dictionary=items)

    assert result.ok and not result.already_generated
    body = sent(rsps.calls[0])
    assert body["app_id"] == APP_ID and body["org_company_code"] == COMPANY
    assert [v["org_refid"] for v in body["voucher"]] == ["r1", "r2"]
    assert body["dictionary"] == items


def test_is_created_voucher_is_a_typed_result_not_an_error(rsps, client):
    client.token = fresh()
    rsps.post(
        f"{SYNC}/save", json=failed("IsCreatedVoucher", "Đã sinh chứng từ kế toán, không thể cập nhật được")
    )

    result = client.save([voucher("r1")])

    assert not result.ok and result.already_generated
    assert result.error_message.startswith("Đã sinh chứng từ")


def test_voucher_not_found_is_a_typed_result(rsps, client):
    client.token = fresh()
    rsps.delete(f"{SYNC}/delete", json=failed("VoucherNotFound"))
    assert client.delete([{"voucher_type": 13, "org_refid": "r1"}]).not_found


def test_batch_limits(client, rsps):
    client.token = fresh()
    with pytest.raises(ValueError, match="100 vouchers"):
        client.save([voucher(f"r{i}") for i in range(101)])
    with pytest.raises(ValueError, match="500 lines"):
        client.save([voucher("big", lines=501)])
    with pytest.raises(ValueError, match="200"):
        client.save_dictionary([{"dictionary_type": 6, "unit_name": f"U{i}"} for i in range(201)])
    with pytest.raises(ValueError, match="twice"):
        client.save([voucher("r1"), voucher("r1")])
    with pytest.raises(ValueError, match="org_refid"):
        client.save([{"voucher_type": 13}])
    with pytest.raises(ValueError, match="no voucher"):
        client.save([])
    assert not rsps.calls


def test_the_limits_themselves_are_allowed(rsps, client):
    client.token = fresh()
    rsps.post(f"{SYNC}/save", json=ok())
    rsps.post(f"{SYNC}/save_dictionary", json=ok())
    assert client.save([voucher(f"r{i}") for i in range(99)] + [voucher("big", lines=500)]).ok
    assert client.save_dictionary([{"dictionary_type": 6, "unit_name": f"U{i}"} for i in range(200)]).ok
    assert sent(rsps.calls[1]) == {
        "app_id": APP_ID,
        "org_company_code": COMPANY,
        "dictionary": [{"dictionary_type": 6, "unit_name": f"U{i}"} for i in range(200)],
    }


def test_delete_is_an_http_delete_with_a_json_body(rsps, client):
    client.token = fresh()
    rsps.delete(f"{SYNC}/delete", json=ok())

    result = client.delete([{**voucher("r1"), "detail": []}, {"voucher_type": 20, "org_refid": "r2"}])

    assert result.ok
    request = rsps.calls[0].request
    assert request.method == "DELETE"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "app_id": APP_ID,
        "org_company_code": COMPANY,
        "voucher": [{"voucher_type": 13, "org_refid": "r1"}, {"voucher_type": 20, "org_refid": "r2"}],
    }


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(rsps, client, status):
    client.token = fresh()
    rsps.post(f"{SYNC}/save", status=status, body="Bad gateway")
    with pytest.raises(RetryableError) as caught:
        client.save([voucher("r1")])
    assert caught.value.status == status


def test_a_timeout_is_retryable(rsps, client):
    client.token = fresh()
    rsps.post(f"{SYNC}/save", body=requests.ReadTimeout("slow"))
    with pytest.raises(RetryableError, match="no answer"):
        client.save([voucher("r1")])


def test_the_exception_code_is_retryable_on_reads_and_a_result_on_saves(rsps, client):
    client.token = fresh()
    rsps.post(f"{SYNC}/get_company_info", json=failed("Exception", "Object reference not set"))
    rsps.post(f"{SYNC}/save", json=failed("Exception"))
    with pytest.raises(RetryableError, match="Object reference"):
        client.get_company_info()
    assert client.save([voucher("r1")]).retryable


def test_a_page_that_is_not_an_envelope_is_retryable(rsps, client):
    client.token = fresh()
    rsps.post(f"{SYNC}/get_company_info", body="<html>maintenance</html>", content_type="text/html")
    with pytest.raises(RetryableError, match="not its envelope"):
        client.get_company_info()


def test_a_business_refusal_on_a_read_keeps_amis_words(rsps, client):
    client.token = fresh()
    rsps.post(f"{SYNC}/get_company_info", json=failed("InvalidParam", "branch_id không hợp lệ"))
    with pytest.raises(AmisRefused) as caught:
        client.get_company_info()
    assert caught.value.code == "InvalidParam"
    assert "branch_id không hợp lệ" in str(caught.value)


# --- reading master data and undelivered callbacks ---------------------------------------------------


def rows(start, count):
    return [
        {"stock_id": str(uuid.UUID(int=i)), "stock_code": f"KHO{i:03}"} for i in range(start, start + count)
    ]


def test_get_dictionary_reads_until_a_short_page_and_keeps_the_first_cursor(rsps, reader):
    custom = json.dumps({"LastSyncTime": "2026-12-03T10:00:00"})
    rsps.post(f"{SYNC}/get_dictionary", json=ok(json.dumps(rows(0, 2)), CustomData=custom))
    rsps.post(
        f"{SYNC}/get_dictionary", json=ok(rows(2, 2), CustomData={"LastSyncTime": "2026-12-03T10:00:05"})
    )
    rsps.post(f"{SYNC}/get_dictionary", json=ok(rows(4, 1)))

    result = reader.get_dictionary(3, take=2, last_sync_time="2026-12-01T00:00:00", branch_id="b-1")

    assert [r["stock_code"] for r in result.rows] == ["KHO000", "KHO001", "KHO002", "KHO003", "KHO004"]
    assert result.last_sync_time == "2026-12-03T10:00:00"
    assert [sent(c)["skip"] for c in rsps.calls] == [0, 2, 4]
    assert sent(rsps.calls[0]) == {
        "app_id": APP_ID,
        "data_type": 3,
        "branch_id": "b-1",
        "skip": 0,
        "take": 2,
        "last_sync_time": "2026-12-01T00:00:00",
    }


def test_get_dictionary_stops_on_an_empty_page(rsps, reader):
    rsps.post(f"{SYNC}/get_dictionary", json=ok(rows(0, 2)))
    rsps.post(f"{SYNC}/get_dictionary", json=ok([]))
    assert len(reader.get_dictionary(3, take=2).rows) == 2
    assert len(rsps.calls) == 2


def test_deleted_rows_are_read_from_get_dictionary_delete_with_the_same_body(rsps, reader):
    rsps.post(f"{SYNC}/get_dictionary_delete", json=ok(json.dumps(rows(0, 1))))
    result = reader.get_dictionary(3, last_sync_time="2026-12-01T00:00:00", deleted=True)
    assert [r["stock_code"] for r in result.rows] == ["KHO000"]
    assert sent(rsps.calls[0]) == {
        "app_id": APP_ID,
        "data_type": 3,
        "branch_id": None,
        "skip": 0,
        "take": 100,
        "last_sync_time": "2026-12-01T00:00:00",
    }


def test_a_datetime_cursor_is_sent_in_vietnam_time(rsps, reader):
    rsps.post(f"{SYNC}/get_dictionary", json=ok([]))
    reader.get_dictionary(1, last_sync_time=dt.datetime(2026, 12, 3, 3, 0, tzinfo=dt.UTC))
    assert sent(rsps.calls[0])["last_sync_time"] == "2026-12-03T10:00:00"


def test_take_is_at_most_100(reader):
    with pytest.raises(ValueError):
        reader.get_dictionary(3, take=101)
    with pytest.raises(ValueError):
        reader.get_call_back_detail_error(dt.date(2026, 12, 1), dt.date(2026, 12, 3), take=101)


def test_a_429_waits_retry_after_and_asks_for_the_same_page_again(rsps, reader):
    rsps.post(f"{SYNC}/get_dictionary", json=ok(rows(0, 2)))
    rsps.post(
        f"{SYNC}/get_dictionary", status=429, headers={"Retry-After": "7"}, json=failed("TooManyRequests")
    )
    rsps.post(f"{SYNC}/get_dictionary", json=ok(rows(2, 1)))

    result = reader.get_dictionary(3, take=2)

    assert len(result.rows) == 3
    assert reader.waits == [7.0]
    assert [sent(c)["skip"] for c in rsps.calls] == [0, 2, 2]


def test_a_long_retry_after_is_handed_back_as_a_retryable_error(rsps, reader):
    rsps.post(f"{SYNC}/get_dictionary", status=429, headers={"Retry-After": "120"}, body="")

    with pytest.raises(RetryableError) as caught:
        reader.get_dictionary(3)
    assert caught.value.status == 429 and caught.value.retry_after == 120.0
    assert reader.waits == [] and len(rsps.calls) == 1


def test_429_without_retry_after_backs_off_then_gives_up(rsps, reader):
    for _ in range(4):
        rsps.post(f"{SYNC}/get_dictionary", status=429, body="")

    with pytest.raises(RetryableError) as caught:
        reader.get_dictionary(3, max_wait=200)
    assert reader.waits == [30.0, 60.0, 90.0]
    assert caught.value.retry_after == 120.0


def test_a_429_fills_the_shared_read_bucket(rsps, reader):
    rsps.post(f"{SYNC}/get_dictionary", status=429, headers={"Retry-After": "120"}, body="")
    with pytest.raises(RetryableError):
        reader.get_dictionary(3)
    assert reader.bucket.reserve() >= 119  # every worker's next read for this company waits too


def test_the_default_read_bucket_is_per_company(client):
    assert client.bucket.key == f"amis:read:{COMPANY}"
    assert client.bucket.capacity == 1 and client.bucket.rate == pytest.approx(1 / 1.2)


def test_undelivered_callbacks_are_read_by_date_range(rsps, reader):
    page = [{"org_refid": f"r{i}", "error_message": "callback url timeout"} for i in range(100)]
    rsps.post(f"{SYNC}/get_call_back_detail_error", json=ok(json.dumps(page)))
    rsps.post(f"{SYNC}/get_call_back_detail_error", json=ok([{"org_refid": "r100"}]))

    found = reader.callback_errors_between(dt.date(2026, 12, 1), dt.date(2026, 12, 3))

    assert len(found) == 101
    assert sent(rsps.calls[0]) == {
        "app_id": APP_ID,
        "from_date": "2026-12-01",
        "to_date": "2026-12-03",
        "skip": 0,
        "take": 100,
    }
    assert sent(rsps.calls[1])["skip"] == 100


# --- callbacks ---------------------------------------------------------------------------------------


def signed(data, app_id=APP_ID, **extra):
    """A callback body as AMIS sends it; the signature computed here with hashlib/hmac directly."""
    raw = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    signature = hmac.new(app_id.encode("utf-8"), raw.encode("utf-8"), hashlib.sha256).hexdigest()
    body = {
        "success": True,
        "error_code": None,
        "error_message": None,
        "signature": signature,
        "data_type": 1,
        "data": raw,
        "org_company_code": COMPANY,
        "app_id": app_id,
        **extra,
    }
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def test_a_signed_save_result_callback_is_read_per_org_refid():
    data = [
        {"org_refid": "r1", "success": True, "error_code": None, "session_id": "s-1", "voucher_type": 13},
        {
            "org_refid": "r2",
            "success": False,
            "error_code": "InvalidParam",
            "error_message": "Mã hàng SKU9 không tồn tại",
            "session_id": "s-1",
            "voucher_type": 13,
        },
    ]
    callback = verify_callback(signed(data), APP_ID)

    assert callback.org_company_code == COMPANY and callback.data_type == 1
    first, second = callback.results
    assert (first.org_refid, first.success, first.generated, first.voucher_type) == ("r1", True, False, 13)
    assert (second.success, second.error_code) == (False, "InvalidParam")
    assert second.error_message == "Mã hàng SKU9 không tồn tại"
    assert callback.delivery_key(first) == (COMPANY, "r1", 1, "s-1")


def test_a_generated_voucher_callback_and_is_created_voucher_mean_generated():
    generated = verify_callback(
        signed(
            [{"org_refid": "r1", "success": True, "refid": "g-1", "refno": "BH00012", "session_id": "s"}],
            data_type=18,
        ),
        APP_ID,
    )
    assert generated.results[0].generated and generated.results[0].refno == "BH00012"
    again = verify_callback(
        signed([{"org_refid": "r1", "success": False, "error_code": "IsCreatedVoucher"}]), APP_ID
    )
    assert again.results[0].generated


def test_a_voucher_pushed_back_carries_its_model_state():
    data = {
        "voucher": [{"org_refid": "r1", "refid": "g-1", "refno": "BH1"}],
        "custom_param": {"ModelState": 7},
    }
    callback = verify_callback(signed(data, data_type=22), APP_ID)
    assert callback.model_state == 7
    assert [r.org_refid for r in callback.results] == ["r1"]


def test_parsed_and_text_bodies_are_accepted():
    raw = signed([{"org_refid": "r1", "success": True}])
    assert verify_callback(raw.decode(), APP_ID).results[0].org_refid == "r1"
    assert verify_callback(json.loads(raw), APP_ID).results[0].org_refid == "r1"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body: {**body, "signature": "0" * 64},
        lambda body: {**body, "data": body["data"].replace("r1", "r2")},
        lambda body: {**body, "signature": ""},
        lambda body: {k: v for k, v in body.items() if k != "signature"},
        lambda body: {**body, "data": json.loads(body["data"])},  # no longer the signed string
    ],
)
def test_a_callback_whose_signature_does_not_hold_is_rejected(tamper):
    body = tamper(json.loads(signed([{"org_refid": "r1", "success": True}])))
    with pytest.raises(CallbackRejected) as caught:
        verify_callback(json.dumps(body), APP_ID)
    reply = caught.value.reply()
    assert reply["Success"] is False and reply["ErrorCode"] == "InvalidParam"


def test_a_callback_signed_with_another_app_id_is_rejected():
    with pytest.raises(CallbackRejected, match="signature"):
        verify_callback(signed([{"org_refid": "r1"}], app_id="someone-else"), APP_ID)


def test_unreadable_callbacks_are_rejected():
    for raw in (b"\xff\xfe", b"not json", b"[1, 2]"):
        with pytest.raises(CallbackRejected):
            verify_callback(raw, APP_ID)
    with pytest.raises(CallbackRejected, match="no company"):
        verify_callback(signed([{"org_refid": "r1"}], org_company_code=""), APP_ID)


def test_uppercase_hex_signatures_are_accepted():
    body = json.loads(signed([{"org_refid": "r1"}]))
    body["signature"] = body["signature"].upper()
    assert verify_callback(body, APP_ID).results[0].org_refid == "r1"


# --- secrets -----------------------------------------------------------------------------------------


def test_no_access_code_or_token_in_repr_exchange_or_errors(rsps, client, caplog):
    caplog.set_level(logging.DEBUG)
    rsps.post(CONNECT, json=connect_answer("tok-secret-123"))
    rsps.post(f"{SYNC}/save", json=failed("AppIDDisconnect", "ngắt kết nối"))

    client.connect()
    logged_connect = json.dumps(client.last_exchange.logged(), ensure_ascii=False)
    with pytest.raises(AmisDisconnected) as caught:
        client.save([voucher("r1")])
    logged_save = json.dumps(client.last_exchange.logged(), ensure_ascii=False)

    for text in (
        repr(client),
        repr(client.token),
        str(client.token),
        logged_connect,
        logged_save,
        str(caught.value),
        caught.value.text.english(),
        json.dumps(caught.value.body, ensure_ascii=False),
        caplog.text,
    ):
        assert ACCESS_CODE not in text
        assert "tok-secret-123" not in text
        assert APP_ID not in text
    assert COMPANY in repr(client)


def test_the_token_owner_changes_with_the_credentials_and_hides_them(client):
    same = AmisClient(org_company_code=COMPANY, access_code=ACCESS_CODE, app_id=APP_ID, base_url=API)
    other_code = AmisClient(org_company_code=COMPANY, access_code="new-code", app_id=APP_ID, base_url=API)
    other_company = AmisClient(
        org_company_code="k6aguh1l", access_code=ACCESS_CODE, app_id=APP_ID, base_url=API
    )
    assert client.token_owner == same.token_owner
    assert len({client.token_owner, other_code.token_owner, other_company.token_owner}) == 3
    assert ACCESS_CODE not in client.token_owner and APP_ID not in client.token_owner


def test_a_failed_connect_does_not_leak_the_access_code(rsps, client):
    rsps.post(CONNECT, json=failed("InvalidAccessToken"))
    with pytest.raises(AmisRefused) as caught:
        client.connect()
    assert ACCESS_CODE not in str(caught.value) and ACCESS_CODE not in json.dumps(
        caught.value.exchange.logged()
    )
