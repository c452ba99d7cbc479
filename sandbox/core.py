"""The frame every simulator plugs into: plain requests and responses, a tiny router, knobs and the
control endpoints every simulator shares.

Pure Python on purpose (no Django request objects): tests call ``app.handle(Request(...))`` directly,
the WSGI adapter in ``server.py`` serves the same objects over real HTTP, and ``testing.mount`` feeds
``requests`` calls to them through the ``responses`` library.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
CONTROL_PREFIX = "/_sandbox/"


class Headers:
    """Case-insensitive header mapping that keeps the original spelling for output."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None):
        self._items: dict[str, tuple[str, str]] = {}
        if items is None:
            return
        pairs = items.items() if isinstance(items, Mapping) else items
        for key, value in pairs:
            self[key] = value

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __setitem__(self, key: str, value: str) -> None:
        self._items[key.lower()] = (key, str(value))

    def __delitem__(self, key: str) -> None:
        del self._items[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self):
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str, default: str | None = None) -> str | None:
        found = self._items.get(key.lower())
        return found[1] if found else default

    def items(self) -> list[tuple[str, str]]:
        return list(self._items.values())

    def as_dict(self) -> dict[str, str]:
        return dict(self._items.values())

    def __repr__(self) -> str:
        return f"Headers({self.as_dict()!r})"


class BadRequest(Exception):
    """Raised by request helpers; simulators turn it into a 400 answer in their own dialect."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: Headers | Mapping[str, str] = field(default_factory=Headers)
    body: bytes = b""
    # The mount prefix the path was found under ("/haravan"); set by SandboxApp.
    prefix: str = ""

    def __post_init__(self):
        self.method = self.method.upper()
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)
        if isinstance(self.body, str):
            self.body = self.body.encode("utf-8")
        self.body = self.body or b""
        if isinstance(self.query, str):
            self.query = parse_query(self.query)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body as JSON; an empty body is None. Raises BadRequest on malformed JSON."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"Body is not valid JSON: {exc}") from exc

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body, first value of each field."""
        try:
            parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise BadRequest("Form body is not UTF-8") from exc
        return {k: v[0] for k, v in parsed.items()}

    def bearer_token(self) -> str | None:
        value = self.headers.get("Authorization") or ""
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()


def parse_query(query_string: str) -> dict[str, list[str]]:
    return parse_qs(query_string or "", keep_blank_values=True)


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, non-ASCII kept as is (what the real services send)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    out = {"Content-Type": JSON_CONTENT_TYPE}
    out.update(headers or {})
    return Response(status, out, dumps(obj))


def text_response(
    text: str, status: int = 200, headers: Mapping[str, str] | None = None, content_type: str = "text/plain"
) -> Response:
    out = {"Content-Type": f"{content_type}; charset=utf-8"}
    out.update(headers or {})
    return Response(status, out, text.encode("utf-8"))


def redirect(location: str, status: int = 302) -> Response:
    return Response(status, {"Location": location, "Content-Length": "0"}, b"")


Handler = Callable[..., Response]


class Router:
    """Method + path pattern → handler. ``{name}`` matches (the shortest) part of one path segment, so
    ``/com/orders/{id}.json`` gives ``id="123"``; values are passed to the handler as keyword arguments.
    Routes are tried in the order they were added: add ``/orders/count.json`` before ``/orders/{id}.json``."""

    _param = re.compile(r"\{(\w+)\}")

    def __init__(self):
        self._routes: list[tuple[str, re.Pattern, Handler]] = []

    def add(self, method: str | Iterable[str], pattern: str, handler: Handler) -> None:
        methods = [method] if isinstance(method, str) else list(method)
        regex = self._compile(pattern)
        for m in methods:
            self._routes.append((m.upper(), regex, handler))

    def route(self, method: str | Iterable[str], pattern: str):
        def decorator(func: Handler) -> Handler:
            self.add(method, pattern, func)
            return func

        return decorator

    def _compile(self, pattern: str) -> re.Pattern:
        out, pos = [], 0
        for m in self._param.finditer(pattern):
            out.append(re.escape(pattern[pos : m.start()]))
            out.append(f"(?P<{m.group(1)}>[^/]+?)")
            pos = m.end()
        out.append(re.escape(pattern[pos:]))
        return re.compile("^" + "".join(out) + "$")

    def match(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], bool]:
        """(handler, params, path_known). path_known without a handler means 405."""
        path_known = False
        for m, regex, handler in self._routes:
            found = regex.match(path)
            if not found:
                continue
            path_known = True
            if m == method.upper():
                return handler, found.groupdict(), True
        return None, {}, path_known


class KnobError(ValueError):
    pass


class MovableClock:
    """A simulator's clock that tests and control endpoints move forward: the injected monotonic clock plus
    what was added (``_offset``, reset with the state), and the wall time moved alike."""

    _offset = 0.0

    def clock(self) -> float:
        return self.monotonic() + self._offset

    def wall(self) -> datetime:
        return self.now() + timedelta(seconds=self._offset)

    def wall_at(self, moment: float) -> datetime:
        """The wall time of a simulator-clock moment."""
        return self.wall() + timedelta(seconds=moment - self.clock())

    def move_clock(self, seconds: float) -> float:
        """Add ``seconds`` (never back) under the simulator's lock; the new clock."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self.lock:
            self._offset += float(seconds)
            return self.clock()


class Simulator:
    """Base of every simulated outside service.

    Subclasses set ``DEFAULT_KNOBS`` (name → default; the default's type is the knob's type, ``None``
    means "optional string") and implement ``handle_api``. ``lock`` guards all state: take it for every read
    or change of state, never while sleeping.

    Control endpoints (no auth) below ``/_sandbox/`` are shared: ``knobs`` (GET, POST ``{name: value}``
    or ``{"knobs": {...}}``), ``calls`` (GET, ``?since=<seq>``, filtered by ``CALLS_FILTER``) and
    ``reset`` (POST, ``{"keep_knobs": true}`` keeps the knobs). A simulator adds its own routes to
    ``self.control`` and answers control errors in its service's dialect (``control_error``).
    """

    name = "simulator"
    DEFAULT_KNOBS: dict[str, Any] = {"latency_ms": 0, "error_rate": 0.0}
    PROBABILITY_KNOBS: frozenset[str] = frozenset({"error_rate"})  # must lie in [0, 1]
    CALLS_FILTER: str | None = None  # a query parameter of ``calls`` that matches the call-log field it names
    CONTROL_ERRORS: tuple[type[Exception], ...] = (BadRequest, KnobError)  # answered 400 by control routes

    def __init__(
        self, *, seed: int | None = None, clock: Callable[[], float] | None = None, call_log_size: int = 20000
    ):
        self.lock = threading.RLock()
        self.seed = seed
        self.rng = random.Random(seed)
        self.monotonic = clock or time.monotonic
        self.knobs: dict[str, Any] = dict(self.DEFAULT_KNOBS)
        self.calls: deque[dict] = deque(maxlen=call_log_size)
        self.control = Router()
        self.control.add(("GET", "POST"), "/_sandbox/knobs", self.ctl_knobs)
        self.control.add("GET", "/_sandbox/calls", self.ctl_calls)
        self.control.add("POST", "/_sandbox/reset", self.ctl_reset)

    # --- knobs -----------------------------------------------------------------------------------

    def set_knobs(self, **changes) -> dict[str, Any]:
        with self.lock:
            for name, value in changes.items():
                if name not in self.DEFAULT_KNOBS:
                    raise KnobError(f"unknown knob {name!r}; known: {', '.join(sorted(self.DEFAULT_KNOBS))}")
                self.knobs[name] = self._coerce_knob(name, value)
            return self.get_knobs()

    def get_knobs(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.knobs)

    def reset_knobs(self) -> None:
        with self.lock:
            self.knobs = dict(self.DEFAULT_KNOBS)

    def _coerce_knob(self, name: str, value: Any) -> Any:
        default = self.DEFAULT_KNOBS[name]
        try:
            if default is None or isinstance(default, str):
                return None if value in (None, "") else str(value)
            if isinstance(default, bool):
                if isinstance(value, str):
                    return value.strip().lower() in ("1", "true", "yes", "on")
                return bool(value)
            if isinstance(default, int | float):
                number = int(value) if isinstance(default, int) else float(value)
                if number < 0 or number != number:  # negative or NaN
                    raise KnobError(f"knob {name} must be a number ≥ 0, got {value!r}")
                if name in self.PROBABILITY_KNOBS and number > 1:
                    raise KnobError(f"knob {name} is a probability between 0 and 1, got {value!r}")
                return number
        except (TypeError, ValueError) as exc:
            if isinstance(exc, KnobError):
                raise
            raise KnobError(f"knob {name} expects {type(default).__name__}, got {value!r}") from exc
        return value

    # --- shared faults ---------------------------------------------------------------------------

    def sleep_latency(self) -> None:
        """Sleep for the latency knob; call it without holding the lock."""
        delay = float(self.knobs.get("latency_ms") or 0) / 1000.0
        if delay > 0:
            time.sleep(delay)

    def roll(self, probability: float) -> bool:
        if probability <= 0:
            return False
        with self.lock:
            return self.rng.random() < probability

    # --- entry points ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            return self.handle_control(request)
        return self.handle_api(request)

    def handle_api(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def handle_control(self, request: Request) -> Response:
        handler, params, known = self.control.match(request.method, request.path)
        if handler is None:
            return self.control_error(405 if known else 404, "Method Not Allowed" if known else "Not Found")
        try:
            return handler(request, **params)
        except self.CONTROL_ERRORS as exc:
            return self.control_failure(exc)

    def control_error(self, status: int, message: Any) -> Response:
        """A control endpoint's error answer (simulators speak their service's dialect)."""
        return json_response({"error": message}, status)

    def control_failure(self, exc: Exception) -> Response:
        return self.control_error(400, str(exc))

    def control_body(self, request: Request) -> dict:
        body = request.json()
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise BadRequest("Body must be a JSON object")
        return body

    # --- shared control endpoints ----------------------------------------------------------------

    def ctl_knobs(self, request: Request) -> Response:
        if request.method == "POST":
            body = self.control_body(request)
            self.set_knobs(**(body["knobs"] if isinstance(body.get("knobs"), dict) else body))
        return json_response({"knobs": self.get_knobs()})

    def ctl_calls(self, request: Request) -> Response:
        try:
            since = int(request.arg("since") or 0)
        except ValueError as exc:
            raise BadRequest("since must be a call sequence number") from exc
        field_name = self.CALLS_FILTER
        wanted = request.arg(field_name) if field_name else None
        with self.lock:
            calls = [
                c for c in self.calls if c["seq"] > since and (wanted is None or str(c[field_name]) == wanted)
            ]
            last = self.calls[-1]["seq"] if self.calls else 0
            return json_response({"calls": calls, "last_seq": last, **self.calls_context()})

    def calls_context(self) -> dict[str, Any]:
        """What the ``calls`` answer adds next to the log (e.g. the simulator's clock)."""
        return {}

    def ctl_reset(self, request: Request) -> Response:
        body = self.control_body(request)
        self.reset(keep_knobs=bool(body.get("keep_knobs")))
        return json_response({"reset": True, "knobs": self.get_knobs()})

    # --- lifecycle -------------------------------------------------------------------------------

    def reset(self, *, keep_knobs: bool = False) -> None:
        """Back to the initial state; ``keep_knobs`` keeps the knobs as they are."""
        with self.lock:
            knobs = dict(self.knobs)
            self.rng = random.Random(self.seed)
            self.reset_knobs()
            if keep_knobs:
                self.knobs = knobs
            self.reset_state()

    def reset_state(self) -> None:
        """Forget what the simulator accumulated (subclasses extend it; their constructors call it too)."""
        self.calls.clear()

    def close(self) -> None:
        """Stop background threads, if any."""


def as_decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string as Decimal; None when missing; ValueError when not a number (what
    the simulators read amounts with)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("boolean is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number") from exc
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a number")
    return number
