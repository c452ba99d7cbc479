"""One beat entry per Haravan connection, stored in the database so a person can change its interval."""

import json

from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

DEFAULT_EVERY_MINUTES = 15


def task_name(connection) -> str:
    return f"Haravan orders → {connection.target_kind} (connection {connection.pk})"


SETTINGS_KEY = "schedule"  # Connection.settings["schedule"] = {"enabled": bool}: the owner's own switch


def owner_switch(connection) -> bool:
    """The owner's schedule switch (on unless switched off), whatever the connection switch says."""
    return bool(((connection.settings or {}).get(SETTINGS_KEY) or {}).get("enabled", True))


def set_owner_switch(connection, enabled: bool) -> None:
    """The owner's switch, saved under a row lock (other settings of the connection are kept)."""
    from connectors.models import Connection

    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        locked.settings = {**(locked.settings or {}), SETTINGS_KEY: {"enabled": bool(enabled)}}
        locked.save(update_fields=["settings"])
    connection.settings = locked.settings


def periodic_task(connection) -> PeriodicTask | None:
    return PeriodicTask.objects.filter(name=task_name(connection)).select_related("interval").first()


def minutes_of(task: PeriodicTask | None) -> int | None:
    if task is None or task.interval is None:
        return None
    factor = {"seconds": 1 / 60, "minutes": 1, "hours": 60, "days": 24 * 60}.get(task.interval.period, 1)
    return round(task.interval.every * factor)


def schedule_wanted(connection) -> bool:
    """Runs while the connection is on and its owner has not paused the schedule itself."""
    return connection.enabled and owner_switch(connection)


def ensure_schedule(connection, every_minutes: int | None = None) -> PeriodicTask:
    existing = PeriodicTask.objects.filter(name=task_name(connection)).first()
    wanted = schedule_wanted(connection)
    if existing and every_minutes is None:
        if existing.enabled != wanted:
            existing.enabled = wanted
            existing.save(update_fields=["enabled"])
        return existing
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=every_minutes or DEFAULT_EVERY_MINUTES, period=IntervalSchedule.MINUTES
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=task_name(connection),
        defaults={
            "task": "haravan.scheduled_sync",
            "interval": interval,
            "args": json.dumps([connection.pk]),
            "enabled": wanted,
        },
    )
    return task


def on_connection_saved(sender, instance, **kwargs):
    if instance.source_kind == "haravan":
        ensure_schedule(instance)


def on_connection_deleted(sender, instance, **kwargs):
    PeriodicTask.objects.filter(name=task_name(instance)).delete()
