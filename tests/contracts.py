"""What the adapter contract test needs of each integration: a connection, an example object, and a story
that makes every kind of document its target knows, processed in the simulators.

A new target or source registers here too: the contract test fails for a registered adapter without one.
"""

import copy

from connectors.models import Connection, TargetAccount
from tests import factories

ORG = "200000001"
BASE = "http://127.0.0.1:8100"


# --- sources --------------------------------------------------------------------------------------------


def haravan_example(sandbox) -> dict:
    """A paid order of the simulated shop, as Haravan serves it."""
    from haravan.client import HaravanClient
    from sandbox.generator import OrderGenerator

    generator = OrderGenerator(f"{BASE}/haravan", "demo-token", seed=5)
    order = generator.create_random_order()
    if order["financial_status"] != "paid":
        generator.pay(order["id"])
    return HaravanClient(ORG, "demo-token").get_order(order["id"])


SOURCE_EXAMPLES = {"haravan": haravan_example}


def source_shop(kind: str, tenant):
    """The source's own record of the shop a connection reads (the simulated one)."""
    if kind == "haravan":
        return factories.shop(tenant, org_id=ORG, token="demo-token")
    raise LookupError(kind)


# --- targets --------------------------------------------------------------------------------------------


def meinvoice_connection(tenant) -> Connection:
    from meinvoice import services

    source_shop("haravan", tenant)
    connection = Connection.objects.create(
        tenant=tenant, name="Demo → meInvoice", source_kind="haravan", source_key=ORG, target_kind="meinvoice"
    )
    account = TargetAccount.objects.create(
        connection=connection,
        external_id="0101243150",
        is_default=True,
        name="Công ty Demo",
        credentials={"app_id": "demo-app", "username": "demo", "password": "demo"},
    )
    services.sync_templates(account)
    return connection


def meinvoice_story(connection, sandbox) -> list:
    """An invoice, an adjustment for a refund, a replacement for another refund, and a cancellation."""
    from haravan import services as haravan_services
    from meinvoice import services
    from syncjobs.models import SyncDocument

    def take(order):
        haravan_services.intake_order(ORG, order, trigger="contract")
        services.sync_orders()

    def refunded(order, refund_id, when):
        from haravan.read import read_order

        line = order["line_items"][0]
        sold = read_order(order).lines[0]  # what the buyer paid for one unit of it, to the đồng
        unit_paid = int(sold.amount // sold.quantity)
        changed = copy.deepcopy(order)
        changed["refunds"] = [
            *order.get("refunds", []),
            {
                "id": refund_id,
                "created_at": "2026-11-22T09:00:00Z",
                "refund_line_items": [{"line_item_id": line["id"], "quantity": 1, "line_item": line}],
                "transactions": [{"kind": "refund", "status": "success", "amount": -unit_paid}],
            },
        ]
        changed["updated_at"] = when
        return changed

    first = haravan_example(sandbox)
    take(first)
    take(refunded(first, 71, "2099-01-01T00:00:00Z"))
    cancelled = {**first, "cancelled_at": "2026-11-23T09:00:00Z", "updated_at": "2099-01-02T00:00:00Z"}
    take(cancelled)

    connection.settings = {**connection.settings, "meinvoice": {"returns": {"on_refund": "replace"}}}
    connection.save()
    second = haravan_example(sandbox)
    take(second)
    take(refunded(second, 72, "2099-01-01T00:00:00Z"))
    return list(SyncDocument.objects.filter(connection=connection).order_by("pk"))


TARGET_STORIES = {"meinvoice": (meinvoice_connection, meinvoice_story)}


def screens(connection, documents) -> list[str]:
    """Every screen a connection's documents show on, as an owner opens them."""
    from django.urls import reverse

    return [
        reverse("dashboard:overview"),
        reverse("dashboard:connection", args=[connection.pk]),
        reverse("dashboard:accounts", args=[connection.pk]),
        reverse("dashboard:mapping", args=[connection.pk]),
        reverse("dashboard:logs"),
        reverse("dashboard:retry"),
        *(reverse("dashboard:document", args=[d.pk]) for d in documents),
        *(f"{reverse('dashboard:logs')}?kind={d.kind.split(':')[0]}" for d in documents),
    ]
