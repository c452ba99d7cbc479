"""The Severa simulator: its state (the demo organisation, credentials, tokens, invoices), the clock, the
invoice generator and the front door every API call passes: the ``/rest-api`` prefix, Severa's limit of
10 requests a second (HTTP 429 "API calls quota exceeded! maximum admitted 10 per 1s.", with
``Retry-After`` only sometimes), the ``Authorization: Bearer`` **and** ``client_id`` header check, the
token's scopes, faults and the call log.

Sandbox choices: the limit counts admitted calls (the token call included) in a sliding one-second window
per organisation — every API client of the organisation shares it, which is at least as strict as a
per-client count; the 429 body is the gateway's ``{"statusCode": 429, "message": …}`` (its shape is not
documented; the message is); a call with a token but without the matching ``client_id`` header is a 401
AuthenticationRequired; a token without the scope a resource needs is a 403 InsufficientApiScope."""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..core import BadRequest, KnobError, MovableClock, Request, Response, Router, Simulator, json_response
from . import data
from .auth import SCOPES, Auth
from .control import CHOICES, KNOBS, PROBABILITY_KNOBS, Controls
from .customers import Customers
from .helpers import SeveraError, new_guid
from .invoices import Invoices
from .organization import Organization
from .state import Credential, Invoice

API_PREFIX = "/rest-api"
DEMO_CLIENT_ID = "demo-severa-client"
DEMO_CLIENT_SECRET = "demo-severa-secret"
MAX_CATCH_UP = 100
QUOTA_MESSAGE = "API calls quota exceeded! maximum admitted {limit} per {window:g}s."


class ScopedRouter(Router):
    """A router whose routes name the token scope they need."""

    def add(self, method, pattern, handler, *, scope: str | None = None) -> None:
        def scoped(request, **params):
            return handler(request, **params)

        scoped.scope = scope
        super().add(method, pattern, scoped)


def reference_number(number: int) -> str:
    """A Finnish creditor reference (7-3-1 check digit) for an invoice number."""
    digits = str(1000 + number)
    weights = itertools.cycle((7, 3, 1))
    total = sum(int(d) * w for d, w in zip(reversed(digits), weights, strict=False))
    return digits + str((10 - total % 10) % 10)


class SeveraSimulator(MovableClock, Simulator):
    name = "severa"
    DEFAULT_KNOBS = KNOBS
    PROBABILITY_KNOBS = PROBABILITY_KNOBS
    CALLS_FILTER = "client_id"
    CONTROL_ERRORS = (BadRequest, KnobError, ValueError, KeyError, SeveraError)

    def __init__(
        self,
        *,
        seed: int | None = 20260214,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
        seed_invoices: bool = True,
        call_log_size: int = 20000,
    ):
        super().__init__(seed=seed, clock=clock, call_log_size=call_log_size)
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.seed_invoices = seed_invoices
        self.router = ScopedRouter()
        self.invoice_views = Invoices(self)
        for resource in (Auth(self), Organization(self), Customers(self), self.invoice_views):
            resource.register(self.router)
        Controls(self).register(self.control)
        self.reset_state()

    # --- clock -----------------------------------------------------------------------------------

    def advance(self, seconds: float) -> float:
        """Move the clock forward (tokens age, the generator runs)."""
        with self.lock:
            self.move_clock(seconds)
            self.pump()
            return self.clock()

    # --- state -----------------------------------------------------------------------------------

    def set_knobs(self, **changes) -> dict[str, Any]:
        with self.lock:
            for name, allowed in CHOICES.items():
                if name in changes and str(changes[name]) not in allowed:
                    raise KnobError(f"knob {name} is one of {', '.join(allowed)}")
            result = super().set_knobs(**changes)
            if "generate_every_seconds" in changes:
                every = float(self.knobs["generate_every_seconds"])
                self._next_generate = self.clock() + every if every > 0 else None
            return result

    def reset_state(self) -> None:
        super().reset_state()
        self._offset = 0.0
        self._calls = itertools.count(1)
        self._window: deque[float] = deque()
        self._next_generate: float | None = None
        self._generated = 0
        self.credentials = {
            DEMO_CLIENT_ID: Credential(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SCOPES),
        }
        self.tokens: dict = {}
        self.page_tokens: dict = {}
        self.statuses = {
            g: {
                "guid": g,
                "name": name,
                "isActive": True,
                "isDefault": default,
                "isReadOnly": False,
                "hasInvoiceNumber": numbered,
                "isSent": is_sent,
                "isWaitingPayment": is_sent,
                "isPaid": False,
                "isDefaultForCreditNote": False,
                "sortOrder": order,
            }
            for order, (g, name, is_sent, default, numbered) in enumerate(data.STATUSES, 1)
        }
        self.customers = {g: dict(c) for g, c in data.CUSTOMERS.items()}
        self.country_settings = {g: [dict(s) for s in rows] for g, rows in data.COUNTRY_SETTINGS.items()}
        self.invoices: dict[str, Invoice] = {}
        self._last_number: dict[str, int] = {}  # company → the highest invoice number it used
        if self.seed_invoices:
            for spec in data.INVOICES:
                self.add_invoice(
                    spec["company"],
                    spec["customer"],
                    [
                        {"description": d, "quantity": q, "unit": u, "price": p, "vat": v}
                        for d, q, u, p, v in spec["rows"]
                    ],
                    status=spec["status"],
                    guid=spec["guid"],
                    number=spec["number"],
                    credit_note_of=spec.get("credit_note_of"),
                    reverse_charge=spec.get("reverse_charge", False),
                    your_reference=spec.get("yourReference"),
                    order_number=spec.get("orderNumber"),
                )

    def add_invoice(
        self,
        company: str,
        customer: str,
        rows: list[dict],
        *,
        status: str = data.DRAFT,
        guid: str | None = None,
        number: int | None = None,
        credit_note_of: str | None = None,
        reverse_charge: bool = False,
        your_reference: str | None = None,
        order_number: str | None = None,
    ) -> Invoice:
        """A new invoice of `company` (an activeCompanies guid) to `customer`, rows given as
        ``{description, quantity, unit, price, vat}``."""
        with self.lock:
            if company not in data.DEMO_COMPANIES:
                raise ValueError(f"no company {company!r}; known: {', '.join(data.DEMO_COMPANIES)}")
            if customer not in self.customers:
                raise ValueError(f"no customer {customer!r}")
            if status not in self.statuses:
                raise ValueError(f"no invoice status {status!r}")
            if not rows:
                raise ValueError("an invoice needs rows")
            seller = data.DEMO_COMPANIES[company]
            buyer = self.customers[customer]
            currency = seller["currency"]
            if number is None:  # the company's series goes on from its highest number
                number = self._last_number.get(company, 1000 if company == data.AB_COMPANY else 5000) + 1
            self._last_number[company] = max(number, self._last_number.get(company, 0))
            guid = (guid or new_guid(self.rng)).lower()
            credited = self.invoices.get(credit_note_of.lower()) if credit_note_of else None
            if credit_note_of and credited is None:
                raise ValueError(f"no invoice {credit_note_of!r} to credit")
            today = self.wall().date()
            header = {
                "referenceNumber": reference_number(number),
                "projects": [],
                "date": today.isoformat(),
                "dueDate": (today + timedelta(days=14)).isoformat(),
                "paymentDate": None,
                "entryDate": today.isoformat(),
                "paymentTerm": 14,
                "overdueInterest": 8.0,
                "ourReference": "Sara Ek",
                "yourReference": your_reference,
                "orderNumber": order_number,
                "currency": dict(data.CURRENCIES[currency]),
                "currencyRate": 1.0,
                "receiverCustomerName": buyer["name"],
                "receiverContactName": your_reference,
                "receiverContactEmail": buyer["email"],
                "receiverAddress": dict(buyer["headquarterAddress"]),
                "receiverVatNumber": buyer["vatNumber"],
                "senderName": seller["name"],
                "senderContactName": "Sara Ek",
                "senderAddress": dict(seller["address"]),
                "senderVatNumber": seller["vat_number"],
                "isCreditNote": credited is not None,
                "creditNoteInvoice": {"guid": credited.guid, "number": credited.number} if credited else None,
                "reimburseInvoice": None,
                "invoiceNumberBusinessUnitGuid": seller["root_business_unit"],
                "invoiceTemplate": None,
                "culture": buyer["language"]["code"],
                "language": dict(buyer["language"]),
                "notes": None,
                "freeText1": None,
                "freeText2": None,
            }
            settings = {
                "isReverseCharged": bool(reverse_charge),
                "reverseChargeDescription": "Reverse charge, VAT Directive art. 196"
                if reverse_charge
                else None,
                "entryDate": today.isoformat(),
                "paymentDate": None,
            }
            invoice_rows = []
            for order, row in enumerate(rows, 1):
                unit = str(row.get("unit") or "")
                invoice_rows.append(
                    {
                        "guid": new_guid(self.rng),
                        "rowType": "Hours" if unit == "h" else "ProjectFees",
                        "category": None,
                        "description": str(row["description"]),
                        "quantity": float(Decimal(str(row["quantity"]))),
                        "unitPrice": {"amount": float(Decimal(str(row["price"]))), "currencyCode": currency},
                        "measurementUnit": unit,
                        "vatRate": float(Decimal(str(row["vat"]))),
                        "sortOrder": order,
                        "code": [],
                        "salesAccount": {"number": "3041", "name": "Försäljning tjänster"},
                        "costCenter": None,
                        "vatAccount": None,
                        "hasInvoiceComment": False,
                    }
                )
            invoice = Invoice(
                guid=guid,
                number=number,
                company=company,
                customer=customer,
                status=status,
                rows=invoice_rows,
                header=header,
                settings=settings,
                updated=self.wall(),
            )
            invoice.history.append((status, invoice.updated.isoformat()))
            self.invoices[guid] = invoice
            return invoice

    def move(self, invoice: Invoice, status: str) -> None:
        """A person (or the API) changes the invoice's status: it counts as a change for changedSince."""
        with self.lock:
            if status not in self.statuses:
                raise ValueError(f"no invoice status {status!r}")
            invoice.status = status
            invoice.updated = self.wall()
            invoice.history.append((status, invoice.updated.isoformat()))

    def pump(self) -> None:
        """The generator: every `generate_every_seconds` a new invoice goes to "to transfer". It runs on
        each call (and ``advance``), so the invoices due since the last call appear together; after a long
        quiet time at most MAX_CATCH_UP of them."""
        with self.lock:
            if self._next_generate is None:
                return
            every = float(self.knobs["generate_every_seconds"])
            made = 0
            while self._next_generate <= self.clock():
                if made == MAX_CATCH_UP:  # nobody called for a long time: skip what a burst would add
                    self._next_generate = self.clock() + every
                    break
                self.generate()
                made += 1
                self._next_generate += every

    def generate(self, template: str | None = None) -> Invoice:
        """One new invoice, drafted, then moved to "to transfer": from the named template of
        ``data.GENERATOR_TEMPLATES``, or else the next of the default mix (each demo invoice that is not a
        credit note and not sent, in turn)."""
        with self.lock:
            if template is None:
                names = list(data.DEFAULT_MIX)
                template = names[self._generated % len(names)]
                self._generated += 1
            if template not in data.GENERATOR_TEMPLATES:
                raise ValueError(f"no template {template!r}; known: {', '.join(data.GENERATOR_TEMPLATES)}")
            spec = data.GENERATOR_TEMPLATES[template]
            invoice = self.add_invoice(
                spec["company"],
                spec["customer"],
                [
                    {"description": d, "quantity": q, "unit": u, "price": p, "vat": v}
                    for d, q, u, p, v in spec["rows"]
                ],
                reverse_charge=spec.get("reverse_charge", False),
                your_reference=spec.get("yourReference"),
                order_number=spec.get("orderNumber"),
            )
            self.move(invoice, data.TO_TRANSFER)
            return invoice

    def generate_mix(self, count: int, mix: dict[str, int] | None = None) -> list[Invoice]:
        """``count`` new invoices in "to transfer", their templates in the proportions of ``mix`` (template
        name → whole weight; default ``data.DEFAULT_MIX``), interleaved so that every prefix of the run is
        as close to those proportions as whole invoices allow (smooth weighted round robin: the same mix
        and count always give the same sequence)."""
        weights = dict(mix or data.DEFAULT_MIX)
        unknown = sorted(set(weights) - set(data.GENERATOR_TEMPLATES))
        if unknown:
            known = ", ".join(data.GENERATOR_TEMPLATES)
            raise ValueError(f"no template {', '.join(unknown)}; known: {known}")
        if any(not isinstance(w, int) or isinstance(w, bool) or w < 0 for w in weights.values()):
            raise ValueError("mix weights are whole numbers ≥ 0")
        weights = {name: w for name, w in weights.items() if w}
        if not weights:
            raise ValueError("the mix needs a template with a weight above 0")
        total = sum(weights.values())
        credit = dict.fromkeys(weights, 0)
        made = []
        with self.lock:
            for _ in range(count):
                for name, weight in weights.items():
                    credit[name] += weight
                chosen = max(credit, key=lambda name: credit[name])  # the first of equals
                credit[chosen] -= total
                made.append(self.generate(chosen))
        return made

    def expire_tokens(self) -> int:
        with self.lock:
            now = self.clock()
            for token in self.tokens.values():
                token.expires_at = min(token.expires_at, now)
            return len(self.tokens)

    # --- the front door --------------------------------------------------------------------------

    def control_error(self, status: int, message: Any) -> Response:
        return SeveraError(status, "InvalidRequest", str(message)).response()

    def control_failure(self, exc: Exception) -> Response:
        if isinstance(exc, SeveraError):
            return exc.response()
        return self.control_error(400, str(exc))

    def handle_api(self, request: Request) -> Response:
        started = time.perf_counter()
        context: dict[str, Any] = {
            "client_id": request.headers.get("client_id"),
            "endpoint": None,
            "throttled": False,
        }
        try:
            response = self._call(request, context)
        except SeveraError as err:
            response = err.response()
        except BadRequest as exc:
            response = SeveraError(400, "InvalidRequest", str(exc)).response()
        with self.lock:
            self.calls.append(
                {
                    "seq": next(self._calls),
                    "method": request.method,
                    "path": request.prefix + request.path,
                    "endpoint": context["endpoint"],
                    "status": response.status,
                    "client_id": context["client_id"],
                    "throttled": context["throttled"],  # a 429 of the knob throttle_rate, not of the limit
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                    "at": self.wall().isoformat(),
                    "clock": self.clock(),
                }
            )
        return response

    def _call(self, request: Request, context: dict) -> Response:
        self.pump()
        path = request.path.rstrip("/")
        if not path.lower().startswith(API_PREFIX + "/"):
            raise SeveraError(404, "InvalidRequest", f"No resource at {request.path}")
        path = path[len(API_PREFIX) :]
        handler, params, known = self.router.match(request.method, path)
        if handler is None:
            if known:
                raise SeveraError(405, "InvalidRequest", f"Method {request.method} is not allowed on {path}")
            raise SeveraError(404, "InvalidRequest", f"No resource at {path}")
        context["endpoint"] = f"{request.method} {path}"
        limited = self._admit(context)
        if limited is not None:
            return limited
        self.sleep_latency()
        if self.roll(float(self.knobs["error_rate"])):
            raise SeveraError(500, "InternalSystemError", "An unexpected error occurred")
        if handler.scope is not None:
            self._authenticate(request, handler.scope)
        return handler(request, **params)

    def _admit(self, context: dict) -> Response | None:
        """Severa's 10 requests a second: None when the call may go on, else the 429 answer. The knob
        ``throttle_rate`` answers a share of the calls within the limit 429 as well (the organisation's
        other API clients used the window up): such a call is not admitted and does not count."""
        limit = int(self.knobs["rate_limit"])
        window = float(self.knobs["rate_window_seconds"])
        with self.lock:
            now, full, wait = self.clock(), False, 0.0
            if limit > 0:
                while self._window and self._window[0] <= now - window:
                    self._window.popleft()
                full = len(self._window) >= limit
                wait = self._window[0] + window - now if full else 0.0
            if not full:
                if not self.roll(float(self.knobs["throttle_rate"])):
                    if limit > 0:
                        self._window.append(now)
                    return None
                context["throttled"] = True
            headers = {}
            if self.roll(float(self.knobs["retry_after_rate"])):
                headers["Retry-After"] = str(max(1, math.ceil(wait)))
        shown = limit if limit > 0 else 10
        return json_response(
            {"statusCode": 429, "message": QUOTA_MESSAGE.format(limit=shown, window=window)}, 429, headers
        )

    def _authenticate(self, request: Request, scope: str) -> None:
        value = request.bearer_token()
        with self.lock:
            token = self.tokens.get(value) if value else None
            if token is None or token.expires_at <= self.clock():
                raise SeveraError(
                    401, "AuthenticationRequired", "Authentication required: invalid or expired token"
                )
            if request.headers.get("client_id") != token.client_id:
                raise SeveraError(
                    401, "AuthenticationRequired", "The client_id header is missing or does not match"
                )
            if scope not in token.scopes:
                raise SeveraError(403, "InsufficientApiScope", f"The token lacks the scope {scope}")
