"""MISA meInvoice simulator: the integration API (``/api/integration/…``) mounted at ``/meinvoice``.

Behaves like the real service as described in /work/shared/reference/meinvoice.md: several companies
(one per MST, the tax code), a token per company from ``auth/token`` (14 days, bound to the MST), the
templates (invoice series) of each company, publishing with MISA's server-side HSM signing, where every
invoice of a batch succeeds or fails on its own, invoice numbers sequential per (MST, series), the
duplicate check on ``RefID``, status and paging look-ups, a 5-minute preview link, and the tax
authority's answer (``SendTaxStatus``) arriving later on the simulator clock.

Routes (below ``/meinvoice/api/integration``; matched case-insensitively like ASP.NET):
  POST auth/token             {"appid","taxcode","username","password"} → PascalCase envelope, Data = token
  GET  invoice/templates      ?invoiceWithCode=true|false&ticket=false → Data = JSON *string* of a list
  POST invoice                {"SignType":2|3,"InvoiceData":[…],"PublishInvoiceData":null} → camelCase
                              envelope, publishInvoiceResult = JSON *string* of a list (one item per invoice)
  POST invoice/unpublishview  one InvoiceData → Data = a preview URL valid 5 minutes
  POST invoice/publishview    bare array of TransactionIDs → Data = a view URL valid 5 minutes
  POST invoice/status         ?invoiceWithCode=…&invoiceCalcu=false&inputType=1|2, bare JSON array of
                              TransactionIDs (1) or RefIDs (2), ≤50 → Data = JSON string of rows
  POST invoice/paging         {"FromDate":"yyyyMMdd","ToDate","Skip","Take"≤100} → Data = JSON string
Outside the API: GET ``/meinvoice/view/<token>`` serves the HTML behind a preview link (410 once expired).

Envelopes: PascalCase ``{"Success","Data","ErrorCode","Errors","CustomData"}`` everywhere except the
publish call, which answers camelCase ``{"success","errorCode","descriptionErrorCode",
"createInvoiceResult","publishInvoiceResult"}``. Authentication failures come from one shared filter and
are PascalCase on every route (the publish route included).

Simulator choices (not confirmed by MISA's documentation) are marked "sandbox:". The main ones:
- An expired token answers HTTP 401 ``{"Success":false,"ErrorCode":"TokenExpiredCode"}`` (knob
  ``token_expired_status`` = 200 answers HTTP 200 with the same body instead); a missing, unknown or
  other-MST token answers HTTP 401 ``InvalidTokenCode``.
- Too many ids (publish >50, status >50) answer HTTP 400 with ``InvoiceQuantityTooLarge``.
- A per-invoice success has ``"ErrorCode": null`` and ``"DescriptionErrorCode": null``.
- ``InvDate`` comes back as ``"yyyy-MM-ddT00:00:00"`` (.NET DateTime), ``PublishedTime`` as ISO 8601 with
  the +07:00 offset.
- The year digits of the series roll with ``InvDate`` (``1C24TAA`` dated 2025 is issued as ``1C25TAA``).
- ``invoiceWithCode`` on status/paging selects series with (``C``) or without (``K``) a tax-authority code:
  an invoice of a ``K`` series is not found with ``invoiceWithCode=true``.
- ``SendTaxStatus`` is 0 at publish, 1 after ``tax_send_seconds``, then 2 (or 3 for a share
  ``tax_reject_rate`` decided at publish) after ``tax_accept_seconds``; both measured from publishing.

Control endpoints (no auth) under ``/meinvoice/_sandbox/``: ``knobs`` (GET/POST), ``invoices`` (GET,
``?mst=&ref_id=``), ``calls`` (GET, ``?since=&mst=``), ``reset`` (POST), ``advance`` (POST
``{"seconds": N}``), ``accounts`` (GET, POST), ``expire_tokens`` (POST ``{"mst": optional}``).
"""

from __future__ import annotations

import itertools
import json
import re
import string
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any
from urllib.parse import urlencode

from ..core import (
    BadRequest,
    KnobError,
    Request,
    Response,
    Router,
    Simulator,
    dumps,
    json_response,
    text_response,
)

VN_TZ = timezone(timedelta(hours=7))
API_PREFIX = "/api/integration"
MAX_INVOICES_PER_CALL = 50
MAX_IDS_PER_LOOKUP = 50
MAX_LINES = 200  # an invoice needs fewer than 200 lines (XMLTooLong otherwise)
MAX_TAKE = 100
TOKEN_TTL_SECONDS = 14 * 24 * 3600
DEMO_APPID = "demo-app"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
DEMO_ACCOUNTS = {
    "0101243150": "Công ty Cổ phần MISA",
    "0312345673": "Công ty TNHH Thương mại Demo Sài Gòn",
    "0101243150-001": "Chi nhánh Hà Nội - Công ty Cổ phần MISA",
}
SERIES_RE = re.compile(r"^[1256][CK]\d{2}[TM][A-Z0-9]{2}$")
TAX_CODE_RE = re.compile(r"^(\d{10})(?:-(\d{3}))?$")
TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
FIXED_VAT_RATES = {"0%": Decimal(0), "5%": Decimal(5), "8%": Decimal(8), "10%": Decimal(10)}
ZERO_VAT_NAMES = ("KCT", "KKKNT")  # not subject to VAT / not declared: no VAT amount
OTHER_RATE_RE = re.compile(r"^KHAC:(\d{1,2}(?:[.,]\d{1,2})?)%$")
TOTAL_FIELDS = (
    "TotalSaleAmount",
    "TotalDiscountAmount",
    "TotalAmountWithoutVAT",
    "TotalVATAmount",
    "TotalAmount",
)
CENT = Decimal("0.01")
ONE = Decimal(1)
TX_ALPHABET = string.ascii_uppercase + string.digits
EINVOICE_STATUS_BY_REFERENCE = {0: 1, 1: 3, 2: 5}  # original, replacement, adjustment
ORIGINAL_MARK_BY_REFERENCE = {1: 7, 2: 8}  # replaced, adjusted

DESCRIPTIONS = {
    "InvalidAppID": "Sai thông tin AppID",
    "UnAuthorize": "Sai thông tin đăng nhập",
    "TokenExpiredCode": "Token hết hạn",
    "InvalidTokenCode": "Token lỗi cần đăng nhập lại",
    "InvalidInvoiceData": "Sai tham số đầu vào",
    "InvoiceTemplateNotExist": "Mẫu hóa đơn không tồn tại",
    "InvoiceQuantityTooLarge": "Số lượng hóa đơn gửi lên trong 1 request quá số lượng cho phép",
    "XMLTooLong": "File XML quá dài",
    "TaxRateInfo_VATRateName": "Tên loại thuế suất trong bảng tổng hợp thuế suất không hợp lệ",
    "TaxRateInfo_AmountWithoutVATOC": "Tổng tiền chưa thuế theo thuế suất không khớp với dòng hàng",
    "TaxRateInfo_VATAmountOC": "Tổng tiền thuế theo thuế suất không khớp với dòng hàng",
    "InvalidVatPercentage": "Thuế suất không hợp lệ",
    "InvalidTaxCode": "Mã số thuế không hợp lệ",
    "DuplicateInvoiceRefID": "Trùng RefID của hóa đơn",
    "InvalidInvoiceDate": "Ngày hóa đơn không hợp lệ",
    "InvoiceIssuedDateSmallerThanLastest": "Ngày hóa đơn nhỏ hơn ngày của hóa đơn đã phát hành gần nhất",
    "InvoiceNumberNotCotinuous": "Số hóa đơn không liên tục",
    "InvoiceCannotReplace": "Không thể thay thế hóa đơn đã bị thay thế",
    "InvoiceCannotAdjust": "Không thể điều chỉnh hóa đơn đã bị thay thế",
    "HasAdjustmentInvoice": "Hóa đơn đã được lập hóa đơn điều chỉnh, không thể thay thế",
    "APINotSupportTypeInvoice": "Hình thức ký không được hỗ trợ",
    "Exception": "Thực hiện bị Exception - Không rõ nguyên nhân",
}
GATEWAY_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


# --- small helpers ----------------------------------------------------------------------------------


def describe(code: str) -> str:
    if code in DESCRIPTIONS:
        return DESCRIPTIONS[code]
    for prefix, text in (
        ("RequireError_", "Thiếu thông tin bắt buộc: "),
        ("Invalid_", "Dữ liệu không hợp lệ: "),
        ("InvoiceDetail_", "Dòng hàng có dữ liệu không hợp lệ: "),
    ):
        if code.startswith(prefix):
            return text + code[len(prefix) :]
    return code


def tax_code_valid(code: str) -> bool:
    """A buyer's tax code: 10 digits (check digit) or 10-3 (branch), or a 12-digit personal id."""
    code = code.strip()
    if re.fullmatch(r"\d{12}", code):  # sandbox: personal tax code = citizen id, no check digit
        return True
    match = TAX_CODE_RE.match(code)
    if not match:
        return False
    main, branch = match.groups()
    if main[2:9] == "0000000" or branch == "000":
        return False
    check = 10 - sum(int(d) * w for d, w in zip(main[:9], TAX_WEIGHTS, strict=True)) % 11
    return check != 10 and check == int(main[9])


def as_decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string as Decimal; None when missing; raises ValueError when not a number."""
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


def parse_day(value: Any) -> date | None:
    """yyyy-MM-dd (optionally with a time part), yyyyMMdd or dd/MM/yyyy; None when unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for fmt, width in (("%Y-%m-%d", 10), ("%Y%m%d", 8), ("%d/%m/%Y", 10)):
        try:
            return datetime.strptime(text[:width], fmt).date()
        except ValueError:
            continue
    return None


def json_text(obj: Any) -> str:
    """What ``Data`` / ``publishInvoiceResult`` hold: JSON text, a string inside the JSON answer."""
    return dumps(obj).decode("utf-8")


def net_date(day: date) -> str:
    return day.isoformat() + "T00:00:00"


def iso_vn(moment: datetime) -> str:
    local = moment.astimezone(VN_TZ)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}+07:00"


def series_key(series: str) -> str:
    """A series without its year digits: templates roll their year with InvDate."""
    return series[:2] + series[4:]


def lower_keys(obj: dict) -> dict:
    return {str(k).lower(): v for k, v in obj.items()}


def truthy(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.strip().lower() in ("1", "true", "yes")


class Reject(Exception):
    """One invoice refused: its own ErrorCode in publishInvoiceResult."""

    def __init__(self, code: str, description: str | None = None):
        super().__init__(code)
        self.code = code
        self.description = description or describe(code)


class ApiError(Exception):
    """A whole call refused, answered in the route's envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str | None = None,
        errors: list | None = None,
        *,
        pascal: bool = False,
    ):
        super().__init__(code)
        self.status = status
        self.code = code
        self.description = description or describe(code)
        self.errors = errors
        self.pascal = pascal  # the shared auth filter answers PascalCase on every route


# --- state ------------------------------------------------------------------------------------------


@dataclass
class Token:
    value: str
    tax_code: str
    issued_at: float
    expires_at: float


@dataclass
class Invoice:
    seq: int
    tax_code: str
    ref_id: str
    transaction_id: str
    inv_series: str
    inv_no: int
    inv_code: str
    inv_date: date
    published_at: float  # simulator clock (seconds)
    published_wall: datetime
    reference_type: int
    einvoice_status: int
    tax_fate: int  # 2 accepted or 3 rejected, reached after tax_accept_seconds
    data: dict
    org_ref_id: str | None = None

    @property
    def number(self) -> str:
        return f"{self.inv_no:08d}"


@dataclass
class Account:
    tax_code: str
    name: str
    appid: str
    username: str
    password: str
    templates: list[dict]
    invoices: list[Invoice] = field(default_factory=list)
    by_ref: dict[str, Invoice] = field(default_factory=dict)
    by_tx: dict[str, Invoice] = field(default_factory=dict)
    last_no: dict[str, int] = field(default_factory=dict)  # issued series → last number
    last_date: dict[str, date] = field(default_factory=dict)  # issued series → latest InvDate
    rejected: deque = field(default_factory=lambda: deque(maxlen=1000))

    def template_for(self, series: str) -> dict | None:
        key = series_key(series)
        return next((t for t in self.templates if series_key(t["InvSeries"]) == key), None)


@dataclass
class View:
    html: str
    expires_at: float


class MeInvoiceSimulator(Simulator):
    name = "meinvoice"
    DEFAULT_KNOBS = {
        "latency_ms": 0,  # sleep before answering an API call
        "error_rate": 0.0,  # probability of a 500/502/503 answer (nothing done)
        "token_expiry_rate": 0.0,  # probability an authenticated call finds its token expired (re-login)
        "token_expired_status": 401,  # HTTP status of TokenExpiredCode answers: 401 or 200
        "token_ttl_seconds": TOKEN_TTL_SECONDS,  # tokens live 14 days on the simulator clock
        "timeout_after_commit_rate": 0.0,  # probability a publish commits but its answer is lost
        "timeout_after_commit_seconds": 30.0,  # lost_answer_mode "sleep": how long the answer is held
        "lost_answer_mode": "sleep",  # "sleep" (longer than the client's timeout) or "504" (gateway)
        "tax_send_seconds": 5.0,  # SendTaxStatus 0 → 1 this long after publishing
        "tax_accept_seconds": 10.0,  # → 2 (or 3) this long after publishing
        "tax_reject_rate": 0.0,  # share of invoices the tax authority rejects (SendTaxStatus 3)
        "not_continuous_rate": 0.0,  # probability an invoice fails with InvoiceNumberNotCotinuous
        "view_ttl_seconds": 300.0,  # preview links live 5 minutes
        "public_url": None,  # sandbox root for view links when the request has no Host header
    }
    PROBABILITY_KNOBS = frozenset(
        {
            "error_rate",
            "token_expiry_rate",
            "timeout_after_commit_rate",
            "tax_reject_rate",
            "not_continuous_rate",
        }
    )
    CALLS_FILTER = "mst"
    CONTROL_ERRORS = (BadRequest, KnobError, ValueError, KeyError)

    def __init__(
        self,
        *,
        seed: int | None = 20250301,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
        public_url: str = "http://127.0.0.1:8100",
        seed_accounts: bool = True,
        call_log_size: int = 20000,
    ):
        super().__init__(seed=seed, clock=clock, call_log_size=call_log_size)
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.public_url = public_url.rstrip("/")
        self.seed_accounts = seed_accounts
        self.router = self._api_routes()
        self._add_control_routes()
        self.reset_state()

    # --- clock -----------------------------------------------------------------------------------

    def clock(self) -> float:
        """The simulator clock in seconds: the injected monotonic clock plus what ``advance`` added."""
        return self.monotonic() + self._offset

    def wall(self) -> datetime:
        return self.now() + timedelta(seconds=self._offset)

    def today(self) -> date:
        return self.wall().astimezone(VN_TZ).date()

    def advance(self, seconds: float) -> float:
        """Move the simulator clock forward (tokens age, SendTaxStatus advances, links expire)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self.lock:
            self._offset += float(seconds)
            return self.clock()

    # --- knobs -----------------------------------------------------------------------------------

    def set_knobs(self, **changes) -> dict[str, Any]:
        with self.lock:
            if "lost_answer_mode" in changes and str(changes["lost_answer_mode"]) not in ("sleep", "504"):
                raise KnobError('knob lost_answer_mode is "sleep" or "504"')
            if "token_expired_status" in changes and str(changes["token_expired_status"]) not in (
                "200",
                "401",
            ):
                raise KnobError("knob token_expired_status is 401 or 200")
            return super().set_knobs(**changes)

    # --- state -----------------------------------------------------------------------------------

    def reset_state(self) -> None:
        super().reset_state()
        self._offset = 0.0
        self._seq = {"call": itertools.count(1), "invoice": itertools.count(1)}
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, Token] = {}
        self.views: dict[str, View] = {}
        self._transaction_ids: set[str] = set()
        if self.seed_accounts:
            for tax_code, name in DEMO_ACCOUNTS.items():
                self.add_account(tax_code, name=name)

    def add_account(
        self,
        tax_code: str,
        *,
        appid: str = DEMO_APPID,
        username: str = DEMO_USERNAME,
        password: str = DEMO_PASSWORD,
        name: str | None = None,
        templates: list[str | dict] | None = None,
    ) -> Account:
        """A company (MST) with credentials and templates. ``templates``: series like ``"1C25TAA"`` or
        dicts (``InvSeries``, optional ``Inactive``, ``TemplateName``); default: the demo set
        ``1C{yy}TAA``, ``1K{yy}TBB`` and the inactive ``1C{yy}TCC``."""
        tax_code = str(tax_code).strip()
        if not tax_code:
            raise ValueError("tax_code is required")
        with self.lock:
            yy = f"{self.today().year % 100:02d}"
            if templates is None:
                templates = [
                    {"InvSeries": f"1C{yy}TAA", "TemplateName": "Hóa đơn giá trị gia tăng"},
                    {"InvSeries": f"1K{yy}TBB", "TemplateName": "Hóa đơn giá trị gia tăng (không mã)"},
                    {
                        "InvSeries": f"1C{yy}TCC",
                        "TemplateName": "Hóa đơn giá trị gia tăng (ngừng sử dụng)",
                        "Inactive": True,
                    },
                ]
            built = [self._template(t) for t in templates]
            account = Account(
                tax_code=tax_code,
                name=name or f"Công ty {tax_code}",
                appid=appid,
                username=username,
                password=password,
                templates=built,
            )
            self.accounts[tax_code] = account
            return account

    def _template(self, spec: str | dict) -> dict:
        spec = {"InvSeries": spec} if isinstance(spec, str) else dict(spec)
        series = str(spec.get("InvSeries") or "").strip().upper()
        if not SERIES_RE.match(series):
            raise ValueError(f"{series!r} is not an invoice series (e.g. 1C25TAA)")
        created = iso_vn(self.wall() - timedelta(days=90))
        kind = {"1": "Hóa đơn giá trị gia tăng", "2": "Hóa đơn bán hàng", "5": "Vé điện tử"}.get(
            series[0], "Phiếu xuất kho"
        )
        return {
            "IPTemplateID": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "CompanyID": 1,
            "TemplateName": spec.get("TemplateName") or kind,
            "InvTemplateNo": series[0],
            "InvSeries": series,
            "OrgInvSeries": series[1:],
            "TemplateType": 1,
            "CreatedDate": created,
            "ModifiedDate": created,
            "Inactive": bool(spec.get("Inactive", False)),
            "IsInheritFromOldTemplate": False,
            "IsSendSummary": False,
            "IsTemplatePetrol": False,
            "IsMoreVATRate": True,
        }

    def login(self, tax_code: str) -> str:
        """A valid token for ``tax_code`` without going through HTTP (tests)."""
        with self.lock:
            if tax_code not in self.accounts:
                raise KeyError(tax_code)
            return self._issue_token(tax_code)

    def expire_tokens(self, tax_code: str | None = None) -> int:
        """Expire every token now (of one MST when given); the next call answers TokenExpiredCode."""
        with self.lock:
            now = self.clock()
            hit = 0
            for token in self.tokens.values():
                if (tax_code is None or token.tax_code == tax_code) and token.expires_at > now:
                    token.expires_at = now
                    hit += 1
            return hit

    def invoices(self, tax_code: str | None = None) -> list[dict]:
        """Every issued invoice (of one MST), in issue order, as the control endpoint shows them."""
        with self.lock:
            accounts = [self.accounts[tax_code]] if tax_code else list(self.accounts.values())
            return [self._control_row(inv) for acc in accounts for inv in acc.invoices]

    def _issue_token(self, tax_code: str) -> str:
        value = "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(48))
        now = self.clock()
        ttl = float(self.knobs["token_ttl_seconds"])
        self.tokens[value] = Token(value=value, tax_code=tax_code, issued_at=now, expires_at=now + ttl)
        return value

    def _new_transaction_id(self) -> str:
        while True:
            value = "".join(self.rng.choice(TX_ALPHABET) for _ in range(13))
            if value not in self._transaction_ids:
                self._transaction_ids.add(value)
                return value

    def _new_tax_authority_code(self) -> str:
        return "00" + f"{self.rng.getrandbits(128):032X}"  # 34 characters like the tax authority's codes

    def send_tax_status(self, invoice: Invoice) -> int:
        elapsed = self.clock() - invoice.published_at
        send = float(self.knobs["tax_send_seconds"])
        accept = max(send, float(self.knobs["tax_accept_seconds"]))
        if elapsed < send:
            return 0
        if elapsed < accept:
            return 1
        return invoice.tax_fate

    # --- entry point -----------------------------------------------------------------------------

    def handle_api(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/view/"):
            return self._view(request, path[len("/view/") :])
        lowered = path.lower().rstrip("/")
        if lowered.startswith(API_PREFIX + "/"):
            return self._api_call(request, lowered[len(API_PREFIX) :])
        return json_response(
            {"Message": f"No HTTP resource was found that matches the request URI '{path}'."}, 404
        )

    def _api_routes(self) -> Router:
        r = Router()
        r.add("POST", "/auth/token", self.api_token)
        r.add("GET", "/invoice/templates", self.api_templates)
        r.add("POST", "/invoice", self.api_publish)
        r.add("POST", "/invoice/unpublishview", self.api_unpublish_view)
        r.add("POST", "/invoice/publishview", self.api_publish_view)
        r.add("POST", "/invoice/status", self.api_status)
        r.add("POST", "/invoice/paging", self.api_paging)
        return r

    def _add_control_routes(self) -> None:
        r = self.control
        r.add("GET", "/_sandbox/invoices", self.ctl_invoices)
        r.add("POST", "/_sandbox/advance", self.ctl_advance)
        r.add(("GET", "POST"), "/_sandbox/accounts", self.ctl_accounts)
        r.add("POST", "/_sandbox/expire_tokens", self.ctl_expire_tokens)

    def _api_call(self, request: Request, subpath: str) -> Response:
        started_perf = time.perf_counter()
        started = self.clock()
        context: dict[str, Any] = {"mst": None, "error_code": None, "lost": False}
        self.sleep_latency()
        handler, params, known = self.router.match(request.method, subpath)
        if handler is None:
            response = json_response(
                {"Message": f"The requested resource does not support http method '{request.method}'."}
                if known
                else {
                    "Message": f"No HTTP resource was found that matches the request URI '{request.path}'."
                },
                405 if known else 404,
            )
        elif self.roll(float(self.knobs["error_rate"])):
            response = self._server_error()
        else:
            try:
                if handler == self.api_token:
                    response = handler(request, context)
                else:
                    account = self._authenticate(request, context)
                    context["mst"] = account.tax_code
                    response = handler(request, context, account, **params)
            except ApiError as err:
                context["error_code"] = err.code
                response = self._envelope_error(err, camel=handler == self.api_publish and not err.pascal)
            except BadRequest as exc:
                context["error_code"] = "InvalidInvoiceData"
                response = self._envelope_error(
                    ApiError(400, "InvalidInvoiceData", str(exc)), camel=handler == self.api_publish
                )
        with self.lock:
            self.calls.append(
                {
                    "seq": next(self._seq["call"]),
                    "method": request.method,
                    "path": request.prefix + request.path,
                    "query": urlencode(request.query, doseq=True),
                    "status": response.status,
                    "latency_ms": round((time.perf_counter() - started_perf) * 1000, 1),
                    "mst": context["mst"],
                    "error_code": context["error_code"],
                    "lost": context["lost"],
                    "clock": started,
                    "at": iso_vn(self.wall()),
                }
            )
        return response

    def _server_error(self) -> Response:
        with self.lock:
            pick = self.rng.choice((500, 502, 503))
        if pick == 500:
            return json_response(self._pascal(False, None, "Exception", [describe("Exception")]), 500)
        reason = "Bad Gateway" if pick == 502 else "Service Temporarily Unavailable"
        return text_response(GATEWAY_HTML.format(code=pick, reason=reason), pick, content_type="text/html")

    @staticmethod
    def _pascal(success: bool, data: Any, code: str | None = None, errors: list | None = None) -> dict:
        return {
            "Success": success,
            "Data": data,
            "ErrorCode": code,
            "Errors": errors or [],
            "CustomData": None,
        }

    def _envelope_error(self, err: ApiError, *, camel: bool) -> Response:
        if camel:
            body = {
                "success": False,
                "errorCode": err.code,
                "descriptionErrorCode": err.description,
                "createInvoiceResult": None,
                "publishInvoiceResult": None,
            }
        else:
            body = self._pascal(
                False, None, err.code, err.errors if err.errors is not None else [err.description]
            )
        return json_response(body, err.status)

    def _authenticate(self, request: Request, context: dict) -> Account:
        """The shared auth filter: Bearer token + CompanyTaxCode header, both bound together."""
        value = request.bearer_token()
        mst = (request.headers.get("CompanyTaxCode") or request.headers.get("TaxCode") or "").strip()
        context["mst"] = mst or None
        with self.lock:
            token = self.tokens.get(value or "")
            account = self.accounts.get(mst)
            if token is None or account is None or token.tax_code != mst:
                raise ApiError(401, "InvalidTokenCode", pascal=True)
            expired = self.clock() >= token.expires_at
            if not expired and self.roll(float(self.knobs["token_expiry_rate"])):
                token.expires_at = self.clock()  # stays expired: the client must log in again
                expired = True
            if expired:
                raise ApiError(int(self.knobs["token_expired_status"]), "TokenExpiredCode", pascal=True)
            return account

    # --- auth and templates ----------------------------------------------------------------------

    def api_token(self, request, context):
        body = request.json()
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidInvoiceData", "Body must be {appid, taxcode, username, password}")
        fields = lower_keys(body)
        appid = str(fields.get("appid") or "")
        tax_code = str(fields.get("taxcode") or "").strip()
        context["mst"] = tax_code or None
        with self.lock:
            if appid not in {a.appid for a in self.accounts.values()}:
                raise ApiError(400, "InvalidAppID", errors=["InvalidAppID"])
            account = self.accounts.get(tax_code)
            if account is None:
                raise ApiError(400, "UnAuthorize", errors=["TaxCodeNotExist"])
            if str(fields.get("username") or "") != account.username:
                raise ApiError(400, "UnAuthorize", errors=["UserNotExist"])
            if str(fields.get("password") or "") != account.password:
                raise ApiError(400, "UnAuthorize", errors=["MisaIdError"])
            token = self._issue_token(account.tax_code)
        return json_response(self._pascal(True, token))

    def api_templates(self, request, context, account):
        with_code = truthy(request.arg("invoiceWithCode"))
        if truthy(request.arg("ticket")):
            return json_response(self._pascal(True, "[]"))
        with self.lock:
            rows = [
                dict(t)
                for t in account.templates
                if with_code is None or (t["InvSeries"][1] == "C") == with_code
            ]
        return json_response(self._pascal(True, json_text(rows)))

    # --- publish ---------------------------------------------------------------------------------

    def api_publish(self, request, context, account):
        body = request.json()
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("InvoiceData"), list)
            or not body["InvoiceData"]
        ):
            raise ApiError(400, "InvalidInvoiceData", "Body must be {SignType, InvoiceData: [...]}")
        invoices = body["InvoiceData"]
        if len(invoices) > MAX_INVOICES_PER_CALL:
            raise ApiError(
                400,
                "InvoiceQuantityTooLarge",
                f"Tối đa {MAX_INVOICES_PER_CALL} hóa đơn mỗi lần gọi (đã gửi {len(invoices)})",
            )
        sign_type = body.get("SignType")
        if isinstance(sign_type, bool) or sign_type not in (2, 3):
            raise ApiError(
                200, "APINotSupportTypeInvoice", f"SignType {sign_type!r} không được hỗ trợ (2 hoặc 3)"
            )
        with self.lock:  # one publish call is atomic for its MST (and for the whole simulator)
            results = [self._publish_one(account, raw) for raw in invoices]
            lost = self.roll(float(self.knobs["timeout_after_commit_rate"]))
            mode = self.knobs["lost_answer_mode"]
            hold = float(self.knobs["timeout_after_commit_seconds"])
        failed = [r["ErrorCode"] for r in results if r["ErrorCode"]]
        if failed:
            context["error_code"] = ",".join(sorted(set(failed)))
        response = json_response(
            {
                "success": True,
                "errorCode": None,
                "descriptionErrorCode": None,
                "createInvoiceResult": None,
                "publishInvoiceResult": json_text(results),
            }
        )
        if lost:
            context["lost"] = True
            if mode == "504":
                return text_response(
                    GATEWAY_HTML.format(code=504, reason="Gateway Time-out"), 504, content_type="text/html"
                )
            time.sleep(hold)  # the client gave up long ago; whatever it reads now is too late
        return response

    def _publish_one(self, account: Account, raw: Any) -> dict:
        ref_id = raw.get("RefID") if isinstance(raw, dict) else None
        ref_id = str(ref_id).strip() if ref_id not in (None, "") else None
        result = {
            "RefID": ref_id,
            "TransactionID": None,
            "InvNo": None,
            "InvSeries": raw.get("InvSeries") if isinstance(raw, dict) else None,
            "InvCode": None,
            "InvDate": None,
            "ErrorCode": None,
            "DescriptionErrorCode": None,
        }
        try:
            checked = self._validate(account, raw, preview=False)
        except Reject as rej:
            result["ErrorCode"] = rej.code
            result["DescriptionErrorCode"] = rej.description
            account.rejected.append({"RefID": ref_id, "ErrorCode": rej.code, "at": iso_vn(self.wall())})
            return result
        invoice = self._issue(account, raw, checked)
        result.update(
            {
                "TransactionID": invoice.transaction_id,
                "InvNo": invoice.number,
                "InvSeries": invoice.inv_series,
                "InvCode": invoice.inv_code,
                "InvDate": net_date(invoice.inv_date),
            }
        )
        return result

    def _issue(self, account: Account, raw: dict, checked: dict) -> Invoice:
        series = checked["series"]
        number = account.last_no.get(series, 0) + 1
        account.last_no[series] = number
        day = checked["date"]
        account.last_date[series] = max(day, account.last_date.get(series, day))
        reference_type = checked["reference_type"]
        fate = 3 if self.rng.random() < float(self.knobs["tax_reject_rate"]) else 2
        invoice = Invoice(
            seq=next(self._seq["invoice"]),
            tax_code=account.tax_code,
            ref_id=checked["ref_id"],
            transaction_id=self._new_transaction_id(),
            inv_series=series,
            inv_no=number,
            inv_code=self._new_tax_authority_code() if series[1] == "C" else "",
            inv_date=day,
            published_at=self.clock(),
            published_wall=self.wall(),
            reference_type=reference_type,
            einvoice_status=EINVOICE_STATUS_BY_REFERENCE[reference_type],
            tax_fate=fate,
            data=json.loads(json.dumps(raw)),
        )
        original = checked.get("original")
        if original is not None:
            original.einvoice_status = ORIGINAL_MARK_BY_REFERENCE[reference_type]
            invoice.org_ref_id = original.ref_id
        account.invoices.append(invoice)
        account.by_ref[invoice.ref_id] = invoice
        account.by_tx[invoice.transaction_id] = invoice
        return invoice

    # --- validation: the per-invoice ErrorCode ---------------------------------------------------

    def _validate(self, account: Account, raw: Any, *, preview: bool) -> dict:
        """Raise Reject with MISA's code for the first problem found; else the facts needed to issue."""
        if not isinstance(raw, dict):
            raise Reject("InvalidInvoiceData", "InvoiceData phải là một đối tượng")
        ref_id = raw.get("RefID")
        ref_id = str(ref_id).strip() if ref_id is not None else ""
        if not ref_id and not preview:
            raise Reject("RequireError_RefID")
        if not preview and ref_id in account.by_ref:
            raise Reject("DuplicateInvoiceRefID")

        series = str(raw.get("InvSeries") or "").strip().upper()
        if not series:
            raise Reject("RequireError_InvSeries")
        template = account.template_for(series) if SERIES_RE.match(series) else None
        if template is None or template["Inactive"]:
            raise Reject("InvoiceTemplateNotExist", f"Không tìm thấy ký hiệu {series} đang sử dụng")

        if raw.get("InvDate") in (None, ""):
            raise Reject("RequireError_InvDate")
        day = parse_day(raw.get("InvDate"))
        if day is None or day > self.today():
            raise Reject("InvalidInvoiceDate", f"Ngày hóa đơn {raw.get('InvDate')!r} không hợp lệ")
        issued_series = series[:2] + f"{day.year % 100:02d}" + series[4:]

        reference_type, original = self._reference(account, raw, preview=preview)
        self._check_buyer(raw)
        rate = self._number(raw.get("ExchangeRate"), "Invalid_[Invoice.ExchangeRate]") or ONE
        if rate <= 0:
            raise Reject("Invalid_[Invoice.ExchangeRate]")
        is_vat = series[0] == "1"
        sums = self._check_lines(raw, rate, is_vat=is_vat)
        self._check_totals(raw, rate, sums, is_vat=is_vat)
        if is_vat:
            self._check_tax_rate_info(raw, sums["by_rate"])

        if not preview:
            latest = account.last_date.get(issued_series)
            if latest is not None and day < latest:
                raise Reject(
                    "InvoiceIssuedDateSmallerThanLastest",
                    f"Ngày hóa đơn {day.isoformat()} nhỏ hơn ngày {latest.isoformat()} của hóa đơn "
                    f"đã phát hành gần nhất theo ký hiệu {issued_series}",
                )
            if self.rng.random() < float(self.knobs["not_continuous_rate"]):
                raise Reject("InvoiceNumberNotCotinuous")
        return {
            "ref_id": ref_id,
            "series": issued_series,
            "date": day,
            "reference_type": reference_type,
            "original": original,
            "template": template,
        }

    @staticmethod
    def _number(value: Any, code: str) -> Decimal | None:
        try:
            return as_decimal(value)
        except ValueError as exc:
            raise Reject(code) from exc

    def _reference(self, account: Account, raw: dict, *, preview: bool) -> tuple[int, Invoice | None]:
        """ReferenceType 0 original, 1 replacement, 2 adjustment; find the original when it exists
        (MISA does not insist that it does)."""
        value = raw.get("ReferenceType")
        if value in (None, ""):
            return 0, None
        try:
            reference_type = int(str(value))
        except ValueError as exc:
            raise Reject("Invalid_[Invoice.ReferenceType]") from exc
        if reference_type not in (0, 1, 2):
            raise Reject("Invalid_[Invoice.ReferenceType]")
        if reference_type == 0:
            return 0, None
        for name in ("OrgInvSeries", "OrgInvNo", "OrgInvDate"):
            if raw.get(name) in (None, ""):
                raise Reject(f"RequireError_{name}")
        if parse_day(raw.get("OrgInvDate")) is None:
            raise Reject("Invalid_[Invoice.OrgInvDate]")
        original = self._find_original(account, raw)
        if original is not None and not preview:
            if original.einvoice_status == 7:
                raise Reject("InvoiceCannotReplace" if reference_type == 1 else "InvoiceCannotAdjust")
            if original.einvoice_status == 8 and reference_type == 1:
                raise Reject("HasAdjustmentInvoice")
        return reference_type, original

    @staticmethod
    def _find_original(account: Account, raw: dict) -> Invoice | None:
        org_ref = raw.get("OrgRefID")
        if org_ref and str(org_ref) in account.by_ref:
            return account.by_ref[str(org_ref)]
        org_tx = raw.get("OrgTransactionID")
        if org_tx and str(org_tx) in account.by_tx:
            return account.by_tx[str(org_tx)]
        org_series = str(raw.get("OrgInvSeries") or "").strip().upper()
        template_no = str(raw.get("OrgInvTemplateNo") or "").strip()
        try:
            org_no = int(str(raw.get("OrgInvNo")).strip())
        except ValueError:
            return None
        for invoice in reversed(account.invoices):
            if invoice.inv_no != org_no:
                continue
            if len(org_series) == 7 and invoice.inv_series != org_series:
                continue
            if len(org_series) != 7 and invoice.inv_series[1:] != org_series:
                continue
            if template_no and invoice.inv_series[0] != template_no:
                continue
            return invoice
        return None

    @staticmethod
    def _check_buyer(raw: dict) -> None:
        tax_code = str(raw.get("BuyerTaxCode") or "").strip()
        if not tax_code:
            return
        if not tax_code_valid(tax_code):
            raise Reject("InvalidTaxCode", f"Mã số thuế người mua {tax_code} không hợp lệ")
        for name in ("BuyerLegalName", "BuyerAddress"):
            if not str(raw.get(name) or "").strip():
                raise Reject(f"RequireError_{name}")

    def _check_lines(self, raw: dict, rate: Decimal, *, is_vat: bool) -> dict:
        lines = raw.get("OriginalInvoiceDetail")
        if not isinstance(lines, list) or not lines:
            raise Reject("RequireError_OriginalInvoiceDetail")
        if len(lines) >= MAX_LINES:
            raise Reject("XMLTooLong", f"Hóa đơn có {len(lines)} dòng hàng; tối đa {MAX_LINES - 1}")
        total_without_vat = Decimal(0)
        total_vat = Decimal(0)
        by_rate: dict[str, list[Decimal]] = {}
        for line in lines:
            if not isinstance(line, dict):
                raise Reject("InvalidInvoiceData", "Mỗi dòng hàng phải là một đối tượng")
            item_type = line.get("ItemType", 1)
            if isinstance(item_type, bool) or item_type not in (1, 2, 3, 4, 5):
                raise Reject("InvoiceDetail_ItemType")
            if item_type == 4:  # a note line: text only, VATRateName null
                continue
            rate_name = line.get("VATRateName")
            vat_percent: Decimal | None = None
            if is_vat:
                vat_percent = self._vat_percent(rate_name)
            amount = self._line_value(line, "Amount", rate)
            if amount is None:
                raise Reject("InvoiceDetail_Amount")
            quantity = self._number(line.get("Quantity"), "InvoiceDetail_Quantity")
            price = self._number(line.get("UnitPrice"), "InvoiceDetail_UnitPrice")
            # Quantity 0 / UnitPrice 0 lines carry an amount alone (adjustments of amount only).
            priced = quantity is not None and price is not None and not (quantity == 0 and price == 0)
            if priced and abs(quantity * price * rate - amount) >= ONE:
                raise Reject(
                    "InvoiceDetail_Amount",
                    f"Thành tiền {amount} khác Số lượng × Đơn giá = {quantity * price * rate}",
                )
            discount = self._line_value(line, "DiscountAmount", rate) or Decimal(0)
            without_vat = self._line_value(line, "AmountWithoutVAT", rate)
            if without_vat is None or abs(amount - discount - without_vat) > CENT:
                raise Reject(
                    "InvoiceDetail_AmountWithoutVAT",
                    f"Thành tiền chưa thuế {without_vat} khác Thành tiền − Chiết khấu = {amount - discount}",
                )
            vat = self._line_value(line, "VATAmount", rate)
            if is_vat:
                if vat is None:
                    raise Reject("InvoiceDetail_VATAmount")
                # sandbox: the VAT of a line is its rate applied to its net amount, ±1 đồng of rounding
                if vat_percent is not None and abs(without_vat * vat_percent / 100 - vat) >= ONE:
                    raise Reject(
                        "InvoiceDetail_VATAmount",
                        f"Tiền thuế {vat} khác {rate_name} × {without_vat}",
                    )
            vat = vat or Decimal(0)
            sign = {1: 1, 2: 0, 3: -1, 5: 1}[item_type]  # promotion lines stay out of the totals
            total_without_vat += sign * without_vat
            total_vat += sign * vat
            if is_vat and sign:
                oc_without = self._line_oc(line, "AmountWithoutVAT", rate)
                oc_vat = self._line_oc(line, "VATAmount", rate)
                acc = by_rate.setdefault(str(rate_name), [Decimal(0), Decimal(0)])
                acc[0] += sign * oc_without
                acc[1] += sign * oc_vat
        return {"without_vat": total_without_vat, "vat": total_vat, "by_rate": by_rate}

    @staticmethod
    def _vat_percent(rate_name: Any) -> Decimal | None:
        """The percentage of a VATRateName (0 for KCT/KKKNT); Reject when MISA does not know the name."""
        if not isinstance(rate_name, str):
            raise Reject("InvalidVatPercentage", f"VATRateName {rate_name!r} không hợp lệ")
        if rate_name in FIXED_VAT_RATES:
            return FIXED_VAT_RATES[rate_name]
        if rate_name in ZERO_VAT_NAMES:
            return Decimal(0)
        other = OTHER_RATE_RE.match(rate_name)
        if other:
            return Decimal(other.group(1).replace(",", "."))
        raise Reject("InvalidVatPercentage", f"VATRateName {rate_name!r} không hợp lệ")

    def _line_value(self, line: dict, name: str, rate: Decimal) -> Decimal | None:
        """A line's converted amount; sandbox: lines may give the original-currency value alone."""
        value = self._number(line.get(name), f"InvoiceDetail_{name}")
        if value is None:
            oc = self._number(line.get(name + "OC"), f"InvoiceDetail_{name}OC")
            value = None if oc is None else (oc * rate).quantize(CENT)
        return value

    def _line_oc(self, line: dict, name: str, rate: Decimal) -> Decimal:
        oc = self._number(line.get(name + "OC"), f"InvoiceDetail_{name}OC")
        if oc is None:
            converted = self._number(line.get(name), f"InvoiceDetail_{name}") or Decimal(0)
            oc = converted / rate
        return oc

    def _check_totals(self, raw: dict, rate: Decimal, sums: dict, *, is_vat: bool) -> dict:
        totals: dict[str, Decimal] = {}
        for name in TOTAL_FIELDS:
            code = f"Invalid_[Invoice.{name}]"
            converted = self._number(raw.get(name), code)
            oc = self._number(raw.get(name + "OC"), code)
            if converted is None:
                both_missing_ok = oc is None and (
                    name == "TotalDiscountAmount" or (name == "TotalVATAmount" and not is_vat)
                )
                if not both_missing_ok:
                    raise Reject(code, f"Thiếu {name} (số tiền quy đổi) — chỉ có {name}OC không đủ")
                converted = Decimal(0)
            if oc is not None and abs(oc * rate - converted) >= ONE:
                raise Reject(code, f"{name} = {converted} khác {name}OC × ExchangeRate = {oc * rate}")
            totals[name] = converted
        if abs(totals["TotalAmountWithoutVAT"] + totals["TotalVATAmount"] - totals["TotalAmount"]) > CENT:
            raise Reject(
                "Invalid_[Invoice.TotalAmount]",
                f"TotalAmount {totals['TotalAmount']} khác TotalAmountWithoutVAT + TotalVATAmount = "
                f"{totals['TotalAmountWithoutVAT'] + totals['TotalVATAmount']}",
            )
        if abs(totals["TotalAmountWithoutVAT"] - sums["without_vat"]) > CENT:
            raise Reject(
                "Invalid_[Invoice.TotalAmountWithoutVAT]",
                f"TotalAmountWithoutVAT {totals['TotalAmountWithoutVAT']} khác tổng dòng hàng "
                f"{sums['without_vat']}",
            )
        if is_vat and abs(totals["TotalVATAmount"] - sums["vat"]) > CENT:
            raise Reject(
                "Invalid_[Invoice.TotalVATAmount]",
                f"TotalVATAmount {totals['TotalVATAmount']} khác tổng tiền thuế dòng hàng {sums['vat']}",
            )
        return totals

    def _check_tax_rate_info(self, raw: dict, expected: dict[str, list[Decimal]]) -> None:
        info = raw.get("TaxRateInfo")
        if not isinstance(info, list) or not info:
            raise Reject("TaxRateInfo_VATRateName", "Thiếu bảng tổng hợp thuế suất TaxRateInfo")
        seen: dict[str, tuple[Decimal, Decimal]] = {}
        for entry in info:
            if not isinstance(entry, dict):
                raise Reject("TaxRateInfo_VATRateName")
            name = entry.get("VATRateName")
            try:
                self._vat_percent(name)
            except Reject as exc:
                raise Reject("TaxRateInfo_VATRateName", f"VATRateName {name!r} không hợp lệ") from exc
            if name in seen:
                raise Reject("TaxRateInfo_VATRateName", f"VATRateName {name} xuất hiện hai lần")
            without = entry.get("AmountWithoutVATOC", entry.get("AmountWithoutVAT"))
            vat = entry.get("VATAmountOC", entry.get("VATAmount"))
            seen[name] = (
                self._number(without, "TaxRateInfo_AmountWithoutVATOC") or Decimal(0),
                self._number(vat, "TaxRateInfo_VATAmountOC") or Decimal(0),
            )
        for name in sorted(set(expected) | set(seen)):
            want = expected.get(name, [Decimal(0), Decimal(0)])
            if name not in seen:
                raise Reject("TaxRateInfo_VATRateName", f"Bảng tổng hợp thuế suất thiếu thuế suất {name}")
            got = seen[name]
            if abs(got[0] - want[0]) > CENT:
                raise Reject(
                    "TaxRateInfo_AmountWithoutVATOC",
                    f"Thuế suất {name}: AmountWithoutVATOC {got[0]} khác tổng dòng hàng {want[0]}",
                )
            if abs(got[1] - want[1]) > CENT:
                raise Reject(
                    "TaxRateInfo_VATAmountOC",
                    f"Thuế suất {name}: VATAmountOC {got[1]} khác tổng dòng hàng {want[1]}",
                )

    # --- previews --------------------------------------------------------------------------------

    def _base_url(self, request: Request) -> str:
        root = self.knobs.get("public_url")
        if not root:
            host = request.headers.get("Host")
            root = f"http://{host}" if host else self.public_url
        return str(root).rstrip("/") + request.prefix

    def _new_view(self, request: Request, html: str) -> str:
        with self.lock:
            token = uuid.UUID(int=self.rng.getrandbits(128), version=4).hex
            self.views[token] = View(
                html=html, expires_at=self.clock() + float(self.knobs["view_ttl_seconds"])
            )
        return f"{self._base_url(request)}/view/{token}"

    def api_unpublish_view(self, request, context, account):
        body = request.json()
        if isinstance(body, dict) and isinstance(body.get("InvoiceData"), list):
            body = body["InvoiceData"]
        if isinstance(body, list):
            if len(body) != 1:
                raise ApiError(400, "InvalidInvoiceData", "Xem trước từng hóa đơn một")
            body = body[0]
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidInvoiceData", "Body must be one InvoiceData")
        with self.lock:
            try:
                checked = self._validate(account, body, preview=True)
            except Reject as rej:
                context["error_code"] = rej.code
                return json_response(self._pascal(False, None, rej.code, [rej.description]))
        html = self._invoice_html(account, body, checked["series"], None, draft=True)
        return json_response(self._pascal(True, self._new_view(request, html)))

    def api_publish_view(self, request, context, account):
        ids = request.json()
        if not isinstance(ids, list) or not ids:
            raise ApiError(400, "InvalidInvoiceData", "Body must be an array of TransactionIDs")
        if len(ids) > MAX_IDS_PER_LOOKUP:
            raise ApiError(400, "InvoiceQuantityTooLarge")
        with self.lock:
            found = [account.by_tx[str(i)] for i in ids if str(i) in account.by_tx]
            pages = [self._invoice_html(account, inv.data, inv.inv_series, inv, draft=False) for inv in found]
        if not pages:
            return json_response(self._pascal(False, None, "InvalidTransactionID", ["InvalidTransactionID"]))
        return json_response(self._pascal(True, self._new_view(request, "<hr>".join(pages))))

    def _invoice_html(
        self, account: Account, data: dict, series: str, invoice: Invoice | None, *, draft: bool
    ):
        def cell(value: Any) -> str:
            return f"<td>{escape('' if value is None else str(value))}</td>"

        rows = "".join(
            "<tr>"
            + "".join(
                cell(line.get(k))
                for k in (
                    "LineNumber",
                    "ItemName",
                    "UnitName",
                    "Quantity",
                    "UnitPrice",
                    "VATRateName",
                    "Amount",
                )
            )
            + "</tr>"
            for line in data.get("OriginalInvoiceDetail") or []
            if isinstance(line, dict)
        )
        title = "BẢN XEM TRƯỚC – CHƯA PHÁT HÀNH" if draft else "HÓA ĐƠN GIÁ TRỊ GIA TĂNG"
        number = invoice.number if invoice else "(chưa cấp số)"
        lookup = f"<p>Mã tra cứu: {escape(invoice.transaction_id)}</p>" if invoice else ""
        buyer = data.get("BuyerLegalName") or data.get("BuyerFullName") or ""
        return (
            f"<section><h1>{escape(title)}</h1>"
            f"<p>Đơn vị bán: {escape(account.name)} — MST {escape(account.tax_code)}</p>"
            f"<p>Ký hiệu: {escape(series)} Số: {escape(number)} "
            f"Ngày: {escape(str(data.get('InvDate') or ''))}</p>"
            f"<p>Người mua: {escape(str(buyer))} {escape(str(data.get('BuyerTaxCode') or ''))}</p>"
            "<table><tr><th>STT</th><th>Tên hàng</th><th>ĐVT</th><th>SL</th><th>Đơn giá</th>"
            f"<th>Thuế suất</th><th>Thành tiền</th></tr>{rows}</table>"
            f"<p>Tổng tiền thanh toán: {escape(str(data.get('TotalAmount')))}</p>{lookup}</section>"
        )

    def _view(self, request: Request, token: str) -> Response:
        with self.lock:
            view = self.views.get(token)
            expired = view is not None and self.clock() >= view.expires_at
        if view is None:
            return text_response("<h1>Không tìm thấy hóa đơn</h1>", 404, content_type="text/html")
        if expired:
            return text_response("<h1>Liên kết xem hóa đơn đã hết hạn</h1>", 410, content_type="text/html")
        page = f'<!doctype html><html lang="vi"><meta charset="utf-8"><body>{view.html}</body></html>'
        return text_response(page, content_type="text/html")

    # --- look-ups --------------------------------------------------------------------------------

    def _status_row(self, invoice: Invoice) -> dict:
        return {
            "RefID": invoice.ref_id,
            "InvSeries": invoice.inv_series,
            "TransactionID": invoice.transaction_id,
            "InvNo": invoice.number,
            "InvoiceCode": invoice.inv_code,
            "InvDate": net_date(invoice.inv_date),
            "PublishStatus": 1,
            "PublishedTime": iso_vn(invoice.published_wall),
            "EInvoiceStatus": invoice.einvoice_status,
            "ReferenceType": invoice.reference_type,
            "SendTaxStatus": self.send_tax_status(invoice),
            "IsDelete": False,
        }

    def _control_row(self, invoice: Invoice) -> dict:
        row = self._status_row(invoice)
        row.update(
            {
                "MST": invoice.tax_code,
                "OrgRefID": invoice.org_ref_id,
                "TotalAmount": invoice.data.get("TotalAmount"),
                "Seq": invoice.seq,
            }
        )
        return row

    @staticmethod
    def _with_code_filter(request: Request) -> Callable[[Invoice], bool]:
        with_code = truthy(request.arg("invoiceWithCode"))
        return lambda inv: with_code is None or (inv.inv_series[1] == "C") == with_code

    def api_status(self, request, context, account):
        ids = request.json()
        if not isinstance(ids, list):
            raise ApiError(400, "InvalidInvoiceData", "Body must be a JSON array of ids")
        if len(ids) > MAX_IDS_PER_LOOKUP:
            raise ApiError(400, "InvoiceQuantityTooLarge", f"Tối đa {MAX_IDS_PER_LOOKUP} mã mỗi lần tra cứu")
        input_type = request.arg("inputType") or "1"
        if input_type not in ("1", "2"):
            raise ApiError(400, "InvalidInvoiceData", "inputType is 1 (TransactionID) or 2 (RefID)")
        keep = self._with_code_filter(request)
        with self.lock:
            index = account.by_tx if input_type == "1" else account.by_ref
            rows, seen = [], set()
            for key in ids:
                invoice = index.get(str(key).strip()) if key is not None else None
                if invoice is not None and keep(invoice) and invoice.seq not in seen:
                    seen.add(invoice.seq)
                    rows.append(self._status_row(invoice))
        return json_response(self._pascal(True, json_text(rows)))

    def api_paging(self, request, context, account):
        body = request.json()
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidInvoiceData", "Body must be {FromDate, ToDate, Skip, Take}")
        fields = lower_keys(body)
        start, end = parse_day(fields.get("fromdate")), parse_day(fields.get("todate"))
        if start is None or end is None:
            raise ApiError(400, "InvalidInvoiceData", "FromDate and ToDate are yyyyMMdd dates")
        try:
            skip = int(fields.get("skip") or 0)
            take = int(fields.get("take") if fields.get("take") is not None else MAX_TAKE)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "InvalidInvoiceData", "Skip and Take are integers") from exc
        if skip < 0 or take < 1 or take > MAX_TAKE:
            raise ApiError(400, "InvalidInvoiceData", f"Take is between 1 and {MAX_TAKE}")
        keep = self._with_code_filter(request)
        with self.lock:
            chosen = sorted(
                (inv for inv in account.invoices if start <= inv.inv_date <= end and keep(inv)),
                key=lambda inv: (inv.inv_date, inv.seq),
            )
            rows = []
            for invoice in chosen[skip : skip + take]:
                row = self._status_row(invoice)
                data = invoice.data
                for name in (
                    "BuyerLegalName",
                    "BuyerFullName",
                    "BuyerTaxCode",
                    "CurrencyCode",
                    "TotalAmountWithoutVAT",
                    "TotalVATAmount",
                    "TotalAmount",
                ):
                    row[name] = data.get(name)
                rows.append(row)
        return json_response(self._pascal(True, json_text(rows)))

    # --- control endpoints -----------------------------------------------------------------------

    def calls_context(self) -> dict[str, Any]:
        return {"clock": self.clock()}

    def ctl_invoices(self, request):
        mst = request.arg("mst")
        ref_id = request.arg("ref_id")
        with self.lock:
            if mst and mst not in self.accounts:
                return json_response({"error": f"no account {mst}"}, 404)
            accounts = [self.accounts[mst]] if mst else list(self.accounts.values())
            out = {
                acc.tax_code: [
                    self._control_row(inv) for inv in acc.invoices if ref_id is None or inv.ref_id == ref_id
                ]
                for acc in accounts
            }
            rejected = {acc.tax_code: list(acc.rejected) for acc in accounts}
            last = {acc.tax_code: {s: f"{n:08d}" for s, n in acc.last_no.items()} for acc in accounts}
        return json_response(
            {
                "invoices": out,
                "count": sum(len(v) for v in out.values()),
                "last_numbers": last,
                "rejected": rejected,
            }
        )

    def ctl_advance(self, request):
        body = self.control_body(request)
        seconds = body.get("seconds", request.arg("seconds"))
        try:
            seconds = float(seconds)
        except (TypeError, ValueError) as exc:
            raise BadRequest("seconds (a number ≥ 0) is required") from exc
        now = self.advance(seconds)
        return json_response({"clock": now, "now": iso_vn(self.wall())})

    def ctl_accounts(self, request):
        if request.method == "POST":
            body = self.control_body(request)
            tax_code = str(body.get("taxcode") or body.get("mst") or body.get("tax_code") or "").strip()
            if not tax_code:
                raise BadRequest("taxcode is required")
            account = self.add_account(
                tax_code,
                appid=str(body.get("appid") or DEMO_APPID),
                username=str(body.get("username") or DEMO_USERNAME),
                password=str(body.get("password") or DEMO_PASSWORD),
                name=body.get("name"),
                templates=body.get("templates"),
            )
            return json_response({"account": self._account_json(account)}, 201)
        with self.lock:
            return json_response({"accounts": [self._account_json(a) for a in self.accounts.values()]})

    @staticmethod
    def _account_json(account: Account) -> dict:
        return {
            "taxcode": account.tax_code,
            "name": account.name,
            "appid": account.appid,
            "username": account.username,
            "templates": [
                {"InvSeries": t["InvSeries"], "Inactive": t["Inactive"]} for t in account.templates
            ],
            "invoices": len(account.invoices),
        }

    def ctl_expire_tokens(self, request):
        body = self.control_body(request)
        return json_response({"expired": self.expire_tokens(body.get("mst") or None)})
