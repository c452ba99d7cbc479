"""`manage.py preview --target amis --org ORG ORDER.json` on the demo's AMIS connection: one JSON object in
the issue's shape, on the company the demo's rules choose, written nowhere."""

import json

import pytest
from django.core.management import call_command

from syncjobs.models import SyncDocument
from tests import factories

KEYS = {"post", "reason", "account", "vouchers"}
VOUCHER_KEYS = {
    "voucher_type",
    "reftype",
    "org_refid",
    "org_refno",
    "account_object_code",
    "account_object_tax_code",
    "branch_id",
    "total_sale_amount",
    "total_discount_amount",
    "total_vat_amount",
    "total_amount",
    "detail",
}


@pytest.fixture
def demo(db):
    from sandbox.management.commands.demo import seed

    return seed()


def run(tmp_path, capsys, order):
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order, ensure_ascii=False), encoding="utf-8")
    call_command("preview", "--target", "amis", "--org", "200000001", str(path))
    return json.loads(capsys.readouterr().out)


def test_a_paid_order_from_location_1002_would_be_posted_to_demo_hcm(demo, tmp_path, capsys):
    order = factories.paid_order()
    order["transactions"] = [
        {"id": 81, "kind": "capture", "status": "success", "amount": 216000, "gateway": "Tiền mặt"}
    ]
    out = run(tmp_path, capsys, order)
    assert set(out) == KEYS and out["post"] is True
    assert out["account"]["org_company_code"] == "demo-hcm" and out["account"]["name"]
    voucher, *receipts = out["vouchers"]
    assert set(voucher) == VOUCHER_KEYS and voucher["voucher_type"] == 13
    assert voucher["reftype"] == 3530  # booked to the buyer's receivable; the money comes as a receipt
    assert [r["voucher_type"] for r in receipts] == [5] and receipts[0]["total_amount"] == 216000
    assert voucher["total_amount"] == (
        voucher["total_sale_amount"] - voucher["total_discount_amount"] + voucher["total_vat_amount"]
    )
    assert voucher["total_amount"] == 216000  # what the buyer paid
    assert all(
        line["stock_code"] == "KHO02"
        for line in voucher["detail"]
        if line["inventory_item_code"] != "PHIVANCHUYEN"
    )
    assert not SyncDocument.objects.exists()


def test_a_shopee_order_goes_to_demo_tmdt_as_khachle_shopee(demo, tmp_path, capsys):
    out = run(tmp_path, capsys, {**factories.paid_order(), "source_name": "shopee", "customer": None})
    assert out["account"]["org_company_code"] == "demo-tmdt"
    assert out["vouchers"][0]["account_object_code"] == "KHACHLE_SHOPEE"


def test_an_unpaid_order_says_why_nothing_is_posted(demo, tmp_path, capsys):
    out = run(tmp_path, capsys, {**factories.paid_order(), "financial_status": "pending", "transactions": []})
    assert out["post"] is False and out["vouchers"] == [] and "not paid" in out["reason"]
