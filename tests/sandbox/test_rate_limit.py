"""Haravan's leaky bucket (80, draining 4/s), the 429 storm, latency/error knobs and the call log."""

import re
import time

from sandbox.haravan import format_seconds, max_calls_in_window

from .helpers import make_order

LIMIT_HEADER = re.compile(r"^\d+/\d+$")


def test_81st_rapid_call_is_429_with_retry_after(client):
    for n in range(1, 81):
        resp = client.get("/com/shop.json")
        assert resp.status == 200
        assert resp.headers["X-Haravan-Api-Call-Limit"] == f"{n}/80"
    resp = client.get("/com/shop.json")
    assert resp.status == 429
    assert resp.headers["X-Haravan-Api-Call-Limit"] == "80/80"
    assert re.fullmatch(r"\d+\.\d+", resp.headers["Retry-After"])
    assert float(resp.headers["Retry-After"]) == 0.25  # one call drains in 1/4 s
    assert "errors" in resp.json()


def test_bucket_drains_at_the_configured_rate(client, clock):
    for _ in range(80):
        client.get("/com/shop.json")
    clock.advance(0.25)
    ok = client.get("/com/shop.json")
    assert ok.status == 200 and ok.headers["X-Haravan-Api-Call-Limit"] == "80/80"
    assert client.get("/com/shop.json").status == 429
    clock.advance(10)  # 40 calls drained
    assert client.get("/com/shop.json").headers["X-Haravan-Api-Call-Limit"] == "41/80"
    clock.advance(60)
    assert client.get("/com/shop.json").headers["X-Haravan-Api-Call-Limit"] == "1/80"


def test_capacity_and_rate_knobs(client, sim, clock):
    sim.set_knobs(rate_capacity=5, rate_per_second=0.5)
    statuses = [client.get("/com/shop.json").status for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    resp = client.get("/com/shop.json")
    assert resp.headers["X-Haravan-Api-Call-Limit"] == "5/5" and resp.headers["Retry-After"] == "2.0"
    clock.advance(2)
    assert client.get("/com/shop.json").status == 200


def test_buckets_are_per_shop(client, sim):
    sim.add_shop(200000002, token="other-token")
    sim.set_knobs(rate_capacity=3)
    for _ in range(3):
        client.get("/com/shop.json")
    assert client.get("/com/shop.json").status == 429
    other = client.get("/com/shop.json", token="other-token")
    assert other.status == 200 and other.json()["shop"]["id"] == 200000002
    assert other.headers["X-Haravan-Api-Call-Limit"] == "1/3"


def test_storm_answers_429_for_its_duration(client, clock):
    resp = client.post("/_sandbox/knobs", {"storm_seconds": 3}, token=None)
    assert resp.json()["knobs"]["storm_seconds"] == 3
    for _ in range(5):
        resp = client.get("/com/orders.json")
        assert resp.status == 429 and resp.headers["X-Haravan-Api-Call-Limit"] == "80/80"
    assert resp.headers["Retry-After"] == "3.0"
    clock.advance(2.5)
    assert client.get("/com/orders.json").headers["Retry-After"] == "0.5"
    clock.advance(0.6)
    assert client.get("/com/orders.json").status == 200
    assert client.get("/_sandbox/knobs", token=None).json()["knobs"]["storm_seconds"] == 0


def test_error_rate_gives_500_or_502_and_changes_nothing(client, sim):
    sim.set_knobs(error_rate=1.0)
    statuses = {
        client.post("/com/orders.json", {"order": {"line_items": [{"variant_id": 1010000001}]}}).status
        for _ in range(20)
    }
    assert statuses == {500, 502}
    sim.set_knobs(error_rate=0.0)
    assert client.get("/com/orders/count.json", query={"status": "any"}).json() == {"count": 0}


def test_lost_response_changes_state_but_answers_502(client, sim):
    sim.set_knobs(lost_response_rate=1.0)
    resp = client.post("/com/orders.json", {"order": {"line_items": [{"variant_id": 1010000001}]}})
    assert resp.status == 502 and "Bad Gateway" in resp.text
    assert client.get("/com/orders/count.json", query={"status": "any"}).json() == {"count": 1}


def test_latency_knob_sleeps(client, sim):
    sim.set_knobs(latency_ms=120)
    started = time.monotonic()
    client.get("/com/shop.json")
    assert time.monotonic() - started >= 0.11


def test_call_log_and_control_endpoint(client, clock):
    make_order(client)
    clock.advance(0.5)
    client.get("/com/orders.json")
    client.get("/com/orders.json", token="wrong")
    calls = client.get("/_sandbox/calls", token=None).json()
    assert [(c["method"], c["path"], c["status"]) for c in calls["calls"]] == [
        ("POST", "/haravan/com/orders.json", 201),
        ("GET", "/haravan/com/orders.json", 200),
        ("GET", "/haravan/com/orders.json", 401),
    ]
    first, second, third = calls["calls"]
    assert first["shop"] == 200000001 and third["shop"] is None
    assert second["mono"] - first["mono"] == 0.5
    assert isinstance(first["wall"], float) and first["at"].endswith("Z")
    later = client.get("/_sandbox/calls", token=None, query={"since": first["seq"]}).json()["calls"]
    assert [c["seq"] for c in later] == [second["seq"], third["seq"]]
    assert calls["last_seq"] == third["seq"]
    # control calls are neither rate limited nor logged
    assert len(client.get("/_sandbox/calls", token=None).json()["calls"]) == 3


def test_max_calls_in_window():
    calls = [{"mono": t, "shop": 1} for t in (0.0, 0.1, 0.2, 0.95, 1.0, 1.05, 3.0)]
    assert max_calls_in_window(calls, 1.0) == 5  # 0.1, 0.2, 0.95, 1.0, 1.05 within [0.1, 1.1)
    assert max_calls_in_window(calls, 0.1) == 2
    assert max_calls_in_window(calls, 1.0, shop=2) == 0


def test_format_seconds():
    assert format_seconds(2) == "2.0"
    assert format_seconds(0.25) == "0.25"
    assert format_seconds(0.251) == "0.26"  # rounded up: never ask to come back too early
    assert format_seconds(0) == "0.01"


def test_knob_validation(client):
    assert client.post("/_sandbox/knobs", {"nope": 1}, token=None).status == 400
    assert client.post("/_sandbox/knobs", {"error_rate": 2}, token=None).status == 400
    assert client.post("/_sandbox/knobs", {"latency_ms": "abc"}, token=None).status == 400
    assert client.post("/_sandbox/knobs", {"duplicate_webhooks": 1.5}, token=None).status == 400
    assert client.post("/_sandbox/knobs", {"rate_per_second": -1}, token=None).status == 400
    knobs = client.post("/_sandbox/knobs", {"knobs": {"rate_capacity": "40"}}, token=None).json()["knobs"]
    assert knobs["rate_capacity"] == 40
    reset = client.post("/_sandbox/reset", token=None).json()
    assert reset["knobs"]["rate_capacity"] == 80


def test_the_control_side_shows_an_order_without_spending_the_shops_calls(client, sim):
    order = make_order(client)

    def used():  # the simulator's clock stands still here: nothing leaks out of the bucket
        return int(client.get("/com/shop.json").headers["X-Haravan-Api-Call-Limit"].split("/")[0])

    before = used()
    for _ in range(100):  # more than the bucket holds
        seen = client.get(f"/_sandbox/orders/{order['id']}", token=None)
        assert seen.status == 200 and seen.json()["order"]["id"] == order["id"]
    assert used() == before + 1
    assert client.get("/_sandbox/orders/42", token=None).status == 404
