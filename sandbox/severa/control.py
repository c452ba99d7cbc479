"""The Severa simulator's knobs and control endpoints (below ``/severa/_sandbox/``, besides the shared
``knobs``, ``calls`` and ``reset``): ``invoices`` (GET every invoice with its rows and status history; POST
``{company, customer, rows: [{description, quantity, unit, price, vat}], status?, credit_note_of?,
reverse_charge?, yourReference?, orderNumber?}`` adds one), ``move`` (POST ``{invoice, status}``: a person
changes an invoice's status; ``status`` is a guid or a name), ``generate`` (POST ``{count?, mix?}``: new
invoices drafted and moved to "to transfer" now; ``mix`` ``{template: weight}`` chooses the templates of
``data.GENERATOR_TEMPLATES`` — peppol, email, ovt, reverse_charge, print — in those proportions, interleaved;
the knob ``generate_every_seconds`` does it on a schedule),
``advance`` (POST ``{seconds}``), ``expire_tokens`` (POST), ``credentials`` (POST ``{client_id,
client_secret, scopes}``: another API client of the organisation)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from ..core import BadRequest, Request, Response, json_response
from . import data
from .auth import SCOPES, split_scopes
from .state import Credential

if TYPE_CHECKING:
    from .simulator import SeveraSimulator

KNOBS = {
    "latency_ms": 0,  # sleep before answering any API call
    "error_rate": 0.0,  # probability of a 500 InternalSystemError (nothing done)
    "rate_limit": 10,  # calls admitted per window and organisation (0: no limit); more answer 429
    "rate_window_seconds": 1.0,
    "throttle_rate": 0.0,  # probability a call within the limit answers 429 anyway (other clients' calls)
    "retry_after_rate": 0.5,  # probability a 429 carries Retry-After (Severa sends it "only sometimes")
    "token_ttl_seconds": 3600,
    "status_patch_path": "/status/guid",  # the JSON Patch path that changes an invoice's status
    "generate_every_seconds": 0.0,  # the generator: a new invoice to "to transfer" this often (0: off)
}
PROBABILITY_KNOBS = frozenset({"error_rate", "retry_after_rate", "throttle_rate"})
CHOICES: dict[str, tuple[str, ...]] = {}


class Controls:
    def __init__(self, sim: SeveraSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add(("GET", "POST"), "/_sandbox/invoices", self.invoices)
        router.add("POST", "/_sandbox/move", self.move)
        router.add("POST", "/_sandbox/generate", self.generate)
        router.add("POST", "/_sandbox/advance", self.advance)
        router.add("POST", "/_sandbox/expire_tokens", self.expire_tokens)
        router.add("POST", "/_sandbox/credentials", self.credentials)

    def _view(self, invoice) -> dict:
        view = self.sim.invoice_views.invoice_json(invoice)
        view["rows"] = invoice.rows
        view["invoiceSettings"] = invoice.settings
        view["history"] = [{"status": s, "at": at} for s, at in invoice.history]
        view["pdfRequests"] = invoice.pdf_requests
        return view

    def _status(self, value) -> str:
        text = str(value or "").strip()
        for guid, status in self.sim.statuses.items():
            if text.lower() == guid or text.casefold() == status["name"].casefold():
                return guid
        raise BadRequest(f"no invoice status {value!r}")

    def invoices(self, request: Request) -> Response:
        sim = self.sim
        if request.method == "GET":
            with sim.lock:
                return json_response({"invoices": [self._view(i) for i in sim.invoices.values()]})
        body = sim.control_body(request)
        rows = body.get("rows")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BadRequest("rows must be a list of {description, quantity, unit, price, vat}")
        with sim.lock:
            invoice = sim.add_invoice(
                str(body.get("company") or data.AB_COMPANY),
                str(body.get("customer") or ""),
                rows,
                status=self._status(body.get("status") or data.DRAFT),
                credit_note_of=body.get("credit_note_of"),
                reverse_charge=bool(body.get("reverse_charge")),
                your_reference=body.get("yourReference"),
                order_number=body.get("orderNumber"),
            )
            return json_response({"invoice": self._view(invoice)}, 201)

    def move(self, request: Request) -> Response:
        sim = self.sim
        body = sim.control_body(request)
        with sim.lock:
            invoice = sim.invoices.get(str(body.get("invoice") or "").lower())
            if invoice is None:
                raise BadRequest(f"no invoice {body.get('invoice')!r}")
            sim.move(invoice, self._status(body.get("status")))
            return json_response({"invoice": self._view(invoice)})

    def generate(self, request: Request) -> Response:
        sim = self.sim
        body = sim.control_body(request)
        count = int(body.get("count") or 1)
        if not 1 <= count <= 10000:
            raise BadRequest("count is 1 to 10000")
        mix = body.get("mix")
        if mix is not None and not isinstance(mix, dict):
            raise BadRequest(f"mix is {{template: weight}}; templates: {', '.join(data.GENERATOR_TEMPLATES)}")
        with sim.lock:
            made = sim.generate_mix(count, mix) if mix is not None else [sim.generate() for _ in range(count)]
            return json_response(
                {
                    "invoices": [i.guid for i in made],
                    "numbers": [i.number for i in made],
                    "customers": dict(Counter(sim.customers[i.customer]["name"] for i in made)),
                },
                201,
            )

    def advance(self, request: Request) -> Response:
        seconds = float(self.sim.control_body(request).get("seconds") or 0)
        return json_response({"clock": self.sim.advance(seconds)})

    def expire_tokens(self, request: Request) -> Response:
        return json_response({"expired": self.sim.expire_tokens()})

    def credentials(self, request: Request) -> Response:
        sim = self.sim
        body = sim.control_body(request)
        client_id, secret = str(body.get("client_id") or ""), str(body.get("client_secret") or "")
        if not client_id or not secret:
            raise BadRequest("client_id and client_secret are required")
        scopes = (
            split_scopes(body.get("scopes")) if isinstance(body.get("scopes"), str) else body.get("scopes")
        )
        scopes = frozenset(scopes or SCOPES)
        if not scopes <= SCOPES:
            raise BadRequest(f"unknown scopes: {', '.join(sorted(scopes - SCOPES))}")
        with sim.lock:
            sim.credentials[client_id] = Credential(client_id, secret, scopes)
        return json_response({"client_id": client_id, "scopes": sorted(scopes)}, 201)
