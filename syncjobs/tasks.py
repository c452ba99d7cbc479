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
