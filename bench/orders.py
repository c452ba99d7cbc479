"""Realistic Haravan orders/create deliveries: the bare order JSON (~3 KB), signed as Haravan signs it.

Fields follow Haravan's order reference (https://docs.haravan.com/docs/omni-apis/orders/): totals as
JSON numbers in VND, line items, addresses, note attributes carrying the buyer's company and tax code
(how shops collect VAT invoice requests).
"""

import base64
import hashlib
import hmac
import json
import random

PRODUCTS = [
    # (sku, title, variant title, price VND, grams, vendor, type)
    ("AT-0012-M", "Áo thun cotton cổ tròn", "Trắng / M", 189000.0, 220, "Hà Nội Basics", "Áo"),
    ("QJ-2201-30", "Quần jeans ống đứng", "Xanh đậm / 30", 549000.0, 650, "Sài Gòn Denim", "Quần"),
    ("GS-7781-39", "Giày sneaker da", "Đen / 39", 1250000.0, 900, "Bước Chân", "Giày"),
    ("TX-0450", "Túi xách canvas", "Be", 329000.0, 400, "Hà Nội Basics", "Phụ kiện"),
    ("NB-1002", "Nón bảo hiểm 3/4", "Xám nhám", 415000.0, 1100, "An Toàn", "Phụ kiện"),
    ("CF-0250", "Cà phê rang xay Cầu Đất 250g", "Xay vừa", 145000.0, 260, "Đà Lạt Farm", "Thực phẩm"),
    ("TR-0100", "Trà ô long Bảo Lộc 100g", "Hộp thiếc", 210000.0, 180, "Đà Lạt Farm", "Thực phẩm"),
    ("SM-1180", "Sơ mi linen tay dài", "Xanh rêu / L", 459000.0, 300, "Sài Gòn Denim", "Áo"),
]
BUYERS = [
    # (name, phone, company, tax code, district, province)
    ("Nguyễn Văn An", "0903123456", "Công ty TNHH Thương mại An Phát", "0312345673", "Quận 1", "Hồ Chí Minh"),
    ("Trần Thị Bình", "0912987654", "Công ty CP Dịch vụ Bình Minh", "0101243150", "Ba Đình", "Hà Nội"),
    ("Lê Hoàng Cường", "0988111222", "", "", "Hải Châu", "Đà Nẵng"),
]
SOURCES = [
    # (source_name, location_id, location_name)
    ("web", 1001, "Chi nhánh Hà Nội"),
    ("pos", 1002, "Chi nhánh Hồ Chí Minh"),
    ("shopee", 1001, ""),
]
SHIPPING = 30000.0


def order(order_id: int, rng: random.Random) -> dict:
    """An orders/create body as Haravan sends it: the order object itself, not wrapped."""
    number = 100_000 + order_id % 900_000
    items = [
        line_item(order_id, i, p, rng)
        for i, p in enumerate(rng.sample(range(len(PRODUCTS)), rng.randint(2, 3)))
    ]
    subtotal = sum(item["price"] * item["quantity"] for item in items)
    discount = 50000.0 if subtotal > 1_000_000 else 0.0
    codes = [{"code": "GIAM50K", "amount": discount, "type": "fixed_amount", "is_coupon_code": True}]
    total = subtotal - discount + SHIPPING
    created = f"2025-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:12.345Z"
    buyer = rng.choice(BUYERS)
    source, location_id, location_name = rng.choice(SOURCES)
    return {
        "id": order_id, "order_number": f"#{number}", "name": f"#{number}", "number": number,
        "email": "buyer@example.vn", "contact_email": "buyer@example.vn", "currency": "VND",
        "created_at": created, "updated_at": created, "processed_at": created,
        "financial_status": "paid", "fulfillment_status": None, "confirmed_status": "confirmed",
        "closed_status": "unclosed", "cancelled_status": "uncancelled", "cancelled_at": None,
        "cancel_reason": None, "gateway": "Chuyển khoản ngân hàng", "gateway_code": "bank_transfer",
        "source_name": source, "source": source, "location_id": location_id, "location_name": location_name,
        "user_id": 200000100, "tags": "bench,khách quen", "note": "Giao giờ hành chính",
        "note_attributes": vat_request(buyer),
        "subtotal_price": subtotal, "total_line_items_price": subtotal, "total_discounts": discount,
        "total_tax": 0.0, "taxes_included": True, "total_weight": sum(i["grams"] for i in items),
        "total_price": total,
        "discount_codes": codes if discount else [],
        "shipping_lines": [{"code": "GHTK", "price": SHIPPING, "source": "haravan", "title": "GHTK"}],
        "line_items": items, "billing_address": address(buyer, rng), "shipping_address": address(buyer, rng),
        "customer": customer(buyer, rng),
        "transactions": [{"id": order_id * 10, "kind": "capture", "amount": total, "gateway": "bank_transfer",
                          "status": "success"}],
        "fulfillments": [], "refunds": [],
    }  # fmt: skip


def line_item(order_id: int, index: int, product: int, rng: random.Random) -> dict:
    sku, title, variant_title, price, grams, vendor, kind = PRODUCTS[product]
    quantity = rng.randint(1, 3)
    return {
        "id": order_id * 10 + index + 1, "product_id": 1_000_100 + product, "variant_id": 2_000_100 + product,
        "sku": sku, "barcode": f"893{sku[-4:]}00001", "title": title, "variant_title": variant_title,
        "name": f"{title} - {variant_title}", "quantity": quantity, "fulfillable_quantity": quantity,
        "price": price, "price_original": price, "price_promotion": 0.0, "actual_price": price,
        "taxable": True, "tax_lines": [], "total_discount": 0.0, "applied_discounts": [], "properties": [],
        "vendor": vendor, "type": kind, "grams": grams,
    }  # fmt: skip


def address(buyer: tuple, rng: random.Random) -> dict:
    name, phone, company, _, district, province = buyer
    return {
        "name": name, "phone": phone, "company": company, "address1": f"{rng.randint(1, 300)} Lê Lợi",
        "ward": "Phường Bến Nghé", "district": district, "province": province, "country": "Vietnam",
        "country_code": "VN", "province_code": "HC", "district_code": "HC474", "ward_code": "26734",
    }  # fmt: skip


def customer(buyer: tuple, rng: random.Random) -> dict:
    name, phone = buyer[0], buyer[1]
    first, *last = reversed(name.split())
    last_name = " ".join(reversed(last))
    return {"id": 300_000_000 + rng.randint(1, 9999), "first_name": first, "last_name": last_name,
            "phone": phone, "email": "buyer@example.vn"}  # fmt: skip


def vat_request(buyer: tuple) -> list[dict]:
    company, tax_code = buyer[2], buyer[3]
    return [
        {"name": "Tên công ty", "value": company},
        {"name": "Mã số thuế", "value": tax_code},
        {"name": "Email nhận hóa đơn", "value": "ketoan@example.vn" if company else ""},
    ]


def signature(body: bytes, secret: str) -> str:
    """X-Haravan-HmacSha256: base64 of HMAC-SHA256 over the raw body, keyed with the app's client secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_request(host: str, body: bytes, *, secret: str, topic: str, org_id: str) -> bytes:
    """The raw HTTP/1.1 request Haravan would send, ready to write to a socket."""
    head = (
        f"POST /webhooks/haravan/ HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-Haravan-Topic: {topic}\r\nX-Haravan-Org-Id: {org_id}\r\n"
        f"X-Haravan-HmacSha256: {signature(body, secret)}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Deliveries:
    """Signed orders/create requests with unique order ids across calls, so none is de-duplicated."""

    def __init__(
        self, host: str, *, secret: str, org_id: str, first_id: int = 1_000_000_001, seed: int = 2025
    ):
        self.host, self.secret, self.org_id = host, secret, org_id
        self.next_id = first_id
        self.rng = random.Random(seed)
        self.body_sizes: list[int] = []

    def build(self, count: int) -> list[bytes]:
        built = []
        for _ in range(count):
            body = json.dumps(order(self.next_id, self.rng), ensure_ascii=False).encode()
            self.body_sizes.append(len(body))
            built.append(webhook_request(self.host, body, secret=self.secret, topic="orders/create",
                                         org_id=self.org_id))  # fmt: skip
            self.next_id += 1
        return built
