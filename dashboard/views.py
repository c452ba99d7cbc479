"""Merchant screens. Every query goes through connectors.middleware.scoped: one tenant per request."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from connectors.middleware import SESSION_KEY, scoped, scoped_object_or_404
from connectors.models import Connection, Membership
from syncjobs.models import SyncAttempt, SyncDocument


def _require_tenant(request):
    if request.tenant is None:
        raise Http404("Your user has no tenant yet.")


@login_required
def overview(request):
    _require_tenant(request)
    connections = scoped(request, Connection).prefetch_related("accounts").order_by("name")
    recent = (
        scoped(request, SyncDocument)
        .select_related("account", "connection")
        .order_by("-updated_at", "-id")[:50]
    )
    return render(request, "dashboard/overview.html", {"connections": connections, "documents": recent})


@login_required
def connection_detail(request, pk):
    connection = scoped_object_or_404(request, Connection, pk=pk)
    return render(
        request,
        "dashboard/connection.html",
        {
            "connection": connection,
            "accounts": connection.accounts.order_by("-is_default", "external_id"),
            "rules": connection.rules.select_related("account"),
            "runs": connection.runs.order_by("-created_at")[:10],
        },
    )


@login_required
def document_detail(request, pk):
    document = get_object_or_404(scoped(request, SyncDocument).select_related("account", "connection"), pk=pk)
    timeline = scoped(request, SyncAttempt).filter(document=document).order_by("created_at", "id")
    return render(request, "dashboard/document.html", {"document": document, "timeline": timeline})


@login_required
@require_POST
def switch_tenant(request):
    wanted = request.POST.get("tenant")
    if Membership.objects.filter(user=request.user, tenant_id=wanted).exists():
        request.session[SESSION_KEY] = int(wanted)
    return redirect("dashboard:overview")
