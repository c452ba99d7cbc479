"""The logs: one row per document, filters, the document's timeline."""

from django.shortcuts import get_object_or_404, render
from django.urls import path

from connectors.middleware import scoped
from syncjobs.models import SyncAttempt, SyncDocument

from .access import role_required


@role_required()
def document_detail(request, pk):
    document = get_object_or_404(scoped(request, SyncDocument).select_related("account", "connection"), pk=pk)
    timeline = scoped(request, SyncAttempt).filter(document=document).order_by("created_at", "id")
    return render(request, "dashboard/document.html", {"document": document, "timeline": timeline})


urlpatterns = [path("documents/<int:pk>/", document_detail, name="document")]
