"""Thin Celery tasks: each calls one service function."""

from celery import shared_task

from . import services


@shared_task(name="haravan.process_event")
def process_event(event_ids):
    """Stored webhook events, each in its own transaction (a list: webhooks are handed over in batches)."""
    ids = [event_ids] if isinstance(event_ids, int) else event_ids
    return [services.process_event(event_id) for event_id in ids]


@shared_task(name="haravan.scheduled_sync")
def scheduled_sync(connection_id: int):
    return services.scheduled_sync(connection_id)


@shared_task(name="haravan.manual_sync")
def manual_sync(run_id: int):
    return services.manual_sync(run_id)


@shared_task(name="haravan.sync_products")
def sync_products(org_id: str):
    from .models import HaravanShop

    return services.sync_products(HaravanShop.objects.get(org_id=org_id))


@shared_task(name="haravan.sync_customers")
def sync_customers(org_id: str):
    from .models import HaravanShop

    return services.sync_customers(HaravanShop.objects.get(org_id=org_id))


# --- inventory documents (haravan/inventory_sync.py): one poll of one kind over every shop that posts it ---


@shared_task(name="haravan.sync_inventory_purchase_orders")
def sync_inventory_purchase_orders():
    """Purchase receives (the documents that fill purchase orders), each read whole."""
    from connectors.stock import PURCHASE_RECEIVE

    from . import inventory_sync

    return inventory_sync.poll(PURCHASE_RECEIVE)


@shared_task(name="haravan.sync_inventory_purchase_returns")
def sync_inventory_purchase_returns():
    from connectors.stock import PURCHASE_RETURN

    from . import inventory_sync

    return inventory_sync.poll(PURCHASE_RETURN)


@shared_task(name="haravan.sync_inventory_transfers")
def sync_inventory_transfers():
    from connectors.stock import TRANSFER

    from . import inventory_sync

    return inventory_sync.poll(TRANSFER)


@shared_task(name="haravan.sync_inventory_adjustments")
def sync_inventory_adjustments():
    from connectors.stock import ADJUSTMENT

    from . import inventory_sync

    return inventory_sync.poll(ADJUSTMENT)
