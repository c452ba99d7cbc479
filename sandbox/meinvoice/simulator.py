"""The meInvoice simulator: what its resources share (companies, tokens, the simulator clock, knobs) and
the front door every API call passes: routes matched case-insensitively like ASP.NET, one shared auth
filter (Bearer token bound to the ``CompanyTaxCode`` header), faults, envelopes and the call log.

Envelopes are PascalCase ``{"Success","Data","ErrorCode","Errors","CustomData"}`` everywhere except the
publish call, which answers camelCase ``{"success","errorCode","descriptionErrorCode",
"createInvoiceResult","publishInvoiceResult"}``; authentication failures are PascalCase on every route.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from ..core import (
    BadRequest,
    KnobError,
    MovableClock,
    Request,
    Response,
    Router,
    Simulator,
    json_response,
    text_response,
)
from .accounts import (
    DEMO_ACCOUNTS,
    DEMO_APPID,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    Accounts,
    build_template,
    demo_templates,
    issue_token,
)
from .control import KNOBS, PROBABILITY_KNOBS, Controls
from .helpers import GATEWAY_HTML, VN_TZ, ApiError, describe, iso_vn, pascal
from .lookups import Lookups, control_row
from .previews import Previews
from .publish import Publishing
from .state import Account, Invoice, Token, View
from .tampering import Tampering

API_PREFIX = "/api/integration"


class MeInvoiceSimulator(MovableClock, Simulator):
    name = "meinvoice"
    DEFAULT_KNOBS = KNOBS
    PROBABILITY_KNOBS = PROBABILITY_KNOBS
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
        accounts = Accounts(self)
        self._publishing = Publishing(self)
        self._previews = Previews(self)
        self.router = Router()
        for resource in (accounts, self._publishing, self._previews, Lookups(self)):
            resource.register(self.router)
        self._sign_in = accounts.token  # the one call without a token
        Controls(self).register(self.control)
        Tampering(self).register(self.control)
        self.reset_state()

    # --- clock -----------------------------------------------------------------------------------

    def today(self) -> date:
        return self.wall().astimezone(VN_TZ).date()

    def advance(self, seconds: float) -> float:
        """Move the simulator clock forward (tokens age, SendTaxStatus advances, links expire)."""
        return self.move_clock(seconds)

    def send_tax_status(self, invoice: Invoice) -> int:
        """sandbox: 0 at publish, 1 after ``tax_send_seconds``, then 2 (or 3 for the share
        ``tax_reject_rate`` decided at publish) after ``tax_accept_seconds``, both from publishing."""
        elapsed = self.clock() - invoice.published_at
        send = float(self.knobs["tax_send_seconds"])
        accept = max(send, float(self.knobs["tax_accept_seconds"]))
        if elapsed < send:
            return 0
        if elapsed < accept:
            return 1
        return invoice.tax_fate

    # --- knobs and state -------------------------------------------------------------------------

    def set_knobs(self, **changes) -> dict[str, Any]:
        with self.lock:
            if "lost_answer_mode" in changes and str(changes["lost_answer_mode"]) not in ("sleep", "504"):
                raise KnobError('knob lost_answer_mode is "sleep" or "504"')
            if "series_form" in changes and str(changes["series_form"]) not in ("split", "joined"):
                raise KnobError('knob series_form is "split" or "joined"')
            if "token_expired_status" in changes and str(changes["token_expired_status"]) not in (
                "200",
                "401",
            ):
                raise KnobError("knob token_expired_status is 401 or 200")
            return super().set_knobs(**changes)

    def reset_state(self) -> None:
        super().reset_state()
        self._offset = 0.0
        self._seq = {"call": itertools.count(1), "invoice": itertools.count(1)}
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, Token] = {}
        self.views: dict[str, View] = {}
        self.transaction_ids: set[str] = set()
        if self.seed_accounts:
            for tax_code, name in DEMO_ACCOUNTS.items():
                self.add_account(tax_code, name=name)

    def next_id(self, kind: str) -> int:
        """The next sequence number of a logged call or an issued invoice."""
        return next(self._seq[kind])

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
            if templates is None:
                templates = demo_templates(self.today().year)
            account = Account(
                tax_code=tax_code,
                name=name or f"Công ty {tax_code}",
                appid=appid,
                username=username,
                password=password,
                templates=[build_template(self, t) for t in templates],
            )
            self.accounts[tax_code] = account
            return account

    def login(self, tax_code: str) -> str:
        """A valid token for ``tax_code`` without going through HTTP (tests)."""
        with self.lock:
            if tax_code not in self.accounts:
                raise KeyError(tax_code)
            return issue_token(self, tax_code)

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

    def revoke_tokens(self, tax_code: str | None = None) -> int:
        """Make every live token stale (of one MST when given), as a login elsewhere or a changed
        password does: the next business call answers ``UnAuthorize`` and a new login works."""
        with self.lock:
            hit = 0
            for token in self.tokens.values():
                if (tax_code is None or token.tax_code == tax_code) and not token.stale:
                    token.stale = True
                    hit += 1
            return hit

    def issue(self, account: Account, raw: dict, checked: dict) -> Invoice:
        """Issue one invoice as a publish call would, from what validation made of it."""
        return self._publishing._issue(account, raw, checked)

    def invoices(self, tax_code: str | None = None) -> list[dict]:
        """Every issued invoice (of one MST), in issue order, as the control endpoint shows them."""
        with self.lock:
            accounts = [self.accounts[tax_code]] if tax_code else list(self.accounts.values())
            return [control_row(self, inv) for acc in accounts for inv in acc.invoices]

    # --- the front door --------------------------------------------------------------------------

    def handle_api(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/view/"):
            return self._previews.view(request, path[len("/view/") :])
        lowered = path.lower().rstrip("/")
        if lowered.startswith(API_PREFIX + "/"):
            return self._api_call(request, lowered[len(API_PREFIX) :])
        return json_response(
            {"Message": f"No HTTP resource was found that matches the request URI '{path}'."}, 404
        )

    def _api_call(self, request: Request, subpath: str) -> Response:
        started_perf = time.perf_counter()
        started = self.clock()
        context: dict[str, Any] = {"mst": None, "error_code": None, "lost": False}
        self.sleep_latency()
        handler, params, known = self.router.match(request.method, subpath)
        camel = handler == self._publishing.publish
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
                if handler == self._sign_in:
                    response = handler(request, context)
                else:
                    account = self._authenticate(request, context)
                    context["mst"] = account.tax_code
                    response = handler(request, context, account, **params)
            except ApiError as err:
                context["error_code"] = err.code
                response = self._envelope_error(err, camel=camel and not err.pascal)
            except BadRequest as exc:
                context["error_code"] = "InvalidInvoiceData"
                response = self._envelope_error(ApiError(400, "InvalidInvoiceData", str(exc)), camel=camel)
        with self.lock:
            self.calls.append(
                {
                    "seq": self.next_id("call"),
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

    @staticmethod
    def _envelope_error(err: ApiError, *, camel: bool) -> Response:
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
        """The shared auth filter: Bearer token + CompanyTaxCode header, both bound together.
        sandbox: a missing, unknown or other-MST token answers HTTP 401 ``InvalidTokenCode``; an expired
        one HTTP 401 ``TokenExpiredCode`` (or HTTP 200 with the same body: knob ``token_expired_status``);
        a stale one (revoked, or knob ``stale_token_rate``) HTTP 400 ``UnAuthorize``."""
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
            if not token.stale and self.roll(float(self.knobs["stale_token_rate"])):
                token.stale = True  # stays stale: the client must log in again
            if token.stale:
                # MISA answers a token it no longer honours as it answers wrong credentials
                raise ApiError(400, "UnAuthorize", errors=["UnAuthorize"], pascal=True)
            return account

    # --- control endpoints -----------------------------------------------------------------------

    def calls_context(self) -> dict[str, Any]:
        return {"clock": self.clock()}
