"""Shared HTTP machinery: timeouts, error classification, a record of each exchange for the log."""

import time
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

from .redaction import redact
from .text import Text, as_text


class ApiError(Exception):
    """An outside call failed. `retryable` says whether trying again later can help. ``text`` is the
    message as people read it (in their language; the service's own words kept verbatim), ``str()`` the
    same in English."""

    retryable = False

    def __init__(self, message: Text | str, *, status: int | None = None, body: Any = None, exchange=None):
        self.text = as_text(message)
        super().__init__(self.text.english())
        self.status = status
        self.body = body
        self.exchange = exchange


class RetryableError(ApiError):
    """Network trouble, 429, 5xx, an expired token: the same call may succeed later."""

    retryable = True

    def __init__(self, message: Text | str, *, retry_after: float | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class PermanentError(ApiError):
    """Validation, missing mapping, other 4xx: a person has to change something first."""


class NotConfiguredError(PermanentError):
    """An outside service's address is not set, so nothing was sent. `setting` names the variable to set."""

    def __init__(self, setting: str, *, action: str = "", **kw):
        self.setting = setting
        text = Text(
            "%(setting)s is not set. Set the environment variable %(setting)s to its production address "
            "(README, Configuration) and restart the web app and the workers.",
            setting=setting,
        )
        if action:
            text = Text("%(action)s not sent: %(reason)s", action=action, reason=text)
        super().__init__(text, **kw)


def require_url(value: str, setting: str) -> str:
    """`value`, or NotConfiguredError naming `setting` when it is empty."""
    if not (value or "").strip():
        raise NotConfiguredError(setting)
    return value


@dataclass
class Exchange:
    """One request/response pair, redacted, ready to be written to an attempt row."""

    method: str
    url: str
    request: Any = None
    status: int | None = None
    response: Any = None
    duration_ms: int = 0
    error: str = ""
    headers: dict = field(default_factory=dict)

    def logged(self, *, request=None, response=None) -> dict:
        """What a timeline row keeps of the exchange: redacted, and narrowed to one document's own part of
        a batch when ``request``/``response`` are given (50 rows must not each redact the whole batch)."""
        body = request if request is not None else self.request
        answer = response if response is not None else self.response
        return {
            "request": {"method": self.method, "url": redact(self.url), "body": redact(body)},
            "response": redact(answer),
            "http_status": self.status,
            "duration_ms": self.duration_ms,
        }


def parse_retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value not in (None, "") else None
    except ValueError:
        return None


def decode_body(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return resp.text[:4000]


class HttpClient:
    """Base for provider clients: one requests.Session, a timeout on every call, typed failures.

    `setting` names where base_url comes from: with an empty base_url, a call raises NotConfiguredError
    naming it (production has no default address for any outside service)."""

    def __init__(
        self,
        base_url: str,
        *,
        setting: str = "",
        timeout: float | None = None,
        session: requests.Session | None = None,
    ):
        self.base_url = (base_url or "").rstrip("/")
        self.setting = setting
        self.timeout = timeout if timeout is not None else settings.HTTP_TIMEOUT
        self.session = session or requests.Session()
        self.last_exchange: Exchange | None = None

    def send(self, method: str, path: str, *, json_body=None, params=None, headers=None, data=None) -> tuple:
        """Returns (response, decoded body, exchange). Raises RetryableError on transport failures only;
        status handling is the caller's, since every provider speaks its own error dialect."""
        if not self.base_url and not path.startswith("http"):
            exchange = Exchange(method=method, url=path, error="not configured")
            self.last_exchange = exchange
            raise NotConfiguredError(
                self.setting or "the client's base URL", action=f"{method} {path}", exchange=exchange
            )
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        exchange = Exchange(method=method, url=url, request=json_body if json_body is not None else data)
        started = time.monotonic()
        try:
            resp = self.session.request(
                method, url, json=json_body, params=params, headers=headers, data=data, timeout=self.timeout
            )
        except requests.Timeout as exc:
            exchange.duration_ms = int((time.monotonic() - started) * 1000)
            exchange.error = f"timeout after {self.timeout:g}s"
            self.last_exchange = exchange
            raise RetryableError(
                Text(
                    "%(call)s: no answer within %(seconds)ss",
                    call=f"{method} {url}",
                    seconds=f"{self.timeout:g}",
                ),
                exchange=exchange,
            ) from exc
        except requests.RequestException as exc:
            exchange.duration_ms = int((time.monotonic() - started) * 1000)
            exchange.error = type(exc).__name__
            self.last_exchange = exchange
            raise RetryableError(
                Text("%(call)s: network error (%(error)s)", call=f"{method} {url}", error=type(exc).__name__),
                exchange=exchange,
            ) from exc
        exchange.duration_ms = int((time.monotonic() - started) * 1000)
        exchange.status = resp.status_code
        exchange.headers = dict(resp.headers)
        body = decode_body(resp)
        exchange.response = body
        if params:
            exchange.url = resp.url
        self.last_exchange = exchange
        return resp, body, exchange


def classify_status(
    status: int, message: Text | str, *, retry_after=None, body=None, exchange=None
) -> ApiError | None:
    """The house rule: 429 and 5xx are worth retrying, other 4xx are not."""
    if status < 400:
        return None
    if status == 429 or status >= 500:
        return RetryableError(message, status=status, body=body, exchange=exchange, retry_after=retry_after)
    return PermanentError(message, status=status, body=body, exchange=exchange)
