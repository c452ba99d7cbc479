"""Thin Celery tasks; the names are the ones the product promises."""

from celery import shared_task

from connectors.http import RetryableError

from . import services


@shared_task(name="meinvoice.sync_orders")
def sync_orders(account_id: int | None = None):
    """Publish what is queued or due for retry (one account, or all of them from beat)."""
    return services.sync_orders(account_id)


@shared_task(name="meinvoice.refresh_meinvoice_status")
def refresh_meinvoice_status():
    return services.refresh_status()


@shared_task(
    name="meinvoice.write_back",
    autoretry_for=(RetryableError,),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=10,
)
def write_back(document_id: int):
    return services.write_back(document_id)
