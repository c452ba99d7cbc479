"""What MISA answers, as the simulator answers it: the template number and
series apart, RefIDs echoed upper-case, status rows without InvDate, UnAuthorize for a stale token,
InvoiceQuantityTooLarge for a heavy batch, InvoiceNumberNotCotinuous, pacing per series, paging with
TotalCount, and cash-register series (SignType 5, invoiceCalcu=true). Each test fails if the product
stops handling the answer."""

import datetime as dt
import itertools

import pytest
from django.utils import timezone, translation

from meinvoice import services
from meinvoice.client import PublishResult, full_series, inv_date
from sandbox.meinvoice.accounts import build_template
from syncjobs.models import SyncAttempt, SyncDocument
from tests.meinvoice.test_issuance import conn, expected_mst, fresh, gen, meinvoice, paid_order, take

__all__ = ["conn"]  # the fixture, shared with test_issuance

MST = "0101243150"


def publish_calls(sim, mst=MST):
    return [c for c in sim.calls if c["mst"] == mst and c["path"].lower().endswith("/invoice")]


def orders_on(mst, count, g=None):
    """`count` paid orders the routing sends to `mst` (taken in), as their documents."""
    g = g or gen()
    docs = []
    for _ in range(40):
        order = paid_order(g)
        if expected_mst(order) == mst:
            docs.append(take(order))
            if len(docs) == count:
                return docs
    raise AssertionError(f"the generator gave fewer than {count} orders for {mst}")


def done(doc):
    doc.refresh_from_db()
    assert doc.state == "done", (doc.state, doc.last_error)
    return doc


# --- the template number and the series apart; RefIDs upper-case -----------------------------------


def test_the_simulator_answers_in_misas_split_and_upper_case_form_by_default(conn, sandbox):
    sim = meinvoice(sandbox)
    assert sim.knobs["series_form"] == "split" and sim.knobs["upper_ref_ids"] is True
    doc = take(paid_order())
    services.sync_orders()
    doc = done(doc)
    series = doc.result["series"]
    assert len(series) == 7 and doc.result["inv_series"] == series  # stored joined, as an adjustment needs
    assert sim.calls[-1]["error_code"] is None


@pytest.mark.parametrize("form", ["split", "joined"])
def test_an_invoice_answered_in_either_series_form_can_be_adjusted(conn, sandbox, form):
    sim = meinvoice(sandbox)
    sim.set_knobs(series_form=form)
    g = gen()
    order = paid_order(g)
    doc = take(order)
    services.sync_orders()
    doc = done(doc)
    g.cancel(order["id"])
    take(fresh(order["id"]))
    adj = SyncDocument.objects.get(kind="cancel")
    assert adj.payload["OrgInvTemplateNo"] + adj.payload["OrgInvSeries"] == doc.result["series"]
    assert adj.payload["OrgInvNo"] == doc.result["inv_no"]
    services.sync_orders()
    done(adj)
    originals = {i["RefID"]: i for i in sim.invoices()}
    assert originals[doc.result["ref_id"]]["EInvoiceStatus"] == 8  # adjusted


def test_upper_case_refids_are_matched_in_results_lookups_and_status(conn, sandbox):
    sim = meinvoice(sandbox)
    doc = take(paid_order())
    sim.set_knobs(timeout_after_commit_rate=1.0, lost_answer_mode="504")
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "retrying"
    sim.set_knobs(timeout_after_commit_rate=0.0)
    SyncDocument.objects.filter(pk=doc.pk).update(next_retry_at=timezone.now())
    services.sync_orders()  # found by a RefID lookup whose rows spell the RefID upper-case
    doc = done(doc)
    assert len(sim.invoices()) == 1
    sim.advance(60)
    assert services.refresh_status() == 1  # status rows: upper-case RefIDs too
    doc.refresh_from_db()
    assert doc.result["send_tax_status"] == 2
    rows = services.client_for(doc.account).status([doc.result["ref_id"]])
    assert [r["RefID"] for r in rows] == [doc.result["ref_id"]]  # as we asked, not as MISA echoed it
    assert sim.calls[-1]["error_code"] is None


def test_an_invoice_recovered_by_refid_lookup_without_invdate_is_still_adjustable(conn, sandbox):
    sim = meinvoice(sandbox)
    g = gen()
    order = paid_order(g)
    doc = take(order)
    sim.set_knobs(timeout_after_commit_rate=1.0, lost_answer_mode="504")
    services.sync_orders()
    sim.set_knobs(timeout_after_commit_rate=0.0)
    SyncDocument.objects.filter(pk=doc.pk).update(next_retry_at=timezone.now())
    services.sync_orders()
    doc = done(doc)
    assert "found already issued" in SyncAttempt.objects.filter(document=doc).latest("id").message
    row = sim.invoices()[0]
    assert doc.result["inv_date"] == row["InvDate"][:10]  # from PublishedTime: status rows have no InvDate
    g.cancel(order["id"])
    take(fresh(order["id"]))
    adj = SyncDocument.objects.get(kind="cancel")
    assert adj.state == "queued", adj.last_error
    assert adj.payload["OrgInvDate"] == row["InvDate"][:10]


def test_rows_are_read_in_both_forms():
    assert full_series({"InvTemplateNo": "1", "InvSeries": "C25TAA"}) == "1C25TAA"
    assert full_series({"InvTempl": "2", "InvSeries": "c25tbb"}) == "2C25TBB"
    assert full_series({"InvSeries": "1C25TAA", "InvTemplateNo": "1"}) == "1C25TAA"
    assert inv_date({"InvDate": "2025-03-01T00:00:00"}) == "2025-03-01"
    # 23:30 on 1 March in UTC is already 2 March in Vietnam
    assert inv_date({"PublishedTime": "2025-03-01T23:30:00Z"}) == "2025-03-02"
    assert inv_date({"PublishedTime": "2025-03-02T06:30:00.000+07:00"}) == "2025-03-02"
    assert inv_date({}) == ""


# --- a stale token ---------------------------------------------------------------------------------


def test_unauthorize_on_a_business_call_logs_in_again_once(conn, sandbox):
    sim = meinvoice(sandbox)
    doc = take(paid_order())
    mst = doc.account.external_id
    sim.revoke_tokens()
    services.sync_orders()
    done(doc)
    codes = [c["error_code"] for c in sim.calls if c["mst"] == mst]
    assert "UnAuthorize" in codes
    assert sum(1 for c in sim.calls if c["path"].lower().endswith("/auth/token") and c["mst"] == mst) >= 2


def test_only_a_failed_login_is_a_credential_error(conn, sandbox):
    sim = meinvoice(sandbox)
    doc = take(paid_order())
    sim.revoke_tokens()
    sim.accounts[doc.account.external_id].password = "changed-in-meinvoice"
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "failed" and "refused the credentials" in doc.last_error
    assert not sim.invoices()


# --- InvoiceQuantityTooLarge, InvoiceNumberNotCotinuous, pacing ---------------------------------------


def test_a_batch_too_large_is_split_and_resent_never_failed_whole(conn, sandbox):
    sim = meinvoice(sandbox)
    docs = orders_on(MST, 5)
    sim.set_knobs(max_invoices_per_call=2)
    services.sync_orders()
    for doc in docs:
        done(doc)
    calls = publish_calls(sim)
    assert "InvoiceQuantityTooLarge" in [c["error_code"] for c in calls]
    assert len({i["RefID"] for i in sim.invoices(MST)}) == 5 == len(sim.invoices(MST))


def test_a_single_invoice_still_too_large_fails_alone(conn, sandbox):
    sim = meinvoice(sandbox)
    g = gen()
    docs = []
    for _ in range(12):  # until there are light and heavy invoices on one series
        docs += orders_on(MST, 1, g)
        sizes = {len(d.payload["OriginalInvoiceDetail"]) for d in docs}
        if len(sizes) > 1:
            break
    light = min(len(d.payload["OriginalInvoiceDetail"]) for d in docs)
    sim.set_knobs(max_lines_per_call=light)
    services.sync_orders()
    for doc in docs:
        doc.refresh_from_db()
        if len(doc.payload["OriginalInvoiceDetail"]) == light:
            assert doc.state == "done", doc.last_error
        else:
            assert doc.state == "failed" and "InvoiceQuantityTooLarge" in doc.last_error


def test_invoice_number_not_continuous_is_retried(conn, sandbox):
    sim = meinvoice(sandbox)
    doc = take(paid_order())
    sim.set_knobs(not_continuous_rate=1.0)
    services.sync_orders()
    doc.refresh_from_db()
    assert doc.state == "retrying" and "InvoiceNumberNotCotinuous" in doc.last_error
    sim.set_knobs(not_continuous_rate=0.0)
    SyncDocument.objects.filter(pk=doc.pk).update(next_retry_at=timezone.now())
    services.sync_orders()
    done(doc)


def test_publish_calls_of_one_series_are_paced(conn, sandbox, settings):
    settings.MEINVOICE_SERIES_GAP_SECONDS = 0.25
    sim = meinvoice(sandbox)
    docs = orders_on(MST, 3)
    sim.set_knobs(max_invoices_per_call=1)  # three calls on one series in one pass
    services.sync_orders()
    for doc in docs:
        done(doc)
    starts = [c["clock"] for c in publish_calls(sim) if c["error_code"] is None]
    assert len(starts) == 3
    assert all(b - a >= 0.24 for a, b in itertools.pairwise(starts))


def test_calls_too_close_on_one_series_are_retried_not_failed(conn, sandbox, settings):
    sim = meinvoice(sandbox)
    sim.set_knobs(max_invoices_per_call=1, min_series_gap_seconds=0.2)
    docs = orders_on(MST, 2)
    settings.MEINVOICE_SERIES_GAP_SECONDS = 0  # not paced: the second call comes too soon
    services.sync_orders()
    states = sorted(SyncDocument.objects.filter(pk__in=[d.pk for d in docs]).values_list("state", flat=True))
    assert states == ["done", "retrying"]
    SyncDocument.objects.filter(state="retrying").update(next_retry_at=timezone.now())
    settings.MEINVOICE_SERIES_GAP_SECONDS = 0.25  # paced: nothing comes too soon
    docs += orders_on(MST, 2)
    sim.advance(1)  # this pass starts well after the last one
    services.sync_orders()
    for doc in docs:
        done(doc)


def test_the_default_gap_follows_misas_guide(settings):
    del settings.MEINVOICE_SERIES_GAP_SECONDS
    assert 1.0 <= services.series_gap_seconds() <= 3.0


# --- paging ----------------------------------------------------------------------------------------


def test_paging_goes_through_total_count(conn, sandbox):
    docs = orders_on(MST, 5)
    services.sync_orders()
    for doc in docs:
        done(doc)
    client = services.client_for(docs[0].account)
    today = timezone.localdate()
    page = client.paging(from_date=today, to_date=today, skip=0, take=2)
    assert page.total == 5 and len(page.rows) == 2
    rows = client.invoices_between(today - dt.timedelta(days=1), today, take=2)
    assert sorted(r["RefID"].casefold() for r in rows) == sorted(d.result["ref_id"] for d in docs)
    assert {len(r["InvSeries"]) for r in rows} == {7}


# --- cash-register series --------------------------------------------------------------------------


@pytest.fixture
def cash_register(conn, sandbox):
    """The default MST issues on a cash-register series (5th character M)."""
    sim = meinvoice(sandbox)
    series = f"1C{timezone.localdate().year % 100:02d}MYY"
    sim.accounts[MST].templates.append(build_template(sim, series))
    account = conn.accounts.get(external_id=MST)
    services.sync_templates(account)
    account.settings = {**account.settings, "series": series}
    account.save()
    return series


def test_a_cash_register_series_is_offered_as_such(conn, cash_register):
    account = conn.accounts.get(external_id=MST)
    with translation.override("en"):
        assert "cash register" in dict(services.series_choices(account))[cash_register]
    with translation.override("vi"):
        assert "máy tính tiền" in dict(services.series_choices(account))[cash_register]


def test_a_cash_register_series_is_issued_looked_up_and_adjusted(conn, sandbox, cash_register):
    sim = meinvoice(sandbox)
    g = gen()
    docs = orders_on(MST, 1, g)
    doc = docs[0]
    services.sync_orders()
    doc = done(doc)  # the simulator refuses a cash-register series published with SignType 2
    assert doc.result["inv_series"] == cash_register
    status = [c for c in sim.calls if c["path"].lower().endswith("/invoice/status")]
    sim.advance(60)
    assert services.refresh_status() == 1  # found only with invoiceCalcu=true
    status = [c for c in sim.calls if c["path"].lower().endswith("/invoice/status")][len(status) :]
    assert status and all("invoiceCalcu=true" in c["query"] for c in status)
    doc.refresh_from_db()
    assert doc.result["send_tax_status"] == 2
    g.cancel(int(doc.source_id))
    take(fresh(int(doc.source_id)))
    adj = SyncDocument.objects.get(kind="cancel")
    assert adj.payload["InvSeries"] == cash_register
    services.sync_orders()
    done(adj)


def test_a_lost_cash_register_answer_is_looked_up_with_invoice_calcu(conn, sandbox, cash_register):
    sim = meinvoice(sandbox)
    doc = orders_on(MST, 1)[0]
    sim.set_knobs(timeout_after_commit_rate=1.0, lost_answer_mode="504")
    services.sync_orders()
    sim.set_knobs(timeout_after_commit_rate=0.0)
    SyncDocument.objects.filter(pk=doc.pk).update(next_retry_at=timezone.now())
    services.sync_orders()
    done(doc)
    assert len(sim.invoices(MST)) == 1  # found, not sent twice


def test_a_single_too_large_result_reads_as_a_refusal():
    result = PublishResult("r", False, "", "", "", "", "", "InvoiceQuantityTooLarge", "too large")
    assert not result.retryable and not result.duplicate
