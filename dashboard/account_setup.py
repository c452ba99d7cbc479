"""One account's own setup page, for a target that has one (``account_setup_template``): registering at the
target, approvals, settings, a switch — whatever the target's adapter shows and does. Anyone of the tenant
may look; only an owner acts. Nothing here names a provider."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from connectors.middleware import scoped, scoped_object_or_404
from connectors.models import Connection, TargetAccount
from connectors.registry import Unsupported

from .access import ANYONE, OWNER, can_configure, role_required


def _account(request, pk, account_pk):
    connection = scoped_object_or_404(request, Connection, pk=pk)
    account = get_object_or_404(
        scoped(request, TargetAccount).select_related("connection"), pk=account_pk, connection=connection
    )
    return connection, account, connection.target


def _page(request, connection, account, kind, *, request_data=None, status=200):
    return render(
        request,
        "dashboard/account_setup.html",
        {
            "connection": connection,
            "account": account,
            "kind": kind,
            "can_configure": can_configure(request),
            "setup_template": kind.account_setup_template,
            "panel": kind.account_setup_context(account, request_data=request_data),
        },
        status=status,
    )


@role_required(ANYONE)
def account_setup(request, pk, account_pk):
    connection, account, kind = _account(request, pk, account_pk)
    if not kind.account_setup_template:  # everything such an account has is on the accounts list
        return redirect("dashboard:accounts", pk=connection.pk)
    return _page(request, connection, account, kind)


@role_required(OWNER)
@require_POST
def account_setup_action(request, pk, account_pk, action):
    """One action of the page; the answer is shown in words. Input the target refused is shown again
    with what was wrong (the secrets it held are never rendered back)."""
    connection, account, kind = _account(request, pk, account_pk)
    if not kind.account_setup_template:
        raise Http404(_("%(target)s accounts have no setup page.") % {"target": kind.label})
    try:
        result = kind.account_setup_action(account, action, request.POST, user=request.user)
    except Unsupported:
        raise Http404(_("No such action.")) from None
    message = str(result.message)  # in the page's language
    if getattr(result, "invalid", False):
        messages.error(request, message)
        account.refresh_from_db()
        return _page(
            request,
            connection,
            account,
            kind,
            request_data={"action": action, "data": request.POST},
            status=400,
        )
    (messages.success if result.ok else messages.error)(request, message)
    return redirect("dashboard:account_setup", pk=connection.pk, account_pk=account.pk)


urlpatterns = [
    path("connections/<int:pk>/accounts/<int:account_pk>/setup/", account_setup, name="account_setup"),
    path(
        "connections/<int:pk>/accounts/<int:account_pk>/setup/<slug:action>/",
        account_setup_action,
        name="account_setup_action",
    ),
]
