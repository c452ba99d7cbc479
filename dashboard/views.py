"""Merchant screens. Every query goes through connectors.middleware.scoped: one tenant per request."""

from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from connectors import registry
from connectors.middleware import SESSION_KEY, scoped
from connectors.models import Connection, Membership
from syncjobs.models import SyncDocument

from . import stats
from .connection import LicenceStatus, kind_label, licences_for


@dataclass
class AccountRow:
    account: object | None  # None: documents no account was found for yet
    counts: stats.AccountCounts


@dataclass
class ConnectionSummary:
    connection: Connection
    kind_label: str
    licence: LicenceStatus
    rows: list[AccountRow]
    chart: dict
    total: stats.AccountCounts = field(default_factory=stats.AccountCounts)


@login_required
@require_GET
def overview(request):
    """Per connection and account: today and the last 7 days, a chart of the last 14, what needs a person.

    A signed-in user without a merchant yet sees how to connect a source (which creates one).
    """
    connect = [s.connect_template for s in registry.sources() if s.connect_template]
    if request.tenant is None:
        return render(
            request,
            "dashboard/overview.html",
            {"summaries": [], "without_tenant": True, "connect_templates": connect},
        )
    today = timezone.localdate()
    connections = list(scoped(request, Connection).prefetch_related("accounts").order_by("name", "id"))
    documents = scoped(request, SyncDocument)
    counts = stats.account_counts(documents, today=today) if connections else {}
    daily = stats.daily_counts(documents, today=today) if connections else {}
    licences = licences_for(request, connections)
    summaries = []
    for conn in connections:
        rows = [
            AccountRow(account, counts.get((conn.pk, account.pk), stats.AccountCounts()))
            for account in sorted(conn.accounts.all(), key=lambda a: (not a.is_default, a.external_id))
        ]
        if (conn.pk, None) in counts:
            rows.append(AccountRow(None, counts[(conn.pk, None)]))
        summary = ConnectionSummary(
            connection=conn,
            kind_label=kind_label(conn),
            licence=licences[conn.pk],
            rows=rows,
            chart=stats.chart(daily.get(conn.pk) or stats.quiet_days(today)),
        )
        for row in rows:
            summary.total.today.add(row.counts.today)
            summary.total.week.add(row.counts.week)
        summaries.append(summary)
    recent = documents.select_related("account__connection", "connection").order_by("-updated_at", "-id")[:20]
    return render(
        request,
        "dashboard/overview.html",
        {
            "summaries": summaries,
            "failures": stats.needs_person(documents) if connections else [],
            "documents": recent if connections else [],
            "today": today,
            "week_days": stats.WEEK_DAYS,
            "chart_days": stats.CHART_DAYS,
            "connect_templates": connect,
        },
    )


@login_required
@require_POST
def switch_tenant(request):
    """Only a tenant the user belongs to; anything else is a 404, whatever was sent."""
    try:
        wanted = int(request.POST.get("tenant", ""))
    except ValueError:
        raise Http404("No such merchant.") from None
    if not Membership.objects.filter(user=request.user, tenant_id=wanted).exists():
        raise Http404("No such merchant.")
    request.session[SESSION_KEY] = wanted
    return redirect("dashboard:overview")
