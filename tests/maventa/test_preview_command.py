"""`manage.py preview --target maventa --org VAT INVOICE.json`: one JSON object in the issue's shape."""

import json

import pytest
from django.core.management import call_command

from sandbox.severa import data as severa_data
from tests.maventa.test_transfer import AB_VAT, OY_VAT, connection, sims  # noqa: F401 - fixtures


def _file(tmp_path, bundle):
    path = tmp_path / "invoice.json"
    path.write_text(json.dumps(bundle))
    return str(path)


def _run(*args, capsys):
    call_command("preview", *args)
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def bundle_of(connection):  # noqa: F811 - the fixture of the same name, used here
    from severa.services import _Details, client_for, organisation_of

    organisation = organisation_of(connection)

    def read(guid):
        return _Details(organisation).bundle(client_for(organisation).invoice(guid))

    return read


def test_a_waiting_invoice_would_be_sent_by_einvoice_with_valid_ubl(bundle_of, tmp_path, capsys):
    bundle = bundle_of(severa_data.INVOICE_TWO_RATES)
    answer = _run("--target", "maventa", "--org", AB_VAT, _file(tmp_path, bundle), capsys=capsys)
    assert set(answer) == {"send", "reason", "account", "route", "format", "ubl", "validation"}
    assert answer["send"] is True, answer["reason"]
    assert answer["account"]["vat_number"] == AB_VAT and answer["account"]["company_uuid"]
    assert answer["route"]["channel"] == "einvoice" and answer["route"]["recipient_eia"] == "0007:5560123456"
    assert answer["format"] == "PEPPOLBIS30"
    assert answer["ubl"].startswith("<?xml") and "<cbc:ID>1001</cbc:ID>" in answer["ubl"]
    assert answer["validation"] == {"valid": True, "errors": []}


def test_the_finnish_companys_invoice_routes_to_its_account(bundle_of, tmp_path, capsys):
    bundle = bundle_of(severa_data.INVOICE_OVT)
    answer = _run("--target", "maventa", "--org", AB_VAT, _file(tmp_path, bundle), capsys=capsys)
    assert answer["account"]["vat_number"] == OY_VAT
    assert answer["route"] == {
        "channel": "einvoice",
        "recipient_eia": "003776543212",
        "recipient_operator": "003721291126",
        "recipient_email": None,
        "why": answer["route"]["why"],
    }


def test_an_invoice_in_another_status_or_invalid_would_not_be_sent(bundle_of, tmp_path, capsys):
    bundle = bundle_of(severa_data.INVOICE_TWO_RATES)
    bundle["invoice"]["status"] = {"guid": severa_data.DRAFT, "name": "Luonnos", "isSent": False}
    answer = _run("--target", "maventa", "--org", AB_VAT, _file(tmp_path, bundle), capsys=capsys)
    assert answer["send"] is False and "Luonnos" in answer["reason"]

    bundle = bundle_of(severa_data.INVOICE_TWO_RATES)
    bundle["invoice"]["yourReference"] = None
    bundle["invoice"]["orderNumber"] = None
    answer = _run("--target", "maventa", "--org", AB_VAT, _file(tmp_path, bundle), capsys=capsys)
    assert answer["send"] is False
    assert answer["validation"]["valid"] is False
    assert {"rule": "PEPPOL-EN16931-R003", "message": answer["validation"]["errors"][0]["message"]} in answer[
        "validation"
    ]["errors"]
