"""The meInvoice simulator's knobs and its own control endpoints (no auth) under
``/meinvoice/_sandbox/``, next to the shared ``knobs``, ``calls`` (``?mst=``) and ``reset``:
``invoices`` (GET, ``?mst=&ref_id=``), ``advance`` (POST ``{"seconds": N}``), ``accounts`` (GET, POST),
``expire_tokens`` and ``revoke_tokens`` (POST ``{"mst": optional}``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import BadRequest, Request, Response, Router, json_response
from .accounts import DEMO_APPID, DEMO_PASSWORD, DEMO_USERNAME, TOKEN_TTL_SECONDS
from .helpers import iso_vn
from .lookups import control_row
from .state import Account

if TYPE_CHECKING:
    from .simulator import MeInvoiceSimulator

KNOBS = {
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
    "stale_token_rate": 0.0,  # probability an authenticated call finds its token stale (UnAuthorize)
    # How publish results, status and paging rows name the series: "split" (InvTemplateNo "1" + a
    # 6-character InvSeries "C25TAA", as MISA has answered) or "joined" (InvSeries "1C25TAA").
    "series_form": "split",
    "upper_ref_ids": True,  # echo RefIDs upper-case in answers (MISA has been seen doing it)
    "max_invoices_per_call": 50,  # a publish call with more answers HTTP 400 InvoiceQuantityTooLarge
    "max_lines_per_call": 0,  # sandbox: ... or with more detail lines in all (0: no such limit)
    # sandbox: a publish call on a series sooner than this after the previous one fails its invoices with
    # InvoiceNumberNotCotinuous (MISA's guide: 1–3 s apart); 0 lets calls follow each other at once
    "min_series_gap_seconds": 0.0,
    "view_ttl_seconds": 300.0,  # preview links live 5 minutes
    "public_url": None,  # sandbox root for view links when the request has no Host header
    # which date must fall in a VAT-reduction window for an adjustment/replacement at 8 %: "original"
    # (OrgInvDate, as the law prices a change) or "invoice" (its own InvDate, the stricter reading)
    "reduction_date_of_changes": "original",
}
PROBABILITY_KNOBS = frozenset(
    {
        "error_rate",
        "token_expiry_rate",
        "timeout_after_commit_rate",
        "tax_reject_rate",
        "not_continuous_rate",
        "stale_token_rate",
    }
)


class Controls:
    def __init__(self, sim: MeInvoiceSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/_sandbox/invoices", self.invoices)
        router.add("POST", "/_sandbox/advance", self.advance)
        router.add(("GET", "POST"), "/_sandbox/accounts", self.accounts)
        router.add("POST", "/_sandbox/expire_tokens", self.expire_tokens)
        router.add("POST", "/_sandbox/revoke_tokens", self.revoke_tokens)

    def invoices(self, request: Request) -> Response:
        sim = self.sim
        mst = request.arg("mst")
        ref_id = request.arg("ref_id")
        with sim.lock:
            if mst and mst not in sim.accounts:
                return json_response({"error": f"no account {mst}"}, 404)
            accounts = [sim.accounts[mst]] if mst else list(sim.accounts.values())
            out = {
                acc.tax_code: [
                    control_row(sim, inv) for inv in acc.invoices if ref_id is None or inv.ref_id == ref_id
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

    def advance(self, request: Request) -> Response:
        sim = self.sim
        body = sim.control_body(request)
        seconds = body.get("seconds", request.arg("seconds"))
        try:
            seconds = float(seconds)
        except (TypeError, ValueError) as exc:
            raise BadRequest("seconds (a number ≥ 0) is required") from exc
        now = sim.advance(seconds)
        return json_response({"clock": now, "now": iso_vn(sim.wall())})

    def accounts(self, request: Request) -> Response:
        sim = self.sim
        if request.method == "POST":
            body = sim.control_body(request)
            tax_code = str(body.get("taxcode") or body.get("mst") or body.get("tax_code") or "").strip()
            if not tax_code:
                raise BadRequest("taxcode is required")
            account = sim.add_account(
                tax_code,
                appid=str(body.get("appid") or DEMO_APPID),
                username=str(body.get("username") or DEMO_USERNAME),
                password=str(body.get("password") or DEMO_PASSWORD),
                name=body.get("name"),
                templates=body.get("templates"),
            )
            return json_response({"account": _account_json(account)}, 201)
        with sim.lock:
            return json_response({"accounts": [_account_json(a) for a in sim.accounts.values()]})

    def expire_tokens(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        return json_response({"expired": self.sim.expire_tokens(body.get("mst") or None)})

    def revoke_tokens(self, request: Request) -> Response:
        body = self.sim.control_body(request)
        return json_response({"revoked": self.sim.revoke_tokens(body.get("mst") or None)})


def _account_json(account: Account) -> dict:
    return {
        "taxcode": account.tax_code,
        "name": account.name,
        "appid": account.appid,
        "username": account.username,
        "templates": [{"InvSeries": t["InvSeries"], "Inactive": t["Inactive"]} for t in account.templates],
        "invoices": len(account.invoices),
    }
