"""The Maventa simulator's knobs and control endpoints (below ``/maventa/_sandbox/``, besides the shared
``knobs``, ``calls`` and ``reset``): ``companies`` (GET: every company with its keys and states),
``sign`` (POST ``{company}``: the signatory signs the pending authorization — company UUID, name or business
id), ``advance`` (POST ``{seconds}``: moves the simulator clock; authorizations and deliveries progress),
``invoices`` (GET ``?company=``: every sent invoice with its route and outcome), ``expire_tokens`` (POST
``{company?}``), ``receivers`` (GET the directory; POST adds a row ``{eia, name, bid, country, network?,
operator?}``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import BadRequest, Request, Response, Router, json_response
from .demo import receiver

if TYPE_CHECKING:
    from .simulator import MaventaSimulator

KNOBS = {
    "latency_ms": 0,  # sleep before answering any API call
    "error_rate": 0.0,  # probability of a 500/502/503 answer (nothing done)
    "timeout_after_accept_rate": 0.0,  # probability an invoice send is stored but its answer is lost
    "timeout_after_accept_seconds": 30.0,  # lost_answer_mode "sleep": how long the answer is held
    "lost_answer_mode": "sleep",  # "sleep" (longer than the client's timeout) or "504" (gateway)
    "token_ttl_seconds": 3600,  # 60 minutes (maventa-severa.md §2)
    "token_expiry_rate": 0.0,  # probability a call finds its token expired (401 invalid_token)
    "delivery_seconds": 5.0,  # PENDING → DELIVERED / FAILED this long after the send
    "delivery_failure_rate": 0.0,  # probability a routed invoice fails delivery (FAILED + ERROR action)
    "auth_send_seconds": 1.0,  # authorization PENDING → SENT (the e-mail to the signatory leaves)
    "auto_sign": True,  # the signatory signs by themselves (the demo) …
    "auto_sign_seconds": 10.0,  # … this long after the request was SENT
}
PROBABILITY_KNOBS = frozenset(
    {"error_rate", "timeout_after_accept_rate", "token_expiry_rate", "delivery_failure_rate"}
)
CHOICES = {"lost_answer_mode": ("sleep", "504")}


def company_json(company) -> dict:
    return {
        "id": company.id,
        "name": company.name,
        "bid": company.bid,
        "country": company.country,
        "eia": company.eia,
        "auth_state": company.auth_state,
        "auth_email": company.auth_email,
        "company_state": company.company_state,
        "vendors": dict(company.vendors),
        "invoices": len(company.invoices),
    }


class Controls:
    def __init__(self, sim: MaventaSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/_sandbox/companies", self.companies)
        router.add("POST", "/_sandbox/sign", self.sign)
        router.add("POST", "/_sandbox/advance", self.advance)
        router.add("GET", "/_sandbox/invoices", self.invoices)
        router.add("POST", "/_sandbox/expire_tokens", self.expire_tokens)
        router.add(("GET", "POST"), "/_sandbox/receivers", self.receivers)

    def companies(self, request: Request) -> Response:
        sim = self.sim
        sim.pump()
        with sim.lock:
            rows = []
            for company in sim.companies.values():
                users = [u for u in sim.users.values() if company.id in u.companies]
                rows.append(
                    {
                        **company_json(company),
                        "users": [{"email": u.email, "api_key": u.api_key} for u in users],
                    }
                )
        return json_response({"companies": rows})

    def sign(self, request: Request) -> Response:
        sim = self.sim
        body = sim.control_body(request)
        sim.pump()
        with sim.lock:
            company = sim.find_company(str(body.get("company") or ""))
            if company is None:
                raise BadRequest(f"no company {body.get('company')!r}")
            if company.auth_state not in ("PENDING", "SENT"):
                raise BadRequest(
                    f"{company.name} has no authorization request waiting ({company.auth_state})"
                )
            sim.sign(company)
            return json_response({"company": company_json(company)})

    def advance(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        try:
            seconds = float(body.get("seconds", request.arg("seconds")))
        except (TypeError, ValueError) as exc:
            raise BadRequest("seconds (a number ≥ 0) is required") from exc
        if seconds < 0:
            raise BadRequest("the clock only moves forward")
        return json_response({"clock": self.sim.advance(seconds)})

    def invoices(self, request: Request) -> Response:
        sim = self.sim
        sim.pump()
        wanted = request.arg("company")
        with sim.lock:
            chosen = [sim.find_company(wanted)] if wanted else list(sim.companies.values())
            if None in chosen:
                raise BadRequest(f"no company {wanted!r}")
            rows = [
                {
                    "company": c.id,
                    "id": i.id,
                    "uuid": i.uuid,
                    "number": i.document["number"],
                    "status": i.status,
                    "channel": i.channel,
                    "why": i.why,
                    "error": i.outcome_error,
                }
                for c in chosen
                for i in c.invoices.values()
            ]
        return json_response({"invoices": rows, "count": len(rows)})

    def expire_tokens(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        return json_response({"expired": self.sim.expire_tokens(body.get("company") or None)})

    def receivers(self, request: Request) -> Response:
        sim = self.sim
        if request.method == "POST":
            body = sim.control_body(request)
            missing = [k for k in ("eia", "name", "bid", "country") if not body.get(k)]
            if missing:
                raise BadRequest(f"missing {', '.join(missing)}")
            row = receiver(
                str(body["eia"]),
                str(body["name"]),
                str(body["bid"]),
                str(body["country"]).upper(),
                str(body.get("network") or "PEPPOL").upper(),
                str(body.get("operator") or "PEPPOL"),
            )
            with sim.lock:
                sim.receivers.append(row)
            return json_response({"receiver": row}, 201)
        with sim.lock:
            return json_response({"receivers": list(sim.receivers)})
