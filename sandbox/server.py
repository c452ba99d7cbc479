"""Mounting simulators on URL prefixes and serving them over HTTP.

``SandboxApp({"/haravan": HaravanSimulator(), "/meinvoice": ..., "/amis": ..., "/severa": ...})`` answers
``Request`` objects (``app.handle``) and is a WSGI application (``app(environ, start_response)``). ``serve``
runs it on a threading ``wsgiref`` server.
"""

from __future__ import annotations

import logging
import socketserver
from collections.abc import Mapping
from http import HTTPStatus
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.simple_server import make_server as _make_server

from .core import Headers, Request, Response, Simulator, json_response, parse_query

log = logging.getLogger(__name__)


class SandboxApp:
    def __init__(self, mounts: Mapping[str, Simulator] | None = None):
        self.mounts: dict[str, Simulator] = {}
        for prefix, simulator in (mounts or {}).items():
            self.mount(prefix, simulator)

    def mount(self, prefix: str, simulator: Simulator) -> Simulator:
        prefix = "/" + prefix.strip("/")
        self.mounts[prefix] = simulator
        return simulator

    def __getitem__(self, prefix: str) -> Simulator:
        return self.mounts["/" + prefix.strip("/")]

    def find(self, path: str) -> tuple[str, Simulator] | None:
        for prefix in sorted(self.mounts, key=len, reverse=True):
            if path == prefix or path.startswith(prefix + "/"):
                return prefix, self.mounts[prefix]
        return None

    def handle(self, request: Request) -> Response:
        found = self.find(request.path)
        if found is None:
            return json_response(
                {
                    "errors": f"Nothing is mounted at {request.path}; "
                    f"mounted: {', '.join(sorted(self.mounts))}"
                },
                status=404,
            )
        prefix, simulator = found
        inner = Request(
            method=request.method,
            path=request.path[len(prefix) :] or "/",
            query=request.query,
            headers=request.headers,
            body=request.body,
            prefix=request.prefix + prefix,
        )
        try:
            return simulator.handle(inner)
        except Exception:  # a simulator bug answers 500 instead of killing the server thread
            log.exception("Simulator %s failed on %s %s", simulator.name, request.method, request.path)
            return json_response({"errors": "Internal Server Error (sandbox simulator bug)"}, status=500)

    def reset(self) -> None:
        for simulator in self.mounts.values():
            simulator.reset()

    def close(self) -> None:
        for simulator in self.mounts.values():
            simulator.close()

    # --- WSGI ------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = request_from_environ(environ)
        response = self.handle(request)
        status = f"{response.status} {_reason(response.status)}"
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(response.body))))
        start_response(status, headers)
        return [response.body] if request.method != "HEAD" else [b""]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _wsgi_str(value: str) -> str:
    """WSGI hands over paths as latin-1 decoded bytes; turn them back into real text."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


RAW_HEADERS = "sandbox.raw_headers"


def request_from_environ(environ) -> Request:
    """The request as a simulator reads it. Header names come as the client spelled them when the server
    kept them (``QuietHandler``: Severa's ``client_id`` header has an underscore, which the CGI-style
    ``HTTP_*`` keys cannot tell from a dash); else from the ``HTTP_*`` keys, dashed."""
    headers = Headers()
    raw = environ.get(RAW_HEADERS)
    if raw is not None:
        for key, value in raw:
            if key.lower() not in ("content-type", "content-length"):
                value = value.strip()
                headers[key] = f"{headers[key]},{value}" if key in headers else value
    else:
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers[key[5:].replace("_", "-").title()] = value
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    return Request(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=_wsgi_str(environ.get("PATH_INFO") or "/"),
        query=parse_query(_wsgi_str(environ.get("QUERY_STRING") or "")),
        headers=headers,
        body=body,
    )


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        log.debug("%s - %s", self.address_string(), format % args)

    def get_environ(self):
        """WSGI names headers ``HTTP_CLIENT_ID`` for both ``client_id`` and ``client-id``; Severa's API
        wants the first, so the simulators also get the headers as sent."""
        environ = super().get_environ()
        environ[RAW_HEADERS] = list(self.headers.items())
        return environ


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(app, host: str = "127.0.0.1", port: int = 8100) -> ThreadingWSGIServer:
    return _make_server(host, port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler)


def default_app(
    *,
    meinvoice_options: Mapping | None = None,
    amis_options: Mapping | None = None,
    severa_options: Mapping | None = None,
    maventa_options: Mapping | None = None,
    **haravan_options,
) -> SandboxApp:
    """Every simulator with its demo state, on its usual prefix."""
    from .amis import AmisSimulator
    from .haravan import HaravanSimulator
    from .maventa import MaventaSimulator
    from .meinvoice import MeInvoiceSimulator
    from .severa import SeveraSimulator

    return SandboxApp(
        {
            "/haravan": HaravanSimulator(**haravan_options),
            "/meinvoice": MeInvoiceSimulator(**dict(meinvoice_options or {})),
            "/amis": AmisSimulator(**dict(amis_options or {})),
            "/severa": SeveraSimulator(**dict(severa_options or {})),
            "/maventa": MaventaSimulator(**dict(maventa_options or {})),
        }
    )


def serve(host: str = "127.0.0.1", port: int = 8100, app: SandboxApp | None = None) -> None:
    """Serve until interrupted."""
    app = app or default_app()
    server = make_server(app, host, port)
    log.info(
        "Sandbox listening on http://%s:%s (%s)", host, server.server_port, ", ".join(sorted(app.mounts))
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        app.close()
