"""Merchant screens. Every query goes through connectors.middleware.scoped: one tenant per request."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from connectors.middleware import SESSION_KEY, scoped
from connectors.models import Connection, Membership
from syncjobs.models import SyncDocument


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
@require_POST
def switch_tenant(request):
    wanted = request.POST.get("tenant")
    if Membership.objects.filter(user=request.user, tenant_id=wanted).exists():
        request.session[SESSION_KEY] = int(wanted)
    return redirect("dashboard:overview")
