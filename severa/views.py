"""Severa's doors into the product: connecting an organisation (its REST API client) and reading it again.

Secrets come in by POST only and are never rendered back: a refused connect answers with words, the
inputs empty."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from connectors.middleware import SESSION_KEY, scoped_object_or_404
from connectors.models import Connection, Membership

from . import connect as connecting
from .connect import ConnectError


def _require_owner(request) -> None:
    """The merchant's owner (the dashboard's role check, without importing the dashboard)."""
    membership = getattr(request, "membership", None)
    if membership is None or membership.role != Membership.Role.OWNER:
        role = membership.get_role_display() if membership is not None else "—"
        raise PermissionDenied(
            _("Your role (%(role)s) can look but not change this: %(why)s.")
            % {"role": role, "why": _("only the shop's owner can change settings")}
        )


@login_required
@require_POST
def connect(request):
    """Connect a Severa organisation: to the merchant chosen (its owner only), or to a new merchant the
    signed-in person owns when they belong to none yet."""
    tenant = getattr(request, "tenant", None)
    if tenant is not None:
        _require_owner(request)
    try:
        connection = connecting.connect(
            tenant,
            client_id=request.POST.get("client_id", ""),
            client_secret=request.POST.get("client_secret", ""),
            user=request.user,
        )
    except ConnectError as exc:
        messages.error(request, str(exc.text))
        return redirect("dashboard:overview")
    request.session[SESSION_KEY] = connection.tenant_id
    messages.success(
        request,
        _(
            "Severa organisation %(name)s connected: its companies, business units and invoice statuses "
            "were read."
        )
        % {"name": connection.name},
    )
    return redirect("dashboard:connection", pk=connection.pk)


@login_required
@require_POST
def refresh(request, pk):
    """Read the organisation again (the owner of the connection's merchant)."""
    connection = scoped_object_or_404(request, Connection, pk=pk, source_kind=connecting.SOURCE_KIND)
    _require_owner(request)
    organisation = connecting.organisation_for(connection)
    if organisation is None:
        messages.error(
            request, _("No Severa organisation is connected for this connection: connect it again.")
        )
        return redirect("dashboard:connection", pk=connection.pk)
    try:
        connecting.refresh(organisation)
    except ConnectError as exc:
        messages.error(request, str(exc.text))
    else:
        messages.success(request, _("Severa organisation read again."))
    return redirect("dashboard:connection", pk=connection.pk)
