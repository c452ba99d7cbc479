"""MISA AMIS accounting as a target: what the core and the screens may ask of it (see connectors.registry)."""

import re

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from connectors import stock
from connectors.registry import TargetAdapter
from connectors.text import Text

from . import posting, services

# What AMIS shows as the company's connection code: a tax code, a tenant domain ("k6aguh1l"), letters,
# digits, dots, dashes and underscores (amis.md §1).
COMPANY_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class AmisTarget(TargetAdapter):
    name = "amis"
    label = "MISA AMIS"
    family = "haravan_to_amis"
    family_label = "Haravan → AMIS"
    tag_label = "AMIS"
    source_kinds = ("haravan",)
    order_document_kind = posting.SALES_VOUCHER
    document_kinds = {
        posting.SALES_VOUCHER: _("Sales voucher"),
        posting.SALES_ORDER: _("Sales order"),
        posting.RECEIPT: _("Receipt"),
        posting.RETURN: _("Sales return"),
        posting.CANCEL: _("Cancellation (sales return)"),
        stock.PURCHASE_RECEIVE: _("Purchase with stock receipt"),
        stock.PURCHASE_RETURN: _("Purchase return"),
        stock.ADJUSTMENT: _("Stock adjustment"),
        stock.TRANSFER: _("Stock transfer"),
    }
    credential_fields = (("access_code", _("Access code (from AMIS)"), True),)
    url_settings = {"AMIS_API_URL": "https://actapp.misa.vn"}
    simulator_paths = ("/amis",)
    secret_keys = ("x-misa-accesstoken",)  # the token header of every data call
    would_make = _("would be posted")
    would_not_make = _("would not be posted")
    mapping_template = "amis/_mapping.html"
    preview_template = "amis/_preview.html"
    tests_connection = True
    syncs_master_data = True
    offers_reference_facts = True  # each company's cached items and account objects

    def beat_entries(self):
        return {
            # Sends queued vouchers and retries that are due (order changes also start it at once).
            "amis-sync-orders": {"task": "amis.sync_orders", "schedule": settings.AMIS_SYNC_INTERVAL_SECONDS},
            # Looks after vouchers whose callback never came.
            "amis-check-waiting": {
                "task": "amis.check_waiting",
                "schedule": settings.AMIS_CHECK_INTERVAL_SECONDS,
            },
            # Keeps each company's branches, stocks, items and accounts current for the mapping screens.
            "amis-refresh-master-data": {
                "task": "amis.refresh_amis_master_data",
                "schedule": settings.AMIS_MASTER_DATA_INTERVAL_SECONDS,
            },
        }

    def deploy_checks(self):
        from django.core.checks import Warning as CheckWarning

        if settings.AMIS_APP_ID.strip():
            return []
        return [
            CheckWarning(
                "AMIS_APP_ID is not set: AMIS connections send nothing and their callbacks are refused.",
                hint="Set AMIS_APP_ID to the app ID MISA issued for this product.",
                id="amis.W001",
            )
        ]

    def account_id_error(self, value):
        if not COMPANY_CODE.match(str(value or "").strip()):
            return Text(
                "Enter the company's connection code exactly as AMIS shows it (letters, digits, dots, "
                "dashes; no spaces), e.g. its tax code or its AMIS domain."
            )
        return None

    def test_connection(self, account):
        return services.test_connection(account)

    def sync_master_data(self, account):
        from .forms import master_data_summary

        services.sync_master_data(account)
        return master_data_summary(account)

    def reference_facts(self, connection, raw):
        """The cached items and account objects of the company routing chooses for the order, for the
        lines' items (by the item codes this company's mapping gives them) and for the buyer: their own
        account object (a VAT buyer's or a named customer's; never a walk-in or channel object) and the
        objects with their tax code. None when no company is chosen or its mapping is invalid."""
        from connectors.routing import route

        from . import convert
        from .mapping import MappingError

        account = route(connection, connection.source.routing_facts(raw)).account
        if account is None:
            return None
        try:
            mapping = services.mapping_for(account)
        except MappingError:
            return None
        sale = connection.source.read_sale(connection, raw, mapping.read_options)
        items = {}
        for line in sale.lines:
            try:
                items.setdefault(line.item_code, convert.item_code_of(line, mapping, sale.label))
            except convert.ConversionError:
                continue  # no code for it in AMIS: nothing to say about it
        try:
            party = convert.party_of(sale, mapping)
        except convert.ConversionError:
            party = None
        own = party is not None and party.kind in (convert.VAT_BUYER, convert.NAMED_CUSTOMER)
        return services.reference_facts(
            account, items, buyer_code=party.code if own else "", tax_codes=[sale.buyer.tax_code]
        )

    def on_document_changed(self, document, *, trigger=""):
        posting.on_document_changed(document, trigger=trigger)

    def retry(self, documents, *, user=None):
        return posting.retry(documents, user=user)

    def mapping_section(self, connection, data=None):
        from .forms import MappingSection

        return MappingSection(connection, data)

    def preview(self, connection, raw):
        from .preview import preview_order

        return preview_order(connection, raw)

    def preview_outcome(self, answer):
        return answer["post"], answer["reason"]

    def preview_context(self, answer):
        from .preview import preview_context

        return preview_context(answer)

    # --- reconciliation (amis/reconcile.py)
    reconciles = True
    day_result_keys = ("amis",)  # what reconcile.confirm_day reads of a stored result

    def confirm_day(self, account, day, known):
        from . import reconcile

        return reconcile.confirm_day(account, day, known)

    # --- stock documents: receives, returns, adjustments, transfers → AMIS; stock compared
    def wanted_stock_kinds(self, connection):
        from .stock_posting import wanted_kinds

        return wanted_kinds(connection)

    def stock_differences(self, account):
        from .stock_check import stock_differences

        return stock_differences(account)
