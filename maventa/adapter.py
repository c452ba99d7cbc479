"""Maventa as a target: what the core and the screens may ask of it (see connectors.registry).

One account per sending company, its id the company's VAT number ("[Maventa SE556677889901]")."""

import re

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from connectors.registry import TargetAdapter
from connectors.text import Text

from . import posting
from .setup import COMPANY_UUID, USER_API_KEY, has_keys, setup_of

INVOICE, CREDIT_NOTE = "invoice", "credit_note"

# A VAT number as the EU writes it: the country's two letters, then 2–12 letters and digits (SE: 10-digit
# orgnr + "01"; FI: 8 digits).
VAT_NUMBER = re.compile(r"^[A-Z]{2}[0-9A-Z]{2,12}$")
COUNTRY_FORMS = {"SE": re.compile(r"^SE\d{10}01$"), "FI": re.compile(r"^FI\d{8}$")}


def vat_number_error(value: str) -> Text | None:
    value = str(value or "").strip().upper()
    form = COUNTRY_FORMS.get(value[:2])
    if not VAT_NUMBER.match(value) or (form and not form.match(value)):
        return Text(
            "Enter the company's VAT number as registered, country letters first: SE + 10-digit "
            "organisation number + 01 (SE556677889901), or FI + 8 digits (FI23456780)."
        )
    return None


class MaventaTarget(TargetAdapter):
    name = "maventa"
    label = "Maventa"
    family = "severa_to_maventa"
    family_label = "Severa → Maventa"
    tag_label = "Maventa"
    source_kinds = ("severa",)
    order_document_kind = INVOICE
    document_kinds = {INVOICE: _("E-invoice"), CREDIT_NOTE: _("Credit note (e-invoice)")}
    credential_fields = (
        (USER_API_KEY, _("User API key (from Maventa)"), True),
        (COMPANY_UUID, _("Company UUID (from Maventa)"), True),
    )
    url_settings = {"MAVENTA_API_URL": "https://ax.maventa.com"}
    simulator_paths = ("/maventa",)
    secret_keys = ("vendor_api_key", "user_api_key", "api_key", "client_secret")
    would_make = _("would be sent")
    would_not_make = _("would not be sent")

    def beat_entries(self):
        return {
            # Queued documents a task never took, retries that are due, sends a dead worker left half done.
            "maventa-retry-due": {
                "task": "maventa.retry_due",
                "schedule": settings.MAVENTA_RETRY_BASE_SECONDS,
            },
            # How sent invoices are delivering (DELIVERED / FAILED and Maventa's actions).
            "maventa-follow-deliveries": {
                "task": "maventa.follow_deliveries",
                "schedule": settings.MAVENTA_STATUS_INTERVAL_SECONDS,
            },
            # Accounts waiting for their signatory: their authentication state, until verified.
            "maventa-refresh-authorizations": {
                "task": "maventa.refresh_authorizations",
                "schedule": settings.MAVENTA_AUTH_INTERVAL_SECONDS,
            },
        }

    def account_id_error(self, value):
        return vat_number_error(value)

    def wanted_source_statuses(self, connection):
        """The "to transfer" status of every account that sends now."""
        wanted = set()
        for account in connection.accounts.all():
            setup = setup_of(account)
            if setup.sending and has_keys(account):
                wanted.add(setup.status_to_transfer.lower())
        return sorted(wanted)

    def alert_recipients(self, connection):
        return [email for account in connection.accounts.all() for email in setup_of(account).error_emails]

    def on_document_changed(self, document, *, trigger=""):
        posting.on_document_changed(document, trigger=trigger)

    def retry(self, documents, *, user=None):
        return posting.retry(documents, user=user)

    def preview(self, connection, raw):
        from .preview import preview_invoice

        return preview_invoice(connection, raw)

    def preview_outcome(self, answer):
        return answer["send"], answer["reason"]

    # --- an account's setup page and the document page (maventa.forms, maventa.accounts) -------------
    account_setup_template = "maventa/_account_setup.html"
    document_template = "maventa/_document.html"

    def account_setup_context(self, account, request_data=None):
        from .forms import setup_context

        return setup_context(account, request_data)

    def account_setup_action(self, account, action, data, user=None):
        from .forms import setup_action

        return setup_action(account, action, data)

    def document_context(self, document):
        from .forms import document_context

        return document_context(document)

    # --- reconciliation (maventa/reconcile.py)
    reconciles = True
    day_result_keys = ("maventa_id",)  # what reconcile.confirm_day reads of a stored result

    def confirm_day(self, account, day, known):
        from . import reconcile

        return reconcile.confirm_day(account, day, known)
