"""Visma Severa's public REST API v1 over HTTP: the token, the reads a transfer of invoices needs, the
status change, Severa's errors → typed exceptions, and Severa's limit of 10 requests a second.

No database, no business rules: the caller keeps the organisation's token (encrypted, shared by every
worker) through `on_token` and decides what to read and when.

Facts from the shared reference `maventa-severa.md` §3: the hosts, ``POST /v1/token`` with
``{client_id, client_secret, scope}``, the ``client_id`` header on every call next to the bearer token,
the paths and query parameters, ``NextPageToken`` paging, the error body ``{error: {httpStatusCode, type,
details[{message}]}}``, the limit (10 requests/s, 429 "API calls quota exceeded!", ``Retry-After`` only
sometimes).

Readings chosen where the reference says "?": scopes are sent comma-separated (the spec's client); the
status changes with ``[{"op": "replace", "path": "/status/guid", "value": <guid>}]`` (the path is the
`status_patch_path` argument, so it can change without a release); amounts are read as Decimal.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.utils import timezone

from connectors.http import HttpClient, PermanentError, RetryableError, parse_retry_after
from connectors.ratelimit import LeakyBucket
from connectors.text import Text
from connectors.tokens import AccessToken

TOKEN_PATH = "v1/token"  # noqa: S105 - a path, not a secret
SCOPES = (
    "invoices:read",
    "invoices:write",
    "customers:read",
    "settings:read",
    "organization:read",
    "files:read",
)
STATUS_PATCH_PATH = "/status/guid"
JSON_PATCH = "application/json-patch+json"

TOKEN_LIFETIME = dt.timedelta(hours=1)  # when the answer names no expiry
RENEW_BEFORE = dt.timedelta(minutes=5)
PAGE_SIZE = 100  # rowCount on every paged list (the rows list's documented maximum)

# Severa admits 10 requests a second; every worker reserves a slot in one shared bucket first. One slot,
# draining 9 a second: calls leave at least 111 ms apart, below the limit even with network jitter.
REQUESTS_PER_SECOND = 9.0
RETRIES_ON_429 = 3
DEFAULT_RETRY_AFTER = 1.0  # a 429 without Retry-After: Severa's window is one second
MAX_WAIT_ON_429 = 30.0  # longer waits are handed back to the task (RetryableError.retry_after)

# What each call does, as the error messages name it ("Severa refused reading invoices …")
AUTHENTICATING = Text("signing in")
READING_ORGANISATION = Text("reading the organisation")
READING_BUSINESS_UNITS = Text("reading business units")
READING_STATUSES = Text("reading invoice statuses")
READING_INVOICES = Text("reading invoices")


@dataclass(frozen=True, repr=False)  # the base's repr: never the value
class Token(AccessToken):
    """A Severa access token for one API client; renewed ~5 minutes before it ends."""

    scope: str = ""
    service: ClassVar[str] = "Severa"
    renew_before: ClassVar[dt.timedelta] = RENEW_BEFORE


@dataclass(frozen=True)
class InvoicePage:
    """One page of ``GET /v1/invoices`` and the token of the next (None on the last page)."""

    invoices: list[dict]
    next_page_token: str | None


class SeveraRefused(PermanentError):
    """Severa refused a call; ``kind`` is Severa's error type (``InvalidParameter``…), ``message`` its
    own words."""

    def __init__(self, text: Text, *, kind: str = "", message: str = "", **kw):
        super().__init__(text, **kw)
        self.kind = kind
        self.message = message


class SeveraAuthError(SeveraRefused):
    """The client id/secret are wrong, the REST API is off, or a scope is missing: a person has to act
    in Severa (Settings → Integrations → REST API)."""


class SeveraNotFound(SeveraRefused):
    """The invoice, customer… does not exist (or is not visible to this API client)."""


def request_bucket(organisation: str) -> LeakyBucket:
    """Severa's 10 requests a second for one organisation, shared by every worker."""
    return LeakyBucket(f"severa:{organisation}", 1, REQUESTS_PER_SECOND)


def error_detail(body: Any) -> tuple[str, str]:
    """(type, message) of Severa's error body, or of the gateway's ``{statusCode, message}``."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            details = error.get("details") or []
            messages = [str(d.get("message")) for d in details if isinstance(d, dict) and d.get("message")]
            return str(error.get("type") or ""), "; ".join(messages) or str(error.get("message") or "")
        if body.get("message"):
            return "", str(body["message"])
    if isinstance(body, str):
        return "", body[:300]
    return "", ""


def _moment(value: dt.datetime | str | None) -> str | None:
    """A ``changedSince`` value: Severa's own string as it came, a datetime in UTC with a Z."""
    if value is None or isinstance(value, str):
        return value or None
    if value.tzinfo is None:
        raise ValueError("changedSince needs an aware datetime")
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SeveraClient(HttpClient):
    """One Severa organisation through one API client (client id + secret). Signs in on demand, ~5
    minutes before the token ends, and once more when Severa says the token is no longer good."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        organisation: str = "",
        base_url: str | None = None,
        scopes: Iterable[str] = SCOPES,
        token: Token | None = None,
        on_token: Callable[[Token], None] | None = None,
        status_patch_path: str = STATUS_PATCH_PATH,
        timeout: float | None = None,
        bucket: LeakyBucket | None = None,
    ):
        super().__init__(base_url or settings.SEVERA_API_URL, setting="SEVERA_API_URL", timeout=timeout)
        self.client_id = client_id
        self._client_secret = client_secret
        # The rate-limit bucket's key: the organisation (its VAT number or guid) when the caller knows it,
        # else a digest of the client id (never the id itself in Redis keys and logs).
        self.organisation = organisation or hashlib.sha256(client_id.encode()).hexdigest()[:16]
        self.scopes = tuple(scopes)
        self.token = token
        self.on_token = on_token
        self.status_patch_path = status_patch_path
        self._bucket = bucket
        self.session.headers.update({"Accept": "application/json"})

    def __repr__(self) -> str:  # never the secret or the token, even in a traceback
        return f"<SeveraClient organisation {self.organisation} at {self.base_url}>"

    @property
    def token_owner(self) -> str:
        """Whose token this client holds: a digest of (client id, secret, scopes), never the secrets."""
        parts = (self.client_id, self._client_secret or "", ",".join(self.scopes))
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    @property
    def bucket(self) -> LeakyBucket:
        if self._bucket is None:
            self._bucket = request_bucket(self.organisation)
        return self._bucket

    # --- auth ---------------------------------------------------------------------------------------

    def authenticate(self) -> Token:
        """Trade the client id and secret for a token; `on_token` lets the caller keep and share it."""
        body = {
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "scope": ",".join(self.scopes),
        }
        resp, answer, exchange = self._paced(
            "POST", TOKEN_PATH, json_body=body, headers={"client_id": self.client_id}, action=AUTHENTICATING
        )
        exchange.request = {**body, "client_secret": "***"}
        if isinstance(answer, dict):
            exchange.response = {
                k: ("***" if k in ("access_token", "refresh_token") else v) for k, v in answer.items()
            }
        self._check(resp.status_code, answer, exchange, AUTHENTICATING, authenticating=True)
        value = answer.get("access_token") if isinstance(answer, dict) else None
        if not value:
            raise RetryableError(
                Text("Severa answered the sign-in without a token"),
                status=resp.status_code,
                exchange=exchange,
            )
        self.token = Token(value=str(value), expires_at=_expiry(answer), scope=str(answer.get("scope") or ""))
        if self.on_token:
            self.on_token(self.token)
        return self.token

    # --- the calls ----------------------------------------------------------------------------------

    def _paced(self, method: str, path: str, *, action: Text, **kw) -> tuple:
        """One call in the organisation's shared bucket; a 429 fills the bucket for every worker for
        Retry-After (or a second) and the call is tried again, up to RETRIES_ON_429 times."""
        for attempt in range(RETRIES_ON_429 + 1):
            self.bucket.acquire()
            resp, body, exchange = self.send(method, path, **kw)
            if resp.status_code != 429:
                return resp, body, exchange
            wait = parse_retry_after(resp.headers.get("Retry-After"))
            wait = DEFAULT_RETRY_AFTER if wait is None else wait
            self.bucket.penalize(wait)
            if attempt == RETRIES_ON_429 or wait > MAX_WAIT_ON_429:
                break
        _, message = error_detail(body)
        raise RetryableError(
            Text(
                "Severa is too busy for %(action)s (HTTP 429): %(detail)s",
                action=action,
                detail=message or Text("no details"),
            ),
            status=429,
            body=body,
            exchange=exchange,
            retry_after=wait,
        )

    def _call(self, method: str, path: str, action: Text, *, params=None, json_body=None, headers=None):
        """One call with the token (and the ``client_id`` header). A token Severa no longer accepts means
        nothing was done, so signing in again and repeating the call once is safe even for a change."""
        for attempt in (1, 2):
            if self.token is None or (attempt == 1 and not self.token.usable()):
                self.authenticate()
            sent = {
                "Authorization": f"Bearer {self.token.value}",
                "client_id": self.client_id,
                **(headers or {}),
            }
            resp, body, exchange = self._paced(
                method, path, params=params, json_body=json_body, headers=sent, action=action
            )
            if resp.status_code != 401 or attempt == 2:
                break
            self.token = None
        self._check(resp.status_code, body, exchange, action)
        return resp, body, exchange

    def _json(self, method: str, path: str, action: Text, **kw) -> tuple[Any, Any]:
        """(the body with amounts as Decimal, the response)."""
        resp, _, _ = self._call(method, path, action, **kw)
        try:
            return json.loads(resp.content, parse_float=Decimal) if resp.content else None, resp
        except ValueError:
            raise RetryableError(
                Text("Severa answered %(action)s with something that is not JSON", action=action),
                status=resp.status_code,
                exchange=self.last_exchange,
            ) from None

    def _list(self, path: str, action: Text, params: dict | None = None) -> list[dict]:
        """Every row of a ``firstRow``/``rowCount`` list."""
        out: list[dict] = []
        first = 0
        while True:
            page, _ = self._json(
                "GET", path, action, params={**(params or {}), "firstRow": first, "rowCount": PAGE_SIZE}
            )
            rows = self._rows(page, action)
            out.extend(rows)
            if len(rows) < PAGE_SIZE:
                return out
            first += PAGE_SIZE

    def _token_pages(self, path: str, action: Text, params: dict) -> Iterator[tuple[list[dict], str | None]]:
        """Every page of a ``pageToken`` list, following ``NextPageToken``."""
        token = None
        while True:
            query = {**params, "rowCount": PAGE_SIZE}
            if token:
                query["pageToken"] = token
            page, resp = self._json("GET", path, action, params=query)
            token = resp.headers.get("NextPageToken") or None
            yield self._rows(page, action), token
            if not token:
                return

    def _rows(self, page: Any, action: Text) -> list[dict]:
        if page is None:
            return []
        if not isinstance(page, list):
            raise RetryableError(
                Text("Severa answered %(action)s with something that is not a list", action=action),
                exchange=self.last_exchange,
            )
        return [row for row in page if isinstance(row, dict)]

    def _object(self, body: Any, action: Text) -> dict:
        if not isinstance(body, dict):
            raise RetryableError(
                Text("Severa answered %(action)s with something that is not an object", action=action),
                exchange=self.last_exchange,
            )
        return body

    # --- reading ------------------------------------------------------------------------------------

    def organization_details(self) -> dict:
        """``GET /v1/organizationdetails``: name, VAT number, ``activeCompanies[]`` (the companies of an
        organisation hierarchy, each with its root business unit)."""
        body, _ = self._json("GET", "v1/organizationdetails", READING_ORGANISATION)
        return self._object(body, READING_ORGANISATION)

    def business_units(self, *, active: bool | None = True, company_guid: str | None = None) -> list[dict]:
        """Every business unit (``companyGuid``, ``companyBusinessUnitGuid``, ``vatNumber``…)."""
        params: dict[str, Any] = {}
        if active is not None:
            params["active"] = "true" if active else "false"
        if company_guid:
            params["companyGuid"] = company_guid
        return self._list("v1/businessunits", READING_BUSINESS_UNITS, params)

    def invoice_statuses(self, *, active: bool | None = None) -> list[dict]:
        """Every invoice status (``guid``, ``name``, ``isSent``…)."""
        params = {} if active is None else {"active": "true" if active else "false"}
        return self._list("v1/invoicestatuses", READING_STATUSES, params)

    def invoice_page(
        self,
        *,
        status_guids: Iterable[str] = (),
        changed_since: dt.datetime | str | None = None,
        page_token: str | None = None,
        row_count: int = PAGE_SIZE,
    ) -> InvoicePage:
        """One page of invoices in the given statuses changed since a moment (≥)."""
        params: dict[str, Any] = {"invoiceStatusGuids": list(status_guids), "rowCount": row_count}
        since = _moment(changed_since)
        if since:
            params["changedSince"] = since
        if page_token:
            params["pageToken"] = page_token
        body, resp = self._json("GET", "v1/invoices", READING_INVOICES, params=params)
        return InvoicePage(self._rows(body, READING_INVOICES), resp.headers.get("NextPageToken") or None)

    def invoices(
        self, *, status_guids: Iterable[str] = (), changed_since: dt.datetime | str | None = None
    ) -> Iterator[dict]:
        """Every invoice in the given statuses changed since a moment, page after page."""
        params: dict[str, Any] = {"invoiceStatusGuids": list(status_guids)}
        since = _moment(changed_since)
        if since:
            params["changedSince"] = since
        for rows, _ in self._token_pages("v1/invoices", READING_INVOICES, params):
            yield from rows

    def invoice(self, guid: str) -> dict:
        action = Text("reading invoice %(guid)s", guid=guid)
        body, _ = self._json("GET", f"v1/invoices/{guid}", action)
        return self._object(body, action)

    def invoice_rows(self, guid: str) -> list[dict]:
        """Every row of an invoice (no row totals: line net = quantity × unit price)."""
        action = Text("reading the rows of invoice %(guid)s", guid=guid)
        return [
            row
            for rows, _ in self._token_pages(f"v1/invoices/{guid}/invoicerows", action, {})
            for row in rows
        ]

    def invoice_settings(self, guid: str) -> dict:
        """``isReverseCharged``, ``reverseChargeDescription``…"""
        action = Text("reading the invoice settings of invoice %(guid)s", guid=guid)
        body, _ = self._json("GET", f"v1/invoices/{guid}/invoicesettings", action)
        return self._object(body, action)

    def invoice_pdf(self, guid: str, *, invoice_type: str = "Invoice", options: str = "All") -> bytes:
        """The invoice as Severa prints it (scope files:read)."""
        action = Text("reading the PDF of invoice %(guid)s", guid=guid)
        params = {"invoiceType": invoice_type, "pdfGetOptions": options}
        resp, _, exchange = self._call("GET", f"v1/invoices/{guid}/pdf", action, params=params)
        exchange.response = (
            f"<{len(resp.content)} bytes of {resp.headers.get('Content-Type', 'unknown type')}>"
        )
        if not resp.content.startswith(b"%PDF"):
            raise RetryableError(
                Text("Severa answered %(action)s with something that is not a PDF", action=action),
                status=resp.status_code,
                exchange=exchange,
            )
        return resp.content

    def customer(self, guid: str) -> dict:
        """Name, VAT number, e-mail, ``eInvoiceAddress`` and ``eInvoiceOperator``…"""
        action = Text("reading customer %(guid)s", guid=guid)
        body, _ = self._json("GET", f"v1/customers/{guid}", action)
        return self._object(body, action)

    def customer_country_settings(self, guid: str) -> list[dict]:
        """Tax-free sales per country and their EN 16931 zero-VAT category."""
        action = Text("reading the country settings of customer %(guid)s", guid=guid)
        body, _ = self._json("GET", f"v1/customers/{guid}/customercountrysettings", action)
        return self._rows(body, action)

    # --- writing ------------------------------------------------------------------------------------

    def set_invoice_status(self, guid: str, status_guid: str) -> dict:
        """Move an invoice to another status by JSON Patch; returns the invoice as Severa now has it."""
        action = Text("changing the status of invoice %(guid)s", guid=guid)
        patch = [{"op": "replace", "path": self.status_patch_path, "value": status_guid}]
        body, _ = self._json(
            "PATCH", f"v1/invoices/{guid}", action, json_body=patch, headers={"Content-Type": JSON_PATCH}
        )
        if isinstance(body, list) and len(body) == 1:
            body = body[0]
        return self._object(body, action)

    # --- errors -------------------------------------------------------------------------------------

    def _check(self, status: int, body: Any, exchange, action: Text, *, authenticating: bool = False) -> None:
        if status < 400:
            return
        kind, message = error_detail(body)
        detail = ": ".join(part for part in (kind, message) if part) or Text("no details")
        kw = {"status": status, "body": body, "exchange": exchange}
        facts = {"action": action, "status": status, "detail": detail}
        if status >= 500:
            raise RetryableError(
                Text("Severa failed on %(action)s (HTTP %(status)s): %(detail)s", **facts), **kw
            )
        refused = {"kind": kind, "message": message, **kw}
        if authenticating and status in (400, 401, 403):
            raise SeveraAuthError(
                Text(
                    "Severa refused the sign-in (%(detail)s): check the client id and secret under "
                    "Settings → Integrations → REST API in Severa, and that the API client has the scopes "
                    "%(scopes)s",
                    detail=detail,
                    scopes=", ".join(self.scopes),
                ),
                **refused,
            )
        if status == 401:
            raise RetryableError(
                Text("Severa refused a freshly issued token (%(detail)s)", detail=detail), **kw
            )
        if status == 403:
            raise SeveraAuthError(
                Text(
                    "Severa refused %(action)s (%(detail)s): the API client lacks a scope or a permission; "
                    "check it under Settings → Integrations → REST API in Severa",
                    action=action,
                    detail=detail,
                ),
                **refused,
            )
        if status == 404:
            raise SeveraNotFound(
                Text("Severa did not find what %(action)s needs (%(detail)s)", action=action, detail=detail),
                **refused,
            )
        raise SeveraRefused(
            Text("Severa refused %(action)s (HTTP %(status)s): %(detail)s", **facts), **refused
        )


def _expiry(answer: dict) -> dt.datetime:
    text = str(answer.get("access_token_expires_utc") or "").strip()
    if text:
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        except ValueError:
            pass
    seconds = answer.get("access_token_expires_in")
    try:
        return timezone.now() + dt.timedelta(seconds=float(seconds))
    except (TypeError, ValueError):
        return timezone.now() + TOKEN_LIFETIME
