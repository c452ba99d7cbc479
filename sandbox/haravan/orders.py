"""Orders: listing and filtering them, and what a client may change afterwards (note, attributes, tags,
addresses; confirm, close, open, cancel), each change answered with an ``orders/*`` webhook
(https://docs.haravan.com/docs/omni-apis/orders/)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import demo_data
from ..core import Request, Response, Router, json_response
from .helpers import ApiProblem, address, invalid, iso, parse_time, split_tags, vnd
from .new_order import create_order, note_attributes
from .payments import add_transaction, financial_status, money_state, new_transaction
from .reading import ids_of, paged, read_body, select_fields, since_id_of
from .state import Shop, TokenInfo
from .webhooks import emit

if TYPE_CHECKING:
    from .simulator import HaravanSimulator

CANCEL_REASONS = ("customer", "inventory", "fraud", "declined", "other")
TAG_MAX_LENGTH = 40  # "Each individual tag is limited to 40 characters in length" (Orders: tags)


def _check_tag_lengths(tags: list[str]) -> None:
    """422 ``{"errors": {"tags": [...]}}`` for a tag longer than Haravan allows, before anything changes."""
    for tag in tags:
        if len(tag) > TAG_MAX_LENGTH:
            raise invalid("tags", f"tag {tag!r} is longer than {TAG_MAX_LENGTH} characters")


class Orders:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        # specific paths before {id}
        router.add("GET", "/com/orders.json", self.list_orders)
        router.add("POST", "/com/orders.json", self.create_order)
        router.add("GET", "/com/orders/count.json", self.count_orders)
        router.add("GET", "/com/orders/{id}.json", self.get_order)
        router.add("PUT", "/com/orders/{id}.json", self.update_order)
        router.add("POST", "/com/orders/{id}/confirm.json", self.confirm_order)
        router.add("POST", "/com/orders/{id}/close.json", self.close_order)
        router.add("POST", "/com/orders/{id}/open.json", self.open_order)
        router.add("POST", "/com/orders/{id}/cancel.json", self.cancel_order)
        router.add("POST", "/com/orders/{id}/tags.json", self.add_tags)
        router.add("DELETE", "/com/orders/{id}/tags.json", self.remove_tags)

    def seed_demo(self, shop: Shop) -> None:
        """The demo orders, at their ages, with their later payments, cancellations and closings."""
        sim = self.sim
        start = sim.now()
        for hours_ago, payload, events in demo_data.DEMO_ORDERS:
            at = start - timedelta(hours=hours_ago)
            order = create_order(sim, shop, copy.deepcopy(payload), at=at, emit_webhook=False)
            for step, event in enumerate(events, start=1):
                later = at + timedelta(minutes=20 * step)
                if event == "pay":
                    add_transaction(sim, shop, order, {"kind": "capture"}, at=later, emit_webhook=False)
                elif event == "cancel":
                    self.cancel(
                        shop, order, {"reason": "customer", "restock": True}, at=later, emit_webhook=False
                    )
                elif event == "close":
                    self.set_status(shop, order, "close", at=later, emit_webhook=False)
                else:
                    add_transaction(
                        sim, shop, order, {"kind": "capture", "amount": event}, at=later, emit_webhook=False
                    )

    # --- reading ---------------------------------------------------------------------------------

    def _filtered(self, shop: Shop, request: Request) -> list[dict]:
        orders = list(shop.orders.values())
        ids = ids_of(request)
        if ids is not None:
            orders = [o for o in orders if o["id"] in ids]
        since_id = since_id_of(request)
        if since_id is not None:
            orders = [o for o in orders if o["id"] > since_id]
        for name in ("created_at", "updated_at", "processed_at"):
            for bound in ("min", "max"):
                raw = request.arg(f"{name}_{bound}")
                if not raw:
                    continue
                try:
                    limit = parse_time(raw)
                except ValueError as exc:
                    raise ApiProblem(
                        400, {f"{name}_{bound}": f"invalid date {raw!r} (ISO 8601 expected)"}
                    ) from exc
                if bound == "min":
                    orders = [o for o in orders if parse_time(o[name]) >= limit]
                else:
                    orders = [o for o in orders if parse_time(o[name]) <= limit]
        status = (request.arg("status") or "open").lower()
        if status == "open":
            orders = [
                o for o in orders if o["cancelled_status"] != "cancelled" and o["closed_status"] != "closed"
            ]
        elif status == "closed":
            orders = [o for o in orders if o["closed_status"] == "closed"]
        elif status == "cancelled":
            orders = [o for o in orders if o["cancelled_status"] == "cancelled"]
        elif status != "any":
            raise ApiProblem(400, {"status": "status must be open, closed, cancelled or any"})
        financial = (request.arg("financial_status") or "any").lower()
        if financial == "unpaid":
            orders = [
                o for o in orders if o["financial_status"] in ("pending", "authorized", "partially_paid")
            ]
        elif financial == "partiallypaid":
            orders = [o for o in orders if o["financial_status"] == "partially_paid"]
        elif financial != "any":
            orders = [o for o in orders if o["financial_status"] == financial]
        fulfillment = (request.arg("fulfillment_status") or "any").lower()
        if fulfillment in ("unshipped", "notfulfilled", "null"):
            orders = [o for o in orders if o["fulfillment_status"] in (None, "notfulfilled")]
        elif fulfillment in ("shipped", "fulfilled"):
            orders = [o for o in orders if o["fulfillment_status"] == "fulfilled"]
        elif fulfillment != "any":
            orders = [o for o in orders if o["fulfillment_status"] == fulfillment]
        return self._sorted(orders, request.arg("order"), since_id is not None)

    @staticmethod
    def _sorted(orders: list[dict], order: str | None, by_id: bool) -> list[dict]:
        if not order:
            if by_id:
                return sorted(orders, key=lambda o: o["id"])
            order = "created_at desc"  # sandbox: newest first when no order is given
        parts = order.replace("+", " ").split()
        key = parts[0] if parts else "created_at"
        direction = parts[1].lower() if len(parts) > 1 else "asc"
        if key not in ("created_at", "updated_at", "processed_at", "id") or direction not in ("asc", "desc"):
            raise ApiProblem(400, {"order": "order must be 'created_at|updated_at asc|desc'"})
        if key == "id":
            return sorted(orders, key=lambda o: o["id"], reverse=direction == "desc")
        return sorted(orders, key=lambda o: (parse_time(o[key]), o["id"]), reverse=direction == "desc")

    def list_orders(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "orders")
        return paged(request, self._filtered(shop, request), "orders")

    def count_orders(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "orders")
        return json_response({"count": len(self._filtered(shop, request))})

    def get_order(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "orders")
        return json_response({"order": select_fields(shop.order(id), request.arg("fields"))})

    def create_order(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_write(token, "orders")
        payload = read_body(request, "order")
        order = create_order(self.sim, shop, payload, at=self.sim.now())
        return json_response({"order": order}, status=201)

    # --- changing --------------------------------------------------------------------------------

    def _touched(self, shop: Shop, order: dict) -> None:
        order["updated_at"] = iso(self.sim.now())
        emit(self.sim, shop, "orders/updated", order)

    def update_order(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_write(token, "orders")
        order = shop.order(id)
        payload = read_body(request, "order")
        changed = False
        # Only these change; line items, totals, customer and the rest are silently ignored (as Haravan does).
        if "note" in payload and payload["note"] != order["note"]:
            order["note"] = payload["note"]
            changed = True
        if "note_attributes" in payload:
            attrs = note_attributes(payload["note_attributes"])
            if attrs != order["note_attributes"]:
                order["note_attributes"] = attrs
                changed = True
        if "tags" in payload:
            tags = split_tags(payload["tags"])
            _check_tag_lengths(tags)
            value = ", ".join(tags) if tags else None
            if value != order["tags"]:
                order["tags"] = value
                changed = True
        for key, with_id in (("billing_address", True), ("shipping_address", False)):
            if isinstance(payload.get(key), dict):
                merged = {**(order[key] or {}), **payload[key]}
                if "name" not in payload[key]:
                    merged.pop("name", None)  # recomputed from the (new) first and last names
                new_id = (lambda: self.sim.next_id("address")) if with_id else None
                changed_address = address(merged, new_id=new_id)
                if changed_address != order[key]:
                    order[key] = changed_address
                    changed = True
        if changed:  # sandbox: an update that changes nothing neither bumps updated_at nor sends a webhook
            self._touched(shop, order)
        return json_response({"order": order})

    def add_tags(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_write(token, "orders")
        order = shop.order(id)
        wanted = split_tags(read_body(request).get("tags"))
        _check_tag_lengths(wanted)
        tags = split_tags(order["tags"])
        added = False
        for tag in wanted:
            if tag.lower() not in {t.lower() for t in tags}:
                tags.append(tag)
                added = True
        if added:
            order["tags"] = ", ".join(tags)
            self._touched(shop, order)
        return json_response({"tags": ",".join(tags)})

    def remove_tags(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_write(token, "orders")
        order = shop.order(id)
        body = read_body(request, required=False)
        unwanted = {t.lower() for t in split_tags(body.get("tags") if body else request.arg("tags"))}
        if not unwanted:
            raise invalid("tags", "can't be blank")
        tags = split_tags(order["tags"])
        kept = [t for t in tags if t.lower() not in unwanted]
        if kept != tags:
            order["tags"] = ", ".join(kept) if kept else None
            self._touched(shop, order)
        return json_response({"tags": ",".join(kept)})

    def set_status(
        self, shop: Shop, order: dict, action: str, *, at: datetime, emit_webhook: bool = True
    ) -> None:
        stamp = iso(at)
        changed = False
        if action == "confirm" and order["confirmed_status"] != "confirmed":
            order["confirmed_status"], order["confirmed_at"], changed = "confirmed", stamp, True
        elif action == "close" and order["closed_status"] != "closed":
            order["closed_status"], order["closed_at"], changed = "closed", stamp, True
        elif action == "open" and order["closed_status"] == "closed":
            order["closed_status"], order["closed_at"], changed = "unclosed", None, True
        if changed:
            order["updated_at"] = stamp
            if emit_webhook:
                emit(self.sim, shop, "orders/updated", order)

    def _status_action(self, shop: Shop, token: TokenInfo, id: str, action: str) -> Response:
        self.sim.require_write(token, "orders")
        order = shop.order(id)
        if action in ("confirm", "open") and order["cancelled_status"] == "cancelled":
            raise invalid("base", "Đơn hàng đã bị hủy (the order is cancelled)")
        self.set_status(shop, order, action, at=self.sim.now())
        return json_response({"order": order})

    def confirm_order(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        return self._status_action(shop, token, id, "confirm")

    def close_order(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        return self._status_action(shop, token, id, "close")

    def open_order(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        return self._status_action(shop, token, id, "open")

    def cancel_order(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_write(token, "orders")
        order = shop.order(id)
        payload = read_body(request, required=False)
        self.cancel(shop, order, payload, at=self.sim.now())
        return json_response({"order": order})

    def cancel(
        self, shop: Shop, order: dict, payload: dict, *, at: datetime, emit_webhook: bool = True
    ) -> None:
        """Cancel with the refund asked for (a captured order) or a void (nothing captured yet)."""
        sim = self.sim
        if order["cancelled_status"] == "cancelled":
            raise invalid("base", "Đơn hàng đã bị hủy (the order is already cancelled)")
        reason = (payload.get("reason") or "other").lower()
        if reason not in CANCEL_REASONS:
            raise invalid("reason", f"must be one of {', '.join(CANCEL_REASONS)}")
        total, captured, refunded = money_state(order)
        refund_amount = 0
        if payload.get("amount") not in (None, ""):
            refund_amount = vnd(payload["amount"], "amount")
        elif isinstance(payload.get("refund"), dict):
            for i, tx in enumerate(payload["refund"].get("transactions") or []):
                refund_amount += vnd((tx or {}).get("amount"), f"refund.transactions[{i}].amount")
        if refund_amount < 0 or refund_amount > captured - refunded:
            raise invalid("amount", f"can refund at most {captured - refunded} VND")
        stamp = iso(at)
        if refund_amount > 0:
            tx = new_transaction(sim, order, "refund", refund_amount, at=at)
            tx["status"] = sim.knobs["refund_transaction_status"]
            order["transactions"].append(tx)
            order["refunds"].append(
                {
                    "created_at": stamp,
                    "id": sim.next_id("refund"),
                    "note": payload.get("note"),
                    "refund_line_items": [],
                    "restock": bool(payload.get("restock")),
                    "user_id": order.get("user_id") or 0,
                    "order_id": order["id"],
                    "location_id": order["location_id"],
                    "transactions": [dict(tx)],
                }
            )
        elif captured == 0:
            order["transactions"].append(new_transaction(sim, order, "void", total, at=at))
        order["cancelled_status"] = "cancelled"
        order["cancelled_at"] = stamp
        order["cancel_reason"] = reason
        if payload.get("restock"):
            for line in order["line_items"]:
                line["fulfillable_quantity"] = 0
                if line["fulfillment_status"] == "fulfilled":
                    line["fulfillment_status"] = "restock"
        order["financial_status"] = financial_status(order)
        order["updated_at"] = stamp
        if emit_webhook:
            emit(sim, shop, "orders/cancelled", order)
