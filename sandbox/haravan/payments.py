"""An order's money: its transactions (pending, authorization, capture, sale, void, refund; a refund's
amount is negative), the refunds list and the financial status they add up to
(https://docs.haravan.com/docs/omni-apis/transactions/, https://docs.haravan.com/docs/omni-apis/refunds/)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING

from ..core import Request, Response, Router, json_response
from .helpers import invalid, iso, money, not_found, vnd
from .reading import read_body, select_fields
from .state import Shop, TokenInfo
from .webhooks import emit

if TYPE_CHECKING:
    from .simulator import HaravanSimulator

TRANSACTION_KINDS = ("pending", "authorization", "capture", "sale", "void", "refund")
SUCCESS_STATUSES = frozenset({"success", "thành công"})
# How Haravan writes each kind in its answers: capitalised on the Transaction page ("Capture", "Pending"),
# lower case in refunds ("refund"). Readers must not care.
WRITTEN_KIND = {"pending": "Pending", "authorization": "Authorization", "capture": "Capture", "sale": "Sale",
                "void": "Void", "refund": "refund"}  # fmt: skip


class Transactions:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/com/orders/{id}/transactions.json", self.list_transactions)
        router.add("POST", "/com/orders/{id}/transactions.json", self.create_transaction)
        router.add("GET", "/com/orders/{id}/transactions/{tid}.json", self.get_transaction)

    def list_transactions(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "orders")
        order = shop.order(id)
        fields = request.arg("fields")
        return json_response({"transactions": [select_fields(t, fields) for t in order["transactions"]]})

    def get_transaction(
        self, request: Request, *, shop: Shop, token: TokenInfo, id: str, tid: str
    ) -> Response:
        self.sim.require_read(token, "orders")
        order = shop.order(id)
        found = next((t for t in order["transactions"] if str(t["id"]) == tid), None)
        if found is None:
            raise not_found()
        return json_response({"transaction": found})

    def create_transaction(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_write(token, "orders")
        order = shop.order(id)
        payload = read_body(request, "transaction")
        tx = add_transaction(self.sim, shop, order, payload, at=self.sim.now())
        return json_response({"transaction": tx}, status=201)


def new_transaction(
    sim: HaravanSimulator,
    order: dict,
    kind: str,
    amount: int,
    *,
    at: datetime,
    parent: int | None = None,
    gateway=None,
    status: str = "success",
) -> dict:
    return {
        "amount": money(-amount if kind == "refund" else amount),
        "authorization": None,
        "created_at": iso(at),
        "device_id": None,
        "gateway": gateway or order.get("gateway"),
        "id": sim.next_id("transaction"),
        "kind": WRITTEN_KIND[kind],
        "order_id": order["id"],
        "receipt": None,
        "status": status,
        "test": False,
        "user_id": order.get("user_id") or 0,
        "location_id": order.get("location_id"),
        "payment_details": None,
        "parent_id": parent,
        "currency": "VND",
        "haravan_transaction_id": None,
        "external_transaction_id": None,
        "send_email": False,
        "is_cod_gateway": (order.get("gateway_code") or "").upper() == "COD",
    }


def settled(tx: dict) -> bool:
    """Whether the money moved: Haravan writes a success as "success" or "Thành công", in any case."""
    status = unicodedata.normalize("NFC", str(tx.get("status") or "")).strip().casefold()
    return status in SUCCESS_STATUSES


def money_state(order: dict) -> tuple[int, int, int]:
    """(total, captured, refunded) in whole VND, counting only the transactions that succeeded."""
    captured = refunded = 0
    for tx in order["transactions"]:
        if not settled(tx):
            continue
        amount = round(abs(float(tx["amount"])))
        kind = tx["kind"].lower()
        if kind in ("capture", "sale"):
            captured += amount
        elif kind == "refund":
            refunded += amount
    return round(float(order["total_price"])), captured, refunded


def financial_status(order: dict) -> str:
    total, captured, refunded = money_state(order)
    kinds = {tx["kind"].lower() for tx in order["transactions"]}
    if refunded > 0:
        return "refunded" if refunded >= captured else "partially_refunded"
    if captured > 0:
        return "paid" if captured >= total else "partially_paid"
    if "void" in kinds:
        return "voided"
    if "authorization" in kinds:
        return "authorized"
    if total == 0:
        return "paid"
    return "pending"


def add_transaction(
    sim: HaravanSimulator,
    shop: Shop,
    order: dict,
    payload: dict,
    *,
    at: datetime,
    emit_webhook: bool = True,
    status: str = "success",
) -> dict:
    """Record a transaction the client asked for, within what the order's money allows (``status``: how
    the transaction says it succeeded, "success" or Haravan's Vietnamese "Thành công")."""
    kind = str(payload.get("kind") or "").strip().lower()
    if kind not in TRANSACTION_KINDS:
        raise invalid("kind", f"must be one of {', '.join(TRANSACTION_KINDS)}")
    total, captured, refunded = money_state(order)
    cancelled = order["cancelled_status"] == "cancelled"
    if kind in ("capture", "sale", "authorization", "pending") and cancelled:
        raise invalid("base", "Đơn hàng đã bị hủy (the order is cancelled)")
    if kind in ("capture", "sale"):
        limit = total - captured
        if limit <= 0:
            raise invalid("amount", "the order is already paid")
    elif kind == "refund":
        limit = captured - refunded
        if limit <= 0:
            raise invalid("amount", "nothing was captured that could be refunded")
    elif kind == "void":
        if captured > 0:
            raise invalid("kind", "a captured order cannot be voided; refund it instead")
        limit = total
    else:
        limit = total
    amount = limit if payload.get("amount") in (None, "") else vnd(payload["amount"], "amount")
    if amount <= 0 and kind != "void":
        raise invalid("amount", "must be greater than 0")
    if amount > limit:
        raise invalid("amount", f"must not exceed {limit} VND")
    parent = next(
        (
            t["id"]
            for t in reversed(order["transactions"])
            if t["kind"].lower() in ("authorization", "pending")
        ),
        None,
    )
    tx = new_transaction(
        sim,
        order,
        kind,
        amount,
        at=at,
        parent=parent if kind != "refund" else None,
        gateway=payload.get("gateway"),
        status=status,
    )
    before = order["financial_status"]
    order["transactions"].append(tx)
    order["financial_status"] = financial_status(order)
    order["updated_at"] = iso(at)
    if emit_webhook:
        if order["financial_status"] == "paid" and before != "paid":
            emit(sim, shop, "orders/paid", order)
        else:
            emit(sim, shop, "orders/updated", order)
    return tx
