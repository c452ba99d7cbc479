"""The overview's figures: a few aggregate queries, grouped in the database, never counted row by row.

Days are the tenant's local days (settings.TIME_ZONE). An issued document counts on the day it was issued
(`done_at`: a later status refresh does not move it); any other on the day it last changed (`updated_at`),
in the bucket of its current state. Issuing also changes a document, so `updated_at >= done_at` and
one window on `updated_at` (its index) holds every row either rule counts.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, F, Max, Q, Window
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone

from syncjobs.models import SyncDocument

State = SyncDocument.State

BUCKETS = {
    "issued": (State.DONE,),
    "pending": (State.PENDING, State.QUEUED, State.PROCESSING, State.RETRYING, State.SENT),
    "drafts": (State.DRAFT,),
    "failed": (State.FAILED, State.BLOCKED),  # "needs a person"
}
NEEDS_PERSON = BUCKETS["failed"]
WEEK_DAYS = 7
CHART_DAYS = 14


@dataclass
class Counts:
    issued: int = 0
    pending: int = 0
    drafts: int = 0
    failed: int = 0

    def add(self, other: "Counts") -> None:
        for name in BUCKETS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def total(self) -> int:
        return self.issued + self.pending + self.drafts + self.failed


@dataclass
class AccountCounts:
    today: Counts = field(default_factory=Counts)
    week: Counts = field(default_factory=Counts)


@dataclass(frozen=True)
class Day:
    date: dt.date
    issued: int = 0
    failed: int = 0


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def account_counts(documents, *, today: dt.date) -> dict[tuple[int, int | None], AccountCounts]:
    """{(connection_id, account_id): counts today and over the last 7 days}, in one query."""
    today_start = local_midnight(today)
    week_start = local_midnight(today - dt.timedelta(days=WEEK_DAYS - 1))
    columns = {}
    for name, states in BUCKETS.items():
        when = "done_at" if name == "issued" else "updated_at"
        columns[f"{name}_today"] = Count("id", filter=Q(state__in=states, **{f"{when}__gte": today_start}))
        columns[f"{name}_week"] = Count("id", filter=Q(state__in=states, **{f"{when}__gte": week_start}))
    rows = (
        documents.filter(updated_at__gte=week_start)
        .values("connection_id", "account_id")
        .annotate(**columns)
        .order_by()
    )
    return {
        (row["connection_id"], row["account_id"]): AccountCounts(
            today=Counts(**{name: row[f"{name}_today"] for name in BUCKETS}),
            week=Counts(**{name: row[f"{name}_week"] for name in BUCKETS}),
        )
        for row in rows
    }


def daily_counts(documents, *, today: dt.date, days: int = CHART_DAYS) -> dict[int, list[Day]]:
    """{connection_id: one Day per local day, oldest first, days without documents included}: two queries."""
    first = local_midnight(today - dt.timedelta(days=days - 1))
    zone = timezone.get_current_timezone()
    recent = documents.filter(updated_at__gte=first)  # also holds every document issued since `first`
    issued = (
        recent.filter(state__in=BUCKETS["issued"], done_at__gte=first)
        .values("connection_id", day=TruncDate("done_at", tzinfo=zone))
        .annotate(n=Count("id"))
        .order_by()
    )
    failed = (
        recent.filter(state__in=NEEDS_PERSON)
        .values("connection_id", day=TruncDate("updated_at", tzinfo=zone))
        .annotate(n=Count("id"))
        .order_by()
    )
    tally: dict[int, dict[dt.date, dict[str, int]]] = {}
    for name, rows in (("issued", issued), ("failed", failed)):
        for row in rows:
            tally.setdefault(row["connection_id"], {}).setdefault(row["day"], {})[name] = row["n"]
    calendar = calendar_days(today, days)
    return {
        conn_id: [Day(day, **by_day.get(day, {})) for day in calendar] for conn_id, by_day in tally.items()
    }


def calendar_days(today: dt.date, days: int = CHART_DAYS) -> list[dt.date]:
    first = today - dt.timedelta(days=days - 1)
    return [first + dt.timedelta(days=n) for n in range(days)]


def quiet_days(today: dt.date, days: int = CHART_DAYS) -> list[Day]:
    """The chart of a connection without documents in the window."""
    return [Day(day) for day in calendar_days(today, days)]


# --- the chart: geometry here, so the template only places numbers ---------------------------------

CHART_TOP = 12  # room above the tallest bar for the scale's label, in SVG units
CHART_HEIGHT = 110  # bar area
LABEL_SPACE = 30  # day and weekday under each group
GROUP_WIDTH = 40
BAR_WIDTH = 14
LEFT = 28


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    value: int


@dataclass(frozen=True)
class BarGroup:
    day: Day
    x: int
    label_x: int
    issued: Bar
    failed: Bar


def chart(days: list[Day]) -> dict:
    """Bars per day (issued beside failed), scaled to the busiest day; all coordinates are integers."""
    top = max([1, *(d.issued for d in days), *(d.failed for d in days)])

    def bar(x: int, value: int) -> Bar:
        height = round(CHART_HEIGHT * value / top)
        if value and not height:
            height = 1  # a day with one document among thousands still shows
        return Bar(x=x, y=CHART_TOP + CHART_HEIGHT - height, height=height, value=value)

    groups = []
    for n, day in enumerate(days):
        x = LEFT + n * GROUP_WIDTH
        groups.append(
            BarGroup(
                day=day,
                x=x,
                label_x=x + 6 + BAR_WIDTH,
                issued=bar(x + 6, day.issued),
                failed=bar(x + 6 + BAR_WIDTH, day.failed),
            )
        )
    return {
        "groups": groups,
        "top": top,
        "bar_width": BAR_WIDTH,
        "height": CHART_HEIGHT,
        "width": LEFT + len(days) * GROUP_WIDTH + 4,
        "view_height": CHART_TOP + CHART_HEIGHT + LABEL_SPACE,
        "grid_y": CHART_TOP,
        "top_y": CHART_TOP + 4,
        "axis_y": CHART_TOP + CHART_HEIGHT,
        "label_y": CHART_TOP + CHART_HEIGHT + 14,
        "weekday_y": CHART_TOP + CHART_HEIGHT + 26,
        "axis_label_x": LEFT - 4,
        "total_issued": sum(d.issued for d in days),
        "total_failed": sum(d.failed for d in days),
    }


# --- what needs a person ---------------------------------------------------------------------------


@dataclass
class FailureGroup:
    connection: object
    account: object | None
    count: int
    latest: dt.datetime
    documents: list = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.documents)


def needs_person(documents, *, per_account: int = 5) -> list[FailureGroup]:
    """Failed and blocked documents per (connection, account): a count, and the newest few of each.

    Two queries: the counts grouped in the database, and the newest `per_account` rows per group picked
    by a window function (not one query per account).
    """
    failing = documents.filter(state__in=NEEDS_PERSON)
    totals = {
        (row["connection_id"], row["account_id"]): row
        for row in failing.values("connection_id", "account_id")
        .annotate(count=Count("id"), latest=Max("updated_at"))
        .order_by()
    }
    if not totals:
        return []
    newest = (
        failing.annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("connection_id"), F("account_id")],
                order_by=[F("updated_at").desc(), F("id").desc()],
            )
        )
        .filter(rank__lte=per_account)
        .select_related("account__connection", "connection")
        .order_by("-updated_at", "-id")
    )
    groups: dict[tuple, FailureGroup] = {}
    for doc in newest:
        key = (doc.connection_id, doc.account_id)
        if key not in groups:
            row = totals.get(key, {"count": 0, "latest": doc.updated_at})
            groups[key] = FailureGroup(doc.connection, doc.account, row["count"], row["latest"])
        groups[key].documents.append(doc)
    return sorted(
        groups.values(),
        key=lambda g: (
            g.connection.name,
            g.connection.pk,
            g.account is None,
            g.account.external_id if g.account else "",
        ),
    )
