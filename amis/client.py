"""MISA AMIS accounting open API ("actopen") over HTTP: connect, MISA's envelopes, errors → typed exceptions,
and the check of the callbacks AMIS sends back.

No database, no business rules: `services` decide what to post, keep each company's token (encrypted,
shared by every worker) through `on_token`, and — because a timeout is not a failure — resend only under the
same `org_refid` (AMIS treats a repeated `org_refid` as an update of the pending proposal).

Facts from the shared reference `amis.md`: connect and token (§1), one app, many companies (§2), the paths
and limits (§3, §12), the dictionary read (§9), callbacks (§10), error codes (§11).
"""

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from django.conf import settings
from django.utils import timezone

from connectors.envelope import json_inside, mask_data, pick
from connectors.http import (
    HttpClient,
    NotConfiguredError,
    PermanentError,
    RetryableError,
    parse_retry_after,
)
from connectors.ratelimit import LeakyBucket
from connectors.text import Text
from connectors.tokens import AccessToken

CONNECT_PATH = "api/oauth/actopen/connect"
SYNC_PREFIX = "apir/sync/actopen"  # MISA's sample; "/api/sync/actopen" is also seen (§3)

TOKEN_LIFETIME = dt.timedelta(hours=12)  # when connect names no expiry (§1: tokens live 12 h)
RENEW_BEFORE = dt.timedelta(minutes=10)
VN_TZ = dt.timezone(dt.timedelta(hours=7))
TICKS_PER_SECOND = 10_000_000  # .NET DateTime ticks: 100 ns since 0001-01-01 00:00
TICKS_EPOCH = dt.datetime(1, 1, 1)

MAX_VOUCHERS = 100  # per save (and per delete: no limit documented, the save one is assumed)
MAX_LINES = 500  # detail lines per voucher
MAX_DICTIONARY = 200  # items per save_dictionary
MAX_TAKE = 100  # rows per get_dictionary / get_call_back_detail_error page

READ_GAP_SECONDS = 1.2  # a production client's pace for dictionary reads, which answer 429 on bursts (§12)
RETRIES_ON_429 = 3
MAX_WAIT_ON_429 = 60.0  # longer waits are handed back to the task (RetryableError.retry_after)

TOKEN_CODES = frozenset({"ExpiredToken", "InvalidToken", "InvalidAccessToken"})
EXCEPTION_CODE = "Exception"  # "unknown server error" in MISA's table: nothing a person can fix
INVALID_APP_ID = "InvalidAppID"
IS_CREATED_VOUCHER = "IsCreatedVoucher"
VOUCHER_NOT_FOUND = "VoucherNotFound"
INVALID_PARAM = "InvalidParam"
# The company's side is switched off: nothing can be posted until a person acts in AMIS.
DISCONNECTED = {
    "AppIDDisconnect": Text(
        "the company has disconnected our app in AMIS: an AMIS administrator must connect it again under "
        "Settings → Connect applications (Thiết lập → Kết nối ứng dụng), then enter the new access code here"
    ),
    "DBAmisNotConnectDBACT": Text(
        "the company has not connected AMIS to an accounting database: an AMIS administrator must choose the "
        "accounting database for the API connection under Settings → Connect applications (Thiết lập → Kết "
        "nối ứng dụng) and allow receiving data from other software"
    ),
}
# What each call does, as the error messages name it ("AMIS refused saving vouchers for company …")
CONNECTING = Text("connecting")
READING_COMPANY = Text("reading the company information")
READING_DICTIONARY = Text("reading master data")
READING_CALLBACK_ERRORS = Text("reading undelivered callbacks")
READING_BALANCE = Text("reading the stock on hand")
SAVING_VOUCHERS = Text("saving vouchers")
SAVING_DICTIONARY = Text("saving master data")
DELETING_VOUCHERS = Text("deleting vouchers")


@dataclass(frozen=True, repr=False)  # the base's repr: never the value
class Token(AccessToken):
    """An AMIS access token for one (app, company). No refresh token: connect again before it ends."""

    service: ClassVar[str] = "AMIS"
    renew_before: ClassVar[dt.timedelta] = RENEW_BEFORE


def ticks_to_datetime(ticks: int | str, *, tz: dt.tzinfo = VN_TZ) -> dt.datetime:
    """A .NET ``DateTime.Ticks`` value as an aware datetime, read as a wall-clock time in `tz`.

    MISA does not say whether `expired_time_ticks` counts UTC or Vietnam time; read as Vietnam time the
    expiry comes 7 h earlier than read as UTC, so the token is renewed early rather than used too late."""
    ticks = int(ticks)
    if ticks <= 0:
        raise ValueError(f"not a .NET tick count: {ticks}")
    naive = TICKS_EPOCH + dt.timedelta(microseconds=ticks // 10)
    return naive.replace(tzinfo=tz)


def datetime_to_ticks(moment: dt.datetime, *, tz: dt.tzinfo = VN_TZ) -> int:
    """The inverse of `ticks_to_datetime`: the wall-clock time of `moment` in `tz`, in .NET ticks."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz).replace(tzinfo=None)
    delta = moment - TICKS_EPOCH
    return (delta.days * 86_400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10


@dataclass(frozen=True)
class Envelope:
    """AMIS's answer ``{Success, ErrorCode, ErrorMessage, Data, CustomData}`` with the casing and the
    JSON-inside-JSON taken off."""

    status: int
    success: bool | None
    data: Any
    error_code: str
    error_message: str
    custom_data: Any
    body: Any
    exchange: Any = None


def envelope(body: Any, status: int = 200, exchange=None) -> Envelope:
    """Keys come PascalCase (``ErrorCode``), camelCase or snake_case (``error_code``, as in callbacks);
    ``Data`` and ``CustomData`` are often JSON strings."""
    return Envelope(
        status=status,
        success=_flag(_pick(body, "Success")),
        data=json_inside(_pick(body, "Data")),
        error_code=_text(_pick(body, "ErrorCode", "error_code")),
        error_message=_text(_pick(body, "ErrorMessage", "error_message", "Message")),
        custom_data=json_inside(_pick(body, "CustomData", "custom_data")),
        body=body,
        exchange=exchange,
    )


@dataclass(frozen=True)
class SaveResult:
    """What AMIS said about a save, save_dictionary or delete call. ``ok`` only means *queued*: the outcome
    of each voucher comes later, by callback (or `get_call_back_detail_error`)."""

    ok: bool
    error_code: str
    error_message: str
    data: Any

    @property
    def already_generated(self) -> bool:
        """The accountant already generated the real voucher: a resend means "already done", not an error;
        a change needs a person in AMIS (or a return voucher)."""
        return self.error_code == IS_CREATED_VOUCHER

    @property
    def not_found(self) -> bool:
        """No proposal with that org_refid (the accountant may have deleted it): show it to a person."""
        return self.error_code == VOUCHER_NOT_FOUND

    @property
    def retryable(self) -> bool:
        return self.error_code == EXCEPTION_CODE


@dataclass(frozen=True)
class Dictionary:
    """Master-data rows of one kind and the cursor for the next incremental read (``LastSyncTime``)."""

    rows: list[dict]
    last_sync_time: str | None


class AmisRefused(PermanentError):
    """AMIS refused a call (``Success:false``); ``code`` and ``message`` keep AMIS's own words."""

    def __init__(self, text: Text, *, code: str = "", message: str = "", **kw):
        super().__init__(text, **kw)
        self.code = code
        self.message = message


class AmisDisconnected(AmisRefused):
    """``AppIDDisconnect`` / ``DBAmisNotConnectDBACT``: the company's documents wait for a person, and the
    text says what to do in AMIS."""


class AppIdNotConfigured(NotConfiguredError):
    """`AMIS_APP_ID` is empty: nothing is sent."""

    def __init__(self, **kw):
        PermanentError.__init__(
            self,
            Text(
                "%(setting)s is not set. Set the environment variable %(setting)s to the app ID MISA issued "
                "for this product and restart the web app and the workers.",
                setting="AMIS_APP_ID",
            ),
            **kw,
        )
        self.setting = "AMIS_APP_ID"


def read_bucket(org_company_code: str) -> LeakyBucket:
    """One read at a time per company, 1.2 s apart, shared by every worker."""
    return LeakyBucket(f"amis:read:{org_company_code}", 1, 1 / READ_GAP_SECONDS)


class AmisClient(HttpClient):
    """One AMIS company (`org_company_code`) for our app. Connects on demand, ~10 minutes before the token
    ends, and once more when AMIS says the token is no longer good."""

    def __init__(
        self,
        *,
        org_company_code: str,
        access_code: str,
        app_id: str | None = None,
        base_url: str | None = None,
        token: Token | None = None,
        on_token: Callable[[Token], None] | None = None,
        timeout: float | None = None,
        bucket: LeakyBucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__(base_url or settings.AMIS_API_URL, setting="AMIS_API_URL", timeout=timeout)
        self.org_company_code = org_company_code
        self._app_id = settings.AMIS_APP_ID if app_id is None else app_id
        self._access_code = access_code
        self.token = token
        self.on_token = on_token
        self._bucket = bucket
        self._sleep = sleep
        self.session.headers.update({"Accept": "application/json"})

    def __repr__(self) -> str:  # never the access code or the token, even in a traceback
        return f"<AmisClient company {self.org_company_code} at {self.base_url}>"

    @property
    def token_owner(self) -> str:
        """Whose token this client holds: a digest of (app ID, company, access code), never the secrets.
        Services store it next to the shared token, so a token issued before a person changed the access
        code (or the app ID) is not used again."""
        parts = (self._app_id or "", self.org_company_code, self._access_code or "")
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    @property
    def bucket(self) -> LeakyBucket:
        if self._bucket is None:
            self._bucket = read_bucket(self.org_company_code)
        return self._bucket

    # --- auth ---------------------------------------------------------------------------------------

    def connect(self) -> Token:
        """Trade the company's access code for a token; `on_token` lets the caller keep and share it."""
        body = {
            "app_id": self._require_app_id(),
            "access_code": self._access_code,
            "org_company_code": self.org_company_code,
        }
        resp, answer, exchange = self.send("POST", CONNECT_PATH, json_body=body)
        exchange.response = mask_data(answer)  # the token sits inside the Data string
        env = replace(envelope(answer, resp.status_code, exchange), body=exchange.response)
        self._check(env, CONNECTING, connecting=True)
        data = env.data if isinstance(env.data, dict) else {}
        value = _text(_pick(data, "access_token", "AccessToken", "token"))
        if not value:
            raise RetryableError(
                Text(
                    "AMIS answered the connection of company %(company)s without a token",
                    company=self.org_company_code,
                ),
                status=env.status,
                body=env.body,
                exchange=exchange,
            )
        self.token = Token(value=value, expires_at=_expiry(data))
        if self.on_token:
            self.on_token(self.token)
        return self.token

    def _call(self, path: str, body: dict, action: Text, *, method: str = "POST") -> Envelope:
        """One call with the token. A token AMIS no longer accepts means nothing was done, so connecting
        again and repeating the call once is safe even for a save."""
        for attempt in (1, 2):
            if self.token is None or (attempt == 1 and not self.token.usable()):
                self.connect()
            headers = {"X-MISA-AccessToken": self.token.value}
            resp, answer, exchange = self.send(method, path, json_body=body, headers=headers)
            env = envelope(answer, resp.status_code, exchange)
            if not _token_refused(env):
                break
            if attempt == 1:
                self.token = None
        return env

    def _sync(self, name: str) -> str:
        return f"{SYNC_PREFIX}/{name}"

    # --- reading ------------------------------------------------------------------------------------

    def get_company_info(self, *, branch_id: str | None = None) -> dict:
        """The company's own record (``company_name``, tax code…): the "test connection" call."""
        body = {"app_id": self._require_app_id(), "branch_id": branch_id}
        env = self._call(self._sync("get_company_info"), body, READING_COMPANY)
        self._check(env, READING_COMPANY)
        data = env.data
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise RetryableError(
                Text(
                    "AMIS answered %(action)s for company %(company)s without the company: %(data)s",
                    action=READING_COMPANY,
                    company=self.org_company_code,
                    data=str(env.data)[:200],
                ),
                status=env.status,
                body=env.body,
                exchange=env.exchange,
            )
        return data

    def get_dictionary_page(
        self,
        data_type: int,
        *,
        skip: int = 0,
        take: int = MAX_TAKE,
        last_sync_time: str | dt.datetime | None = None,
        branch_id: str | None = None,
        deleted: bool = False,
    ) -> Dictionary:
        """One page of master data of one kind (§9: 1 account objects, 2 items, 3 stocks, 4 units,
        5 accounts, 6 organisation units…), paced by the company's read bucket. With `deleted`, the rows
        deleted in AMIS since `last_sync_time` (``get_dictionary_delete``, same body, §3)."""
        if not 0 < take <= MAX_TAKE:
            raise ValueError(f"AMIS dictionary pages hold 1 to {MAX_TAKE} rows, not {take}")
        body = {
            "app_id": self._require_app_id(),
            "data_type": int(data_type),
            "branch_id": branch_id,
            "skip": int(skip),
            "take": int(take),
            "last_sync_time": _cursor(last_sync_time),
        }
        self.bucket.acquire()
        name = "get_dictionary_delete" if deleted else "get_dictionary"
        env = self._call(self._sync(name), body, READING_DICTIONARY)
        if env.status == 429:
            retry_after = _retry_after(env)
            if retry_after is not None:
                self.bucket.penalize(retry_after)
        self._check(env, READING_DICTIONARY)
        rows = _rows(env, READING_DICTIONARY, self.org_company_code)
        return Dictionary(rows=rows, last_sync_time=_last_sync_time(env.custom_data))

    def get_dictionary(
        self,
        data_type: int,
        *,
        skip: int = 0,
        take: int = MAX_TAKE,
        last_sync_time: str | dt.datetime | None = None,
        branch_id: str | None = None,
        deleted: bool = False,
        max_wait: float = MAX_WAIT_ON_429,
    ) -> Dictionary:
        """Every row from `skip` on, page after page until a short page (AMIS gives no total). A 429 waits
        as long as AMIS says (``Retry-After``, else 30 s × try) and asks again, up to 3 times; a longer wait
        is raised as RetryableError with ``retry_after`` for the task to come back later. The cursor kept
        is the first page's ``LastSyncTime``: the earliest, so nothing changed during the read is missed."""
        rows: list[dict] = []
        cursor: str | None = None
        while True:
            page = self._page_with_retries(
                data_type,
                skip=skip + len(rows),
                take=take,
                last_sync_time=last_sync_time,
                branch_id=branch_id,
                deleted=deleted,
                max_wait=max_wait,
            )
            rows.extend(page.rows)
            cursor = cursor or page.last_sync_time
            if len(page.rows) < take:
                return Dictionary(rows=rows, last_sync_time=cursor)

    def _page_with_retries(self, data_type, *, max_wait: float, **page) -> Dictionary:
        for attempt in range(1, RETRIES_ON_429 + 2):
            try:
                return self.get_dictionary_page(data_type, **page)
            except RetryableError as exc:
                if exc.status != 429:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else min(30.0 * attempt, 180.0)
                exc.retry_after = wait
                if attempt > RETRIES_ON_429 or wait > max_wait:
                    raise
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_call_back_detail_error(
        self, from_date: dt.date, to_date: dt.date, *, skip: int = 0, take: int = MAX_TAKE
    ) -> list[dict]:
        """One page of the results AMIS could not deliver to our callback URL between two dates
        (inclusive). Field names vary: match rows by any field that holds one of our org_refids."""
        if not 0 < take <= MAX_TAKE:
            raise ValueError(f"AMIS callback-error pages hold 1 to {MAX_TAKE} rows, not {take}")
        body = {
            "app_id": self._require_app_id(),
            "from_date": from_date.strftime("%Y-%m-%d"),
            "to_date": to_date.strftime("%Y-%m-%d"),
            "skip": int(skip),
            "take": int(take),
        }
        env = self._call(self._sync("get_call_back_detail_error"), body, READING_CALLBACK_ERRORS)
        self._check(env, READING_CALLBACK_ERRORS)
        return _rows(env, READING_CALLBACK_ERRORS, self.org_company_code)

    def callback_errors_between(self, from_date: dt.date, to_date: dt.date) -> list[dict]:
        """Every undelivered result between two dates, page after page until a short page."""
        rows: list[dict] = []
        while True:
            page = self.get_call_back_detail_error(from_date, to_date, skip=len(rows), take=MAX_TAKE)
            rows.extend(page)
            if len(page) < MAX_TAKE:
                return rows

    def get_list_inventory_balance(
        self,
        *,
        skip: int = 0,
        take: int = MAX_TAKE,
        stock_id: str | None = None,
        branch_id: str | None = None,
    ) -> list[dict]:
        """One page of stock on hand per item × warehouse (amis.md §3), paced like master-data reads.
        Rows as public clients read them: ``inventory_item_code``/``inventory_item_id``,
        ``stock_code``/``stock_id``, ``quantity_balance``. ``last_sync_time`` is sent null: a balance is
        read whole (one client notes AMIS ignores the cursor for balances)."""
        if not 0 < take <= MAX_TAKE:
            raise ValueError(f"AMIS balance pages hold 1 to {MAX_TAKE} rows, not {take}")
        body = {
            "app_id": self._require_app_id(),
            "stock_id": stock_id,
            "branch_id": branch_id,
            "skip": int(skip),
            "take": int(take),
            "last_sync_time": None,
        }
        self.bucket.acquire()
        env = self._call(self._sync("get_list_inventory_balance"), body, READING_BALANCE)
        if env.status == 429:
            retry_after = _retry_after(env)
            if retry_after is not None:
                self.bucket.penalize(retry_after)
        self._check(env, READING_BALANCE)
        return _rows(env, READING_BALANCE, self.org_company_code)

    def inventory_balance(self, *, stock_id: str | None = None, branch_id: str | None = None) -> list[dict]:
        """Every balance row, page after page until a short page (AMIS gives no total)."""
        rows: list[dict] = []
        while True:
            page = self.get_list_inventory_balance(
                skip=len(rows), take=MAX_TAKE, stock_id=stock_id, branch_id=branch_id
            )
            rows.extend(page)
            if len(page) < MAX_TAKE:
                return rows

    # --- writing ------------------------------------------------------------------------------------

    def save(self, vouchers: list[dict], dictionary: list[dict] | None = None) -> SaveResult:
        """Queue up to 100 vouchers (and the master data they need) as proposals. A repeated org_refid
        updates the pending proposal, so a resend after a timeout is safe until the voucher is generated.

        Never retried here: a timeout or 5xx raises RetryableError and the caller resends under the same
        org_refids. ``Success:false`` comes back as a SaveResult with AMIS's code and message."""
        vouchers = list(vouchers)
        dictionary = list(dictionary or [])
        _check_vouchers(vouchers, allow_empty=bool(dictionary))
        if len(dictionary) > MAX_DICTIONARY:
            raise ValueError(
                f"AMIS takes at most {MAX_DICTIONARY} master-data items per call, not {len(dictionary)}"
            )
        for voucher in vouchers:
            lines = voucher.get("detail") or []
            if len(lines) > MAX_LINES:
                raise ValueError(
                    f"AMIS takes at most {MAX_LINES} lines per voucher; {voucher.get('org_refid')} has "
                    f"{len(lines)}"
                )
        body = {
            "app_id": self._require_app_id(),
            "org_company_code": self.org_company_code,
            "voucher": vouchers,
            "dictionary": dictionary,
        }
        return self._write(self._sync("save"), body, SAVING_VOUCHERS)

    def save_dictionary(self, items: list[dict]) -> SaveResult:
        """Queue up to 200 master-data items (upserted by code; the result comes by callback)."""
        items = list(items)
        if not items:
            raise ValueError("save_dictionary needs at least one item")
        if len(items) > MAX_DICTIONARY:
            raise ValueError(
                f"AMIS takes at most {MAX_DICTIONARY} master-data items per call, not {len(items)}"
            )
        body = {
            "app_id": self._require_app_id(),
            "org_company_code": self.org_company_code,
            "dictionary": items,
        }
        return self._write(self._sync("save_dictionary"), body, SAVING_DICTIONARY)

    def delete(self, vouchers: list[dict]) -> SaveResult:
        """Delete pending proposals ``[{voucher_type, org_refid}]`` (HTTP DELETE with a JSON body). A
        replacement goes under a new org_refid."""
        refs = [{"voucher_type": v.get("voucher_type"), "org_refid": v.get("org_refid")} for v in vouchers]
        if any(ref["voucher_type"] is None for ref in refs):
            raise ValueError("every voucher to delete needs its voucher_type")
        _check_vouchers(refs, allow_empty=False)
        body = {"app_id": self._require_app_id(), "org_company_code": self.org_company_code, "voucher": refs}
        return self._write(self._sync("delete"), body, DELETING_VOUCHERS, method="DELETE")

    def _write(self, path: str, body: dict, action: Text, *, method: str = "POST") -> SaveResult:
        env = self._call(path, body, action, method=method)
        self._check(env, action, business_result=True)
        return SaveResult(
            ok=env.success is not False and not env.error_code,
            error_code=env.error_code,
            error_message=env.error_message,
            data=env.data,
        )

    # --- errors -------------------------------------------------------------------------------------

    def _require_app_id(self) -> str:
        if not (self._app_id or "").strip():
            raise AppIdNotConfigured()
        return self._app_id

    def _check(self, env: Envelope, action: Text, *, connecting: bool = False, business_result=False) -> None:
        """Raise the typed error an answer means; return quietly on success — and, with `business_result`,
        on a refusal that is about the documents (the caller reads it from a SaveResult). AMIS's own code
        and message are kept as they are, inside a sentence the reader's language renders."""
        company, code, exchange = self.org_company_code, env.error_code, env.exchange
        detail = ": ".join(part for part in (code, env.error_message) if part) or Text("no details")
        kw = {"status": env.status, "body": env.body, "exchange": exchange}
        facts = {"action": action, "company": company, "detail": detail, "status": env.status}
        if env.status == 429 or env.status >= 500:
            if env.status == 429:
                busy = Text(
                    "AMIS is too busy for %(action)s for company %(company)s (HTTP %(status)s): %(detail)s",
                    **facts,
                )
            else:
                busy = Text(
                    "AMIS failed on %(action)s for company %(company)s (HTTP %(status)s): %(detail)s", **facts
                )
            raise RetryableError(busy, retry_after=_retry_after(env), **kw)
        failed = env.status >= 400 or env.success is False or (env.success is not True and bool(code))
        if not failed:
            if not isinstance(env.body, dict):  # a proxy's page or a bad deploy: not for a person to fix
                raise RetryableError(
                    Text(
                        "AMIS answered %(action)s for company %(company)s with something that is not its "
                        "envelope: %(body)s",
                        action=action,
                        company=company,
                        body=str(env.body)[:200],
                    ),
                    **kw,
                )
            return
        refused = {"code": code, "message": env.error_message, **kw}
        if code in DISCONNECTED:
            raise AmisDisconnected(
                Text(
                    "AMIS refused %(action)s for company %(company)s (%(code)s): %(todo)s",
                    action=action,
                    company=company,
                    code=code,
                    todo=DISCONNECTED[code],
                ),
                **refused,
            )
        if code == INVALID_APP_ID:
            raise AmisRefused(
                Text(
                    "AMIS does not know our app ID (%(code)s): check the AMIS_APP_ID setting against the app "
                    "ID MISA issued",
                    code=code,
                ),
                **refused,
            )
        if connecting and (code in TOKEN_CODES or env.status in (401, 403) or code == INVALID_PARAM):
            raise AmisRefused(
                Text(
                    "AMIS refused the connection of company %(company)s (%(detail)s): check the company code "
                    "as the AMIS screen shows it and the access code generated in AMIS (Thiết lập → Kết nối "
                    "ứng dụng)",
                    company=company,
                    detail=detail,
                ),
                **refused,
            )
        if _token_refused(env):
            raise RetryableError(
                Text(
                    "AMIS refused a freshly issued token for company %(company)s (%(detail)s)",
                    company=company,
                    detail=detail,
                ),
                **kw,
            )
        if code == EXCEPTION_CODE and not business_result:
            raise RetryableError(
                Text("AMIS failed on %(action)s for company %(company)s: %(detail)s", **facts), **kw
            )
        if env.status >= 400:
            raise AmisRefused(
                Text(
                    "AMIS refused %(action)s for company %(company)s (HTTP %(status)s): %(detail)s", **facts
                ),
                **refused,
            )
        if business_result:
            return
        raise AmisRefused(
            Text("AMIS refused %(action)s for company %(company)s: %(detail)s", **facts), **refused
        )


# --- callbacks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackResult:
    """One document's outcome in a callback, keyed by our org_refid."""

    org_refid: str
    success: bool
    error_code: str
    error_message: str
    session_id: str
    voucher_type: int | None
    refid: str
    refno: str
    generated: bool
    raw: dict = field(repr=False, compare=False)


@dataclass(frozen=True)
class Callback:
    """A callback whose signature holds. ``results`` has one entry per org_refid reported."""

    org_company_code: str
    data_type: int | None
    success: bool | None
    error_code: str
    error_message: str
    results: list[CallbackResult]
    model_state: int | None
    data: Any = field(repr=False, compare=False)

    def delivery_key(self, result: CallbackResult) -> tuple:
        """What makes a delivery the same one again: AMIS may repeat callbacks."""
        return (self.org_company_code, result.org_refid, self.data_type, result.session_id)


class CallbackRejected(Exception):
    """A callback that is not from MISA for our app, or that cannot be read. ``reply()`` is AMIS's
    envelope to answer it with (HTTP 200, ``InvalidParam``)."""

    def __init__(self, text: Text):
        self.text = text
        super().__init__(text.english())

    def reply(self) -> dict:
        return callback_reply(False, error_code=INVALID_PARAM, error_message=self.text.english())


def callback_reply(success: bool = True, *, error_code: str | None = None, error_message: str | None = None):
    """The body our callback endpoint answers with (AMIS's own envelope)."""
    return {"Success": success, "ErrorCode": error_code, "ErrorMessage": error_message, "Data": None}


def callback_signature(data: str, app_id: str) -> str:
    """Lowercase hex HMAC-SHA256 of the raw `data` string, keyed by our app ID (§10)."""
    return hmac.new(app_id.encode(), data.encode(), hashlib.sha256).hexdigest()


def verify_callback(raw: bytes | str | dict, app_id: str) -> Callback:
    """Check and read a callback body (raw bytes, text, or already parsed JSON). The signature covers the
    ``data`` string exactly as sent, so a body whose ``data`` is no longer a string cannot be checked and is
    rejected. The key is the app ID shared by every company: route by ``org_company_code`` and refuse a
    company we do not know."""
    if not (app_id or "").strip():
        raise AppIdNotConfigured()
    body = raw
    if isinstance(raw, bytes | bytearray):
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackRejected(Text("The AMIS callback is not UTF-8 text")) from None
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            raise CallbackRejected(Text("The AMIS callback is not JSON")) from None
    if not isinstance(body, dict):
        raise CallbackRejected(Text("The AMIS callback is not a JSON object"))
    data = _pick(body, "data")
    signature = _text(_pick(body, "signature")).strip().lower()
    if not isinstance(data, str) or not signature:
        raise CallbackRejected(Text("The AMIS callback has no signed data"))
    if not hmac.compare_digest(signature.encode(), callback_signature(data, app_id).encode()):
        raise CallbackRejected(Text("The AMIS callback's signature does not match our app ID"))
    sent_app_id = _text(_pick(body, "app_id"))
    if sent_app_id and not hmac.compare_digest(sent_app_id.encode(), app_id.encode()):
        raise CallbackRejected(Text("The AMIS callback is for another app"))
    company = _text(_pick(body, "org_company_code")).strip()
    if not company:
        raise CallbackRejected(Text("The AMIS callback names no company"))
    try:
        parsed = json.loads(data) if data.strip() else []
    except ValueError:
        raise CallbackRejected(Text("The AMIS callback's data is not JSON")) from None
    data_type = _int(_pick(body, "data_type"))
    model_state = None
    # data_type 22: the vouchers pushed back, with what happened to them (custom_param.ModelState)
    if isinstance(parsed, dict) and _pick(parsed, "voucher") is not None:
        model_state = _int(_pick(json_inside(_pick(parsed, "custom_param")), "ModelState"))
        items = _pick(parsed, "voucher")
    else:
        items = parsed
    items = [items] if isinstance(items, dict) else items if isinstance(items, list) else []
    results = [_callback_result(item, data_type) for item in items if isinstance(item, dict)]
    return Callback(
        org_company_code=company,
        data_type=data_type,
        success=_flag(_pick(body, "success")),
        error_code=_text(_pick(body, "error_code", "ErrorCode")),
        error_message=_text(_pick(body, "error_message", "ErrorMessage")),
        results=[r for r in results if r.org_refid],
        model_state=model_state,
        data=parsed,
    )


GENERATED_DATA_TYPES = frozenset({18})  # the accountant generated the real voucher from the proposal


def undelivered_result(row: dict) -> tuple[int | None, CallbackResult]:
    """One row of `get_call_back_detail_error` as the callback it stands for: (data_type, result)."""
    data_type = _int(_pick(row, "data_type", "DataType"))
    return data_type, _callback_result(row, data_type)


def _callback_result(item: dict, data_type: int | None) -> CallbackResult:
    code = _text(_pick(item, "error_code", "ErrorCode"))
    refno = _text(_pick(item, "refno", "RefNo"))
    success = _flag(_pick(item, "success", "Success"))
    return CallbackResult(
        org_refid=_text(_pick(item, "org_refid", "OrgRefID")),
        success=bool(success) if success is not None else not code,
        error_code=code,
        error_message=_text(_pick(item, "error_message", "ErrorMessage", "error_call_back_message")),
        session_id=_text(_pick(item, "session_id", "SessionID")),
        voucher_type=_int(_pick(item, "voucher_type", "VoucherType")),
        refid=_text(_pick(item, "refid", "RefID")),
        refno=refno,
        generated=code == IS_CREATED_VOUCHER or data_type in GENERATED_DATA_TYPES or bool(refno),
        raw=item,
    )


# --- helpers -----------------------------------------------------------------------------------------


def _check_vouchers(vouchers: list[dict], *, allow_empty: bool) -> None:
    if not vouchers and not allow_empty:
        raise ValueError("nothing to send: no voucher")
    if len(vouchers) > MAX_VOUCHERS:
        raise ValueError(f"AMIS takes at most {MAX_VOUCHERS} vouchers per call, not {len(vouchers)}")
    refs = [_text(v.get("org_refid")) for v in vouchers]
    if not all(refs):
        raise ValueError("every voucher needs an org_refid: it is AMIS's key for the proposal")
    if len(set(refs)) != len(refs):
        raise ValueError("the same org_refid appears twice in one call")


def _expiry(data: dict) -> dt.datetime:
    ticks = _pick(data, "expired_time_ticks")
    if ticks not in (None, ""):
        try:
            return ticks_to_datetime(ticks)
        except (TypeError, ValueError, OverflowError):
            pass
    text = _text(_pick(data, "expired_time")).strip()
    if text:
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)
    return timezone.now() + TOKEN_LIFETIME


def _token_refused(env: Envelope) -> bool:
    return env.error_code in TOKEN_CODES or (env.status in (401, 403) and env.error_code not in DISCONNECTED)


def _retry_after(env: Envelope) -> float | None:
    headers = env.exchange.headers if env.exchange is not None else {}
    return parse_retry_after(headers.get("Retry-After"))


def _rows(env: Envelope, action: Text, company: str) -> list[dict]:
    data = env.data
    if data is None:
        return []
    if not isinstance(data, list):
        raise RetryableError(
            Text(
                "AMIS answered %(action)s for company %(company)s with data that is not a list: %(data)s",
                action=action,
                company=company,
                data=str(data)[:200],
            ),
            status=env.status,
            body=env.body,
            exchange=env.exchange,
        )
    return [row for row in data if isinstance(row, dict)]


def _last_sync_time(custom: Any) -> str | None:
    value = _pick(custom, "LastSyncTime") if isinstance(custom, dict) else None
    return None if value in (None, "") else str(value)


def _cursor(value: str | dt.datetime | None) -> str | None:
    """AMIS's own LastSyncTime string is passed back as it came; a datetime is sent in Vietnam time."""
    if value is None or isinstance(value, str):
        return value or None
    if value.tzinfo is not None:
        value = value.astimezone(VN_TZ).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def _pick(obj: Any, *names: str) -> Any:
    """AMIS writes a key as ``ErrorCode``, ``errorCode`` or ``error_code``: all one key here."""
    return pick(obj, *names, snake_case=True)


def _flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return bool(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)
