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


UNIT_TAG_PREFIXES = ("dvt:", "đvt:", "unit:")  # a product tagged "ĐVT:Hộp" is sold by the box


def _tags(value) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    return [str(t).strip() for t in value or [] if str(t).strip()]


def catalogue_items(product: dict) -> list[dict]:
    """One row per variant: what conversion needs (unit, type, vendor, the product's tags)."""
    tags = _tags(product.get("tags"))
    unit = next((t.split(":", 1)[1].strip() for t in tags if t.lower().startswith(UNIT_TAG_PREFIXES)), "")
    items = []
    for variant in product.get("variants") or []:
        title = str(product.get("title") or "").strip()
        variant_title = str(variant.get("title") or "").strip()
        name = (
            f"{title} - {variant_title}"
            if variant_title and variant_title.lower() != "default title"
            else title
        )
        items.append(
            {
                "item_id": str(variant.get("id")),
                "product_id": str(product.get("id") or ""),
                "sku": str(variant.get("sku") or ""),
                "name": name[:300] or str(variant.get("id")),
                "product_type": str(product.get("product_type") or ""),
                "vendor": str(product.get("vendor") or ""),
                "tags": tags,
                "unit": unit[:50],
                "data": {"price": variant.get("price"), "barcode": variant.get("barcode")},
            }
        )
    return items


def buyer_profile(customer: dict) -> dict:
    """A customer's contact details; the company and tax code come from the default address's company
    field and a customer tag "MST:<tax code>" (Haravan has no tax-code field)."""
    address = customer.get("default_address") or (customer.get("addresses") or [{}])[0] or {}
    tags = _tags(customer.get("tags"))
    tax_code = next((t.split(":", 1)[1].strip() for t in tags if t.lower().startswith("mst:")), "")
    name = " ".join(p for p in (customer.get("last_name"), customer.get("first_name")) if p).strip()
    parts = [address.get(k) for k in ("address1", "ward", "district", "province") if address.get(k)]
    return {
        "buyer_id": str(customer.get("id")),
        "name": (name or str(customer.get("name") or ""))[:200],
        "email": str(customer.get("email") or "")[:200],
        "phone": str(customer.get("phone") or address.get("phone") or "")[:50],
        "company": str(address.get("company") or "")[:300],
        "tax_code": tax_code[:20],
        "address": ", ".join(str(p) for p in parts)[:500],
    }
