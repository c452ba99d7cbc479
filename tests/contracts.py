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


SEVERA_ORG = "SE556677889901"  # the simulated Severa organisation's VAT number


def severa_example(sandbox) -> dict:
    """An invoice waiting in "to transfer" in the simulated Severa, as the poll gathers it."""
    from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
    from sandbox.severa import data as severa_data
    from severa.client import SeveraClient
    from severa.services import _Details

    details = _Details(_organisation_stub(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))
    invoice = SeveraClient(client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET).invoice(
        severa_data.INVOICE_TWO_RATES
    )
    return details.bundle(invoice)


def _organisation_stub(client_id, client_secret):
    from severa.models import SeveraOrganisation

    return SeveraOrganisation(
        vat_number=SEVERA_ORG, secrets={"client_id": client_id, "client_secret": client_secret}
    )


SOURCE_EXAMPLES = {"haravan": haravan_example, "severa": severa_example}

# What each source takes back from a target (fields, style), for the contract's write-back
WRITE_BACKS = {
    "haravan": ({"contract_check": "1"}, "note_attribute"),
    "severa": ({"status": "5e000000-0003-4000-8000-000000000003"}, "status"),  # "Lähetetty Maventaan"
}


def source_shop(kind: str, tenant):
    """The source's own record of the shop a connection reads (the simulated one)."""
    if kind == "haravan":
        return factories.shop(tenant, org_id=ORG, token="demo-token")
    if kind == "severa":
        from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

        organisation = _organisation_stub(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        organisation.tenant = tenant
        organisation.name = "Demokonsult AB"
        organisation.save()
        return organisation
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


AMIS_MAPPING = {
    "locations": {"1001": {"stock_code": "KHO01"}, "1002": {"stock_code": "KHO02"}},
    "parties": {"walk_in": "KHACHLE", "by_channel": {"shopee": "KHACHLE_SHOPEE"}},
    "default_gateway": "cash",
    # A sales order at creation, and the sales voucher unpaid with a receipt for each capture.
    "documents": {"sales_order": "created", "paid_at_sale": False},
    "stock": {"purchase_receive": True, "purchase_return": True, "adjustment": True, "transfer": True},
}


def amis_connection(tenant) -> Connection:
    source_shop("haravan", tenant)
    connection = Connection.objects.create(
        tenant=tenant, name="Demo → AMIS", source_kind="haravan", source_key=ORG, target_kind="amis"
    )
    TargetAccount.objects.create(
        connection=connection,
        external_id="demo-hanoi",
        is_default=True,
        name="Công ty TNHH Demo Hà Nội",
        credentials={"access_code": "demo"},
        settings={"mapping": AMIS_MAPPING},
    )
    return connection


def amis_story(connection, sandbox) -> list:
    """A sales order, a sales voucher and a receipt; a return for a refund; a return for the cancellation —
    each sent, accepted as a proposal and generated by the accountant, the callbacks through our endpoint."""
    import requests
    from django.test import Client

    from amis import callbacks, sending
    from haravan import services as haravan_services
    from sandbox.testing import django_client_sender
    from syncjobs.models import InboundEvent, SyncDocument

    sim = sandbox.mounts["/amis"]
    sim.webhooks.sender = django_client_sender(Client())
    sim.set_knobs(auto_generate=False)

    def settle():
        """Send, let the accountant generate everything waiting, and apply the callbacks."""
        for _round in range(3):
            sending.sync_orders()
            requests.post(f"{BASE}/amis/_sandbox/generate", json={"company": "demo-hanoi"}, timeout=5)
            sim.advance(5)
            sim.webhooks.drain()
            for event in InboundEvent.objects.filter(source_kind="amis", status=InboundEvent.Status.PENDING):
                callbacks.process_event(event.pk)

    def take(order):
        haravan_services.intake_order(ORG, order, trigger="contract")
        settle()

    order = haravan_example(sandbox)
    take(order)
    line = order["line_items"][0]
    refunded = copy.deepcopy(order)
    refunded["refunds"] = [
        {
            "id": 71,
            "created_at": "2026-11-22T09:00:00Z",
            "refund_line_items": [{"line_item_id": line["id"], "quantity": 1, "line_item": line}],
            "transactions": [{"kind": "refund", "status": "success", "amount": -10000}],
        }
    ]
    refunded["updated_at"] = "2099-01-01T00:00:00Z"
    take(refunded)
    take({**refunded, "cancelled_at": "2026-11-23T09:00:00Z", "updated_at": "2099-01-02T00:00:00Z"})
    stock_story(sandbox)
    settle()
    return list(SyncDocument.objects.filter(connection=connection).order_by("pk"))


def stock_story(sandbox) -> None:
    """The shop's stock moves in the simulated Haravan, one document of each kind, and the four polls read
    them: an adjustment (some found, some lost), a receive booked from a supplier and part of it returned,
    a transfer between the two warehouses, received."""
    import requests

    from haravan import tasks as haravan_tasks
    from sandbox import demo_data

    variants = [v["id"] for p in demo_data.PRODUCTS for v in p["variants"]][:2]
    first, second = variants

    def api(path, body):
        answer = requests.post(
            f"{BASE}/haravan/com/{path}", json=body, headers={"Authorization": "Bearer demo-token"}, timeout=5
        )
        assert answer.status_code < 300, answer.text
        return answer.json()

    def control(path, body):
        answer = requests.post(f"{BASE}/haravan/_sandbox/inventory/{path}", json=body, timeout=5)
        assert answer.status_code < 300, answer.text
        return answer.json()

    receive = control(
        "purchase_receives",
        {
            "location_id": 1001,
            "status": "Đã nhập hàng",
            "supplier": {"id": 71, "name": "Công ty May Mặc Sài Gòn", "phone": "0281234567"},
            "line_items": [{"product_variant_id": first, "quantity": 6, "original_cost": 150000}],
        },
    )["purchase_receive"]
    control(
        "purchase_returns",
        {"receive_id": receive["id"], "line_items": [{"product_variant_id": first, "quantity": 2}]},
    )
    adjust = {"location_id": 1001, "type": "adjust", "reason": "shrinkage"}
    api(
        "inventories/adjustorset.json",
        {"inventory": {**adjust, "line_items": [{"product_variant_id": second, "quantity": 3}]}},
    )
    transfer = api(
        "inventories/transfer.json",
        {
            "transfer": {
                "from_loc_id": 1001,
                "to_loc_id": 1002,
                "line_items": [{"product_variant_id": first, "quantity": 1}],
            }
        },
    )["transfer"]
    api(f"inventories/transfer/{transfer['id']}/receive.json", {"transfer": {"user_id": 1}})
    haravan_tasks.sync_inventory_purchase_orders()
    haravan_tasks.sync_inventory_purchase_returns()
    haravan_tasks.sync_inventory_adjustments()
    haravan_tasks.sync_inventory_transfers()


def maventa_connection(tenant) -> Connection:
    """Demokonsult AB's verified Maventa account (the simulator's demo company), sending from "to
    transfer"."""
    from maventa.setup import AccountSetup, store_setup
    from sandbox.maventa.demo import DEMO_COMPANIES
    from sandbox.severa import data as severa_data

    source_shop("severa", tenant)
    connection = Connection.objects.create(
        tenant=tenant, name="Demokonsult", source_kind="severa", source_key=SEVERA_ORG, target_kind="maventa"
    )
    company = next(c for c in DEMO_COMPANIES if c["bid"] == SEVERA_ORG)
    account = TargetAccount.objects.create(
        connection=connection,
        external_id=SEVERA_ORG,
        is_default=True,
        name="Demokonsult AB",
        credentials={"user_api_key": company["api_key"], "company_uuid": company["id"]},
    )
    store_setup(
        account,
        AccountSetup(
            company_guid=severa_data.AB_COMPANY,
            country="SE",
            origin="registered",
            auth_state="SIGNED",
            company_state="VERIFIED",
            status_to_transfer=severa_data.TO_TRANSFER,
            status_after=severa_data.TRANSFERRED,
            status_error=severa_data.TRANSFER_FAILED,
            payment={"kind": "bankgiro", "account": "5050-1055"},
            enabled=True,
        ),
    )
    return connection


def maventa_story(connection, sandbox) -> list:
    """The Swedish company's invoice and its credit note, polled from Severa, sent, and delivered."""
    from maventa import posting
    from sandbox.severa import data as severa_data
    from severa import services as severa_services
    from syncjobs.models import SyncDocument

    severa, maventa = sandbox.mounts["/severa"], sandbox.mounts["/maventa"]
    severa.set_knobs(rate_limit=0)
    for invoice in list(severa.invoices.values()):  # only the Swedish company (this account's) waits
        if invoice.company != severa_data.AB_COMPANY:
            severa.move(invoice, severa_data.DRAFT)
    severa_services.sync_invoices(connection)
    for pk in SyncDocument.objects.filter(connection=connection, state="queued").values_list("pk", flat=True):
        posting.send(pk)
    maventa.advance(60)
    posting.follow_deliveries()
    return list(SyncDocument.objects.filter(connection=connection).order_by("pk"))


TARGET_STORIES = {
    "meinvoice": (meinvoice_connection, meinvoice_story),
    "amis": (amis_connection, amis_story),
    "maventa": (maventa_connection, maventa_story),
}


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
