import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from meinvoice import services
from syncjobs.models import SyncAttempt, SyncDocument
from tests import factories
from tests.support.services import REPO


def build_connection():
    """Shop 200000001 on meInvoice: two MSTs with a series each, location 1002 routed to the second."""
    t = factories.tenant()
    c = factories.connection(t, factories.shop(t, org_id="200000001"), accounts=("0101243150", "0312345673"))
    factories.rule(c, "location", "1002", "0312345673", priority=10)
    for account in c.accounts.all():
        account.settings = {"series": "1C26TAA"}
        account.save()
    return c


@pytest.fixture
def conn(db):
    return build_connection()


def run_preview(tmp_path, order, capsys):
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order, ensure_ascii=False), encoding="utf-8")
    call_command("preview_invoice", "--org", "200000001", str(path))
    return json.loads(capsys.readouterr().out)


def test_preview_shows_the_mst_the_reason_and_the_invoice(conn, tmp_path, capsys):
    out = run_preview(tmp_path, factories.paid_order(), capsys)
    assert set(out) == {"issue", "reason", "explanation", "issuance", "account", "invoice", "adjustments"}
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


@pytest.fixture
def own_database(tmp_path):
    """What a person has: a process on the real settings over a migrated database of its own (a SQLite file
    here, out of the test database's reach) holding the connection above. Returns that process's env."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path),
    }
    for args in (
        ["migrate", "--noinput"],
        [
            "shell",
            "-c",
            "from tests.meinvoice.test_preview_and_retry import build_connection; build_connection()",
        ],
    ):
        done = manage(args, env)
        assert done.returncode == 0, done.stderr
    return env


def manage(args, env, stdin=""):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def test_preview_command_reads_stdin_and_refuses_bad_json(own_database):
    # A real process, as a person would run it: the order comes on standard input ("-").
    order = factories.paid_order()
    good = manage(["preview_invoice", "--org", "200000001", "-"], own_database, json.dumps(order))
    assert good.returncode == 0, good.stderr
    out = json.loads(good.stdout)
    assert out["issue"] is True and out["account"]["tax_code"] == "0312345673"
    assert out["invoice"]["TotalAmount"] == order["total_price"] == 216000

    bad = manage(["preview_invoice", "--org", "200000001", "-"], own_database, "{oops")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip() == (
        "CommandError: Cannot read the order: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )

    array = manage(["preview_invoice", "--org", "200000001", "-"], own_database, json.dumps([order]))
    assert array.returncode == 1 and array.stdout == ""
    assert array.stderr.strip() == (
        'CommandError: The order must be a JSON object (a Haravan order, or {"order": {...}}).'
    )


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


# --- what follows the invoice ---------------------------------------------------------------------

EXAMPLE = REPO / "tests" / "meinvoice" / "haravan_refund_example.json"


def refund_example():
    """Haravan's Refund page (https://docs.haravan.com/docs/omni-apis/refunds/): an order of 3 × 15,000,000,
    two restock-only refunds (1, then 2 units), then 1,500,000 given back alone ("Thành công")."""
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def with_policy(conn, on_refund, *, statuses=("paid", "partially_refunded")):
    conn.settings = {
        "meinvoice": {
            "conditions": {"financial_statuses": list(statuses)},
            "returns": {"on_refund": on_refund},
        }
    }
    conn.save()


def test_preview_of_haravans_refund_example_shows_one_adjustment_of_the_money(conn, tmp_path, capsys):
    with_policy(conn, "adjust")
    out = run_preview(tmp_path, refund_example(), capsys)
    assert out["issue"] is True and out["invoice"]["TotalAmount"] == 45_000_000
    (follows,) = out["adjustments"]  # nothing for the two restocks
    assert follows["kind"] == "adjustment" and "1011638030" in follows["reason"]
    adjustment = follows["invoice"]
    assert adjustment["TotalAmount"] == -1_500_000 and adjustment["ReferenceType"] == 2
    assert adjustment["OrgInvSeries"] == out["invoice"]["InvSeries"][1:]
    by_rate = {
        r["VATRateName"]: r["AmountWithoutVATOC"] + r["VATAmountOC"] for r in adjustment["TaxRateInfo"]
    }
    assert sum(by_rate.values()) == -1_500_000
    assert set(by_rate) == {d["VATRateName"] for d in out["invoice"]["OriginalInvoiceDetail"]}


def test_preview_under_the_replacement_policy_shows_what_the_buyer_keeps(conn, tmp_path, capsys):
    with_policy(conn, "replace")
    out = run_preview(tmp_path, refund_example(), capsys)
    (follows,) = out["adjustments"]
    assert follows["kind"] == "replacement" and follows["invoice"]["ReferenceType"] == 1
    assert follows["invoice"]["TotalAmount"] == 45_000_000 - 1_500_000


def test_preview_under_the_manual_policy_issues_nothing_and_says_so(conn, tmp_path, capsys):
    with_policy(conn, "manual")
    out = run_preview(tmp_path, refund_example(), capsys)
    (follows,) = out["adjustments"]
    assert follows == {"kind": "manual", "reason": follows["reason"], "invoice": None}
    assert "manual" in follows["reason"]


def test_preview_says_why_a_refund_would_not_be_issued(conn, tmp_path, capsys):
    with_policy(conn, "adjust")
    order = refund_example()
    order["refunds"][2]["transactions"][0]["status"] = "reversed"
    out = run_preview(tmp_path, order, capsys)
    (follows,) = out["adjustments"]
    assert follows["invoice"] is None and "neither success nor failure" in follows["reason"]


def test_nothing_follows_an_order_without_refunds_or_an_invoice(conn, tmp_path, capsys):
    assert run_preview(tmp_path, factories.paid_order(), capsys)["adjustments"] == []
    with_policy(conn, "adjust", statuses=("paid",))
    out = run_preview(tmp_path, refund_example(), capsys)  # partially refunded: not issued at all
    assert out["issue"] is False and out["adjustments"] == []


def test_preview_says_an_adjustment_waits_for_the_agreement_when_the_policy_asks_for_it(
    conn, tmp_path, capsys
):
    conn.settings = {
        "meinvoice": {
            "conditions": {"financial_statuses": ["paid", "partially_refunded"]},
            "returns": {"on_refund": "adjust", "require_agreement": True},
        }
    }
    conn.save()
    (follows,) = run_preview(tmp_path, refund_example(), capsys)["adjustments"]
    assert follows["invoice"]["TotalAmount"] == -1_500_000 and "waits for the reference" in follows["reason"]
    with_policy(conn, "adjust")
    (follows,) = run_preview(tmp_path, refund_example(), capsys)["adjustments"]
    assert "waits" not in follows["reason"]
