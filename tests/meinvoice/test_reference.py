"""A sale described as the accounting system describes it (``meinvoice.reference.described``): only words,
units and rates change, never money; a tax code is never invented; the invoice carries the item's words."""

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.reference import NOT_DECLARED, BuyerFacts, ItemFacts, ReferenceFacts, item_key
from connectors.sale import Buyer, Charge, Sale, SaleLine, SaleStatus, SourceTotals
from haravan import read
from meinvoice import convert
from meinvoice.mapping import Mapping
from meinvoice.reference import described
from tests import factories

MST, OTHER_MST, PERSONAL_ID = "0101243150", "0312345673", "001099012345"
NOTHING = ReferenceFacts(source="AMIS demo")

# --- generated sales and facts ----------------------------------------------------------------------

codes = st.sampled_from(["AT-01", "at-01", "QJ-02", "MU-03", "", "11"])
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
money = st.integers(0, 10_000_000).map(Decimal)
rates = st.one_of(st.none(), st.sampled_from([Decimal("0.1"), Decimal("0.08"), Decimal("0.05"), Decimal(0)]))


@st.composite
def sale_lines(draw):
    quantity = Decimal(draw(st.integers(1, 20)))
    price = draw(money)
    list_value = price * quantity
    line_discount = Decimal(draw(st.integers(0, int(list_value))))
    return SaleLine(
        key=str(draw(st.integers(1, 10**6))),
        item_code=draw(codes),
        name=draw(words),
        quantity=quantity,
        unit_price=price,
        line_discount=line_discount,
        order_discount=Decimal(draw(st.integers(0, int(list_value - line_discount)))),
        unit=draw(st.sampled_from(["", "Cái", "Hộp"])),
        tax_rate=draw(rates),
    )


buyers = st.builds(
    Buyer,
    code=st.sampled_from(["", "42"]),
    name=words,
    legal_name=st.sampled_from(["", "Công ty A"]),
    tax_code=st.sampled_from(["", MST, OTHER_MST, PERSONAL_ID, "123"]),
    address=st.sampled_from(["", "1 Phố Huế, Hà Nội"]),
    home_address=st.sampled_from(["", "2 Lê Lợi"]),
)


@st.composite
def sales(draw):
    lines = tuple(draw(st.lists(sale_lines(), max_size=5)))
    charges = tuple(
        Charge(key="s", kind="shipping", code="", name="Ship", amount=amount)
        for amount in draw(st.lists(money, max_size=1))
    )
    paid = sum((line.amount for line in lines), Decimal(0)) + sum((c.net for c in charges), Decimal(0))
    return Sale(
        source_id="1",
        label="#1",
        currency="VND",
        prices_include_tax=True,
        status=SaleStatus(payment="paid"),
        lines=lines,
        charges=charges,
        discounts=(),
        buyer=draw(buyers),
        totals=SourceTotals(paid=paid),
    )


item_facts = st.builds(
    ItemFacts,
    code=codes,
    name=words,
    unit=st.sampled_from(["", "Chiếc", "Bộ"]),
    tax_rate=rates,
    tax_category=st.sampled_from(["", NOT_DECLARED]),
)
buyer_facts = st.builds(
    BuyerFacts,
    code=st.sampled_from(["KH42", "KHACHLE"]),
    legal_name=st.sampled_from(["", "CÔNG TY CỔ PHẦN B"]),
    tax_code=st.sampled_from(["", MST, OTHER_MST, PERSONAL_ID, "bad"]),
    address=st.sampled_from(["", "3 Hai Bà Trưng"]),
)
reference_facts = st.builds(
    ReferenceFacts,
    source=st.just("AMIS demo"),
    items=st.dictionaries(codes.map(item_key).filter(bool), item_facts, max_size=4),
    buyer=st.one_of(st.none(), buyer_facts),
    companies=st.dictionaries(st.sampled_from([MST, OTHER_MST, PERSONAL_ID]), buyer_facts, max_size=2),
)


def money_of(sale: Sale) -> tuple:
    fields = (
        "key",
        "item_code",
        "sku",
        "quantity",
        "unit_price",
        "line_discount",
        "order_discount",
        "amount",
    )
    lines = [tuple(getattr(line, name) for name in fields) for line in sale.lines]
    return (lines, sale.charges, sale.discounts, sale.totals, sale.payments, sale.refunds, sale.adds_up)


@given(sales())
def test_nothing_known_changes_nothing(sale):
    assert described(sale, NOTHING) is sale
    assert described(sale, None) is sale


@given(sales(), reference_facts)
def test_only_words_units_and_rates_change_never_money(sale, facts):
    after = described(sale, facts)
    assert money_of(after) == money_of(sale)
    assert [
        dataclasses.replace(a, name="", unit="", tax_rate=None, tax_category="") for a in after.lines
    ] == [dataclasses.replace(b, name="", unit="", tax_rate=None, tax_category="") for b in sale.lines]
    for before, line in zip(sale.lines, after.lines, strict=True):
        item = facts.item(line.item_code)
        if item is None:
            assert line == before  # a code the records do not know: the line as the shop wrote it
        elif item.tax_rate is None:
            assert (line.tax_rate, line.tax_category) == (before.tax_rate, before.tax_category)
    # A tax code appears only from the buyer's own record, and only one meInvoice accepts.
    if after.buyer.tax_code != sale.buyer.tax_code:
        assert not sale.buyer.tax_code
        assert facts.buyer is not None and after.buyer.tax_code == facts.buyer.tax_code
        assert convert.buyer_tax_code_error(after.buyer.tax_code) is None


@given(sales(), reference_facts)
def test_a_described_buyer_is_never_refused_where_the_shops_was_accepted(sale, facts):
    try:
        convert.buyer_of(sale)
    except convert.InvalidBuyer:
        return
    convert.buyer_of(described(sale, facts))  # Decree 70's checks still hold, and are met


# --- examples ---------------------------------------------------------------------------------------


def line(code="AT-01", **kw):
    values = {"key": "1", "item_code": code, "name": "Áo thun", "quantity": Decimal(2)}
    return SaleLine(**{**values, "unit_price": Decimal(108000), **kw})


def a_sale(*lines_, buyer=None):
    total = sum((li.amount for li in lines_), Decimal(0))
    buyer = buyer or Buyer()
    return Sale("1", "#1", "VND", True, SaleStatus(), tuple(lines_), (), (), buyer, SourceTotals(paid=total))


def test_a_known_item_takes_the_records_name_unit_and_rate_case_insensitively():
    facts = ReferenceFacts(
        "AMIS demo",
        items={"at-01": ItemFacts("AT-01", "Áo thun cotton trắng", "Chiếc", Decimal("0.05"))},
    )
    got = described(a_sale(line("At-01"), line("ZZ", key="2")), facts)
    assert (got.lines[0].name, got.lines[0].unit, got.lines[0].tax_rate) == (
        "Áo thun cotton trắng",
        "Chiếc",
        Decimal("0.05"),
    )
    assert got.lines[1] == line("ZZ", key="2")


def test_an_item_without_a_rate_keeps_the_lines_own_and_an_empty_name_keeps_the_shops():
    facts = ReferenceFacts("AMIS demo", items={"at-01": ItemFacts("AT-01", "", "Bộ", None)})
    got = described(a_sale(line(tax_rate=Decimal("0.08"))), facts).lines[0]
    assert (got.name, got.unit, got.tax_rate) == ("Áo thun", "Bộ", Decimal("0.08"))


def test_a_company_buyer_takes_the_legal_name_of_the_record_with_its_tax_code():
    buyer = Buyer(code="42", legal_name="cty a", tax_code=MST, address="1 Phố Huế")
    facts = ReferenceFacts("AMIS demo", companies={MST: BuyerFacts("KH00001", "CÔNG TY CỔ PHẦN A", MST)})
    got = described(a_sale(line(), buyer=buyer), facts).buyer
    assert (got.legal_name, got.tax_code, got.address) == ("CÔNG TY CỔ PHẦN A", MST, "1 Phố Huế")
    assert got.origin["legal_name"] == "AMIS demo KH00001"
    other = ReferenceFacts("AMIS demo", companies={OTHER_MST: BuyerFacts("KH2", "B", OTHER_MST)})
    assert described(a_sale(line(), buyer=buyer), other).buyer == buyer


def test_a_tax_code_comes_only_from_the_buyers_own_complete_record():
    buyer = Buyer(code="42", name="Chị Lan", home_address="2 Lê Lợi")
    own = BuyerFacts("KH42", "CÔNG TY TNHH LAN", MST, "5 Tràng Tiền")
    got = described(a_sale(line(), buyer=buyer), ReferenceFacts("AMIS demo", buyer=own)).buyer
    assert (got.tax_code, got.legal_name, got.address) == (MST, "CÔNG TY TNHH LAN", "5 Tràng Tiền")
    assert got.origin["tax_code"] == "AMIS demo KH42"
    assert convert.buyer_of(a_sale(line(), buyer=got)).tax_code == MST
    # Never from a record found by another tax code, never an invalid one, never without an address.
    by_tax_code = ReferenceFacts("AMIS demo", companies={MST: own})
    assert described(a_sale(line(), buyer=buyer), by_tax_code).buyer == buyer
    invalid = ReferenceFacts("AMIS demo", buyer=dataclasses.replace(own, tax_code="0101243151"))
    assert described(a_sale(line(), buyer=buyer), invalid).buyer == buyer
    homeless = ReferenceFacts("AMIS demo", buyer=dataclasses.replace(own, address=""))
    assert described(a_sale(line(), buyer=buyer), homeless).buyer == buyer


# --- the invoice ------------------------------------------------------------------------------------

SELLER, SERIES, DAY = "0101243150", "1C26TAA", dt.date(2026, 11, 20)


def invoice(sale, mapping=None):
    issue = convert.Issue(SELLER, SERIES, convert.ref_id_for(SELLER, "5001", "invoice"), DAY)
    return convert.sale_to_invoice(sale, mapping or Mapping(), issue)


def test_the_invoice_carries_the_records_words_and_the_same_money():
    sale = read.read_order(factories.paid_order())
    facts = ReferenceFacts(
        "AMIS demo", items={"at-01": ItemFacts("AT-01", "Áo thun cotton", "Chiếc", Decimal("0.1"))}
    )
    before, after = invoice(sale), invoice(described(sale, facts))
    detail = after["OriginalInvoiceDetail"][0]
    assert (detail["ItemName"], detail["UnitName"]) == ("Áo thun cotton", "Chiếc")
    assert detail["VATRateName"] == before["OriginalInvoiceDetail"][0]["VATRateName"] == "8%"  # 10 %, reduced
    assert after["TotalAmount"] == before["TotalAmount"]


@pytest.mark.parametrize(
    ("rate", "category", "expected"),
    [
        (Decimal("0.05"), "", "5%"),  # the item's 5 %, though the default 10 % is reduced
        (Decimal("0.1"), "", "8%"),  # 10 % is the standard rate: the reduction takes it
        (Decimal("0.08"), "", "8%"),
        (Decimal(0), NOT_DECLARED, "KKKNT"),
        (Decimal("0.035"), "", "KHAC:3.5%"),
    ],
)
def test_a_rate_the_item_states_is_the_lines_rate(rate, category, expected):
    sale = read.read_order(factories.paid_order())
    facts = ReferenceFacts("AMIS demo", items={"at-01": ItemFacts("AT-01", "", "", rate, category)})
    assert invoice(described(sale, facts))["OriginalInvoiceDetail"][0]["VATRateName"] == expected
