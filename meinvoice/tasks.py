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


@shared_task(name="meinvoice.write_back", bind=True, max_retries=10)
def write_back(self, document_ids):
    """Lookup codes onto the source orders, a batch per publish; what Haravan turns away comes back later."""
    ids = [document_ids] if isinstance(document_ids, int) else list(document_ids)
    waiting, last = [], None
    for pk in ids:
        try:
            services.write_back(pk)
        except RetryableError as exc:
            waiting.append(pk)
            last = exc
    if waiting:
        raise self.retry(args=[waiting], countdown=min(600, 10 * 2**self.request.retries), exc=last)
