"""The simulator refuses malformed Decree 70 buyer identifiers as MISA would (the Invalid_[Invoice.…] codes
are unconfirmed: MISA's guides name the checks, not the codes) and takes well-formed ones."""

import pytest

from tests.sandbox.test_meinvoice import api, invoice, mapp, misa  # noqa: F401 - fixtures

# --- the simulator refuses what MISA refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"BuyerIDNumber": "07920300123"}, "Invalid_[Invoice.BuyerIDNumber]"),
        ({"BuyerPassport": "P" * 21}, "Invalid_[Invoice.BuyerPassport]"),
        ({"BuyerBudgetCode": "101234"}, "Invalid_[Invoice.BuyerBudgetCode]"),
        ({"BuyerBudgetCode": "1012345", "BuyerAddress": "Hà Nội"}, "RequireError_BuyerLegalName"),
        ({"BuyerTaxCode": "001088012345", "BuyerLegalName": "Nguyễn Văn An"}, "RequireError_BuyerAddress"),
    ],
)
def test_the_simulator_refuses_malformed_decree_70_identifiers(api, fields, code):  # noqa: F811
    [result] = api.results(invoice(**fields))
    assert result["ErrorCode"] == code


def test_the_simulator_takes_well_formed_decree_70_buyers(api):  # noqa: F811
    buyers = [
        {"BuyerTaxCode": "001088012345", "BuyerLegalName": "Nguyễn Văn An", "BuyerAddress": "Hà Nội"},
        {"BuyerIDNumber": "079203001234", "BuyerPassport": "C1234567"},
        {"BuyerBudgetCode": "1012345", "BuyerLegalName": "Trường TH", "BuyerAddress": "Hà Nội"},
    ]
    results = api.results(*(invoice(ref_id=f"ref-{n}", **b) for n, b in enumerate(buyers)))
    assert [r["ErrorCode"] for r in results] == [None, None, None]
