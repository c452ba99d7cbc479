"""Fixtures and helpers for the Severa simulator's tests: a simulator on a fake clock and a client that
signs in and calls it in-process."""

import json

import pytest

from sandbox.core import Request
from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SeveraSimulator
from sandbox.severa.auth import SCOPES

from .helpers import FakeClock

ALL_SCOPES = ",".join(sorted(SCOPES))


class Severa:
    """Calls the simulator the way Severa's API clients do: ``/rest-api/v1/…``, bearer token and the
    ``client_id`` header."""

    def __init__(self, sim: SeveraSimulator, clock=None, client_id=DEMO_CLIENT_ID, secret=DEMO_CLIENT_SECRET):
        self.sim = sim
        self.clock = clock
        self.pace = 0.11  # seconds the fake clock moves before each call: within 10 requests/s
        self.client_id = client_id
        self.secret = secret
        self.token = None

    def token_call(self, scope=ALL_SCOPES, *, client_id=None, secret=None, header="same"):
        body = {
            "client_id": client_id or self.client_id,
            "client_secret": secret or self.secret,
            "scope": scope,
        }
        headers = {"Content-Type": "application/json"}
        if header == "same":
            headers["client_id"] = body["client_id"]
        elif header:
            headers["client_id"] = header
        self._wait()
        return self.sim.handle(Request("POST", "/rest-api/v1/token", {}, headers, json.dumps(body).encode()))

    def login(self, scope=ALL_SCOPES):
        resp = self.token_call(scope)
        assert resp.status == 200, resp.text
        self.token = resp.json()["access_token"]
        return self.token

    def __call__(self, method, path, *, query=None, body=None, raw=None, headers=None, token="default"):
        if self.token is None and token == "default":
            self.login()
        hdrs = {"client_id": self.client_id}
        token = self.token if token == "default" else token
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        hdrs.update(headers or {})
        data = b""
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        query = {k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in (query or {}).items()}
        self._wait()
        return self.sim.handle(Request(method, "/rest-api" + path, query, hdrs, data))

    def _wait(self):
        if self.clock is not None and self.pace:
            self.clock.advance(self.pace)

    def get(self, path, **kw):
        return self("GET", path, **kw)

    def patch(self, path, ops, *, content_type="application/json-patch+json", **kw):
        return self("PATCH", path, body=ops, headers={"Content-Type": content_type}, **kw)


@pytest.fixture
def severa_clock():
    return FakeClock()


@pytest.fixture
def severa_sim(severa_clock):
    simulator = SeveraSimulator(seed=7, clock=severa_clock, now=severa_clock.wall)
    yield simulator
    simulator.close()


@pytest.fixture
def severa(severa_sim, severa_clock):
    return Severa(severa_sim, severa_clock)
