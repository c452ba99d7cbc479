"""The AMIS simulator's knobs and control endpoints (below ``/amis/_sandbox/``, besides the shared
``knobs``, ``calls`` and ``reset``): ``companies`` (GET; POST adds or changes one, e.g. its callback URL),
``proposals`` (GET ``?company=``), ``generate`` (POST ``{company, org_refid?}``: the accountant generates
the voucher(s) now), ``callback_url`` (POST ``{company, url}``), ``advance`` (POST ``{seconds}``: moves the
simulator clock and runs what became due), ``flush`` (POST: run what is due and deliver queued callbacks
now), ``callbacks`` (GET: every callback with its delivery state), ``expire_tokens`` (POST
``{company?}``), ``delete_dictionary`` (POST ``{company, data_type, code}``: the accountant deletes a
master-data row), ``balance`` (GET ``?company=``: stock on hand per item × warehouse; POST ``{company, item,
stock, quantity}``: sets one, as if booked in AMIS)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from ..core import BadRequest, Request, Response, Router, json_response
from .companies import DEMO_ACCESS_CODE
from .dictionary import CODE_FIELDS, find
from .helpers import key, net_time, text, vn

if TYPE_CHECKING:
    from .simulator import AmisSimulator

KNOBS = {
    "latency_ms": 0,  # sleep before answering any API call
    "save_latency_ms": 0,  # extra sleep before answering save (a bench's slow AMIS)
    "error_rate": 0.0,  # probability of a 500/502/503 answer (nothing done)
    "timeout_after_accept_rate": 0.0,  # probability a save/delete is stored but its answer is lost
    "timeout_after_accept_seconds": 30.0,  # lost_answer_mode "sleep": how long the answer is held
    "lost_answer_mode": "sleep",  # "sleep" (longer than the client's timeout) or "504" (gateway)
    "token_ttl_seconds": 43200,  # 12 h (amis.md §1)
    "token_expiry_rate": 0.0,  # probability a data call finds its token expired (ExpiredToken)
    "ticks_clock": "local",  # expired_time(_ticks) on Vietnam wall time ("local") or UTC ("utc")
    "app_disconnected": None,  # org_company_codes (comma-separated, "*" = all) answering AppIDDisconnect
    "db_not_connected": None,  # … answering DBAmisNotConnectDBACT
    "dictionary_burst": 0,  # get_dictionary(_delete) calls allowed per company and window (0: no limit)
    "dictionary_window_seconds": 1.0,  # … the window; more answer HTTP 429 with Retry-After
    "max_take": 100,  # get_dictionary page cap
    "data_as_text": True,  # get_dictionary Data as JSON text (as connect); false: a JSON array
    "business_errors": "sync",  # "sync": Success:false at once; "callback": accepted, rejected by callback
    "delete_allows_post": False,  # delete also over POST (Unconfirmed at MISA; DELETE is what clients use)
    "reuse_deleted_refid": False,  # accept a deleted org_refid again (amis.md §11: use a new one)
    "auto_generate": True,  # the accountant generates vouchers from proposals by themselves
    "auto_generate_seconds": 5.0,  # … this long after the (latest) save
    "callback_delay_seconds": 1.0,  # a result is called back this long after it happened
    "callback_lost_rate": 0.0,  # probability a callback never arrives (listed by get_call_back_detail_error)
    "callback_duplicate_rate": 0.0,  # probability a callback is delivered twice
    "callback_out_of_order_rate": 0.0,  # probability a callback is held back until after the next one
    "callback_max_attempts": 3,  # delivery tries before it is listed as undelivered
    "callback_backoff_seconds": 1.0,  # first retry delay (doubling)
}
PROBABILITY_KNOBS = frozenset(
    {
        "error_rate",
        "timeout_after_accept_rate",
        "token_expiry_rate",
        "callback_lost_rate",
        "callback_duplicate_rate",
        "callback_out_of_order_rate",
    }
)
CHOICES = {
    "lost_answer_mode": ("sleep", "504"),
    "ticks_clock": ("local", "utc"),
    "business_errors": ("sync", "callback"),
}


def proposal_row(proposal) -> dict:
    return {
        "org_company_code": proposal.company,
        "org_refid": proposal.org_refid,
        "voucher_type": proposal.voucher_type,
        "reftype": proposal.reftype,
        "status": proposal.status,
        "versions": proposal.versions,
        "session_id": proposal.session_id,
        "refid": proposal.refid,
        "refno": proposal.refno,
        "org_refno": proposal.voucher.get("org_refno"),
        "total_amount": proposal.voucher.get("total_amount"),
        "generated_at": net_time(proposal.generated_wall) if proposal.generated_wall else None,
        "voucher": proposal.voucher,
    }


class Controls:
    def __init__(self, sim: AmisSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add(("GET", "POST"), "/_sandbox/companies", self.companies)
        router.add("GET", "/_sandbox/proposals", self.proposals)
        router.add("POST", "/_sandbox/generate", self.generate)
        router.add("POST", "/_sandbox/callback_url", self.callback_url)
        router.add("POST", "/_sandbox/advance", self.advance)
        router.add("POST", "/_sandbox/flush", self.flush)
        router.add("GET", "/_sandbox/callbacks", self.callbacks)
        router.add("POST", "/_sandbox/expire_tokens", self.expire_tokens)
        router.add("POST", "/_sandbox/delete_dictionary", self.delete_dictionary)
        router.add(("GET", "POST"), "/_sandbox/balance", self.balance)

    def _company(self, code):
        company = self.sim.companies.get(key(code))
        if company is None:
            raise BadRequest(f"no company {code!r}")
        return company

    def companies(self, request: Request) -> Response:
        sim = self.sim
        if request.method == "POST":
            body = sim.control_body(request)
            code = text(body.get("org_company_code") or body.get("company"))
            if not code:
                raise BadRequest("org_company_code is required")
            company = sim.add_company(
                code,
                name=body.get("name"),
                access_code=text(body.get("access_code")) or DEMO_ACCESS_CODE,
                callback_url=body.get("callback_url"),
            )
            return json_response({"company": _company_json(company)}, 201)
        with sim.lock:
            return json_response({"companies": [_company_json(c) for c in sim.companies.values()]})

    def proposals(self, request: Request) -> Response:
        sim = self.sim
        code = request.arg("company")
        with sim.lock:
            companies = [self._company(code)] if code else list(sim.companies.values())
            out = {c.code: [proposal_row(p) for p in c.proposals.values()] for c in companies}
        return json_response({"proposals": out, "count": sum(len(v) for v in out.values())})

    def generate(self, request: Request) -> Response:
        sim = self.sim
        body = sim.control_body(request)
        code = body.get("company") or body.get("org_company_code")
        with sim.lock:
            company = self._company(code)
            refid = body.get("org_refid")
            if refid:
                proposal = company.proposals.get(key(refid))
                if proposal is None or proposal.status != "proposal":
                    raise BadRequest(f"no waiting proposal {refid!r}")
                targets = [proposal]
            else:
                targets = [p for p in company.proposals.values() if p.status == "proposal"]
            generated = [sim.vouchers.generate(company, p) for p in targets]
        sim.pump()
        return json_response(
            {"generated": [{k: g[k] for k in ("org_refid", "refid", "refno")} for g in generated]}
        )

    def callback_url(self, request: Request) -> Response:
        sim = self.sim
        body = sim.control_body(request)
        with sim.lock:
            company = self._company(body.get("company") or body.get("org_company_code"))
            company.callback_url = text(body.get("url")) or None
            return json_response({"company": _company_json(company)})

    def advance(self, request: Request) -> Response:
        sim = self.sim
        body = sim.control_body(request)
        try:
            seconds = float(body.get("seconds", request.arg("seconds")))
        except (TypeError, ValueError) as exc:
            raise BadRequest("seconds (a number ≥ 0) is required") from exc
        if seconds < 0:
            raise BadRequest("the clock only moves forward")
        clock = sim.advance(seconds)
        return json_response({"clock": clock})

    def flush(self, request: Request) -> Response:
        sim = self.sim
        sim.pump(release_held=True)
        sim.webhooks.wait_idle()
        return json_response({"pending": sim.webhooks.pending()})

    def callbacks(self, request: Request) -> Response:
        sim = self.sim
        with sim.lock:
            deliveries = {d["id"]: d for d in sim.webhooks.deliveries()}
            rows = [
                {
                    "id": c.id,
                    "org_company_code": c.company,
                    "data_type": c.data_type,
                    "results": c.results,
                    "sent": c.sent,
                    "lost": c.lost,
                    "url": c.url,
                    "deliveries": [deliveries[i] for i in c.delivery_ids if i in deliveries],
                }
                for c in sim.callbacks.all
            ]
        return json_response({"callbacks": rows})

    def delete_dictionary(self, request: Request) -> Response:
        """The accountant deletes a master-data row in AMIS: ``{company, data_type, code}``; it leaves
        get_dictionary and shows in get_dictionary_delete."""
        sim = self.sim
        body = sim.control_body(request)
        with sim.lock:
            company = self._company(body.get("company") or body.get("org_company_code"))
            try:
                data_type = int(body.get("data_type"))
            except (TypeError, ValueError) as exc:
                raise BadRequest("data_type (1 … 5) is required") from exc
            if data_type not in CODE_FIELDS:
                raise BadRequest("data_type (1 … 5) is required")
            row = find(company, data_type, text(body.get("code")))
            if row is None:
                raise BadRequest(f"no data_type {data_type} row with code {body.get('code')!r}")
            company.dictionary[data_type].remove(row)
            row["modified_date"] = net_time(vn(sim.wall()))
            company.deleted.setdefault(data_type, []).append(row)
            return json_response({"deleted": row})

    def balance(self, request: Request) -> Response:
        sim = self.sim
        code = request.arg("company")
        if request.method == "POST":
            body = sim.control_body(request)
            code = body.get("company") or body.get("org_company_code")
            item, stock = text(body.get("item")), text(body.get("stock"))
            try:
                quantity = Decimal(str(body.get("quantity")))
            except (InvalidOperation, ValueError) as exc:
                raise BadRequest("quantity (a number) is required") from exc
            if not item or not stock or not quantity.is_finite():
                raise BadRequest("company, item, stock and quantity are required")
            with sim.lock:
                self._company(code)
            sim.set_balance(code, item, stock, quantity)
        with sim.lock:
            company = self._company(code)
            rows = [
                {"item": item, "stock": stock, "quantity": str(quantity)}
                for item, stock, quantity in sorted(
                    company.balances.values(), key=lambda row: (key(row[0]), key(row[1]))
                )
            ]
        return json_response({"company": company.code, "balances": rows})

    def expire_tokens(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        return json_response({"expired": self.sim.expire_tokens(body.get("company") or None)})


def _company_json(company) -> dict:
    return {
        "org_company_code": company.code,
        "name": company.name,
        "tax_code": company.tax_code,
        "access_code": company.access_code,
        "callback_url": company.callback_url,
        "proposals": len(company.proposals),
    }
