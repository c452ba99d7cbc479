"""Haravan as a source: what the core and the screens may ask of a Haravan shop (see connectors.registry)."""

from urllib.parse import quote

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from connectors.registry import ScheduleState, SourceAdapter

from . import checks, read, reconcile, schedules, services
from .client import HaravanClient
from .models import HaravanShop

# How many of the shop's newest orders are read to find an order by its number (50 per call).
SCAN_LIMIT = 250


def _number_of(order: dict) -> str:
    for key in ("order_number", "name"):
        value = str(order.get(key) or "").strip().lstrip("#").strip()
        if value:
            return value
    return ""


class HaravanSource(SourceAdapter):
    name = "haravan"
    label = "Haravan"
    object_label = pgettext_lazy("sales order", "Order")
    key_label = gettext_lazy("Org id")
    dimensions = (
        ("location", gettext_lazy("Branch / location")),
        ("source", gettext_lazy("Sales channel (source_name)")),
        ("storefront", gettext_lazy("Storefront")),
        ("carrier", gettext_lazy("Carrier")),
        ("gateway", gettext_lazy("Payment gateway")),
    )
    source_template = "haravan/_connection_source.html"
    connect_template = "haravan/_connect.html"
    looks_up_by_number = True
    manual_sync = True
    scheduled_sync = True
    default_schedule_minutes = schedules.DEFAULT_EVERY_MINUTES
    manual_sync_help = gettext_lazy(
        "Reads every order created in these days again (shop time, both days included). Orders already sent "
        "are not sent twice."
    )
    secret_keys = ("x-haravan-hmacsha256", "x-haravan-hmac-sha256")  # the webhook signature headers
    url_settings = checks.PRODUCTION_URLS
    simulator_paths = checks.SIMULATOR_PATHS

    def deploy_checks(self):
        return checks.deploy_checks()

    def read_sale(self, connection, raw, options):
        return services.sale_for(connection, raw, options)

    def routing_facts(self, raw):
        return read.routing_facts(raw)

    def label_of(self, raw):
        return read.order_label(raw)

    def shape_problem(self, raw):
        return read.shape_problem(raw)

    def fetch_by_number(self, connection, number, *, known_id=None):
        """By the id we already know for that number, else by looking through the shop's newest orders
        (Haravan cannot search orders by number)."""
        client = HaravanClient.for_shop(services.shop_for(connection))
        if known_id:
            return client.get_order(known_id)
        orders = client.iter_orders(status="any", order="created_at desc", fields="id,name,order_number")
        for seen, row in enumerate(orders, start=1):
            if _number_of(row) == number and row.get("id"):
                return client.get_order(row["id"])
            if seen >= SCAN_LIMIT:
                break
        raise LookupError(
            _(
                "Order %(label)s is not among the %(limit)s newest orders of Haravan shop %(shop)s. Check "
                "the number, or open the order in Haravan and paste its JSON below."
            )
            % {"label": f"#{number}", "limit": SCAN_LIMIT, "shop": connection.source_key}
        )

    def admin_url(self, connection, document):
        """Haravan's https://<shop>.myharavan.com/admin/orders/<id>."""
        if document.source_type != "order" or not document.source_id:
            return None
        shop = (
            HaravanShop.objects.filter(org_id=connection.source_key, tenant_id=connection.tenant_id)
            .only("domain")
            .first()
        )
        domain = (shop.domain if shop else "").strip().lower()
        domain = domain.removeprefix("https://").removeprefix("http://").split("/")[0]
        host = domain if domain.endswith(".myharavan.com") else f"{connection.source_key}.myharavan.com"
        return f"https://{host}/admin/orders/{quote(document.source_id)}"

    def connection_context(self, connection):
        return {
            "shop": HaravanShop.objects.filter(org_id=connection.source_key, tenant=connection.tenant).first()
        }

    def start_manual_sync(self, connection, *, date_from, date_to, user=None, request_token=None):
        return services.start_manual_sync(
            connection, date_from=date_from, date_to=date_to, user=user, request_token=request_token
        )

    def schedule(self, connection):
        task = schedules.periodic_task(connection)
        return ScheduleState(
            every_minutes=schedules.minutes_of(task),
            running=bool(task and task.enabled),
            owner_switch=schedules.owner_switch(connection),
            last_run_at=task.last_run_at if task else None,
        )

    def set_schedule(self, connection, *, every_minutes, enabled):
        schedules.set_owner_switch(connection, enabled)
        schedules.ensure_schedule(connection, every_minutes=every_minutes)
        return self.schedule(connection)

    def write_back(self, document, fields, *, style):
        services.write_back(document, fields, style=style)

    # --- stock: inventory documents and on hand (haravan/inventory.py, haravan/inventory_sync.py)

    def beat_entries(self):
        """The four inventory polls, every ``HARAVAN_INVENTORY_POLL_SECONDS``."""
        from . import inventory_sync

        return inventory_sync.beat_entries()

    def stock_kinds(self):
        from connectors.stock import STOCK_KINDS

        return STOCK_KINDS

    def read_stock_document(self, connection, raw):
        from . import inventory

        return inventory.read_document(raw)

    def stock_on_hand(self, connection, *, skus=None):
        from . import inventory_sync

        return inventory_sync.stock_on_hand(connection, skus=skus)

    # --- reconciliation (haravan/reconcile.py)
    stored_day_keys = reconcile.STORED_KEYS

    def day_zone(self, connection):
        return reconcile.day_zone(connection)

    def day_count(self, connection, start, end):
        return reconcile.day_count(connection, start, end)

    def day_objects(self, connection, start, end):
        return reconcile.day_objects(connection, start, end)
