"""The three ways to reach the simulators: direct handle(), `requests` through `responses`, real HTTP."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest
import requests
import responses

from sandbox.core import Headers, Request, Response, Router, Simulator, json_response
from sandbox.generator import OrderGenerator
from sandbox.haravan import HaravanSimulator
from sandbox.server import SandboxApp
from sandbox.testing import LiveSandbox, mount

AUTH = {"Authorization": "Bearer demo-token"}
ROOT = Path(__file__).resolve().parents[2]


# --- core --------------------------------------------------------------------------------------------


def test_router_params_404_and_405():
    router = Router()
    router.add("GET", "/com/orders/count.json", lambda r: "count")
    router.add("GET", "/com/orders/{id}.json", lambda r, id: id)
    router.add("GET", "/com/orders/{id}/transactions/{tid}.json", lambda r, id, tid: (id, tid))
    handler, params, _ = router.match("GET", "/com/orders/count.json")
    assert handler(None) == "count"
    handler, params, _ = router.match("GET", "/com/orders/1300000001.json")
    assert params == {"id": "1300000001"}
    assert router.match("GET", "/com/orders/1/transactions/2.json")[1] == {"id": "1", "tid": "2"}
    assert router.match("PUT", "/com/orders/1.json")[0::2] == (None, True)  # known path, wrong method
    assert router.match("GET", "/com/orders/1/x.json")[0::2] == (None, False)


def test_request_and_headers_helpers():
    req = Request("post", "/x", {"a": ["1", "2"]}, {"authorization": "Bearer abc", "X-Y": "z"}, '{"k": "v"}')
    assert req.method == "POST" and req.arg("a") == "1" and req.arg("b", "d") == "d"
    assert req.headers["AUTHORIZATION"] == "Bearer abc" and "x-y" in req.headers
    assert req.bearer_token() == "abc" and req.json() == {"k": "v"}
    assert Request("GET", "/", headers={"Authorization": "Basic x"}).bearer_token() is None
    form = Request("POST", "/", body=b"grant_type=authorization_code&code=a%2Bb")
    assert form.form() == {"grant_type": "authorization_code", "code": "a+b"}
    headers = Headers({"Content-Type": "a"})
    headers["content-type"] = "b"
    assert headers.as_dict() == {"content-type": "b"} and len(headers) == 1
    resp = json_response({"ok": "đúng"}, status=201, headers={"X-A": "1"})
    assert resp.status == 201 and resp.json() == {"ok": "đúng"} and resp.headers["X-A"] == "1"
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"


def test_simulator_knobs():
    class Echo(Simulator):
        DEFAULT_KNOBS = {**Simulator.DEFAULT_KNOBS, "flag": False, "name": None}

        def handle(self, request):
            return json_response(self.get_knobs())

    echo = Echo()
    assert echo.set_knobs(latency_ms="5", flag="true", name="x")["latency_ms"] == 5
    assert echo.knobs["flag"] is True
    with pytest.raises(ValueError):
        echo.set_knobs(error_rate=1.5)
    with pytest.raises(ValueError):
        echo.set_knobs(unknown=1)
    echo.reset()
    assert echo.knobs == Echo.DEFAULT_KNOBS


def test_sandbox_app_mounts_prefixes_and_speaks_wsgi():
    class Hello(Simulator):
        def handle(self, request):
            return json_response({"path": request.path, "prefix": request.prefix, "q": request.query})

    class Broken(Simulator):
        def handle(self, request):
            raise RuntimeError("bug")

    app = SandboxApp({"/hello": Hello(), "/hello/deeper": Hello(), "broken": Broken()})
    assert app.handle(Request("GET", "/hello/a.json")).json()["path"] == "/a.json"
    assert app.handle(Request("GET", "/hello/deeper/b")).json() == {
        "path": "/b",
        "prefix": "/hello/deeper",
        "q": {},
    }
    assert app.handle(Request("GET", "/nowhere")).status == 404
    assert app.handle(Request("GET", "/broken/x")).status == 500

    environ = {"PATH_INFO": "/hello/đ".encode().decode("latin-1"), "QUERY_STRING": "x=1&x=2"}
    setup_testing_defaults(environ)
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    assert seen["status"] == "200 OK" and seen["headers"]["Content-Length"] == str(len(body))
    assert json.loads(body) == {"path": "/đ", "prefix": "/hello", "q": {"x": ["1", "2"]}}
    assert isinstance(app.handle(Request("GET", "/hello/")), Response)


# --- responses mount ---------------------------------------------------------------------------------


def test_mount_serves_requests_in_process():
    sim = HaravanSimulator(seed_orders=False, webhook_background=False, webhook_sender=lambda *a: (200, ""))
    app = SandboxApp({"/haravan": sim})
    with responses.RequestsMock() as mock:
        base = mount(mock, app, "http://sandbox.test/")
        shop = requests.get(f"{base}/haravan/com/shop.json", headers=AUTH, timeout=5)
        assert shop.status_code == 200 and shop.json()["shop"]["id"] == 200000001
        assert shop.headers["X-Haravan-Api-Call-Limit"] == "1/80"
        created = requests.post(
            f"{base}/haravan/com/orders.json",
            json={
                "order": {
                    "line_items": [{"variant_id": 1010000001, "quantity": 2}],
                    "note": "Giao giờ hành chính",
                }
            },
            headers=AUTH,
            timeout=5,
        )
        assert created.status_code == 201
        order = created.json()["order"]
        assert order["note"] == "Giao giờ hành chính"
        listed = requests.get(
            f"{base}/haravan/com/orders.json", params={"limit": 100, "status": "any"}, headers=AUTH, timeout=5
        )
        assert [o["id"] for o in listed.json()["orders"]] == [order["id"]]
        tags = requests.delete(
            f"{base}/haravan/com/orders/{order['id']}/tags.json", json={"tags": "x"}, headers=AUTH, timeout=5
        )
        assert tags.status_code == 200
        assert requests.get(f"{base}/haravan/com/shop.json", timeout=5).status_code == 401
        assert (
            requests.get(f"{base}/haravan/_sandbox/knobs", timeout=5).json()["knobs"]["rate_capacity"] == 80
        )
    sim.close()


def test_mount_under_a_path_prefix():
    app = SandboxApp({"/haravan": HaravanSimulator(seed_orders=False, webhook_background=False)})
    with responses.RequestsMock() as mock:
        base = mount(mock, app, "http://gateway.test/sandbox")
        assert requests.get(f"{base}/haravan/com/shop.json", headers=AUTH, timeout=5).status_code == 200


# --- real HTTP ---------------------------------------------------------------------------------------


def test_live_sandbox_serves_over_http():
    with LiveSandbox() as live:
        assert live.url.startswith("http://127.0.0.1:")
        haravan = f"{live.url}/haravan"
        session = requests.Session()
        session.headers.update(AUTH)
        shop = session.get(f"{haravan}/com/shop.json", timeout=5)
        assert shop.status_code == 200 and shop.json()["shop"]["name"] == "Cửa hàng Demo"
        assert shop.headers["X-Haravan-Api-Call-Limit"] == "1/80"
        seeded = session.get(f"{haravan}/com/orders/count.json", params={"status": "any"}, timeout=5).json()[
            "count"
        ]
        assert seeded >= 6
        payload = {"order": {"line_items": [{"variant_id": 1010000025, "quantity": 1}], "note": "Sách tặng"}}
        created = session.post(f"{haravan}/com/orders.json", json=payload, timeout=5)
        assert created.status_code == 201 and created.json()["order"]["note"] == "Sách tặng"
        # concurrent callers are served in parallel and all counted
        threads = [
            threading.Thread(target=session.get, args=(f"{haravan}/com/shop.json",)) for _ in range(10)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        calls = requests.get(f"{haravan}/_sandbox/calls", timeout=5).json()["calls"]
        assert len(calls) == 13
        assert requests.get(f"{live.url}/nothing", timeout=5).status_code == 404
        assert isinstance(live["/haravan"], HaravanSimulator)
        live["/haravan"].set_knobs(webhook_url="http://127.0.0.1:9/")  # nobody listens; nothing hangs


def test_generator_runs_against_a_live_sandbox():
    app = SandboxApp(
        {
            "/haravan": HaravanSimulator(
                seed_orders=False, webhook_background=False, webhook_sender=lambda *a: (200, "")
            )
        }
    )
    with LiveSandbox(app) as live:
        generator = OrderGenerator(f"{live.url}/haravan", "demo-token", seed=3)
        stop = threading.Event()
        stats = generator.run(interval=0.01, stop_event=stop, max_rounds=12)
        assert stats["created"] == 12 and stats["errors"] == 0
        time.sleep(0.05)
        generator.settle_due(now=time.monotonic() + 3600)
        assert generator.stats["paid"] + generator.stats["cancelled"] >= 8
        orders = requests.get(
            f"{live.url}/haravan/com/orders.json", params={"status": "any"}, headers=AUTH, timeout=5
        ).json()["orders"]
        assert len(orders) == 12
        assert sum(o["financial_status"] == "paid" for o in orders) == generator.stats["paid"]
        assert sum(o["cancelled_status"] == "cancelled" for o in orders) == generator.stats["cancelled"]
    app.close()


def test_generator_survives_errors():
    sim = HaravanSimulator(seed_orders=False, webhook_background=False, webhook_sender=lambda *a: (200, ""))
    sim.set_knobs(error_rate=1.0)
    app = SandboxApp({"/haravan": sim})
    with responses.RequestsMock() as mock:
        base = mount(mock, app)
        generator = OrderGenerator(f"{base}/haravan", "demo-token", seed=1, max_retries=0)
        stats = generator.run(interval=0, max_rounds=3)
    assert stats["created"] == 0 and stats["errors"] == 3


def test_runsandbox_command_serves_and_generates(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SANDBOX_WEBHOOK_URL": "http://127.0.0.1:9/"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runsandbox",
            "--port",
            "0",
            "--generate",
            "--interval",
            "0.1",
            "--seed",
            "5",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("Sandbox on http://127.0.0.1:"), first
        base = first.split()[-1]
        deadline = time.monotonic() + 20
        count = 0
        while time.monotonic() < deadline:
            count = requests.get(
                f"{base}/haravan/com/orders/count.json", params={"status": "any"}, headers=AUTH, timeout=5
            ).json()["count"]
            if count >= 10:  # 8 seeded + generated ones
                break
            time.sleep(0.1)
        assert count >= 10
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
