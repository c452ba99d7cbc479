"""An order's refunds (https://docs.haravan.com/docs/omni-apis/refunds/): goods given back and money given
back, recorded apart. A refund may restock units with no money (``transactions: []``) and a later one may
give money back with no units, as Haravan's own example shows. The refund transactions it answers carry a
negative amount and the status as Haravan writes it ("Thành công" in its examples; the knob
``refund_transaction_status`` gives any other form, "success", "Success", "pending", "Thất bại"…), and only
the successful ones count in the order's money.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..core import Request, Response, Router, json_response
from .helpers import as_int, invalid, iso, not_found, vnd
from .payments import financial_status, money_state, new_transaction
from .reading import read_body, select_fields
from .state import Shop, TokenInfo
from .webhooks import emit

if TYPE_CHECKING:
    from .simulator import HaravanSimulator

# The snapshot of the line a refund line carries: these fields, and "id": 0 (as Haravan answers it).
LINE_SNAPSHOT = (
    "fulfillment_service", "fulfillment_status", "grams", "price", "product_id", "quantity",
    "requires_shipping", "sku", "title", "variant_id", "variant_title", "vendor", "name", "barcode",
    "properties",
)  # fmt: skip


class Refunds:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/com/orders/{id}/refunds.json", self.list_refunds)
        router.add("POST", "/com/orders/{id}/refunds.json", self.create_refund)
        router.add("GET", "/com/orders/{id}/refunds/{rid}.json", self.get_refund)

    def list_refunds(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "orders")
        fields = request.arg("fields")
        return json_response({"refunds": [select_fields(r, fields) for r in shop.order(id)["refunds"]]})

    def get_refund(self, request: Request, *, shop: Shop, token: TokenInfo, id: str, rid: str) -> Response:
        self.sim.require_read(token, "orders")
        found = next((r for r in shop.order(id)["refunds"] if str(r["id"]) == rid), None)
        if found is None:
            raise not_found()
        return json_response({"refund": found})

    def create_refund(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_write(token, "orders")
        order = shop.order(id)
        refund = add_refund(self.sim, shop, order, read_body(request, "refund"))
        return json_response({"refund": refund}, status=201)


def returned_so_far(order: dict) -> dict[int, int]:
    """Units of each line already given back in earlier refunds."""
    done: dict[int, int] = {}
    for refund in order["refunds"]:
        for item in refund.get("refund_line_items") or []:
            done[item["line_item_id"]] = done.get(item["line_item_id"], 0) + item["quantity"]
    return done


def _returned_items(sim: HaravanSimulator, order: dict, raw: Any) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("refund_line_items", "must be an array")
    lines = {line["id"]: line for line in order["line_items"]}
    done = returned_so_far(order)
    items = []
    for i, item in enumerate(raw):
        where = f"refund_line_items[{i}]"
        if not isinstance(item, dict):
            raise invalid(where, "must be an object")
        line_id = as_int(item.get("line_item_id"), f"{where}.line_item_id")
        line = lines.get(line_id)
        if line is None:
            raise invalid(f"{where}.line_item_id", f"line item {line_id} is not on this order")
        quantity = as_int(item.get("quantity"), f"{where}.quantity")
        left = line["quantity"] - done.get(line_id, 0)
        if quantity <= 0 or quantity > left:
            raise invalid(f"{where}.quantity", f"must be between 1 and {left}")
        done[line_id] = done.get(line_id, 0) + quantity
        snapshot = {name: copy.deepcopy(line.get(name)) for name in LINE_SNAPSHOT}
        snapshot["id"] = 0  # Haravan's answer: the embedded line's own id is 0; line_item_id names it
        items.append(
            {
                "id": sim.next_id("refund"),
                "line_item": snapshot,
                "line_item_id": line_id,
                "quantity": quantity,
            }
        )
    return items


def _money_back(order: dict, raw: Any) -> list[int]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("transactions", "must be an array")
    amounts = []
    for i, tx in enumerate(raw):
        where = f"transactions[{i}]"
        if not isinstance(tx, dict):
            raise invalid(where, "must be an object")
        if str(tx.get("kind") or "refund").strip().lower() != "refund":
            raise invalid(f"{where}.kind", "a refund's transactions are of kind refund")
        amount = abs(vnd(tx.get("amount"), f"{where}.amount"))
        if amount == 0:
            raise invalid(f"{where}.amount", "must be greater than 0")
        amounts.append(amount)
    _total, captured, refunded = money_state(order)
    if sum(amounts) > captured - refunded:
        raise invalid("transactions", f"can refund at most {captured - refunded} VND")
    return amounts


def add_refund(sim: HaravanSimulator, shop: Shop, order: dict, payload: dict, *, emit_webhook=True) -> dict:
    """Record a refund: its returned units (within what is left of each line) and its money (within
    what was captured and not yet given back), then the order's financial status and a webhook."""
    if order["cancelled_status"] == "cancelled":
        raise invalid("base", "Đơn hàng đã bị hủy (the order is cancelled)")
    items = _returned_items(sim, order, payload.get("refund_line_items"))
    amounts = _money_back(order, payload.get("transactions"))
    if not items and not amounts:
        raise invalid("base", "a refund returns line items, money, or both")
    at = sim.now()
    status = sim.knobs["refund_transaction_status"]
    transactions = []
    for amount in amounts:
        tx = new_transaction(sim, order, "refund", amount, at=at, gateway=payload.get("gateway"))
        tx["status"] = status
        order["transactions"].append(tx)
        transactions.append(tx)
    restock = bool(payload.get("restock"))
    refund = {
        "created_at": iso(at),
        "id": sim.next_id("refund"),
        "note": payload.get("note"),
        "refund_line_items": items,
        "restock": restock if items else None,
        "user_id": order.get("user_id") or 0,
        "order_id": order["id"],
        "location_id": None,
        "transactions": [dict(tx) for tx in transactions],
    }
    order["refunds"].append(refund)
    if restock:
        lines = {line["id"]: line for line in order["line_items"]}
        for item in items:
            line = lines[item["line_item_id"]]
            line["fulfillable_quantity"] = max(0, line["fulfillable_quantity"] - item["quantity"])
    order["financial_status"] = financial_status(order)
    order["updated_at"] = iso(at)
    if emit_webhook:
        emit(sim, shop, "orders/updated", order)
    return refund
