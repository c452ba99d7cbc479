"""What a day's check holds of each document while an account is checked: a slim record whose result keeps
only the keys its target declares (``TargetAdapter.day_result_keys``), and a day still checked the same."""

from meinvoice import services
from meinvoice.adapter import MeInvoiceTarget
from syncjobs.models import ReconciledDay, SyncDocument
from syncjobs.reconciliation import _AccountDocuments, check_day
from tests.syncjobs.test_reconciliation import conn, paid_orders, take, today  # noqa: F401 (a fixture)
from tests.syncjobs.test_reconciliation import report as report_json


def test_a_record_keeps_only_the_result_keys_its_target_reads(conn, sandbox):  # noqa: F811
    orders = paid_orders(2)
    for order in orders:
        take(order)
    assert services.sync_orders() == 2
    first, second = SyncDocument.objects.order_by("pk")
    assert first.result.get("ref_id") and first.result.get("inv_no")
    SyncDocument.objects.filter(pk=second.pk).update(result={"inv_no": 7})  # none of the declared keys
    account = conn.accounts.get()
    zone = conn.source.day_zone(conn)
    records = {k.id: k for k in _AccountDocuments(conn, account, today(), zone).known}
    assert set(records) == {first.pk, second.pk}
    kept = records[first.pk].result
    assert dict(kept) == {
        key: first.result[key] for key in MeInvoiceTarget.day_result_keys if key in first.result
    }
    assert kept.get("inv_no") is None and kept.get("transaction_id") is None
    assert records[second.pk].result and records[second.pk].result.get("ref_id") is None
    assert records[first.pk].done_at == first.done_at and records[first.pk].updated_at is None


def test_a_day_checked_from_slim_records_matches_as_before(conn, sandbox):  # noqa: F811
    for order in paid_orders(3, seed=5):
        take(order)
    assert services.sync_orders() == 3
    (row,) = check_day(conn, today())
    assert row.matches and row.expected_count == row.confirmed_count == 3
    (account,) = report_json(conn)["accounts"]
    assert account["differences"] == [] and ReconciledDay.objects.count() == 1
