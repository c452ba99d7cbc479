"""Creating an order (``POST /com/orders.json``): the full record Haravan answers, with its quirks kept
(https://docs.haravan.com/docs/omni-apis/orders/). ``order_number`` is the string "#100001" like ``name``;
``number`` equals ``id``; an order without buyer details still carries an all-null address object;
``source_name``, ``gateway`` and ``gateway_code`` are null unless the API client sets them."""

from __future__ import annotations

import copy
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import demo_data
from .customers import customer_for_order
from .helpers import address, as_int, compute_totals, invalid, iso, money, parse_time, split_tags, vnd
from .line_items import build_line, discount_codes, shipping_lines
from .payments import financial_status, money_state, new_transaction
from .state import Shop
from .webhooks import emit

if TYPE_CHECKING:
    from .simulator import HaravanSimulator


def create_order(
    sim: HaravanSimulator, shop: Shop, payload: dict, *, at: datetime, emit_webhook: bool = True
) -> dict:
    wanted = (payload.get("financial_status") or "pending").lower()
    if wanted not in ("pending", "authorized", "paid"):
        raise invalid("financial_status", "can be pending, authorized or paid when an order is created")
    processed_at = payload.get("processed_at")
    if processed_at:
        try:
            processed_at = iso(parse_time(str(processed_at)))
        except ValueError as exc:
            raise invalid("processed_at", "is not an ISO 8601 date") from exc
    raw_lines = payload.get("line_items")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise invalid("line_items", "must contain at least one line item")
    lines = [build_line(sim, shop, raw, i) for i, raw in enumerate(raw_lines)]
    codes = discount_codes(payload.get("discount_codes"))
    shipping = shipping_lines(payload.get("shipping_lines"))
    totals, resolved = compute_totals(
        [
            {"price": li["_price"], "quantity": li["quantity"], "total_discount": li["_discount"]}
            for li in lines
        ],
        codes,
        [{"price": s["_price"]} for s in shipping],
    )
    for item in lines + shipping:
        item.pop("_price")
        item.pop("_discount", None)

    location = location_for(shop, payload.get("location_id"))
    attributes = note_attributes(payload.get("note_attributes"))
    customer = customer_for_order(sim, shop, payload, at)
    default_address = (customer or {}).get("default_address")
    billing = address(
        payload.get("billing_address") or default_address, new_id=lambda: sim.next_id("address")
    )
    shipping_address = address(payload.get("shipping_address") or default_address, new_id=None)
    email = payload.get("email") or payload.get("contact_email") or (customer or {}).get("email")
    source = payload.get("source_name") or payload.get("source")
    tags = split_tags(payload.get("tags"))
    order_id = sim.next_id("order")
    number = shop.next_number
    shop.next_number += 1
    stamp = iso(at)
    token = secrets.token_hex(16)
    order = {
        "billing_address": billing,
        "browser_ip": None,
        "buyer_accepts_marketing": False,
        "cancel_reason": None,
        "cancelled_at": None,
        "cart_token": token,
        "checkout_token": token,
        "client_details": {
            "accept_language": None,
            "browser_ip": None,
            "session_hash": None,
            "user_agent": None,
            "browser_height": None,
            "browser_width": None,
        },
        "closed_at": None,
        "created_at": stamp,
        "currency": "VND",
        "customer": copy.deepcopy(customer) if customer else None,
        "discount_codes": [
            {"code": c["code"], "amount": money(c["amount"]), "type": c["type"], "is_coupon_code": True}
            for c in resolved
        ],
        "email": email,
        "financial_status": "pending",
        "fulfillments": [],
        "fulfillment_status": "notfulfilled" if shipping else None,
        "tags": ", ".join(tags) if tags else None,
        "gateway": payload.get("gateway"),
        "gateway_code": payload.get("gateway_code"),
        "id": order_id,
        "landing_site": None,
        "landing_site_ref": None,
        "source": source,
        "line_items": lines,
        "name": f"#{number}",
        "note": payload.get("note"),
        "number": order_id,
        "order_number": f"#{number}",
        "processing_method": None,
        "referring_site": None,
        "refunds": [],
        "shipping_address": shipping_address,
        "shipping_lines": shipping,
        "source_name": source,
        "subtotal_price": money(totals["subtotal_price"]),
        "tax_lines": None,
        "taxes_included": bool(shop.info.get("taxes_included", True)),
        "token": secrets.token_hex(16),
        "total_discounts": money(totals["total_discounts"]),
        "total_line_items_price": money(totals["total_line_items_price"]),
        "total_price": money(totals["total_price"]),
        "total_tax": 0.0,
        "total_weight": float(sum(li["grams"] * li["quantity"] for li in lines)),
        "updated_at": stamp,
        "transactions": [],
        "note_attributes": attributes,
        "confirmed_at": None,
        "closed_status": "unclosed",
        "cancelled_status": "uncancelled",
        "confirmed_status": "unconfirmed",
        "user_id": demo_data.POS_STAFF_ID if source == "pos" else 0,
        "device_id": None,
        "location_id": location["id"],
        "location_name": location["name"],
        "assigned_location_id": location["id"],
        "processed_at": processed_at or stamp,
        "ref_order_id": 0,
        "ref_order_number": None,
        "utm_source": payload.get("utm_source"),
        "utm_medium": payload.get("utm_medium"),
        "utm_campaign": payload.get("utm_campaign"),
        "utm_term": None,
        "utm_content": None,
        "contact_email": email,
    }
    # the pending transaction every order starts with, then what the client asked for
    pending = new_transaction(sim, order, "pending", totals["total_price"], at=at)
    order["transactions"].append(pending)
    if wanted == "authorized":
        order["transactions"].append(
            new_transaction(sim, order, "authorization", totals["total_price"], at=at, parent=pending["id"])
        )
    elif wanted == "paid" and totals["total_price"] > 0:
        order["transactions"].append(
            new_transaction(sim, order, "capture", totals["total_price"], at=at, parent=pending["id"])
        )
    order["financial_status"] = financial_status(order)
    if payload.get("fulfillment_status") == "fulfilled" or payload.get("fulfillments"):
        extra = (payload.get("fulfillments") or [{}])[0]
        fulfil(sim, order, extra if isinstance(extra, dict) else {}, at=at)
    shop.orders[order_id] = order
    if customer:
        stored = shop.customers[customer["id"]]
        stored["orders_count"] += 1
        stored["total_spent"] = money(int(stored["total_spent"]) + totals["total_price"])
        stored["last_order_id"] = order_id
        stored["last_order_name"] = order["name"]
        stored["last_order_date"] = stamp
        stored["updated_at"] = stamp
        order["customer"] = copy.deepcopy(stored)
    if emit_webhook:
        emit(sim, shop, "orders/create", order)
        if order["financial_status"] == "paid":
            emit(sim, shop, "orders/paid", order)
    return order


def location_for(shop: Shop, raw: Any) -> dict:
    if raw in (None, "", 0):
        return shop.primary_location()
    location = shop.locations.get(as_int(raw, "location_id"))
    if location is None:
        raise invalid("location_id", f"location {raw} does not exist")
    return location


def note_attributes(raw: Any) -> list[dict]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise invalid("note_attributes", "must be a list of {name, value}")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("name"):
            raise invalid(f"note_attributes[{i}]", "must be an object with a name and a value")
        value = item.get("value")
        out.append({"name": str(item["name"]), "value": None if value is None else str(value)})
    return out


# sandbox: the names Haravan's carrier screens give the COD states; only the codes are seen in API answers
# ("none", "codpending", "codreceipt"; amis.md §13, public clients' Fulfillment models)
COD_STATUS_NAMES = {
    "none": "Không thu hộ",
    "codpending": "Chờ nhận tiền thu hộ",
    "codreceipt": "Đã nhận tiền thu hộ",
}


def unpaid(order: dict) -> int:
    """What the buyer still owes: the order's total less what was captured."""
    total, captured, _ = money_state(order)
    return max(0, total - captured)


def is_cod(order: dict) -> bool:
    return str(order.get("gateway_code") or "").upper() == "COD"


def fulfil(sim: HaravanSimulator, order: dict, extra: dict, *, at: datetime) -> dict:
    """Ship every line not shipped yet in one fulfilment, delivered at once (sandbox: no carrier journey).

    Its COD fields are the ones Haravan's fulfilments carry (amis.md §13): ``cod_amount`` (given, else what
    a COD order still owes, else 0), ``carrier_cod_status_code`` "codpending" with ``cod_pending_date``
    while the carrier holds the money ("none" without COD), ``cod_paid_date`` / ``cod_receipt_date`` /
    ``cod_not_receipt_date`` null until ``cod_received``; the carrier's own dates and
    ``real_shipping_fee``."""
    stamp = iso(at)
    items = []
    for line in order["line_items"]:
        if line.get("fulfillable_quantity", line["quantity"]) <= 0:
            continue
        line["fulfillable_quantity"] = 0
        line["fulfillment_status"] = "fulfilled"
        items.append(
            {k: line[k] for k in ("id", "variant_id", "product_id", "sku", "title", "quantity", "price")}
        )
    if not items:
        raise invalid("line_items", "every line is already fulfilled")
    if extra.get("cod_amount") not in (None, ""):
        cod = vnd(extra["cod_amount"], "cod_amount")
        if cod < 0:
            raise invalid("cod_amount", "must not be negative")
    else:
        cod = unpaid(order) if is_cod(order) else 0
    cod_status = "codpending" if cod > 0 else "none"
    fulfillment = {
        "created_at": stamp,
        "id": sim.next_id("fulfillment"),
        "order_id": order["id"],
        "receipt": None,
        "status": "success",
        "tracking_company": extra.get("tracking_company"),
        "tracking_company_code": extra.get("tracking_company_code"),
        "tracking_numbers": [extra["tracking_number"]] if extra.get("tracking_number") else [],
        "tracking_number": extra.get("tracking_number"),
        "tracking_url": None,
        "tracking_urls": [],
        "updated_at": stamp,
        "line_items": items,
        "notify_customer": False,
        "cod_amount": money(cod),
        "carrier_status_name": "Đã giao hàng",
        "carrier_status_code": "delivered",
        "carrier_cod_status_name": COD_STATUS_NAMES[cod_status],
        "carrier_cod_status_code": cod_status,
        "location_id": order["location_id"],
        "ready_to_pick_date": stamp,
        "picking_date": stamp,
        "delivering_date": stamp,
        "delivered_date": stamp,
        "return_date": None,
        "not_meet_customer_date": None,
        "waiting_for_return_date": None,
        "cod_paid_date": None,
        "cod_receipt_date": None,
        "cod_pending_date": stamp if cod > 0 else None,
        "cod_not_receipt_date": None,
        "cancel_date": None,
        "real_shipping_fee": money(vnd(extra.get("real_shipping_fee") or 0, "real_shipping_fee")),
    }
    order["fulfillments"].append(fulfillment)
    if all(line.get("fulfillable_quantity", 0) <= 0 for line in order["line_items"]):
        order["fulfillment_status"] = "fulfilled"
    else:
        order["fulfillment_status"] = "partial"
    return fulfillment
