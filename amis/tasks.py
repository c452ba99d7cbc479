"""Thin Celery tasks for AMIS master data; the beat entry for `refresh_amis_master_data` comes with the
AMIS target's registration."""

from celery import shared_task

from connectors.http import ApiError, RetryableError
from connectors.models import TargetAccount

from . import services

RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 900


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
