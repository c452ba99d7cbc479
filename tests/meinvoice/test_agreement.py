"""Decree 70 on the simulator, end to end: Decree 70 identifiers reach the published invoice, and an
adjustment or a replacement waits for the agreement (or notice) reference when the returns policy
requires one, then is issued with it in its note. The real services and database; only the network is
replaced."""

import copy
import datetime as dt

from meinvoice import services
from meinvoice.convert import buyer_is_business
from syncjobs.models import SyncAttempt, SyncDocument
from tests.meinvoice.test_issuance import conn, fresh, gen, meinvoice, paid_order, take  # noqa: F401


def issued(sandbox, ref_id) -> dict:
    """The InvoiceData the simulator published under this RefID."""
    sim = meinvoice(sandbox)
    [found] = [i.data for a in sim.accounts.values() for i in a.invoices if i.ref_id == ref_id]
    return found


def settle(conn, **returns):  # noqa: F811
    conn.settings = {"meinvoice": {"returns": returns}}
    conn.save()


def invoiced(conn):  # noqa: F811
    order = paid_order()
    doc = take(order)
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "done", doc.last_error
    return order, doc


def refund_one_unit(order, refund_id=77):
    line = order["line_items"][0]
    refunded = copy.deepcopy(order)
    refunded["refunds"] = [
        {
            "id": refund_id,
            "created_at": "2026-11-22T09:00:00Z",
            "note": "",
            "refund_line_items": [{"line_item_id": line["id"], "quantity": 1, "line_item": line}],
            "transactions": [{"kind": "refund", "status": "success", "amount": int(float(line["price"]))}],
        }
    ]
    refunded["updated_at"] = "2099-01-01T00:00:00Z"
    take(refunded)
    return SyncDocument.objects.get(kind=f"refund:{refund_id}")


def test_a_required_agreement_holds_the_adjustment_until_it_is_given_then_prints_it(conn, sandbox):  # noqa: F811
    settle(conn, require_agreement=True)
    order, doc = invoiced(conn)
    held = refund_one_unit(order)
    assert held.state == "blocked" and not held.payload
    words = "written agreement" if buyer_is_business(doc.payload) else "notice"
    assert words in held.last_error and "number and date" in held.last_error
    assert services.wants_correction_reference(held)
    assert services.sync_orders() == 0  # nothing goes out while it waits
    # Another change to the order keeps it waiting (and does not log the same reason twice).
    take(fresh(order["id"]) | {"updated_at": "2099-02-01T00:00:00Z", "refunds": held.source_data["refunds"]})
    held.refresh_from_db()
    assert held.state == "blocked"

    given = services.provide_correction_reference(held, text="01/2026/BBTT", date=dt.date(2026, 11, 21))
    assert given is True
    held.refresh_from_db()
    assert held.state == "queued", held.last_error
    assert held.correction_reference["text"] == "01/2026/BBTT"
    document = "biên bản thỏa thuận" if buyer_is_business(doc.payload) else "thông báo"
    assert held.payload["InvoiceNote"].endswith(f"theo {document} số 01/2026/BBTT ngày 21/11/2026")
    assert SyncAttempt.objects.filter(document=held, action="reference").exists()
    services.sync_orders()
    held.refresh_from_db()
    assert held.state == "done"
    assert issued(sandbox, held.result["ref_id"])["InvoiceNote"] == held.payload["InvoiceNote"]
    # Given once: a second reference is refused (the document no longer waits).
    assert not services.provide_correction_reference(held, text="02", date=dt.date(2026, 11, 22))


def test_without_the_requirement_the_adjustment_goes_out_at_once(conn, sandbox):  # noqa: F811
    order, _doc = invoiced(conn)
    adj = refund_one_unit(order)
    assert adj.state == "queued" and not services.wants_correction_reference(adj)
    assert "thỏa thuận" not in adj.payload["InvoiceNote"] and "thông báo" not in adj.payload["InvoiceNote"]


def test_a_replacement_waits_for_the_agreement_too(conn, sandbox):  # noqa: F811
    settle(conn, require_agreement=True, on_refund="replace")
    g = gen()
    order = paid_order(g)
    take(order)
    services.sync_orders()
    line = order["line_items"][0]
    refunded = copy.deepcopy(fresh(order["id"]))
    refunded["refunds"] = [
        {
            "id": 78,
            "created_at": "2026-11-22T09:00:00Z",
            "refund_line_items": [{"line_item_id": line["id"], "quantity": 1, "line_item": line}],
            "transactions": [{"kind": "refund", "status": "success", "amount": int(float(line["price"]))}],
        }
    ]
    refunded["updated_at"] = "2099-01-01T00:00:00Z"
    take(refunded)
    replacement = SyncDocument.objects.get(kind="replace:78")
    assert replacement.state == "blocked" and services.wants_correction_reference(replacement)
    services.provide_correction_reference(replacement, text="TB 5", date=dt.date(2026, 11, 23))
    replacement.refresh_from_db()
    assert replacement.state == "queued" and replacement.payload["ReferenceType"] == 1
    assert "số TB 5 ngày 23/11/2026" in replacement.payload["InvoiceNote"]


def test_a_retry_of_a_held_change_keeps_the_reference_it_was_given(conn, sandbox):  # noqa: F811
    settle(conn, require_agreement=True, on_cancel_after_issue="manual")
    g = gen()
    order = paid_order(g)
    take(order)
    services.sync_orders()
    g.cancel(order["id"])
    take(fresh(order["id"]))
    held = SyncDocument.objects.get(kind="cancel")
    assert held.state == "blocked" and "manual" in held.last_error
    held.correction_reference = {"text": "BB-9", "date": "2026-11-20"}
    held.save()
    settle(conn, require_agreement=True, on_cancel_after_issue="adjust")
    assert services.retry([held]) == 1
    adj = SyncDocument.objects.get(kind="cancel")
    assert adj.state == "queued", adj.last_error
    assert adj.payload["InvoiceNote"].endswith("số BB-9 ngày 20/11/2026")


def test_decree_70_identifiers_reach_the_published_invoice(conn, sandbox):  # noqa: F811
    conn.settings = {"meinvoice": {"buyer": {"id_number": "so_cccd", "passport": "so_ho_chieu"}}}
    conn.save()
    order = copy.deepcopy(paid_order())
    order["note_attributes"] = [
        {"name": "so_cccd", "value": "079203001234"},
        {"name": "so_ho_chieu", "value": "C1234567"},
    ]
    doc = take(order)
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "done", doc.last_error
    published = issued(sandbox, doc.result["ref_id"])
    assert (published["BuyerIDNumber"], published["BuyerPassport"]) == ("079203001234", "C1234567")


def test_an_invalid_identifier_blocks_the_order_before_anything_is_sent(conn, sandbox):  # noqa: F811
    conn.settings = {"meinvoice": {"buyer": {"id_number": "so_cccd"}}}
    conn.save()
    order = copy.deepcopy(paid_order())
    order["note_attributes"] = [{"name": "so_cccd", "value": "09920300123"}]
    doc = take(order)
    assert doc.state == "blocked" and "so_cccd" in doc.last_error and "09920300123" in doc.last_error
    assert services.sync_orders() == 0 and not meinvoice(sandbox).invoices()
