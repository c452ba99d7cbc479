"""Thin Celery tasks; the names are the ones the product promises."""

from celery import shared_task

from connectors.http import ApiError, RetryableError
from connectors.models import TargetAccount

from . import callbacks, sending, services

RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 900


@shared_task(name="amis.sync_orders")
def sync_orders(account_id: int | None = None):
    """Send what is queued or due for retry (one company, or all of them from beat)."""
    return sending.sync_orders(account_id)


@shared_task(name="amis.process_event")
def process_event(event_ids):
    """Stored AMIS callbacks, each in its own transaction (a list: they are handed over in batches)."""
    ids = [event_ids] if isinstance(event_ids, int) else event_ids
    return [callbacks.process_event(event_id) for event_id in ids]


@shared_task(name="amis.check_waiting")
def check_waiting():
    """Documents waiting too long for AMIS's answer: its undelivered results, or a resend."""
    return callbacks.check_waiting()


@shared_task(name="amis.sync_products", bind=True, max_retries=5)
def sync_products(self, account_id: int):
    """Upsert the shop's products as one AMIS company's items (AMIS busy means later, not never)."""
    return _pushed(self, services.sync_products, account_id)


@shared_task(name="amis.sync_customers", bind=True, max_retries=5)
def sync_customers(self, account_id: int):
    """Upsert the shop's customers as one AMIS company's account objects."""
    return _pushed(self, services.sync_customers, account_id)


def _pushed(task, push, account_id: int):
    account = TargetAccount.objects.filter(
        pk=account_id, connection__target_kind=services.TARGET_KIND
    ).first()
    if account is None:
        return 0
    try:
        return push(account)
    except RetryableError as exc:
        wait = exc.retry_after if exc.retry_after is not None else RETRY_SECONDS * 2**task.request.retries
        raise task.retry(countdown=min(MAX_RETRY_SECONDS, wait), exc=exc) from exc
    except ApiError as exc:  # refused or disconnected: a person must act
        return {"error": exc.text.english()}


@shared_task(name="amis.sync_amis_master_data", bind=True, max_retries=5)
def sync_amis_master_data(self, account_id: int, full: bool = False):
    """Bring one AMIS company's master data up to date; AMIS busy or down means later, not never."""
    account = TargetAccount.objects.filter(
        pk=account_id, connection__target_kind=services.TARGET_KIND
    ).first()
    if account is None:
        return {}
    try:
        return services.sync_master_data(account, full=full)
    except RetryableError as exc:
        wait = exc.retry_after if exc.retry_after is not None else RETRY_SECONDS * 2**self.request.retries
        raise self.retry(countdown=min(MAX_RETRY_SECONDS, wait), exc=exc) from exc
    except ApiError as exc:  # disconnected, refused, not configured: a person must act; nothing to retry
        return {"error": exc.text.english()}


@shared_task(name="amis.refresh_amis_master_data")
def refresh_amis_master_data():
    """Queue a master-data sync of every AMIS company of an enabled connection (one task each, so one
    slow or refused company holds up nobody)."""
    ids = list(services.amis_accounts().values_list("pk", flat=True))
    for account_id in ids:
        sync_amis_master_data.delay(account_id)
    return len(ids)
