"""The Maventa simulator: what its resources share (users, companies, tokens, the receiver directory, the
clock, knobs) and the front door every API call passes: routing, the Bearer token and its scopes, faults, the
error body and the call log."""

from __future__ import annotations

import itertools
import re
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..core import BadRequest, KnobError, MovableClock, Request, Response, Router, Simulator, text_response
from .company import CompanyResources
from .control import CHOICES, KNOBS, PROBABILITY_KNOBS, Controls
from .demo import DEMO_COMPANIES, DEMO_RECEIVERS, DEMO_VENDOR_API_KEY
from .helpers import MaventaError, error_response, iso, normalise_bid
from .invoices import Invoices
from .lookup import Lookup
from .oauth import OAuth, expand
from .registration import Registration, default_settings
from .state import Company, Invoice, Token, User
from .tampering import Tampering

GATEWAY_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
)
FI_OVT_SCHEMES = frozenset({"0037", "0216"})


class MaventaSimulator(MovableClock, Simulator):
    """Maventa AutoXChange at ``/maventa`` (maventa-severa.md §2). ``seed_demo`` registers the two demo
    companies (verified, linked to ``DEMO_VENDOR_API_KEY``) and the demo receiver directory."""

    name = "maventa"
    DEFAULT_KNOBS = KNOBS
    PROBABILITY_KNOBS = PROBABILITY_KNOBS
    CALLS_FILTER = "company"
    CONTROL_ERRORS = (BadRequest, KnobError, ValueError, KeyError)

    def __init__(
        self,
        *,
        seed: int | None = 20260301,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
        seed_demo: bool = True,
        vendor_api_key: str = DEMO_VENDOR_API_KEY,
        call_log_size: int = 20000,
    ):
        super().__init__(seed=seed, clock=clock, call_log_size=call_log_size)
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.seed_demo = seed_demo
        self.vendor_keys = {vendor_api_key}
        self.router = Router()
        self.invoices = Invoices(self)
        for resource in (
            OAuth(self),
            Registration(self),
            CompanyResources(self),
            self.invoices,
            Lookup(self),
        ):
            resource.register(self.router)
        Controls(self).register(self.control)
        Tampering(self).register(self.control)
        self.reset_state()

    # --- clock -----------------------------------------------------------------------------------

    def advance(self, seconds: float) -> float:
        self.move_clock(seconds)
        self.pump()
        return self.clock()

    # --- state -----------------------------------------------------------------------------------

    def set_knobs(self, **changes) -> dict[str, Any]:
        for name, allowed in CHOICES.items():
            if name in changes and str(changes[name]) not in allowed:
                raise KnobError(f"knob {name} is one of {', '.join(allowed)}")
        return super().set_knobs(**changes)

    def reset_state(self) -> None:
        super().reset_state()
        self._offset = 0.0
        self._seq = itertools.count(1)
        self.users: dict[str, User] = {}  # casefolded e-mail → user
        self.companies: dict[str, Company] = {}
        self.tokens: dict[str, Token] = {}
        self.invoice_uuids: dict[str, tuple[str, str]] = {}  # uuid (or id) → (company id, invoice id)
        self.pending: dict[str, Invoice] = {}  # invoices still PENDING, by id (what ``pump`` looks at)
        self.receivers: list[dict] = [dict(r) for r in DEMO_RECEIVERS]
        if self.seed_demo:
            for row in DEMO_COMPANIES:
                self._seed_company(row)

    def _seed_company(self, row: dict) -> Company:
        user = self.add_user(row["user"], api_key=row["api_key"], first_name="Demo", last_name=row["name"])
        company = self.add_company(
            row["id"],
            name=row["name"],
            bid=row["bid"],
            no_vat=row["no_vat"],
            country=row["country"],
            email=row["email"],
            address=dict(row["address"]),
            activate_duetto=False,
            user=user,
            vendor=next(iter(self.vendor_keys)),
            eia=row["eia"],
        )
        company.auth_state, company.auth_email, company.auth_locale = "SIGNED", row["email"], row["country"]
        company.company_state = "VERIFIED"
        company.settings["send_invoice_email"]["enabled"] = True  # the demo: e-mail fallback on,
        company.settings["send_invoice_print"]["use_own_pdf"] = (
            True  # the original PDF attached, print allowed
        )
        return company

    def new_id(self) -> str:
        """A UUID from the seeded generator (deterministic per seed)."""
        with self.lock:
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add_user(
        self, email: str, *, api_key: str | None = None, first_name: str = "", last_name: str = ""
    ) -> User:
        with self.lock:
            user = User(
                email=email, api_key=api_key or self.new_id(), first_name=first_name, last_name=last_name
            )
            self.users[email.casefold()] = user
            return user

    def user_by_key(self, api_key: str) -> User | None:
        with self.lock:
            return next((u for u in self.users.values() if api_key and u.api_key == api_key), None)

    def add_company(
        self, company_id: str, *, user: User, vendor: str, eia: str | None = None, **fields
    ) -> Company:
        with self.lock:
            key = normalise_bid(fields["bid"], fields["country"]) or f"{fields['country']}{fields['bid']}"
            company = Company(id=company_id, key=key, eia=eia, **fields)
            company.settings = default_settings(company)
            company.vendors[vendor] = "LINKED"
            self.companies[company.id] = company
            user.companies.add(company.id)
            return company

    def find_company(self, ref: str | None) -> Company | None:
        """A company by UUID, name or business id (control endpoints)."""
        if not ref:
            return None
        with self.lock:
            if ref in self.companies:
                return self.companies[ref]
            for company in self.companies.values():
                if (
                    ref.casefold() == company.name.casefold()
                    or normalise_bid(ref, company.country) == company.key
                ):
                    return company
        return None

    def sign(self, company: Company) -> None:
        """The signatory signs: SIGNED, and the company is VERIFIED."""
        with self.lock:
            company.auth_state = "SIGNED"
            company.company_state = "VERIFIED"

    def expire_tokens(self, company: str | None = None) -> int:
        with self.lock:
            now = self.clock()
            hit = 0
            for token in self.tokens.values():
                if (company is None or token.company == company) and token.expires_at > now:
                    token.expires_at = now
                    hit += 1
            return hit

    # --- the receiver directory ------------------------------------------------------------------

    def match_receivers(
        self, *, eia: str | None = None, bid: str | None = None, name: str | None = None
    ) -> list:
        with self.lock:
            return [r for r in self.receivers if _matches(r, eia, bid, name)]

    def find_receiver(self, *, eia: str | None = None, bid: str | None = None) -> dict | None:
        found = self.match_receivers(eia=eia, bid=bid)
        return found[0] if found else None

    # --- time passing ----------------------------------------------------------------------------

    def pump(self) -> None:
        """Advance what the clock made due: authorization e-mails, automatic signatures, deliveries."""
        with self.lock:
            now = self.clock()
            for company in self.companies.values():
                if company.auth_state == "PENDING" and company.auth_requested_at is not None:
                    sent_at = company.auth_requested_at + float(self.knobs["auth_send_seconds"])
                    if sent_at <= now:
                        company.auth_state, company.auth_sent_at = "SENT", sent_at
                if (
                    company.auth_state == "SENT"
                    and self.knobs["auto_sign"]
                    and company.auth_sent_at is not None
                    and company.auth_sent_at + float(self.knobs["auto_sign_seconds"]) <= now
                ):
                    self.sign(company)
            for invoice in list(self.pending.values()):
                self.invoices.progress(invoice, now)
                if invoice.status != "PENDING":
                    del self.pending[invoice.id]

    # --- the front door --------------------------------------------------------------------------

    def authenticate(self, request: Request, context: dict, *scopes: str) -> Token:
        """The Bearer token (401 ``invalid_token`` when missing, unknown or expired) and one of ``scopes``
        (sandbox: 403 ``insufficient_scope``, as OAuth 2 resource servers answer)."""
        value = request.bearer_token()
        with self.lock:
            token = self.tokens.get(value) if value else None
            if token is None:
                raise MaventaError(401, "invalid_token", "The access token is invalid")
            context["company"] = token.company
            if token.expires_at <= self.clock() or self.roll(float(self.knobs["token_expiry_rate"])):
                token.expires_at = min(token.expires_at, self.clock())
                raise MaventaError(401, "invalid_token", "The access token expired")
            if scopes and not expand(token.scopes) & set(scopes):
                raise MaventaError(
                    403, "insufficient_scope", f"The token lacks the scope {' or '.join(scopes)}"
                )
            return token

    def handle_api(self, request: Request) -> Response:
        started = time.perf_counter()
        context: dict[str, Any] = {"company": None, "invoice": None, "lost": False}
        self.pump()
        handler, params, known = self.router.match(request.method, request.path.rstrip("/") or "/")
        if handler is None:
            response = (
                error_response(405, "method_not_allowed", "405 Not Allowed")
                if known
                else error_response(404, "not_found", f"{request.path} not found")
            )
        else:
            response = self._call(request, handler, params, context)
        body = (
            response.json()
            if response.headers.get("Content-Type", "").startswith("application/json")
            else None
        )
        with self.lock:
            self.calls.append(
                {
                    "seq": next(self._seq),
                    "method": request.method,
                    "path": request.prefix + request.path,
                    "status": response.status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                    "company": context["company"],
                    "invoice": context["invoice"],
                    "error_code": (body.get("code") or body.get("error")) if isinstance(body, dict) else None,
                    "lost": context["lost"],
                    "at": iso(self.wall()),
                }
            )
        return response

    def _call(self, request: Request, handler, params: dict, context: dict) -> Response:
        self.sleep_latency()
        if self.roll(float(self.knobs["error_rate"])):
            return self._server_error()
        try:
            response = handler(request, context, **params)
        except MaventaError as err:
            return err.response()
        except BadRequest as exc:
            return error_response(400, "invalid_parameters", str(exc))
        if (
            request.method == "POST"
            and request.path.rstrip("/") == "/v1/invoices"
            and response.status == 201
            and self.roll(float(self.knobs["timeout_after_accept_rate"]))
        ):
            context["lost"] = True
            if self.knobs["lost_answer_mode"] == "504":
                return text_response(
                    GATEWAY_HTML.format(code=504, reason="Gateway Time-out"), 504, content_type="text/html"
                )
            time.sleep(float(self.knobs["timeout_after_accept_seconds"]))  # the client gave up long ago
        return response

    def _server_error(self) -> Response:
        with self.lock:
            pick = self.rng.choice((500, 502, 503))
        if pick == 500:
            return error_response(500, "internal_server_error", "Internal Server Error")
        reason = "Bad Gateway" if pick == 502 else "Service Temporarily Unavailable"
        return text_response(GATEWAY_HTML.format(code=pick, reason=reason), pick, content_type="text/html")

    def control_error(self, status: int, message: Any) -> Response:
        return error_response(status, "invalid_parameters" if status == 400 else "not_found", str(message))

    def issue_token(self, company: str, scopes: str = "eui") -> str:
        """A valid token for a company without going through HTTP (tests)."""
        with self.lock:
            user = next(u for u in self.users.values() if company in u.companies)
            now = self.clock()
            token = Token(
                value=secrets.token_urlsafe(32),
                company=company,
                user=user.email.casefold(),
                vendor=next(iter(self.vendor_keys)),
                scopes=scopes.split(),
                issued_at=now,
                expires_at=now + float(self.knobs["token_ttl_seconds"]),
            )
            self.tokens[token.value] = token
            return token.value


def _eia_parts(value: str) -> tuple[str | None, str]:
    text = re.sub(r"\s", "", value).upper()
    scheme, sep, endpoint = text.partition(":")
    return (scheme, endpoint) if sep else (None, text)


def _matches(row: dict, eia: str | None, bid: str | None, name: str | None) -> bool:
    if eia:
        scheme, endpoint = _eia_parts(eia)
        row_scheme, row_endpoint = _eia_parts(row["eia"])
        same_scheme = scheme is None or scheme == row_scheme or {scheme, row_scheme} <= FI_OVT_SCHEMES
        if not (same_scheme and endpoint == row_endpoint):
            return False
    if bid:
        country = row["participant"]["country"]
        wanted = normalise_bid(bid, country)
        if wanted is None or wanted != normalise_bid(row["participant"]["bid"], country):
            return False
    return not (name and name.casefold() not in row["participant"]["name"].casefold())
