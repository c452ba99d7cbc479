"""A run's progress (manual sync, bulk retry): one small fragment the page polls until the run ends."""

from django.shortcuts import render
from django.urls import path

from connectors.middleware import scoped_object_or_404
from syncjobs.models import SyncRun

from .access import role_required


@role_required()
def progress(request, pk):
    run = scoped_object_or_404(request, SyncRun, pk=pk)
    return render(request, "dashboard/_run_progress.html", {"run": run})


urlpatterns = [path("runs/<int:pk>/progress/", progress, name="run_progress")]
