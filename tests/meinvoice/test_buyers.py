"""Buyers as Decree 70/2025/NĐ-CP defines them: a 12-digit personal identification number as a tax code,
personal id / passport / budget-relation unit code from configurable note attributes, each checked by its
own format; the agreement (or notice) reference printed on adjustments. Pure conversion (the simulator's
side: tests/sandbox/test_meinvoice_buyers.py)."""

import datetime as dt

import pytest

from connectors.taxcode import budget_code_error, passport_error, personal_id_error
from meinvoice import convert
from meinvoice.convert import CorrectionReference, InvalidBuyer, with_correction_reference
from meinvoice.mapping import Mapping
from tests.meinvoice.test_convert import BUSINESS, buyer_of, issue, line, make_order

COLLECTING = Mapping.from_dict(
    {"buyer": {"id_number": "so_cccd", "passport": "so_ho_chieu", "budget_code": "ma_dvqhns"}}
)
PERSON = {
    "name": "Nguyễn Văn An",
    "company": None,
    "address1": "12 Hàng Bài",
    "province": "Hà Nội",
    "phone": "",
}


def order_with(attrs, **extra):
    return make_order([line(1, 1000, 1)], note_attributes=attrs, **extra)


# --- the formats -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["001088012345", "079203001234", "096300000001", "038195012345"])
def test_personal_ids_of_the_right_shape_pass(code):
    assert personal_id_error(code) is None


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("00108801234", "12 digits"),
        ("0010880123456", "12 digits"),
        ("00108801234A", "12 digits"),
        ("003088012345", "province"),  # 003 was never a province code
        ("097088012345", "province"),
        ("001588012345", "century"),  # gender/century digit 5: born in the 2200s
    ],
)
def test_personal_ids_of_the_wrong_shape_are_refused_saying_why(code, why):
    assert why in personal_id_error(code).english()


def test_passports_and_budget_codes_have_their_own_format():
    assert passport_error("C1234567") is None and passport_error("X12345678") is None
    assert passport_error("AB") and passport_error("ABCDEFGH") and passport_error("C123-4567")
    assert passport_error("C" * 10 + "1" * 11)  # 21 characters: more than the invoice holds
    assert budget_code_error("1012345") is None
    assert budget_code_error("101234") and budget_code_error("10123456") and budget_code_error("10A2345")


# --- the buyer on the invoice ----------------------------------------------------------------------------


def test_a_twelve_digit_personal_id_is_a_buyer_tax_code():
    attrs = [dict(a) for a in BUSINESS]
    attrs[0]["value"] = "001088012345"
    invoice_data = issue(order_with(attrs))
    assert invoice_data["BuyerTaxCode"] == "001088012345"
    assert invoice_data["BuyerLegalName"] == "Công ty TNHH Nhà sách Bình Minh"


def test_an_individuals_personal_tax_code_names_them_at_their_own_address():
    attrs = [{"name": "vat_tax_code", "value": "001 088 012 345"}]
    buyer = buyer_of(order_with(attrs, billing_address=PERSON), Mapping())
    assert (buyer.tax_code, buyer.legal_name, buyer.address) == (
        "001088012345",
        "Nguyễn Văn An",
        "12 Hàng Bài, Hà Nội",
    )


def test_a_malformed_personal_tax_code_stops_the_order_with_the_reason():
    attrs = [*BUSINESS[1:3], {"name": "vat_tax_code", "value": "003088012345"}]
    with pytest.raises(InvalidBuyer) as caught:
        issue(order_with(attrs))
    assert "003088012345" in caught.value.reason and "province" in caught.value.reason
    assert "vat_tax_code" in caught.value.reason and "#100123" in caught.value.reason


def test_decree_70_identifiers_come_from_the_configured_attributes_and_go_to_the_invoice():
    attrs = [
        {"name": "so_cccd", "value": "079 203 001 234"},
        {"name": "so_ho_chieu", "value": "c1234567"},
    ]
    invoice_data = issue(order_with(attrs, billing_address=PERSON), COLLECTING)
    assert invoice_data["BuyerIDNumber"] == "079203001234"
    assert invoice_data["BuyerPassport"] == "C1234567"
    assert "BuyerBudgetCode" not in invoice_data and invoice_data["BuyerTaxCode"] == ""
    # Not configured (the default mapping): the attributes are not read, nothing is sent.
    plain = issue(order_with(attrs, billing_address=PERSON))
    assert not {"BuyerIDNumber", "BuyerPassport", "BuyerBudgetCode"} & set(plain)


@pytest.mark.parametrize(
    ("attr", "value", "words"),
    [
        ("so_cccd", "07920300123", "personal identification number (so_cccd)"),
        ("so_ho_chieu", "C-123", "passport number (so_ho_chieu)"),
        ("ma_dvqhns", "12345", "budget-relation unit code (ma_dvqhns)"),
    ],
)
def test_an_invalid_identifier_stops_the_order_naming_its_attribute(attr, value, words):
    with pytest.raises(InvalidBuyer) as caught:
        issue(order_with([{"name": attr, "value": value}], billing_address=PERSON), COLLECTING)
    assert words in caught.value.reason and value in caught.value.reason


def test_a_budget_relation_unit_needs_its_name_and_address():
    code = [{"name": "ma_dvqhns", "value": "1012345"}]
    with pytest.raises(InvalidBuyer) as caught:
        issue(order_with(code), COLLECTING)
    assert "1012345" in caught.value.reason and "company name" in caught.value.reason
    unit = [
        *code,
        {"name": "vat_company_name", "value": "Trường Tiểu học Nguyễn Huệ"},
        {"name": "vat_company_address", "value": "3 Lý Thường Kiệt, Hà Nội"},
    ]
    invoice_data = issue(order_with(unit), COLLECTING)
    assert invoice_data["BuyerBudgetCode"] == "1012345"
    assert invoice_data["BuyerLegalName"] == "Trường Tiểu học Nguyễn Huệ"
    assert invoice_data["BuyerTaxCode"] == ""


def test_an_adjustment_keeps_the_identifiers_the_invoice_was_issued_with():
    issued = {"BuyerFullName": "Nguyễn Văn An", "BuyerIDNumber": "079203001234", "BuyerPassport": "C1234567"}
    buyer = convert.Changed({"InvSeries": "1C26TAA", "InvNo": "1"}, issued).buyer()
    assert (buyer.id_number, buyer.passport, buyer.budget_code) == ("079203001234", "C1234567", "")
    assert not buyer.is_business


# --- the agreement (or notice) on an adjustment ----------------------------------------------------------


def adjustment(**buyer):
    return {"ReferenceType": 2, "InvoiceNote": "Điều chỉnh giảm hóa đơn số 12 do trả hàng", **buyer}


def test_a_business_buyers_adjustment_names_the_written_agreement():
    reference = CorrectionReference("Số 01/2026/BBTT", dt.date(2026, 3, 5))
    out = with_correction_reference(adjustment(BuyerTaxCode="0312345673"), reference)
    assert out["InvoiceNote"] == (
        "Điều chỉnh giảm hóa đơn số 12 do trả hàng, theo biên bản thỏa thuận số 01/2026/BBTT ngày 05/03/2026"
    )


def test_an_individuals_adjustment_names_the_notice():
    out = with_correction_reference(adjustment(), CorrectionReference("TB-7", dt.date(2026, 3, 5)))
    assert out["InvoiceNote"].endswith(", theo thông báo số TB-7 ngày 05/03/2026")


def test_only_a_correction_carries_a_reference():
    with pytest.raises(convert.ConversionError):
        with_correction_reference({"InvoiceNote": ""}, CorrectionReference("1", dt.date(2026, 3, 5)))
