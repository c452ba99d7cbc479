"""The connection screen: source shop, licence, enable switch, schedule, manual sync."""

from django.shortcuts import render
from django.urls import path

from connectors.middleware import scoped_object_or_404
from connectors.models import Connection

from .access import role_required


@role_required()
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


urlpatterns = [path("connections/<int:pk>/", connection_detail, name="connection")]
