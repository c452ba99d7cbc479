"""Stock adjustments and counts ("điều chỉnh tồn kho", "kiểm kho"): ``GET /com/inventories/adjustments.json``
(``page``, ``limit``, ``since_id``, ``location_id``), ``…/count.json``, ``…/{id}.json`` and
``POST /com/inventories/adjustorset.json`` (reference §13).

A document: ``{id, adjust_number:"IA100017", tran_date, created_at, updated_at, location_id, type, reason,
total_quantity, total_cost, note, tags, user_id, line_items:[{id, product_id, product_variant_id,
product_name, variant_title, quantity, cost_amount, sku, barcode}]}`` — ``quantity`` signed (−11 = a
decrease) and ``cost_amount`` the line's signed total at the variant's current cost.

Create ``{inventory:{location_id, type:"adjust"|"set", reason, note, line_items:[{product_id,
product_variant_id, quantity}]}}``: "adjust" moves by ``quantity``, "set" (a stock count) sets on hand to it;
one reason per document (one of Haravan's reasons, required); at most ``MAX_LINES`` lines; a line that changes
nothing is left out and a document changing nothing is refused (422, "no document is created for unchanged
lines"). Scopes: ``com.read_inventories`` to read, ``com.write_inventories`` to create.

sandbox: ``total_quantity`` and ``total_cost`` are the signed sums of the lines (Haravan's sign convention for
the totals is Unconfirmed); the list answers newest first and carries the lines; Haravan's documented line
limit is "100–200": the stricter 100 is enforced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Request, Response, Router, json_response
from .helpers import invalid, not_found
from .inventory_balances import (
    book,
    check_enough,
    id_filter,
    item_facts,
    location_of,
    move,
    newest_first,
    on_hand,
    stamp,
    variant_of,
    whole_quantity,
)
from .reading import paged, read_body

if TYPE_CHECKING:
    from .simulator import HaravanSimulator
    from .state import Shop, TokenInfo

REASONS = ("newproduct", "returned", "productionofgoods", "damaged", "shrinkage", "promotion", "transfer")
TYPES = ("adjust", "set")
MAX_LINES = 100


class InventoryAdjustments:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/com/inventories/adjustments.json", self.list_adjustments)
        router.add("GET", "/com/inventories/adjustments/count.json", self.count_adjustments)
        router.add("GET", "/com/inventories/adjustments/{id}.json", self.get_adjustment)
        router.add("POST", "/com/inventories/adjustorset.json", self.create_adjustment)

    def _matching(self, request: Request, shop: Shop) -> list[dict]:
        items = newest_first(request, book(shop).adjustments.values())
        location_id = id_filter(request, "location_id")
        if location_id is not None:
            items = [i for i in items if i["location_id"] == location_id]
        return items

    def list_adjustments(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "inventories")
        return paged(request, self._matching(request, shop), "adjustments")

    def count_adjustments(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "inventories")
        return json_response({"count": len(self._matching(request, shop))})

    def get_adjustment(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "inventories")
        found = book(shop).adjustments.get(int(id)) if id.isdigit() else None
        if found is None:
            raise not_found()
        return json_response({"adjustment": found})

    def create_adjustment(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_write(token, "inventories")
        adjustment = add_adjustment(self.sim, shop, read_body(request, "inventory"))
        return json_response({"adjustment": adjustment}, status=201)


def add_adjustment(sim: HaravanSimulator, shop: Shop, body: dict) -> dict:
    """Validate, then book one adjustment (nothing moves when anything is refused)."""
    inventory = book(shop)
    location = location_of(shop, body.get("location_id"), "location_id")
    kind = body.get("type") or "adjust"
    if kind not in TYPES:
        raise invalid("type", f"must be one of {', '.join(TYPES)}")
    reason = body.get("reason")
    if reason not in REASONS:
        raise invalid("reason", f"one reason per document, one of {', '.join(REASONS)}")
    raw_lines = body.get("line_items")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise invalid("line_items", "at least one line is required")
    if len(raw_lines) > MAX_LINES:
        raise invalid("line_items", f"at most {MAX_LINES} lines per document")
    changes: dict[int, tuple[dict, dict, int]] = {}
    for i, raw in enumerate(raw_lines):
        where = f"line_items[{i}]"
        if not isinstance(raw, dict):
            raise invalid(where, "must be an object")
        product, variant = variant_of(shop, raw, where)
        if variant["id"] in changes:
            raise invalid(f"{where}.product_variant_id", "each variant once per document")
        if kind == "set":
            counted = whole_quantity(raw.get("quantity"), f"{where}.quantity", allow_zero=True)
            delta = counted - on_hand(shop, location["id"], variant["id"])
        else:
            delta = whole_quantity(raw.get("quantity"), f"{where}.quantity", allow_negative=True)
        if delta:
            changes[variant["id"]] = (product, variant, delta)
    if not changes:
        raise invalid("line_items", "nothing changes: no document is created for unchanged lines")
    check_enough(
        shop, location["id"], {v: -d for v, (_p, _v, d) in changes.items() if d < 0}, "line_items.quantity"
    )
    at = stamp(sim)
    lines = []
    for variant_id, (product, variant, delta) in changes.items():
        cost = inventory.costs[variant_id]
        lines.append(
            {
                "id": inventory.next_id("line"),
                **item_facts(product, variant),
                "quantity": delta,
                "cost_amount": float(delta * cost),
            }
        )
        move(shop, location["id"], variant_id, onhand=delta, at=at)
    adjustment = {
        "id": inventory.next_id("adjustment"),
        "adjust_number": inventory.next_number("adjustment"),
        "tran_date": at,
        "created_at": at,
        "updated_at": at,
        "location_id": location["id"],
        "type": kind,
        "reason": reason,
        "total_quantity": sum(line["quantity"] for line in lines),
        "total_cost": float(sum(line["cost_amount"] for line in lines)),
        "note": body.get("note") or "",
        "tags": body.get("tags") or "",
        "user_id": body.get("user_id") or 200000101,
        "line_items": lines,
    }
    inventory.adjustments[adjustment["id"]] = adjustment
    return adjustment
