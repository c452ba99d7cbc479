"""The logs: filters, keyset pages, order-number search, the CSV export, one document's page and actions."""

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from connectors.models import Connection, Membership, TargetAccount
from syncjobs.models import SyncAttempt, SyncDocument
from tests import factories

MST_A, MST_B = "0101243150", "0312345673"
NOW = timezone.now().replace(microsecond=0)


# --- helpers (test data through the real models) ----------------------------------------------------------


def make_doc(conn, account, n, *, state="done", updated_at=None, kind="invoice", label=None, **fields):
    doc = SyncDocument.objects.create(
        connection=conn,
        account=account,
        source_type="order",
        source_id=str(n),
        source_label=label if label is not None else f"#{n}",
        kind=kind,
        state=state,
        **fields,
    )
    # auto_now would overwrite a value given to save(); an UPDATE keeps the one the test wants.
    SyncDocument.objects.filter(pk=doc.pk).update(updated_at=updated_at or NOW)
    doc.refresh_from_db()
    return doc


def signed_in(user):
    return factories.signed_in(user)


def walk(client, url, params=None):
    """Follow the 'older' cursors to the end: every page's ids, in order."""
    pages, after = [], None
    while True:
        query = dict(params or {})
        if after:
            query["after"] = after
        resp = client.get(url, query)
        assert resp.status_code == 200
        page = resp.context["page"]
        pages.append([d.pk for d in page.rows])
        after = page.next_cursor
        if not after:
            return pages, page


def newest_first(qs):
    return list(qs.order_by("-updated_at", "-id").values_list("id", flat=True))


@pytest.fixture
def world(db):
    """Tenant A with two connections (three accounts), tenant B with one; users of every role in A."""
    a, b = factories.tenant("A"), factories.tenant("B")
    shop_a = factories.shop(a, org_id="111")
    shop_a.domain = "cuahang-a.myharavan.com"
    shop_a.save()
    conn1 = factories.connection(a, shop_a, accounts=(MST_A, MST_B))
    conn2 = factories.connection(a, factories.shop(a, org_id="112"), accounts=("0101243150-001",))
    conn2.name = "Second shop"
    conn2.save()
    conn_b = factories.connection(b, factories.shop(b, org_id="222"))
    return {
        "tenant": a,
        "conn1": conn1,
        "conn2": conn2,
        "conn_b": conn_b,
        "acc_a": conn1.accounts.get(external_id=MST_A),
        "acc_b": conn1.accounts.get(external_id=MST_B),
        "acc_c": conn2.accounts.get(),
        "acc_other": conn_b.accounts.get(),
        "owner": factories.user(a, role=Membership.Role.OWNER, email="owner@example.com"),
        "accountant": factories.user(a, role=Membership.Role.ACCOUNTANT, email="ke.toan@example.com"),
        "viewer": factories.user(a, role=Membership.Role.VIEWER, email="viewer@example.com"),
    }


@pytest.fixture
def many(world):
    """137 documents of tenant A over both connections, in groups of 7 sharing one updated_at; 5 of B."""
    accounts = [world["acc_a"], world["acc_b"], world["acc_c"]]
    states = ["done", "done", "failed", "draft", "done", "blocked", "pending"]
    for n in range(137):
        account = accounts[n % 3]
        make_doc(
            account.connection,
            account,
            10000 + n,
            state=states[n % len(states)],
            updated_at=NOW - dt.timedelta(minutes=n // 7),
            kind="invoice" if n % 10 else "refund:77",
        )
    for n in range(5):
        make_doc(world["conn_b"], world["acc_other"], 20000 + n, state="failed", updated_at=NOW)
    return world


def own_docs(world):
    return SyncDocument.objects.filter(connection__tenant=world["tenant"])


# --- the list and its pages ---------------------------------------------------------------------------------


def test_pages_cover_every_row_once_in_order_even_with_equal_timestamps(many):
    client = signed_in(many["viewer"])
    pages, last = walk(client, "/logs/")
    ids = [pk for page in pages for pk in page]
    assert [len(p) for p in pages] == [50, 50, 37]
    assert ids == newest_first(own_docs(many))  # nothing skipped, nothing twice, tenant B absent
    # And back again with the 'newer' cursors: the same pages, in reverse.
    back, before = [], last.prev_cursor
    while before:
        page = client.get("/logs/", {"before": before}).context["page"]
        back.append([d.pk for d in page.rows])
        before = page.prev_cursor
    assert back == pages[-2::-1]


def test_filtered_pages_cover_the_filter_exactly(many):
    client = signed_in(many["viewer"])
    pages, _ = walk(client, "/logs/", {"state": ["done", "failed"]})
    ids = [pk for page in pages for pk in page]
    assert ids == newest_first(own_docs(many).filter(state__in=["done", "failed"]))
    assert len(pages) == 2  # 78 rows: two pages


@pytest.mark.parametrize(
    "params, expect",
    [
        ({"state": "failed"}, lambda w: {"state": "failed"}),
        ({"connection": "conn2"}, lambda w: {"connection": w["conn2"]}),
        ({"account": "acc_b"}, lambda w: {"account": w["acc_b"]}),
        ({"kind": "refund"}, lambda w: {"kind__startswith": "refund:"}),
        ({"kind": "invoice", "account": "acc_a"}, lambda w: {"kind": "invoice", "account": w["acc_a"]}),
        ({"connection": "conn1", "state": "draft"}, lambda w: {"connection": w["conn1"], "state": "draft"}),
    ],
)
def test_each_filter_lists_exactly_its_documents(many, params, expect):
    query = {k: (many[v].pk if v in many else v) for k, v in params.items()}
    pages, _ = walk(signed_in(many["viewer"]), "/logs/", query)
    assert [pk for page in pages for pk in page] == newest_first(own_docs(many).filter(**expect(many)))


def test_date_range_is_in_local_days_and_inclusive(world):
    tz = timezone.get_current_timezone()
    day = dt.datetime(2026, 11, 20, tzinfo=tz)
    inside = [
        make_doc(world["conn1"], world["acc_a"], 1, updated_at=day),
        make_doc(
            world["conn1"], world["acc_a"], 2, updated_at=day + dt.timedelta(days=1, hours=23, minutes=59)
        ),
    ]
    make_doc(world["conn1"], world["acc_a"], 3, updated_at=day - dt.timedelta(seconds=1))
    make_doc(world["conn1"], world["acc_a"], 4, updated_at=day + dt.timedelta(days=2))
    resp = signed_in(world["viewer"]).get(
        "/logs/", {"updated_from": "2026-11-20", "updated_to": "2026-11-21"}
    )
    assert [d.pk for d in resp.context["page"].rows] == [inside[1].pk, inside[0].pk]


def test_a_date_range_backwards_says_what_to_do(world):
    make_doc(world["conn1"], world["acc_a"], 1)
    html = signed_in(world["viewer"]).get(
        "/logs/", {"updated_from": "2026-11-21", "updated_to": "2026-11-20"}
    )
    assert "swap them" in html.content.decode() and html.context["page"].rows == []


@pytest.mark.parametrize("typed", ["#100020", "100020", " #100020 "])
def test_order_number_search_with_or_without_hash(world, typed):
    wanted = make_doc(world["conn1"], world["acc_a"], 555, label="#100020")
    change = make_doc(world["conn1"], world["acc_a"], 555, label="#100020", kind="cancel", state="queued")
    make_doc(world["conn1"], world["acc_a"], 556, label="#1000200")
    make_doc(world["conn_b"], world["acc_other"], 557, label="#100020")  # the same number in tenant B
    rows = signed_in(world["viewer"]).get("/logs/", {"order": typed}).context["page"].rows
    assert {d.pk for d in rows} == {wanted.pk, change.pk}


def test_htmx_gets_only_the_results_and_a_plain_get_the_whole_page(many):
    client = signed_in(many["viewer"])
    partial = client.get("/logs/", {"state": "failed"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="logs-results")
    body = partial.content.decode()
    assert body.lstrip().startswith('<div id="logs-results"') and "<html" not in body
    assert "HX-Request" in partial["Vary"]
    page = client.get("/logs/", {"state": "failed"}).content.decode()
    assert "<html" in page and 'hx-get="/logs/"' in page and 'hx-push-url="true"' in page
    assert 'id="logs-results"' in page and "onclick" not in page and "style=" not in page


def test_a_state_given_twice_lists_each_row_once(many):
    pages, _ = walk(signed_in(many["viewer"]), "/logs/", {"state": ["failed", "failed"]})
    assert [pk for page in pages for pk in page] == newest_first(own_docs(many).filter(state="failed"))


def test_a_mangled_cursor_starts_over_instead_of_failing(many):
    resp = signed_in(many["viewer"]).get("/logs/", {"after": "not-a-cursor!"})
    assert resp.status_code == 200 and len(resp.context["page"].rows) == 50


def test_the_list_reads_no_json_snapshots_and_never_counts_or_offsets(many):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = signed_in(many["viewer"])
    cursor = client.get("/logs/").context["page"].next_cursor
    with CaptureQueriesContext(connection) as captured:
        client.get("/logs/", {"after": cursor, "state": ["done", "failed"]})
    listing = [q["sql"] for q in captured.captured_queries if 'FROM "syncjobs_syncdocument"' in q["sql"]]
    assert listing and all("OFFSET" not in sql and "source_data" not in sql for sql in listing)
    counts = [sql for sql in listing if "COUNT(" in sql.upper()]
    # The only count is the banner's "needs a person" (failed and blocked documents), never the list's.
    assert all("IN ('failed', 'blocked')" in sql for sql in counts)


def test_another_tenants_account_is_not_a_choice(many):
    resp = signed_in(many["viewer"]).get("/logs/", {"account": many["acc_other"].pk})
    assert resp.context["page"].rows == [] and "account" in resp.context["form"].errors
    assert 'class="error filter-errors"' in resp.content.decode()


# --- CSV ----------------------------------------------------------------------------------------------------


def test_csv_export_streams_the_filter_with_a_bom_for_excel(many):
    make_doc(
        many["conn1"],
        many["acc_a"],
        99999,
        state="failed",
        last_error="Mã số thuế người mua không hợp lệ",
        label="=HYPERLINK(1)",
    )
    resp = signed_in(many["viewer"]).get("/logs/export.csv", {"state": "failed"}, HTTP_ACCEPT_LANGUAGE="en")
    assert resp.status_code == 200 and resp.streaming
    assert resp["Content-Type"] == "text/csv; charset=utf-8" and "attachment" in resp["Content-Disposition"]
    raw = b"".join(resp.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Order", "Account", "Connection", "Kind", "State"]
    expected = own_docs(many).filter(state="failed")
    assert [int(r[8]) for r in rows[1:]] == newest_first(expected)
    first = rows[1]
    assert first[0] == "'=HYPERLINK(1)"  # a label never becomes an Excel formula
    assert first[1] == f"[MST {MST_A}]" and first[4] == "Failed"
    assert first[6] == "Mã số thuế người mua không hợp lệ"


@pytest.mark.parametrize("params", [{}, {"state": ["done", "failed", "draft"]}, {"kind": "invoice"}])
def test_export_walk_merges_chunks_of_every_partition_in_order(many, rf, params):
    from dashboard.filters import DocumentFilterForm

    request = rf.get("/logs/export.csv", params)
    request.tenant = many["tenant"]
    form = DocumentFilterForm(request.GET, request=request)
    ids = [d.pk for d in form.iter_rows(chunk=10)]  # 137 rows in chunks of 10, over up to 6 partitions
    expected = own_docs(many)
    if "state" in params:
        expected = expected.filter(state__in=params["state"])
    if "kind" in params:
        expected = expected.filter(kind="invoice")
    assert ids == newest_first(expected)


# --- one document -------------------------------------------------------------------------------------------


@pytest.fixture
def failed_doc(world):
    doc = make_doc(
        world["conn1"],
        world["acc_a"],
        1300000001,
        state="done",
        label="#100020",
        route_explanation="Location 1002 → [MST 0101243150] (rule 1)",
        payload={"RefID": "abc", "BuyerLegalName": "Công ty A"},
        result={"ref_id": "abc", "transaction_id": "X9IDF6VBLDZ", "inv_no": "00000012"},
        attempts=1,
    )
    SyncAttempt.objects.create(
        tenant=world["tenant"],
        connection=world["conn1"],
        document=doc,
        account=world["acc_a"],
        action="publish",
        outcome="ok",
        message="[MST 0101243150] Invoice 1C26TAA-00000012 issued",
        request={"method": "POST", "url": "/invoice", "body": {"InvoiceData": [{"RefID": "abc"}]}},
        response={"success": True, "publishInvoiceResult": "[…]"},
        http_status=200,
        duration_ms=321,
    )
    return doc


def test_document_page_shows_timeline_links_route_and_payload(world, failed_doc):
    html = signed_in(world["viewer"]).get(f"/documents/{failed_doc.pk}/").content.decode()
    assert "Invoice 1C26TAA-00000012 issued" in html and "321 ms" in html
    assert "&quot;InvoiceData&quot;: [" in html  # pretty JSON, not a Python repr
    assert "https://cuahang-a.myharavan.com/admin/orders/1300000001" in html
    assert "https://www.meinvoice.vn/tra-cuu/?sc=X9IDF6VBLDZ" in html
    assert "Location 1002" in html and "Công ty A" in html
    assert "style=" not in html and "onclick" not in html and "<script>" not in html


def test_haravan_link_falls_back_to_the_org_when_the_shop_has_no_myharavan_domain(world):
    doc = make_doc(world["conn2"], world["acc_c"], 42)
    html = signed_in(world["viewer"]).get(f"/documents/{doc.pk}/").content.decode()
    assert "https://112.myharavan.com/admin/orders/42" in html


def test_another_tenants_document_and_its_actions_are_404(world):
    other = make_doc(world["conn_b"], world["acc_other"], 7, state="failed")
    client = signed_in(world["owner"])
    assert client.get(f"/documents/{other.pk}/").status_code == 404
    assert client.get(f"/documents/{other.pk}/draft/").status_code == 404
    assert client.post(f"/documents/{other.pk}/retry/").status_code == 404
    assert client.post(f"/documents/{other.pk}/publish/").status_code == 404
    assert not SyncAttempt.objects.filter(document=other).exists()


def test_viewer_sees_no_buttons_and_cannot_post_retry_or_publish(world):
    failed = make_doc(world["conn1"], world["acc_a"], 1, state="failed", attempts=3)
    draft = make_doc(world["conn1"], world["acc_a"], 2, state="draft", payload={"RefID": "r"})
    client = signed_in(world["viewer"])
    html = client.get(f"/documents/{failed.pk}/").content.decode()
    assert "/retry/" not in html.split("<main>")[1]
    assert client.post(f"/documents/{failed.pk}/retry/").status_code == 403
    assert client.post(f"/documents/{draft.pk}/publish/").status_code == 403
    failed.refresh_from_db()
    draft.refresh_from_db()
    assert failed.state == "failed" and draft.state == "draft"
    assert not SyncAttempt.objects.exists()


def test_accountant_retries_one_document_and_the_timeline_says_who(world):
    doc = make_doc(world["conn1"], world["acc_a"], 1, state="failed", attempts=8, last_error="HTTP 503")
    client = signed_in(world["accountant"])
    assert f'action="/documents/{doc.pk}/retry/"' in client.get(f"/documents/{doc.pk}/").content.decode()
    resp = client.post(f"/documents/{doc.pk}/retry/", follow=True)
    doc.refresh_from_db()
    assert doc.state == "retrying" and doc.attempts == 1
    line = SyncAttempt.objects.get(document=doc, action="retry")
    assert line.message == f"[MST {MST_A}] Retry asked by ke.toan@example.com."
    assert "will be sent again" in resp.content.decode()
    # A second click finds nothing to retry and says so.
    SyncDocument.objects.filter(pk=doc.pk).update(state="queued")
    again = client.post(f"/documents/{doc.pk}/retry/", follow=True).content.decode()
    assert "nothing to retry" in again and SyncAttempt.objects.filter(action="retry").count() == 1


def test_accountant_publishes_a_draft(world):
    doc = make_doc(world["conn1"], world["acc_a"], 1, state="draft", payload={"RefID": "r"})
    client = signed_in(world["accountant"])
    assert "Publish this draft" in client.get(f"/documents/{doc.pk}/").content.decode()
    resp = client.post(f"/documents/{doc.pk}/publish/", follow=True)
    doc.refresh_from_db()
    assert doc.state == "queued" and "queued for publishing" in resp.content.decode()
    again = client.post(f"/documents/{doc.pk}/publish/", follow=True).content.decode()
    assert "not a draft any more" in again


def test_draft_view_redirects_to_the_targets_own_rendering(world, sandbox):
    conn = Connection.objects.create(
        tenant=world["tenant"],
        name="Demo",
        source_kind="haravan",
        source_key="200000001",
        target_kind="meinvoice",
    )
    account = TargetAccount.objects.create(
        connection=conn,
        external_id=MST_A,
        is_default=True,
        credentials={"app_id": "demo-app", "username": "demo", "password": "demo"},
    )
    from haravan.read import read_order  # only to build a valid draft for the test
    from meinvoice.convert import Issue, sale_to_invoice
    from meinvoice.mapping import Mapping

    order = factories.order(
        5001,
        financial_status="paid",
        total_price=108000.0,
        line_items=[
            {"id": 1, "title": "Áo thun", "quantity": 1, "price": 108000.0, "sku": "AT-01", "variant_id": 11}
        ],
    )
    invoice = sale_to_invoice(read_order(order), Mapping(), Issue(MST_A, "1C26TAA", "ref-1", NOW.date()))
    doc = make_doc(conn, account, 5001, state="draft", payload=invoice)
    resp = signed_in(world["viewer"]).get(f"/documents/{doc.pk}/draft/")
    assert resp.status_code == 302 and "/meinvoice/view/" in resp["Location"]


def test_draft_view_failure_is_explained_in_words(world, sandbox):
    # The factory's credentials are unknown to meInvoice: the link cannot be had.
    doc = make_doc(
        world["conn1"], world["acc_a"], 1, state="draft", payload={"RefID": "r", "InvSeries": "1C26TAA"}
    )
    resp = signed_in(world["viewer"]).get(f"/documents/{doc.pk}/draft/", follow=True)
    html = resp.content.decode()
    assert resp.redirect_chain[-1][0] == f"/documents/{doc.pk}/"
    assert "could not show the draft of order #1" in html and f"[MST {MST_A}]" in html
    assert "credentials" in html


def test_nav_links_depend_on_the_role(world):
    viewer = signed_in(world["viewer"]).get("/logs/").content.decode()
    accountant = signed_in(world["accountant"]).get("/logs/").content.decode()
    assert 'href="/logs/"' in viewer and 'href="/retry/"' not in viewer
    assert 'href="/retry/"' in accountant
