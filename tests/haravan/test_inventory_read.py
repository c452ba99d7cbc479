"""Reading Haravan's inventory documents (haravan.inventory): golden documents in the reference's shapes, and
Hypothesis properties against an oracle computed from the raw integers (never from the reader's own sums)."""

import datetime as dt
import unicodedata
from decimal import Decimal

from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import stock
from connectors.text import english
from haravan import inventory

RECEIVE = {
    "id": 2400000001,
    "receive_number": "IR100012",
    "ref_number": "HD-7781",
    "ref_purchase_order_id": 2300000001,
    "ref_purchase_order": {"id": 2300000001, "purchase_number": "PO100001"},
    "status": "Đã nhập hàng",
    "received_at": "2026-11-20T03:15:00.000Z",
    "total": 12,
    "total_cost": 2_030_000.0,
    "tags": "",
    "notes": "Hàng về đợt 2",
    "supplier": {
        "id": 3000001,
        "name": "Công ty TNHH Dệt May Phương Nam",
        "supplier_name": "Dệt May Phương Nam",
        "phone": "02838123456",
        "email": "banhang@phuongnam-textile.vn",
        "address": "120 Lý Thường Kiệt",
        "ward": "Phường 14",
        "district": "Quận 10",
        "province": "Hồ Chí Minh",
    },
    "location": {"id": 1002, "name": "Chi nhánh Hồ Chí Minh", "type": "default", "is_primary": False},
    "line_items": [
        {
            "id": 1,
            "product_id": 1000000101,
            "product_variant_id": 1010000001,
            "product_name": "Áo sơ mi nam Oxford",
            "variant_title": "S",
            "sku": "ASM-OX-S",
            "original_cost": 200000.0,
            "discount_amount": 20000.0,
            "cost": 180000.0,
            "quantity": 10,
            "total_cost": 1800000.0,
            "variant_unit": {"unit": "Cái", "base": True, "ratio": 1},
            "lots": [{"lot_no": "L1", "expire_date": "2027-01-01T00:00:00Z", "quantity": 10}],
        },
        {
            "id": 2,
            "product_variant_id": 1010000004,
            "sku": "ATN-CT-TRANG",
            "product_name": "Áo thun nữ cotton",
            "variant_title": "Trắng",
            "original_cost": 115000,
            "discount_amount": 0,
            "cost": 115000,
            "quantity": 2,
            "total_cost": 230000,
            "variant_unit": {"unit": "Thùng", "base": False, "ratio": 10},
            "lots": [],
        },
    ],
    "created_at": "2026-11-20T02:00:00.000Z",
    "updated_at": "2026-11-20T03:15:00.000Z",
}


def words(doc):
    with translation.override("en"):
        return [english(p) for p in doc.problems]


def test_a_received_receive_reads_at_cost_after_discount():
    doc = inventory.read_document(RECEIVE)
    assert words(doc) == []
    assert (doc.kind, doc.number, doc.status, doc.status_words) == (
        stock.PURCHASE_RECEIVE,
        "IR100012",
        stock.DONE,
        "Đã nhập hàng",
    )
    assert doc.at == dt.datetime(2026, 11, 20, 3, 15, tzinfo=dt.UTC)
    assert (doc.location, doc.location_name) == ("1002", "Chi nhánh Hồ Chí Minh")
    assert (doc.refers_to, doc.refers_to_number, doc.reference) == ("2300000001", "PO100001", "HD-7781")
    assert doc.supplier == stock.Supplier(
        key="3000001",
        name="Công ty TNHH Dệt May Phương Nam",
        phone="02838123456",
        email="banhang@phuongnam-textile.vn",
        address="120 Lý Thường Kiệt, Phường 14, Quận 10, Hồ Chí Minh",
    )
    shirt, tee = doc.lines
    assert (shirt.sku, shirt.quantity, shirt.unit_cost, shirt.amount, shirt.unit) == (
        "ASM-OX-S",
        Decimal(10),
        Decimal(180000),
        Decimal(1800000),
        "",
    )
    assert shirt.lots == (("L1", "2027-01-01", Decimal(10)),)
    assert (tee.unit, tee.amount, tee.item_id) == ("Thùng", Decimal(230000), "1010000004")
    assert doc.total_cost == Decimal(2030000) and doc.total_quantity == Decimal(12)


def test_a_returns_status_3_and_its_words_read_the_same():
    base = {
        **RECEIVE,
        "return_number": "PR100003",
        "ref_receive_id": 2400000001,
        "returned_at": RECEIVE["received_at"],
    }
    del base["receive_number"]
    listed = inventory.read_document({**base, "status": "3"})
    detailed = inventory.read_document({**base, "status": "Đã xuất trả"})
    assert listed.kind == stock.PURCHASE_RETURN
    assert (
        (listed.status, listed.status_words)
        == (detailed.status, detailed.status_words)
        == (stock.DONE, "Đã xuất trả")
    )
    assert detailed.refers_to == "2400000001"


def test_statuses_are_normalised_and_an_unknown_one_is_a_problem():
    decomposed = unicodedata.normalize("NFD", "  đã  NHẬP hàng ")
    assert inventory.read_document({**RECEIVE, "status": decomposed}).status == stock.DONE
    assert inventory.read_document({**RECEIVE, "status": "Nháp", "received_at": None}).at is None
    assert inventory.read_document({**RECEIVE, "status": "Đã huỷ"}).status == stock.CANCELLED
    odd = inventory.read_document({**RECEIVE, "status": "Chờ duyệt"})
    assert odd.status_words == "Chờ duyệt" and any("Chờ duyệt" in w for w in words(odd))


TRANSFER = {
    "id": 2200000001,
    "transfer_number": "IT100001",
    "from_loc_id": 1001,
    "to_loc_id": 1002,
    "from_location": {"id": 1001, "name": "Chi nhánh Hà Nội"},
    "to_location": {"id": 1002, "name": "Chi nhánh Hồ Chí Minh"},
    "reason": "bổ sung hàng",
    "status": "Active",
    "actived_at": "2026-11-20T01:00:00Z",
    "received_at": None,
    "total": 7,
    "line_items": [
        {"id": 9, "product_variant_id": 1010000001, "sku": "ASM-OX-S", "quantity": 7, "product_name": "Áo"}
    ],
    "updated_at": "2026-11-20T01:00:00Z",
}


def test_a_transfer_in_transit_then_received():
    active = inventory.read_document(TRANSFER)
    assert words(active) == []
    assert (active.status, active.location, active.to_location) == (stock.IN_TRANSIT, "1001", "1002")
    assert (active.location_name, active.to_location_name) == ("Chi nhánh Hà Nội", "Chi nhánh Hồ Chí Minh")
    assert active.at == dt.datetime(2026, 11, 20, 1, tzinfo=dt.UTC)
    assert active.lines[0].unit_cost is None and active.lines[0].amount is None and active.total_cost is None
    received = inventory.read_document(
        {**TRANSFER, "status": "Received", "received_at": "2026-11-21T08:00:00Z"}
    )
    assert (received.status, received.at.day) == (stock.DONE, 21)
    assert inventory.routing_facts(TRANSFER) == {"location": ["1001"]}


def test_an_adjustment_keeps_signs_and_the_reason():
    raw = {
        "id": 2100000001,
        "adjust_number": "IA100017",
        "tran_date": "2026-11-19T09:00:00Z",
        "location_id": 1001,
        "type": "set",
        "reason": "damaged",
        "total_quantity": -9,
        "total_cost": -1_010_000,
        "line_items": [
            {"product_variant_id": 1, "sku": "A", "quantity": -11, "cost_amount": -1_320_000},
            {"product_variant_id": 2, "sku": "B", "quantity": 2, "cost_amount": 310_000},
        ],
    }
    doc = inventory.read_document(raw)
    assert words(doc) == []
    assert (doc.kind, doc.status, doc.reason, doc.adjustment_type) == (
        stock.ADJUSTMENT,
        stock.DONE,
        "damaged",
        "set",
    )
    assert [(line.quantity, line.amount, line.unit_cost) for line in doc.lines] == [
        (Decimal(-11), Decimal(-1320000), Decimal(120000)),
        (Decimal(2), Decimal(310000), Decimal(155000)),
    ]
    assert [line.sku for line in doc.decreases] == ["A"] and [line.sku for line in doc.increases] == ["B"]


def test_what_cannot_be_read_is_named_and_nothing_raises():
    broken = {
        **RECEIVE,
        "line_items": [
            {**RECEIVE["line_items"][0], "sku": ""},
            {**RECEIVE["line_items"][0], "quantity": "mười"},
            {**RECEIVE["line_items"][0], "total_cost": 1},
        ],
    }
    found = words(inventory.read_document(broken))
    assert any("no SKU" in w for w in found)
    assert any("quantity is not a number: mười" in w for w in found)
    assert any("total_cost 1 is not cost × quantity" in w for w in found)
    assert words(inventory.read_document({**RECEIVE, "line_items": None})) == [
        "The document came without its lines (line_items is null)."
    ]
    assert inventory.read_document({"id": 1}).problems
    assert inventory.read_document(["not", "a", "dict"]).problems


# --- properties ------------------------------------------------------------------------------------------

costs = st.integers(min_value=0, max_value=50_000_000)
receive_lines = st.lists(
    st.tuples(st.integers(min_value=1, max_value=5000), costs, st.integers(min_value=0, max_value=100)),
    min_size=1,
    max_size=12,
)


def receive_of(lines, *, float_money=True):
    """A receive built from (quantity, original cost, discount percent) triples."""
    items, total = [], 0
    for n, (quantity, original, percent) in enumerate(lines):
        discount = original * percent // 100
        cost = original - discount
        total += cost * quantity
        money = float if float_money else int
        items.append(
            {
                "id": n,
                "sku": f"SKU-{n}",
                "product_variant_id": 100 + n,
                "quantity": quantity,
                "original_cost": money(original),
                "discount_amount": money(discount),
                "cost": money(cost),
                "total_cost": money(cost * quantity),
            }
        )
    return {
        **RECEIVE,
        "line_items": items,
        "total_cost": float(total),
        "total": sum(q for q, _o, _p in lines),
    }, total


@settings(max_examples=200, deadline=None)
@given(receive_lines, st.booleans())
def test_receive_amounts_add_up_to_the_stated_total(lines, float_money):
    raw, oracle_total = receive_of(lines, float_money=float_money)
    doc = inventory.read_document(raw)
    assert doc.problems == ()
    assert sum(line.amount for line in doc.lines) == Decimal(oracle_total) == doc.total_cost
    for line, (quantity, original, percent) in zip(doc.lines, lines, strict=True):
        assert line.unit_cost == original - original * percent // 100
        assert line.amount == line.unit_cost * quantity


@settings(max_examples=100, deadline=None)
@given(receive_lines, st.integers(min_value=-10_000_000, max_value=10_000_000).filter(bool))
def test_a_total_that_does_not_add_up_is_held(lines, off_by):
    raw, oracle_total = receive_of(lines)
    doc = inventory.read_document({**raw, "total_cost": float(oracle_total + off_by)})
    assert [w for w in words(doc) if "total_cost says" in w] and len(doc.problems) == 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-500, max_value=500).filter(bool), st.integers(0, 2_000_000), st.booleans()
        ),
        min_size=1,
        max_size=10,
    )
)
def test_adjustment_amounts_follow_their_quantities_sign(lines):
    """Whether Haravan writes ``cost_amount`` signed or not, the amount has the quantity's sign."""
    items = [
        {"sku": f"S{n}", "quantity": q, "cost_amount": (q * c if signed else abs(q) * c)}
        for n, (q, c, signed) in enumerate(lines)
    ]
    oracle = sum(q * c for q, c, _s in lines)
    doc = inventory.read_document(
        {
            "id": 1,
            "adjust_number": "IA1",
            "location_id": 1001,
            "reason": "shrinkage",
            "total_cost": oracle,
            "line_items": items,
        }
    )
    assert doc.problems == ()
    assert sum(line.amount for line in doc.lines) == oracle
    assert all((line.amount >= 0) == (line.quantity > 0) or line.amount == 0 for line in doc.lines)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["adjust_number", "transfer_number", "receive_number", "return_number"]),
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "status",
                "line_items",
                "total_cost",
                "total",
                "location",
                "location_id",
                "from_loc_id",
                "supplier",
                "received_at",
                "updated_at",
                "tran_date",
                "ref_receive_id",
                "to_loc_id",
            ]
        ),
        json_values,
    ),
    st.lists(
        st.dictionaries(
            st.sampled_from(
                [
                    "sku",
                    "quantity",
                    "cost",
                    "total_cost",
                    "cost_amount",
                    "lots",
                    "variant_unit",
                    "original_cost",
                ]
            ),
            json_values,
        ),
        max_size=3,
    ),
)
def test_the_reader_never_raises(number_field, fields, lines):
    raw = {number_field: "X1", **fields}
    if lines:
        raw["line_items"] = lines
    doc = inventory.read_document(raw)
    assert doc.status in stock.STOCK_STATUSES
    assert all(isinstance(line.quantity, Decimal) for line in doc.lines)
