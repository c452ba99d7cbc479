"""The AMIS simulator's sales returns (12/3540, Unconfirmed at MISA) and account objects sent with vouchers,
and the converter's return vouchers and account objects accepted by it in-process."""

import json

import pytest

from amis.convert import party_dictionary, refund_to_return, sale_to_vouchers
from amis.mapping import Location, Mapping
from haravan import read
from tests.amis.test_convert import capture, line, make_order

from .amis_helpers import sale


def sales_return(org_refid="HRV-1001-TL1", *, restock=True, credit="131", **header):
    """A return of one of the two shirts of ``sale()``: 150.000 listed, 145.000 pre-VAT, 14.500 VAT."""
    lines = [
        {
            "ref_detail_id": f"{org_refid}-1",
            "sort_order": 1,
            "inventory_item_code": "SKU-AO-01",
            "inventory_item_name": "Áo thun cotton",
            "unit_name": "Cái",
            "quantity": 1,
            "unit_price": 150000,
            "amount": 150000,
            "discount_amount": 5000,
            "vat_rate": 10,
            "vat_amount": 14500,
            "vat_account": "33311",
            "debit_account": "5212",
            "credit_account": credit,
            "stock_code": "KHO01" if restock else None,
        },
        {  # money with no goods: quantity 0, the value in amount
            "ref_detail_id": f"{org_refid}-2",
            "sort_order": 2,
            "inventory_item_code": "PHIVANCHUYEN",
            "inventory_item_name": "Phí vận chuyển",
            "inventory_item_type": 2,
            "quantity": 0,
            "unit_price": 0,
            "amount": 10000,
            "discount_amount": 0,
            "vat_rate": 8,
            "vat_amount": 800,
            "vat_account": "33311",
            "debit_account": "5212",
            "credit_account": credit,
        },
    ]
    voucher = sale(
        org_refid,
        reftype=3540,
        lines=lines,
        voucher_type=12,
        org_refno="#1001-TL1",
        total_sale_amount=160000,
        total_discount_amount=5000,
        total_vat_amount=15300,
        total_amount=170300,
        total_amount_oc=170300,
        is_sale_with_outward=None,
        is_return_with_inward=restock,
    )
    if restock:
        voucher["in_inward"] = {"refid": "in-1", "reftype": 2010, "voucher_type": 7}
    voucher.update(header)
    return voucher


def _refused(amis, vouchers, **kw):
    body = amis.save(vouchers, **kw).json()
    assert body["Success"] is False, body
    return body


def _proposals(amis, company="demo-hanoi"):
    return amis.control("GET", "proposals", query={"company": company}).json()["proposals"][company]


@pytest.mark.parametrize(
    "voucher",
    [sales_return("R1"), sales_return("R2", restock=False, credit="1111"), sales_return("R3", credit="1121")],
)
def test_a_sales_return_is_accepted_and_generated_with_its_own_numbers(amis, voucher):
    assert amis.save([voucher]).json()["Success"] is True
    [row] = _proposals(amis)
    assert (row["voucher_type"], row["reftype"], row["status"]) == (12, 3540, "proposal")
    generated = amis.control("POST", "generate", {"company": "demo-hanoi", "org_refid": voucher["org_refid"]})
    assert generated.json()["generated"][0]["refno"] == "TL00001"
    assert _refused(amis, [voucher])["ErrorCode"] == "IsCreatedVoucher"


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda v: v.update(reftype=3530, org_reftype=3530), "reftype 3530 không hợp lệ với voucher_type 12"),
        (lambda v: v["detail"][0].update(debit_account="131"), "cần tài khoản nợ 521"),
        (lambda v: v["detail"][0].update(credit_account="5111"), "cần tài khoản có 131, 111, 112"),
        (lambda v: v["detail"][0].update(debit_account="5219"), "tài khoản 5219 không tồn tại"),
        (lambda v: v.update(total_amount=170301, total_amount_oc=170301), "total_amount 170301"),
        (lambda v: v.update(total_vat_amount=15000), "total_vat_amount 15000 khác"),
        (lambda v: v["detail"][0].update(inventory_item_code="NOPE"), "Mã hàng NOPE không tồn tại"),
        (lambda v: v["detail"][0].update(stock_code="KHO99"), "Mã kho KHO99 không tồn tại"),
        (lambda v: v["detail"][0].update(quantity=2), "khác quantity × unit_price"),
        (lambda v: v["detail"][1].update(unit_price=1), "khác quantity × unit_price"),
        (lambda v: v.update(account_object_code="KH_NOBODY"), "Mã đối tượng KH_NOBODY không tồn tại"),
        (lambda v: v.update(in_inward={"reftype": 2020}), "in_inward.reftype phải là 2010"),
        (lambda v: v.pop("in_inward"), "is_return_with_inward cần in_inward"),
        (lambda v: v["detail"][0].update(stock_code=None), "cần ít nhất một dòng có stock_code"),
        (lambda v: (v.update(is_return_with_inward=False), v.pop("in_inward")), "cần is_return_with_inward"),
    ],
)
def test_a_sales_return_is_validated_like_the_other_vouchers(amis, mutate, needle):
    voucher = sales_return("R9")
    mutate(voucher)
    body = _refused(amis, [voucher])
    assert body["ErrorCode"] == "InvalidParam" and needle in body["ErrorMessage"], body["ErrorMessage"]
    assert _proposals(amis) == []


def test_an_account_object_travels_in_the_same_call_with_company_tax_code(amis):
    voucher = sales_return("R10", account_object_code="MST0312345673")
    item = {
        "dictionary_type": 1,
        "account_object_code": "MST0312345673",
        "account_object_name": "Công ty TNHH Nhà sách Bình Minh",
        "account_object_type": 0,
        "is_customer": True,
        "is_vendor": False,
        "company_tax_code": "0312345673",
        "receive_account": "131",
    }
    wrong = {k: v for k, v in item.items() if k != "company_tax_code"} | {"tax_code": "0312345673"}
    assert "dùng company_tax_code" in _refused(amis, [voucher], dictionary=[wrong])["ErrorMessage"]
    body = _refused(amis, [voucher], dictionary=[{**item, "receive_account": "1319"}])
    assert "receive_account 1319" in body["ErrorMessage"]
    assert amis.save([voucher], dictionary=[item]).json()["Success"] is True
    rows = json.loads(
        amis.call("get_dictionary", {"data_type": 1, "branch_id": None, "skip": 0, "take": 100}).json()[
            "Data"
        ]
    )
    saved = next(r for r in rows if r["account_object_code"] == "MST0312345673")
    assert saved["company_tax_code"] == "0312345673" and saved["is_vendor"] is False


# --- the converter's documents, accepted by the simulator -------------------------------------------------

VAT_BUYER = [
    {"name": "vat_tax_code", "value": "0312345673"},
    {"name": "vat_company_name", "value": "Công ty TNHH Nhà sách Bình Minh"},
    {"name": "vat_company_address", "value": "77 Nguyễn Thị Minh Khai, Quận 1"},
]


def test_the_converters_sale_return_and_account_object_are_accepted(amis):
    company = "demo-hcm"
    order = make_order(
        [line(1, 250_000, 2, sku="SKU-AO-01"), line(2, 120_000, 1, sku="SKU-MU-03")],
        shipping=[{"code": "GHN", "title": "GHN", "price": 30_000}],
        location_id=1002,
        note_attributes=VAT_BUYER,
        customer={"id": 777, "first_name": "Minh", "last_name": "Trần"},
        transactions=[capture(9, 650_000, "Bank transfer")],
        financial_status="partially_refunded",
        refunds=[
            {
                "id": 5001,
                "created_at": "2025-03-20T03:00:00Z",
                "refund_line_items": [{"line_item_id": 1, "quantity": 1, "restock": True}],
                "transactions": [
                    {"kind": "refund", "amount": -260_000, "gateway": "Bank transfer", "status": "Thành công"}
                ],
            }
        ],
    )
    mapping = Mapping(locations={"1002": Location(None, "KHO02")}, gateways={"Bank transfer": "bank"})
    sale_ = read.read_order(order, mapping.read_options)
    dictionary = party_dictionary(sale_, mapping)
    assert [d["account_object_code"] for d in dictionary] == ["KH777"]
    vouchers = sale_to_vouchers(sale_, mapping, company)
    assert amis.save(vouchers, company=company, dictionary=dictionary).json()["Success"] is True
    amis.control("POST", "generate", {"company": company})
    voucher = refund_to_return(sale_, sale_.refunds[0], mapping, company)
    assert voucher["total_amount"] == 260_000 and voucher["is_return_with_inward"] is True
    # 250.000 for the shirt (its half of the line), 10.000 over the shipping and the cap still booked
    assert amis.save([voucher], company=company).json()["Success"] is True
    generated = amis.control("POST", "generate", {"company": company, "org_refid": voucher["org_refid"]})
    assert generated.json()["generated"][0]["refno"] == "TL00001"
