import json
import subprocess
import sys

import pytest
from django.core.management import call_command

from connectors.models import RoutingRule
from meinvoice import services
from syncjobs.models import SyncAttempt, SyncDocument
from tests import factories
from tests.support.services import REPO


@pytest.fixture
def conn(db):
    t = factories.tenant()
    c = factories.connection(t, factories.shop(t, org_id="200000001"), accounts=("0101243150", "0312345673"))
    factories.rule(c, RoutingRule.Dimension.LOCATION, "1002", "0312345673", priority=10)
    for account in c.accounts.all():
        account.settings = {"series": "1C26TAA"}
        account.save()
    return c


def run_preview(tmp_path, order, capsys):
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order, ensure_ascii=False), encoding="utf-8")
    call_command("preview_invoice", "--org", "200000001", str(path))
    return json.loads(capsys.readouterr().out)


def test_preview_shows_the_mst_the_reason_and_the_invoice(conn, tmp_path, capsys):
    out = run_preview(tmp_path, factories.paid_order(), capsys)
    assert set(out) == {"issue", "reason", "explanation", "issuance", "account", "invoice"}
    assert out["issue"] is True and out["account"]["tax_code"] == "0312345673"
    assert "1002" in out["explanation"] and out["explanation"] in out["reason"]
    assert out["issuance"] and "1002" not in out["issuance"]
    invoice = out["invoice"]
    assert invoice["TotalAmount"] == 216000
    assert invoice["TotalAmount"] == invoice["TotalAmountWithoutVAT"] + invoice["TotalVATAmount"]


def test_preview_of_an_unpaid_order_says_why_not(conn, tmp_path, capsys):
    out = run_preview(tmp_path, factories.paid_order(financial_status="pending"), capsys)
    assert out["issue"] is False and out["invoice"] is None and "paid" in out["reason"]
    assert out["account"]["tax_code"] == "0312345673"


def test_preview_writes_nothing(conn, tmp_path, capsys):
    run_preview(tmp_path, factories.paid_order(), capsys)
    assert not SyncDocument.objects.exists() and not SyncAttempt.objects.exists()


def test_preview_command_reads_stdin_and_refuses_bad_json(conn):
    # A real process, as a person would run it (its own database connection sees no test data).
    bad = subprocess.run(
        [sys.executable, "manage.py", "preview_invoice", "--org", "200000001", "-"],
        input="{oops",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert bad.returncode != 0


def test_retry_of_a_blocked_order_uses_the_fixed_mapping(conn):
    from haravan.services import intake_order

    order = factories.paid_order(
        note_attributes=[
            {"name": "vat_tax_code", "value": "0101243151"},
            {"name": "vat_company_name", "value": "Công ty A"},
            {"name": "vat_company_address", "value": "Hà Nội"},
        ]
    )
    intake_order("200000001", order, trigger="test")
    doc = SyncDocument.objects.get()
    assert doc.state == "blocked"
    # The accountant fixes the buyer's tax code on the order; the next snapshot plus a retry issue it.
    SyncDocument.objects.filter(pk=doc.pk).update(
        source_data={
            **order,
            "note_attributes": [
                {"name": "vat_tax_code", "value": "0101243150"},
                {"name": "vat_company_name", "value": "Công ty A"},
                {"name": "vat_company_address", "value": "Hà Nội"},
            ],
        }
    )
    user = factories.user(conn.tenant, email="acc@example.com")
    assert services.retry([doc], user=user) == 1
    doc.refresh_from_db()
    assert doc.state == "queued" and doc.payload["BuyerTaxCode"] == "0101243150"
    assert SyncAttempt.objects.filter(
        document=doc, action="retry", message__contains="acc@example.com"
    ).exists()
    assert services.retry([doc], user=user) == 0  # queued already: a second click starts nothing


def test_retry_after_a_send_looks_up_first(conn):
    from haravan.services import intake_order

    intake_order("200000001", factories.paid_order(), trigger="test")
    doc = SyncDocument.objects.get()
    SyncDocument.objects.filter(pk=doc.pk).update(state="failed", attempts=8)
    assert services.retry([doc]) == 1
    doc.refresh_from_db()
    assert doc.state == "retrying" and doc.attempts == 1 and doc.next_retry_at is not None
