"""Maventa AutoXChange (AX) REST API over HTTP: the OAuth token, registration of users and companies, the
vendor link, the authentication (KYC) request, company settings, sending an invoice, reading it back and
looking a receiver up. Errors become typed exceptions with Maventa's own words kept as they are.

No database, no business rules: `services` decide what to send, keep each account's keys (encrypted) and the
token through `on_token`, and — because a timeout is not a failure — ask Maventa by our own invoice `uuid`
(`find_invoice`) before any resend.

Facts from the shared reference `maventa-severa.md` §2 (read from Maventa's published Swagger spec through
public clients, and from Maventa's documentation). Readings chosen where it is silent or unsure:

- **Scopes**: the token asks for ``company:read company:write invoice:send invoice:receive lookup`` — what
  the calls here need, spelt out rather than the wide ``eui`` bundle (no scope at all means ``global
  company``, which lacks ``invoice:send``).
- **A repeated uuid**: Maventa documents that a send repeated with the same uuid tells "it already exists",
  not with which answer. So a send that Maventa refuses with a 4xx (other than 401 and 429) is checked once
  by ``GET /v1/invoices/{uuid}``: found, the earlier invoice is returned (``repeated=True``); not found,
  Maventa's refusal is raised.
- **Invoice by our uuid**: ``GET /v1/invoices/{uuid}`` (Maventa keeps the uuid given as the invoice's id).
- **Partial settings PATCH**: the spec marks ``details``, ``address`` and ``invoice_notifications``
  required; `set_send_error_emails` therefore sends those three as read just before, with the change.
- **Vendor link** (``POST /v1/company/vendors``): no body; the vendor is the one whose key is in the token.
- **BID taken**: Maventa's words "BID ALREADY TAKEN" (any casing, in its code, message or details) on
  company creation.
"""

import datetime as dt
import email.utils
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from django.conf import settings
from django.utils import timezone
from urllib3 import encode_multipart_formdata

from connectors.http import HttpClient, NotConfiguredError, PermanentError, RetryableError
from connectors.redaction import redact, redact_text
from connectors.text import Text
from connectors.tokens import AccessToken

TOKEN_PATH = "oauth2/token"  # noqa: S105 (a path, not a secret)
CURRENT_PATH = "oauth2/current"
USERS_PATH = "v1/users"
COMPANIES_PATH = "v1/companies"
VENDORS_PATH = "v1/company/vendors"
AUTHORIZATION_PATH = "v1/company/authorization"
SETTINGS_PATH = "v1/company/settings"
INVOICES_PATH = "v1/invoices"
LIST_PAGE = 100  # per_page's ceiling on GET /v1/invoices
RECEIVERS_PATH = "v1/lookup/receivers"

SCOPE = "company:read company:write invoice:send invoice:receive lookup"
TOKEN_LIFETIME = dt.timedelta(minutes=60)  # when the answer names no expires_in (§2 Token: 60 min)
RENEW_BEFORE = dt.timedelta(minutes=5)

FORMAT = "PEPPOLBIS30"  # PEPPOL BIS Billing 3.0 UBL (Invoice and CreditNote)
ZIP_XML_NAME = "invoice.xml"  # the names inside the sent ZIP, as the reference's client writes them
ZIP_PDF_NAME = "invoice.pdf"
ZIP_FILE_NAME = "invoice.zip"
AUTH_LOCALES = ("FI", "SE", "NO", "EN", "NL")  # the authentication e-mail's language
ROUTES = ("einvoice", "email", "print")  # disabled_routes[]
SEND_LANGS = ("FI", "SE", "NO", "DK", "NL", "EN")
INVOICE_STATES = ("PENDING", "DELIVERED", "FAILED")  # others are kept as they come (PROCESSING?)

AUTH_UNAUTHORIZED = "auth_unauthorized"
# Never logged, never in an exception (besides the shared list: api keys, tokens, client secrets).
SECRET_FIELDS = frozenset({"vendor_api_key", "user_api_key", "client_id", "client_secret", "api_key"})

# What each call does, as the error messages name it ("Maventa refused sending an invoice for …")
GETTING_TOKEN = Text("signing in")
READING_ACCOUNT = Text("reading the account")
CREATING_USER = Text("creating the user")
CREATING_COMPANY = Text("registering the company")
LINKING_VENDOR = Text("linking the account to our service")
REQUESTING_AUTHORIZATION = Text("sending the authentication request")
READING_AUTHORIZATION = Text("reading the authentication status")
READING_SETTINGS = Text("reading the settings")
UPDATING_SETTINGS = Text("saving the settings")
SENDING_INVOICE = Text("sending an invoice")
READING_INVOICE = Text("reading an invoice")
LISTING_SENT = Text("listing the sent invoices")
READING_ACTIONS = Text("reading an invoice's actions")
LOOKING_UP = Text("looking up a receiver")
UNNAMED_ACCOUNT = Text("an unnamed account")
NO_DETAILS = Text("no details")


@dataclass(frozen=True, repr=False)  # the base's repr: never the value
class Token(AccessToken):
    """A Maventa access token for one account (company UUID + user API key + our vendor key)."""

    service: ClassVar[str] = "Maventa"
    renew_before: ClassVar[dt.timedelta] = RENEW_BEFORE


@dataclass(frozen=True)
class AuthorizationStatus:
    """``GET /v1/company/authorization``: where the signing stands (PENDING|SENT|SIGNED|CANCELED|NONE) and
    whether Maventa lets the company send (VERIFIED|UNVERIFIED|UNKNOWN)."""

    auth_state: str
    company_state: str
    auth_email: str

    @property
    def verified(self) -> bool:
        return self.company_state == "VERIFIED"


@dataclass(frozen=True)
class InvoiceAction:
    """One step of a sent invoice's journey: RECEIVED|CREATED|SENT|DELIVERED|INFO|ERROR on a channel."""

    type: str
    channel: str
    message: str
    happened_at: str
    key: str = ""


@dataclass(frozen=True)
class SentInvoice:
    """A sent invoice as Maventa answers it. ``status`` is PENDING, DELIVERED or FAILED (an unknown value is
    kept as it came and counts as pending); ``repeated``: the send found it already created (same uuid)."""

    id: str
    status: str
    number: str = ""
    recipient_eia: str = ""
    recipient_operator: str = ""
    destination: str = ""
    revision: str = ""
    actions: tuple[InvoiceAction, ...] = ()
    repeated: bool = False
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def delivered(self) -> bool:
        return self.status == "DELIVERED"

    @property
    def failed(self) -> bool:
        return self.status == "FAILED"

    @property
    def pending(self) -> bool:
        return not (self.delivered or self.failed)

    @property
    def errors(self) -> list[str]:
        """Maventa's words of each ERROR action, as they came."""
        return [a.message for a in self.actions if a.type == "ERROR" and a.message]


@dataclass(frozen=True)
class Receiver:
    """One answer of the receiver lookup: an e-invoice address (``0216:003723456780``, ``0007:5566778899``)
    on a network, with its operator where Maventa knows it."""

    eia: str
    network: str
    operator: str
    name: str
    bid: str
    country: str
    document_types: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, repr=False, compare=False)


class MaventaError(PermanentError):
    """Maventa refused a call (a 4xx); ``code``, ``message`` and ``details`` keep its own words."""

    def __init__(self, text: Text, *, code: str = "", message: str = "", details=(), **kw):
        super().__init__(text, **kw)
        self.code = code
        self.message = message
        self.details = list(details)


class MaventaUnauthorized(MaventaError):
    """``auth_unauthorized``: the company is not verified yet (its authentication request is not signed), so
    it can neither send nor receive."""


class BidTaken(MaventaError):
    """The business id already has a Maventa company: the person should use "existing account" instead."""


class VendorKeyNotConfigured(NotConfiguredError):
    """`MAVENTA_VENDOR_API_KEY` is empty: nothing is registered, linked or sent."""

    def __init__(self, **kw):
        PermanentError.__init__(
            self,
            Text(
                "%(setting)s is not set. Set the environment variable %(setting)s to the vendor API key "
                "Maventa issued for this product and restart the web app and the workers.",
                setting="MAVENTA_VENDOR_API_KEY",
            ),
            **kw,
        )
        self.setting = "MAVENTA_VENDOR_API_KEY"


def send_zip(xml: bytes, pdf: bytes | None = None) -> bytes:
    """The file to send: a ZIP holding ``invoice.xml`` (the UBL) and, when given, ``invoice.pdf`` (the
    original invoice image). The same input gives the same bytes (fixed timestamps, fixed order)."""
    if not xml:
        raise ValueError("the invoice XML is empty")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in ((ZIP_XML_NAME, xml), (ZIP_PDF_NAME, pdf)):
            if content is None:
                continue
            if not content:
                raise ValueError(f"{name} is empty")
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` in seconds, or as an HTTP date; None when absent or unreadable."""
    if value in (None, ""):
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0.0, (moment - (now or timezone.now())).total_seconds())


class MaventaClient(HttpClient):
    """One Maventa account (company UUID + user API key) for our vendor key. The token is asked for on
    demand, renewed 5 minutes before it ends, and once more when Maventa answers 401 to a token that was
    not issued for this very call. `label` names the account in messages (the organisation's VAT number):
    the company UUID and every key stay out of messages, logs and ``repr``.

    `create_user` and `create_company` need no account: a client with empty keys can register one."""

    def __init__(
        self,
        *,
        company_uuid: str = "",
        user_api_key: str = "",
        label: str = "",
        vendor_api_key: str | None = None,
        base_url: str | None = None,
        scope: str = SCOPE,
        token: Token | None = None,
        on_token: Callable[[Token], None] | None = None,
        timeout: float | None = None,
    ):
        super().__init__(base_url or settings.MAVENTA_API_URL, setting="MAVENTA_API_URL", timeout=timeout)
        self._company_uuid = company_uuid
        self._user_api_key = user_api_key
        self._vendor_api_key = settings.MAVENTA_VENDOR_API_KEY if vendor_api_key is None else vendor_api_key
        self.label = label
        self.scope = scope
        self.token = token
        self.on_token = on_token
        self.session.headers.update({"Accept": "application/json"})

    def __repr__(self) -> str:  # never a key, the company UUID or the token, even in a traceback
        return f"<MaventaClient {self.label or 'account'} at {self.base_url}>"

    @property
    def account(self) -> str | Text:
        return self.label or UNNAMED_ACCOUNT

    @property
    def token_owner(self) -> str:
        """A digest of (vendor key, company UUID, user API key), never the secrets: stored next to a shared
        token so a token issued before a person changed the keys is not used again."""
        parts = (self._vendor_api_key or "", self._company_uuid or "", self._user_api_key or "")
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    # --- the token ----------------------------------------------------------------------------------

    def get_token(self) -> Token:
        """Client credentials: client_id = company UUID, client_secret = user API key, with our vendor key."""
        if not (self._company_uuid and self._user_api_key):
            raise ValueError("a Maventa token needs the account's company UUID and user API key")
        form = {
            "grant_type": "client_credentials",
            "client_id": self._company_uuid,
            "client_secret": self._user_api_key,
            "vendor_api_key": self._require_vendor_key(),
            "scope": self.scope,
        }
        answer = self._exchange("POST", TOKEN_PATH, GETTING_TOKEN, form=form)
        value = _text(_get(answer, "access_token"))
        if not value:
            raise RetryableError(
                Text(
                    "Maventa answered %(action)s for %(account)s without a token",
                    action=GETTING_TOKEN,
                    account=self.account,
                ),
                status=self.last_exchange.status,
                body=redact(answer, SECRET_FIELDS),
                exchange=self.last_exchange,
            )
        try:
            lifetime = dt.timedelta(seconds=float(_get(answer, "expires_in")))
        except (TypeError, ValueError):
            lifetime = TOKEN_LIFETIME
        self.token = Token(value=value, expires_at=timezone.now() + lifetime)
        if self.on_token:
            self.on_token(self.token)
        return self.token

    def _authorized(self, method: str, path: str, action: Text, **kw) -> Any:
        """One call with the token; a 401 to a token not issued for this call: a new token, once."""
        fresh = False
        if self.token is None or not self.token.usable():
            self.get_token()
            fresh = True
        try:
            return self._exchange(method, path, action, bearer=self.token.value, **kw)
        except MaventaError as exc:
            if exc.status != 401 or fresh:
                raise
        self.token = None
        self.get_token()
        return self._exchange(method, path, action, bearer=self.token.value, **kw)

    # --- registration -------------------------------------------------------------------------------

    def create_user(self, email: str, *, first_name: str = "", last_name: str = "") -> str | None:
        """``POST /v1/users``: a Maventa user for the person; their user API key, or None when none came
        back — the person already has a Maventa user, finishes in Maventa and pastes both keys."""
        body = {"vendor_api_key": self._require_vendor_key(), "email": email}
        if first_name:
            body["first_name"] = first_name
        if last_name:
            body["last_name"] = last_name
        answer = self._exchange("POST", USERS_PATH, CREATING_USER, json_body=body)
        key = _text(_get(answer, "user_api_key")).strip()
        return key or None

    def create_company(
        self,
        *,
        user_api_key: str,
        name: str,
        bid: str,
        no_vat: bool,
        address1: str,
        post_code: str,
        post_office: str,
        city: str,
        country: str,
        email: str,
        activate_duetto: bool,
        address2: str = "",
        state: str = "",
    ) -> str:
        """``POST /v1/companies`` (multipart form, no token): the company UUID. `activate_duetto` (Maventa's
        collection service, on by default for Finnish companies) is always sent as chosen. A business id
        that already has a company raises BidTaken."""
        fields = [
            ("vendor_api_key", self._require_vendor_key()),
            ("user_api_key", user_api_key),
            ("name", name),
            ("bid", bid),
            ("no_vat", _bool(no_vat)),
            ("address1", address1),
            ("post_code", post_code),
            ("post_office", post_office),
            ("city", city),
            ("country", country),
            ("email", email),
            ("activate_duetto", _bool(activate_duetto)),
        ]
        fields += [(k, v) for k, v in (("address2", address2), ("state", state)) if v]
        try:
            answer = self._exchange("POST", COMPANIES_PATH, CREATING_COMPANY, multipart=fields)
        except MaventaError as exc:
            if _bid_taken(exc):
                raise BidTaken(
                    Text(
                        "Maventa already has a company with the business ID %(bid)s (%(detail)s): use "
                        '"Existing account" and enter that company\'s user API key and company UUID',
                        bid=bid,
                        detail=_detail(exc.body),
                    ),
                    code=exc.code,
                    message=exc.message,
                    details=exc.details,
                    status=exc.status,
                    body=exc.body,
                    exchange=exc.exchange,
                ) from None
            raise
        self.last_exchange.response = redact(answer, SECRET_FIELDS | {"id"})  # the company UUID is a key
        company = _text(_get(answer, "id")).strip()
        if not company:
            raise RetryableError(
                Text("Maventa answered %(action)s without the company's id", action=CREATING_COMPANY),
                status=self.last_exchange.status,
                body=redact(answer, SECRET_FIELDS),
                exchange=self.last_exchange,
            )
        return company

    def current(self) -> dict:
        """``GET /oauth2/current``: the user, the company (``bid``, ``name``, ``vat``…) and the scopes the
        keys give — how entered keys are checked."""
        answer = self._authorized("GET", CURRENT_PATH, READING_ACCOUNT)
        return answer if isinstance(answer, dict) else {}

    def link_vendor(self) -> str:
        """``POST /v1/company/vendors``: an existing account taken into use through us; Maventa's state."""
        answer = self._authorized("POST", VENDORS_PATH, LINKING_VENDOR)
        return _text(_get(answer, "state"))

    def vendor_link(self) -> str:
        """``GET /v1/company/vendors``: the link's state."""
        answer = self._authorized("GET", VENDORS_PATH, LINKING_VENDOR)
        return _text(_get(answer, "state"))

    # --- authentication (KYC) -----------------------------------------------------------------------

    def request_authorization(self, auth_email: str, locale: str, *, options: dict | None = None) -> dict:
        """``POST /v1/company/authorization``: Maventa mails the signatory (the person who may sign for the
        company; Maventa knows them only by `auth_email`) a strong-authentication signing request in
        `locale` (FI, SE, NO, EN or NL). ``{status, count?}`` as Maventa answers it."""
        locale = (locale or "").upper()
        if locale not in AUTH_LOCALES:
            raise ValueError(f"the authentication e-mail's language is one of {', '.join(AUTH_LOCALES)}")
        if not (auth_email or "").strip():
            raise ValueError("the authentication request needs the signatory's e-mail")
        body: dict[str, Any] = {"auth_email": auth_email.strip(), "locale": locale}
        if options:
            body["options"] = json.dumps(options)
        answer = self._authorized("POST", AUTHORIZATION_PATH, REQUESTING_AUTHORIZATION, json_body=body)
        return answer if isinstance(answer, dict) else {}

    def authorization(self) -> AuthorizationStatus:
        """``GET /v1/company/authorization``."""
        answer = self._authorized("GET", AUTHORIZATION_PATH, READING_AUTHORIZATION)
        return AuthorizationStatus(
            auth_state=_text(_get(answer, "auth_state")).upper() or "NONE",
            company_state=_text(_get(answer, "company_state")).upper() or "UNKNOWN",
            auth_email=_text(_get(answer, "auth_email")),
        )

    # --- settings -----------------------------------------------------------------------------------

    def get_settings(self, fields: Iterable[str] = ()) -> dict:
        """``GET /v1/company/settings`` (all of them, or only `fields`: ``send_invoice_email``,
        ``invoice_notifications``…)."""
        params = [("fields[]", name) for name in fields] or None
        answer = self._authorized("GET", SETTINGS_PATH, READING_SETTINGS, params=params)
        return answer if isinstance(answer, dict) else {}

    def update_settings(self, changes: dict) -> None:
        """``PATCH /v1/company/settings`` with `changes` as given (204)."""
        if not changes:
            raise ValueError("no setting to change")
        self._authorized("PATCH", SETTINGS_PATH, UPDATING_SETTINGS, json_body=changes)

    def set_send_error_emails(self, emails: Iterable[str], *, to_user: bool = False) -> None:
        """Who Maventa mails when a sent invoice fails (``invoice_notifications.on_send_errors``). The other
        settings the spec requires on a PATCH are sent back as just read."""
        current = self.get_settings(("invoice_notifications", "details", "address"))
        notifications = dict(current.get("invoice_notifications") or {})
        notifications["on_send_errors"] = {"to_user": bool(to_user), "to_emails": [e for e in emails if e]}
        changes = {name: current[name] for name in ("details", "address") if current.get(name)}
        changes["invoice_notifications"] = notifications
        self.update_settings(changes)

    # --- invoices -----------------------------------------------------------------------------------

    def send_invoice(
        self,
        file: bytes,
        *,
        uuid: str,
        filename: str = ZIP_FILE_NAME,
        format: str = FORMAT,
        recipient_eia: str = "",
        recipient_operator: str = "",
        recipient_email: str = "",
        disabled_routes: Iterable[str] = (),
        lang: str = "",
        sender_comment: str = "",
    ) -> SentInvoice:
        """``POST /v1/invoices`` (multipart): `file` is the UBL XML or a `send_zip`. `uuid` is ours, stored
        by the caller before this call. Never retried here: a timeout or 5xx raises RetryableError and the
        caller asks `find_invoice(uuid)` before sending again. A 4xx is checked against the invoice under
        that uuid (see the module's note on a repeated uuid)."""
        if not uuid:
            raise ValueError("an invoice is sent under our own uuid")
        disabled = list(disabled_routes)
        if unknown := [r for r in disabled if r not in ROUTES]:
            raise ValueError(f"unknown routes {unknown}: Maventa's are {', '.join(ROUTES)}")
        if lang and lang.upper() not in SEND_LANGS:
            raise ValueError(f"the invoice's language is one of {', '.join(SEND_LANGS)}")
        mimetype = "application/zip" if filename.lower().endswith(".zip") else "application/xml"
        fields: list[tuple[str, Any]] = [
            ("file", (filename, file, mimetype)),
            ("format", format),
            ("uuid", uuid),
        ]
        optional = (
            ("recipient_eia", recipient_eia),
            ("recipient_operator", recipient_operator),
            ("recipient_email", recipient_email),
            ("lang", lang.upper()),
            ("sender_comment", sender_comment),
        )
        fields += [(k, v) for k, v in optional if v]
        fields += [("disabled_routes[]", route) for route in disabled]
        try:
            answer = self._authorized("POST", INVOICES_PATH, SENDING_INVOICE, multipart=fields)
        except MaventaError as refused:
            if refused.status == 401:
                raise
            try:
                earlier = self.find_invoice(uuid)
            except MaventaError:  # the question itself refused: the send's refusal is the news
                raise refused from None
            if earlier is None:
                raise
            return replace(earlier, repeated=True)
        return _invoice(answer, SENDING_INVOICE, self)

    def find_invoice(self, uuid: str) -> SentInvoice | None:
        """The invoice sent under our `uuid`, or None when Maventa has none: the question asked before any
        resend."""
        try:
            return self.get_invoice(uuid)
        except MaventaError as exc:
            if exc.status == 404:
                return None
            raise

    def sent_invoices(
        self, *, created_from: dt.datetime, created_to: dt.datetime | None = None
    ) -> Iterator[dict]:
        """``GET /v1/invoices?direction=SENT&created_at_start=…[&created_at_end=…]``: every invoice the
        company sent from then (to then), 100 per page, as Maventa answers them (``direction`` defaults to
        RECEIVED).
        The bounds are whole seconds, the end rounded up: nothing created in its last second is left out."""
        bounds = {"created_at_start": created_from.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if created_to is not None:
            end = created_to.replace(microsecond=0) + dt.timedelta(seconds=1)
            bounds["created_at_end"] = end.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        page = 1
        while True:
            params = {"direction": "SENT", **bounds, "page": page, "per_page": LIST_PAGE}
            rows = self._authorized("GET", INVOICES_PATH, LISTING_SENT, params=params)
            rows = [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []
            yield from rows
            if len(rows) < LIST_PAGE:
                return
            page += 1

    def get_invoice(self, invoice_id: str) -> SentInvoice:
        """``GET /v1/invoices/{id}``: its status (PENDING, DELIVERED, FAILED) and actions."""
        if not invoice_id:
            raise ValueError("which invoice?")
        answer = self._authorized("GET", f"{INVOICES_PATH}/{invoice_id}", READING_INVOICE)
        return _invoice(answer, READING_INVOICE, self)

    def invoice_actions(self, invoice_id: str, *, types: Iterable[str] = ()) -> list[InvoiceAction]:
        """``GET /v1/invoices/{id}/actions``: what happened to it on each channel, oldest first as Maventa
        lists them; `types` narrows (``ERROR``, ``DELIVERED``…)."""
        params = [("type[]", t) for t in types] or None
        answer = self._authorized(
            "GET", f"{INVOICES_PATH}/{invoice_id}/actions", READING_ACTIONS, params=params
        )
        return _actions(answer)

    def lookup_receivers(
        self,
        *,
        bid: str = "",
        eia: str = "",
        country: str = "",
        networks: Iterable[str] = ("PEPPOL",),
    ) -> list[Receiver]:
        """``GET /v1/lookup/receivers``: the e-invoice addresses a business id (or an address) is reachable
        at, on the given networks (PEPPOL, INTERNAL, EXTERNAL)."""
        if not (bid or eia):
            raise ValueError("a receiver is looked up by business id or by e-invoice address")
        params: list[tuple[str, str]] = [("network[]", n) for n in networks]
        params += [(k, v) for k, v in (("bid", bid), ("eia", eia)) if v]
        if country:
            params.append(("country[]", country))
        answer = self._authorized("GET", RECEIVERS_PATH, LOOKING_UP, params=params)
        return [
            _receiver(row) for row in (answer if isinstance(answer, list) else []) if isinstance(row, dict)
        ]

    # --- the wire -----------------------------------------------------------------------------------

    def _require_vendor_key(self) -> str:
        if not (self._vendor_api_key or "").strip():
            raise VendorKeyNotConfigured()
        return self._vendor_api_key

    def _exchange(
        self,
        method: str,
        path: str,
        action: Text,
        *,
        bearer: str = "",
        json_body=None,
        params=None,
        form: dict | None = None,
        multipart: list | None = None,
    ) -> Any:
        """One HTTP call; the answer's body, or the typed error its status means. What the exchange keeps
        for the log (and every exception carries) has every key and token masked and no file's bytes."""
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        data: Any = None
        logged: Any = json_body
        if form is not None:
            data, logged = form, form
        elif multipart is not None:
            data, content_type = encode_multipart_formdata(multipart)
            headers["Content-Type"] = content_type
            logged = {k: _described(v) for k, v in multipart}
        logged = redact(logged, SECRET_FIELDS)
        self.last_exchange = None
        try:
            resp, answer, exchange = self.send(
                method, path, json_body=json_body, params=params, headers=headers or None, data=data
            )
        finally:  # also on a timeout: the exception carries this exchange
            if self.last_exchange is not None:
                self.last_exchange.request = logged
        exchange.response = redact(answer, SECRET_FIELDS)
        self._check(resp.status_code, exchange, action)
        return answer

    def _check(self, status: int, exchange, action: Text) -> None:
        """Maventa's error body ``{code, message, details[]}`` kept verbatim inside a sentence the reader's
        language renders: 429 and 5xx retryable (``Retry-After`` kept), 401 ``auth_unauthorized`` as
        MaventaUnauthorized, any other 4xx a MaventaError."""
        if status < 400:
            return
        body = exchange.response
        detail = _detail(body)
        kw = {"status": status, "body": body, "exchange": exchange}
        facts = {"action": action, "account": self.account, "status": status, "detail": detail}
        if status == 429 or status >= 500:
            if status == 429:
                busy = Text(
                    "Maventa is too busy for %(action)s for %(account)s (HTTP %(status)s): %(detail)s",
                    **facts,
                )
            else:
                busy = Text(
                    "Maventa failed on %(action)s for %(account)s (HTTP %(status)s): %(detail)s", **facts
                )
            retry_after = parse_retry_after(exchange.headers.get("Retry-After"))
            raise RetryableError(busy, retry_after=retry_after, **kw)
        code = _text(_get(body, "code"))
        refused = {"code": code, "message": _text(_get(body, "message")), "details": _details(body), **kw}
        if code == AUTH_UNAUTHORIZED:
            raise MaventaUnauthorized(
                Text(
                    "Maventa refused %(action)s for %(account)s: the company is not verified yet — the "
                    "authentication request must be signed first (%(detail)s)",
                    **facts,
                ),
                **refused,
            )
        raise MaventaError(
            Text("Maventa refused %(action)s for %(account)s (HTTP %(status)s): %(detail)s", **facts),
            **refused,
        )


# --- reading answers ---------------------------------------------------------------------------------


def _invoice(answer: Any, action: Text, client: MaventaClient) -> SentInvoice:
    if not isinstance(answer, dict) or not _text(answer.get("id")):
        raise RetryableError(
            Text(
                "Maventa answered %(action)s for %(account)s without the invoice: %(body)s",
                action=action,
                account=client.account,
                body=redact_text(str(answer))[:200],
            ),
            exchange=client.last_exchange,
            status=client.last_exchange.status if client.last_exchange else None,
        )
    recipient = answer.get("recipient") if isinstance(answer.get("recipient"), dict) else {}
    return SentInvoice(
        id=_text(answer.get("id")),
        status=_text(answer.get("status")).upper(),
        number=_text(answer.get("number")),
        recipient_eia=_text(recipient.get("eia")),
        recipient_operator=_text(recipient.get("operator")),
        destination=_text(answer.get("destination")),
        revision=_text(answer.get("revision")),
        actions=tuple(_actions(answer.get("actions"))),
        raw=answer,
    )


def _actions(rows: Any) -> list[InvoiceAction]:
    return [
        InvoiceAction(
            type=_text(row.get("type")).upper(),
            channel=_text(row.get("channel")).upper(),
            message=_text(row.get("message")),
            happened_at=_text(row.get("happened_at")),
            key=_text(row.get("key")),
        )
        for row in (rows if isinstance(rows, list) else [])
        if isinstance(row, dict)
    ]


def _receiver(row: dict) -> Receiver:
    participant = row.get("participant") if isinstance(row.get("participant"), dict) else {}
    types = row.get("document_types") if isinstance(row.get("document_types"), list) else []
    return Receiver(
        eia=_text(row.get("eia")),
        network=_text(row.get("network")),
        operator=_text(row.get("operator")),
        name=_text(participant.get("name")),
        bid=_text(participant.get("bid")),
        country=_text(participant.get("country")),
        document_types=tuple(_text(t.get("document_type")) for t in types if isinstance(t, dict)),
        raw=row,
    )


def _details(body: Any) -> list[str]:
    raw = _get(body, "details")
    if raw in (None, "", []):
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [item if isinstance(item, str) else json.dumps(item, ensure_ascii=False) for item in items]


def _detail(body: Any) -> str | Text:
    """Maventa's own words for an error: ``code: message (details)``, or the start of a body that is not
    its JSON (a proxy's page), secrets masked."""
    if isinstance(body, dict):
        code, message = _text(body.get("code")), _text(body.get("message") or body.get("error"))
        words = ": ".join(part for part in (code, message) if part)
        if details := _details(body):
            words = f"{words} ({'; '.join(details)})" if words else "; ".join(details)
        if not words:
            words = json.dumps(body, ensure_ascii=False)[:300]
    else:
        words = str(body or "")[:300].strip()
    return redact_text(words) or NO_DETAILS


def _bid_taken(exc: MaventaError) -> bool:
    words = " ".join([exc.code, exc.message, *exc.details]).upper()
    return "TAKEN" in words and "BID" in words


def _described(value: Any) -> Any:
    """A multipart field as the log keeps it: a file by its name and size, never its bytes."""
    if isinstance(value, tuple):
        name, content = value[0], value[1]
        return f"<{name}, {len(content)} bytes>"
    return value


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else None


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _text(value: Any) -> str:
    return "" if value is None else str(value)
