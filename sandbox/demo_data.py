"""The demo shop every simulator starts from: "Cửa hàng Demo" on Haravan, org id 200000001.

Plain data in Haravan's own JSON shapes (products with variants, customers with addresses, locations,
shop). Company buyers carry real-format Vietnamese tax codes (MST) whose check digit is valid; the
company names are invented for the demo.
"""

from __future__ import annotations

import re

SHOP_ID = 200000001
DEMO_TOKEN = "demo-token"
CATALOG_TIME = "2024-03-01T02:00:00.000Z"

SHOP = {
    "id": SHOP_ID,
    "name": "Cửa hàng Demo",
    "domain": "demo.myharavan.com",
    "myharavan_domain": "demo.myharavan.com",
    "email": "lienhe@demo-shop.vn",
    "customer_email": "lienhe@demo-shop.vn",
    "shop_owner": "Nguyễn Thị Demo",
    "phone": "02438253456",
    "address1": "12 Tràng Tiền",
    "city": "Hà Nội",
    "province": "Hà Nội",
    "province_code": "HI",
    "country": "VN",
    "country_code": "VN",
    "country_name": "Vietnam",
    "zip": None,
    "currency": "VND",
    "money_format": "{{amount}}₫",
    "money_with_currency_format": "{{amount}} VND",
    "timezone": "(GMT+07:00) Asia/Bangkok",
    "iana_timezone": "Asia/Ho_Chi_Minh",
    "taxes_included": True,
    "tax_shipping": False,
    "county_taxes": None,
    "plan_name": "omni_advanced",
    "plan_display_name": "Omni Advanced",
    "has_storefront": True,
    "setup_required": False,
    "created_at": "2023-06-15T03:00:00.000Z",
    "updated_at": CATALOG_TIME,
}

LOCATIONS = [
    {
        "id": 1001,
        "name": "Chi nhánh Hà Nội",
        "location_type": "default",
        "is_primary": True,
        "is_unavailable_qty": False,
        "address1": "12 Tràng Tiền",
        "address2": None,
        "ward": "Phường Tràng Tiền",
        "ward_code": "00076",
        "district": "Quận Hoàn Kiếm",
        "district_code": "HI2",
        "province": "Hà Nội",
        "province_code": "HI",
        "city": "Hà Nội",
        "country": "Vietnam",
        "country_code": "VN",
        "zip": None,
        "phone": "02438253456",
        "email": "hanoi@demo-shop.vn",
        "created_at": "2023-06-15T03:00:00.000Z",
        "updated_at": CATALOG_TIME,
    },
    {
        "id": 1002,
        "name": "Chi nhánh Hồ Chí Minh",
        "location_type": "default",
        "is_primary": False,
        "is_unavailable_qty": False,
        "address1": "45 Lê Lợi",
        "address2": None,
        "ward": "Phường Bến Nghé",
        "ward_code": "26740",
        "district": "Quận 1",
        "district_code": "HC467",
        "province": "Hồ Chí Minh",
        "province_code": "HC",
        "city": "Hồ Chí Minh",
        "country": "Vietnam",
        "country_code": "VN",
        "zip": None,
        "phone": "02838224567",
        "email": "hcm@demo-shop.vn",
        "created_at": "2023-06-15T03:00:00.000Z",
        "updated_at": CATALOG_TIME,
    },
]

# (product id, title, vendor, product type, option name,
#  [(variant title, sku, barcode, price, compare_at, grams)], taxable)
_CATALOG = [
    (
        1000000101,
        "Áo sơ mi nam Oxford",
        "Thời Trang Sài Gòn",
        "Thời trang",
        "Kích thước",
        [
            ("S", "ASM-OX-S", "8935000100011", 349000, 399000, 250),
            ("M", "ASM-OX-M", "8935000100028", 349000, 399000, 260),
            ("L", "ASM-OX-L", "8935000100035", 349000, 399000, 270),
        ],
        True,
    ),
    (
        1000000102,
        "Áo thun nữ cotton",
        "Thời Trang Sài Gòn",
        "Thời trang",
        "Màu sắc",
        [
            ("Trắng", "ATN-CT-TRANG", "8935000100042", 199000, None, 180),
            ("Đen", "ATN-CT-DEN", "8935000100059", 199000, None, 180),
        ],
        True,
    ),
    (
        1000000103,
        "Quần jean nam slim fit",
        "Denim Việt",
        "Thời trang",
        "Kích thước",
        [
            ("29", "QJ-SL-29", "8935000100066", 459000, 520000, 600),
            ("30", "QJ-SL-30", "8935000100073", 459000, 520000, 610),
            ("31", "QJ-SL-31", "8935000100080", 459000, 520000, 620),
            ("32", "QJ-SL-32", "8935000100097", 459000, 520000, 630),
        ],
        True,
    ),
    (
        1000000104,
        "Đầm maxi hoa nhí",
        "Thời Trang Sài Gòn",
        "Thời trang",
        "Kích thước",
        [
            ("S", "DM-HN-S", "8935000100103", 529000, None, 350),
            ("M", "DM-HN-M", "8935000100110", 529000, None, 360),
        ],
        True,
    ),
    (
        1000000105,
        "Áo dài lụa tơ tằm",
        "Lụa Vạn Phúc",
        "Thời trang",
        "Title",
        [("Default Title", "AD-LUA-01", "8935000100127", 1250000, 1450000, 400)],
        True,
    ),
    (
        1000000201,
        "Sữa rửa mặt trà xanh 150ml",
        "Mỹ Phẩm Thiên Nhiên",
        "Mỹ phẩm",
        "Title",
        [("Default Title", "SRM-TX-150", "8935000200018", 125000, None, 180)],
        True,
    ),
    (
        1000000202,
        "Kem chống nắng SPF50+ 50ml",
        "Mỹ Phẩm Thiên Nhiên",
        "Mỹ phẩm",
        "Title",
        [("Default Title", "KCN-50-50", "8935000200025", 289000, 320000, 90)],
        True,
    ),
    (
        1000000203,
        "Son môi lì",
        "Mỹ Phẩm Thiên Nhiên",
        "Mỹ phẩm",
        "Màu sắc",
        [
            ("Đỏ cam", "SON-LI-DC", "8935000200032", 179000, None, 30),
            ("Hồng đất", "SON-LI-HD", "8935000200049", 179000, None, 30),
            ("Đỏ rượu", "SON-LI-DR", "8935000200056", 179000, None, 30),
        ],
        True,
    ),
    (
        1000000204,
        "Nước hoa hồng 200ml",
        "Mỹ Phẩm Thiên Nhiên",
        "Mỹ phẩm",
        "Title",
        [("Default Title", "NHH-200", "8935000200063", 159000, None, 230)],
        True,
    ),
    (
        1000000301,
        "Cà phê Robusta Buôn Ma Thuột 500g",
        "Cà Phê Tây Nguyên",
        "Thực phẩm",
        "Loại",
        [
            ("Hạt rang", "CF-BMT-HAT", "8935000300015", 165000, None, 520),
            ("Xay sẵn", "CF-BMT-XAY", "8935000300022", 169000, None, 520),
        ],
        True,
    ),
    (
        1000000302,
        "Trà Shan Tuyết Hà Giang 200g",
        "Đặc Sản Tây Bắc",
        "Thực phẩm",
        "Title",
        [("Default Title", "TRA-ST-200", "8935000300039", 240000, None, 230)],
        True,
    ),
    (
        1000000303,
        "Nước mắm Phú Quốc 40 độ đạm 500ml",
        "Nước Mắm Phú Quốc",
        "Thực phẩm",
        "Title",
        [("Default Title", "NM-PQ-40", "8935000300046", 95000, None, 750)],
        True,
    ),
    (
        1000000304,
        "Bánh pía Sóc Trăng hộp 4 cái",
        "Đặc Sản Miền Tây",
        "Thực phẩm",
        "Nhân",
        [
            ("Sầu riêng trứng muối", "BP-ST-SR", "8935000300053", 68000, None, 400),
            ("Đậu xanh", "BP-ST-DX", "8935000300060", 62000, None, 400),
        ],
        True,
    ),
    (
        1000000401,
        "Truyện Kiều (bìa cứng)",
        "NXB Văn Học",
        "Sách",
        "Title",
        [("Default Title", "SACH-TK-BC", "9786049690011", 150000, 180000, 650)],
        True,
    ),
    (
        1000000402,
        "Sách giáo khoa Toán lớp 5",
        "NXB Giáo Dục Việt Nam",
        "Sách",
        "Tập",
        [
            ("Tập 1", "SGK-TOAN5-T1", "8934994000011", 18000, None, 200),
            ("Tập 2", "SGK-TOAN5-T2", "8934994000028", 18000, None, 200),
        ],
        False,
    ),
    (
        1000000403,
        "Từ điển Anh - Việt 120.000 từ",
        "NXB Hồng Đức",
        "Sách",
        "Title",
        [("Default Title", "SACH-TD-AV", "9786048900029", 320000, None, 1100)],
        True,
    ),
]


def _slug(text: str) -> str:
    table = str.maketrans(
        "àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ",
        "aaaaaaaaaaaaaaaaaeeeeeeeeeeeiiiiiooooooooooooooooouuuuuuuuuuuyyyyyd",
    )
    return re.sub(r"[^a-z0-9]+", "-", text.lower().translate(table)).strip("-")


def _build_products() -> list[dict]:
    products = []
    variant_id = 1010000000
    for pid, title, vendor, ptype, option, variants, taxable in _CATALOG:
        built = []
        for position, (vtitle, sku, barcode, price, compare_at, grams) in enumerate(variants, start=1):
            variant_id += 1
            built.append(
                {
                    "id": variant_id,
                    "product_id": pid,
                    "title": vtitle,
                    "sku": sku,
                    "barcode": barcode,
                    "price": float(price),
                    "compare_at_price": float(compare_at) if compare_at else 0.0,
                    "option1": vtitle,
                    "option2": None,
                    "option3": None,
                    "position": position,
                    "grams": float(grams),
                    "weight": grams / 1000,
                    "weight_unit": "kg",
                    "inventory_management": "haravan",
                    "inventory_policy": "deny",
                    "inventory_quantity": 100,
                    "old_inventory_quantity": 100,
                    "requires_shipping": True,
                    "taxable": taxable,
                    "fulfillment_service": None,
                    "image_id": None,
                    "created_at": CATALOG_TIME,
                    "updated_at": CATALOG_TIME,
                }
            )
        products.append(
            {
                "id": pid,
                "title": title,
                "body_html": f"<p>{title} — hàng chính hãng, giao toàn quốc.</p>",
                "body_plain": None,
                "vendor": vendor,
                "product_type": ptype,
                "handle": _slug(title),
                "tags": ptype,
                "template_suffix": None,
                "published_at": CATALOG_TIME,
                "published_scope": "global",
                "only_hide_from_list": False,
                "not_allow_promotion": False,
                "options": [{"id": pid * 10 + 1, "name": option, "position": 1, "product_id": pid}],
                "images": [],
                "image": None,
                "variants": built,
                "created_at": CATALOG_TIME,
                "updated_at": CATALOG_TIME,
            }
        )
    return products


PRODUCTS = _build_products()

# --- customers -------------------------------------------------------------------------------------

# (id, last name, first name, email, phone, address1, ward, district, province, province_code, company, MST)
_CUSTOMERS = [
    (
        1100000001,
        "Nguyễn",
        "Văn An",
        "an.nguyen@example.vn",
        "0912345678",
        "25 Hàng Bài",
        "Phường Hàng Bài",
        "Quận Hoàn Kiếm",
        "Hà Nội",
        "HI",
        None,
        None,
    ),
    (
        1100000002,
        "Trần",
        "Thị Bích Ngọc",
        "ngoc.tran@example.vn",
        "0903123456",
        "120 Nguyễn Trãi",
        "Phường Bến Thành",
        "Quận 1",
        "Hồ Chí Minh",
        "HC",
        None,
        None,
    ),
    (
        1100000003,
        "Lê",
        "Hoàng Minh",
        "minh.le@example.vn",
        "0935111222",
        "88 Bạch Đằng",
        "Phường Hải Châu 1",
        "Quận Hải Châu",
        "Đà Nẵng",
        "DA",
        None,
        None,
    ),
    (
        1100000004,
        "Phạm",
        "Thu Hà",
        "ketoan@anhduong-demo.vn",
        "0988777666",
        "15 Láng Hạ",
        "Phường Thành Công",
        "Quận Ba Đình",
        "Hà Nội",
        "HI",
        "Công ty TNHH Thương mại Ánh Dương",
        "0101243150",
    ),
    (
        1100000005,
        "Hoàng",
        "Đức Thắng",
        "muahang@saomai-demo.vn",
        "0909888999",
        "200 Điện Biên Phủ",
        "Phường Võ Thị Sáu",
        "Quận 3",
        "Hồ Chí Minh",
        "HC",
        "Công ty Cổ phần Sao Mai Sài Gòn",
        "0312345673",
    ),
    (
        1100000006,
        "Vũ",
        "Thị Lan",
        "lan.vu@example.vn",
        "0976543210",
        "34 Lạch Tray",
        "Phường Lạch Tray",
        "Quận Ngô Quyền",
        "Hải Phòng",
        "HP",
        None,
        None,
    ),
    (
        1100000007,
        "Đặng",
        "Quốc Bảo",
        "hoadon@baoan-demo.vn",
        "0918222333",
        "17 Cộng Hòa",
        "Phường 4",
        "Quận Tân Bình",
        "Hồ Chí Minh",
        "HC",
        "Công ty TNHH Bảo An Logistics",
        "0302035520",
    ),
    (
        1100000008,
        "Bùi",
        "Minh Tuấn",
        "tuan.bui@example.vn",
        "0939444555",
        "52 Trần Hưng Đạo",
        "Phường An Cư",
        "Quận Ninh Kiều",
        "Cần Thơ",
        "CT",
        None,
        None,
    ),
    (
        1100000009,
        "Đỗ",
        "Ngọc Ánh",
        "taichinh@hongha-demo.vn",
        "0965333444",
        "9 Trần Duy Hưng",
        "Phường Trung Hòa",
        "Quận Cầu Giấy",
        "Hà Nội",
        "HI",
        "Công ty Cổ phần Giáo dục Hồng Hà",
        "0100686209",
    ),
    (
        1100000010,
        "Ngô",
        "Thanh Tâm",
        "tam.ngo@example.vn",
        "0907666777",
        "301 Võ Văn Tần",
        "Phường 5",
        "Quận 3",
        "Hồ Chí Minh",
        "HC",
        None,
        None,
    ),
    (
        1100000011,
        "Huỳnh",
        "Gia Huy",
        "vanphong@phuongnam-demo.vn",
        "0283822111",
        "68 Nam Kỳ Khởi Nghĩa",
        "Phường Bến Nghé",
        "Quận 1",
        "Hồ Chí Minh",
        "HC",
        "Công ty TNHH MTV Phương Nam Xanh",
        "0301103908",
    ),
]


def _address(
    addr_id, last, first, phone, address1, ward, district, province, pcode, company, *, default=True
) -> dict:
    return {
        "id": addr_id,
        "address1": address1,
        "address2": None,
        "city": None,
        "company": company,
        "country": "Vietnam",
        "country_code": "VN",
        "first_name": first,
        "last_name": last,
        "name": f"{last} {first}",
        "phone": phone,
        "province": province,
        "province_code": pcode,
        "district": district,
        "district_code": None,
        "ward": ward,
        "ward_code": None,
        "zip": None,
        "default": default,
    }


def _build_customers() -> list[dict]:
    out = []
    for cid, last, first, email, phone, address1, ward, district, province, pcode, company, mst in _CUSTOMERS:
        address = _address(
            cid + 5000000, last, first, phone, address1, ward, district, province, pcode, company
        )
        out.append(
            {
                "id": cid,
                "email": email,
                "phone": phone,
                "first_name": first,
                "last_name": last,
                "accepts_marketing": False,
                "addresses": [address],
                "default_address": dict(address),
                "orders_count": 0,
                "total_spent": 0.0,
                "total_paid": 0.0,
                "last_order_id": None,
                "last_order_name": None,
                "last_order_date": None,
                "note": f"Khách doanh nghiệp, MST {mst}" if mst else None,
                "tags": "doanh-nghiep" if mst else None,
                "state": "enabled",
                "verified_email": True,
                "multipass_identifier": None,
                "group_name": None,
                "birthday": None,
                "gender": None,
                "created_at": "2023-09-01T03:00:00.000Z",
                "updated_at": CATALOG_TIME,
            }
        )
    return out


CUSTOMERS = _build_customers()

# --- VAT invoice buyers ----------------------------------------------------------------------------

# Haravan has no VAT-invoice field: shops collect these through checkout note attributes.
VAT_ATTRIBUTES = {
    "tax_code": "vat_tax_code",
    "company": "vat_company_name",
    "address": "vat_company_address",
    "email": "vat_email",
}

BUSINESS_BUYERS = [
    {
        "customer_id": c[0],
        "company": c[10],
        "tax_code": c[11],
        "address": f"{c[5]}, {c[6]}, {c[7]}, {c[8]}",
        "email": c[3],
    }
    for c in _CUSTOMERS
    if c[11]
] + [
    {
        "customer_id": None,
        "company": "Công ty Cổ phần Công nghệ Đông Á",
        "tax_code": "0100109106",
        "address": "1 Trần Hữu Dực, Phường Mỹ Đình 2, Quận Nam Từ Liêm, Hà Nội",
        "email": "hoadon@donga-tech-demo.vn",
    },
    {
        "customer_id": None,
        "company": "Chi nhánh Công ty Cổ phần Công nghệ Đông Á tại Hải Phòng",
        "tax_code": "0100109106-001",
        "address": "5 Lê Hồng Phong, Phường Đông Khê, Quận Ngô Quyền, Hải Phòng",
        "email": "hp@donga-tech-demo.vn",
    },
    {
        "customer_id": None,
        "company": "Công ty TNHH Nhà sách Bình Minh",
        "tax_code": "0303217354",
        "address": "77 Nguyễn Thị Minh Khai, Phường Bến Thành, Quận 1, Hồ Chí Minh",
        "email": "ketoan@binhminh-books-demo.vn",
    },
    {
        "customer_id": None,
        "company": "Công ty TNHH Thực phẩm Hoa Sen",
        "tax_code": "0106026495",
        "address": "22 Nguyễn Văn Cừ, Phường Ngọc Lâm, Quận Long Biên, Hà Nội",
        "email": "muahang@hoasen-food-demo.vn",
    },
]

# --- channels, carriers, payment gateways ----------------------------------------------------------

SHIPPING_CARRIERS = [
    {"code": "GHN", "title": "Giao Hàng Nhanh", "source": "ghn"},
    {"code": "GHTK", "title": "Giao Hàng Tiết Kiệm", "source": "ghtk"},
    {"code": "VTP", "title": "Viettel Post", "source": "viettelpost"},
]

GATEWAYS = {
    "cod": ("Thanh toán khi giao hàng (COD)", "COD"),
    "bank": ("Chuyển khoản qua ngân hàng", "BankDeposit"),
    "cash": ("Tiền mặt", "cash"),
    "card": ("Thẻ ATM/Visa/Master qua máy POS", "pos_card"),
    "shopee": ("Shopee", "shopee"),
}

POS_STAFF_ID = 200000500173

# --- tax codes -------------------------------------------------------------------------------------

_MST_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_MST_RE = re.compile(r"^(\d{10})(-\d{3})?$")


def mst_check_digit(first_nine: str) -> int | None:
    """The 10th digit of a Vietnamese tax code, or None when no digit can make the prefix valid."""
    total = sum(int(d) * w for d, w in zip(first_nine, _MST_WEIGHTS, strict=True))
    digit = 10 - (total % 11)
    return None if digit == 10 else digit


def mst_is_valid(mst: str) -> bool:
    """10 digits (optionally ``-NNN`` for a branch) with a correct check digit."""
    found = _MST_RE.match(mst or "")
    if not found:
        return False
    ten = found.group(1)
    return mst_check_digit(ten[:9]) == int(ten[9])


# --- lookups and helpers ---------------------------------------------------------------------------

VARIANTS_BY_SKU = {v["sku"]: (p, v) for p in PRODUCTS for v in p["variants"]}
CUSTOMERS_BY_ID = {c["id"]: c for c in CUSTOMERS}


def vat_note_attributes(buyer: dict) -> list[dict]:
    """The checkout note attributes a business buyer fills in to ask for a VAT invoice."""
    return [
        {"name": VAT_ATTRIBUTES["tax_code"], "value": buyer["tax_code"]},
        {"name": VAT_ATTRIBUTES["company"], "value": buyer["company"]},
        {"name": VAT_ATTRIBUTES["address"], "value": buyer["address"]},
        {"name": VAT_ATTRIBUTES["email"], "value": buyer["email"]},
    ]


def buyer_for_customer(customer_id: int) -> dict | None:
    return next((b for b in BUSINESS_BUYERS if b["customer_id"] == customer_id), None)


def _shipping(code: str, price: int) -> dict:
    carrier = next(c for c in SHIPPING_CARRIERS if c["code"] == code)
    return {**carrier, "price": price}


def _lines(*items) -> list[dict]:
    out = []
    for item in items:
        sku, qty, *discount = item
        line = {"variant_id": VARIANTS_BY_SKU[sku][1]["id"], "quantity": qty}
        if discount:
            line["applied_discounts"] = [{"description": "Khuyến mãi sản phẩm", "amount": discount[0]}]
        out.append(line)
    return out


def _gateway(kind: str) -> dict:
    name, code = GATEWAYS[kind]
    return {"gateway": name, "gateway_code": code}


# A few orders the demo shop already has when the sandbox starts: (hours ago, payload, what happened next).
# "pay" captures the full amount, a number captures that much, "cancel" cancels, "close" closes.
DEMO_ORDERS = [
    (
        70,
        {
            "source_name": "web",
            "location_id": 1001,
            "customer": {"id": 1100000001},
            "line_items": _lines(("ASM-OX-M", 2), ("SRM-TX-150", 1)),
            "discount_codes": [{"code": "SALE10", "type": "percentage", "value": 10}],
            "shipping_lines": [_shipping("GHN", 30000)],
            **_gateway("cod"),
        },
        ["pay"],
    ),
    (
        50,
        {
            "source_name": "pos",
            "location_id": 1001,
            "customer": None,
            "fulfillment_status": "fulfilled",
            "line_items": _lines(("CF-BMT-HAT", 2), ("NM-PQ-40", 1)),
            **_gateway("cash"),
        },
        ["pay"],
    ),
    (
        30,
        {
            "source_name": "shopee",
            "location_id": 1002,
            "customer": {"id": 1100000002},
            "line_items": _lines(("KCN-50-50", 1, 20000), ("SON-LI-HD", 1)),
            "shipping_lines": [_shipping("GHTK", 22000)],
            **_gateway("shopee"),
            "note_attributes": [{"name": "shopee_order_sn", "value": "240901ABCD1234"}],
        },
        [],
    ),
    (
        26,
        {
            "source_name": "web",
            "location_id": 1001,
            "customer": {"id": 1100000004},
            "line_items": _lines(("SACH-TK-BC", 3), ("SGK-TOAN5-T1", 10), ("SACH-TD-AV", 1)),
            "discount_codes": [{"code": "GIAM50K", "type": "fixed_amount", "amount": 50000}],
            "shipping_lines": [_shipping("VTP", 35000)],
            **_gateway("bank"),
            "note_attributes": vat_note_attributes(BUSINESS_BUYERS[0]),
        },
        ["pay"],
    ),
    (
        20,
        {
            "source_name": "pos",
            "location_id": 1002,
            "customer": None,
            "fulfillment_status": "fulfilled",
            "line_items": _lines(("AD-LUA-01", 1), ("TRA-ST-200", 2)),
            **_gateway("card"),
            "note_attributes": vat_note_attributes(BUSINESS_BUYERS[-3]),
        },
        ["pay"],
    ),
    (
        12,
        {
            "source_name": "web",
            "location_id": 1001,
            "customer": {"id": 1100000003},
            "line_items": _lines(("QJ-SL-31", 1)),
            "shipping_lines": [_shipping("GHN", 25000)],
            **_gateway("cod"),
        },
        ["cancel"],
    ),
    (
        6,
        {
            "source_name": "web",
            "location_id": 1002,
            "customer": {"id": 1100000005},
            "line_items": _lines(("DM-HN-M", 2), ("ATN-CT-DEN", 3, 30000)),
            "shipping_lines": [_shipping("GHTK", 30000)],
            **_gateway("bank"),
            "note_attributes": vat_note_attributes(BUSINESS_BUYERS[1]),
        },
        [500000],
    ),
    (
        3,
        {
            "source_name": "shopee",
            "location_id": 1002,
            "customer": {"id": 1100000008},
            "line_items": _lines(("BP-ST-SR", 4)),
            "shipping_lines": [_shipping("VTP", 18000)],
            **_gateway("shopee"),
        },
        ["pay", "close"],
    ),
]
