"""MISA meInvoice integration API over HTTP: token auth, MISA's envelopes, errors → typed exceptions.

No database, no business rules: `services.py` decides what to publish, stores the token (encrypted) through
`on_token`, and — because a timeout is not a failure — looks RefIDs up before it resends anything.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.utils import timezone

from connectors.envelope import json_inside, mask_data, pick
from connectors.http import HttpClient, PermanentError, RetryableError, parse_retry_after
from connectors.text import Text

TOKEN_LIFETIME = dt.timedelta(days=14)
RENEW_BEFORE = dt.timedelta(days=1)  # a token that dies during a long batch is worse than one more login
MAX_PAGE = 100  # invoice/paging refuses a larger Take

TOKEN_CODES = frozenset({"TokenExpiredCode", "InvalidTokenCode"})
CREDENTIAL_CODES = frozenset({"UnAuthorize", "InvalidAppID"})
# On a business call (not the login) UnAuthorize means the token went stale: log in again once and repeat.
STALE_TOKEN_CODE = "UnAuthorize"  # noqa: S105 (an error code, not a secret)
TOO_MANY_CODE = "InvoiceQuantityTooLarge"  # the batch is too large or too heavy: send it in smaller parts
VN_TZ = dt.timezone(dt.timedelta(hours=7))
CASH_REGISTER_SIGN_TYPE = 5  # MISA's SignType for series generated from cash registers (5th character M)
HSM_SIGN_TYPE = 2
# MISA's own spellings. Both mean "numbering was busy, nothing was issued": the same call can succeed later.
RETRYABLE_CODES = frozenset({"InvoiceNumberNotCotinuous", "InvoiceDuplicated"})
DUPLICATE_CODE = "DuplicateInvoiceRefID"
LICENSE_PROBLEMS = {  # completes "The meInvoice licence of MST … "
    "LicenseInfo_NotBuy": Text("has not been bought or activated yet: buy or activate one in meInvoice"),
    "LicenseInfo_OutOfInvoice": Text("has no invoices left: buy more invoices in meInvoice"),
    "LicenseInfo_Expired": Text("has expired: renew it in meInvoice"),
}
# What each call does, as the error messages name it ("meInvoice refused publishing invoices for MST …")
LOGGING_IN = Text("logging in")
READING_TEMPLATES = Text("reading the invoice templates")
LOOKING_UP = Text("looking invoices up")
LISTING = Text("listing invoices")
PREVIEWING = Text("previewing an invoice")
PUBLISHING = Text("publishing invoices")


@dataclass(frozen=True)
class Token:
    """A meInvoice bearer token. It lives 14 days; we renew it a day early."""

    value: str
    expires_at: dt.datetime

    @classmethod
    def issued_now(cls, value: str) -> "Token":
        return cls(value=value, expires_at=timezone.now() + TOKEN_LIFETIME)

    def usable(self, now: dt.datetime | None = None) -> bool:
        return bool(self.value) and (now or timezone.now()) < self.expires_at - RENEW_BEFORE


@dataclass(frozen=True)
class PublishResult:
    """One invoice's outcome: on the publish API each invoice succeeds or fails on its own."""

    ref_id: str
    ok: bool
    transaction_id: str
    inv_no: str
    inv_series: str
    inv_code: str
    inv_date: str
    error_code: str
    description: str

    @property
    def duplicate(self) -> bool:
        """MISA already issued this RefID: look it up by RefID and take its number from there."""
        return self.error_code == DUPLICATE_CODE

    @property
    def retryable(self) -> bool:
        return self.error_code in RETRYABLE_CODES


class QuantityTooLarge(PermanentError):
    """meInvoice refused a whole publish call as too large (nothing was issued): send fewer at a time.
    ``description`` keeps meInvoice's own words."""

    def __init__(self, message, *, description: str = "", **kw):
        super().__init__(message, **kw)
        self.description = description


@dataclass(frozen=True)
class Page:
    """One page of ``invoice/paging``: its rows and how many invoices the whole range holds."""

    rows: list[dict]
    total: int


@dataclass(frozen=True)
class Envelope:
    """MISA's answer with the casing and the JSON-inside-JSON taken off."""

    status: int
    success: bool | None
    data: Any
    error_code: str
    description: str
    publish_result: Any
    body: Any
    exchange: Any = None


def envelope(body: Any, status: int = 200, exchange=None) -> Envelope:
    """Keys come PascalCase or camelCase; `Data` and `publishInvoiceResult` are often JSON strings."""
    errors = pick(body, "Errors")
    errors = errors if isinstance(errors, list) else [errors] if errors else []
    code = pick(body, "ErrorCode") or next((e for e in errors if isinstance(e, str) and e), "")
    description = pick(body, "descriptionErrorCode") or "; ".join(str(e) for e in errors if e)
    return Envelope(
        status=status,
        success=pick(body, "Success"),
        data=body if isinstance(body, list) else json_inside(pick(body, "Data")),
        error_code=str(code),
        description=str(description),
        publish_result=json_inside(pick(body, "publishInvoiceResult")),
        body=body,
        exchange=exchange,
    )


class MeInvoiceClient(HttpClient):
    """One seller (MST) on meInvoice. Logs in on demand and once more when MISA says the token expired."""

    MAX_BATCH = 50

    def __init__(
        self,
        *,
        tax_code: str,
        app_id: str,
        username: str,
        password: str,
        base_url: str | None = None,
        token: Token | None = None,
        on_token: Callable[[Token], None] | None = None,
        timeout: float | None = None,
    ):
        super().__init__(base_url or settings.MEINVOICE_API_URL, setting="MEINVOICE_API_URL", timeout=timeout)
        self.tax_code = tax_code
        self._app_id = app_id
        self._username = username
        self._password = password
        self.token = token
        self.on_token = on_token
        self.session.headers.update({"Accept": "application/json"})

    def __repr__(self) -> str:  # never the credentials, even in a traceback
        return f"<MeInvoiceClient MST {self.tax_code} at {self.base_url}>"

    # --- auth ---------------------------------------------------------------------------------------

    def login(self) -> Token:
        """Trade the account's credentials for a 14-day token; `on_token` lets the caller keep it."""
        body = {
            "appid": self._app_id,
            "taxcode": self.tax_code,
            "username": self._username,
            "password": self._password,
        }
        resp, answer, exchange = self.send("POST", "auth/token", json_body=body)
        # The request is redacted by key (appid, password); the token sits under "Data", so mask it here.
        exchange.response = mask_data(answer)
        env = replace(envelope(answer, resp.status_code, exchange), body=exchange.response)
        self._check(env, LOGGING_IN, login=True)
        if not isinstance(env.data, str) or not env.data:
            raise RetryableError(
                Text("meInvoice answered the login for MST %(mst)s without a token", mst=self.tax_code),
                status=env.status,
                exchange=exchange,
            )
        self.token = Token.issued_now(env.data)
        if self.on_token:
            self.on_token(self.token)
        return self.token

    def _call(self, method: str, path: str, action: Text, *, params=None, json_body=None, check=True):
        """One authenticated call. A token MISA no longer accepts means nothing was done, so logging in
        again and repeating the call once is safe even for a publish."""
        for attempt in (1, 2):
            if self.token is None or not self.token.usable():
                self.login()
            headers = {"Authorization": f"Bearer {self.token.value}", "CompanyTaxCode": self.tax_code}
            resp, body, exchange = self.send(
                method, path, params=params, json_body=json_body, headers=headers
            )
            env = envelope(body, resp.status_code, exchange)
            if not _token_refused(env, business=True):
                break
            if attempt == 1:
                self.token = None
        if check:
            self._check(env, action)
        return env

    # --- reading ------------------------------------------------------------------------------------

    def templates(self, *, with_code: bool | None = None) -> list[dict]:
        """The account's invoice series. None asks for both kinds (with and without a tax-authority code)."""
        kinds = [True, False] if with_code is None else [with_code]
        rows, seen = [], set()
        for kind in kinds:
            params = {"invoiceWithCode": _bool(kind), "ticket": "false"}
            env = self._call("GET", "invoice/templates", READING_TEMPLATES, params=params)
            for row in _rows(env, READING_TEMPLATES, self.tax_code):
                key = pick(row, "IPTemplateID")
                if key is not None and key in seen:
                    continue
                seen.add(key)
                rows.append(row)
        return rows

    def status(
        self, ids: list[str], *, by: str = "ref_id", with_code: bool = True, calcu: bool = False
    ) -> list[dict]:
        """Invoices by RefID (`by="ref_id"`) or lookup code (`by="transaction_id"`), 50 per call.
        Ids MISA does not know are simply absent from the answer — that is how "never issued" looks.
        `calcu` asks about invoices of cash-register series (``invoiceCalcu=true``).

        Rows come back normalised (`normal_row`): ``InvSeries`` in its 7-character form, ``InvDate`` even
        when MISA gave only ``PublishedTime``, and — asked by RefID — ``RefID`` spelled as we asked it
        (MISA has been seen echoing RefIDs upper-case)."""
        input_type = {"ref_id": 2, "transaction_id": 1}.get(by)
        if input_type is None:
            raise ValueError(f"status() looks invoices up by 'ref_id' or 'transaction_id', not {by!r}")
        ids = list(dict.fromkeys(str(i) for i in ids if i))
        params = {"invoiceWithCode": _bool(with_code), "invoiceCalcu": _bool(calcu), "inputType": input_type}
        ours = {i.casefold(): i for i in ids} if by == "ref_id" else {}
        rows = []
        for start in range(0, len(ids), self.MAX_BATCH):
            batch = ids[start : start + self.MAX_BATCH]
            env = self._call("POST", "invoice/status", LOOKING_UP, params=params, json_body=batch)
            for row in _rows(env, LOOKING_UP, self.tax_code):
                row = normal_row(row)
                asked = ours.get(_text(pick(row, "RefID")).casefold())
                if asked is not None:
                    row["RefID"] = asked
                rows.append(row)
        return rows

    def paging(self, *, from_date: dt.date, to_date: dt.date, skip: int = 0, take: int = 100) -> Page:
        """One page of the invoices issued between two dates (inclusive). MISA answers
        ``{PageData, TotalCount}``; a bare list (older answers) counts as the whole range."""
        if not 0 < take <= MAX_PAGE:
            raise ValueError(f"meInvoice pages hold 1 to {MAX_PAGE} invoices, not {take}")
        body = {
            "FromDate": from_date.strftime("%Y%m%d"),
            "ToDate": to_date.strftime("%Y%m%d"),
            "Skip": skip,
            "Take": take,
        }
        env = self._call("POST", "invoice/paging", LISTING, json_body=body)
        rows = [normal_row(row) for row in _rows(env, LISTING, self.tax_code)]
        total = pick(env.data, "TotalCount") if isinstance(env.data, dict) else None
        try:
            total = int(total)
        except (TypeError, ValueError):
            total = skip + len(rows)
        return Page(rows=rows, total=total)

    def invoices_between(self, from_date: dt.date, to_date: dt.date, *, take: int = MAX_PAGE) -> list[dict]:
        """Every invoice issued between two dates, paged through MISA's ``TotalCount``."""
        rows: list[dict] = []
        while True:
            page = self.paging(from_date=from_date, to_date=to_date, skip=len(rows), take=take)
            rows.extend(page.rows)
            if not page.rows or len(rows) >= page.total:
                return rows

    def unpublish_view(self, invoice: dict) -> str:
        """A link (valid about 5 minutes) to see a draft as MISA would render it; nothing is issued."""
        env = self._call("POST", "invoice/unpublishview", PREVIEWING, json_body=invoice)
        if not isinstance(env.data, str) or not env.data:
            raise RetryableError(
                Text("meInvoice answered the preview for MST %(mst)s without a link", mst=self.tax_code),
                status=env.status,
                body=env.body,
                exchange=env.exchange,
            )
        return env.data

    # --- issuing ------------------------------------------------------------------------------------

    def publish(self, invoices: list[dict], *, sign_type: int | None = None) -> list[PublishResult]:
        """Issue and sign up to 50 invoices; one result per invoice, in input order. The SignType follows
        the series (`sign_type_for`): 2 (MISA's HSM), 5 for a cash-register series.

        Never retried here: a timeout or 5xx raises RetryableError and the invoices may or may not exist —
        the caller must look the RefIDs up before sending them again. A call MISA finds too large raises
        QuantityTooLarge (nothing was issued): the caller sends fewer at a time.
        """
        if len(invoices) > self.MAX_BATCH:
            raise ValueError(
                f"meInvoice publishes at most {self.MAX_BATCH} invoices per call, not {len(invoices)}"
            )
        refs = [str(pick(inv, "RefID") or "") for inv in invoices]
        if not all(refs):
            raise ValueError("every invoice needs a RefID: it is meInvoice's duplicate check")
        if len(set(refs)) != len(refs):
            raise ValueError("the same RefID appears twice in one publish call")
        if not invoices:
            return []
        if sign_type is None:
            kinds = {sign_type_for(str(pick(inv, "InvSeries") or "")) for inv in invoices}
            if len(kinds) > 1:
                raise ValueError("cash-register and other series are published in separate calls")
            sign_type = kinds.pop()
        body = {"SignType": sign_type, "InvoiceData": invoices, "PublishInvoiceData": None}
        env = self._call("POST", "invoice", PUBLISHING, json_body=body, check=False)
        if env.status == 429 or env.status >= 500:
            self._check(env, PUBLISHING)
        if env.error_code == TOO_MANY_CODE:
            raise QuantityTooLarge(
                Text(
                    "meInvoice found %(count)s invoice(s) too large for one publish call for MST %(mst)s: "
                    "%(detail)s",
                    count=len(invoices),
                    mst=self.tax_code,
                    detail=env.description or TOO_MANY_CODE,
                ),
                description=env.description,
                status=env.status,
                body=env.body,
                exchange=env.exchange,
            )
        items = env.publish_result
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list) or not items:
            if env.error_code == DUPLICATE_CODE and len(refs) == 1:
                return [_result({"RefID": refs[0]}, env.error_code, env.description)]
            self._check(env, PUBLISHING)
            # A 200 that names no invoice: their outcome is unknown, which is what RetryableError says.
            raise RetryableError(
                Text(
                    "meInvoice answered the publish for MST %(mst)s without per-invoice results: look the "
                    "RefIDs up before sending them again",
                    mst=self.tax_code,
                ),
                status=env.status,
                body=env.body,
                exchange=env.exchange,
            )
        by_ref = {}
        ours = {ref.casefold(): ref for ref in refs}  # MISA may echo a RefID in another case
        for position, item in enumerate(items):
            ref = _text(pick(item, "RefID")) or (refs[position] if len(items) == len(refs) else "")
            ref = ours.get(ref.casefold(), ref)
            by_ref[ref] = _result({**item, "RefID": ref})
        missing = [ref for ref in refs if ref not in by_ref]
        if missing:
            raise RetryableError(
                Text(
                    "meInvoice's publish answer for MST %(mst)s does not mention RefID(s) %(refs)s: look "
                    "them up before sending them again",
                    mst=self.tax_code,
                    refs=", ".join(missing),
                ),
                status=env.status,
                body=env.body,
                exchange=env.exchange,
            )
        return [by_ref[ref] for ref in refs]

    # --- errors -------------------------------------------------------------------------------------

    def _check(self, env: Envelope, action: Text, *, login: bool = False) -> None:
        """Raise the typed error an answer means; return quietly when it is a success. meInvoice's own
        code and description are kept as they are, inside a sentence the reader's language renders."""
        mst, code, exchange = self.tax_code, env.error_code, env.exchange
        detail = ": ".join(part for part in (code, env.description) if part) or Text("no details")
        kw = {"status": env.status, "body": env.body, "exchange": exchange}
        facts = {"action": action, "mst": mst, "detail": detail, "status": env.status}
        if env.status == 429 or env.status >= 500:
            retry_after = parse_retry_after(exchange.headers.get("Retry-After")) if exchange else None
            if env.status == 429:
                busy = Text(
                    "meInvoice is too busy for %(action)s for MST %(mst)s (HTTP %(status)s): %(detail)s",
                    **facts,
                )
            else:
                busy = Text(
                    "meInvoice failed on %(action)s for MST %(mst)s (HTTP %(status)s): %(detail)s", **facts
                )
            raise RetryableError(busy, retry_after=retry_after, **kw)
        # An explicit Success:true wins; without the flag an error code (or a 4xx) is what says "refused".
        failed = env.status >= 400 or env.success is False or (env.success is not True and bool(code))
        if not failed:
            # A page from a proxy or a bad deploy on their side, not something a person can fix.
            if not isinstance(env.body, dict | list):
                raise RetryableError(
                    Text(
                        "meInvoice answered %(action)s for MST %(mst)s with something that is not its "
                        "envelope: %(body)s",
                        action=action,
                        mst=mst,
                        body=str(env.body)[:200],
                    ),
                    **kw,
                )
            return
        if (login and (code in CREDENTIAL_CODES or env.status == 401)) or (
            not login and code in CREDENTIAL_CODES - {STALE_TOKEN_CODE}
        ):
            raise PermanentError(
                Text(
                    "meInvoice refused the credentials for MST %(mst)s: check the app ID, user name and "
                    "password of this account",
                    mst=mst,
                ),
                **kw,
            )
        if code in LICENSE_PROBLEMS:
            raise PermanentError(
                Text(
                    "The meInvoice licence of MST %(mst)s %(problem)s (%(code)s)",
                    mst=mst,
                    problem=LICENSE_PROBLEMS[code],
                    code=code,
                ),
                **kw,
            )
        if _token_refused(env, business=not login):
            raise RetryableError(
                Text(
                    "meInvoice refused a freshly issued token for MST %(mst)s (%(detail)s)",
                    mst=mst,
                    detail=detail,
                ),
                **kw,
            )
        if code in RETRYABLE_CODES:
            raise RetryableError(
                Text("meInvoice could not finish %(action)s for MST %(mst)s yet: %(detail)s", **facts), **kw
            )
        if env.status >= 400:
            raise PermanentError(
                Text("meInvoice refused %(action)s for MST %(mst)s (HTTP %(status)s): %(detail)s", **facts),
                **kw,
            )
        raise PermanentError(Text("meInvoice refused %(action)s for MST %(mst)s: %(detail)s", **facts), **kw)


# --- helpers -----------------------------------------------------------------------------------------


def _token_refused(env: Envelope, *, business: bool = False) -> bool:
    """The token is no longer accepted. On a business call MISA may say so with UnAuthorize (a stale
    token); only the login itself refusing the credentials is a credential error."""
    if business and env.error_code == STALE_TOKEN_CODE:
        return True
    return env.error_code in TOKEN_CODES or (env.status == 401 and env.error_code not in CREDENTIAL_CODES)


def is_cash_register(series: str) -> bool:
    """A series generated from cash registers (Decree 70): its 5th character is ``M`` (``1C25MYY``)."""
    return len(series) == 7 and series[4:5].upper() == "M"


def sign_type_for(series: str) -> int:
    """The SignType MISA expects for a series: 5 for cash-register series, 2 (HSM) otherwise."""
    return CASH_REGISTER_SIGN_TYPE if is_cash_register(series) else HSM_SIGN_TYPE


def full_series(row: Any) -> str:
    """The 7-character series (``1C25TAA``) of a row that may carry it split: ``InvTemplateNo`` (or
    ``InvTempl``) ``"1"`` + a 6-character ``InvSeries`` (``C25TAA``). '' when the row names none."""
    series = _text(pick(row, "InvSeries")).strip().upper()
    if len(series) == 6:
        template = _text(pick(row, "InvTemplateNo", "InvTempl", "TemplateNo")).strip()
        if len(template) == 1:
            return template + series
    return series


def inv_date(row: Any) -> str:
    """The invoice's date (``yyyy-MM-dd``): ``InvDate`` when MISA gives it, otherwise the day of
    ``PublishedTime`` in Vietnam; '' when the row has neither."""
    text = _text(pick(row, "InvDate")).strip()
    if text:
        return text[:10]
    published = _text(pick(row, "PublishedTime")).strip()
    if not published:
        return ""
    try:
        moment = dt.datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return published[:10] if len(published) >= 10 and published[4:5] == "-" else ""
    if moment.tzinfo is None:  # MISA's clock is Vietnam's
        return moment.date().isoformat()
    return moment.astimezone(VN_TZ).date().isoformat()


def normal_row(row: dict) -> dict:
    """A status or paging row with ``InvSeries`` in its 7-character form and ``InvDate`` filled from
    ``PublishedTime`` when missing; the other keys as MISA sent them."""
    row = dict(row)
    series = full_series(row)
    if series:
        row["InvSeries"] = series
    day = inv_date(row)
    if day and not _text(pick(row, "InvDate")):
        row["InvDate"] = day
    return row


def _rows(env: Envelope, action: Text, mst: str) -> list[dict]:
    data = env.data
    if data is None:
        return []
    if isinstance(data, dict):  # some answers wrap the list once more; paging: {PageData, TotalCount}
        wrapped = pick(data, "PageData", "Data", "Items", "Invoices")
        data = [] if wrapped is None and pick(data, "TotalCount") is not None else wrapped
    if not isinstance(data, list):
        raise RetryableError(
            Text(
                "meInvoice answered %(action)s for MST %(mst)s with data that is not a list: %(data)s",
                action=action,
                mst=mst,
                data=str(env.data)[:200],
            ),
            status=env.status,
            body=env.body,
            exchange=env.exchange,
        )
    return [row for row in data if isinstance(row, dict)]


def _result(item: dict, error_code: str = "", description: str = "") -> PublishResult:
    code = error_code or _text(pick(item, "ErrorCode"))
    return PublishResult(
        ref_id=_text(pick(item, "RefID")),
        ok=not code,
        transaction_id=_text(pick(item, "TransactionID")),
        inv_no=_text(pick(item, "InvNo")),
        inv_series=full_series(item),
        inv_code=_text(pick(item, "InvCode", "InvoiceCode")),
        inv_date=inv_date(item),
        error_code=code,
        description=description
        or _text(pick(item, "DescriptionErrorCode", "ErrorDescription", "Description", "ErrorMessage")),
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _bool(value: bool) -> str:
    return "true" if value else "false"
