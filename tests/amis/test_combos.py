"""Combos written on the products' tags (``Mapping.combo_tag_prefix``): the grammar, the conversion of a
tagged line into its components with the combo's price split exactly, the table winning over a tag, and a
malformed tag holding the order with the reason.

Orders are written as Haravan sends them (the line's ``tags`` are its product's tags) and read into a
``Sale`` by ``haravan.read``, as the product does before converting."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amis import convert
from amis.convert import ConversionError
from amis.mapping import Combo, Component, Mapping, MappingError, combo_tag
from haravan import read
from tests.amis.test_convert import assert_adds_up, line, make_order, only, vouchers
from tests.support.oracles import largest_remainder

TAGS = Mapping(combo_tag_prefix="combo:")


def goods(pbh) -> list[tuple]:
    return [
        (d["inventory_item_code"], d["quantity"], d["amount"], d["discount_amount"], d["vat_amount"])
        for d in pbh["detail"]
        if d["inventory_item_type"] == 0
    ]


# --- the grammar ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "combo"),
    [
        ("combo:A*2+B", Combo([Component("A", 2, 1), Component("B", 1, 1)])),
        ("Combo: A*2@3 + B@0", Combo([Component("A", 2, 3), Component("B", 1, 0)])),
        ("COMBO:ao-1*03@150000", Combo([Component("ao-1", 3, 150_000)])),
        ("combo:Á-1", Combo([Component("Á-1")])),
    ],
)
def test_a_combo_tag_reads_as_its_components(tag, combo):
    assert combo_tag(tag, "combo:") == combo


def test_a_tag_without_the_prefix_or_an_empty_prefix_is_no_combo():
    assert combo_tag("summer", "combo:") is None
    assert combo_tag("combo-summer", "combo:") is None
    assert combo_tag("combo:A", "") is None


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("combo:", "it names no component"),
        ("combo:A+", "component 2 is empty"),
        ("combo:A B", "component 1 ('A B') is not CODE, CODE*QUANTITY or CODE*QUANTITY@WEIGHT"),
        ("combo:A*2*3", "is not CODE, CODE*QUANTITY or CODE*QUANTITY@WEIGHT"),
        ("combo:A*0", "the quantity of 'A' must be a whole number, 1 or more, not '0'"),
        ("combo:A*1.5", "the quantity of 'A' must be a whole number, 1 or more, not '1.5'"),
        ("combo:A*", "the quantity of 'A' must be a whole number, 1 or more, not ''"),
        ("combo:A@-1", "the weight of 'A' must be a whole number, 0 or more, not '-1'"),
        ("combo:A+B+a", "'a' is named twice"),
    ],
)
def test_a_malformed_combo_tag_says_what_is_wrong(tag, reason):
    with pytest.raises(MappingError) as caught:
        combo_tag(tag, "combo:")
    assert reason in str(caught.value)


@pytest.mark.parametrize("prefix", ["combo,", "a+b"])
def test_a_prefix_no_tag_could_start_with_is_refused(prefix):
    with pytest.raises(MappingError) as caught:
        Mapping.from_dict({"combo_tag_prefix": prefix})
    assert str(caught.value).startswith("combo_tag_prefix:")


def test_the_prefix_round_trips():
    mapping = Mapping.from_dict({"combo_tag_prefix": " combo: "})
    assert mapping.combo_tag_prefix == "combo:"
    assert Mapping.from_dict(mapping.to_dict()) == mapping
    assert Mapping().combo_tag_prefix == ""  # off unless the merchant sets it


# --- conversion ----------------------------------------------------------------------------------------


def test_a_tagged_product_is_posted_as_its_components_like_the_same_combo_in_the_table():
    tagged = make_order(
        [line(1, 300_000, 1, discount=1_000, sku="SET-1", tags="summer, combo:AO-1*2@100000+QUAN-1@50000")]
    )
    pbh = only(vouchers(tagged, TAGS), 13)
    assert_adds_up(pbh)
    # the table's combo of the converter's own test: 240.000 / 60.000, discount 800 / 200
    assert goods(pbh) == [("AO-1", 2, 218_182, 727, 21_745), ("QUAN-1", 1, 54_545, 181, 5_436)]
    table = Mapping(combos={"SET-1": Combo([Component("AO-1", 2, 100_000), Component("QUAN-1", 1, 50_000)])})
    untagged = make_order([line(1, 300_000, 1, discount=1_000, sku="SET-1")])
    assert goods(only(vouchers(untagged, table), 13)) == goods(pbh)
    assert pbh["total_amount"] == 299_000


def test_quantities_and_weights_default_to_one():
    order = make_order([line(1, 99_000, 2, sku="SET-2", tags="combo:A*2+B")])
    pbh = only(vouchers(order, TAGS), 13)
    assert_adds_up(pbh)
    # per unit 2 A and 1 B, each unit weighing 1: 198.000 → 132.000 / 66.000
    assert [(d[0], d[1], d[2] - d[3] + d[4]) for d in goods(pbh)] == [("A", 4, 132_000), ("B", 2, 66_000)]


def test_without_a_prefix_tags_are_not_read():
    order = make_order([line(1, 99_000, 1, sku="SET-2", tags="combo:A*2+B")])
    assert [d[0] for d in goods(only(vouchers(order, Mapping()), 13))] == ["SET-2"]


def test_the_table_wins_over_a_tag_for_the_same_code():
    mapping = Mapping(combo_tag_prefix="combo:", combos={"set-2": Combo([Component("C", 3)])})
    order = make_order([line(1, 99_000, 1, sku="SET-2", tags="combo:A*2+B, combo:broken*")])
    assert [(d[0], d[1]) for d in goods(only(vouchers(order, mapping), 13))] == [("C", 3)]


def test_the_table_may_name_a_combo_by_its_sku_when_the_sku_maps_to_another_code():
    mapping = Mapping(item_codes={"SET-6": "VT-SET"}, combos={"SET-6": Combo([Component("A", 2)])})
    order = make_order([line(1, 80_000, 1, sku="SET-6")])
    assert [(d[0], d[1]) for d in goods(only(vouchers(order, mapping), 13))] == [("A", 2)]


def test_a_tags_components_are_skus_mapped_to_amis_codes_like_a_lines():
    mapping = Mapping(combo_tag_prefix="combo:", item_codes={"sku-a": "VT-A"})
    order = make_order([line(1, 50_000, 1, sku="SET-3", tags="combo:SKU-A+SKU-B")])
    assert [d[0] for d in goods(only(vouchers(order, mapping), 13))] == ["VT-A", "SKU-B"]


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("combo:AO-1*0+QUAN-1", "the quantity of 'AO-1' must be a whole number, 1 or more, not '0'"),
        ("combo:", "it names no component"),
        ("Combo:AO-1 QUAN-1", "component 1 ('AO-1 QUAN-1') is not CODE"),
    ],
)
def test_a_malformed_tag_holds_the_order_naming_the_tag_and_what_is_wrong(tag, reason):
    order = make_order([line(1, 99_000, 1, sku="SET-4", tags=f"sale, {tag}")])
    with pytest.raises(ConversionError) as caught:
        vouchers(order, TAGS)
    message = caught.value.reason
    assert message.startswith(f"Order #100123: the product tag “{tag}” of “Áo sơ mi nam Oxford - M”")
    assert reason in message and "Write it as combo:SKU-A*2+SKU-B" in message


def test_two_combo_tags_hold_the_order():
    order = make_order([line(1, 99_000, 1, sku="SET-5", tags="combo:A, combo:B")])
    with pytest.raises(ConversionError) as caught:
        vouchers(order, TAGS)
    assert "has two combo tags, “combo:A” and “combo:B”: keep one" in caught.value.reason


components = st.lists(
    st.tuples(st.integers(1, 6), st.integers(0, 500_000) | st.just(1)), min_size=1, max_size=5
)


@settings(max_examples=200, deadline=None)
@given(
    components,
    st.integers(0, 20_000_000),
    st.integers(1, 4),
    st.data(),
)
def test_a_tag_defined_combo_splits_the_line_exactly(parts, price, quantity, data):
    discount = data.draw(st.integers(0, price * quantity))
    tag = "combo:" + "+".join(f"C{i}*{q}@{w}" for i, (q, w) in enumerate(parts))
    order = make_order([line(1, price, quantity, discount=discount, sku="SET", tags=tag)])
    sale = read.read_order(order, TAGS.read_options)
    priced = convert.price(sale, TAGS)
    # the line's list value and discount are shared by units × weight (by units when all weigh 0),
    # whole đồng, adding up exactly
    weights = [q * w for q, w in parts]
    use = weights if sum(weights) else [q for q, _ in parts]
    lists = [p.list_value for p in priced.parts]
    assert lists == (largest_remainder(price * quantity, use) if price else [0] * len(parts))
    assert sum(p.discount for p in priced.parts) == discount
    assert all(0 <= p.discount <= p.list_value for p in priced.parts)
    assert [(p.code, p.quantity) for p in priced.parts] == [
        (f"C{i}", quantity * q) for i, (q, _) in enumerate(parts)
    ]
    # and on the voucher: the components add up to what the buyer paid for the combo line
    pbh = only(vouchers(order, TAGS), 13)
    assert_adds_up(pbh)
    assert all(type(d[n]) is int for d in pbh["detail"] for n in ("amount", "discount_amount", "vat_amount"))
    assert sum(d[2] - d[3] + d[4] for d in goods(pbh)) == price * quantity - discount
    assert pbh["total_amount"] == price * quantity - discount
