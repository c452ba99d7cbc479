from celery import shared_task

from . import intake


@shared_task(name="syncjobs.sweep_inbound_events")
def sweep_inbound_events():
    """Nothing accepted is lost: events still pending (broker outage, lost worker) go to a worker again."""
    return intake.sweep()


@shared_task(name="syncjobs.send_alert_digests")
def send_alert_digests():
    from . import alerts

    return alerts.send_digests()


@shared_task(name="syncjobs.reconcile_day")
def reconcile_day(connection_id: int, day_iso: str | None = None) -> dict:
    """One connection's day reconciled on every account (``day_iso`` None: the day before, in its source's
    own time zone). Each account's ReconciledDay is replaced."""
    import datetime as dt

    from connectors.models import Connection

    from . import reconciliation

    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None:
        return {"accounts": 0, "matching": 0}
    if day_iso:
        day = dt.date.fromisoformat(day_iso)
    else:
        day = dt.datetime.now(connection.source.day_zone(connection)).date() - dt.timedelta(days=1)
    rows = reconciliation.check_day(connection, day)
    return {"day": day.isoformat(), "accounts": len(rows), "matching": sum(1 for row in rows if row.matches)}


@shared_task(name="syncjobs.reconcile_yesterday")
def reconcile_yesterday() -> int:
    """Each night: every enabled connection whose target can be asked, one task each (a slow target holds
    up only its own)."""
    from . import reconciliation

    ids = reconciliation.nightly_connections()
    for connection_id in ids:
        reconcile_day.delay(connection_id, None)
    return len(ids)
