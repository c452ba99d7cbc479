"""Pure readings of Haravan objects: no database, no HTTP."""

import datetime as dt
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.utils.dateparse import parse_datetime


def _add(facts: dict, dimension: str, value) -> None:
    if value is None:
        return
    text = str(value).strip()
    if text and text not in facts[dimension]:
        facts[dimension].append(text)


def routing_facts(order: dict) -> dict[str, list[str]]:
    """What an order says about each routing dimension.

    Haravan has no "channel" field: the sales channel is source_name (or source). The storefront is the
    host the buyer landed on. Carriers are named on fulfillments, or by the shipping line before fulfilment.
    """
    facts: dict[str, list[str]] = {d: [] for d in ("location", "source", "storefront", "carrier", "gateway")}
    _add(facts, "location", order.get("location_id"))
    _add(facts, "location", order.get("assigned_location_id"))
    for fulfillment in order.get("fulfillments") or []:
        _add(facts, "location", fulfillment.get("location_id"))
        _add(facts, "carrier", fulfillment.get("tracking_company"))
        _add(facts, "carrier", fulfillment.get("tracking_company_code"))
    _add(facts, "source", order.get("source_name"))
    _add(facts, "source", order.get("source"))
    for field in ("landing_site", "referring_site"):
        host = urlsplit(str(order.get(field) or "")).hostname
        if host:
            _add(facts, "storefront", host)
            break
    for line in order.get("shipping_lines") or []:
        _add(facts, "carrier", line.get("code"))
        _add(facts, "carrier", line.get("title"))
    _add(facts, "gateway", order.get("gateway_code"))
    _add(facts, "gateway", order.get("gateway"))
    return facts


def order_label(order: dict) -> str:
    return str(
        order.get("name") or (f"#{order['order_number']}" if order.get("order_number") else order.get("id"))
    )


def updated_at(obj: dict) -> dt.datetime | None:
    raw = obj.get("updated_at") or obj.get("created_at")
    if not raw:
        return None
    value = parse_datetime(str(raw))
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def describe_order(order: dict) -> str:
    """One line for the log: what state the shop reports."""
    parts = [
        f"financial {order.get('financial_status') or '-'}",
        f"fulfillment {order.get('fulfillment_status') or 'not fulfilled'}",
    ]
    if order.get("cancelled_at"):
        parts.append("cancelled")
    try:
        total = Decimal(str(order.get("total_price")))
    except InvalidOperation:
        total = None
    if total is not None and total.is_finite():
        parts.append(f"total {total:,.0f} {order.get('currency') or 'VND'}".replace(",", "."))
    return ", ".join(parts)
