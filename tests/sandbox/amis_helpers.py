"""Shared pieces of the AMIS simulator tests: an in-process client and valid vouchers."""

import json

import pytest

from sandbox.amis import DEMO_ACCESS_CODE, DEMO_APP_ID, AmisSimulator
from sandbox.core import Request
from sandbox.server import SandboxApp

CALLBACK_URL = "http://product.test/webhooks/amis/"
SYNC = "/amis/apir/sync/actopen/"


class Amis:
    """Calls the AMIS simulator in-process as a client would."""

    def __init__(self, app: SandboxApp, sim: AmisSimulator):
        self.app = app
        self.sim = sim
        self.tokens: dict[str, str] = {}

    def raw(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        return self.app.handle(Request(method, path, {}, hdrs, data))

    def connect(self, company="demo-hanoi", access_code=DEMO_ACCESS_CODE, app_id=DEMO_APP_ID):
        return self.raw(
            "POST",
            "/amis/api/oauth/actopen/connect",
            {"app_id": app_id, "access_code": access_code, "org_company_code": company},
        )

    def token(self, company="demo-hanoi"):
        if company not in self.tokens:
            resp = self.connect(company)
            self.tokens[company] = json.loads(resp.json()["Data"])["access_token"]
        return self.tokens[company]

    def call(self, name, body, company="demo-hanoi", method="POST", token=None, prefix=SYNC):
        full = {"app_id": DEMO_APP_ID, **body}
        headers = {"X-MISA-AccessToken": token if token is not None else self.token(company)}
        return self.raw(method, prefix + name, full, headers)

    def save(self, vouchers, company="demo-hanoi", dictionary=None, **kw):
        body = {"org_company_code": company, "voucher": vouchers, "dictionary": dictionary or []}
        return self.call("save", body, company, **kw)

    def delete(self, refs, company="demo-hanoi", method="DELETE"):
        body = {"org_company_code": company, "voucher": refs}
        return self.call("delete", body, company, method=method)

    def control(self, method, name, body=None, query=None):
        data = json.dumps(body).encode() if body is not None else b""
        q = {k: [str(v)] for k, v in (query or {}).items()}
        return self.app.handle(Request(method, "/amis/_sandbox/" + name, q, {}, data))


def sale(org_refid="HRV-1001-r1", *, reftype=3530, lines=None, **header):
    """A valid PBH (13) for the demo dictionary: 2 × 150 000 at 10 % VAT, 10 000 discount."""
    debit = {3531: "1111", 3537: "1121"}.get(reftype, "131")
    lines = lines or [
        {
            "ref_detail_id": f"{org_refid}-1",
            "sort_order": 1,
            "inventory_item_code": "SKU-AO-01",
            "inventory_item_name": "Áo thun cotton",
            "unit_name": "Cái",
            "quantity": 2,
            "unit_price": 150000,
            "amount": 300000,
            "amount_oc": 300000,
            "discount_rate": 0,
            "discount_amount": 10000,
            "vat_rate": 10,
            "vat_amount": 29000,
            "vat_account": "33311",
            "debit_account": debit,
            "credit_account": "5111",
            "stock_code": "KHO01",
        }
    ]
    voucher = {
        "voucher_type": 13,
        "org_refid": org_refid,
        "org_refno": "#1001",
        "org_reftype": reftype,
        "reftype": reftype,
        "refdate": "2025-03-01 09:00:00",
        "posted_date": "2025-03-01",
        "account_object_code": "KHACHLE",
        "currency_id": "VND",
        "exchange_rate": 1,
        "is_sale_with_outward": False,
        "total_sale_amount": 300000,
        "total_discount_amount": 10000,
        "total_vat_amount": 29000,
        "total_amount": 319000,
        "total_amount_oc": 319000,
        "detail": lines,
    }
    voucher.update(header)
    return voucher


def receipt(org_refid="HRV-1001-pt", amount=319000, voucher_type=5, reftype=1010, debit="1111"):
    return {
        "voucher_type": voucher_type,
        "org_refid": org_refid,
        "org_refno": "PT-1001",
        "org_reftype": reftype,
        "reftype": reftype,
        "refdate": "2025-03-01",
        "posted_date": "2025-03-01",
        "account_object_code": "KHACHLE",
        "currency_id": "VND",
        "total_amount": amount,
        "detail": [{"amount": amount, "debit_account": debit, "credit_account": "131"}],
    }


@pytest.fixture
def amis_sim(clock, sender):
    """Demo companies; callbacks go to ``sender`` when the test calls ``pump``/``flush``; no auto generation,
    no callback delay (tests turn them on)."""
    simulator = AmisSimulator(
        seed=7,
        clock=clock,
        now=clock.wall,
        callback_url=CALLBACK_URL,
        callback_sender=sender,
        callback_background=False,
    )
    simulator.set_knobs(auto_generate=False, callback_delay_seconds=0)
    yield simulator
    simulator.close()


@pytest.fixture
def amis(amis_sim):
    return Amis(SandboxApp({"/amis": amis_sim}), amis_sim)
