"""Refunds of a posted sale → AMIS sales return vouchers (12/3540), and named customers → account objects.

Orders and their refunds are written as Haravan sends them and read by ``haravan.read``; the converter only
sees the sale. Figures are computed by hand; the properties check every refund of generated orders
against the money Haravan says was given back.
"""

import json
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amis import convert
from amis.convert import ConversionError, NothingToReturn, org_refid_for, party_dictionary, refund_to_return
from amis.mapping import Documents, Mapping, MappingError, Returns, Shipping
from haravan import read
from tests.amis.test_convert import COMPANY, DEMO, VAT_BUYER, capture, generated, line, make_order
from tests.amis.test_convert import mappings as sale_mappings

REFUND_AT = "2025-03-20T03:00:00Z"  # 10:00 in Vietnam


def refund(
    refund_id, *, lines=(), money=0, gateway="Bank transfer", at=REFUND_AT, status="Thành công", **extra
):
    """A Haravan refund: ``lines`` (line id, units, restock), the money given back (written negative)."""
    return {
        "id": refund_id,
        "created_at": at,
        "note": extra.pop("note", None),
        "restock": None,
        "refund_line_items": [
            {"line_item_id": key, "quantity": units, "restock": restock} for key, units, restock in lines
        ],
        "transactions": [
            {"id": refund_id * 10, "kind": "refund", "amount": -money, "gateway": gateway, "status": status}
        ]
        if money
        else [],
        **extra,
    }


def sale_of(order, mapping=DEMO):
    return read.read_order(order, mapping.read_options)


def returned(order, refund_id, mapping=DEMO, **kw):
    sale = sale_of(order, mapping)
    (wanted,) = [r for r in sale.refunds if r.key == str(refund_id)]
    return refund_to_return(sale, wanted, mapping, COMPANY, **kw)


def assert_return_adds_up(voucher):
    """The invariants of a return voucher, checked independently of the converter."""
    detail = voucher["detail"]
    assert (voucher["voucher_type"], voucher["reftype"], voucher["org_reftype"]) == (12, 3540, 3540)
    for name in ("total_amount", "total_sale_amount", "total_discount_amount", "total_vat_amount"):
        assert type(voucher[name]) is int and voucher[name + "_oc"] == voucher[name]
    assert voucher["total_sale_amount"] == sum(d["amount"] for d in detail)
    assert voucher["total_discount_amount"] == sum(d["discount_amount"] for d in detail)
    assert voucher["total_vat_amount"] == sum(d["vat_amount"] for d in detail)
    assert voucher["total_amount"] == (
        voucher["total_sale_amount"] - voucher["total_discount_amount"] + voucher["total_vat_amount"]
    )
    assert [d["sort_order"] for d in detail] == list(range(1, len(detail) + 1))
    assert len({d["ref_detail_id"] for d in detail}) == len(detail)
    for d in detail:
        for name in ("amount", "discount_amount", "vat_amount"):
            assert type(d[name]) is int and d[name + "_oc"] == d[name]
        assert d["refid"] == voucher["refid"]
        assert 0 <= d["discount_amount"] <= d["amount"]
        assert d["debit_account"] == "5212" and d["vat_account"] == "33311"
        if d["quantity"]:
            assert abs(d["quantity"] * Decimal(str(d["unit_price"])) - d["amount"]) < 1
        else:  # money with no goods: the value alone
            assert d["unit_price"] == 0 and d["discount_amount"] == 0 and d["stock_code"] is None
        fraction = Decimal(max(d["vat_rate"], 0)) / 100
        if d["vat_rate"] == -3:
            fraction = Decimal(str(d["other_vat_rate"])) / 100
        assert abs(d["vat_amount"] - (d["amount"] - d["discount_amount"]) * fraction) <= 1
    assert len(voucher["org_refno"]) <= 20
    assert json.loads(json.dumps(voucher)) == voucher


def rows(voucher):
    return [
        (d["inventory_item_code"], d["quantity"], d["amount"], d["discount_amount"], d["vat_amount"])
        for d in voucher["detail"]
    ]


# 2 × 110.000 + 1 × 55.000, a code of 11.000 (8.800 / 2.200), shipping 33.000, 10 % VAT included, paid
# by bank.
# What the buyer paid per voucher line: SKU-1 211.200, SKU-2 52.800, shipping 33.000 (297.000).
def paid_order(*refunds, **extra):
    return make_order(
        [line(1, 110_000, 2), line(2, 55_000, 1)],
        codes=[{"code": "GIAM11K", "type": "fixed_amount", "amount": 11_000}],
        shipping=[{"code": "GHN", "title": "Giao hàng nhanh", "price": 33_000}],
        transactions=[capture(9001, 297_000, "Bank transfer")],
        refunds=list(refunds),
        financial_status="partially_refunded",
        **extra,
    )


def test_one_unit_back_restocked_and_paid_back_by_bank():
    order = paid_order(refund(71, lines=[(1, 1, True)], money=105_600, note="sai size"))
    voucher = returned(order, 71)
    assert_return_adds_up(voucher)
    # 105.600 = half of 211.200: pre-VAT 96.000 + 9.600; listed 110.000 → 100.000, so 4.000 discount.
    assert rows(voucher) == [("SKU-1", 1, 100_000, 4_000, 9_600)]
    assert voucher["total_amount"] == 105_600
    assert voucher["org_refid"] == org_refid_for(COMPANY, "return:71", "1070000001", 0)
    assert voucher["org_refno"] == "#100123-TL71"
    assert voucher["refdate"] == voucher["posted_date"] == "2025-03-20 10:00:00"
    assert (voucher["account_object_code"], voucher["branch_id"]) == ("KH555", "b-hcm")
    (d,) = voucher["detail"]
    assert (d["debit_account"], d["credit_account"], d["vat_account"]) == ("5212", "1121", "33311")
    assert (d["stock_code"], d["cost_account"], d["stock_account"]) == ("KHO02", "632", "1561")
    assert voucher["is_return_with_inward"] is True
    inward = voucher["in_inward"]
    assert inward["refid"] == voucher["inward_refid"] and inward["reftype"] == convert.RETURN_INWARD_REFTYPE
    assert inward["voucher_type"] == 7 and inward["in_reforder"] == voucher["refdate"]
    assert "sai size" in voucher["journal_memo"]
    assert returned(order, 71) == voucher  # deterministic
    assert returned(order, 71, revision=1)["org_refid"] != voucher["org_refid"]


def test_a_later_refund_takes_what_is_left_then_the_shipping_then_the_goods_still_booked():
    order = paid_order(
        refund(71, lines=[(1, 1, True)], money=105_600),
        refund(72, lines=[(1, 1, False)], money=150_000, gateway="Tiền mặt", at="2025-03-21T03:00:00Z"),
    )
    voucher = returned(order, 72)
    assert_return_adds_up(voucher)
    # The last SKU-1 unit takes what is left of the line (105.600); 44.400 more: the shipping's 33.000
    # (30.000 + 3.000), then 11.400 on SKU-2, the only goods still booked (10.364 + 1.036).
    assert rows(voucher) == [
        ("SKU-1", 1, 100_000, 4_000, 9_600),
        ("PHIVANCHUYEN", 0, 30_000, 0, 3_000),
        ("SKU-2", 0, 10_364, 0, 1_036),
    ]
    assert voucher["total_amount"] == 150_000
    assert {d["credit_account"] for d in voucher["detail"]} == {"1111"}  # paid back from the till
    assert voucher["is_return_with_inward"] is False and "in_inward" not in voucher  # nothing restocked


def test_money_with_no_goods_is_shared_over_everything_booked():
    order = paid_order(refund(80, money=29_700, gateway=""))
    voucher = returned(order, 80)
    assert_return_adds_up(voucher)
    # 29.700 of 297.000 is a tenth of each line: 21.120, 5.280 and 3.300.
    assert rows(voucher) == [
        ("SKU-1", 0, 19_200, 0, 1_920),
        ("SKU-2", 0, 4_800, 0, 480),
        ("PHIVANCHUYEN", 0, 3_000, 0, 300),
    ]
    # a refund transaction that names no gateway (and no default gateway): owed back on the receivable
    assert {d["credit_account"] for d in voucher["detail"]} == {"131"}


def test_less_money_than_the_goods_is_the_truth():
    order = paid_order(refund(81, lines=[(1, 2, True), (2, 1, True)], money=200_000))
    voucher = returned(order, 81)
    assert_return_adds_up(voucher)
    # 200.000 shared 211.200 : 52.800 → 160.000 / 40.000
    assert [d["amount"] - d["discount_amount"] + d["vat_amount"] for d in voucher["detail"]] == [
        160_000,
        40_000,
    ]
    assert [d["quantity"] for d in voucher["detail"]] == [2, 1]


def test_restock_only_has_nothing_to_return_and_unknown_money_holds_the_refund():
    order = paid_order(refund(82, lines=[(1, 1, True)]))
    with pytest.raises(NothingToReturn, match="gives back no money"):
        returned(order, 82)
    unknown = paid_order(refund(83, lines=[(1, 1, True)], money=105_600, status="Đang chờ duyệt"))
    with pytest.raises(ConversionError, match="money given back is unknown") as caught:
        returned(unknown, 83)
    assert not isinstance(caught.value, NothingToReturn)
    assert "by hand" in caught.value.reason


def test_more_money_than_is_booked_and_too_many_units_are_refused():
    with pytest.raises(ConversionError, match="more than the sale's vouchers still book"):
        returned(paid_order(refund(84, money=297_001)), 84)
    # shipping left out of the books: the full refund gives back more than the vouchers booked
    left_out = Mapping(**{**DEMO.__dict__, "shipping": Shipping(mode="leave_out")})
    with pytest.raises(ConversionError, match="by hand"):
        returned(paid_order(refund(85, money=297_000)), 85, left_out)
    assert returned(paid_order(refund(86, money=264_000)), 86, left_out)["total_amount"] == 264_000
    twice = paid_order(
        refund(87, lines=[(2, 1, False)], money=52_800), refund(88, lines=[(2, 1, False)], money=1)
    )
    with pytest.raises(ConversionError, match="only 0 of 1 are left"):
        returned(twice, 88)


def test_a_combo_returns_its_components_and_a_sale_without_stock_receives_none():
    mapping = Mapping(**{**DEMO.__dict__, "documents": Documents(stock_issue=False)})
    order = make_order(
        [line(1, 300_000, 2, sku="COMBO1")],
        transactions=[capture(1, 600_000, "Bank transfer")],
        refunds=[refund(90, lines=[(1, 1, True)], money=300_000)],
    )
    voucher = returned(order, 90, mapping)
    assert_return_adds_up(voucher)
    # one combo = 2 × AO-1 and 1 × QUAN-1, its 300.000 split 240.000 / 60.000
    assert [(d["inventory_item_code"], d["quantity"]) for d in voucher["detail"]] == [
        ("AO-1", 2),
        ("QUAN-1", 1),
    ]
    assert [d["amount"] - d["discount_amount"] + d["vat_amount"] for d in voucher["detail"]] == [
        240_000,
        60_000,
    ]
    assert voucher["is_return_with_inward"] is False and {d["stock_code"] for d in voucher["detail"]} == {
        None
    }


def test_prices_without_vat_give_back_the_money_with_its_vat():
    order = make_order(
        [line(1, 100_000, 2)],
        taxes_included=False,
        total_tax=20_000,
        total=220_000,
        transactions=[capture(1, 220_000, "Bank transfer")],
        refunds=[refund(91, lines=[(1, 1, True)], money=110_000)],
    )
    voucher = returned(order, 91)
    assert_return_adds_up(voucher)
    assert rows(voucher) == [("SKU-1", 1, 100_000, 0, 10_000)]


def test_a_long_label_keeps_the_refno_within_twenty_characters():
    order = paid_order(refund(1234567890123, money=1_000), name="#1000000123")
    refno = returned(order, 1234567890123)["org_refno"]
    assert refno == "#1000000123-TL1" and len(refno) <= 20


def test_the_returns_policy_reads_defaults_and_round_trips():
    assert Mapping.from_dict({}).returns == Returns("voucher")
    manual = Mapping.from_dict({"returns": {"on_refund_after_generation": "manual"}})
    assert manual.returns.on_refund_after_generation == "manual"
    assert Mapping.from_dict(json.loads(json.dumps(manual.to_dict()))) == manual
    with pytest.raises(MappingError, match=r"returns\.on_refund_after_generation"):
        Mapping.from_dict({"returns": {"on_refund_after_generation": "later"}})
    assert Mapping.from_dict({}).accounts.sales_returns == "5212"


# --- generated orders and refunds -----------------------------------------------------------------------


@st.composite
def refunded(draw):
    """A generated paid order and a run of refunds that never give back more than was paid."""
    order, total, shipping = draw(generated())
    order["transactions"] = [capture(1, total, "Bank transfer")] if total else []
    left = {li["id"]: li["quantity"] for li in order["line_items"]}
    money_left = total
    refunds = []
    for n in range(draw(st.integers(1, 4))):
        lines = []
        for key, units in left.items():
            if units and draw(st.booleans()):
                back = draw(st.integers(1, units))
                lines.append((key, back, draw(st.booleans())))
                left[key] -= back
        money = draw(st.one_of(st.just(money_left), st.integers(0, money_left), st.integers(0, money_left)))
        money_left -= money
        refunds.append(refund(100 + n, lines=lines, money=money, at=f"2025-03-2{n}T03:00:00Z"))
    order["refunds"] = refunds
    return order, total, shipping


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(refunded(), sale_mappings)
def test_every_return_is_worth_the_money_given_back(case, mapping):
    order, total, shipping = case
    booked = total - (shipping if mapping.shipping.mode == "leave_out" else 0)
    sale = sale_of(order, mapping)
    given_back = 0
    for wanted in sale.refunds:
        money = int(wanted.money)
        if given_back + money > booked:
            with pytest.raises(ConversionError, match="more than"):
                refund_to_return(sale, wanted, mapping, COMPANY)
            return
        given_back += money
        if money == 0:
            with pytest.raises(NothingToReturn):
                refund_to_return(sale, wanted, mapping, COMPANY)
            continue
        voucher = refund_to_return(sale, wanted, mapping, COMPANY)
        assert_return_adds_up(voucher)
        assert voucher["total_amount"] == money
        assert voucher == refund_to_return(
            sale_of(json.loads(json.dumps(order)), mapping), wanted, mapping, COMPANY
        )
        codes = {d["inventory_item_code"] for d in voucher["detail"]}
        assert not codes & {"COMBO-A", "COMBO-B"}
        assert voucher["is_return_with_inward"] == any(d["stock_code"] for d in voucher["detail"])


# --- named customers as account objects -----------------------------------------------------------------


def test_a_named_customer_is_a_person_account_object():
    order = make_order([line(1, 1_100, 1)], email="lan@example.vn")
    order["billing_address"]["phone"] = "0901234567"
    (item,) = party_dictionary(sale_of(order), DEMO)
    assert item == {
        "dictionary_type": 1,
        "account_object_id": str(uuid.uuid5(convert.REFID_NAMESPACE, "amis|account_object|KH555")),
        "account_object_code": "KH555",
        "account_object_name": "Nguyễn Lan",
        "account_object_type": 1,
        "is_customer": True,
        "is_vendor": False,
        "is_employee": False,
        "address": item["address"],
        "company_tax_code": "",
        "receive_account": "131",
        "inactive": False,
        "branch_id": "b-hcm",
        "tel": item["tel"],
        "email_address": "lan@example.vn",
    }
    assert "12 Lê Lợi" in item["address"] and item["tel"] == "0901234567"
    assert item["account_object_id"] == convert.account_object_id("KH555")
    voucher = convert.sale_to_vouchers(sale_of(order), DEMO, COMPANY)[0]
    assert voucher["account_object_code"] == item["account_object_code"]


def test_a_vat_buyer_is_an_organisation_with_its_company_tax_code():
    sale = sale_of(make_order([line(1, 1_100, 1)], note_attributes=VAT_BUYER, customer=None))
    (item,) = party_dictionary(sale, DEMO)
    assert (item["account_object_code"], item["account_object_type"]) == ("MST0312345673", 0)
    assert item["company_tax_code"] == "0312345673" and "tax_code" not in item
    assert item["account_object_name"] == "Công ty TNHH Nhà sách Bình Minh"
    assert item["address"] == "77 Nguyễn Thị Minh Khai, Quận 1"
    assert (item["is_customer"], item["is_vendor"]) == (True, False)


def test_walk_in_and_channel_buyers_need_no_object_and_a_bad_tax_code_holds_the_sale():
    assert party_dictionary(sale_of(make_order([line(1, 1_100, 1)], customer=None)), DEMO) == []
    assert party_dictionary(sale_of(make_order([line(1, 1_100, 1)], source_name="shopee")), DEMO) == []
    attributes = [{"name": "vat_tax_code", "value": "0312345674"}, *VAT_BUYER[1:]]
    with pytest.raises(ConversionError, match="wrong check digit"):
        party_dictionary(sale_of(make_order([line(1, 1_100, 1)], note_attributes=attributes)), DEMO)
