"""A Haravan order → a Sale: what the reader promises every target, checked on orders by hand and on
generated ones against an independent oracle."""

import dataclasses
import datetime as dt
import json
import unicodedata
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.sale import BuyerFields, ReadOptions, Sale
from haravan.read import read_order, read_refund
from tests.support.oracles import largest_remainder


def _money_fields(sale: Sale):
    for line in sale.lines:
        yield from (line.unit_price, line.quantity, line.line_discount, line.order_discount)
    for charge in sale.charges:
        yield from (charge.amount, charge.discount)
    totals = dataclasses.asdict(sale.totals)
    yield from (v for k, v in totals.items() if k != "tax_on_top" and v is not None)


@st.composite
def haravan_orders(draw):
    """Orders as Haravan writes them (numbers as floats, strings or ints), and the total the buyer paid."""
    as_json = draw(st.sampled_from([float, str, int]))
    lines = []
    for i in range(draw(st.integers(0, 6))):
        price = draw(st.integers(0, 5_000_000))
        quantity = draw(st.integers(0, 40))
        discount = draw(st.integers(0, price * quantity))
        lines.append(
            {
                "id": 100 + i,
                "variant_id": 9000 + i,
                "sku": f"SKU-{i}",
                "title": "Hàng",
                "price": as_json(price),
                "quantity": quantity,
                "total_discount": as_json(discount),
            }
        )
    goods = [
        li["quantity"] * int(Decimal(str(li["price"]))) - int(Decimal(str(li["total_discount"])))
        for li in lines
    ]
    codes, taken = [], 0
    for kind in draw(st.lists(st.sampled_from(["fixed_amount", "percentage"]), max_size=2)):
        amount = draw(st.integers(0, max(0, sum(goods) - taken)))
        codes.append({"code": kind.upper(), "type": kind, "amount": as_json(amount)})
        taken += amount
    shipping = [
        {"code": "GHN", "title": "GHN", "price": as_json(p)}
        for p in draw(st.lists(st.integers(0, 90_000), max_size=2))
    ]
    charged = sum(int(Decimal(str(s["price"]))) for s in shipping)
    ship_off = draw(st.integers(0, charged)) if charged and draw(st.booleans()) else 0
    if ship_off:
        codes.append({"code": "FREESHIP", "type": "shipping", "amount": as_json(ship_off)})
    paid = sum(goods) - taken + charged - ship_off
    order = {
        "id": 1_070_000_001,
        "name": "#100123",
        "currency": "VND",
        "line_items": lines,
        "discount_codes": codes,
        "shipping_lines": shipping,
        "total_price": as_json(paid),
        "total_tax": 0,
    }
    return order, paid


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(haravan_orders())
def test_a_consistent_order_reads_to_a_sale_that_adds_up_to_the_dong(generated):
    order, paid = generated
    sale = read_order(order)
    assert sale.problems == () and sale.adds_up
    assert sale.totals.paid == paid
    assert all(type(value) is Decimal for value in _money_fields(sale))
    assert all(value == value.to_integral_value() for value in _money_fields(sale))
    # lines + charges − discounts = what the buyer paid, to the đồng
    made = sum(li.amount for li in sale.lines) + sum(c.net for c in sale.charges)
    assert made == paid
    # every allocation sums exactly, and matches the independent oracle share for share
    sold = [li for li in order["line_items"] if li["quantity"]]
    weights = [
        li["quantity"] * int(Decimal(str(li["price"]))) - int(Decimal(str(li["total_discount"])))
        for li in sold
    ]
    goods_codes = sum(
        int(Decimal(str(c["amount"]))) for c in order["discount_codes"] if c["type"] != "shipping"
    )
    assert [int(li.order_discount) for li in sale.lines] == largest_remainder(goods_codes, weights)
    charged = [c for c in sale.charges if c.amount]
    ship_codes = sum(
        int(Decimal(str(c["amount"]))) for c in order["discount_codes"] if c["type"] == "shipping"
    )
    assert [int(c.discount) for c in charged] == largest_remainder(
        ship_codes, [int(c.amount) for c in charged]
    )
    assert [li.key for li in sale.lines] == [str(li["id"]) for li in sold]  # zero-unit lines sold nothing
    assert read_order(json.loads(json.dumps(order))) == sale  # deterministic, whatever the JSON spelling


@settings(max_examples=200, deadline=None)
@given(haravan_orders(), st.integers(1, 10_000))
def test_an_order_whose_total_is_off_never_adds_up(generated, off):
    order, paid = generated
    order["total_price"] = paid + off
    sale = read_order(order)
    assert not sale.adds_up
    assert sum(li.order_discount for li in sale.lines) == sale.totals.order_discounts  # still exact


@settings(max_examples=150, deadline=None)
@given(haravan_orders(), st.integers(0, 10))
def test_prices_without_vat_add_up_with_the_tax_on_top(generated, percent):
    order, paid = generated
    tax = paid * percent // 100
    order.update(total_price=paid + tax, total_tax=tax, taxes_included=False)
    sale = read_order(order)
    assert not sale.prices_include_tax and sale.totals.tax_on_top
    assert sale.adds_up and sale.totals.computed(with_tax=True) == paid + tax


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "line_items": _json,
            "discount_codes": _json,
            "shipping_lines": _json,
            "total_price": _json,
            "total_tax": _json,
            "refunds": _json,
            "currency": st.sampled_from(["VND", "USD", "", None]),
            "note_attributes": _json,
            "customer": _json,
        },
    )
)
def test_anything_shaped_like_an_order_reads_without_an_exception(order):
    """What cannot be read becomes a problem in words: never a crash, never a sale that claims to add up."""
    order.setdefault("id", 1)
    sale = read_order(order)
    for problem in sale.problems:
        assert problem.english() and "%(" not in problem.english()
    if sale.problems:
        assert not sale.adds_up


def test_discounts_are_shared_to_the_cent_in_a_currency_with_cents():
    order = {
        "id": 8,
        "currency": "USD",
        "total_price": "17.49",
        "line_items": [
            {"id": 1, "price": "10.00", "quantity": 1},
            {"id": 2, "price": "10.00", "quantity": 1},
        ],
        "discount_codes": [{"type": "fixed_amount", "amount": "2.51"}],
    }
    sale = read_order(order)
    assert sale.problems == () and sale.adds_up
    assert [line.order_discount for line in sale.lines] == [Decimal("1.26"), Decimal("1.25")]


def test_a_problem_names_the_haravan_field_in_reading_order():
    order = {
        "id": 7,
        "name": "#7",
        "total_price": "abc",
        "line_items": [{"id": 1, "price": 100, "quantity": 1.5}],
        "discount_codes": [{"type": "bogus", "amount": 1}],
    }
    sale = read_order(order)
    assert [p.english() for p in sale.problems] == [
        "order #7: total_price: 'abc' is not an amount",
        "order #7: line_items[0].quantity: 1.5 is not a whole, non-negative quantity",
        "order #7: discount_codes[0]: unknown discount type 'bogus'",
    ]
    assert sale.paid_problem.english() == "total_price: 'abc' is not an amount"


# --- refunds: goods and money kept apart --------------------------------------------------------------


def _returned_order(refunds):
    return {
        "id": 5,
        "name": "#5",
        "total_price": 45_000_000,
        "line_items": [{"id": 11, "price": 15_000_000, "quantity": 3, "title": "Laptop"}],
        "refunds": refunds,
    }


def test_a_restock_without_money_and_money_without_a_restock_stay_apart():
    """Haravan's own example: two restock-only refunds (1 and 2 units), then one refund of money alone."""
    restock_one = {
        "id": 1,
        "created_at": "2025-03-01T10:00:00Z",
        "restock": True,
        "refund_line_items": [{"line_item_id": 11, "quantity": 1, "restock_type": "return"}],
        "transactions": [],
    }
    restock_two = {**restock_one, "id": 2, "refund_line_items": [{"line_item_id": 11, "quantity": 2}]}
    money_only = {
        "id": 3,
        "created_at": "2025-03-02T10:00:00Z",
        "refund_line_items": [],
        "transactions": [{"kind": "refund", "status": "success", "amount": "-1500000", "gateway": "COD"}],
    }
    sale = read_order(_returned_order([money_only, restock_two, restock_one]))
    first, second, third = sale.refunds  # oldest first, same second by id
    assert [r.key for r in sale.refunds] == ["1", "2", "3"]
    assert first.money == 0 and [(li.line_key, li.quantity) for li in first.lines] == [("11", 1)]
    assert first.lines[0].restock and second.lines[0].restock  # the refund's own "restock": true
    assert second.money == 0 and second.lines[0].quantity == 2
    assert third.lines == () and third.money == Decimal(1_500_000)
    assert third.payments[0].amount == Decimal(1_500_000) and third.payments[0].gateway == "COD"


def test_only_successful_refund_transactions_return_money_in_either_language():
    refund = {
        "id": 9,
        "refund_line_items": [],
        "transactions": [
            {"kind": "refund", "status": "failure", "amount": -500},
            {"kind": "refund", "status": "error", "amount": -700},
            {"kind": "refund", "status": "Thất bại", "amount": -800},
            {"kind": "refund", "status": "pending", "amount": -1000},
            {"kind": "sale", "status": "success", "amount": 900},
            {"kind": "refund", "status": "success", "amount": -300},
            {"kind": "refund", "status": "Thành công", "amount": -20},
            {"kind": "Refund", "status": "SUCCESS", "amount": 4},
        ],
    }
    read = read_refund(refund, label="#5", goods_keys=["11"])
    assert read.money == Decimal(324) and read.problem is None
    assert [p.succeeded for p in read.payments] == [False, False, False, False, True, True, True]


def test_decomposed_vietnamese_status_is_still_a_success():
    status = unicodedata.normalize("NFD", "Thành Công")
    refund = {"id": 9, "transactions": [{"kind": "refund", "status": status, "amount": -5}]}
    assert read_refund(refund, label="#5", goods_keys=[]).money == 5


@pytest.mark.parametrize(
    "transactions, problem",
    [
        (
            [{"kind": "refund", "status": "reversed", "amount": -5}],
            "order #5: refund 9.transactions[0] has the status “reversed”, which says neither success nor "
            "failure: the money given back is unknown",
        ),
        (
            [{"kind": "refund", "amount": -5}],
            "order #5: refund 9.transactions[0] has the status “”, which says neither success nor failure: "
            "the money given back is unknown",
        ),
        (None, "order #5: refund 9 does not list its transactions: the money given back is unknown"),
        ("x", "order #5: refund 9.transactions is not a list"),
    ],
)
def test_money_we_cannot_read_is_unknown_never_zero(transactions, problem):
    refund = {"id": 9, "refund_line_items": [{"line_item_id": 11, "quantity": 1}]}
    if transactions is not None:
        refund["transactions"] = transactions
    read = read_refund(refund, label="#5", goods_keys=["11"])
    assert read.money is None and read.problem.english() == problem


def test_a_refund_of_a_line_not_on_the_order_is_a_problem_of_that_line():
    refund = {"id": 9, "refund_line_items": [{"line_item_id": 99, "quantity": 1}, "x"]}
    first, second = read_refund(refund, label="#5", goods_keys=["11"]).lines
    assert first.problem.english() == "order #5: refund 9 returns line item 99, which is not on the order"
    assert second.problem.english() == "order #5: refund 9.refund_line_items[1] is not an object"


# --- the buyer ----------------------------------------------------------------------------------------


def test_the_vat_buyer_comes_from_the_note_attributes_the_shop_named():
    order = {
        "id": 1,
        "note_attributes": [
            {"name": " MST ", "value": " 0101 243 150 "},
            {"name": "Ten_Cong_Ty", "value": "Công ty Cổ phần MISA"},
            {"name": "dia_chi", "value": "Tầng 9, Duy Tân, Hà Nội"},
            {"name": "hd_email", "value": "ketoan@misa.vn"},
        ],
        "billing_address": {"name": "Trần Bình", "company": "Other", "address1": "1 Lê Lợi", "phone": "0901"},
        "customer": {"id": 42, "email": "binh@example.vn"},
    }
    fields = BuyerFields(tax_code="mst", legal_name="ten_cong_ty", address="dia_chi", email="hd_email")
    buyer = read_order(order, ReadOptions(buyer=fields)).buyer
    assert (buyer.tax_code, buyer.legal_name, buyer.address) == (
        "0101243150",
        "Công ty Cổ phần MISA",
        "Tầng 9, Duy Tân, Hà Nội",
    )
    assert (buyer.name, buyer.phone, buyer.code, buyer.email) == ("Trần Bình", "0901", "42", "ketoan@misa.vn")
    assert buyer.is_company and buyer.origin["tax_code"] == "mst"


def test_a_person_is_billed_at_their_address_and_the_customer_list_fills_contact_details():
    order = {
        "id": 1,
        "shipping_address": {"address1": "5 Hàng Bài", "province": "Hà Nội"},
        "customer": {"id": 42, "first_name": "Lan", "last_name": "Nguyễn"},
        "email": "not an e-mail",
    }
    profile = SimpleNamespace(email="lan@example.vn", phone="0912")
    buyer = read_order(order, profile=profile).buyer
    assert not buyer.is_company
    assert (buyer.name, buyer.address, buyer.email, buyer.phone) == (
        "Nguyễn Lan",
        "5 Hàng Bài, Hà Nội",
        "lan@example.vn",
        "0912",
    )


def test_the_catalogue_gives_lines_their_unit_type_vendor_and_tags():
    item = SimpleNamespace(unit="Hộp", product_type="Trà", vendor="Phúc Long", tags=["tra", "ĐVT:Hộp"])
    order = {
        "id": 1,
        "total_price": 100,
        "line_items": [{"id": 1, "variant_id": 71, "price": 100, "quantity": 1, "title": "Trà"}],
    }
    (line,) = read_order(order, catalogue={"71": item}).lines
    assert (line.unit, line.product_type, line.vendor, line.tags) == (
        "Hộp",
        "Trà",
        "Phúc Long",
        ("tra", "ĐVT:Hộp"),
    )
    assert line.item_code == "71" and line.item_id == "71"


def test_status_dates_and_routing_facts():
    order = {
        "id": 1,
        "name": "#1",
        "financial_status": "paid",
        "fulfillment_status": "fulfilled",
        "source_name": "shopee",
        "cancelled_status": "cancelled",
        "created_at": "2026-11-20T10:00:00Z",
        "location_id": 1002,
        "landing_site": "https://shop.example.vn/products/x",
        "gateway_code": "COD",
        "shipping_lines": [{"code": "GHN", "title": "Giao Hàng Nhanh", "price": 0}],
    }
    sale = read_order(order)
    assert (sale.status.payment, sale.status.fulfillment, sale.status.channel) == (
        "paid",
        "fulfilled",
        "shopee",
    )
    assert sale.status.cancelled and sale.cancelled_at is None  # cancelled by status, no date given
    assert sale.created_at == dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    assert sale.routing["location"] == ("1002",) and sale.routing["storefront"] == ("shop.example.vn",)
    assert sale.routing["carrier"] == ("GHN", "Giao Hàng Nhanh") and sale.routing["gateway"] == ("COD",)
