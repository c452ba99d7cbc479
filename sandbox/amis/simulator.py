"""The AMIS simulator: what its resources share (companies, tokens, the clock, knobs, the callback queue)
and the front door every API call passes: ``/api/oauth/actopen/connect`` and ``/apir/sync/actopen/<name>``
(``/api/sync/actopen/<name>`` too: amis.md §3 says both appear to work), routes matched case-insensitively,
the ``X-MISA-AccessToken`` check, faults, the envelope and the call log."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

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
from ..webhooks import Sender, WebhookDispatcher
from .callbacks import Callbacks
from .companies import DEMO_ACCESS_CODE, DEMO_APP_ID, DEMO_COMPANIES, Companies, demo_dictionary
from .control import CHOICES, KNOBS, PROBABILITY_KNOBS, Controls
from .dictionary import Dictionary
from .helpers import AmisError, envelope, failure, key, net_time, setting, text, vn
from .inventory import Inventory
from .state import Company
from .tampering import Tampering
from .vouchers import Vouchers

CONNECT_PATH = "/api/oauth/actopen/connect"
SYNC_PREFIXES = ("/apir/sync/actopen/", "/api/sync/actopen/")
TOKEN_HEADER = "X-MISA-AccessToken"
COMPANY_IN_BODY = frozenset(
    {"save", "save_dictionary", "delete"}
)  # amis.md §1: these repeat org_company_code
GATEWAY_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class AmisSimulator(MovableClock, Simulator):
    name = "amis"
    DEFAULT_KNOBS = KNOBS
    PROBABILITY_KNOBS = PROBABILITY_KNOBS
    CALLS_FILTER = "company"
    CONTROL_ERRORS = (BadRequest, KnobError, ValueError, KeyError)

    def __init__(
        self,
        *,
        seed: int | None = 20260101,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
        app_id: str = DEMO_APP_ID,
        callback_url: str | None = None,
        callback_sender: Sender | None = None,
        callback_background: bool = True,
        seed_companies: bool = True,
        call_log_size: int = 20000,
    ):
        super().__init__(seed=seed, clock=clock, call_log_size=call_log_size)
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.app_id = app_id
        self._callback_url = callback_url
        self.seed_companies = seed_companies
        self.background = callback_background
        self.webhooks = WebhookDispatcher(callback_sender, background=callback_background)
        self.router = Router()
        self._companies = Companies(self)
        self.vouchers = Vouchers(self)
        self.callbacks = Callbacks(self)
        for resource in (self._companies, Dictionary(self), self.vouchers, self.callbacks, Inventory(self)):
            resource.register(self.router)
        Controls(self).register(self.control)
        Tampering(self).register(self.control)
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self.reset_state()

    # --- clock -----------------------------------------------------------------------------------

    def advance(self, seconds: float) -> float:
        """Move the simulator clock forward (tokens age) and run what became due."""
        now = self.move_clock(seconds)
        self.pump()
        return now

    # --- knobs and state -------------------------------------------------------------------------

    def set_knobs(self, **changes) -> dict[str, Any]:
        with self.lock:
            for name, allowed in CHOICES.items():
                if name in changes and str(changes[name]) not in allowed:
                    raise KnobError(f"knob {name} is one of {', '.join(allowed)}")
            result = super().set_knobs(**changes)
            self._apply_callback_knobs()
            return result

    def _apply_callback_knobs(self) -> None:
        self.webhooks.max_attempts = max(1, int(self.knobs["callback_max_attempts"]))
        self.webhooks.backoff = max(0.0, float(self.knobs["callback_backoff_seconds"]))

    def reset_state(self) -> None:
        super().reset_state()
        self._offset = 0.0
        self._calls = itertools.count(1)
        self._apply_callback_knobs()
        self.companies: dict[str, Company] = {}
        self.tokens: dict = {}
        self.callbacks.reset()
        self.webhooks.clear()
        if self.seed_companies:
            for code in DEMO_COMPANIES:
                self.add_company(code)

    @property
    def default_callback_url(self) -> str | None:
        return self._callback_url or setting(
            "SANDBOX_AMIS_CALLBACK_URL", "http://127.0.0.1:8000/webhooks/amis/"
        )

    def add_company(
        self,
        code: str,
        *,
        name: str | None = None,
        tax_code: str | None = None,
        access_code: str = DEMO_ACCESS_CODE,
        callback_url: str | None = None,
    ) -> Company:
        """A company with the demo master data, reachable with ``access_code``."""
        code = text(code)
        if not code:
            raise ValueError("org_company_code is required")
        demo_name, demo_tax = DEMO_COMPANIES.get(code, (f"Công ty {code}", "0100000000"))
        with self.lock:
            company = Company(
                code=code,
                name=name or demo_name,
                tax_code=tax_code or demo_tax,
                access_code=access_code,
                callback_url=callback_url or self.default_callback_url,
                dictionary=demo_dictionary(self, code),
            )
            self.companies[key(code)] = company
            return company

    def login(self, code: str) -> str:
        """A valid token for a company without going through HTTP (tests)."""
        from .companies import issue_token

        with self.lock:
            return issue_token(self, self.companies[key(code)]).value

    def set_balance(self, code: str, item: str, stock: str, quantity) -> None:
        """Stock on hand of one item in one warehouse of a company, as if booked in AMIS (tests, demo)."""
        from decimal import Decimal

        from .inventory import add

        with self.lock:
            add(self.companies[key(code)], text(item), text(stock), Decimal(str(quantity)), absolute=True)

    def expire_tokens(self, code: str | None = None) -> int:
        with self.lock:
            now = self.clock()
            hit = 0
            for token in self.tokens.values():
                if (code is None or key(token.company) == key(code)) and token.expires_at > now:
                    token.expires_at = now
                    hit += 1
            return hit

    def check_company(self, company: Company) -> None:
        """The company-level refusals: AppIDDisconnect, DBAmisNotConnectDBACT (knobs)."""
        for knob, code in (
            ("app_disconnected", "AppIDDisconnect"),
            ("db_not_connected", "DBAmisNotConnectDBACT"),
        ):
            listed = {key(c) for c in (self.knobs[knob] or "").split(",") if c.strip()}
            if "*" in listed or key(company.code) in listed:
                raise AmisError(code)

    # --- the accountant and the callback queue ---------------------------------------------------

    def pump(self, *, release_held: bool = False) -> None:
        """Generate the proposals whose moment came, hand due callbacks to the dispatcher and, in manual
        mode, deliver them in this thread."""
        with self.lock:
            now = self.clock()
            for company in self.companies.values():
                for proposal in list(company.proposals.values()):
                    if (
                        proposal.status == "proposal"
                        and proposal.generate_at is not None
                        and proposal.generate_at <= now
                    ):
                        self.vouchers.generate(company, proposal, proposal.generate_at)
            for callback in self.callbacks.due():
                self.callbacks.send(callback)
            if release_held:
                self.callbacks.release_held()
        if not self.background:
            self.webhooks.drain()

    def _tick(self) -> None:
        while not self._stopping.wait(0.05):
            try:
                self.pump()
            except Exception:  # never let the ticker die
                import logging

                logging.getLogger(__name__).exception("AMIS simulator tick failed")

    def _ensure_ticker(self) -> None:
        if not self.background:
            return
        with self.lock:
            if self._ticker is None or not self._ticker.is_alive():
                self._stopping.clear()
                self._ticker = threading.Thread(target=self._tick, name="sandbox-amis", daemon=True)
                self._ticker.start()

    def close(self) -> None:
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.join(1.0)
        self._ticker = None
        self.webhooks.close()

    # --- the front door --------------------------------------------------------------------------

    def handle_api(self, request: Request) -> Response:
        self._ensure_ticker()
        lowered = request.path.lower().rstrip("/")
        started = time.perf_counter()
        context: dict[str, Any] = {"company": None, "error_code": None, "lost": False}
        if lowered == CONNECT_PATH:
            name = "connect"
        else:
            prefix = next((p for p in SYNC_PREFIXES if lowered.startswith(p)), None)
            name = lowered[len(prefix) :] if prefix else None
        response = self._call(request, name, context)
        with self.lock:
            self.calls.append(
                {
                    "seq": next(self._calls),
                    "method": request.method,
                    "path": request.prefix + request.path,
                    "endpoint": name,
                    "status": response.status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                    "company": context["company"],
                    "error_code": context["error_code"],
                    "lost": context["lost"],
                    "at": net_time(vn(self.wall())),
                }
            )
        return response

    def _call(self, request: Request, name: str | None, context: dict) -> Response:
        handler, _, known = self.router.match(request.method, name or "") if name else (None, {}, False)
        if name == "connect":
            known = True
            handler = None if request.method != "POST" else self._companies.connect
        if handler is None:
            if known:
                return json_response(
                    {"Message": f"The requested resource does not support http method '{request.method}'."},
                    405,
                )
            return json_response(
                {"Message": f"No HTTP resource was found that matches the request URI '{request.path}'."}, 404
            )
        self.sleep_latency()
        if name == "save":
            delay = float(self.knobs["save_latency_ms"]) / 1000.0
            if delay > 0:
                time.sleep(delay)
        if self.roll(float(self.knobs["error_rate"])):
            return self._server_error()
        try:
            body = request.json()
            if not isinstance(body, dict):
                raise AmisError("InvalidParam", "Body phải là một đối tượng JSON")
            if name == "connect":
                return handler(request, body, context)
            company = self._authenticate(request, body, context, name)
            response = handler(request, body, company)
        except BadRequest as exc:
            context["error_code"] = "InvalidParam"
            return failure(AmisError("InvalidParam", str(exc)))
        except AmisError as err:
            context["error_code"] = err.code
            return failure(err)
        if name in ("save", "delete") and self.roll(float(self.knobs["timeout_after_accept_rate"])):
            context["lost"] = True
            if self.knobs["lost_answer_mode"] == "504":
                return text_response(
                    GATEWAY_HTML.format(code=504, reason="Gateway Time-out"), 504, content_type="text/html"
                )
            time.sleep(float(self.knobs["timeout_after_accept_seconds"]))  # the client gave up long ago
        return response

    def _authenticate(self, request: Request, body: dict, context: dict, endpoint: str) -> Company:
        """``X-MISA-AccessToken`` → its company; the body's ``app_id`` and ``org_company_code`` (required
        on the writing calls) must match. amis.md §1: token errors answer HTTP 200 with ErrorCode."""
        value = (request.headers.get(TOKEN_HEADER) or "").strip()
        with self.lock:
            token = self.tokens.get(value) if value else None
            if token is None:
                raise AmisError("InvalidToken")
            company = self.companies[key(token.company)]
            context["company"] = company.code
            if token.expires_at <= self.clock() or self.roll(float(self.knobs["token_expiry_rate"])):
                token.expires_at = min(token.expires_at, self.clock())
                raise AmisError("ExpiredToken")
            if text(body.get("app_id")) != self.app_id:
                raise AmisError("InvalidAppID")
            given = body.get("org_company_code")
            if given in (None, "") and endpoint in COMPANY_IN_BODY:
                raise AmisError("InvalidParam", "Thiếu org_company_code")
            if given not in (None, "") and key(given) != key(company.code):
                raise AmisError("InvalidParam", f"org_company_code {given} không khớp với token")
            self.check_company(company)
            return company

    def _server_error(self) -> Response:
        with self.lock:
            pick = self.rng.choice((500, 502, 503))
        if pick == 500:
            return json_response(
                envelope(False, None, "Exception", "Lỗi chưa xác định được nguyên nhân"), 500
            )
        reason = "Bad Gateway" if pick == 502 else "Service Temporarily Unavailable"
        return text_response(GATEWAY_HTML.format(code=pick, reason=reason), pick, content_type="text/html")
