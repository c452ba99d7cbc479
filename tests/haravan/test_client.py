"""HaravanClient against a stand-in Haravan (`responses`), with a real database-backed bucket."""

import datetime as dt
import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.conf import settings

from connectors.http import PermanentError, RetryableError
from connectors.models import RateBucket
from connectors.ratelimit import DatabaseBackend, LeakyBucket
from haravan.client import HaravanClient, exchange_code, subscribe_webhooks
from haravan.models import HaravanShop

API = "https://haravan.test"
ORDERS = f"{API}/com/orders.json"


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def bucket(db):
    # A fast drain so the tests are quick; the penalty after a 429 is what we measure.
    return LeakyBucket(f"haravan:test-{uuid.uuid4().hex}", 80, 100.0, backend=DatabaseBackend())


@pytest.fixture
def client(bucket):
    return HaravanClient("1000", "tok-123", base_url=API, bucket=bucket)


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def orders(start, n):
    return {"orders": [{"id": i} for i in range(start, start + n)]}


# --- every call ---------------------------------------------------------------------------------------


def test_every_call_carries_the_token_json_and_the_timeout(rsps, client):
    rsps.get(f"{API}/com/shop.json", json={"shop": {"id": 1000, "name": "Shop"}})
    assert client.get_shop() == {"id": 1000, "name": "Shop"}
    request = rsps.calls[0].request
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert request.headers["Content-Type"] == "application/json"
    assert request.req_kwargs["timeout"] == settings.HTTP_TIMEOUT
    assert client.last_exchange.status == 200
    assert "tok-123" not in json.dumps(client.last_exchange.logged())


def test_the_call_limit_header_feeds_the_bucket(rsps, client, bucket):
    rsps.get(
        f"{API}/com/locations.json",
        json={"locations": [{"id": 1}]},
        headers={"X-Haravan-Api-Call-Limit": "60/80"},
    )
    assert client.list_locations() == [{"id": 1}]
    assert RateBucket.objects.get(key=bucket.key).level == 60.0


def test_every_call_goes_through_the_bucket(rsps, db):
    slow = LeakyBucket(f"haravan:test-{uuid.uuid4().hex}", 80, 0.01, backend=DatabaseBackend())
    client = HaravanClient("1000", "tok-123", base_url=API, bucket=slow)
    rsps.get(f"{API}/com/orders/1.json", json={"order": {"id": 1}})
    client.get_order(1)
    client.get_order(1)
    assert RateBucket.objects.get(key=slow.key).level > 1.9  # two reservations, next to nothing drained


def test_default_bucket_is_the_shops(db, settings):
    settings.REDIS_URL = ""
    shop = HaravanShop(org_id="4242", secrets={"access_token": "tok"})
    client = HaravanClient.for_shop(shop)
    assert client.bucket.key == "haravan:4242"
    assert client.bucket.capacity == settings.HARAVAN_RATE_CAPACITY
    assert client.base_url == settings.HARAVAN_API_URL


def test_a_shop_without_token_is_refused_before_any_call(db):
    with pytest.raises(PermanentError, match="install the app again"):
        HaravanClient.for_shop(HaravanShop(org_id="4242", secrets={}))


# --- paging and filters -------------------------------------------------------------------------------


def test_orders_are_paged_by_50_until_a_short_page(rsps, client):
    rsps.get(ORDERS, json=orders(1, 50))
    rsps.get(ORDERS, json=orders(51, 50))
    rsps.get(ORDERS, json=orders(101, 3))
    got = [o["id"] for o in client.iter_orders(status="any")]
    assert got == list(range(1, 104))
    assert [query(c) for c in rsps.calls] == [
        {"status": "any", "limit": "50", "page": "1"},
        {"status": "any", "limit": "50", "page": "2"},
        {"status": "any", "limit": "50", "page": "3"},
    ]


def test_an_exactly_full_last_page_ends_on_the_empty_one(rsps, client):
    rsps.get(ORDERS, json=orders(1, 50))
    rsps.get(ORDERS, json={"orders": []})
    assert len(list(client.iter_orders())) == 50
    assert len(rsps.calls) == 2


def test_filters_are_serialised_the_haravan_way(rsps, client):
    rsps.get(ORDERS, json={"orders": []})
    since = dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC)
    list(
        client.iter_orders(
            updated_at_min=since, created_at_max=dt.date(2024, 5, 31), ids=[7, 8, 9], limit=250, fields=None
        )
    )
    assert query(rsps.calls[0]) == {
        "updated_at_min": "2024-05-01T08:30:00+00:00",
        "created_at_max": "2024-05-31",
        "ids": "7,8,9",
        "limit": "50",  # ours, whatever the caller asked: Haravan caps at 50
        "page": "1",
    }


def test_count_products_and_customers(rsps, client):
    rsps.get(f"{API}/com/orders/count.json", json={"count": 123})
    rsps.get(f"{API}/com/products.json", json={"products": [{"id": 5}]})
    rsps.get(f"{API}/com/customers.json", json={"customers": [{"id": 6}, {"id": 7}]})
    assert client.count_orders(status="any", created_at_min=dt.date(2024, 1, 1)) == 123
    assert query(rsps.calls[0]) == {"status": "any", "created_at_min": "2024-01-01"}
    assert [p["id"] for p in client.iter_products(vendor="Acme")] == [5]
    assert [c["id"] for c in client.iter_customers()] == [6, 7]


# --- writes -------------------------------------------------------------------------------------------


def test_update_order_sends_only_the_allowed_fields(rsps, client):
    rsps.put(f"{API}/com/orders/1.json", json={"order": {"id": 1, "note": "MISA: ABC123"}})
    assert client.update_order(1, note="MISA: ABC123") == {"id": 1, "note": "MISA: ABC123"}
    assert json.loads(rsps.calls[0].request.body) == {"order": {"id": 1, "note": "MISA: ABC123"}}


def test_update_order_refuses_line_items_without_calling(rsps, client):
    with pytest.raises(ValueError, match="line_items"):
        client.update_order(1, note="x", line_items=[])
    assert len(rsps.calls) == 0


def test_add_tags_posts_a_comma_list_and_returns_the_tags(rsps, client):
    rsps.post(f"{API}/com/orders/1/tags.json", json={"tags": "VIP,einvoice,MST 0101243150"})
    assert client.add_tags(1, ["einvoice", "MST 0101243150"]) == "VIP,einvoice,MST 0101243150"
    assert json.loads(rsps.calls[0].request.body) == {"tags": "einvoice,MST 0101243150"}


# --- failures -----------------------------------------------------------------------------------------


def test_429_waits_for_retry_after_then_retries(rsps, client, bucket):
    limited = {"Retry-After": "0.3", "X-Haravan-Api-Call-Limit": "80/80"}
    rsps.get(f"{API}/com/orders/1.json", status=429, json={"errors": "Too many requests"}, headers=limited)
    rsps.get(f"{API}/com/orders/1.json", json={"order": {"id": 1}})
    started = time.monotonic()
    assert client.get_order(1) == {"id": 1}
    # The bucket alone (80 of 80, draining 100/s) would wait ~0.01s: the 0.3s is Retry-After.
    assert time.monotonic() - started >= 0.3
    assert len(rsps.calls) == 2


def test_429_four_times_gives_up_with_retry_after(rsps, client, bucket):
    for retry_after in ("0.05", "0.05", "0.05", "2.0"):
        rsps.get(f"{API}/com/orders/1.json", status=429, headers={"Retry-After": retry_after})
    with pytest.raises(RetryableError) as err:
        client.get_order(1)
    assert err.value.retry_after == 2.0
    assert err.value.status == 429
    assert len(rsps.calls) == 4  # the call and 3 retries
    # Another worker calling this shop now has to wait too: the penalty lives in the shared bucket.
    other = LeakyBucket(bucket.key, 80, 100.0, backend=DatabaseBackend())
    assert other.reserve() > 1.5


def test_500_is_retryable_and_not_retried_here(rsps, client):
    rsps.get(f"{API}/com/orders/1.json", status=500, json={"errors": "Internal error"})
    with pytest.raises(RetryableError, match=r"GET /com/orders/1.json \(500\)"):
        client.get_order(1)
    assert len(rsps.calls) == 1


def test_503_passes_on_retry_after(rsps, client):
    rsps.get(f"{API}/com/shop.json", status=503, headers={"Retry-After": "7"})
    with pytest.raises(RetryableError) as err:
        client.get_shop()
    assert err.value.retry_after == 7.0


def test_422_is_permanent_with_haravans_words(rsps, client):
    rsps.put(f"{API}/com/orders/1.json", status=422, json={"errors": {"note_attributes": ["invalid"]}})
    with pytest.raises(PermanentError) as err:
        client.update_order(1, note_attributes=[{"name": "x"}])
    assert str(err.value) == "Haravan refused PUT /com/orders/1.json (422): note_attributes: invalid"
    assert err.value.status == 422
    assert err.value.exchange.status == 422


def test_an_errors_string_is_quoted(rsps, client):
    rsps.get(f"{API}/com/orders/9.json", status=404, json={"errors": "Not Found"})
    with pytest.raises(PermanentError, match=r"\(404\): Not Found"):
        client.get_order(9)


def test_401_says_to_reinstall_and_403_names_the_scope(rsps, client):
    rsps.get(f"{API}/com/shop.json", status=401, json={"errors": "Invalid token"})
    rsps.get(f"{API}/com/locations.json", status=403, json={"errors": "Forbidden"})
    with pytest.raises(PermanentError, match=r"Invalid token.*reinstall"):
        client.get_shop()
    with pytest.raises(PermanentError, match="scope"):
        client.list_locations()


@pytest.mark.parametrize(
    "failure", [requests.exceptions.ReadTimeout(), requests.exceptions.ConnectionError()]
)
def test_network_trouble_is_retryable(rsps, client, failure):
    rsps.get(f"{API}/com/orders/1.json", body=failure)
    with pytest.raises(RetryableError):
        client.get_order(1)
    assert client.last_exchange.error


def test_a_200_without_its_envelope_is_not_taken_for_data(rsps, client):
    rsps.get(f"{API}/com/orders/1.json", body="<html>maintenance</html>")
    with pytest.raises(RetryableError, match="without 'order'"):
        client.get_order(1)


# --- install ------------------------------------------------------------------------------------------


def test_exchange_code_posts_the_oauth_form(rsps, settings):
    token = {
        "access_token": "at",
        "refresh_token": "rt",
        "expires_in": 3600,
        "scope": "openid com.read_orders",
    }
    rsps.post(f"{settings.HARAVAN_ACCOUNTS_URL}/connect/token", json=token)
    assert exchange_code(code="the-code", redirect_uri="https://app.test/cb/") == token
    request = rsps.calls[0].request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert {k: v[0] for k, v in parse_qs(request.body).items()} == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "https://app.test/cb/",
        "client_id": settings.HARAVAN_CLIENT_ID,
        "client_secret": settings.HARAVAN_CLIENT_SECRET,
    }


def test_exchange_code_refused_is_permanent_and_keeps_no_secret(rsps, settings):
    rsps.post(f"{settings.HARAVAN_ACCOUNTS_URL}/connect/token", status=400, json={"error": "invalid_grant"})
    with pytest.raises(PermanentError, match="invalid_grant") as err:
        exchange_code(code="the-code", redirect_uri="https://app.test/cb/")
    logged = json.dumps(err.value.exchange.logged())
    assert "the-code" not in logged
    assert settings.HARAVAN_CLIENT_SECRET not in logged


def test_exchange_code_unreachable_is_retryable(rsps, settings):
    rsps.post(f"{settings.HARAVAN_ACCOUNTS_URL}/connect/token", status=502)
    with pytest.raises(RetryableError):
        exchange_code(code="c", redirect_uri="https://app.test/cb/")


def test_subscribe_webhooks_posts_an_empty_body_with_the_token(rsps, settings):
    rsps.post(f"{settings.HARAVAN_WEBHOOK_API_URL}/api/subscribe", json={"error": False, "data": {}})
    assert subscribe_webhooks("tok-9") == {"error": False, "data": {}}
    request = rsps.calls[0].request
    assert request.headers["Authorization"] == "Bearer tok-9"
    assert json.loads(request.body) == {}


def test_subscribe_webhooks_without_the_scope_is_permanent(rsps, settings):
    rsps.post(f"{settings.HARAVAN_WEBHOOK_API_URL}/api/subscribe", status=403, json={"errors": "wh_api"})
    with pytest.raises(PermanentError, match="scope"):
        subscribe_webhooks("tok-9")
