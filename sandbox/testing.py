"""Using the simulators from tests.

- In-process through ``requests``: ``mount(responses_mock, app, base_url)`` registers ``responses``
  callbacks so every ``requests`` call under ``base_url`` is answered by ``app.handle`` — no sockets.
- Over real HTTP: ``with LiveSandbox() as live: live.url`` serves the app on a free 127.0.0.1 port.
- Webhooks into Django in-process: ``django_client_sender(client)`` is a webhook sender that posts to
  Django's test client instead of the network (use it with ``webhook_background=False`` and call
  ``sim.webhooks.drain()`` to deliver in the test's own thread, inside its database transaction).
"""

from __future__ import annotations

import functools
import re
import threading
from urllib.parse import urlsplit

from .core import Headers, Request, parse_query
from .server import SandboxApp, default_app, make_server


def mount(responses_mock, app: SandboxApp, base_url: str = "http://sandbox.test") -> str:
    """Answer every ``requests`` call (any method) under ``base_url`` with ``app``, through a ``responses``
    mock (``responses.RequestsMock()``, the ``responses`` module itself inside ``@responses.activate``…).
    Returns the base URL without a trailing slash: with ``base_url="http://sandbox.test"`` the Haravan API
    is ``http://sandbox.test/haravan``."""
    base = base_url.rstrip("/")
    root_path = urlsplit(base).path
    pattern = re.compile(re.escape(base) + r"(?:[/?].*)?$")

    def callback(prepared):
        parts = urlsplit(prepared.url)
        path = parts.path[len(root_path) :] if root_path and parts.path.startswith(root_path) else parts.path
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes | bytearray):  # a generator or file: read it all
            body = b"".join(chunk if isinstance(chunk, bytes) else str(chunk).encode() for chunk in body)
        request = Request(
            method=prepared.method,
            path=path or "/",
            query=parse_query(parts.query),
            headers=Headers(dict(prepared.headers)),
            body=bytes(body),
        )
        response = app.handle(request)
        return response.status, dict(response.headers), response.body

    responses_mock.add(_any_method_callback_class()("GET", pattern, callback=callback, content_type=None))
    return base


@functools.cache
def _any_method_callback_class():
    """Built lazily: ``responses`` is a test-only dependency."""
    from responses import CallbackResponse

    class AnyMethodCallback(CallbackResponse):
        """One registration answering every HTTP method; never reported as "not fired"."""

        def matches(self, request):
            if not self._url_matches(self.url, str(request.url)):
                return False, "URL does not match"
            return True, ""

        @property
        def call_count(self) -> int:
            return max(1, len(self._calls))

    return AnyMethodCallback


class LiveSandbox:
    """Serve ``app`` (default: every simulator with its demo state) on 127.0.0.1 in a background thread.

    ``with LiveSandbox() as live: requests.get(f"{live.url}/haravan/com/shop.json", ...)``
    """

    def __init__(self, app: SandboxApp | None = None, host: str = "127.0.0.1", port: int = 0):
        self._owns_app = app is None
        self.app = app or default_app()
        self.host = host
        self.port = port
        self.server = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("LiveSandbox is not running")
        return f"http://{self.host}:{self.server.server_port}"

    def __getitem__(self, prefix: str):
        return self.app[prefix]

    def start(self) -> LiveSandbox:
        self.server = make_server(self.app, self.host, self.port)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-sandbox", daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None
        if self._owns_app:
            self.app.close()

    def __enter__(self) -> LiveSandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def django_client_sender(client=None):
    """A webhook sender delivering to Django's test client (no network, same process and database)."""
    if client is None:
        from django.test import Client

        client = Client()

    def send(method: str, url: str, headers: dict, body: bytes) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        content_type = next(
            (v for k, v in headers.items() if k.lower() == "content-type"), "application/json"
        )
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        if method.upper() == "GET":
            response = client.get(path, headers=extra)
        else:
            response = client.generic(
                method.upper(), path, data=body, content_type=content_type, headers=extra
            )
        return response.status_code, response.content.decode("utf-8", errors="replace")

    return send


class RecordingSender:
    """A webhook sender that records what it was given and answers ``status`` (or raises ``error``)."""

    def __init__(self, status: int = 200, error: Exception | None = None):
        self.status = status
        self.error = error
        self.calls: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, method: str, url: str, headers: dict, body: bytes) -> tuple[int, str]:
        with self.lock:
            self.calls.append({"method": method, "url": url, "headers": dict(headers), "body": body})
        if self.error is not None:
            raise self.error
        return self.status, "ok"

    def topics(self) -> list[str]:
        with self.lock:
            return [c["headers"].get("X-Haravan-Topic") for c in self.calls]
