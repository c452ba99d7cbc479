"""SeveraClient against the Severa simulator (in-process, the `sandbox` fixture): the reads a transfer
needs on the demo organisation, the status change, and Severa's 10 requests a second kept by the shared
bucket, even with two clients of one organisation calling at once."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, data
from severa.client import SeveraClient, SeveraRefused

pytestmark = pytest.mark.django_db(transaction=True)

ORG = "SE556677889901"


def client(**kw):
    return SeveraClient(client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, organisation=ORG, **kw)


def test_the_reads_of_a_transfer(sandbox):
    severa = client()
    org = severa.organization_details()
    assert org["vatNumber"] == ORG
    units = severa.business_units()
    own = {u["companyGuid"]: u["vatNumber"] for u in units if u["guid"] == u["companyBusinessUnitGuid"]}
    assert own == {data.AB_COMPANY: "SE556677889901", data.OY_COMPANY: "FI23456780"}
    statuses = {s["name"]: s for s in severa.invoice_statuses()}
    to_transfer = statuses["Valmis lähetettäväksi"]
    assert to_transfer["isSent"] is False

    invoices = list(severa.invoices(status_guids=[to_transfer["guid"]]))
    assert sorted(i["number"] for i in invoices) == [1001, 1003, 5001, 5002]
    two_rates = next(i for i in invoices if i["number"] == 1001)
    assert two_rates["totalTax"]["amount"] == Decimal("2994.76")
    rows = severa.invoice_rows(two_rates["guid"])
    assert sum(r["quantity"] * r["unitPrice"]["amount"] for r in rows) == Decimal("12498.00")
    assert severa.invoice_settings(data.INVOICE_REVERSE_CHARGE)["isReverseCharged"] is True
    customer = severa.customer(two_rates["customer"]["guid"])
    assert customer["eInvoiceAddress"] == "0007:5560123456"
    assert severa.customer_country_settings(customer["guid"])[0]["zeroVatCategoryCodeEn16931"] == "AE"
    assert severa.invoice_pdf(two_rates["guid"]).startswith(b"%PDF")

    after = statuses["Lähetetty Maventaan"]["guid"]
    changed = severa.set_invoice_status(two_rates["guid"], after)
    assert changed["status"]["guid"] == after and changed["status"]["isSent"] is True
    left = [i["number"] for i in severa.invoices(status_guids=[to_transfer["guid"]])]
    assert sorted(left) == [1003, 5001, 5002]


def test_every_page_is_read(sandbox):
    sim = sandbox["severa"]
    for _ in range(150):  # more than one page of 100
        sim.generate()
    found = list(client().invoices(status_guids=[data.TO_TRANSFER]))
    assert len(found) == 154 and len({i["guid"] for i in found}) == 154


def test_changed_since_reads_only_what_moved(sandbox):
    sim = sandbox["severa"]
    severa = client()
    since = sim.wall()
    sim.move(sim.invoices[data.INVOICE_EMAIL], data.TO_TRANSFER)
    found = list(severa.invoices(status_guids=[data.TO_TRANSFER], changed_since=since))
    assert [i["guid"] for i in found] == [data.INVOICE_EMAIL]


def test_the_simulator_refuses_an_unknown_status(sandbox):
    with pytest.raises(SeveraRefused) as caught:
        client().set_invoice_status(data.INVOICE_OVT, "00000000-0000-4000-8000-000000000000")
    assert caught.value.kind == "InvalidParameter"


def test_two_clients_of_one_organisation_stay_within_ten_a_second(sandbox):
    sim = sandbox["severa"]
    sim.set_knobs(retry_after_rate=0.0)
    errors = []

    def work():
        try:
            severa = client()
            for _ in range(10):
                severa.invoice_statuses()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()  # the thread's own database connection

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    calls = list(sim.calls)
    assert len(calls) == 22 and all(c["status"] == 200 for c in calls)  # 2 tokens + 20 reads, no 429
