"""A company's way in: ``auth/token`` trades its credentials for a token bound to its MST (14 days), and
``invoice/templates`` lists the invoice series it may issue on."""

from __future__ import annotations

import string
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from ..core import Request, Response, Router, json_response
from .helpers import SERIES_RE, ApiError, iso_vn, json_text, lower_keys, pascal, truthy
from .state import Account, Token

if TYPE_CHECKING:
    from .simulator import MeInvoiceSimulator

TOKEN_TTL_SECONDS = 14 * 24 * 3600
DEMO_APPID = "demo-app"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
DEMO_ACCOUNTS = {
    "0101243150": "Công ty Cổ phần MISA",
    "0312345673": "Công ty TNHH Thương mại Demo Sài Gòn",
    "0101243150-001": "Chi nhánh Hà Nội - Công ty Cổ phần MISA",
}


class Accounts:
    def __init__(self, sim: MeInvoiceSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("POST", "/auth/token", self.token)
        router.add("GET", "/invoice/templates", self.templates)

    def token(self, request: Request, context: dict) -> Response:
        sim = self.sim
        body = request.json()
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidInvoiceData", "Body must be {appid, taxcode, username, password}")
        fields = lower_keys(body)
        appid = str(fields.get("appid") or "")
        tax_code = str(fields.get("taxcode") or "").strip()
        context["mst"] = tax_code or None
        with sim.lock:
            if appid not in {a.appid for a in sim.accounts.values()}:
                raise ApiError(400, "InvalidAppID", errors=["InvalidAppID"])
            account = sim.accounts.get(tax_code)
            if account is None:
                raise ApiError(400, "UnAuthorize", errors=["TaxCodeNotExist"])
            if str(fields.get("username") or "") != account.username:
                raise ApiError(400, "UnAuthorize", errors=["UserNotExist"])
            if str(fields.get("password") or "") != account.password:
                raise ApiError(400, "UnAuthorize", errors=["MisaIdError"])
            token = issue_token(sim, account.tax_code)
        return json_response(pascal(True, token))

    def templates(self, request: Request, context: dict, account: Account) -> Response:
        with_code = truthy(request.arg("invoiceWithCode"))
        if truthy(request.arg("ticket")):
            return json_response(pascal(True, "[]"))
        with self.sim.lock:
            rows = [
                dict(t)
                for t in account.templates
                if with_code is None or (t["InvSeries"][1] == "C") == with_code
            ]
        return json_response(pascal(True, json_text(rows)))


def issue_token(sim: MeInvoiceSimulator, tax_code: str) -> str:
    value = "".join(sim.rng.choice(string.ascii_letters + string.digits) for _ in range(48))
    now = sim.clock()
    ttl = float(sim.knobs["token_ttl_seconds"])
    sim.tokens[value] = Token(value=value, tax_code=tax_code, issued_at=now, expires_at=now + ttl)
    return value


def demo_templates(year: int) -> list[dict]:
    """The demo set: ``1C{yy}TAA``, ``1K{yy}TBB`` and the inactive ``1C{yy}TCC``."""
    yy = f"{year % 100:02d}"
    return [
        {"InvSeries": f"1C{yy}TAA", "TemplateName": "Hóa đơn giá trị gia tăng"},
        {"InvSeries": f"1K{yy}TBB", "TemplateName": "Hóa đơn giá trị gia tăng (không mã)"},
        {
            "InvSeries": f"1C{yy}TCC",
            "TemplateName": "Hóa đơn giá trị gia tăng (ngừng sử dụng)",
            "Inactive": True,
        },
    ]


def build_template(sim: MeInvoiceSimulator, spec: str | dict) -> dict:
    """A template as ``invoice/templates`` lists it, from a series (``"1C25TAA"``) or a dict."""
    spec = {"InvSeries": spec} if isinstance(spec, str) else dict(spec)
    series = str(spec.get("InvSeries") or "").strip().upper()
    if not SERIES_RE.match(series):
        raise ValueError(f"{series!r} is not an invoice series (e.g. 1C25TAA)")
    created = iso_vn(sim.wall() - timedelta(days=90))
    kind = {"1": "Hóa đơn giá trị gia tăng", "2": "Hóa đơn bán hàng", "5": "Vé điện tử"}.get(
        series[0], "Phiếu xuất kho"
    )
    return {
        "IPTemplateID": str(uuid.UUID(int=sim.rng.getrandbits(128), version=4)),
        "CompanyID": 1,
        "TemplateName": spec.get("TemplateName") or kind,
        "InvTemplateNo": series[0],
        "InvSeries": series,
        "OrgInvSeries": series[1:],
        "TemplateType": 1,
        "CreatedDate": created,
        "ModifiedDate": created,
        "Inactive": bool(spec.get("Inactive", False)),
        "IsInheritFromOldTemplate": False,
        "IsSendSummary": bool(spec.get("IsSendSummary", False)),
        "IsTemplatePetrol": False,
        "IsMoreVATRate": True,
    }
