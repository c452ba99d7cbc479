"""Companies and connecting: ``/api/oauth/actopen/connect`` (an access code per ``org_company_code``
→ a 12-hour token, ``Data`` as JSON text with ``expired_time_ticks``) and ``get_company_info``; the demo
companies and their master data."""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any

from .. import demo_data
from ..core import Request, Response
from .helpers import AmisError, key, net_ticks, net_time, ok, text, vn
from .state import Company, Token

if TYPE_CHECKING:
    from .simulator import AmisSimulator

DEMO_APP_ID = "demo-amis-app"
DEMO_ACCESS_CODE = "demo"
TOKEN_TTL_SECONDS = 12 * 3600  # amis.md §1 [M]
DEMO_COMPANIES = {
    "demo-hanoi": ("Công ty TNHH Demo Hà Nội", "0109999991"),
    "demo-hcm": ("Công ty TNHH Demo Hồ Chí Minh", "0319999992"),
    "demo-tmdt": ("Công ty TNHH Demo Thương mại điện tử", "0109999993"),
}
# TT200 chart of accounts the demo companies keep (amis.md §14), number → name
DEMO_ACCOUNTS = {
    "111": "Tiền mặt",
    "1111": "Tiền Việt Nam",
    "112": "Tiền gửi Ngân hàng",
    "1121": "Tiền Việt Nam",
    "131": "Phải thu của khách hàng",
    "1331": "Thuế GTGT được khấu trừ của hàng hóa, dịch vụ",
    "156": "Hàng hóa",
    "1561": "Giá mua hàng hóa",
    "1381": "Tài sản thiếu chờ xử lý",
    "331": "Phải trả cho người bán",
    "3331": "Thuế giá trị gia tăng phải nộp",
    "33311": "Thuế GTGT đầu ra",
    "3381": "Tài sản thừa chờ giải quyết",
    "511": "Doanh thu bán hàng và cung cấp dịch vụ",
    "5111": "Doanh thu bán hàng hóa",
    "5113": "Doanh thu cung cấp dịch vụ",
    "521": "Các khoản giảm trừ doanh thu",
    "5211": "Chiết khấu thương mại",
    "5212": "Hàng bán bị trả lại",
    "5213": "Giảm giá hàng bán",
    "632": "Giá vốn hàng bán",
    "711": "Thu nhập khác",
    "811": "Chi phí khác",
    "641": "Chi phí bán hàng",
}
DEMO_UNITS = ("Cái", "Chiếc", "Hộp", "Bộ", "Lần")
_RATE_OF_TYPE = {"Sách": 5}  # the demo books' rate; everything else the shop sells is at 10 %


def _catalogue_items() -> tuple:
    """The demo shop's variants as the demo accountant set them up in AMIS: item code = SKU (the demo's
    mapping), the product's unit (its ``ĐVT:`` tag) or "Cái"."""
    items = []
    for product in demo_data.PRODUCTS:
        tags = [t.strip() for t in str(product.get("tags") or "").split(",")]
        unit = next((t.split(":", 1)[1] for t in tags if t.startswith("ĐVT:")), "Cái")
        rate = _RATE_OF_TYPE.get(product.get("product_type"), 10)
        for variant in product["variants"]:
            title = variant.get("title")
            name = (
                product["title"] if title in (None, "", "Default Title") else f"{product['title']} - {title}"
            )
            items.append((variant["sku"], name, unit, 0, rate))
    return tuple(items)


DEMO_ITEMS = (  # code, name, unit, type (0 goods, 2 service), VAT rate
    ("SKU-AO-01", "Áo thun cotton", "Cái", 0, 10),
    ("SKU-QUAN-02", "Quần jean", "Chiếc", 0, 10),
    ("SKU-MU-03", "Mũ lưỡi trai", "Cái", 0, 8),
    ("SKU-COMBO-04", "Hộp quà tặng", "Hộp", 0, 10),
    ("PHIVANCHUYEN", "Phí vận chuyển", "Lần", 2, 8),
    *_catalogue_items(),
)
DEMO_ACCOUNT_OBJECTS = (  # code, name
    ("KHACHLE", "Khách lẻ không lấy hóa đơn"),
    ("KHACHLE_SHOPEE", "Khách lẻ Shopee"),
    ("KH00001", "Công ty Cổ phần Khách Hàng Một"),
)
DEMO_STOCKS = (("KHO01", "Kho tổng"), ("KHO02", "Kho cửa hàng"))


def new_id(sim: AmisSimulator) -> str:
    """A GUID from the simulator's seeded generator (deterministic per seed)."""
    with sim.lock:
        return str(uuid.UUID(int=sim.rng.getrandbits(128), version=4))


def demo_dictionary(sim: AmisSimulator, code: str) -> dict[int, list[dict]]:
    """A company's master data by get_dictionary data_type (amis.md §9)."""
    stamp = net_time(vn(sim.wall()))
    company_id = new_id(sim)
    branch_id = new_id(sim)
    units = {name: new_id(sim) for name in dict.fromkeys([*DEMO_UNITS, *(item[2] for item in DEMO_ITEMS)])}
    stocks = [
        {
            "stock_id": new_id(sim),
            "stock_code": c,
            "stock_name": n,
            "inventory_account": "1561",
            "branch_id": branch_id,
            "inactive": False,
        }
        for c, n in DEMO_STOCKS
    ]
    common = {"modified_date": stamp, "created_date": stamp}
    return {
        1: [
            {
                "dictionary_type": 1,
                "account_object_id": new_id(sim),
                "account_object_code": c,
                "account_object_name": n,
                "account_object_type": 0 if c.startswith("KH0") else 1,
                "is_customer": True,
                "is_vendor": False,
                "receive_account": "131",
                "inactive": False,
                **common,
            }
            for c, n in DEMO_ACCOUNT_OBJECTS
        ],
        2: [
            {
                "dictionary_type": 3,
                "inventory_item_id": new_id(sim),
                "inventory_item_code": c,
                "inventory_item_name": n,
                "inventory_item_type": t,
                "unit_id": units[u],
                "unit_name": u,
                "tax_rate": rate,
                "inventory_account": "1561" if t == 0 else None,
                "cogs_account": "632",
                "sale_account": "5111" if t == 0 else "5113",
                "default_stock_id": stocks[0]["stock_id"],
                "inactive": False,
                **common,
            }
            for c, n, u, t, rate in DEMO_ITEMS
        ],
        3: [{"dictionary_type": 5, **s, **common} for s in stocks],
        4: [
            {"dictionary_type": 6, "unit_id": i, "unit_name": n, "inactive": False, **common}
            for n, i in units.items()
        ],
        5: [
            {
                "account_id": new_id(sim),
                "account_number": n,
                "account_name": name,
                "is_parent": len(n) == 3,
                "inactive": False,
                **common,
            }
            for n, name in DEMO_ACCOUNTS.items()
        ],
        6: [
            {
                "organization_unit_id": company_id,
                "organization_unit_code": code.upper(),
                "organization_unit_name": DEMO_COMPANIES.get(code, (code, ""))[0],
                "organization_unit_type_id": 1,
                "parent_id": None,
                "inactive": False,
                **common,
            },
            {
                "organization_unit_id": branch_id,
                "organization_unit_code": "CN01",
                "organization_unit_name": "Chi nhánh 1",
                "organization_unit_type_id": 2,
                "parent_id": company_id,
                "inactive": False,
                **common,
            },
            {
                "organization_unit_id": new_id(sim),
                "organization_unit_code": "PKD",
                "organization_unit_name": "Phòng kinh doanh",
                "organization_unit_type_id": 3,
                "parent_id": company_id,
                "inactive": False,
                **common,
            },
        ],
    }


def issue_token(sim: AmisSimulator, company: Company) -> Token:
    now = sim.clock()
    token = Token(
        value=secrets.token_urlsafe(48),
        company=company.code,
        issued_at=now,
        expires_at=now + float(sim.knobs["token_ttl_seconds"]),
    )
    sim.tokens[token.value] = token
    return token


class Companies:
    def __init__(self, sim: AmisSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add("POST", "get_company_info", self.company_info)

    def connect(self, request: Request, body: dict, context: dict) -> Response:
        """amis.md §1: ``{app_id, access_code, org_company_code}`` → ``Data`` JSON text
        ``{access_token, expired_time, expired_time_ticks, tenant_code, app_name}``."""
        sim = self.sim
        if text(body.get("app_id")) != sim.app_id:
            raise AmisError("InvalidAppID")
        code = text(body.get("org_company_code"))
        context["company"] = code or None
        with sim.lock:
            company = sim.companies.get(key(code))
            # sandbox: an unknown org_company_code answers like a wrong access code (amis.md §1: Unconfirmed)
            if company is None or text(body.get("access_code")) != company.access_code:
                raise AmisError("InvalidAccessToken")
            sim.check_company(company)
            token = issue_token(sim, company)
            expires = sim.wall_at(token.expires_at)
        shown = vn(expires) if sim.knobs["ticks_clock"] == "local" else expires
        return ok(
            {
                "access_token": token.value,
                "expired_time": net_time(shown),
                "expired_time_ticks": net_ticks(shown),
                "tenant_code": company.code,
                "app_name": company.name,
            }
        )

    def company_info(self, request: Request, body: dict, company: Company) -> Response:
        """amis.md §3: one object; branch_id null = the company itself."""
        units = company.dictionary.get(6, [])
        head = next((u for u in units if u["organization_unit_type_id"] == 1), {})
        branch = body.get("branch_id")
        if branch not in (None, ""):
            head = next((u for u in units if u["organization_unit_id"] == branch), None)
            if head is None or head["organization_unit_type_id"] not in (1, 2):
                raise AmisError("InvalidParam", f"branch_id {branch} không tồn tại")
        info: dict[str, Any] = {
            "company_name": company.name,
            "company_tax_code": company.tax_code,
            "org_company_code": company.code,
            "branch_id": head.get("organization_unit_id"),
            "branch_name": head.get("organization_unit_name"),
            "company_address": "Việt Nam",
        }
        return ok(info)
