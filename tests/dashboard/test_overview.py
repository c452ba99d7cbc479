"""The overview: counts per account for today and the last 7 days, the daily chart, what needs a person."""

import datetime as dt
import re

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connectors.models import Membership
from syncjobs.models import SyncDocument
from tests import factories

MST_A, MST_B = "0101243150", "0100109106"
State = SyncDocument.State


def signed_in(user):
    return factories.signed_in(user)


def document(conn, mst, state, *, ago=dt.timedelta(0), label=None, error=""):
    """A document in `state` that last changed `ago` before now (auto_now is overridden with an update)."""
    account = conn.accounts.get(external_id=mst) if mst else None
    doc = SyncDocument.objects.create(
        connection=conn,
        account=account,
        source_type="order",
        source_id=str(SyncDocument.objects.count() + 5000),
        source_label=label or "",
        kind="invoice",
        state=state,
        last_error=error,
    )
    when = timezone.now() - ago
    SyncDocument.objects.filter(pk=doc.pk).update(
        updated_at=when, done_at=when if state == State.DONE else None
    )
    return doc


def counts(html: str, row: str) -> dict[str, int]:
    """The numbers of one row of the counts table, keyed like "today-issued"."""
    match = re.search(rf'<tr data-account="{row}">(.*?)</tr>', html, re.S)
    assert match, f"no counts row {row}"
    return {k: int(v) for k, v in re.findall(r'data-count="([a-z-]+)">(\d+)<', match.group(1))}


def section(html: str, element_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{element_id}".*?</section>', html, re.S)
    assert match, f"no section {element_id}"
    return match.group(0)


@pytest.fixture
def merchant(db):
    tenant = factories.tenant("Shop A")
    conn = factories.connection(tenant, factories.shop(tenant, org_id="111"), accounts=(MST_A, MST_B))
    return {"tenant": tenant, "conn": conn, "owner": factories.user(tenant)}


def test_counts_per_account_for_today_and_the_last_7_days(merchant):
    conn = merchant["conn"]
    yesterday, days_ago = dt.timedelta(days=1), lambda n: dt.timedelta(days=n)
    document(conn, MST_A, State.DONE)
    document(conn, MST_A, State.DONE)
    document(conn, MST_A, State.DONE, ago=yesterday)
    document(conn, MST_A, State.DONE, ago=days_ago(8))  # outside the week
    document(conn, MST_A, State.PENDING)
    document(conn, MST_A, State.QUEUED, ago=yesterday)
    document(conn, MST_A, State.PROCESSING, ago=days_ago(3))
    document(conn, MST_A, State.RETRYING)
    document(conn, MST_A, State.DRAFT)
    document(conn, MST_A, State.FAILED)
    document(conn, MST_A, State.BLOCKED, ago=yesterday)
    document(conn, MST_A, State.FAILED, ago=days_ago(8))  # outside the week
    document(conn, MST_A, State.SKIPPED)  # not eligible: in no column
    document(conn, MST_B, State.DONE, ago=days_ago(6))
    document(conn, MST_B, State.FAILED, ago=days_ago(2))
    document(conn, None, State.BLOCKED)  # no account found
    other = factories.tenant("Shop B")  # never counted here
    other_conn = factories.connection(other, factories.shop(other, org_id="222"), accounts=(MST_A,))
    document(other_conn, MST_A, State.DONE)

    html = signed_in(merchant["owner"]).get("/").content.decode()

    a, b = conn.accounts.get(external_id=MST_A), conn.accounts.get(external_id=MST_B)
    assert counts(html, a.pk) == {
        "today-issued": 2,
        "today-pending": 2,
        "today-drafts": 1,
        "today-failed": 1,
        "week-issued": 3,
        "week-pending": 4,
        "week-drafts": 1,
        "week-failed": 2,
    }
    assert counts(html, b.pk) == {
        "today-issued": 0,
        "today-pending": 0,
        "today-drafts": 0,
        "today-failed": 0,
        "week-issued": 1,
        "week-pending": 0,
        "week-drafts": 0,
        "week-failed": 1,
    }
    assert counts(html, "none")["today-failed"] == 1
    total = counts(html, "total")
    assert (total["today-issued"], total["week-issued"], total["week-failed"]) == (2, 4, 4)
    assert "[MST 0101243150]" in html and "[MST 0100109106]" in html


def test_an_invoice_counts_on_the_day_it_was_issued_not_when_its_status_was_refreshed(merchant):
    conn = merchant["conn"]
    doc = document(conn, MST_A, State.DONE, ago=dt.timedelta(days=9))
    SyncDocument.objects.filter(pk=doc.pk).update(updated_at=timezone.now())  # the tax status came today
    html = signed_in(merchant["owner"]).get("/").content.decode()
    row = counts(html, conn.accounts.get(external_id=MST_A).pk)
    assert (row["today-issued"], row["week-issued"]) == (0, 0)


def test_the_chart_has_one_bar_group_per_day_with_tooltips(merchant):
    conn = merchant["conn"]
    document(conn, MST_A, State.DONE)
    document(conn, MST_A, State.DONE)
    document(conn, MST_A, State.FAILED)
    document(conn, MST_A, State.DONE, ago=dt.timedelta(days=1))

    html = signed_in(merchant["owner"]).get("/").content.decode()

    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    today = timezone.localdate()
    days = re.findall(r'<g class="bar-group[^"]*" data-day="([\d-]+)"', svg)
    assert days == [(today - dt.timedelta(days=n)).isoformat() for n in range(13, -1, -1)]
    today_group = re.search(rf'data-day="{today.isoformat()}">(.*?)</g>', svg, re.S).group(1)
    assert f"<title>{today.isoformat()}: 2 issued, 1 needing a person</title>" in today_group
    assert len(re.findall(r'<rect class="bar issued"', today_group)) == 1
    assert re.search(r'<rect class="bar failed"[^>]*height="(\d+)"', today_group).group(1) != "0"
    # The Content-Security-Policy allows no style attributes, inline scripts or inline event handlers.
    assert 'style="' not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+=", html) and "hx-on" not in html
    assert today.strftime("%d/%m") in svg  # readable day labels


def test_days_are_the_shops_days_not_utc_days(merchant):
    """00:01 and 23:59 in Ho Chi Minh City share a UTC date (17:01 and 16:59 UTC) but are two days here."""
    conn = merchant["conn"]
    today = timezone.localdate()
    midnight = dt.datetime.combine(today, dt.time.min, tzinfo=timezone.get_current_timezone())
    after = document(conn, MST_A, State.DONE)
    before = document(conn, MST_A, State.DONE)
    minute = dt.timedelta(minutes=1)
    for doc, when in ((after, midnight + minute), (before, midnight - minute)):
        SyncDocument.objects.filter(pk=doc.pk).update(updated_at=when, done_at=when)
    assert (midnight + dt.timedelta(minutes=1)).astimezone(dt.UTC).date() == (
        (midnight - dt.timedelta(minutes=1)).astimezone(dt.UTC).date()
    )

    html = signed_in(merchant["owner"]).get("/").content.decode()
    row = counts(html, conn.accounts.get(external_id=MST_A).pk)
    assert (row["today-issued"], row["week-issued"]) == (1, 2)
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert f"<title>{yesterday}: 1 issued, 0 needing a person</title>" in html
    assert f"<title>{today.isoformat()}: 1 issued, 0 needing a person</title>" in html


def test_needs_person_lists_failures_per_account_with_their_error(merchant):
    conn = merchant["conn"]
    failed = document(
        conn, MST_A, State.FAILED, label="#9001", error="MISA refused the buyer's tax code 0101: too short."
    )
    document(conn, MST_A, State.DONE, label="#9002")
    blocked = document(conn, None, State.BLOCKED, label="#9003", error="No routing rule matches.")

    owner_html = signed_in(merchant["owner"]).get("/").content.decode()
    part = section(owner_html, "needs-person")
    assert "#9001" in part and "#9003" in part and "#9002" not in part
    assert f'href="/documents/{failed.pk}/"' in part and f'href="/documents/{blocked.pk}/"' in part
    assert "MISA refused the buyer&#x27;s tax code 0101: too short." in part
    account = conn.accounts.get(external_id=MST_A)
    assert f'href="/retry/?state=failed&amp;state=blocked&amp;account={account.pk}"' in part
    assert part.index("[MST 0101243150]") < part.index("#9001")  # grouped under its MST

    viewer = factories.user(merchant["tenant"], role=Membership.Role.VIEWER)
    viewer_part = section(signed_in(viewer).get("/").content.decode(), "needs-person")
    assert "#9001" in viewer_part and "/retry/" not in viewer_part


def test_nothing_to_do_says_so(merchant):
    document(merchant["conn"], MST_A, State.DONE)
    part = section(signed_in(merchant["owner"]).get("/").content.decode(), "needs-person")
    assert "Nothing needs a person" in part


def test_a_tenant_without_connections_sees_how_to_connect(db):
    tenant = factories.tenant("New shop")
    resp = signed_in(factories.user(tenant)).get("/")
    html = resp.content.decode()
    assert resp.status_code == 200
    assert "Connect your Haravan shop" in html
    assert 'href="/haravan/install/"' in html and 'action="/haravan/connect-private/"' in html
    assert 'name="csrfmiddlewaretoken"' in section(html, "connect")
    assert 'id="needs-person"' not in html


def test_a_user_without_any_merchant_sees_how_to_connect(db):
    html = signed_in(factories.user()).get("/").content.decode()
    assert "Connect your Haravan shop" in html and "ask the shop's owner" in html


def test_the_overview_uses_a_fixed_number_of_queries(merchant):
    """Aggregates in the database: more connections, accounts and documents cost no more queries."""
    client = signed_in(merchant["owner"])

    def queries() -> int:
        with CaptureQueriesContext(db_connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    document(merchant["conn"], MST_A, State.FAILED)
    few = queries()
    for n in range(30):
        document(merchant["conn"], MST_A if n % 2 else MST_B, [State.DONE, State.FAILED, State.DRAFT][n % 3])
    for org_id in ("333", "444"):
        more = factories.connection(
            merchant["tenant"], factories.shop(merchant["tenant"], org_id=org_id), accounts=(MST_A, MST_B)
        )
        for n in range(10):
            document(more, MST_B if n % 2 else None, State.FAILED, ago=dt.timedelta(days=n))
    assert queries() == few <= 13  # session, user, memberships, the banner's count and 9 for the page


def test_switching_tenant_only_to_ones_the_user_belongs_to(merchant):
    other = factories.tenant("Shop C")
    Membership.objects.create(user=merchant["owner"], tenant=other, role=Membership.Role.VIEWER)
    stranger = factories.tenant("Shop D")
    client = signed_in(merchant["owner"])

    assert client.post("/tenant/switch/", {"tenant": other.pk}).status_code == 302
    assert "Connect your Haravan shop" in client.get("/").content.decode()  # Shop C has no connection
    assert client.post("/tenant/switch/", {"tenant": stranger.pk}).status_code == 404
    assert client.post("/tenant/switch/", {"tenant": "not-a-number"}).status_code == 404
    assert client.get("/tenant/switch/").status_code == 405
    assert "Connect your Haravan shop" in client.get("/").content.decode()  # still Shop C
