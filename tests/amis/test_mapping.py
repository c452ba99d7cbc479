"""The per-company AMIS mapping: defaults, validation that names the field, and a JSON round trip."""

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amis.mapping import (
    Accounts,
    Combo,
    Component,
    Documents,
    Location,
    Mapping,
    MappingError,
    Parties,
    Shipping,
    TaxRule,
    TypeAccounts,
    rate,
    rate_of_fraction,
)

FULL = {
    "locations": {"1001": {"branch_id": "b-hn", "stock_code": "KHO01"}, "1002": {"branch_id": "b-hcm"}},
    "default_branch_id": "b-hn",
    "parties": {
        "walk_in": "KHLE_WEB",
        "by_channel": {"shopee": "KHACHLE_SHOPEE"},
        "customer_code": "C-{customer_id}",
    },
    "item_codes": {"SKU-1": "VT001"},
    "units": {"VT001": "Hộp"},
    "combos": {"COMBO1": {"components": [{"code": "A", "quantity": 2, "weight": 100000}, {"code": "B"}]}},
    "combo_tag_prefix": "combo:",
    "default_vat_rate": "8%",
    "tax_rules": [{"match": "product_type", "value": "Sách", "rate": 5}],
    "accounts": {"revenue_goods": "5111", "cash": 1111, "by_product_type": {"Dịch vụ": {"service": True}}},
    "gateways": {"COD": "cash", "Bank transfer": "bank"},
    "default_gateway": "bank",
    "documents": {"sales_order": "created", "sales_voucher": "fulfilled", "stock_issue": False},
    "shipping": {"mode": "leave_out"},
    "returns": {"on_refund_after_generation": "manual"},
    "buyer": {"tax_code": "mst"},
}


def test_an_empty_mapping_is_all_defaults():
    mapping = Mapping.from_dict({})
    assert mapping == Mapping() == Mapping.from_dict(None)
    assert mapping.parties == Parties("KHACHLE", {}, "KH{customer_id}", "MST{tax_code}", ["NCC"])
    assert (
        mapping.accounts.receivable,
        mapping.accounts.revenue_goods,
        mapping.accounts.revenue_services,
    ) == (
        "131",
        "5111",
        "5113",
    )
    assert (mapping.accounts.vat_output, mapping.accounts.cash, mapping.accounts.bank) == (
        "33311",
        "1111",
        "1121",
    )
    assert (mapping.accounts.inventory, mapping.accounts.cost_of_goods, mapping.accounts.sales_returns) == (
        "1561",
        "632",
        "5212",
    )
    assert mapping.documents == Documents("never", "paid", True, True, True)
    assert mapping.shipping == Shipping("line", "PHIVANCHUYEN", "Phí vận chuyển", "Lần", None)
    assert mapping.default_vat_rate == "10" and mapping.default_gateway is None
    assert mapping.returns.on_refund_after_generation == "voucher"


def test_a_full_mapping_is_read_and_round_trips_through_json():
    mapping = Mapping.from_dict(FULL)
    assert mapping.locations["1002"] == Location("b-hcm", None)
    assert mapping.combos["COMBO1"] == Combo([Component("A", 2, 100000), Component("B", 1, 1)])
    assert mapping.combo_tag_prefix == "combo:"
    assert mapping.default_vat_rate == "8" and mapping.tax_rules == [TaxRule("product_type", "Sách", "5")]
    assert mapping.accounts.cash == "1111"
    assert mapping.returns.on_refund_after_generation == "manual"
    assert mapping.accounts.by_product_type == {"Dịch vụ": TypeAccounts(None, True)}
    assert mapping.read_options.buyer.tax_code == "mst"
    assert Mapping.from_dict(json.loads(json.dumps(mapping.to_dict()))) == mapping


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"locations": []}, "locations: expected an object"),
        ({"locations": {"1001": {"stock_code": 5.5}}}, "locations['1001'].stock_code: expected text"),
        ({"default_vat_rate": "7"}, "default_vat_rate: '7' is not a VAT rate"),
        ({"default_vat_rate": "KHAC:0"}, "must be above 0"),
        ({"tax_rules": [{"match": "colour", "value": "x", "rate": "5"}]}, "tax_rules[0].match"),
        ({"tax_rules": [{"match": "sku", "value": "x"}]}, "tax_rules[0].rate: is required"),
        ({"parties": {"customer_code": "KH"}}, "parties.customer_code: 'KH' must contain {customer_id}"),
        ({"parties": {"customer_code": "KH{id}"}}, "must contain {customer_id}"),
        (
            {"parties": {"customer_code": "NCC{customer_id}"}},
            "could collide with supplier codes starting 'NCC'",
        ),
        ({"combos": {"C": {"components": []}}}, "combos['C'].components"),
        ({"combos": {"C": {"components": [{"code": "A", "quantity": 0}]}}}, "components[0].quantity"),
        ({"combo_tag_prefix": "combo,"}, "combo_tag_prefix: 'combo,' cannot hold a comma"),
        ({"combo_tag_prefix": 1.5}, "combo_tag_prefix: expected text"),
        ({"accounts": {"cash": "tiền"}}, "accounts.cash: 'tiền' is not an account number"),
        ({"gateways": {"COD": "card"}}, "gateways['COD']: 'card' is not one of cash, bank, none"),
        ({"documents": {"sales_voucher": "shipped"}}, "documents.sales_voucher"),
        ({"shipping": {"mode": "free"}}, "shipping.mode"),
        ({"returns": {"on_refund_after_generation": "later"}}, "returns.on_refund_after_generation"),
        ({"returns": []}, "returns: expected an object"),
        ({"documents": {"receipts": "yes"}}, "documents.receipts: expected true or false"),
        ({"gateways": {"COD": 5.5}}, "gateways['COD']: expected text, got float"),
        ({"item_codes": {"SKU-1": " "}}, "item_codes['SKU-1']: must not be empty"),
        ({"parties": {"by_channel": {"shopee": None}}}, "parties.by_channel['shopee']: expected text"),
    ],
)
def test_invalid_values_are_refused_naming_the_field(data, message):
    with pytest.raises(MappingError) as caught:
        Mapping.from_dict(data)
    assert message in str(caught.value)


def test_rates_as_amis_codes_them():
    assert [rate(n).code for n in ("0", "5", "8", "10", "KCT", "KKKNT", "KHAC:3.5")] == [
        0,
        5,
        8,
        10,
        -1,
        -2,
        -3,
    ]
    assert rate("KHAC:3.5").other == Decimal("3.5") and rate("KHAC:3.5").fraction == Decimal("0.035")
    assert rate("KCT").fraction == 0 and rate("10").fraction == Decimal("0.1")
    assert rate_of_fraction(Decimal("0.08")).code == 8
    other = rate_of_fraction(Decimal("0.035"))
    assert (other.code, other.other) == (-3, Decimal("3.5"))
    with pytest.raises(MappingError):
        rate_of_fraction(Decimal("1.5"))


codes = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=12)


@given(
    st.dictionaries(codes, st.builds(Location, st.none() | codes, st.none() | codes), max_size=3),
    st.dictionaries(codes, codes, max_size=3),
    st.dictionaries(codes, st.sampled_from(["cash", "bank", "none"]), max_size=3),
    st.sampled_from(["0", "5", "8", "10", "KCT", "KKKNT", "KHAC:3.5"]),
    st.builds(
        Documents, st.sampled_from(["created", "never"]), st.sampled_from(["paid", "fulfilled", "never"])
    ),
)
def test_any_valid_mapping_round_trips(locations, item_codes, gateways, default_rate, documents):
    mapping = Mapping(
        locations=locations,
        item_codes=item_codes,
        gateways=gateways,
        default_vat_rate=default_rate,
        documents=documents,
        accounts=Accounts(by_product_type={"Sách": TypeAccounts("5118", False)}),
    )
    assert Mapping.from_dict(json.loads(json.dumps(mapping.to_dict()))) == mapping
