"""Customers: ``GET /v1/customers/{guid}`` (e-invoice address and operator, VAT number, e-mail) and
``GET /v1/customers/{guid}/customercountrysettings`` (tax-free sales and their EN 16931 zero-VAT category),
scope customers:read (maventa-severa.md §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Request, Response, json_response
from .helpers import guid, not_found

if TYPE_CHECKING:
    from .simulator import SeveraSimulator


def customer_json(guid_: str, customer: dict) -> dict:
    out = {"guid": guid_}
    out.update({k: v for k, v in customer.items() if k != "country"})
    out["invoicingVat"] = None
    out["paymentTerm"] = 14
    out["invoiceTemplate"] = None
    return out


class Customers:
    def __init__(self, sim: SeveraSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add(
            "GET",
            "/v1/customers/{guid}/customercountrysettings",
            self.country_settings,
            scope="customers:read",
        )
        router.add("GET", "/v1/customers/{guid}", self.customer, scope="customers:read")

    def _find(self, value: str) -> tuple[str, dict]:
        key = guid(value, "guid")
        customer = self.sim.customers.get(key)
        if customer is None:
            raise not_found("Customer", key)
        return key, customer

    def customer(self, request: Request, guid: str) -> Response:
        with self.sim.lock:
            key, customer = self._find(guid)
            return json_response(customer_json(key, customer))

    def country_settings(self, request: Request, guid: str) -> Response:
        with self.sim.lock:
            key, _ = self._find(guid)
            return json_response(list(self.sim.country_settings.get(key, [])))
