"""MISA meInvoice as a target: what the core and the screens may ask of it (see connectors.registry)."""

import json

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from connectors.registry import TargetAdapter
from connectors.taxcode import tax_code_error

from . import preview, services
from .forms import MappingSection


class MeInvoiceTarget(TargetAdapter):
    name = "meinvoice"
    label = "MISA meInvoice"
    family = "haravan_to_meinvoice"
    family_label = "Haravan → meInvoice"
    tag_label = "MST"
    source_kinds = ("haravan",)
    order_document_kind = "invoice"
    document_kinds = {
        "invoice": _("Invoice"),
        "cancel": _("Cancellation (adjustment)"),
        "refund": _("Refund (adjustment)"),
        "replace": _("Replacement"),
    }
    credential_fields = (
        ("app_id", _("App ID (from MISA)"), False),
        ("username", _("meInvoice user name"), False),
        ("password", _("meInvoice password"), True),
    )
    url_settings = {
        "MEINVOICE_API_URL": "https://api.meinvoice.vn/api/integration",
        "MEINVOICE_LOOKUP_URL": "https://www.meinvoice.vn/tra-cuu/?sc={code}",
    }
    simulator_paths = ("/meinvoice",)  # where sandbox/ serves its meInvoice
    # Write-backs wait on the shop's rate limit: their own queue, so they never hold up publishing.
    task_routes = {"meinvoice.write_back": {"queue": "writeback"}}
    mapping_template = MappingSection.template
    preview_template = "meinvoice/_preview.html"
    tests_connection = True
    has_templates = True
    has_drafts = True
    first_for_new_sources = True  # a shop installs the app for its e-invoices first

    def beat_entries(self):
        return {
            # Publishes queued invoices and retries that are due (webhooks also start it at once).
            "meinvoice-sync-orders": {
                "task": "meinvoice.sync_orders",
                "schedule": settings.MEINVOICE_SYNC_INTERVAL_SECONDS,
            },
            # Follows the tax authority's answer on issued invoices.
            "meinvoice-refresh-status": {
                "task": "meinvoice.refresh_meinvoice_status",
                "schedule": settings.MEINVOICE_STATUS_INTERVAL_SECONDS,
            },
        }

    def account_id_error(self, value):
        return tax_code_error(value)

    def test_connection(self, account):
        return services.test_connection(account)

    def sync_templates(self, account):
        return services.sync_templates(account)

    def series_choices(self, account):
        return services.series_choices(account)

    def on_document_changed(self, document, *, trigger=""):
        services.on_document_changed(document, trigger=trigger)

    def retry(self, documents, *, user=None):
        return services.retry(documents, user=user)

    def publish_drafts(self, documents):
        return services.publish_drafts(documents)

    def draft_view_link(self, document):
        return services.draft_view_link(document)

    def lookup_link(self, document):
        return services.lookup_link(document)

    def wants_correction_reference(self, document):
        return services.wants_correction_reference(document)

    def provide_correction_reference(self, document, *, text, date, user=None):
        return services.provide_correction_reference(document, text=text, date=date, user=user)

    def mapping_section(self, connection, data=None):
        return MappingSection(connection, data)

    def preview(self, connection, raw):
        return preview.preview_order(connection, raw)

    def preview_context(self, answer):
        invoice = answer.get("invoice")
        return {
            "invoice": preview.invoice_view(invoice) if invoice else None,
            "invoice_json": json.dumps(invoice, ensure_ascii=False, indent=2) if invoice else "",
            "follows": [
                {
                    "reason": step["reason"],
                    "invoice": preview.invoice_view(step["invoice"]) if step["invoice"] else None,
                }
                for step in answer.get("adjustments") or []
            ],
        }

    # --- reconciliation (meinvoice/reconcile.py)
    reconciles = True
    day_result_keys = ("ref_id", "inv_series", "series")  # what reconcile.confirm_day reads of a result

    def confirm_day(self, account, day, known):
        from . import reconcile

        return reconcile.confirm_day(account, day, known)
