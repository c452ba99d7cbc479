"""Reconciliation: a month calendar of checked days per account, one day's differences, retry, CSV.

Reads the stored ``ReconciledDay`` rows (the nightly check writes them); nothing here asks a target. Every
row, account and document is reached through the tenant scope (``connectors.middleware.scoped``): another
tenant's connection, account or day is a 404. Everyone with a role reads; owners and accountants retry,
and a retry goes through the same machinery as the logs' bulk retry (``retry.retry_documents``, the
target's own ``retry``, which locks each row and checks again that it may be retried).
"""

import calendar
import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import dates, timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from connectors.middleware import scoped, scoped_object_or_404
from connectors.models import Connection, TargetAccount
from connectors.text import join
from syncjobs import reconciled
from syncjobs.models import RETRYABLE_BY_PERSON, ReconciledDay, SyncDocument

from .access import ACCOUNTANT, can_retry, role_required
from .connection import kind_label
from .logs import _cell, _Echo
from .retry import retry_documents

FIRST_MONTH = dt.date(2000, 1, 1)  # no shop's orders before (as the manual sync's EARLIEST_DAY)


# --- reading the stored days ------------------------------------------------------------------------------


def _month(value: str | None) -> dt.date:
    """The first day of ``YYYY-MM``; by default the month of yesterday (the nightly check's last day)."""
    fallback = (timezone.localdate() - dt.timedelta(days=1)).replace(day=1)
    if not value:
        return fallback
    try:
        year, month = (int(part) for part in value.split("-"))
        first = dt.date(year, month, 1)
    except (TypeError, ValueError):
        return fallback
    return first if FIRST_MONTH <= first <= timezone.localdate().replace(day=1) else fallback


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Http404("No such day.") from None


def _months_around(first: dt.date) -> tuple[dt.date, dt.date]:
    previous = (first - dt.timedelta(days=1)).replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return previous, following


def _accounts(request, connection):
    return list(
        scoped(request, TargetAccount)
        .filter(connection=connection)
        .select_related("connection")
        .order_by("-is_default", "external_id")
    )


def _account(request, connection, account_pk) -> TargetAccount:
    found = scoped(request, TargetAccount).filter(connection=connection, pk=account_pk)
    account = found.select_related("connection").first()
    if account is None:
        raise Http404("No such account.")
    return account


def _days(request, connection):
    return scoped(request, ReconciledDay).filter(connection=connection)


@dataclass
class Cell:
    date: dt.date
    in_month: bool
    day: ReconciledDay | None = None

    @property
    def state(self) -> str:
        return reconciled.state(self.day)

    @property
    def problems(self) -> int:
        return reconciled.problem_count(self.day) if self.day else 0

    @property
    def total(self) -> str:
        return reconciled.money(self.day.confirmed_total, self.day.currency) if self.day else ""


@dataclass
class AccountMonth:
    account: TargetAccount
    weeks: list[list[Cell]]
    counts: dict = field(default_factory=dict)  # state → days


def _calendar(request, connection, first: dt.date) -> list[AccountMonth]:
    accounts = _accounts(request, connection)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    rows = _days(request, connection).filter(day__gte=first, day__lte=last)
    by_key = {(r.account_id, r.day): r for r in rows}
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    out = []
    for account in accounts:
        month = AccountMonth(
            account,
            [[Cell(d, d.month == first.month, by_key.get((account.pk, d))) for d in week] for week in weeks],
        )
        for week in month.weeks:
            for cell in week:
                if cell.in_month and cell.day is not None:
                    month.counts[cell.state] = month.counts.get(cell.state, 0) + 1
        out.append(month)
    return out


@dataclass
class Group:
    kind: str
    label: str
    lines: list[dict]


def _detail(request, connection, day: ReconciledDay, *, notice="", notice_ok=True) -> dict:
    """One day as its fragment shows it: the differences by kind, each with its document and whether a
    person may retry it now."""
    lines = reconciled.lines(day)
    ids = {line.document_id for line in lines if line.document_id}
    documents = {
        doc.pk: doc
        for doc in scoped(request, SyncDocument)
        .filter(connection=connection, pk__in=ids)
        .select_related("connection", "account__connection")
    }
    may_retry = can_retry(request) and connection.target.processes
    groups: dict[str, Group] = {}
    retryable = []
    for line in lines:
        doc = documents.get(line.document_id)
        can = bool(may_retry and doc is not None and doc.state in RETRYABLE_BY_PERSON)
        if can:
            retryable.append(doc.pk)
        group = groups.setdefault(line.kind, Group(line.kind, str(reconciled.kind_label(line.kind)), []))
        group.lines.append({"line": line, "document": doc, "retryable": can})
    order = list(reconciled.KIND_LABELS)
    ordered = sorted(groups.values(), key=lambda g: order.index(g.kind) if g.kind in order else len(order))
    return {
        "connection": connection,
        "account": day.account,
        "day": day,
        "state": reconciled.state(day),
        "groups": ordered,
        "counts": [
            {"kind": kind, "label": reconciled.kind_label(kind), "count": n}
            for kind, n in reconciled.counts_by_kind(day).items()
        ],
        "unexpected": [
            {**item, "amount_text": reconciled.money(item.get("amount", 0), day.currency)}
            for item in day.unexpected or []
            if isinstance(item, dict)
        ],
        "stock": [item for item in day.stock_differences or [] if isinstance(item, dict)],
        "expected_total": reconciled.money(day.expected_total, day.currency),
        "confirmed_total": reconciled.money(day.confirmed_total, day.currency),
        "retryable_count": len(set(retryable)),
        "can_retry_here": may_retry,
        "notice": notice,
        "notice_ok": notice_ok,
        "day_url": reverse("dashboard:reconciliation_day", args=[connection.pk, day.account_id, day.day]),
        "retry_url": reverse("dashboard:reconciliation_retry", args=[connection.pk, day.account_id, day.day]),
        "check_url": reverse("dashboard:reconciliation_check", args=[connection.pk]),
        "can_check": can_retry(request),
        "day_export_url": reverse(
            "dashboard:reconciliation_day_export", args=[connection.pk, day.account_id, day.day]
        ),
    }


def _one_day(request, connection, account_pk, day_iso) -> ReconciledDay:
    account = _account(request, connection, account_pk)
    found = _days(request, connection).filter(account=account, day=_day(day_iso)).select_related("account")
    day = found.first()
    if day is None:
        raise Http404("That day has not been checked.")
    day.account = account  # the one reached through the tenant scope, with its connection
    return day


# --- screens ------------------------------------------------------------------------------------------------


def _page(request, connection, first: dt.date, *, opened: ReconciledDay | None = None):
    previous, following = _months_around(first)
    base = reverse("dashboard:reconciliation", args=[connection.pk])
    context = {
        "connection": connection,
        "kind_label": kind_label(connection),
        "month": first,
        "months": _calendar(request, connection, first),
        "weekdays": [dates.WEEKDAYS_ABBR[i] for i in range(7)],
        "previous_url": f"{base}?{urlencode({'month': previous.strftime('%Y-%m')})}",
        "next_url": f"{base}?{urlencode({'month': following.strftime('%Y-%m')})}",
        "has_next": following <= timezone.localdate(),
        "export_url": reverse("dashboard:reconciliation_export", args=[connection.pk])
        + f"?{urlencode({'month': first.strftime('%Y-%m')})}",
        "state_labels": reconciled.STATE_LABELS,
        "check_url": reverse("dashboard:reconciliation_check", args=[connection.pk]),
        "can_check": can_retry(request),
        "yesterday": (timezone.localdate() - dt.timedelta(days=1)).isoformat(),
        "today": timezone.localdate().isoformat(),
    }
    if opened is not None:  # the day's fragment is part of the page: its names do not clash with the page's
        context.update(_detail(request, connection, opened), opened=True)
    return render(request, "dashboard/reconciliation.html", context)


@role_required()
@require_GET
def reconciliation_index(request):
    """The navigation's entry: the one connection's calendar, or the connections to choose from."""
    connections = list(scoped(request, Connection).order_by("name", "id"))
    if len(connections) == 1:
        return redirect("dashboard:reconciliation", pk=connections[0].pk)
    first = _month(None)
    counts = {}
    rows = scoped(request, ReconciledDay).filter(day__gte=first)
    for day in rows:
        per = counts.setdefault(day.connection_id, {})
        per[reconciled.state(day)] = per.get(reconciled.state(day), 0) + 1
    return render(
        request,
        "dashboard/reconciliation_index.html",
        {
            "rows": [
                {"connection": c, "kind_label": kind_label(c), "counts": counts.get(c.pk, {})}
                for c in connections
            ],
            "since": first,
        },
    )


@role_required()
@require_GET
def reconciliation(request, pk):
    connection = scoped_object_or_404(request, Connection, pk=pk)
    return _page(request, connection, _month(request.GET.get("month")))


@role_required()
@require_GET
def reconciliation_day(request, pk, account, day):
    """One day's differences: the fragment for htmx, else the month's page with the day opened."""
    connection = scoped_object_or_404(request, Connection, pk=pk)
    found = _one_day(request, connection, account, day)
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "dashboard/_reconciliation_day.html", _detail(request, connection, found))
    else:
        response = _page(request, connection, found.day.replace(day=1), opened=found)
    patch_vary_headers(response, ("HX-Request",))
    return response


@role_required(ACCOUNTANT)
@require_POST
def reconciliation_retry(request, pk, account, day):
    """Retry one difference's document (``difference``: its index) or every retryable one of the day
    (``all``). Only documents the day names, of this connection, in a state a person may retry."""
    connection = scoped_object_or_404(request, Connection, pk=pk)
    found = _one_day(request, connection, account, day)
    lines = reconciled.lines(found)
    if request.POST.get("all"):
        chosen = lines
    else:
        wanted = request.POST.get("difference", "")
        index = int(wanted) if wanted.isascii() and wanted.isdigit() and len(wanted) < 9 else -1
        chosen = [line for line in lines if line.index == index]
    ids = list(dict.fromkeys(line.document_id for line in chosen if line.document_id))
    documents = list(
        scoped(request, SyncDocument)
        .filter(connection=connection, pk__in=ids, state__in=RETRYABLE_BY_PERSON)
        .select_related("account__connection", "connection")
        .order_by("pk")
    )
    ok = False
    if not connection.target.processes:
        notice = _("%(target)s documents cannot be retried from here.") % {"target": kind_label(connection)}
    elif not documents:
        notice = _("Nothing to retry: the documents named here were retried or fixed meanwhile.")
    else:
        retried, problems = retry_documents(request.tenant, [d.pk for d in documents], request.user)
        labels = ", ".join(d.source_label or d.source_id for d in documents)
        if retried:
            notice = ngettext(
                "%(count)s document queued to be sent again on %(tag)s: %(labels)s. Its timeline in the "
                "logs shows how it goes; check the day again tomorrow.",
                "%(count)s documents queued to be sent again on %(tag)s: %(labels)s. Their timelines in "
                "the logs show how they go; check the day again tomorrow.",
                retried,
            ) % {"count": retried, "tag": found.account.tag, "labels": labels}
            ok = True
        else:
            notice = _("Nothing was retried: the documents changed meanwhile. Look again.")
        if problems:
            notice = f"{notice} {join(problems)}"
    return _day_answer(request, connection, found, notice=notice, ok=ok)


@role_required(ACCOUNTANT)
@require_POST
def reconciliation_check(request, pk):
    """Check a day again on every account of the connection (the nightly job's task, now): the targets are
    asked afresh and each account's day is replaced. Back to the month, with the day opened if asked."""
    connection = scoped_object_or_404(request, Connection, pk=pk)
    raw = request.POST.get("day", "")
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        day = None
    today = timezone.localdate()
    if day is None or not FIRST_MONTH <= day <= today:
        messages.warning(
            request, _("Choose a day between %(first)s and today.") % {"first": FIRST_MONTH.isoformat()}
        )
        return redirect("dashboard:reconciliation", pk=connection.pk)

    def enqueue():
        from syncjobs.tasks import reconcile_day

        try:
            reconcile_day.apply_async(args=(connection.pk, day.isoformat()), retry=False)
        except Exception:  # the broker is away: say so rather than promise a check
            messages.warning(request, _("The check could not be started now; try again in a minute."))

    transaction.on_commit(enqueue)
    messages.success(
        request,
        _("%(day)s is being checked again on every account; reload this page in a minute.")
        % {"day": day.isoformat()},
    )
    account = request.POST.get("account", "")
    if account.isdigit() and len(account) < 12:
        opened = _days(request, connection).filter(account_id=int(account), day=day).first()
        if opened is not None:
            return redirect(
                "dashboard:reconciliation_day", pk=connection.pk, account=opened.account_id, day=day
            )
    base = reverse("dashboard:reconciliation", args=[connection.pk])
    return redirect(f"{base}?{urlencode({'month': day.strftime('%Y-%m')})}")


def _day_answer(request, connection, day, *, notice, ok):
    """The day's fragment for htmx (with what was done), or back to the page with the day opened."""
    if request.htmx:
        context = _detail(request, connection, day, notice=notice, notice_ok=ok)
        return render(request, "dashboard/_reconciliation_day.html", context)
    (messages.success if ok else messages.warning)(request, notice)
    return redirect("dashboard:reconciliation_day", pk=connection.pk, account=day.account_id, day=day.day)


# --- CSV ----------------------------------------------------------------------------------------------------


def _csv(rows, filename: str):
    writer = csv.writer(_Echo())

    def lines():
        first = True
        for row in rows:
            line = writer.writerow(row)
            yield ("\ufeff" + line) if first else line  # the BOM tells Excel the file is UTF-8
            first = False

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@role_required()
@require_GET
def export_month(request, pk):
    """One line per account and day of the month (up to today): checked or not, and what was found."""
    connection = scoped_object_or_404(request, Connection, pk=pk)
    first = _month(request.GET.get("month"))
    last = min(first.replace(day=calendar.monthrange(first.year, first.month)[1]), timezone.localdate())
    accounts = _accounts(request, connection)
    by_key = {
        (r.account_id, r.day): r for r in _days(request, connection).filter(day__gte=first, day__lte=last)
    }
    target = kind_label(connection)
    header = [
        _("Date"),
        _("Target"),
        _("Account"),
        _("Currency"),
        _("Expected count"),
        _("Expected total"),
        _("Confirmed count"),
        _("Confirmed total"),
        _("Matches"),
        _("Differences"),
        _("Could not be checked because"),
    ]
    state_word = str(reconciled.STATE_LABELS[reconciled.UNCHECKED])

    def rows():
        yield header
        day = first
        while day <= last:
            for account in accounts:
                row = by_key.get((account.pk, day))
                state = reconciled.state(row)
                if row is None:
                    yield [day.isoformat(), _cell(target), _cell(account.tag), *[""] * 5, state_word, "", ""]
                    continue
                yield [
                    day.isoformat(),
                    _cell(target),
                    _cell(account.tag),
                    row.currency,
                    row.expected_count,
                    reconciled.plain_amount(row.expected_total, row.currency),
                    row.confirmed_count,
                    reconciled.plain_amount(row.confirmed_total, row.currency),
                    _("yes") if state == reconciled.MATCHES else _("no"),
                    reconciled.problem_count(row),
                    _cell(row.error_display),
                ]
            day += dt.timedelta(days=1)

    return _csv(rows(), f"ledgerlink-reconciliation-{connection.pk}-{first:%Y-%m}.csv")


@role_required()
@require_GET
def export_day(request, pk, account, day):
    """One line per difference of the day (then what nobody expected, then the stock that differs)."""
    connection = scoped_object_or_404(request, Connection, pk=pk)
    found = _one_day(request, connection, account, day)
    context = _detail(request, connection, found)
    target, tag, date = _cell(kind_label(connection)), _cell(found.account.tag), found.day.isoformat()
    header = [
        _("Date"),
        _("Target"),
        _("Account"),
        _("Kind"),
        _("Source"),
        _("Target document"),
        _("Detail"),
        _("Our document"),
        _("State"),
    ]

    def rows():
        yield header
        for group in context["groups"]:
            for item in group.lines:
                line, doc = item["line"], item["document"]
                yield [
                    date,
                    target,
                    tag,
                    _cell(group.label),
                    _cell(line.source),
                    _cell(line.target_document),
                    _cell(line.detail),
                    doc.pk if doc else "",
                    _cell(doc.get_state_display()) if doc else "",
                ]
        label = str(reconciled.kind_label("unexpected"))
        for item in context["unexpected"]:
            yield [
                *(date, target, tag, _cell(label)),
                *(_cell(item.get("source", "")), _cell(item.get("document", "")), _cell(item["amount_text"])),
                *("", ""),
            ]
        label = str(reconciled.kind_label("stock"))
        for item in context["stock"]:
            detail = _("%(sku)s at %(place)s: source %(source)s, target %(target)s") % {
                key: item.get(key, "") for key in ("sku", "place", "source", "target")
            }
            yield [date, target, tag, _cell(label), _cell(item.get("sku", "")), "", _cell(detail), "", ""]

    name = re.sub(r"[^A-Za-z0-9-]+", "_", found.account.external_id)[:60]
    return _csv(rows(), f"ledgerlink-reconciliation-{connection.pk}-{name}-{date}.csv")


urlpatterns = [
    path("reconciliation/", reconciliation_index, name="reconciliation_index"),
    path("connections/<int:pk>/reconciliation/", reconciliation, name="reconciliation"),
    path("connections/<int:pk>/reconciliation/export.csv", export_month, name="reconciliation_export"),
    path("connections/<int:pk>/reconciliation/check/", reconciliation_check, name="reconciliation_check"),
    path(
        "connections/<int:pk>/reconciliation/accounts/<int:account>/days/<str:day>/",
        reconciliation_day,
        name="reconciliation_day",
    ),
    path(
        "connections/<int:pk>/reconciliation/accounts/<int:account>/days/<str:day>/retry/",
        reconciliation_retry,
        name="reconciliation_retry",
    ),
    path(
        "connections/<int:pk>/reconciliation/accounts/<int:account>/days/<str:day>/export.csv",
        export_day,
        name="reconciliation_day_export",
    ),
]
