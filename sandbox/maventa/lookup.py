"""Receiver lookup (maventa-severa.md §2 "Lookup"): ``GET /v1/lookup/receivers?eia=&bid=&name=&country[]=&
network[]=&page&per_page≤100`` (scope ``lookup``) → the directory rows that match, ``[]`` when none.

A ``bid`` matches whatever form the business id is written in (orgnr with or without the dash, VAT number,
Y-tunnus, OVT); an ``eia`` matches with or without its scheme prefix (sandbox: the form Maventa expects is
Unconfirmed, §5). At least one of ``eia``, ``bid``, ``name`` is required (400 otherwise)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ..core import Request, Response, json_response
from .helpers import invalid

if TYPE_CHECKING:
    from .simulator import MaventaSimulator

NETWORKS = ("PEPPOL", "INTERNAL", "EXTERNAL")


class Lookup:
    def __init__(self, sim: MaventaSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add("GET", "/v1/lookup/receivers", self.receivers)

    def receivers(self, request: Request, context: dict) -> Response:
        sim = self.sim
        sim.authenticate(request, context, "lookup")
        eia, bid, name = ((request.arg(k) or "").strip() for k in ("eia", "bid", "name"))
        if not (eia or bid or name):
            raise invalid("one of eia, bid or name is required", ["eia", "bid", "name"])
        networks = [n.upper() for n in request.query.get("network[]") or []]
        if any(n not in NETWORKS for n in networks):
            raise invalid(f"network does not have a valid value ({', '.join(NETWORKS)})", ["network"])
        countries = [c.upper() for c in request.query.get("country[]") or []]
        try:
            page = int(request.arg("page") or 1)
            per_page = int(request.arg("per_page") or 100)
        except ValueError as exc:
            raise invalid("page and per_page must be integers", ["page", "per_page"]) from exc
        if page < 1 or not 1 <= per_page <= 100:
            raise invalid("per_page must be 1 … 100, page ≥ 1", ["page", "per_page"])
        with sim.lock:
            rows = sim.match_receivers(eia=eia or None, bid=bid or None, name=name or None)
            rows = [
                r
                for r in rows
                if (not networks or r["network"] in networks)
                and (not countries or r["participant"]["country"] in countries)
            ]
            return json_response(copy.deepcopy(rows[(page - 1) * per_page : page * per_page]))
