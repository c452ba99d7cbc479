"""Helpers shared by the simulator tests."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sandbox.core import Request
from sandbox.server import SandboxApp

TOKEN = "demo-token"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0, wall_start: datetime = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)):
        self.start = start
        self.now = start
        self.wall_start = wall_start

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        """The simulator's wall clock (order timestamps), moving with the monotonic one."""
        return self.wall_start + timedelta(seconds=self.now - self.start)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Client:
    """Calls the app in-process the way an API client would."""

    def __init__(self, app: SandboxApp, prefix: str = "/haravan", token: str | None = TOKEN):
        self.app = app
        self.prefix = prefix
        self.token = token

    def __call__(self, method, path, *, query=None, body=None, token="default", headers=None, raw=None):
        hdrs = dict(headers or {})
        token = self.token if token == "default" else token
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        data = b""
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
        elif body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        query = {k: [str(v)] for k, v in (query or {}).items()}
        return self.app.handle(Request(method, self.prefix + path, query, hdrs, data))

    def get(self, path, **kw):
        return self("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self("PUT", path, body=body, **kw)

    def delete(self, path, body=None, **kw):
        return self("DELETE", path, body=body, **kw)

    def qs(self, **params) -> str:
        return urlencode(params)


def line(variant_id=1010000001, quantity=1, **extra):
    return {"variant_id": variant_id, "quantity": quantity, **extra}


def make_order(client, **fields):
    body = {"order": {"line_items": [line()], **fields}}
    resp = client.post("/com/orders.json", body)
    assert resp.status == 201, resp.text
    return resp.json()["order"]
