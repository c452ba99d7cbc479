"""Visma Severa as a source: what the core and the screens may ask of a Severa organisation
(see connectors.registry). Severa sends no webhooks: its invoices are polled (``services.sync_invoices``)."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from connectors.registry import SourceAdapter, SourceStatus

from . import connect, read, reconcile, services


class SeveraSource(SourceAdapter):
    name = "severa"
    label = "Visma Severa"
    object_label = pgettext_lazy("billing", "Invoice")
    key_label = _("Organisation VAT number")
    dimensions = (
        ("company", _("Issuing company (VAT number)")),
        ("business_unit", _("Business unit")),
    )
    manual_sync = True
    manual_sync_help = _(
        "Reads again every invoice waiting in a status to transfer that changed since the first day (from "
        "midnight). Invoices Maventa already has are not sent twice."
    )
    url_settings = {"SEVERA_API_URL": "https://api.severa.visma.com/rest-api"}
    simulator_paths = ("/severa",)
    secret_keys = ("client_secret",)

    def beat_entries(self):
        return {
            # Severa has no webhooks: invoices in a "to transfer" status are read on this schedule.
            "severa-sync-invoices": {
                "task": "severa.sync_severa_invoices",
                "schedule": settings.SEVERA_POLL_INTERVAL_SECONDS,
            },
        }

    def read_sale(self, connection, raw, options):
        return read.read_invoice(raw)

    def routing_facts(self, raw):
        return read.routing_facts(raw)

    def label_of(self, raw):
        return read.invoice_label(raw.get("invoice") or {})

    def shape_problem(self, raw):
        return read.shape_problem(raw)

    def invoice_facts(self, raw):
        return read.invoice_facts(raw)

    def start_manual_sync(self, connection, *, date_from, date_to, user=None, request_token=None):
        return services.start_manual_sync(
            connection, date_from=date_from, date_to=date_to, user=user, request_token=request_token
        )

    def document_pdf(self, connection, raw):
        return services.invoice_pdf(connection, raw)

    def refetch(self, connection, document):
        return services.refetch(connection, document)

    def write_back(self, document, fields, *, style):
        services.write_back(document, fields, style=style)

    # --- connecting an organisation (severa/connect.py) -------------------------------------------------
    source_template = "severa/_connection_source.html"
    connect_template = "severa/_connect.html"

    def statuses(self, connection):
        """Severa's invoice statuses as last read (``connect.refresh``), in Severa's order."""
        organisation = connect.organisation_for(connection)
        return [
            SourceStatus(
                key=s["guid"],
                name=s.get("name", ""),
                is_sent=bool(s.get("is_sent")),
                is_active=s.get("is_active", True),
            )
            for s in (organisation.statuses if organisation else [])
        ]

    def connection_context(self, connection):
        return connect.connection_context(connection)

    # --- reconciliation (severa/reconcile.py)
    stored_day_keys = reconcile.STORED_KEYS

    def day_zone(self, connection):
        return reconcile.day_zone(connection)
