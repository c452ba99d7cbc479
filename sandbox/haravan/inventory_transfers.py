"""Transfers between a shop's locations ("chuyển kho"): ``GET /com/inventories/transfers.json`` (``page``,
``limit``, ``since_id``, ``from_location_id``, ``to_location_id``), ``…/count.json``, the detail at
``GET /com/inventorytransfer/detail/{id}.json`` (wrapper ``inventorytransfer``), ``POST
/com/inventories/transfer.json {transfer:{from_loc_id, to_loc_id, note, reason, line_items}}`` and ``POST
/com/inventories/transfer/{id}/receive.json {transfer:{user_id}}`` (reference §13).

A transfer: ``{id, transfer_number:"IT100001", from_loc_id, to_loc_id, reason, tran_date, note, total,
status:"Active"|"Received", actived_at, received_at, created_user, received_user, user_id, tags, created_at,
updated_at, line_items:[{id, product_id, product_variant_id, quantity, sku, barcode, variant_title,
product_name}]}`` — lines carry no cost. Creating one takes the units out of the origin at once (they are
"incoming" at the destination); receiving it puts them in at the destination and moves ``updated_at``.

sandbox: the list answers newest first and carries the lines; a transfer is received whole (Haravan's partial
receipt is Unconfirmed); a second receipt is refused (422). Statuses other than Active/Received are
Unconfirmed: the control ``_sandbox/inventory/status`` can set any word for a test.
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
    stamp,
    variant_of,
    whole_quantity,
)
from .reading import paged, read_body

if TYPE_CHECKING:
    from .simulator import HaravanSimulator
    from .state import Shop, TokenInfo

MAX_LINES = 100  # sandbox: the adjustments' documented limit, assumed for transfers too


class InventoryTransfers:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/com/inventories/transfers.json", self.list_transfers)
        router.add("GET", "/com/inventories/transfers/count.json", self.count_transfers)
        router.add("GET", "/com/inventorytransfer/detail/{id}.json", self.get_transfer)
        router.add("POST", "/com/inventories/transfer.json", self.create_transfer)
        router.add("POST", "/com/inventories/transfer/{id}/receive.json", self.receive_transfer)

    def _matching(self, request: Request, shop: Shop) -> list[dict]:
        items = newest_first(request, book(shop).transfers.values())
        origin = id_filter(request, "from_location_id")
        destination = id_filter(request, "to_location_id")
        if origin is not None:
            items = [i for i in items if i["from_loc_id"] == origin]
        if destination is not None:
            items = [i for i in items if i["to_loc_id"] == destination]
        return items

    def list_transfers(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "inventories")
        return paged(request, self._matching(request, shop), "transfers")

    def count_transfers(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "inventories")
        return json_response({"count": len(self._matching(request, shop))})

    def get_transfer(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "inventories")
        return json_response({"inventorytransfer": find_transfer(shop, id)})

    def create_transfer(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_write(token, "inventories")
        transfer = add_transfer(self.sim, shop, read_body(request, "transfer"))
        return json_response({"transfer": transfer}, status=201)

    def receive_transfer(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_write(token, "inventories")
        body = read_body(request, "transfer", required=False)
        transfer = receive(self.sim, shop, find_transfer(shop, id), user_id=body.get("user_id"))
        return json_response({"transfer": transfer})


def find_transfer(shop: Shop, id: str) -> dict:
    found = book(shop).transfers.get(int(id)) if str(id).isdigit() else None
    if found is None:
        raise not_found()
    return found


def add_transfer(sim: HaravanSimulator, shop: Shop, body: dict) -> dict:
    inventory = book(shop)
    origin = location_of(shop, body.get("from_loc_id"), "from_loc_id")
    destination = location_of(shop, body.get("to_loc_id"), "to_loc_id")
    if origin["id"] == destination["id"]:
        raise invalid("to_loc_id", "must differ from from_loc_id")
    raw_lines = body.get("line_items")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise invalid("line_items", "at least one line is required")
    if len(raw_lines) > MAX_LINES:
        raise invalid("line_items", f"at most {MAX_LINES} lines per document")
    wanted: dict[int, tuple[dict, dict, int]] = {}
    for i, raw in enumerate(raw_lines):
        where = f"line_items[{i}]"
        if not isinstance(raw, dict):
            raise invalid(where, "must be an object")
        product, variant = variant_of(shop, raw, where)
        if variant["id"] in wanted:
            raise invalid(f"{where}.product_variant_id", "each variant once per document")
        wanted[variant["id"]] = (product, variant, whole_quantity(raw.get("quantity"), f"{where}.quantity"))
    check_enough(shop, origin["id"], {v: q for v, (_p, _v, q) in wanted.items()}, "line_items.quantity")
    at = stamp(sim)
    user = body.get("user_id") or 200000101
    lines = []
    for variant_id, (product, variant, quantity) in wanted.items():
        lines.append({"id": inventory.next_id("line"), **item_facts(product, variant), "quantity": quantity})
        move(shop, origin["id"], variant_id, onhand=-quantity, at=at)
        move(shop, destination["id"], variant_id, incoming=quantity, at=at)
    transfer = {
        "id": inventory.next_id("transfer"),
        "transfer_number": inventory.next_number("transfer"),
        "from_loc_id": origin["id"],
        "to_loc_id": destination["id"],
        "reason": body.get("reason") or "",
        "tran_date": at,
        "note": body.get("note") or "",
        "total": sum(line["quantity"] for line in lines),
        "status": "Active",
        "actived_at": at,
        "received_at": None,
        "created_user": user,
        "received_user": None,
        "user_id": user,
        "tags": body.get("tags") or "",
        "created_at": at,
        "updated_at": at,
        "line_items": lines,
    }
    inventory.transfers[transfer["id"]] = transfer
    return transfer


def receive(sim: HaravanSimulator, shop: Shop, transfer: dict, *, user_id=None) -> dict:
    if transfer["status"] != "Active":
        raise invalid("status", f"transfer {transfer['transfer_number']} is {transfer['status']}, not Active")
    at = stamp(sim)
    for line in transfer["line_items"]:
        quantity = line["quantity"]
        move(
            shop,
            transfer["to_loc_id"],
            line["product_variant_id"],
            onhand=quantity,
            incoming=-quantity,
            at=at,
        )
    transfer.update(
        status="Received", received_at=at, received_user=user_id or transfer["user_id"], updated_at=at
    )
    return transfer
