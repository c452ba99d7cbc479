"""The reconciliation screens: a month calendar per account, one day's differences, retry, CSV exports.

The checked days are stored rows (``ReconciledDay``) created here as the nightly check would write them.
"""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from connectors.models import Membership
from connectors.text import Text, stored
from syncjobs.models import ReconciledDay, SyncAttempt, SyncDocument
from tests import factories
from tests.dashboard.test_logs import MST_A, MST_B, make_doc

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "day-detail"}


def last_month() -> dt.date:
    return (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)


FIRST = last_month()
GREEN, RED, AMBER, GREY = (FIRST.replace(day=n) for n in (10, 11, 12, 13))
MONTH = f"{FIRST:%Y-%m}"


def difference(kind, source, detail, *, target_document=None, document=None):
    found = {"kind": kind, "source": source, "target_document": target_document, "detail": detail}
    if document is not None:
        found["document_id"] = document.pk
    return found


def checked(account, day, *, differences=(), texts=None, **fields):
    """A checked day as the nightly check stores it (details in English, and as sentences)."""
    differences = list(differences)
    return ReconciledDay.objects.create(
        tenant=account.connection.tenant,
        connection=account.connection,
        account=account,
        day=day,
        differences=differences,
        differences_text=texts if texts is not None else [stored(Text(d["detail"]))[1] for d in differences],
        matches=fields.pop("matches", not differences and not fields.get("unexpected")),
        **fields,
    )


@pytest.fixture
def world(db):
    a, b = factories.tenant("A"), factories.tenant("B")
    conn = factories.connection(a, factories.shop(a, org_id="111"), accounts=(MST_A, MST_B))
    conn_b = factories.connection(b, factories.shop(b, org_id="222"))
    acc_a, acc_b = conn.accounts.get(external_id=MST_A), conn.accounts.get(external_id=MST_B)
    acc_other = conn_b.accounts.get()
    failed = make_doc(conn, acc_a, 101, state="failed", attempts=3, last_error="HTTP 503")
    blocked = make_doc(conn, acc_a, 102, state="blocked")
    done = make_doc(conn, acc_a, 103, state="done")
    other = make_doc(conn_b, acc_other, 901, state="failed", attempts=2)
    green = checked(
        acc_a,
        GREEN,
        expected_count=12,
        expected_total=Decimal("2592000"),
        confirmed_count=12,
        confirmed_total=Decimal("2592000"),
    )
    red = checked(
        acc_a,
        RED,
        expected_count=5,
        expected_total=Decimal("1080000"),
        confirmed_count=3,
        confirmed_total=Decimal("648000"),
        differences=[
            difference("missing", "#101", "expected 216000, none at the target", document=failed),
            difference("refused", "#102", "InvalidTaxCode", document=blocked),
            difference(
                "amount",
                "#103",
                "source 216000, target 200000 (difference -16000)",
                target_document="C26TAA-7",
                document=done,
            ),
            difference("missing", "#904", "expected 216000, none at the target", document=other),
        ],
        unexpected=[{"source": "#777", "document": "C26TAA-9", "amount": "50000"}],
    )
    amber = checked(acc_a, AMBER, matches=False)
    amber.set_error(Text("meInvoice refused the invoice: %(detail)s", detail="HTTP 503"))
    amber.save()
    other_day = checked(acc_other, RED, differences=[difference("missing", "#904", "x", document=other)])
    return {
        "tenant": a,
        "conn": conn,
        "conn_b": conn_b,
        "acc_a": acc_a,
        "acc_b": acc_b,
        "acc_other": acc_other,
        "docs": {"failed": failed, "blocked": blocked, "done": done, "other": other},
        "days": {"green": green, "red": red, "amber": amber, "other": other_day},
        "owner": factories.user(a, role=Membership.Role.OWNER, email="owner@example.com"),
        "accountant": factories.user(a, role=Membership.Role.ACCOUNTANT, email="ke.toan@example.com"),
        "viewer": factories.user(a, role=Membership.Role.VIEWER, email="viewer@example.com"),
        "other_owner": factories.user(b, role=Membership.Role.OWNER, email="b@example.com"),
    }


def page(world, who="viewer", **params):
    resp = factories.signed_in(world[who]).get(f"/connections/{world['conn'].pk}/reconciliation/", params)
    assert resp.status_code == 200
    return resp


def day_url(world, day, account=None, suffix=""):
    account = account or world["acc_a"]
    base = f"/connections/{account.connection_id}/reconciliation"
    return f"{base}/accounts/{account.pk}/days/{day.isoformat()}/{suffix}"


def cell(resp, day, account):
    """The calendar cell of one account's day, by its month's section."""
    html = resp.content.decode()
    section = html.split(f'id="account-{account.pk}"')[1].split("</section>")[0]
    start = section.index(f'data-date="{day.isoformat()}"')
    return section[start : section.index("</td>", start)]


# --- the calendar ---------------------------------------------------------------------------------------


def test_the_month_shows_each_account_and_each_day_in_its_colour(world):
    resp = page(world, month=MONTH)
    html = resp.content.decode()
    assert f"[MST {MST_A}]" in html and f"[MST {MST_B}]" in html
    green = cell(resp, GREEN, world["acc_a"])
    assert 'data-state="matches"' in green and "12 documents" in green and "2.592.000 đ" in green
    red = cell(resp, RED, world["acc_a"])
    assert 'data-state="differs"' in red and "5 differences" in red  # 4 differences + 1 nobody expected
    assert 'data-state="error"' in cell(resp, AMBER, world["acc_a"])
    assert 'data-state="unchecked"' in cell(resp, GREY, world["acc_a"])
    assert 'data-state="unchecked"' in cell(resp, GREEN, world["acc_b"])  # the other account: not checked
    assert f'hx-get="{day_url(world, RED)}"' in red and 'hx-target="#day-detail"' in red
    assert "?month=" in html and f"month={MONTH}" in html  # navigation and the export of this month


def test_month_navigation_and_a_bad_month_falls_back_to_yesterdays_month(world):
    earlier = (FIRST - dt.timedelta(days=1)).replace(day=1)
    resp = page(world, month=f"{earlier:%Y-%m}")
    assert resp.context["month"] == earlier and 'data-state="matches"' not in resp.content.decode()
    assert f"month={(earlier - dt.timedelta(days=1)):%Y-%m}" in resp.content.decode()
    yesterdays = (timezone.localdate() - dt.timedelta(days=1)).replace(
        day=1
    )  # what the nightly check did last
    for bad in ("2026-13", "banana", "1999-01", "9999-01", ""):
        assert page(world, month=bad).context["month"] == yesterdays


def test_money_is_written_per_the_rows_currency(world):
    day = FIRST.replace(day=14)
    checked(world["acc_b"], day, currency="EUR", confirmed_count=2, confirmed_total=Decimal("1234.5"))
    resp = page(world, month=MONTH)
    assert "1,234.50 EUR" in cell(resp, day, world["acc_b"])


# --- one day --------------------------------------------------------------------------------------------


def test_a_red_day_lists_its_differences_by_kind_with_retry_buttons(world):
    client = factories.signed_in(world["accountant"])
    resp = client.get(day_url(world, RED), **HTMX)
    html = resp.content.decode()
    assert resp.status_code == 200 and "<html" not in html  # the fragment alone
    for label in ("Missing at the target", "Refused by the target", "Amount differs"):
        assert label in html
    assert html.index("Missing at the target") < html.index("Amount differs") < html.index("Refused by")
    assert "source 216000, target 200000 (difference -16000)" in html and "C26TAA-7" in html
    assert "At the target, not expected by the source" in html and "50.000 đ" in html
    # The failed and the blocked documents may be retried; the done one may not; another tenant's one is
    # neither linked nor retried (the day names it, but it is not this tenant's).
    assert html.count('name="difference"') == 2
    assert 'name="difference" value="0"' in html and 'name="difference" value="1"' in html
    assert "Retry all 2 retryable documents" in html
    assert f"/documents/{world['docs']['done'].pk}/" in html
    assert f"/documents/{world['docs']['other'].pk}/" not in html


def test_a_plain_get_of_a_day_opens_it_in_the_months_page(world):
    resp = factories.signed_in(world["viewer"]).get(day_url(world, RED))
    html = resp.content.decode()
    assert "<html" in html and resp.context["month"] == FIRST and "Missing at the target" in html


def test_details_are_shown_in_the_readers_language(world):
    vi = factories.signed_in(world["viewer"], language="vi")
    html = vi.get(day_url(world, AMBER), **HTMX).content.decode()
    with translation.override("vi"):
        expected = Text("meInvoice refused the invoice: %(detail)s", detail="HTTP 503").render()
    assert expected in html and "meInvoice refused the invoice" not in html
    day = FIRST.replace(day=15)
    words = Text("meInvoice refused the invoice: %(detail)s", detail="InvalidTaxCode")
    checked(
        world["acc_a"],
        day,
        differences=[difference("refused", "#5", words.english())],
        texts=[stored(words)[1]],
    )
    html = vi.get(day_url(world, day), **HTMX).content.decode()
    with translation.override("vi"):
        assert words.render() in html


def test_stock_differences_are_listed(world):
    day = FIRST.replace(day=16)
    stock = [{"sku": "AT-01", "place": "Kho Hà Nội", "source": "12", "target": "10"}]
    checked(world["acc_b"], day, stock_differences=stock, matches=False)
    html = factories.signed_in(world["viewer"]).get(day_url(world, day, world["acc_b"]), **HTMX)
    html = html.content.decode()
    assert "Stock differs" in html and "AT-01" in html and "Kho Hà Nội" in html and ">12<" in html


def test_a_green_day_says_it_matches(world):
    html = factories.signed_in(world["viewer"]).get(day_url(world, GREEN), **HTMX).content.decode()
    assert 'data-state="matches"' in html and "2.592.000 đ" in html and "retry" not in html.lower()


# --- tenants and roles ----------------------------------------------------------------------------------


def test_another_tenants_connection_account_and_days_are_404(world):
    client = factories.signed_in(world["owner"])
    other, acc_other = world["conn_b"], world["acc_other"]
    assert client.get(f"/connections/{other.pk}/reconciliation/").status_code == 404
    assert client.get(f"/connections/{other.pk}/reconciliation/export.csv").status_code == 404
    assert client.get(day_url(world, RED, acc_other)).status_code == 404
    assert client.get(day_url(world, RED, acc_other, "export.csv")).status_code == 404
    assert client.post(day_url(world, RED, acc_other, "retry/"), {"all": "1"}).status_code == 404
    # Their account under our connection's address: still theirs
    sneaky = f"/connections/{world['conn'].pk}/reconciliation/accounts/{acc_other.pk}/days/{RED.isoformat()}/"
    assert (
        client.get(sneaky).status_code == 404
        and client.post(sneaky + "retry/", {"all": "1"}).status_code == 404
    )
    assert client.get(day_url(world, GREY)).status_code == 404  # not checked: nothing to open
    assert client.get(day_url(world, GREY).replace(GREY.isoformat(), "2026-02-30")).status_code == 404
    assert world["docs"]["other"].timeline.count() == 0  # fmt: skip


def test_a_viewer_sees_no_retry_and_cannot_post_one(world):
    client = factories.signed_in(world["viewer"])
    html = client.get(day_url(world, RED), **HTMX).content.decode()
    assert 'name="difference"' not in html and 'name="all"' not in html and "Missing at the target" in html
    assert client.post(day_url(world, RED, suffix="retry/"), {"all": "1"}).status_code == 403
    assert not SyncAttempt.objects.filter(action="retry").exists()
    assert SyncDocument.objects.get(pk=world["docs"]["failed"].pk).state == "failed"


def test_retry_one_difference_queues_its_document_and_says_so(world):
    client = factories.signed_in(world["accountant"])
    resp = client.post(day_url(world, RED, suffix="retry/"), {"difference": "0"}, **HTMX)
    html = resp.content.decode()
    failed, blocked = (SyncDocument.objects.get(pk=world["docs"][k].pk) for k in ("failed", "blocked"))
    assert failed.state == "retrying" and blocked.state == "blocked"
    line = SyncAttempt.objects.get(action="retry")
    assert (
        line.document_id == failed.pk and line.message == f"[MST {MST_A}] Retry asked by ke.toan@example.com."
    )
    assert "1 document queued to be sent again on [MST 0101243150]: #101" in html
    assert 'class="notice ok"' in html and "Retry scheduled" in html  # the document's state, as it is now
    SyncDocument.objects.filter(pk=failed.pk).update(
        state="queued"
    )  # on its way: a second click does nothing
    again = client.post(day_url(world, RED, suffix="retry/"), {"difference": "0"}, **HTMX).content.decode()
    assert "Nothing to retry" in again and SyncAttempt.objects.filter(action="retry").count() == 1


def test_retry_all_queues_every_retryable_document_of_the_day_and_only_those(world):
    client = factories.signed_in(world["owner"])
    resp = client.post(day_url(world, RED, suffix="retry/"), {"all": "1"}, follow=True)
    assert resp.redirect_chain[-1][0] == day_url(world, RED)  # back to the page with the day opened
    assert "2 documents queued to be sent again on [MST 0101243150]: #101, #102" in resp.content.decode()
    retried = set(SyncAttempt.objects.filter(action="retry").values_list("document_id", flat=True))
    assert retried == {world["docs"]["failed"].pk, world["docs"]["blocked"].pk}
    assert SyncDocument.objects.get(pk=world["docs"]["done"].pk).state == "done"
    assert SyncDocument.objects.get(pk=world["docs"]["other"].pk).state == "failed"  # another tenant's


def test_an_unknown_difference_retries_nothing(world):
    client = factories.signed_in(world["accountant"])
    for value in ("2", "3", "99", "-1", "x", ""):  # done, another tenant's, none, garbage
        html = client.post(
            day_url(world, RED, suffix="retry/"), {"difference": value}, **HTMX
        ).content.decode()
        assert "Nothing to retry" in html
    assert not SyncAttempt.objects.filter(action="retry").exists()


# --- CSV ------------------------------------------------------------------------------------------------


def rows_of(resp):
    assert resp["Content-Type"] == "text/csv; charset=utf-8" and "attachment" in resp["Content-Disposition"]
    raw = b"".join(resp.streaming_content)
    assert raw.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_the_month_exports_one_line_per_account_and_day(world):
    client = factories.signed_in(world["viewer"])
    rows = rows_of(client.get(f"/connections/{world['conn'].pk}/reconciliation/export.csv", {"month": MONTH}))
    header, lines = rows[0], rows[1:]
    assert header[:4] == ["Date", "Target", "Account", "Currency"] and "Confirmed total" in header
    days_in_month = ((FIRST + dt.timedelta(days=32)).replace(day=1) - FIRST).days
    assert len(lines) == 2 * days_in_month
    by_key = {(r[0], r[2]): r for r in lines}
    green = by_key[(GREEN.isoformat(), f"[MST {MST_A}]")]
    assert green == [GREEN.isoformat(), "MISA meInvoice", f"[MST {MST_A}]", "VND", "12", "2592000", "12",
                     "2592000", "yes", "0", ""]  # fmt: skip
    red = by_key[(RED.isoformat(), f"[MST {MST_A}]")]
    assert red[4:10] == ["5", "1080000", "3", "648000", "no", "5"]
    assert by_key[(AMBER.isoformat(), f"[MST {MST_A}]")][10].startswith("meInvoice refused the invoice")
    assert by_key[(GREEN.isoformat(), f"[MST {MST_B}]")][8] == "Not checked"


def test_one_days_differences_export_one_line_each(world):
    client = factories.signed_in(world["viewer"])
    rows = rows_of(client.get(day_url(world, RED, suffix="export.csv")))
    assert rows[0] == ["Date", "Target", "Account", "Kind", "Source", "Target document", "Detail",
                       "Our document", "State"]  # fmt: skip
    kinds = [r[3] for r in rows[1:]]
    missing, amount, refused = "Missing at the target", "Amount differs", "Refused by the target"
    assert kinds == [missing, missing, amount, refused, "At the target, not expected by the source"]
    failed = str(world["docs"]["failed"].pk)
    assert rows[1][4:9] == ["#101", "", "expected 216000, none at the target", failed, "Failed"]
    assert rows[2][4:9] == [
        "#904",
        "",
        "expected 216000, none at the target",
        "",
        "",
    ]  # not this tenant's document
    assert rows[3][4:9] == ["#103", "C26TAA-7", "source 216000, target 200000 (difference -16000)",
                            str(world["docs"]["done"].pk), "Done"]  # fmt: skip
    assert rows[5][4:7] == ["#777", "C26TAA-9", "50.000 đ"]


def test_a_cell_that_looks_like_a_formula_is_quoted(world):
    day = FIRST.replace(day=17)
    checked(world["acc_a"], day, differences=[difference("missing", "=HYPERLINK(1)", "-1 đồng")])
    rows = rows_of(factories.signed_in(world["viewer"]).get(day_url(world, day, suffix="export.csv")))
    assert rows[1][4] == "'=HYPERLINK(1)" and rows[1][6] == "'-1 đồng"


# --- navigation -----------------------------------------------------------------------------------------


def test_navigation_and_connection_tabs_link_to_the_calendar(world):
    client = factories.signed_in(world["viewer"])
    html = client.get(f"/connections/{world['conn'].pk}/").content.decode()
    assert f'href="/connections/{world["conn"].pk}/reconciliation/"' in html
    assert 'href="/reconciliation/"' in html
    resp = client.get("/reconciliation/")
    assert resp.status_code == 302 and resp["Location"] == f"/connections/{world['conn'].pk}/reconciliation/"


def test_with_two_connections_the_entry_lists_them(world):
    second = factories.connection(
        world["tenant"], factories.shop(world["tenant"], org_id="112"), accounts=("0312345673",)
    )
    second.name = "Second shop"
    second.save()
    resp = factories.signed_in(world["viewer"]).get("/reconciliation/")
    html = resp.content.decode()
    assert resp.status_code == 200 and "Second shop" in html
    assert f'href="/connections/{second.pk}/reconciliation/"' in html
    assert f'href="/connections/{world["conn_b"].pk}/reconciliation/"' not in html


# --- checking a day again ---------------------------------------------------------------------------------


def queued_checks() -> list[tuple]:
    """The reconcile_day tasks the in-memory broker holds (read off, so the next test starts empty)."""
    from config.celery import app as celery_app

    names = {celery_app.conf.task_default_queue, *(q.name for q in celery_app.conf.task_queues or [])}
    found = []
    with celery_app.connection_for_read() as conn:
        for name in names:
            queue = conn.SimpleQueue(name)
            try:
                while True:
                    message = queue.get(block=False)
                    if message.headers["task"] == "syncjobs.reconcile_day":
                        found.append(tuple(message.decode()[0]))
                    message.ack()
            except queue.Empty:
                pass
            finally:
                queue.close()
    return found


def test_an_accountant_checks_a_day_again_and_comes_back_to_it(world, django_capture_on_commit_callbacks):
    queued_checks()
    client = factories.signed_in(world["accountant"])
    url = f"/connections/{world['conn'].pk}/reconciliation/check/"
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(url, {"day": RED.isoformat(), "account": world["acc_a"].pk})
    assert resp.status_code == 302 and resp["Location"] == day_url(world, RED)
    assert queued_checks() == [(world["conn"].pk, RED.isoformat())]
    with translation.override("en"):
        shown = client.get(resp["Location"]).content.decode()
    assert f"{RED.isoformat()} is being checked again on every account" in shown
    assert "Check this day again" in client.get(day_url(world, RED), **HTMX).content.decode()


def test_checking_again_is_refused_to_viewers_other_tenants_and_days_to_come(
    world, django_capture_on_commit_callbacks
):
    queued_checks()
    url = f"/connections/{world['conn'].pk}/reconciliation/check/"
    viewer = factories.signed_in(world["viewer"])
    assert viewer.post(url, {"day": RED.isoformat()}).status_code == 403
    assert "Check this day again" not in viewer.get(day_url(world, RED), **HTMX).content.decode()
    other = factories.signed_in(world["other_owner"])
    assert other.post(url, {"day": RED.isoformat()}).status_code == 404
    owner = factories.signed_in(world["owner"])
    for bad in ("2999-01-01", "yesterday", ""):
        with django_capture_on_commit_callbacks(execute=True):
            resp = owner.post(url, {"day": bad})
        assert resp.status_code == 302
    assert queued_checks() == []
