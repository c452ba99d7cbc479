"""The Celery application; every setting lives in Django settings under CELERY_*."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ledgerlink")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def add_integration_schedules(sender, **kwargs):
    """Each integration's periodic tasks (its adapter's ``beat_entries``) join the static ones, before
    beat reads the schedule; a static entry of the same name wins."""
    from connectors import registry

    for name, entry in registry.beat_schedule().items():
        sender.conf.beat_schedule.setdefault(name, entry)
