"""Stock documents → AMIS vouchers (amis.stock_convert): golden values worked out by hand, and properties
that hold for any document: header totals are the sums of the lines, quantities are conserved, every
line names its warehouse, and the same document always gives the same vouchers."""

import dataclasses
import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amis import stock_convert as sc
from amis.convert import ConversionError, org_refid_for
from amis.mapping import Mapping, MappingError
from connectors import stock
from connectors.stock import StockDocument, StockLine, Supplier
from connectors.text import Text

AT = dt.datetime(2026, 11, 20, 3, 30, tzinfo=dt.UTC)  # 10:30 in Vietnam
MAPPING = Mapping.from_dict(
    {
        "locations": {
            "1001": {"stock_code": "KHO01", "branch_id": "br-1"},
            "1002": {"stock_code": "KHO02"},
            "1003": {},  # no warehouse
        },
        "item_codes": {"SKU-OLD": "SKU-NEW"},
        "units": {"SKU-QUAN-02": "Chiếc"},
        "stock": {
            "purchase_receive": True,
            "by_reason": {"damaged": {"issue_debit": "811"}},
        },
    }
)


def line(sku, quantity, amount=None, *, unit_cost=None, name=None):
    return StockLine(
        sku=sku,
        name=name or f"Hàng {sku}",
        quantity=Decimal(quantity),
        amount=None if amount is None else Decimal(amount),
        unit_cost=None if unit_cost is None else Decimal(unit_cost),
    )


MAY_VIET = Supplier(key="77", name="Công ty May Việt", tax_code="0101243150")


def receive(*lines, supplier=MAY_VIET, location="1001"):
    return StockDocument(
        kind=stock.PURCHASE_RECEIVE,
        source_id="5001",
        number="IR100012",
        status=stock.DONE,
        status_words="Đã nhập hàng",
        at=AT,
        location=location,
        supplier=supplier,
        reference="HD-0042",
        lines=tuple(lines),
    )


def adjustment(*lines, reason="damaged", location="1002"):
    return StockDocument(
        kind=stock.ADJUSTMENT,
        source_id="7001",
        number="IA100017",
        status=stock.DONE,
        status_words="adjust",
        at=AT,
        location=location,
        reason=reason,
        adjustment_type="adjust",
        lines=tuple(lines),
    )


def transfer(*lines, to="1002"):
    return StockDocument(
        kind=stock.TRANSFER,
        source_id="9001",
        number="IT100001",
        status=stock.DONE,
        status_words="Received",
        at=AT,
        location="1001",
        to_location=to,
        lines=tuple(lines),
    )


def with_stock(**changes):
    data = MAPPING.to_dict()
    data["stock"] = {**data["stock"], **changes}
    return Mapping.from_dict(data)


# --- golden values ---------------------------------------------------------------------------------------


def test_a_received_purchase_is_a_purchase_with_stock_receipt_at_cost_on_credit_from_the_supplier():
    doc = receive(line("SKU-AO-01", 10, "1250000"), line("SKU-QUAN-02", 3, unit_cost="333333.33"))
    converted = sc.stock_to_vouchers(doc, MAPPING, "demo-hanoi")
    (only,) = converted.vouchers
    v = only.voucher
    assert only.part == sc.PURCHASE
    assert (v["voucher_type"], v["reftype"], v["org_reftype"]) == (18, 302, 302)
    assert v["org_refid"] == org_refid_for("demo-hanoi", "purchase_receive:purchase", "5001", 0)
    assert v["org_refno"] == "IR100012"
    assert v["refdate"] == v["posted_date"] == "2026-11-20 10:30:00"
    assert v["branch_id"] == "br-1"
    assert v["account_object_code"] == "NCC77"
    assert v["is_paid"] is False
    # 3 × 333,333.33 = 999,999.99 → 1,000,000 đồng; 1,250,000 + 1,000,000
    assert [d["amount"] for d in v["detail"]] == [1250000, 1000000]
    assert v["total_amount"] == v["total_amount_oc"] == 2250000
    assert v["total_vat_amount"] == 0
    first, second = v["detail"]
    assert (first["quantity"], first["unit_price"], first["unit_name"]) == (10, 125000, "Cái")
    assert second["unit_name"] == "Chiếc" and second["unit_price"] == pytest.approx(333333.3333)
    assert {(d["debit_account"], d["credit_account"], d["stock_code"]) for d in v["detail"]} == {
        ("1561", "331", "KHO01")
    }
    (vendor,) = converted.dictionary
    assert vendor["account_object_code"] == "NCC77"
    assert vendor["is_vendor"] is True and vendor["is_customer"] is False
    assert vendor["company_tax_code"] == "0101243150" and vendor["pay_account"] == "331"


def test_a_supplier_without_an_id_books_to_the_fixed_supplier_or_waits():
    doc = receive(line("SKU-AO-01", 1, "100"), supplier=Supplier(name="Chợ Lớn"))
    with pytest.raises(ConversionError, match="names no supplier with an id"):
        sc.stock_to_vouchers(doc, MAPPING, "demo-hanoi")
    converted = sc.stock_to_vouchers(doc, with_stock(default_supplier="NCCLE"), "demo-hanoi")
    assert converted.vouchers[0].voucher["account_object_code"] == "NCCLE"
    assert converted.dictionary == ()


def test_a_supplier_code_rule_must_keep_to_the_supplier_prefixes():
    with pytest.raises(MappingError, match=r"stock\.supplier_code"):
        Mapping.from_dict({"stock": {"supplier_code": "KH{supplier_id}"}})


def test_a_purchase_return_is_a_stock_issue_debiting_the_payable_or_the_return_voucher_by_setting():
    doc = StockDocument(
        kind=stock.PURCHASE_RETURN,
        source_id="6001",
        number="PR100003",
        status=stock.DONE,
        status_words="Đã xuất trả",
        at=AT,
        location="1001",
        supplier=Supplier(key="77", name="Công ty May Việt"),
        lines=(line("SKU-AO-01", 2, "250000"),),
    )
    (issue,) = sc.stock_to_vouchers(doc, MAPPING, "demo-hanoi").vouchers
    v = issue.voucher
    assert issue.part == sc.ISSUE
    assert (v["voucher_type"], v["reftype"]) == (8, 2023)
    assert (v["detail"][0]["debit_account"], v["detail"][0]["credit_account"]) == ("331", "1561")
    assert v["detail"][0]["account_object_code"] == "NCC77" and v["total_amount"] == 250000
    mapping = with_stock(return_style="voucher", return_voucher_type=16, return_reftype=3030)
    (ret,) = sc.stock_to_vouchers(doc, mapping, "demo-hanoi").vouchers
    assert ret.part == sc.RETURN
    assert (ret.voucher["voucher_type"], ret.voucher["reftype"]) == (16, 3030)
    assert ret.voucher["org_refid"] != v["org_refid"]


def test_an_adjustment_gives_a_receipt_for_increases_and_an_issue_for_decreases_with_the_reasons_accounts():
    doc = adjustment(line("SKU-AO-01", 4, "480000"), line("SKU-MU-03", -11, "-1100000"))
    receipt, issue = sc.stock_to_vouchers(doc, MAPPING, "demo-hcm").vouchers
    assert (receipt.part, issue.part) == (sc.RECEIPT, sc.ISSUE)
    r, i = receipt.voucher, issue.voucher
    assert (r["voucher_type"], r["reftype"], r["org_refno"]) == (7, 2014, "IA100017-N")
    assert (i["voucher_type"], i["reftype"], i["org_refno"]) == (8, 2023, "IA100017-X")
    assert (r["detail"][0]["debit_account"], r["detail"][0]["credit_account"]) == ("1561", "711")
    assert (i["detail"][0]["debit_account"], i["detail"][0]["credit_account"]) == ("811", "1561")  # damaged
    assert (i["detail"][0]["quantity"], i["detail"][0]["amount"], i["total_amount"]) == (11, 1100000, 1100000)
    assert r["total_amount"] == 480000
    assert {d["stock_code"] for d in (*r["detail"], *i["detail"])} == {"KHO02"}
    # another reason keeps the company's default accounts
    (only,) = sc.stock_to_vouchers(
        adjustment(line("SKU-MU-03", -1, "-5"), reason="shrinkage"), MAPPING, "x"
    ).vouchers
    assert only.voucher["detail"][0]["debit_account"] == "632"


def test_a_transfer_is_one_transfer_voucher_or_an_issue_and_a_receipt_at_cost():
    doc = transfer(line("SKU-AO-01", 5), line("SKU-OLD", 2))
    (one,) = sc.stock_to_vouchers(doc, MAPPING, "demo-hanoi").vouchers
    v = one.voucher
    assert (one.part, v["voucher_type"], v["reftype"]) == (sc.TRANSFER, 9, 2030)
    assert (v["from_stock_code"], v["to_stock_code"]) == ("KHO01", "KHO02")
    assert [d["inventory_item_code"] for d in v["detail"]] == ["SKU-AO-01", "SKU-NEW"]
    assert v["total_amount"] == 0  # no cost given: AMIS values the goods
    pair = with_stock(transfer_style="issue_receipt")
    with pytest.raises(ConversionError, match="no cost is known for item SKU-AO-01"):
        sc.stock_to_vouchers(doc, pair, "demo-hanoi")
    costs = {"SKU-AO-01": Decimal("90000"), "SKU-NEW": Decimal("150000.5")}
    issue, receipt = sc.stock_to_vouchers(doc, pair, "demo-hanoi", costs=costs).vouchers
    assert (issue.voucher["voucher_type"], receipt.voucher["voucher_type"]) == (8, 7)
    assert {d["stock_code"] for d in issue.voucher["detail"]} == {"KHO01"}
    assert {d["stock_code"] for d in receipt.voucher["detail"]} == {"KHO02"}
    assert [d["amount"] for d in issue.voucher["detail"]] == [450000, 300001]
    assert issue.voucher["total_amount"] == receipt.voucher["total_amount"] == 750001
    assert {(d["debit_account"], d["credit_account"]) for d in receipt.voucher["detail"]} == {
        ("1561", "1561")
    }


@pytest.mark.parametrize(
    "doc, words",
    [
        (receive(line("SKU-AO-01", 1, "1"), location="1003"), "has no AMIS warehouse"),
        (transfer(line("SKU-AO-01", 1), to="1003"), "has no AMIS warehouse"),
        (transfer(line("SKU-AO-01", 1), to="9999"), "location 9999 has no AMIS warehouse"),
        (receive(line("", 1, "1", name="Hàng không mã")), "has no SKU"),
        (receive(line("SKU-AO-01", 0, "0")), "moves no stock"),
        (receive(line("SKU-AO-01", 1)), "no cost is known"),
        (receive(line("SKU-AO-01", -1, "-5")), "negative quantities"),
    ],
)
def test_what_cannot_be_booked_says_what_to_do(doc, words):
    with pytest.raises(ConversionError, match=words):
        sc.stock_to_vouchers(doc, MAPPING, "demo-hanoi")


def test_a_document_not_done_or_with_problems_is_not_converted():
    draft = dataclasses.replace(receive(line("A", 1, "1")), status=stock.DRAFT, status_words="Nháp")
    with pytest.raises(ConversionError, match="not done yet"):
        sc.stock_to_vouchers(draft, MAPPING, "c")
    broken = dataclasses.replace(receive(line("A", 1, "1")), problems=(Text("line 2 has no sku"),))
    with pytest.raises(ConversionError, match="line 2 has no sku"):
        sc.stock_to_vouchers(broken, MAPPING, "c")


def test_a_cross_company_transfer_says_what_to_post_in_each_company():
    words = sc.cross_company_hold(
        transfer(line("SKU-AO-01", 5)),
        from_company="demo-hanoi",
        from_stock="KHO01",
        to_company="demo-hcm",
        to_stock="KHO02",
    ).english()
    assert "Post in demo-hanoi a sale to demo-hcm with a stock issue from KHO01" in words
    assert "in demo-hcm a purchase from demo-hanoi with a stock receipt into KHO02" in words
    assert "SKU-AO-01 × 5" in words


# --- properties ------------------------------------------------------------------------------------------

SKUS = st.sampled_from(["SKU-AO-01", "SKU-QUAN-02", "SKU-MU-03", "SKU-OLD", "X-9"])
QUANTITIES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(5000), places=2)
COSTS = st.decimals(min_value=Decimal(0), max_value=Decimal(10**9), places=2)


@st.composite
def documents(draw):
    kind = draw(st.sampled_from(stock.STOCK_KINDS))
    count = draw(st.integers(1, 8))
    lines = []
    for _ in range(count):
        quantity = draw(QUANTITIES)
        if kind == stock.ADJUSTMENT and draw(st.booleans()):
            quantity = -quantity
        cost = draw(COSTS)
        if kind == stock.TRANSFER:
            lines.append(line(draw(SKUS), quantity))
        elif draw(st.booleans()):
            lines.append(line(draw(SKUS), quantity, cost if quantity > 0 else -cost))
        else:
            lines.append(line(draw(SKUS), quantity, unit_cost=cost))
    return StockDocument(
        kind=kind,
        source_id=str(draw(st.integers(1, 10**9))),
        number="DOC1",
        status=stock.DONE,
        status_words="done",
        at=AT,
        location="1001",
        to_location="1002" if kind == stock.TRANSFER else "",
        reason=draw(st.sampled_from(["", *stock.REASONS])),
        supplier=Supplier(key="9", name="NCC")
        if kind in (stock.PURCHASE_RECEIVE, stock.PURCHASE_RETURN)
        else None,
        lines=tuple(lines),
    )


STYLES = st.builds(
    lambda transfer_style, return_style: with_stock(transfer_style=transfer_style, return_style=return_style),
    st.sampled_from(["voucher", "issue_receipt"]),
    st.sampled_from(["issue", "voucher"]),
)
ITEM_COSTS = {"SKU-AO-01": Decimal("1000.5"), "SKU-QUAN-02": 7, "SKU-MU-03": 0, "SKU-NEW": 3, "X-9": 11}


@settings(max_examples=200, deadline=None)
@given(documents(), STYLES)
def test_totals_are_the_sums_of_the_lines_and_every_line_names_its_warehouse(doc, mapping):
    for part in sc.stock_to_vouchers(doc, mapping, "demo-hanoi", costs=ITEM_COSTS).vouchers:
        v = part.voucher
        assert v["total_amount"] == v["total_amount_oc"] == sum(d["amount"] for d in v["detail"])
        for d in v["detail"]:
            assert d["stock_code"] in ("KHO01", "KHO02")
            assert d["quantity"] > 0 and d["amount"] >= 0 and isinstance(d["amount"], int)
            assert abs(Decimal(str(d["quantity"])) * Decimal(str(d["unit_price"])) - d["amount"]) <= 1
            assert d["refid"] == v["refid"]


@settings(max_examples=200, deadline=None)
@given(documents(), STYLES)
def test_quantities_are_conserved_item_by_item(doc, mapping):
    vouchers = sc.stock_to_vouchers(doc, mapping, "demo-hanoi", costs=ITEM_COSTS).vouchers
    expected = Counter()
    for ln in doc.lines:
        expected[sc.item_code(ln, mapping, doc)] += abs(ln.quantity)
    per_voucher = []
    for part in vouchers:
        moved = Counter()
        for d in part.voucher["detail"]:
            moved[d["inventory_item_code"]] += Decimal(str(d["quantity"]))
        per_voucher.append(moved)
    if doc.kind == stock.ADJUSTMENT:  # increases and decreases split between the receipt and the issue
        assert sum(per_voucher, Counter()) == expected
    else:  # each voucher (one, or an issue and its receipt) moves all of it
        assert all(moved == expected for moved in per_voucher)


@settings(max_examples=100, deadline=None)
@given(documents(), STYLES, st.integers(0, 5))
def test_the_same_document_gives_the_same_vouchers_and_a_new_revision_new_keys(doc, mapping, revision):
    first = sc.stock_to_vouchers(doc, mapping, "demo-hanoi", revision, costs=ITEM_COSTS)
    assert first == sc.stock_to_vouchers(doc, mapping, "demo-hanoi", revision, costs=ITEM_COSTS)
    later = sc.stock_to_vouchers(doc, mapping, "demo-hanoi", revision + 1, costs=ITEM_COSTS)
    keys = {v.voucher["org_refid"] for v in first.vouchers}
    assert len(keys) == len(first.vouchers)
    assert keys.isdisjoint(v.voucher["org_refid"] for v in later.vouchers)
    other = sc.stock_to_vouchers(doc, mapping, "demo-hcm", revision, costs=ITEM_COSTS)
    assert keys.isdisjoint(v.voucher["org_refid"] for v in other.vouchers)
