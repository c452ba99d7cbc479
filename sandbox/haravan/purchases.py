"""Buying stock: purchase orders, purchase receives ("nhập hàng") and purchase returns ("xuất trả"), reference
§13. Only GET is documented for these three (no create), so the simulator's controls make them
(``inventory_controls.py``):

- ``GET /com/inventories/purchase_orders.json?page&limit`` and ``/{id}.json``: ``{id, purchase_number:"PO…",
  status:"Chưa nhận hàng"|"Hoàn thành", tran_date (expected), completed_at, closed_at, ref_number, supplier
  (a string or null), notes, location:{…},
  line_item:{received_items:[…]|null, not_received_items:[…]|null}}``.
- ``GET /com/v2/inventories/purchase_receives.json?page&limit`` — every row's ``line_items`` is null, read the
  detail — and ``/{id}.json``: ``{id, receive_number:"IR…", ref_number, ref_purchase_order_id, status:"Nháp"|
  "Đã nhập hàng"|"Đã xuất trả"|"Đã hủy", received_at, total (units), total_cost, tags, notes, supplier:{…},
  location:{…}, line_items:[{id, product_id, product_variant_id, product_name, variant_title, sku, barcode,
  original_cost, discount_amount, cost, quantity, total_cost, variant_unit:{…}, lots:[…]}]}``.
- ``GET /com/v2/inventories/purchase_returns.json`` and ``/{id}.json``: the same shape with
  ``return_number:"PR…"``, ``ref_receive_id`` and ``returned_at``; the list writes the status ``"3"`` where
  the detail says ``"Đã xuất trả"``.

Scope ``com.read_inventories``. sandbox readings (Unconfirmed): the envelopes are the plural/singular resource
names; lists answer newest first; ``discount_amount`` is per unit (``cost = original_cost − discount_amount``,
line ``total_cost = cost × quantity``); a quantity counts ``variant_unit`` units (``ratio`` base units each);
a receive whose every unit went back becomes "Đã xuất trả"; only a draft ("Nháp") can be cancelled; both
documents carry ``created_at`` and ``updated_at``, which every change moves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core import Request, Response, Router, json_response
from .helpers import invalid, not_found, vnd
from .inventory_balances import (
    book,
    check_enough,
    item_facts,
    location_of,
    move,
    newest_first,
    stamp,
    variant_of,
    whole_quantity,
)
from .reading import paged

if TYPE_CHECKING:
    from .simulator import HaravanSimulator
    from .state import Shop, TokenInfo

DRAFT, RECEIVED, RETURNED, CANCELLED = "Nháp", "Đã nhập hàng", "Đã xuất trả", "Đã hủy"
RECEIVE_STATUSES = (DRAFT, RECEIVED, RETURNED, CANCELLED)
PO_OPEN, PO_DONE = "Chưa nhận hàng", "Hoàn thành"
LIST_CODES = {RETURNED: "3"}  # how a return's list row writes its status (documented for "Đã xuất trả" only)

SUPPLIERS = (
    {"id": 3000001, "name": "Công ty TNHH Dệt May Phương Nam", "supplier_name": "Dệt May Phương Nam",
     "phone": "02838123456", "email": "banhang@phuongnam-textile.vn", "address": "120 Lý Thường Kiệt",
     "province": "Hồ Chí Minh", "province_code": "HC", "district": "Quận 10", "district_code": "HC475",
     "ward": "Phường 14", "ward_code": "27172", "tax_code": "0301234568"},
    {"id": 3000002, "name": "Nhà sách Hà Nội (bán sỉ)", "supplier_name": "Nhà sách Hà Nội",
     "phone": "02439876543", "email": "si@nhasachhanoi.vn", "address": "45 Đinh Lễ",
     "province": "Hà Nội", "province_code": "HI", "district": "Quận Hoàn Kiếm", "district_code": "HI2",
     "ward": "Phường Tràng Tiền", "ward_code": "00076", "tax_code": "0100109106"},
)  # fmt: skip


class Purchases:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/com/inventories/purchase_orders.json", self.list_orders)
        router.add("GET", "/com/inventories/purchase_orders/{id}.json", self.get_order)
        router.add("GET", "/com/v2/inventories/purchase_receives.json", self.list_receives)
        router.add("GET", "/com/v2/inventories/purchase_receives/{id}.json", self.get_receive)
        router.add("GET", "/com/v2/inventories/purchase_returns.json", self.list_returns)
        router.add("GET", "/com/v2/inventories/purchase_returns/{id}.json", self.get_return)

    def list_orders(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "inventories")
        items = newest_first(request, book(shop).purchase_orders.values(), since=False)
        return paged(request, items, "purchase_orders")

    def get_order(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "inventories")
        return json_response({"purchase_order": _find(book(shop).purchase_orders, id)})

    def list_receives(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "inventories")
        items = newest_first(request, book(shop).receives.values(), since=False)
        return paged(request, [{**r, "line_items": None} for r in items], "purchase_receives")

    def get_receive(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "inventories")
        return json_response({"purchase_receive": _find(book(shop).receives, id)})

    def list_returns(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "inventories")
        items = newest_first(request, book(shop).returns.values(), since=False)
        rows = [{**r, "line_items": None, "status": LIST_CODES.get(r["status"], r["status"])} for r in items]
        return paged(request, rows, "purchase_returns")

    def get_return(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "inventories")
        return json_response({"purchase_return": _find(book(shop).returns, id)})


def _find(items: dict[int, dict], id: Any) -> dict:
    found = items.get(int(id)) if str(id).isdigit() else None
    if found is None:
        raise not_found()
    return found


def _location_card(location: dict) -> dict:
    return {
        "id": location["id"],
        "name": location["name"],
        "type": location.get("location_type") or "default",
        "is_primary": bool(location.get("is_primary")),
    }


def _supplier(raw: Any) -> dict | None:
    if raw is None:
        return None
    if isinstance(raw, int | str) and str(raw).isdigit():
        found = next((s for s in SUPPLIERS if s["id"] == int(raw)), None)
        if found is None:
            raise invalid("supplier_id", f"supplier {raw} does not exist")
        return dict(found)
    if isinstance(raw, dict) and (raw.get("name") or raw.get("supplier_name")):
        out = {key: raw.get(key) for key in SUPPLIERS[0]}
        out["id"] = raw.get("id") or 3000900
        out["name"] = out["name"] or out["supplier_name"]
        out["supplier_name"] = out["supplier_name"] or out["name"]
        return out
    raise invalid("supplier", "a supplier id or {name, …}")


# --- purchase orders -------------------------------------------------------------------------------------


def add_purchase_order(sim: HaravanSimulator, shop: Shop, body: dict) -> dict:
    inventory = book(shop)
    location = location_of(shop, body.get("location_id") or shop.primary_location()["id"], "location_id")
    raw_lines = body.get("line_items")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise invalid("line_items", "at least one line is required")
    items = []
    for i, raw in enumerate(raw_lines):
        where = f"line_items[{i}]"
        product, variant = variant_of(shop, raw, where)
        quantity = whole_quantity(raw.get("quantity"), f"{where}.quantity")
        cost = vnd(raw.get("cost", inventory.costs[variant["id"]]), f"{where}.cost")
        items.append(
            {
                "id": inventory.next_id("line"),
                **item_facts(product, variant),
                "quantity": quantity,
                "cost_amount": float(cost * quantity),
                "status": PO_OPEN,
                "receive_id": None,
                "receive_date": None,
            }
        )
    at = stamp(sim)
    supplier = _supplier(body.get("supplier_id", body.get("supplier")))
    order = {
        "id": inventory.next_id("purchase_order"),
        "purchase_number": inventory.next_number("purchase_order"),
        "status": PO_OPEN,
        "tran_date": body.get("tran_date") or at,
        "completed_at": None,
        "closed_at": None,
        "ref_number": body.get("ref_number") or "",
        "supplier": supplier["name"] if supplier else None,
        "notes": body.get("notes") or "",
        "location": _location_card(location),
        "line_item": {"received_items": None, "not_received_items": items},
        "created_at": at,
        "updated_at": at,
    }
    inventory.purchase_orders[order["id"]] = order
    return order


def _fill_purchase_order(shop: Shop, receive: dict, at: str) -> None:
    """The order's items of the receive's variants are received by it; all received: "Hoàn thành"."""
    order = book(shop).purchase_orders.get(receive.get("ref_purchase_order_id") or 0)
    if order is None:
        return
    variants = {line["product_variant_id"] for line in receive["line_items"]}
    waiting = order["line_item"]["not_received_items"] or []
    done = [item for item in waiting if item["product_variant_id"] in variants]
    for item in done:
        item.update(status=PO_DONE, receive_id=receive["id"], receive_date=at)
    left = [item for item in waiting if item["product_variant_id"] not in variants]
    order["line_item"] = {
        "received_items": (order["line_item"]["received_items"] or []) + done or None,
        "not_received_items": left or None,
    }
    if not left:
        order.update(status=PO_DONE, completed_at=at)
    order["updated_at"] = at


# --- purchase receives -----------------------------------------------------------------------------------


def _receive_line(shop: Shop, raw: Any, where: str) -> dict:
    inventory = book(shop)
    if not isinstance(raw, dict):
        raise invalid(where, "must be an object")
    product, variant = variant_of(shop, raw, where)
    quantity = whole_quantity(raw.get("quantity"), f"{where}.quantity")
    unit = raw.get("unit") if isinstance(raw.get("unit"), dict) else {}
    ratio = whole_quantity(unit.get("ratio", 1), f"{where}.unit.ratio")
    original = vnd(raw.get("original_cost", inventory.costs[variant["id"]] * ratio), f"{where}.original_cost")
    discount = vnd(raw.get("discount_amount", 0), f"{where}.discount_amount")
    if original < 0 or not 0 <= discount <= original:
        raise invalid(f"{where}.discount_amount", "must be between 0 and original_cost")
    cost = original - discount
    lots = raw.get("lots") or []
    if (
        not isinstance(lots, list)
        or sum(whole_quantity(lot.get("quantity"), f"{where}.lots") for lot in lots) > quantity
    ):
        raise invalid(f"{where}.lots", "the lots hold at most the line's quantity")
    return {
        "id": inventory.next_id("line"),
        **item_facts(product, variant),
        "original_cost": float(original),
        "discount_amount": float(discount),
        "cost": float(cost),
        "quantity": quantity,
        "total_cost": float(cost * quantity),
        "variant_unit": {
            "id": variant["id"] * 10 + ratio,
            "unit": unit.get("unit") or "Cái",
            "base": ratio == 1,
            "sellable": ratio == 1,
            "ratio": ratio,
            "barcode": variant.get("barcode"),
            "sku": variant["sku"],
            "price": variant["price"] * ratio,
        },
        "lots": [
            {
                "lot_no": str(lot.get("lot_no") or ""),
                "expire_date": lot.get("expire_date"),
                "quantity": lot["quantity"],
            }
            for lot in lots
        ],
    }


def _units(line: dict) -> int:
    return line["quantity"] * int((line.get("variant_unit") or {}).get("ratio") or 1)


def add_receive(sim: HaravanSimulator, shop: Shop, body: dict) -> dict:
    """A purchase receive, a draft or received at once (``status``)."""
    inventory = book(shop)
    status = body.get("status") or RECEIVED
    if status not in (DRAFT, RECEIVED):
        raise invalid("status", f"a new receive is {DRAFT} or {RECEIVED}")
    location = location_of(shop, body.get("location_id") or shop.primary_location()["id"], "location_id")
    order_id = body.get("ref_purchase_order_id")
    if order_id is not None:
        _find(inventory.purchase_orders, order_id)
    raw_lines = body.get("line_items")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise invalid("line_items", "at least one line is required")
    lines = [_receive_line(shop, raw, f"line_items[{i}]") for i, raw in enumerate(raw_lines)]
    at = stamp(sim)
    receive = {
        "id": inventory.next_id("receive"),
        "receive_number": inventory.next_number("receive"),
        "ref_number": body.get("ref_number") or "",
        "ref_purchase_order_id": int(order_id) if order_id is not None else None,
        "status": DRAFT,
        "received_at": None,
        "total": sum(line["quantity"] for line in lines),
        "total_cost": float(sum(line["total_cost"] for line in lines)),
        "tags": body.get("tags") or "",
        "notes": body.get("notes") or "",
        "supplier": _supplier(body.get("supplier_id", body.get("supplier", SUPPLIERS[0]["id"]))),
        "location": _location_card(location),
        "line_items": lines,
        "created_at": at,
        "updated_at": at,
    }
    inventory.receives[receive["id"]] = receive
    if status == RECEIVED:
        book_receive(sim, shop, receive)
    return receive


def book_receive(sim: HaravanSimulator, shop: Shop, receive: dict) -> dict:
    """A draft receive's goods arrive: on hand rises at its location, the variants' costs follow."""
    if receive["status"] != DRAFT:
        raise invalid("status", f"receive {receive['receive_number']} is {receive['status']}, not {DRAFT}")
    inventory = book(shop)
    at = stamp(sim)
    loc_id = receive["location"]["id"]
    for line in receive["line_items"]:
        variant_id, units = line["product_variant_id"], _units(line)
        have = max(0, inventory.balances[(loc_id, variant_id)]["qty_onhand"])
        per_unit = line["total_cost"] / units
        inventory.costs[variant_id] = round(
            (inventory.costs[variant_id] * have + per_unit * units) / (have + units)
        )
        move(shop, loc_id, variant_id, onhand=units, at=at)
    receive.update(status=RECEIVED, received_at=at, updated_at=at)
    _fill_purchase_order(shop, receive, at)
    return receive


def set_receive_status(sim: HaravanSimulator, shop: Shop, receive: dict, status: str) -> dict:
    if status == RECEIVED:
        return book_receive(sim, shop, receive)
    if status == CANCELLED:
        if receive["status"] != DRAFT:
            raise invalid("status", f"only a {DRAFT} receive can be cancelled")
        receive.update(status=CANCELLED, updated_at=stamp(sim))
        return receive
    receive.update(status=status, updated_at=stamp(sim))  # any other word, as a test asks
    return receive


# --- purchase returns ------------------------------------------------------------------------------------


def add_return(sim: HaravanSimulator, shop: Shop, body: dict) -> dict:
    """Goods of a received receive go back to its supplier (all that is left of it, or ``line_items``)."""
    inventory = book(shop)
    receive = _find(inventory.receives, body.get("receive_id"))
    if receive["status"] != RECEIVED:
        raise invalid("receive_id", f"receive {receive['receive_number']} is {receive['status']}")
    returned: dict[int, int] = {}
    for earlier in inventory.returns.values():
        if earlier["ref_receive_id"] == receive["id"] and earlier["status"] == RETURNED:
            for line in earlier["line_items"]:
                returned[line["product_variant_id"]] = (
                    returned.get(line["product_variant_id"], 0) + line["quantity"]
                )
    by_variant = {line["product_variant_id"]: line for line in receive["line_items"]}
    asked = body.get("line_items")
    if asked is None:
        asked = [
            {"product_variant_id": v, "quantity": line["quantity"] - returned.get(v, 0)}
            for v, line in by_variant.items()
            if line["quantity"] - returned.get(v, 0) > 0
        ]
    if not isinstance(asked, list) or not asked:
        raise invalid("line_items", "nothing left to return")
    lines = []
    for i, raw in enumerate(asked):
        where = f"line_items[{i}]"
        source = by_variant.get(int(raw.get("product_variant_id") or 0))
        if source is None:
            raise invalid(f"{where}.product_variant_id", "is not on the receive")
        quantity = whole_quantity(raw.get("quantity"), f"{where}.quantity")
        left = source["quantity"] - returned.get(source["product_variant_id"], 0)
        if quantity > left:
            raise invalid(f"{where}.quantity", f"at most {left} left to return")
        lines.append(
            {
                **source,
                "id": inventory.next_id("line"),
                "quantity": quantity,
                "total_cost": float(source["cost"] * quantity),
                "lots": [],
            }
        )
    loc_id = receive["location"]["id"]
    check_enough(
        shop, loc_id, {line["product_variant_id"]: _units(line) for line in lines}, "line_items.quantity"
    )
    at = stamp(sim)
    for line in lines:
        move(shop, loc_id, line["product_variant_id"], onhand=-_units(line), at=at)
        returned[line["product_variant_id"]] = returned.get(line["product_variant_id"], 0) + line["quantity"]
    purchase_return = {
        "id": inventory.next_id("return"),
        "return_number": inventory.next_number("return"),
        "ref_number": body.get("ref_number") or receive["ref_number"],
        "ref_receive_id": receive["id"],
        "status": RETURNED,
        "returned_at": at,
        "total": sum(line["quantity"] for line in lines),
        "total_cost": float(sum(line["total_cost"] for line in lines)),
        "tags": body.get("tags") or "",
        "notes": body.get("notes") or "",
        "reason": body.get("reason") or "",
        "supplier": receive["supplier"],
        "location": receive["location"],
        "line_items": lines,
        "created_at": at,
        "updated_at": at,
    }
    inventory.returns[purchase_return["id"]] = purchase_return
    if all(returned.get(v, 0) >= line["quantity"] for v, line in by_variant.items()):
        receive.update(status=RETURNED, updated_at=at)
    return purchase_return
