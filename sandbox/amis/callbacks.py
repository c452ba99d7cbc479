"""Callbacks: results AMIS POSTs to the company's configured URL (amis.md §10) — after a delay, signed
with lowercase hex HMAC-SHA256 of the raw ``data`` string keyed by ``app_id`` — delivered through the
shared ``sandbox.webhooks`` dispatcher; and ``get_call_back_detail_error``, the results that could not be
delivered. Fault knobs: lost, duplicated, delayed, out of order."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..core import Request, Response, dumps
from .helpers import AmisError, as_int, json_text, net_time, ok, text, vn
from .state import Company

if TYPE_CHECKING:
    from .simulator import AmisSimulator

MAX_DETAIL_ERROR_TAKE = 100  # amis.md §3


def sign(data: str, app_id: str) -> str:
    """amis.md §10 [M][R]: lowercase hex HMAC-SHA256 of the raw ``data`` text, key = app_id."""
    return hmac.new(app_id.encode("utf-8"), data.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class Callback:
    id: int
    company: str
    data_type: int
    results: list[dict]
    due: float  # simulator clock
    created: datetime
    url: str | None = None
    body: bytes = b""
    delivery_ids: list[int] = field(default_factory=list)
    lost: bool = False
    sent: bool = False
    data: dict | None = None  # data_type 22: {voucher: [...], custom_param: {ModelState}} instead of results


class Callbacks:
    def __init__(self, sim: AmisSimulator):
        self.sim = sim
        self.reset()

    def reset(self) -> None:
        self._ids = itertools.count(1)
        self.queue: list[Callback] = []  # waiting for their moment
        self.held: list[Callback] = []  # out-of-order: released after the next one
        self.all: list[Callback] = []

    def register(self, router) -> None:
        router.add("POST", "get_call_back_detail_error", self.detail_error)

    def schedule(
        self, company: Company, data_type: int, results: list[dict], at: float | None = None, data=None
    ) -> Callback | None:
        """Queue a callback for ``callback_delay_seconds`` after ``at`` (the moment its result happened;
        default now). Call with the lock held."""
        if not results:
            return None
        sim = self.sim
        callback = Callback(
            id=next(self._ids),
            company=company.code,
            data_type=data_type,
            results=results,
            due=(sim.clock() if at is None else at) + float(sim.knobs["callback_delay_seconds"]),
            created=vn(sim.wall()),
            data=data,
        )
        self.queue.append(callback)
        self.all.append(callback)
        return callback

    def payload(self, company: Company, callback: Callback) -> bytes:
        data = json_text(callback.data if callback.data is not None else callback.results)
        sim = self.sim
        # a push (data_type 22) carries vouchers, not results: it reports no failure
        failed = [] if callback.data is not None else [r for r in callback.results if not r.get("success")]
        return dumps(
            {
                "success": not failed,
                "error_code": failed[0]["error_code"] if failed else None,
                "error_message": failed[0]["error_message"] if failed else None,
                "signature": sign(data, sim.app_id),
                "data_type": callback.data_type,
                "data": data,
                "org_company_code": company.code,
                "app_id": sim.app_id,
            }
        )

    def due(self) -> list[Callback]:
        """Take the callbacks whose moment has come, in order. Call with the lock held."""
        now = self.sim.clock()
        ready = [c for c in self.queue if c.due <= now]
        self.queue = [c for c in self.queue if c.due > now]
        return sorted(ready, key=lambda c: (c.due, c.id))

    def send(self, callback: Callback) -> None:
        """Hand one callback to the dispatcher, applying the lost / duplicate / out-of-order knobs.
        Call with the lock held."""
        sim = self.sim
        if not self.held and sim.roll(float(sim.knobs["callback_out_of_order_rate"])):
            self.held.append(callback)
            return
        self._deliver(callback)
        while self.held:
            self._deliver(self.held.pop(0))

    def release_held(self) -> None:
        while self.held:
            self._deliver(self.held.pop(0))

    def _deliver(self, callback: Callback) -> None:
        sim = self.sim
        company = sim.companies[callback.company.casefold()]
        callback.url = company.callback_url
        callback.body = self.payload(company, callback)
        callback.sent = True
        if not callback.url or sim.roll(float(sim.knobs["callback_lost_rate"])):
            callback.lost = True  # MISA could not deliver it: get_call_back_detail_error lists it
            return
        headers = {"Content-Type": "application/json; charset=utf-8"}
        meta = {"org_company_code": company.code, "data_type": callback.data_type, "callback_id": callback.id}
        copies = 2 if sim.roll(float(sim.knobs["callback_duplicate_rate"])) else 1
        for copy in range(copies):
            delivery = sim.webhooks.enqueue(
                topic=f"amis/{callback.data_type}",
                url=callback.url,
                headers=headers,
                body=callback.body,
                meta=meta,
                duplicate=copy > 0,
            )
            callback.delivery_ids.append(delivery.id)

    def undelivered(self, company: str) -> list[Callback]:
        """Callbacks of ``company`` that were lost or whose every delivery gave up."""
        sim = self.sim
        gave_up = {d["id"] for d in sim.webhooks.deliveries() if d["gave_up"]}
        ok_ids = {d["id"] for d in sim.webhooks.deliveries() if d["ok"]}
        return [
            c
            for c in self.all
            if c.company == company
            and c.sent
            and (
                c.lost
                or (
                    c.delivery_ids
                    and all(i in gave_up for i in c.delivery_ids)
                    and not ok_ids & set(c.delivery_ids)
                )
            )
        ]

    def detail_error(self, request: Request, body: dict, company: Company) -> Response:
        """amis.md §3: ``{app_id, from_date, to_date, skip, take≤100}``; one row per result of an
        undelivered callback (sandbox: row field names Unconfirmed — match rows by org_refid)."""
        sim = self.sim
        days = []
        for name in ("from_date", "to_date"):
            value = text(body.get(name))
            try:
                days.append(datetime.strptime(value[:10], "%Y-%m-%d").date())
            except ValueError as exc:
                raise AmisError("InvalidParam", f"{name} phải có dạng yyyy-MM-dd") from exc
        skip = as_int(body.get("skip") if body.get("skip") is not None else 0)
        take = as_int(body.get("take") if body.get("take") is not None else MAX_DETAIL_ERROR_TAKE)
        if skip is None or take is None or skip < 0 or not 0 < take <= MAX_DETAIL_ERROR_TAKE:
            raise AmisError("InvalidParam", f"skip/take không hợp lệ (take tối đa {MAX_DETAIL_ERROR_TAKE})")
        with sim.lock:
            rows = [
                {
                    **result,
                    "data_type": c.data_type,
                    "org_company_code": c.company,
                    "call_back_url": c.url,
                    "created_date": net_time(c.created),
                }
                for c in self.undelivered(company.code)
                if days[0] <= c.created.date() <= days[1]
                for result in c.results
            ]
        return ok(rows[skip : skip + take])
