"""Haravan's catalogue and customers as we cache them: pure, no database, no HTTP (orders: ``read``)."""

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
