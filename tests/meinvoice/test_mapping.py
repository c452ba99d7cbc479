"""The per-connection mapping: defaults, validation that names the field, and a JSON round trip."""

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meinvoice.mapping import (
    BuyerFields,
    IssuanceConditions,
    Mapping,
    MappingError,
    ReductionRule,
    ReturnsPolicy,
    TaxRule,
    vat_fraction,
    vat_rate_error,
)


def test_an_empty_mapping_is_all_defaults():
    mapping = Mapping.from_dict({})
    assert mapping == Mapping()
    assert Mapping.from_dict(None) == Mapping()
    assert mapping.conditions == IssuanceConditions(
        financial_statuses=["paid"], fulfillment_statuses=[], sources=[], min_total=Decimal(0), trigger="paid"
    )
    assert mapping.default_vat_rate == "10%"  # reduced to 8 % while a decree allows it:
    assert mapping.reduction.rules == [ReductionRule("default")]
    assert mapping.tax_rules == []
    assert mapping.prices_include_vat is True
    assert mapping.default_unit == "Cái"
    assert mapping.unit_by_type == {}
    assert mapping.shipping_item_name == "Phí vận chuyển"
    assert mapping.shipping_vat_rate is None
    assert mapping.shipping_rate == "10%"  # reduced with the goods at the default rate
    assert mapping.buyer == BuyerFields(
        "vat_tax_code", "vat_company_name", "vat_company_address", "vat_email", use_billing_company=True
    )
    assert mapping.returns == ReturnsPolicy("adjust", "adjust")
    assert mapping.writeback == "note_attribute"
    assert mapping.payment_method_name == "TM/CK"


def test_a_full_mapping_reads_and_round_trips_through_json():
    stored = {
        "conditions": {
            "financial_statuses": ["paid", "partially_refunded"],
            "fulfillment_statuses": ["fulfilled"],
            "sources": ["web", "pos"],
            "min_total": "200000",
            "trigger": "fulfilled",
        },
        "default_vat_rate": "10%",
        "tax_rules": [
            {"match": "product_type", "value": "Sách", "rate": "5%"},
            {"match": "sku", "value": "GIFT-CARD", "rate": "KKKNT"},
            {"match": "tag", "value": "xuat-khau", "rate": "0%"},
            {"match": "vendor", "value": "Nông trại", "rate": "KHAC:3.5%"},
        ],
        "prices_include_vat": False,
        "default_unit": "Chiếc",
        "unit_by_type": {"Sách": "Cuốn", "Thực phẩm": "Hộp"},
        "shipping_item_name": "Cước vận chuyển",
        "shipping_vat_rate": "KCT",
        "shipping_unit": "Chuyến",
        "buyer": {
            "tax_code": "mst",
            "legal_name": "ten_cong_ty",
            "address": "dia_chi",
            "email": "email_hoa_don",
            "use_billing_company": False,
        },
        "returns": {"on_refund": "manual", "on_cancel_after_issue": "replace"},
        "writeback": "tag",
        "payment_method_name": "CK",
        "some_future_key": {"ignored": True},
    }
    mapping = Mapping.from_dict(stored)
    assert mapping.conditions.min_total == Decimal("200000")
    assert mapping.tax_rules[3] == TaxRule("vendor", "Nông trại", "KHAC:3.5%")
    assert mapping.shipping_rate == "KCT"
    assert mapping.buyer.use_billing_company is False
    assert mapping.returns.on_cancel_after_issue == "replace"
    data = mapping.to_dict()
    assert "some_future_key" not in data
    assert Mapping.from_dict(json.loads(json.dumps(data))) == mapping
    assert json.loads(json.dumps(data)) == data


def test_missing_nested_keys_take_their_defaults():
    mapping = Mapping.from_dict({"conditions": {"sources": ["pos"]}, "buyer": {"tax_code": "mst"}})
    assert mapping.conditions.financial_statuses == ["paid"]
    assert mapping.conditions.trigger == "paid"
    assert mapping.buyer.tax_code == "mst"
    assert mapping.buyer.legal_name == "vat_company_name"
    assert mapping.buyer.use_billing_company is True


@pytest.mark.parametrize(
    ("stored", "field"),
    [
        ({"conditions": "paid"}, "conditions"),
        ({"conditions": {"financial_statuses": "paid"}}, "conditions.financial_statuses"),
        ({"conditions": {"financial_statuses": ["settled"]}}, "conditions.financial_statuses"),
        ({"conditions": {"fulfillment_statuses": ["shipped"]}}, "conditions.fulfillment_statuses"),
        ({"conditions": {"sources": [""]}}, "conditions.sources"),
        ({"conditions": {"min_total": "lots"}}, "conditions.min_total"),
        ({"conditions": {"min_total": -1}}, "conditions.min_total"),
        ({"conditions": {"min_total": True}}, "conditions.min_total"),
        ({"conditions": {"trigger": "shipped"}}, "conditions.trigger"),
        ({"default_vat_rate": "7%"}, "default_vat_rate"),
        ({"default_vat_rate": 8}, "default_vat_rate"),
        ({"tax_rules": {"Sách": "5%"}}, "tax_rules"),
        ({"tax_rules": [{"match": "colour", "value": "x", "rate": "5%"}]}, "tax_rules[0].match"),
        ({"tax_rules": [{"match": "sku", "value": "", "rate": "5%"}]}, "tax_rules[0].value"),
        ({"tax_rules": [{"match": "sku", "value": "A"}]}, "tax_rules[0].rate"),
        (
            {
                "tax_rules": [
                    {"match": "sku", "value": "A", "rate": "5%"},
                    {"match": "sku", "value": "B", "rate": "KHAC:x"},
                ]
            },
            "tax_rules[1].rate",
        ),
        ({"tax_rules": ["5%"]}, "tax_rules[0]"),
        ({"prices_include_vat": "yes"}, "prices_include_vat"),
        ({"default_unit": ""}, "default_unit"),
        ({"unit_by_type": ["Cuốn"]}, "unit_by_type"),
        ({"unit_by_type": {"Sách": ""}}, "unit_by_type"),
        ({"shipping_item_name": 5}, "shipping_item_name"),
        ({"shipping_vat_rate": "KHAC:0%"}, "shipping_vat_rate"),
        ({"buyer": {"tax_code": ""}}, "buyer.tax_code"),
        ({"buyer": {"use_billing_company": "no"}}, "buyer.use_billing_company"),
        ({"returns": {"on_refund": "delete"}}, "returns.on_refund"),
        ({"returns": {"on_cancel_after_issue": "ignore"}}, "returns.on_cancel_after_issue"),
        ({"writeback": "email"}, "writeback"),
        ({"payment_method_name": ""}, "payment_method_name"),
        ([], "meinvoice settings"),
    ],
)
def test_invalid_values_name_their_field(stored, field):
    with pytest.raises(MappingError) as caught:
        Mapping.from_dict(stored)
    assert str(caught.value).startswith(field), str(caught.value)


@pytest.mark.parametrize(
    "rate", ["0%", "5%", "8%", "10%", "KCT", "KKKNT", "KHAC:3.5%", "KHAC:7%", "KHAC:99.99%"]
)
def test_valid_vat_rates(rate):
    assert vat_rate_error(rate) is None


@pytest.mark.parametrize(
    "rate", ["8", "8 %", "7%", "kct", "KHAC", "KHAC:%", "KHAC:0%", "KHAC:100%", "KHAC:3,5%", None]
)
def test_invalid_vat_rates(rate):
    assert vat_rate_error(rate)


def test_vat_fractions():
    assert vat_fraction("8%") == Decimal("0.08")
    assert vat_fraction("10%") == Decimal("0.1")
    assert vat_fraction("0%") == vat_fraction("KCT") == vat_fraction("KKKNT") == 0
    assert vat_fraction("KHAC:3.5%") == Decimal("0.035")
    with pytest.raises(MappingError):
        vat_fraction("9%")


def test_dataclasses_built_in_code_are_checked_too():
    with pytest.raises(MappingError):
        TaxRule("product_type", "Sách", "6%")
    with pytest.raises(MappingError):
        TaxRule("title", "Sách", "5%")
    with pytest.raises(MappingError):
        Mapping(default_vat_rate="KHAC")


_rates = st.sampled_from(["0%", "5%", "8%", "10%", "KCT", "KKKNT", "KHAC:3.5%", "KHAC:2%"])
_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs")), min_size=1, max_size=12
).filter(lambda s: s == s.strip())
_actions = st.sampled_from(["adjust", "replace", "manual"])


@given(
    st.builds(
        Mapping,
        conditions=st.builds(
            IssuanceConditions,
            financial_statuses=st.lists(st.sampled_from(["paid", "pending", "partially_paid"]), unique=True),
            fulfillment_statuses=st.lists(
                st.sampled_from(["notfulfilled", "partial", "fulfilled"]), unique=True
            ),
            sources=st.lists(_names, unique=True, max_size=3),
            min_total=st.integers(0, 10**9).map(Decimal),
            trigger=st.sampled_from(["paid", "fulfilled", "created"]),
        ),
        default_vat_rate=_rates,
        tax_rules=st.lists(
            st.builds(TaxRule, st.sampled_from(["product_type", "vendor", "sku", "tag"]), _names, _rates),
            max_size=4,
        ),
        prices_include_vat=st.booleans(),
        default_unit=_names,
        unit_by_type=st.dictionaries(_names, _names, max_size=3),
        shipping_item_name=_names,
        shipping_vat_rate=st.none() | _rates,
        buyer=st.builds(BuyerFields, _names, _names, _names, _names, st.booleans()),
        returns=st.builds(ReturnsPolicy, _actions, _actions),
        writeback=st.sampled_from(["note_attribute", "tag"]),
        payment_method_name=_names,
        describe_as_accounting=st.booleans(),
    )
)
def test_any_valid_mapping_round_trips(mapping):
    assert Mapping.from_dict(json.loads(json.dumps(mapping.to_dict()))) == mapping
