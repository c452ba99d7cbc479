"""Thin Celery tasks: Severa is polled (it sends no webhooks)."""

from celery import shared_task

from . import services


@shared_task(name="severa.sync_severa_invoices", ignore_result=True)
def sync_severa_invoices(connection_id: int | None = None):
    """Read the invoices waiting in a "to transfer" status of every Severa connection (or one)."""
    return services.sync_all(connection_id)


@shared_task(name="severa.run_manual_sync", ignore_result=True)
def run_manual_sync(run_id: int):
    services.run_manual(run_id)
