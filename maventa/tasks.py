"""Thin Celery tasks around maventa.posting and maventa.accounts."""

from celery import shared_task

from . import posting


@shared_task(name="maventa.send_invoice", ignore_result=True)
def send_invoice(document_id: int):
    return posting.send(document_id)


@shared_task(name="maventa.retry_due", ignore_result=True)
def retry_due():
    """Queued documents a task never took, retries that are due, and sends a dead worker left half done."""
    for document_id in posting.take_due():
        send_invoice.delay(document_id)


@shared_task(name="maventa.follow_deliveries", ignore_result=True)
def follow_deliveries():
    return posting.follow_deliveries()


@shared_task(name="maventa.refresh_authorizations", ignore_result=True)
def refresh_authorizations():
    """How the signing goes for every account with keys that is not verified yet."""
    from .accounts import refresh_pending_authentications

    refresh_pending_authentications()
