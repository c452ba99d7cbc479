"""The AMIS simulator's stock: the product's stock vouchers are accepted (18/302, 7, 8, the transfer and the
purchase return), what a real AMIS would refuse is refused (unknown warehouse or item, a quantity that is
not a positive number), generated vouchers move per item × warehouse balances, and
``get_list_inventory_balance`` reads them page by page, by warehouse and branch."""

import copy
import datetime as dt
import json
from decimal import Decimal

import pytest

from amis.mapping import Mapping
from amis.stock_convert import stock_to_vouchers
from connectors import stock
from connectors.stock import StockDocument, StockLine, Supplier

from .amis_helpers import sale

AT = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)


def mapping(**stock_settings):
    return Mapping.from_dict(
        {
            "locations": {"1001": {"stock_code": "KHO01"}, "1002": {"stock_code": "KHO02"}},
            "stock": stock_settings,
        }
    )


def doc(kind, *lines, **kw):
    return StockDocument(
        kind=kind,
        source_id=kw.pop("source_id", "1"),
        number=kw.pop("number", "D1"),
        status=stock.DONE,
        status_words="done",
        at=AT,
        location=kw.pop("location", "1001"),
        lines=tuple(StockLine(sku=s, name=s, quantity=Decimal(q), amount=a) for s, q, a in lines),
        **kw,
    )


def vouchers(document, settings=None, **kw):
    converted = stock_to_vouchers(document, settings or mapping(), "demo-hanoi", **kw)
    return [v.voucher for v in converted.vouchers], list(converted.dictionary)


def balances(amis, company="demo-hanoi", **body):
    resp = amis.call("get_list_inventory_balance", {"skip": 0, "take": 100, **body}, company)
    assert resp.status == 200 and resp.json()["Success"] is True, resp.json()
    data = resp.json()["Data"]
    return json.loads(data) if isinstance(data, str) else data


def on_hand(amis, company="demo-hanoi"):
    return {
        (r["inventory_item_code"], r["stock_code"]): r["quantity_balance"] for r in balances(amis, company)
    }


def save_and_generate(amis, saved, dictionary=(), company="demo-hanoi"):
    resp = amis.save(saved, company, dictionary=list(dictionary))
    assert resp.json()["Success"] is True, resp.json()
    assert amis.control("POST", "generate", {"company": company}).status == 200


def refused(amis, saved, dictionary=()):
    body = amis.save(saved, dictionary=list(dictionary)).json()
    assert body["Success"] is False, body
    return body["ErrorMessage"]


def test_each_stock_voucher_is_accepted_and_moves_stock_once_generated(amis):
    supplier = Supplier(key="77", name="Công ty May Việt")
    received, dictionary = vouchers(
        doc(
            stock.PURCHASE_RECEIVE,
            ("SKU-AO-01", 10, Decimal(900000)),
            ("SKU-MU-03", 4, Decimal(200000)),
            supplier=supplier,
        )
    )
    assert received[0]["voucher_type"] == 18 and received[0]["reftype"] == 302
    save_and_generate(amis, received, dictionary)  # the supplier comes in the same save
    assert on_hand(amis) == {("SKU-AO-01", "KHO01"): 10, ("SKU-MU-03", "KHO01"): 4}

    returned, dictionary = vouchers(
        doc(stock.PURCHASE_RETURN, ("SKU-AO-01", 1, Decimal(90000)), source_id="2", supplier=supplier)
    )
    save_and_generate(amis, returned, dictionary)
    as_voucher, _ = vouchers(
        doc(stock.PURCHASE_RETURN, ("SKU-AO-01", 1, Decimal(90000)), source_id="3", supplier=supplier),
        mapping(return_style="voucher"),
    )
    assert (as_voucher[0]["voucher_type"], as_voucher[0]["reftype"]) == (16, 3030)
    save_and_generate(amis, as_voucher, dictionary)
    assert on_hand(amis)[("SKU-AO-01", "KHO01")] == 8

    adjusted, _ = vouchers(
        doc(
            stock.ADJUSTMENT,
            ("SKU-AO-01", -2, Decimal(-180000)),
            ("SKU-QUAN-02", 3, Decimal(600000)),
            source_id="4",
            reason="damaged",
        )
    )
    assert sorted(v["voucher_type"] for v in adjusted) == [7, 8]
    save_and_generate(amis, adjusted)
    moved, _ = vouchers(doc(stock.TRANSFER, ("SKU-AO-01", 5, None), source_id="5", to_location="1002"))
    assert (moved[0]["voucher_type"], moved[0]["reftype"]) == (9, 2030)
    save_and_generate(amis, moved)
    pair, _ = vouchers(
        doc(stock.TRANSFER, ("SKU-MU-03", 1, Decimal(50000)), source_id="6", to_location="1002"),
        mapping(transfer_style="issue_receipt"),
    )
    save_and_generate(amis, pair)
    assert on_hand(amis) == {
        ("SKU-AO-01", "KHO01"): 1,
        ("SKU-AO-01", "KHO02"): 5,
        ("SKU-MU-03", "KHO01"): 3,
        ("SKU-MU-03", "KHO02"): 1,
        ("SKU-QUAN-02", "KHO01"): 3,
    }


def test_a_proposal_moves_nothing_until_generated_and_a_sale_with_its_issue_moves_stock_out(amis, amis_sim):
    amis_sim.set_balance("demo-hanoi", "SKU-AO-01", "KHO01", 7)
    adjusted, _ = vouchers(doc(stock.ADJUSTMENT, ("SKU-AO-01", 3, Decimal(3)), reason="newproduct"))
    assert amis.save(adjusted).json()["Success"] is True
    assert on_hand(amis) == {("SKU-AO-01", "KHO01"): 7}
    outward = sale("S1", is_sale_with_outward=True, in_outward={"reftype": 2020, "voucher_type": 8})
    assert amis.save([outward]).json()["Success"] is True
    assert amis.control("POST", "generate", {"company": "demo-hanoi"}).status == 200
    assert on_hand(amis) == {("SKU-AO-01", "KHO01"): 8}  # 7 + 3 − 2
    assert on_hand(amis, "demo-hcm") == {}  # another company's stock is its own


def _adjustment():
    return vouchers(doc(stock.ADJUSTMENT, ("SKU-AO-01", 2, Decimal(200000))))[0]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda line: line.update(stock_code="KHO99"), "Mã kho KHO99"),
        (lambda line: line.update(stock_code=None), "thiếu stock_code"),
        (lambda line: line.update(inventory_item_code="NOSKU"), "Mã hàng NOSKU"),
        (lambda line: line.update(quantity=0, amount=0), "quantity phải là số dương"),
        (
            lambda line: line.update(quantity=-2, amount=-200000, unit_price=100000),
            "quantity phải là số dương",
        ),
        (lambda line: line.update(quantity="hai"), "quantity không phải là số"),
        (lambda line: line.update(quantity=True), "quantity"),
        (lambda line: line.update(quantity=3), "amount 200000 khác quantity × unit_price"),
    ],
)
def test_stock_lines_are_refused_as_amis_refuses_them(amis, mutate, needle):
    (voucher,) = _adjustment()
    mutate(voucher["detail"][0])
    assert needle in refused(amis, [voucher])
    assert amis.control("GET", "proposals", query={"company": "demo-hanoi"}).json()["count"] == 0


def test_an_item_or_a_warehouse_created_in_the_same_save_is_known(amis):
    (voucher,) = _adjustment()
    voucher["detail"][0].update(inventory_item_code="SKU-NEW", stock_code="KHO09")
    assert "Mã hàng SKU-NEW" in refused(amis, [copy.deepcopy(voucher)])
    dictionary = [
        {
            "dictionary_type": 3,
            "inventory_item_code": "SKU-NEW",
            "inventory_item_name": "Mới",
            "unit_name": "Cái",
        },
        {"dictionary_type": 5, "stock_code": "KHO09", "stock_name": "Kho 9"},
    ]
    save_and_generate(amis, [voucher], dictionary)
    assert on_hand(amis) == {("SKU-NEW", "KHO09"): 2}


def test_a_transfer_names_two_different_known_warehouses_and_a_purchase_on_credit_credits_the_payable(amis):
    (moved,), _ = vouchers(doc(stock.TRANSFER, ("SKU-AO-01", 1, None), to_location="1002"))
    same = copy.deepcopy(moved)
    for line in same["detail"]:
        line["to_stock_code"] = "KHO01"
    assert "trùng nhau" in refused(amis, [same])
    unknown = copy.deepcopy(moved)
    unknown["detail"][0]["to_stock_code"] = "KHO77"
    assert "Mã kho KHO77" in refused(amis, [unknown])
    (bought,), dictionary = vouchers(
        doc(stock.PURCHASE_RECEIVE, ("SKU-AO-01", 1, Decimal(5)), supplier=Supplier(key="8", name="B"))
    )
    bought["detail"][0]["credit_account"] = "1111"
    assert "331" in refused(amis, [bought], dictionary)
    bought["detail"][0]["credit_account"] = "331"
    bought.pop("account_object_code")
    assert "account_object_code" in refused(amis, [bought], dictionary)


def test_the_balance_pages_by_100_and_filters_by_warehouse_and_branch(amis, amis_sim):
    for n in range(130):
        amis_sim.set_balance("demo-hanoi", f"SKU-{n:03d}", "KHO01" if n % 2 else "KHO02", n + 1)
    first = balances(amis, take=500)
    assert len(first) == 100  # a take above 100 is cut to 100
    second = balances(amis, skip=100, take=100)
    assert len(second) == 30
    assert {r["inventory_item_code"] for r in first}.isdisjoint(r["inventory_item_code"] for r in second)
    kho01 = next(r for r in first if r["stock_code"] == "KHO01")
    only = balances(amis, stock_id=kho01["stock_id"], take=100)
    assert {r["stock_code"] for r in only} == {"KHO01"} and len(only) == 65
    assert balances(amis, branch_id="00000000-0000-0000-0000-000000000000") == []
    assert len(balances(amis, branch_id=kho01["branch_id"], take=100)) == 100
    assert set(kho01) >= {"inventory_item_code", "stock_id", "stock_code", "quantity_balance"}
    body = amis.call("get_list_inventory_balance", {"skip": -1, "take": 10}).json()
    assert body["Success"] is False and body["ErrorCode"] == "InvalidParam"


def test_the_balance_control_sets_and_lists(amis):
    resp = amis.control(
        "POST", "balance", {"company": "demo-hcm", "item": "SKU-AO-01", "stock": "KHO02", "quantity": "4.5"}
    )
    assert resp.status == 200
    assert resp.json()["balances"] == [{"item": "SKU-AO-01", "stock": "KHO02", "quantity": "4.5"}]
    assert on_hand(amis, "demo-hcm") == {("SKU-AO-01", "KHO02"): 4.5}
    assert amis.control("POST", "balance", {"company": "demo-hcm", "item": "X"}).status == 400
    listed = amis.control("GET", "balance", query={"company": "demo-hcm"}).json()
    assert listed["company"] == "demo-hcm" and len(listed["balances"]) == 1
