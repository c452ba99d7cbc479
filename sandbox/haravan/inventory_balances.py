"""A shop's stock and its balances endpoint, ``GET /com/inventory_locations.json``
(docs copy ``thuhuongudn/docs.haravan.com_docs_omni-apis``, see ``/work/shared/reference/amis.md`` §13).

Every inventory document moves the book kept here (``InventoryBook``): an adjustment and a purchase receive
or return change on-hand at their location, a transfer takes stock out of its origin when it is created
("Active", counted as incoming at the destination) and puts it in at the destination when it is received.

The balances answer ``{"inventory_locations": [{id, loc_id, product_id, variant_id, qty_onhand, qty_commited,
qty_incoming, qty_available, updated_at}]}``; filters ``location_ids`` and ``variant_ids`` (also the doc's
typo ``vatiant_ids``) take at most 50 ids each (more: 422), ``limit`` at most 250 (larger silently capped,
like the other lists), ``page``, ``since_id``, ``order=id|updated_at`` and ``direction=asc|desc``,
``updated_at_min``. Scope ``com.read_inventories``.

sandbox: every variant starts with 50 on hand at each location (the catalogue's ``inventory_quantity`` of 100
over the demo's two locations); ``qty_commited`` stays 0 (orders do not reserve stock here); a decrease below
what is on hand is refused (422) — Haravan's own rule is Unconfirmed, refusing is the stricter reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..core import Request, Response, Router, json_response
from .helpers import ApiProblem, invalid, iso, parse_time
from .reading import since_id_of

if TYPE_CHECKING:
    from .simulator import HaravanSimulator
    from .state import Shop, TokenInfo

STARTING_STOCK = 50
SEEDED_AT = "2023-06-15T03:00:00.000Z"
MAX_IDS = 50
MAX_BALANCE_LIMIT = 250
# The first id and number of each kind of inventory document (numbers as Haravan writes them: "IA100017")
FIRST_IDS = {"adjustment": 2100000001, "transfer": 2200000001, "purchase_order": 2300000001, "receive":
             2400000001, "return": 2500000001, "line": 2600000001, "balance": 2700000001}  # fmt: skip
PREFIXES = {"adjustment": "IA", "transfer": "IT", "purchase_order": "PO", "receive": "IR", "return": "PR"}


@dataclass
class InventoryBook:
    """A shop's inventory documents (by id) and stock per (location id, variant id)."""

    adjustments: dict[int, dict] = field(default_factory=dict)
    transfers: dict[int, dict] = field(default_factory=dict)
    purchase_orders: dict[int, dict] = field(default_factory=dict)
    receives: dict[int, dict] = field(default_factory=dict)
    returns: dict[int, dict] = field(default_factory=dict)
    balances: dict[tuple[int, int], dict] = field(default_factory=dict)
    costs: dict[int, int] = field(default_factory=dict)  # variant id → current unit cost (VND)
    ids: dict[str, int] = field(default_factory=lambda: dict(FIRST_IDS))
    numbers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PREFIXES, 100001))
    seeded: bool = False

    def next_id(self, kind: str) -> int:
        value = self.ids[kind]
        self.ids[kind] += 1
        return value

    def next_number(self, kind: str) -> str:
        value = self.numbers[kind]
        self.numbers[kind] += 1
        return f"{PREFIXES[kind]}{value}"


def book(shop: Shop) -> InventoryBook:
    """The shop's book, with its starting stock the first time it is looked at."""
    inventory = shop.inventory
    if not inventory.seeded:
        inventory.seeded = True
        for product in shop.products.values():
            for variant in product["variants"]:
                inventory.costs[variant["id"]] = max(1000, round(float(variant["price"]) * 0.6 / 1000) * 1000)
                for loc_id in sorted(shop.locations):
                    inventory.balances[(loc_id, variant["id"])] = {
                        "id": inventory.next_id("balance"),
                        "loc_id": loc_id,
                        "product_id": product["id"],
                        "variant_id": variant["id"],
                        "qty_onhand": STARTING_STOCK,
                        "qty_commited": 0,
                        "qty_incoming": 0,
                        "qty_available": STARTING_STOCK,
                        "updated_at": SEEDED_AT,
                    }
    return inventory


# --- what every inventory document checks ---------------------------------------------------------------


def location_of(shop: Shop, value: Any, where: str) -> dict:
    try:
        location = shop.locations.get(int(value))
    except (TypeError, ValueError):
        location = None
    if location is None:
        raise invalid(where, f"location {value} does not exist")
    return location


def variant_of(shop: Shop, line: dict, where: str) -> tuple[dict, dict]:
    """The product and variant a line names by ``product_variant_id`` (its ``product_id`` must agree)."""
    try:
        variant_id = int(line.get("product_variant_id"))
    except (TypeError, ValueError):
        raise invalid(f"{where}.product_variant_id", "is required") from None
    found = shop.variant(variant_id)
    if found is None:
        raise invalid(f"{where}.product_variant_id", f"variant {variant_id} does not exist")
    product, variant = found
    if line.get("product_id") not in (None, "") and str(line.get("product_id")) != str(product["id"]):
        raise invalid(f"{where}.product_id", f"variant {variant_id} belongs to product {product['id']}")
    return product, variant


def whole_quantity(value: Any, where: str, *, allow_zero: bool = False, allow_negative: bool = False) -> int:
    """A quantity as Haravan counts units: a whole number (a decimal one is refused, 422)."""
    if isinstance(value, bool) or value in (None, ""):
        raise invalid(where, "is required")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise invalid(where, "is not a number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise invalid(where, "must be a whole number")
    number = int(number)
    if (number == 0 and not allow_zero) or (number < 0 and not allow_negative):
        raise invalid(where, "must be greater than 0")
    return number


def item_facts(product: dict, variant: dict) -> dict:
    return {
        "product_id": product["id"],
        "product_variant_id": variant["id"],
        "product_name": product["title"],
        "variant_title": variant["title"],
        "sku": variant["sku"],
        "barcode": variant.get("barcode"),
    }


def on_hand(shop: Shop, loc_id: int, variant_id: int) -> int:
    return book(shop).balances[(loc_id, variant_id)]["qty_onhand"]


def check_enough(shop: Shop, loc_id: int, wanted: dict[int, int], field_name: str) -> None:
    """422 unless the location holds ``wanted`` (variant id → units) of each variant."""
    for variant_id, units in wanted.items():
        have = on_hand(shop, loc_id, variant_id)
        if units > have:
            raise invalid(
                field_name, f"not enough stock of variant {variant_id} at location {loc_id}: {have} < {units}"
            )


def move(shop: Shop, loc_id: int, variant_id: int, *, onhand: int = 0, incoming: int = 0, at: str) -> None:
    """Change one balance by ``onhand`` units on hand and ``incoming`` units on their way."""
    balance = book(shop).balances[(loc_id, variant_id)]
    balance["qty_onhand"] += onhand
    balance["qty_incoming"] += incoming
    balance["qty_available"] = balance["qty_onhand"] - balance["qty_commited"]
    balance["updated_at"] = at


# --- lists of inventory documents: what they share ----------------------------------------------------------


def newest_first(request: Request, items, *, since: bool = True) -> list[dict]:
    """Documents newest first (sandbox: Haravan's inventory lists are shown newest first in its admin; the
    API's own order is Unconfirmed), narrowed by ``since_id`` where the endpoint documents it.
    ``updated_at_min`` and other undocumented filters are ignored, as Haravan ignores them."""
    items = sorted(items, key=lambda i: i["id"], reverse=True)
    if since:
        since_id = since_id_of(request)
        if since_id is not None:
            items = [i for i in items if i["id"] > since_id]
    return items


def id_filter(request: Request, name: str) -> int | None:
    raw = request.arg(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiProblem(400, {name: f"{name} must be a number"}) from None


# --- the balances endpoint --------------------------------------------------------------------------------


class InventoryBalances:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/com/inventory_locations.json", self.list_balances)

    def list_balances(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "inventories")
        rows = list(book(shop).balances.values())
        locations = _ids(request, "location_ids")
        variants = _ids(request, "variant_ids")
        typo = _ids(request, "vatiant_ids")
        if typo is not None:
            variants = typo if variants is None else variants | typo
        if locations is not None:
            rows = [r for r in rows if r["loc_id"] in locations]
        if variants is not None:
            rows = [r for r in rows if r["variant_id"] in variants]
        since_id = since_id_of(request)
        if since_id is not None:
            rows = [r for r in rows if r["id"] > since_id]
        if request.arg("updated_at_min"):
            try:
                floor = parse_time(request.arg("updated_at_min"))
            except ValueError:
                raise ApiProblem(400, {"updated_at_min": "is not a date"}) from None
            rows = [r for r in rows if parse_time(r["updated_at"]) >= floor]
        order = request.arg("order") or "id"
        if order not in ("id", "updated_at"):
            raise ApiProblem(400, {"order": "order must be id or updated_at"})
        direction = (request.arg("direction") or "asc").lower()
        if direction not in ("asc", "desc"):
            raise ApiProblem(400, {"direction": "direction must be asc or desc"})
        rows.sort(key=lambda r: (r[order], r["id"]), reverse=direction == "desc")
        try:
            limit = int(request.arg("limit") or 50)
            page = max(int(request.arg("page") or 1), 1)
        except ValueError:
            raise ApiProblem(400, {"limit": "limit and page must be integers"}) from None
        limit = 50 if limit <= 0 else min(limit, MAX_BALANCE_LIMIT)
        chunk = rows[(page - 1) * limit : page * limit]
        return json_response({"inventory_locations": [dict(r) for r in chunk]})


def _ids(request: Request, name: str) -> set[int] | None:
    raw = request.arg(name)
    if raw is None or not raw.strip():
        return None
    try:
        ids = {int(x) for x in raw.split(",") if x.strip()}
    except ValueError:
        raise ApiProblem(400, {name: f"{name} must be a comma-separated list of numbers"}) from None
    if len(ids) > MAX_IDS:
        raise invalid(name, f"at most {MAX_IDS} ids at a time")
    return ids


def stamp(sim: HaravanSimulator) -> str:
    return iso(sim.now())
