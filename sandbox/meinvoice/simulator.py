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
import string
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
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
    json_response,
    text_response,
)
from .helpers import (
    GATEWAY_HTML,
    SERIES_RE,
    VN_TZ,
    ApiError,
    Reject,
    describe,
    iso_vn,
    json_text,
    lower_keys,
    net_date,
    parse_day,
    pascal,
    truthy,
)
from .state import Account, Invoice, Token, View
from .validation import validate

API_PREFIX = "/api/integration"
MAX_INVOICES_PER_CALL = 50
MAX_IDS_PER_LOOKUP = 50
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
TX_ALPHABET = string.ascii_uppercase + string.digits
EINVOICE_STATUS_BY_REFERENCE = {0: 1, 1: 3, 2: 5}  # original, replacement, adjustment
ORIGINAL_MARK_BY_REFERENCE = {1: 7, 2: 8}  # replaced, adjusted


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
            return json_response(pascal(False, None, "Exception", [describe("Exception")]), 500)
        reason = "Bad Gateway" if pick == 502 else "Service Temporarily Unavailable"
        return text_response(GATEWAY_HTML.format(code=pick, reason=reason), pick, content_type="text/html")

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
            body = pascal(False, None, err.code, err.errors if err.errors is not None else [err.description])
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
        return json_response(pascal(True, token))

    def api_templates(self, request, context, account):
        with_code = truthy(request.arg("invoiceWithCode"))
        if truthy(request.arg("ticket")):
            return json_response(pascal(True, "[]"))
        with self.lock:
            rows = [
                dict(t)
                for t in account.templates
                if with_code is None or (t["InvSeries"][1] == "C") == with_code
            ]
        return json_response(pascal(True, json_text(rows)))

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
            checked = validate(self, account, raw, preview=False)
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
                checked = validate(self, account, body, preview=True)
            except Reject as rej:
                context["error_code"] = rej.code
                return json_response(pascal(False, None, rej.code, [rej.description]))
        html = self._invoice_html(account, body, checked["series"], None, draft=True)
        return json_response(pascal(True, self._new_view(request, html)))

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
            return json_response(pascal(False, None, "InvalidTransactionID", ["InvalidTransactionID"]))
        return json_response(pascal(True, self._new_view(request, "<hr>".join(pages))))

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
        return json_response(pascal(True, json_text(rows)))

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
        return json_response(pascal(True, json_text(rows)))

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
