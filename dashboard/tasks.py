"""Thin Celery tasks of the dashboard; the work lives in the screens' modules."""

from celery import shared_task

from . import retry


@shared_task(name="dashboard.bulk_retry")
def bulk_retry(run_id: int) -> int:
    """Carry out (or continue) a bulk retry run; returns how many documents were retried."""
    return retry.run_bulk_retry(run_id)
