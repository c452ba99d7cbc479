"""The Maventa account's setup page (``templates/maventa/_account_setup.html``): its forms, what the page
shows of one account, and its actions, each handed to ``maventa.accounts``. The keys are write-only: no
form ever renders them back, and the page only says whether they are set."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from connectors.registry import Unsupported
from connectors.text import Text
from syncjobs.models import SyncAttempt

from . import accounts
from .setup import AUTH_LOCALES, has_keys, setup_of

LOCALE_LABELS = {
    "FI": _("Finnish"),
    "SE": _("Swedish"),
    "NO": _("Norwegian"),
    "EN": _("English"),
    "NL": _("Dutch"),
}
PAYMENT_LABELS = (
    ("", _("None (the invoices name no payment account)")),
    ("bankgiro", _("Bankgiro")),
    ("plusgiro", _("Plusgiro")),
    ("iban", _("IBAN (bank account)")),
)
ORIGIN_LABELS = {
    "": _("Not set up yet"),
    "registered": _("Registered from here"),
    "linked": _("Existing Maventa account, linked"),
}
MARKED_SENT = _("%(name)s (marked Sent)")  # a Severa status that counts its invoices as sent
HISTORY_ROWS = 15  # the newest calls to Maventa about the account, on its page
CHECK_FIELDS = Text("Nothing was sent: correct the fields marked below.")


class RegisterForm(forms.Form):
    """New account: the person who gets the Maventa user, and the company's address."""

    email = forms.EmailField(
        label=_("Person's e-mail"), help_text=_("The Maventa user is made for this address.")
    )
    first_name = forms.CharField(label=_("First name"), max_length=100)
    last_name = forms.CharField(label=_("Last name"), max_length=100)
    company_email = forms.EmailField(
        label=_("Company e-mail"), required=False, help_text=_("Blank: the person's e-mail.")
    )
    address1 = forms.CharField(label=_("Street address"), max_length=200)
    address2 = forms.CharField(label=_("Address line 2"), max_length=200, required=False)
    post_code = forms.CharField(label=_("Postcode"), max_length=20)
    post_office = forms.CharField(label=_("Post office"), max_length=100)
    city = forms.CharField(label=_("City"), max_length=100)
    activate_duetto = forms.BooleanField(
        label=_("Activate Duetto"),
        required=False,
        initial=False,
        help_text=_(
            "Duetto is Maventa's collection service for unpaid invoices. Maventa switches it on for Finnish "
            "companies unless told otherwise: tick it only if the company wants it."
        ),
    )


class ExistingForm(forms.Form):
    """Existing account: its two keys (write-only) and who signs the authentication request."""

    user_api_key = forms.CharField(
        label=_("User API key"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("From Maventa: Settings → User API keys. Never shown again once saved."),
    )
    company_uuid = forms.CharField(
        label=_("Company UUID"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("From Maventa: Settings → Company. Never shown again once saved."),
    )


class AuthenticationForm(forms.Form):
    signatory = forms.CharField(
        label=_("Signatory"), max_length=200, help_text=_("The person who may sign for the company.")
    )
    auth_email = forms.EmailField(label=_("E-mail of the authentication request"))
    auth_locale = forms.ChoiceField(
        label=_("Language of the e-mail"), choices=[(code, LOCALE_LABELS[code]) for code in AUTH_LOCALES]
    )


class LinkForm(ExistingForm, AuthenticationForm):
    """Existing account: the keys, then the authentication request goes out at once."""

    field_order = ("user_api_key", "company_uuid", "signatory", "auth_email", "auth_locale")


class SettingsForm(forms.Form):
    attach_pdf = forms.BooleanField(
        label=_("Send the original invoice PDF with the e-invoice"),
        required=False,
        help_text=_("Off: the receiver sees Maventa's own rendering of the invoice."),
    )
    email_fallback = forms.BooleanField(
        label=_("E-mail the invoice to customers without an e-invoice address"), required=False
    )
    print_allowed = forms.BooleanField(
        label=_("Print and post the invoice when there is neither"), required=False
    )
    error_emails = forms.CharField(
        label=_("E-mail for failed transfers"),
        required=False,
        help_text=_("One or more addresses, separated by commas."),
    )
    status_to_transfer = forms.ChoiceField(label=_("Status of the invoices to transfer"))
    status_after = forms.ChoiceField(label=_("Status after transfer"))
    status_error = forms.ChoiceField(label=_("Status on error"))
    payment_kind = forms.ChoiceField(label=_("Payment account"), choices=PAYMENT_LABELS, required=False)
    payment_account = forms.CharField(label=_("Account number"), max_length=40, required=False)
    payment_bic = forms.CharField(label=_("BIC"), max_length=11, required=False)

    def __init__(self, *args, statuses=None, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "—")] + [
            (s.key, str(MARKED_SENT) % {"name": s.name} if s.is_sent else s.name)
            for s in (statuses or [])
            if s.is_active
        ]
        for name in ("status_to_transfer", "status_after", "status_error"):
            self.fields[name].choices = choices
        self.statuses = statuses

    def clean_error_emails(self):
        emails = [e for e in re.split(r"[,;\s]+", self.cleaned_data["error_emails"] or "") if e]
        problem = accounts.emails_problem(emails)
        if problem:
            raise forms.ValidationError(str(problem))
        return emails

    def clean(self):
        data = super().clean()
        problem = accounts.payment_problem(
            data.get("payment_kind", ""), data.get("payment_account", ""), data.get("payment_bic", "")
        )
        if problem:
            self.add_error("payment_account", str(problem))
        chosen = {k: data.get(k, "") for k in ("status_to_transfer", "status_after", "status_error")}
        if all(chosen.values()):
            problem = accounts.statuses_problem(self.statuses, chosen)
            if problem:
                self.add_error(None, str(problem))
        return data

    def payment(self) -> dict:
        data = self.cleaned_data
        return {
            "kind": data.get("payment_kind", ""),
            "account": data.get("payment_account", ""),
            "bic": data.get("payment_bic", ""),
        }


def _default_locale(setup) -> str:
    return setup.auth_locale or (setup.country if setup.country in AUTH_LOCALES else "EN")


def setup_context(account, request_data: dict | None = None) -> dict:
    """What the setup page shows of one account; a refused action's form bound to its input."""
    setup = setup_of(account)
    statuses = accounts.source_statuses(account.connection)
    auth_initial = {
        "signatory": setup.signatory,
        "auth_email": setup.auth_email or setup.company_email,
        "auth_locale": _default_locale(setup),
    }
    payment = setup.payment or {}
    settings_initial = {
        "attach_pdf": setup.attach_pdf,
        "email_fallback": setup.email_fallback,
        "print_allowed": setup.print_allowed,
        "error_emails": ", ".join(setup.error_emails),
        "status_to_transfer": setup.status_to_transfer,
        "status_after": setup.status_after,
        "status_error": setup.status_error,
        "payment_kind": payment.get("kind", ""),
        "payment_account": payment.get("account", ""),
        "payment_bic": payment.get("bic", ""),
    }
    address = (account.settings or {}).get("address") or {}
    forms_ = {
        "register": RegisterForm(initial={**address, "activate_duetto": False}),
        "link": LinkForm(initial=auth_initial),
        "authenticate": AuthenticationForm(initial=auth_initial),
        "settings": SettingsForm(initial=settings_initial, statuses=statuses),
    }
    if request_data and request_data.get("action") in forms_:
        action, data = request_data["action"], request_data.get("data")
        bound = {
            "register": lambda: RegisterForm(data),
            "link": lambda: LinkForm(data),
            "authenticate": lambda: AuthenticationForm(data),
            "settings": lambda: SettingsForm(data, statuses=statuses),
        }[action]()
        bound.is_valid()
        forms_[action] = bound
    names = {s.key: s for s in statuses or []}
    history = SyncAttempt.objects.filter(account=account, action=accounts.ACTION, document=None).order_by(
        "-created_at", "-id"
    )[:HISTORY_ROWS]
    keys = has_keys(account)
    return {
        "setup": setup,
        "has_keys": keys,
        "keys": [
            {"label": label, "set": bool((account.credentials or {}).get(key))}
            for key, label, _secret in account.connection.target.credential_fields
        ],
        "origin": ORIGIN_LABELS.get(setup.origin, setup.origin),
        "auth_words": accounts.auth_words(setup) if keys else None,
        "verified": setup.verified,
        "locked": not setup.verified,
        "locked_words": accounts.LOCKED,
        "statuses": statuses,
        "statuses_known": statuses is not None,
        "chosen": {
            "to_transfer": names.get(setup.status_to_transfer),
            "after": names.get(setup.status_after),
            "error": names.get(setup.status_error),
        },
        "enable_problem": None if setup.enabled else accounts.enable_problem(account, setup),
        "auth_locale_label": LOCALE_LABELS.get(setup.auth_locale, setup.auth_locale),
        "register_form": forms_["register"],
        "link_form": forms_["link"],
        "auth_form": forms_["authenticate"],
        "settings_form": forms_["settings"],
        "open_section": (request_data or {}).get("action", ""),
        "history": list(history),
    }


def _invalid() -> accounts.Result:
    return accounts.Result(False, CHECK_FIELDS, invalid=True)


def setup_action(account, action: str, data) -> accounts.Result:
    """One button of the setup page: its form checked, then the service asked."""
    if action == "register":
        form = RegisterForm(data)
        if not form.is_valid():
            return _invalid()
        d = form.cleaned_data
        return accounts.register(
            account,
            email=d["email"],
            first_name=d["first_name"],
            last_name=d["last_name"],
            activate_duetto=d["activate_duetto"],
            company_email=d["company_email"],
            address={k: d[k] for k in ("address1", "address2", "post_code", "post_office", "city")},
        )
    if action == "link":
        form = LinkForm(data)
        if not form.is_valid():
            return _invalid()
        return accounts.link_existing(account, **form.cleaned_data)
    if action == "authenticate":
        form = AuthenticationForm(data)
        if not form.is_valid():
            return _invalid()
        return accounts.request_authentication(account, **form.cleaned_data)
    if action == "refresh":
        return accounts.refresh_authentication(account)
    if action == "settings":
        form = SettingsForm(data, statuses=accounts.source_statuses(account.connection))
        if not form.is_valid():
            return _invalid()
        d = form.cleaned_data
        return accounts.save_settings(
            account,
            attach_pdf=d["attach_pdf"],
            email_fallback=d["email_fallback"],
            print_allowed=d["print_allowed"],
            error_emails=d["error_emails"],
            status_to_transfer=d["status_to_transfer"],
            status_after=d["status_after"],
            status_error=d["status_error"],
            payment=form.payment(),
        )
    if action in ("enable", "disable"):
        return accounts.set_enabled(account, action == "enable")
    raise Unsupported(action)


# --- the document page -------------------------------------------------------------------------------


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def document_context(document) -> dict:
    """What a sent (or refused) invoice's page shows: the UBL, its validation report, the route and why,
    and what Maventa answered (its id, status and actions), from the keys the pipeline fills."""
    payload, result = _dict(document.payload), _dict(document.result)
    validation = _dict(payload.get("validation"))
    route = _dict(payload.get("route"))
    return {
        "ubl": payload.get("ubl") if isinstance(payload.get("ubl"), str) else "",
        "validation": {
            "known": bool(validation),
            "valid": bool(validation.get("valid")),
            "errors": _list(validation.get("errors")),
            "warnings": _list(validation.get("warnings")),
        },
        "route": route,
        "actions": _list(result.get("actions")),
        "status": str(result.get("status") or ""),
        "maventa_id": str(result.get("maventa_id") or ""),
        "uuid": document.target_ref,
    }
