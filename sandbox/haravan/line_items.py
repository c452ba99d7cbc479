"""What a new order is made of, checked and priced: its line items (from a variant, a product or free
text), their discounts, the discount codes and the shipping lines
(https://docs.haravan.com/docs/omni-apis/orders/)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .helpers import as_int, invalid, money, vnd
from .state import Shop

if TYPE_CHECKING:
    from .simulator import HaravanSimulator


def build_line(sim: HaravanSimulator, shop: Shop, raw: Any, index: int) -> dict:
    """A line item; ``_price`` and ``_discount`` (whole VND) are for the totals and dropped after."""
    where = f"line_items[{index}]"
    if not isinstance(raw, dict):
        raise invalid(where, "must be an object")
    quantity = as_int(raw.get("quantity", 1), f"{where}.quantity")
    if quantity <= 0:
        raise invalid(f"{where}.quantity", "must be greater than 0")
    found = None
    if raw.get("variant_id") not in (None, "", 0):
        found = shop.variant(as_int(raw["variant_id"], f"{where}.variant_id"))
        if found is None:
            raise invalid(f"{where}.variant_id", f"variant {raw['variant_id']} does not exist")
    elif raw.get("product_id") not in (None, "", 0):
        product = shop.products.get(as_int(raw["product_id"], f"{where}.product_id"))
        if product is None:
            raise invalid(f"{where}.product_id", f"product {raw['product_id']} does not exist")
        found = (product, product["variants"][0])
    if found:
        product, variant = found
        list_price = vnd(variant["price"], f"{where}.price")
        price = vnd(raw["price"], f"{where}.price") if raw.get("price") not in (None, "") else list_price
        title, variant_title = product["title"], variant["title"]
        details = {
            "variant_id": variant["id"],
            "product_id": product["id"],
            "sku": variant["sku"],
            "barcode": variant["barcode"],
            "vendor": product["vendor"],
            "type": product["product_type"],
            "grams": float(variant["grams"]),
            "taxable": bool(variant["taxable"]),
            "product_exists": True,
            "price_original": money(list_price),
        }
    else:
        title = raw.get("title")
        if not title:
            raise invalid(f"{where}.title", "is required for a line item without variant_id")
        if raw.get("price") in (None, ""):
            raise invalid(f"{where}.price", "is required for a line item without variant_id")
        price = vnd(raw["price"], f"{where}.price")
        variant_title = raw.get("variant_title") or "Default Title"
        details = {
            "variant_id": None,
            "product_id": None,
            "sku": raw.get("sku"),
            "barcode": raw.get("barcode"),
            "vendor": raw.get("vendor"),
            "type": raw.get("type"),
            "grams": float(raw.get("grams") or 0),
            "taxable": bool(raw.get("taxable", True)),
            "product_exists": False,
            "price_original": money(price),
        }
    if price < 0:
        raise invalid(f"{where}.price", "must not be negative")
    applied = applied_discounts(raw, where)
    discount = sum(a["amount"] for a in applied)
    if discount > price * quantity:
        raise invalid(f"{where}.total_discount", "is larger than the line's price × quantity")
    return {
        "fulfillable_quantity": quantity,
        "fulfillment_service": None,
        "fulfillment_status": "notfulfilled",
        "grams": details["grams"],
        "id": sim.next_id("line"),
        "price": money(price),
        "price_original": details["price_original"],
        "price_promotion": 0.0,
        "product_id": details["product_id"],
        "quantity": quantity,
        "requires_shipping": True,
        "sku": details["sku"],
        "title": title,
        "variant_id": details["variant_id"],
        "variant_title": variant_title,
        "vendor": details["vendor"],
        "type": details["type"],
        "name": f"{title} - {variant_title}",
        "gift_card": False,
        "taxable": details["taxable"],
        "tax_lines": None,
        "product_exists": details["product_exists"],
        "barcode": details["barcode"],
        "properties": raw.get("properties") or None,
        "total_discount": money(discount),
        "applied_discounts": [
            {"description": a["description"], "amount": money(a["amount"])} for a in applied
        ],
        "image": None,
        "not_allow_promotion": False,
        "ma_cost_amount": 0.0,
        "_price": price,
        "_discount": discount,
    }


def applied_discounts(raw: dict, where: str) -> list[dict]:
    applied = raw.get("applied_discounts")
    out = []
    if applied:
        if not isinstance(applied, list):
            raise invalid(f"{where}.applied_discounts", "must be a list")
        for i, item in enumerate(applied):
            if not isinstance(item, dict):
                raise invalid(f"{where}.applied_discounts[{i}]", "must be an object")
            amount = vnd(item.get("amount"), f"{where}.applied_discounts[{i}].amount")
            if amount < 0:
                raise invalid(f"{where}.applied_discounts[{i}].amount", "must not be negative")
            out.append({"description": item.get("description") or "Giảm giá", "amount": amount})
    elif raw.get("total_discount") not in (None, "", 0, 0.0):
        amount = vnd(raw["total_discount"], f"{where}.total_discount")
        if amount < 0:
            raise invalid(f"{where}.total_discount", "must not be negative")
        out.append({"description": "Giảm giá", "amount": amount})
    return out


def discount_codes(raw: Any) -> list[dict]:
    """The codes as ``compute_totals`` takes them: ``code``, ``type`` and ``value`` (VND or percent)."""
    if not raw:
        return []
    if not isinstance(raw, list):
        raise invalid("discount_codes", "must be a list")
    codes = []
    for i, item in enumerate(raw):
        where = f"discount_codes[{i}]"
        if not isinstance(item, dict):
            raise invalid(where, "must be an object")
        kind = (item.get("type") or "fixed_amount").lower()
        if kind not in ("fixed_amount", "percentage", "shipping"):
            raise invalid(f"{where}.type", "must be fixed_amount, percentage or shipping")
        if kind == "percentage":
            # sandbox: the percent comes in "value" (or "amount"); the order shows the VND it took
            raw_value = item.get("value", item.get("amount"))
            try:
                value = Decimal(str(raw_value))
            except InvalidOperation as exc:
                raise invalid(f"{where}.value", "is not a number") from exc
            if not value.is_finite() or not 0 <= value <= 100:
                raise invalid(f"{where}.value", "must be a percentage between 0 and 100")
        else:
            value = vnd(item.get("amount", item.get("value")), f"{where}.amount")
            if value < 0:
                raise invalid(f"{where}.amount", "must not be negative")
        codes.append({"code": str(item.get("code") or ""), "type": kind, "value": value})
    return codes


def shipping_lines(raw: Any) -> list[dict]:
    """Shipping lines; ``_price`` (whole VND) is for the totals and dropped after."""
    if not raw:
        return []
    if not isinstance(raw, list):
        raise invalid("shipping_lines", "must be a list")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise invalid(f"shipping_lines[{i}]", "must be an object")
        price = vnd(item.get("price", 0), f"shipping_lines[{i}].price")
        if price < 0:
            raise invalid(f"shipping_lines[{i}].price", "must not be negative")
        out.append(
            {
                "code": item.get("code"),
                "price": money(price),
                "source": item.get("source"),
                "title": item.get("title"),
                "_price": price,
            }
        )
    return out
