"""The AMIS pieces against each other, in-process: the converter's vouchers, sent by the client to the AMIS
simulator, are accepted as proposals, resent safely, refused once the accountant generated them, and the
simulator's signed callback is one the client verifies. (The product's services wire them in a later step.)"""

import requests

from amis.client import AmisClient, verify_callback
from amis.convert import sale_to_vouchers
from amis.mapping import Location, Mapping
from haravan import read
from sandbox.testing import RecordingSender
from tests.amis.test_convert import capture, line, make_order

BASE = "http://127.0.0.1:8100/amis"
COMPANY = "demo-hcm"


def control(path, **body):
    resp = requests.post(f"{BASE}/_sandbox/{path}", json=body, timeout=5)
    resp.raise_for_status()
    return resp.json()


def branch_of(client) -> str:
    """The id of a branch of the company, as AMIS lists its organisation units (data_type 6)."""
    units = client.get_dictionary(6).rows
    return next(u["organization_unit_id"] for u in units if u.get("organization_unit_type_id") in (1, 2))


def demo_sale():
    order = make_order(
        [line(1, 250_000, 2, sku="SKU-AO-01"), line(2, 120_000, 1, sku="SKU-MU-03")],
        shipping=[{"code": "GHN", "title": "GHN", "price": 30_000}],
        location_id=1002,
        customer=None,  # a walk-in buyer: KHACHLE (named customers are upserted first, in a later step)
        transactions=[capture(9, 650_000, "Bank transfer")],
    )
    return read.read_order(order)


def test_vouchers_made_by_the_converter_are_accepted_resent_and_then_refused_once_generated(db, sandbox):
    received = RecordingSender()  # where the company's callbacks land
    sandbox.mounts["/amis"].webhooks.sender = received
    client = AmisClient(org_company_code=COMPANY, access_code="demo")
    assert client.get_company_info()
    mapping = Mapping(
        locations={"1002": Location(branch_of(client), "KHO02")},
        gateways={"Bank transfer": "bank"},
    )
    vouchers = sale_to_vouchers(demo_sale(), mapping, COMPANY)
    assert vouchers and all(v["org_refid"] for v in vouchers)

    first = client.save(vouchers)
    assert first.ok, first
    again = client.save(vouchers)  # a resend after a timeout: the same proposals, updated
    assert again.ok, again
    held = requests.get(f"{BASE}/_sandbox/proposals", params={"company": COMPANY}, timeout=5).json()
    assert held["count"] == len(vouchers)

    control("generate", company=COMPANY)
    late = client.save(vouchers)
    assert late.already_generated and not late.ok

    control("advance", seconds=60)  # past the callback delay
    control("flush")
    verified = [verify_callback(call["body"], "demo-amis-app") for call in received.calls]
    assert verified
    refids = {r.org_refid.lower() for callback in verified for r in callback.results}
    assert {v["org_refid"] for v in vouchers} <= refids
    assert all(callback.org_company_code == COMPANY for callback in verified)
    assert any(r.generated for callback in verified for r in callback.results)
