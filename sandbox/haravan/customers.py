"""Customers: the shop's buyers, read through the API (https://docs.haravan.com/docs/omni-apis/customer/)
and created on the fly by an order that names a new buyer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..core import Request, Response, Router, json_response
from .helpers import address, as_int, invalid, iso, not_found
from .reading import by_id, paged
from .state import Shop, TokenInfo

if TYPE_CHECKING:
    from .simulator import HaravanSimulator


class Customers:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/com/customers.json", self.list_customers)
        router.add("GET", "/com/customers/count.json", self.count_customers)
        router.add("GET", "/com/customers/search.json", self.search_customers)
        router.add("GET", "/com/customers/{id}.json", self.get_customer)

    def list_customers(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "customers")
        return paged(request, by_id(request, shop.customers.values()), "customers")

    def count_customers(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "customers")
        return json_response({"count": len(shop.customers)})

    def search_customers(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "customers")
        query = (request.arg("query") or "").strip().lower()

        def text(c: dict) -> str:
            company = (c.get("default_address") or {}).get("company") or ""
            parts = [
                c.get("email"),
                c.get("phone"),
                c.get("first_name"),
                c.get("last_name"),
                company,
                c.get("note"),
            ]
            return " ".join(p or "" for p in parts).lower()

        found = [c for c in sorted(shop.customers.values(), key=lambda c: c["id"]) if query in text(c)]
        return paged(request, found, "customers")

    def get_customer(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "customers")
        customer = shop.customers.get(int(id)) if id.isdigit() else None
        if customer is None:
            raise not_found()
        return json_response({"customer": customer})


def customer_for_order(sim: HaravanSimulator, shop: Shop, payload: dict, at: datetime) -> dict | None:
    """The customer an order payload names: an existing one (by id, then email) or a new one."""
    raw = payload.get("customer")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid("customer", "must be an object or null")
    if raw.get("id") not in (None, "", 0):
        found = shop.customers.get(as_int(raw["id"], "customer.id"))
        if found is not None:
            return found
        if not any(raw.get(k) for k in ("email", "phone", "first_name", "last_name")):
            raise invalid("customer.id", f"customer {raw['id']} does not exist")
    email = (raw.get("email") or "").strip().lower()
    if email:
        for existing in shop.customers.values():
            if (existing.get("email") or "").lower() == email:
                return existing
    if not any(raw.get(k) for k in ("email", "phone", "first_name", "last_name")):
        raise invalid("customer", "needs an email, a phone or a name")
    stamp = iso(at)
    address_raw = (
        raw.get("default_address")
        or (raw.get("addresses") or [None])[0]
        or {
            "first_name": raw.get("first_name"),
            "last_name": raw.get("last_name"),
            "phone": raw.get("phone"),
        }
    )
    default_address = address(address_raw, new_id=lambda: sim.next_id("address"))
    customer = {
        "id": sim.next_id("customer"),
        "email": raw.get("email"),
        "phone": raw.get("phone"),
        "first_name": raw.get("first_name"),
        "last_name": raw.get("last_name"),
        "accepts_marketing": bool(raw.get("accepts_marketing", False)),
        "addresses": [default_address],
        "default_address": dict(default_address),
        "orders_count": 0,
        "total_spent": 0.0,
        "total_paid": 0.0,
        "last_order_id": None,
        "last_order_name": None,
        "last_order_date": None,
        "note": raw.get("note"),
        "tags": raw.get("tags"),
        "state": "enabled",
        "verified_email": False,
        "multipass_identifier": None,
        "group_name": None,
        "birthday": None,
        "gender": None,
        "created_at": stamp,
        "updated_at": stamp,
    }
    shop.customers[customer["id"]] = customer
    return customer
