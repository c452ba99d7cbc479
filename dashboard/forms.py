"""Forms of the accounts and mapping screens.

Account forms ask the connection's target kind (the registry) which credentials exist, so AMIS and Maventa
accounts use the same form. The mapping form is meInvoice's: its choices come from meinvoice.mapping, and
the values it collects are checked by ``Mapping.from_dict`` (which names the field) before anything is saved.
"""

import json
import re

from django import forms
from django.db.models import Max
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from connectors.models import RoutingRule, TargetAccount
from meinvoice.mapping import (
    FINANCIAL_STATUSES,
    FULFILLMENT_STATUSES,
    RETURN_ACTIONS,
    TAX_RULE_MATCHES,
    TRIGGERS,
    WRITEBACKS,
    Mapping,
    MappingError,
)

# --- accounts ------------------------------------------------------------------------------------------


class AccountForm(forms.ModelForm):
    """The account's id (validated by TargetAccount.clean()), its name and one input per credential.

    Secret inputs are write-only: always rendered empty, and left blank they keep the stored value.
    """

    class Meta:
        model = TargetAccount
        fields = ["external_id", "name"]

    def __init__(self, *args, connection, **kwargs):
        kwargs.setdefault("instance", TargetAccount(connection=connection))
        super().__init__(*args, **kwargs)
        self.connection = connection
        kind = connection.kind
        self.fields["external_id"].label = _("%(tag)s (the account's id at %(target)s)") % {
            "tag": kind.tag_label,
            "target": kind.label,
        }
        self.fields["external_id"].help_text = ""
        self.fields["name"].label = _("Name")
        self.fields["external_id"].widget.attrs.update(autocomplete="off", spellcheck="false")
        if self.instance.pk and self.instance.documents.exists():
            self.fields["external_id"].disabled = True
            self.fields["external_id"].help_text = _(
                "Documents were already made on this %(tag)s, so it cannot change: add another account "
                "instead."
            ) % {"tag": kind.tag_label}
        stored = self.instance.credentials if self.instance.pk else {}
        self.credentials = []  # (key, field name, secret)
        for key, label, secret in kind.credential_fields:
            name = f"cred_{key}"
            if secret:
                field = forms.CharField(
                    label=label,
                    required=False,
                    strip=False,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                )
                field.help_text = _("set — leave blank to keep it") if stored.get(key) else _("not set")
            else:
                field = forms.CharField(label=label, required=False, initial=stored.get(key, ""))
                field.widget.attrs.update(autocomplete="off", spellcheck="false")
            field.secret = secret
            field.is_set = bool(stored.get(key))
            self.fields[name] = field
            self.credentials.append((key, name, secret))

    def credential_fields(self):
        return [self[name] for _key, name, _secret in self.credentials]

    def clean_external_id(self):
        value = (self.cleaned_data.get("external_id") or "").strip()
        others = TargetAccount.objects.filter(connection=self.connection, external_id=value)
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        if value and others.exists():
            raise forms.ValidationError(
                _("%(tag)s %(id)s is already an account of this connection: edit that one instead.")
                % {"tag": self.connection.kind.tag_label, "id": value}
            )
        return value

    def save(self, commit=True):
        account = super().save(commit=False)
        credentials = dict(account.credentials or {})
        for key, name, secret in self.credentials:
            value = self.cleaned_data.get(name) or ""
            if secret:
                if value:  # blank keeps what is stored: the page never knows the secret
                    credentials[key] = value
            elif value.strip():
                credentials[key] = value.strip()
            else:
                credentials.pop(key, None)
        account.credentials = credentials
        if commit:
            account.save()
        return account


class AccountOptionsForm(forms.Form):
    """Per-account choices kept in account.settings: the invoice series and publish-at-once vs drafts."""

    series = forms.ChoiceField(label=_lazy("Invoice series"), required=False)
    auto_publish = forms.BooleanField(
        label=_lazy("Publish at once (untick to keep drafts for an accountant to publish)"), required=False
    )

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        kind = account.connection.kind
        settings = account.settings or {}
        current = settings.get("series") or ""
        if kind.series_choices is None:
            del self.fields["series"]
            self.choices = []
        else:
            self.choices = list(kind.series_choices(account))
            choices = [("", _("— choose a series —")), *self.choices]
            if current and current not in {value for value, _label in self.choices}:
                choices.append(
                    (current, _("%(series)s (not among the synced templates)") % {"series": current})
                )
            self.fields["series"].choices = choices
            self.fields["series"].initial = current
        if kind.publish_drafts is None:
            del self.fields["auto_publish"]
        else:
            self.fields["auto_publish"].initial = settings.get("auto_publish", True)

    def clean_series(self):
        value = self.cleaned_data.get("series") or ""
        if not value and self.choices:
            raise forms.ValidationError(
                _("Choose a series: without one, nothing can be issued on %(tag)s.")
                % {"tag": self.account.tag}
            )
        return value

    def save(self):
        settings = dict(self.account.settings or {})
        if "series" in self.fields:
            if self.cleaned_data["series"]:
                settings["series"] = self.cleaned_data["series"]
            else:
                settings.pop("series", None)
        if "auto_publish" in self.fields:
            settings["auto_publish"] = bool(self.cleaned_data["auto_publish"])
        self.account.settings = settings
        self.account.save(update_fields=["settings"])
        return self.account


# --- routing rules -------------------------------------------------------------------------------------


class AccountChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.tag} {obj.name}".strip()


class RoutingRuleForm(forms.ModelForm):
    """One routing rule: when an order fact (dimension) equals a value, its documents go to an account."""

    account = AccountChoiceField(queryset=TargetAccount.objects.none(), label=_lazy("Goes to"))

    class Meta:
        model = RoutingRule
        fields = ["dimension", "value", "account", "priority", "enabled"]
        labels = {
            "dimension": _lazy("When the order's"),
            "value": _lazy("is"),
            "priority": _lazy("Priority (lower runs first)"),
            "enabled": _lazy("Enabled"),
        }

    def __init__(self, *args, connection, **kwargs):
        kwargs.setdefault("instance", RoutingRule(connection=connection))
        super().__init__(*args, **kwargs)
        self.connection = connection
        self.fields["account"].queryset = connection.accounts.order_by("-is_default", "external_id")
        self.fields["account"].empty_label = None
        self.fields["priority"].required = False
        self.fields["value"].required = False  # clean_value says what is missing, in the page's words
        self.fields["priority"].help_text = _("Leave blank to put the rule last.")
        self.fields["value"].widget.attrs.update(autocomplete="off")
        if not self.instance.pk:
            del self.fields["enabled"]  # a new rule starts enabled
            self.initial["priority"] = None  # blank: after the last rule

    def clean_value(self):
        value = (self.cleaned_data.get("value") or "").strip()
        if not value:
            raise forms.ValidationError(_("Say which value the order must have, e.g. a location id."))
        return value

    def clean_priority(self):
        priority = self.cleaned_data.get("priority")
        if priority is None:
            if self.instance.pk:
                return self.instance.priority
            highest = self.connection.rules.aggregate(top=Max("priority"))["top"] or 0
            return highest + 10
        return priority


# --- the meInvoice mapping -----------------------------------------------------------------------------

STATUS_LABELS = {
    "pending": _lazy("pending"),
    "authorized": _lazy("authorized"),
    "partially_paid": _lazy("partially paid"),
    "paid": _lazy("paid"),
    "partially_refunded": _lazy("partially refunded"),
    "refunded": _lazy("refunded"),
    "voided": _lazy("voided"),
    "notfulfilled": _lazy("not fulfilled (Haravan's empty status too)"),
    "partial": _lazy("partially fulfilled"),
    "fulfilled": _lazy("fulfilled"),
    "restocked": _lazy("restocked"),
}
TRIGGER_LABELS = {
    "paid": _lazy("when the order is paid"),
    "fulfilled": _lazy("when the order is fulfilled"),
    "created": _lazy("as soon as the order is created"),
}
MATCH_LABELS = {
    "product_type": _lazy("product type"),
    "vendor": _lazy("vendor"),
    "sku": _lazy("SKU"),
    "tag": _lazy("product tag"),
}
RETURN_LABELS = {
    "adjust": _lazy("issue an adjustment invoice"),
    "replace": _lazy("issue a replacement invoice"),
    "manual": _lazy("hold it for a person (handled by hand in meInvoice)"),
}
WRITEBACK_LABELS = {
    "note_attribute": _lazy("note attributes on the order"),
    "tag": _lazy("tags on the order"),
}
VAT_RATE_SUGGESTIONS = ("0%", "5%", "8%", "10%", "KCT", "KKKNT", "KHAC:3.5%")


def _choices(values, labels):
    return [(value, labels.get(value, value)) for value in values]


class TaxRuleForm(forms.Form):
    match = forms.ChoiceField(
        label=_lazy("When the line's"),
        required=False,
        choices=[("", "—"), *_choices(TAX_RULE_MATCHES, MATCH_LABELS)],
    )
    value = forms.CharField(label=_lazy("is"), required=False)
    rate = forms.CharField(label=_lazy("VAT rate"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rate"].widget.attrs.update(list="vat-rates", autocomplete="off")

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any((data.get(name) or "").strip() for name in ("match", "value", "rate"))


class UnitForm(forms.Form):
    product_type = forms.CharField(label=_lazy("Product type"), required=False)
    unit = forms.CharField(label=_lazy("Unit"), required=False)

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any((data.get(name) or "").strip() for name in ("product_type", "unit"))


TaxRuleFormSet = forms.formset_factory(TaxRuleForm, extra=2, can_delete=True)
UnitFormSet = forms.formset_factory(UnitForm, extra=2, can_delete=True)


class MappingForm(forms.Form):
    """Issuance conditions, tax rates, units, buyer fields, returns policy and write-back style."""

    # (b) issuance conditions
    financial_statuses = forms.MultipleChoiceField(
        label=_lazy("Payment status"),
        required=False,
        choices=_choices(FINANCIAL_STATUSES, STATUS_LABELS),
        widget=forms.CheckboxSelectMultiple,
        help_text=_lazy("None ticked: any payment status."),
    )
    fulfillment_statuses = forms.MultipleChoiceField(
        label=_lazy("Fulfillment status"),
        required=False,
        choices=_choices(FULFILLMENT_STATUSES, STATUS_LABELS),
        widget=forms.CheckboxSelectMultiple,
        help_text=_lazy("None ticked: any fulfillment status."),
    )
    sources = forms.CharField(
        label=_lazy("Sales channels (source_name)"),
        required=False,
        help_text=_lazy("Separated by commas, e.g. web, pos, shopee. Empty: every channel."),
    )
    min_total = forms.CharField(
        label=_lazy("Minimum order total (đồng)"), required=False, help_text=_lazy("0: no minimum.")
    )
    trigger = forms.ChoiceField(label=_lazy("Issue"), choices=_choices(TRIGGERS, TRIGGER_LABELS))
    # (c) tax rates and units
    default_vat_rate = forms.CharField(
        label=_lazy("Default VAT rate"),
        help_text=_lazy("0%, 5%, 8%, 10%, KCT, KKKNT or KHAC:x% (e.g. KHAC:3.5%)."),
    )
    shipping_vat_rate = forms.CharField(
        label=_lazy("VAT rate of shipping"), required=False, help_text=_lazy("Empty: the default rate.")
    )
    prices_include_vat = forms.BooleanField(label=_lazy("Shop prices include VAT"), required=False)
    default_unit = forms.CharField(label=_lazy("Default unit"))
    shipping_item_name = forms.CharField(label=_lazy("Name of the shipping line"))
    shipping_unit = forms.CharField(label=_lazy("Unit of the shipping line"))
    payment_method_name = forms.CharField(label=_lazy("Payment method printed on the invoice"))
    # (d) buyer
    buyer_tax_code = forms.CharField(label=_lazy("Note attribute holding the buyer's tax code"))
    buyer_legal_name = forms.CharField(label=_lazy("Note attribute holding the company's legal name"))
    buyer_address = forms.CharField(label=_lazy("Note attribute holding the company's address"))
    buyer_email = forms.CharField(label=_lazy("Note attribute holding the invoice e-mail"))
    buyer_use_billing_company = forms.BooleanField(
        label=_lazy("Use the billing address's company when the legal name attribute is empty"),
        required=False,
    )
    # (e) returns and write-back
    on_refund = forms.ChoiceField(label=_lazy("When an invoiced order is refunded"))
    on_cancel_after_issue = forms.ChoiceField(label=_lazy("When an invoiced order is cancelled"))
    writeback = forms.ChoiceField(
        label=_lazy("Write the lookup code back as"), choices=_choices(WRITEBACKS, WRITEBACK_LABELS)
    )

    # where each MappingError path lands on this form
    FIELD_FOR_PATH = {
        "conditions.financial_statuses": "financial_statuses",
        "conditions.fulfillment_statuses": "fulfillment_statuses",
        "conditions.sources": "sources",
        "conditions.min_total": "min_total",
        "conditions.trigger": "trigger",
        "buyer.tax_code": "buyer_tax_code",
        "buyer.legal_name": "buyer_legal_name",
        "buyer.address": "buyer_address",
        "buyer.email": "buyer_email",
        "buyer.use_billing_company": "buyer_use_billing_company",
        "returns.on_refund": "on_refund",
        "returns.on_cancel_after_issue": "on_cancel_after_issue",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mapping_error = ""
        self.fields["on_refund"].choices = _choices(RETURN_ACTIONS, RETURN_LABELS)
        # A cancelled order is never replaced (services adjust its invoice to zero): not offered.
        self.fields["on_cancel_after_issue"].choices = _choices(
            [a for a in RETURN_ACTIONS if a != "replace"], RETURN_LABELS
        )
        self.fields["on_cancel_after_issue"].help_text = _(
            "A cancelled order is never replaced: its invoice is adjusted to zero, or held for a person."
        )
        for name in ("default_vat_rate", "shipping_vat_rate"):
            self.fields[name].widget.attrs.update(list="vat-rates", autocomplete="off")
        self.fields["min_total"].widget.attrs.update(inputmode="numeric")

    @staticmethod
    def initial_from(data: dict) -> dict:
        """Form initial values from a mapping dict (``Mapping.to_dict()``)."""
        conditions, buyer, returns = data["conditions"], data["buyer"], data["returns"]
        sources = conditions["sources"]
        return {
            "financial_statuses": conditions["financial_statuses"],
            "fulfillment_statuses": conditions["fulfillment_statuses"],
            "sources": ", ".join(map(str, sources)) if isinstance(sources, list) else str(sources or ""),
            "min_total": conditions["min_total"],
            "trigger": conditions["trigger"],
            "default_vat_rate": data["default_vat_rate"],
            "shipping_vat_rate": data["shipping_vat_rate"] or "",
            "prices_include_vat": data["prices_include_vat"],
            "default_unit": data["default_unit"],
            "shipping_item_name": data["shipping_item_name"],
            "shipping_unit": data["shipping_unit"],
            "payment_method_name": data["payment_method_name"],
            "buyer_tax_code": buyer["tax_code"],
            "buyer_legal_name": buyer["legal_name"],
            "buyer_address": buyer["address"],
            "buyer_email": buyer["email"],
            "buyer_use_billing_company": buyer["use_billing_company"],
            "on_refund": returns["on_refund"],
            "on_cancel_after_issue": returns["on_cancel_after_issue"],
            "writeback": data["writeback"],
        }

    @staticmethod
    def tax_rules_initial(data: dict) -> list[dict]:
        return [dict(rule) for rule in data.get("tax_rules") or []]

    @staticmethod
    def units_initial(data: dict) -> list[dict]:
        return [{"product_type": k, "unit": v} for k, v in (data.get("unit_by_type") or {}).items()]

    def mapping_data(self, tax_rules, units) -> tuple[dict, list[int]]:
        """The mapping as ``Mapping.from_dict`` reads it, and the formset row of each tax rule kept."""
        cd = self.cleaned_data
        rules, rows = [], []
        for index, form in enumerate(tax_rules.forms):
            if form in tax_rules.deleted_forms or form.is_blank():
                continue
            rules.append(
                {
                    "match": form.cleaned_data.get("match") or "",
                    "value": form.cleaned_data.get("value") or "",
                    "rate": _rate(form.cleaned_data.get("rate")),
                }
            )
            rows.append(index)
        unit_by_type = {}
        for form in units.forms:
            if form in units.deleted_forms or form.is_blank():
                continue
            unit_by_type[(form.cleaned_data.get("product_type") or "").strip() or " "] = (
                form.cleaned_data.get("unit") or ""
            ).strip()
        data = {
            "conditions": {
                "financial_statuses": list(cd["financial_statuses"]),
                "fulfillment_statuses": list(cd["fulfillment_statuses"]),
                "sources": [s.strip() for s in (cd["sources"] or "").split(",") if s.strip()],
                "min_total": (cd["min_total"] or "").strip().replace(" ", "") or "0",
                "trigger": cd["trigger"],
            },
            "default_vat_rate": _rate(cd["default_vat_rate"]),
            "shipping_vat_rate": _rate(cd["shipping_vat_rate"]) or None,
            "prices_include_vat": bool(cd["prices_include_vat"]),
            "default_unit": cd["default_unit"],
            "shipping_item_name": cd["shipping_item_name"],
            "shipping_unit": cd["shipping_unit"],
            "payment_method_name": cd["payment_method_name"],
            "tax_rules": rules,
            "unit_by_type": unit_by_type,
            "buyer": {
                "tax_code": cd["buyer_tax_code"],
                "legal_name": cd["buyer_legal_name"],
                "address": cd["buyer_address"],
                "email": cd["buyer_email"],
                "use_billing_company": bool(cd["buyer_use_billing_company"]),
            },
            "returns": {"on_refund": cd["on_refund"], "on_cancel_after_issue": cd["on_cancel_after_issue"]},
            "writeback": cd["writeback"],
        }
        return data, rows

    def validated_mapping(self, tax_rules, units) -> dict | None:
        """``Mapping.from_dict(...).to_dict()`` of what was typed, or None with the error on its field."""
        data, rows = self.mapping_data(tax_rules, units)
        try:
            return Mapping.from_dict(data).to_dict()
        except MappingError as exc:
            self.place_error(str(exc), tax_rules, units, rows)
            return None

    def place_error(self, message: str, tax_rules, units, rows: list[int]) -> None:
        """Put a MappingError next to the field it names (the message names it too)."""
        self.mapping_error = message
        path = message.split(":", 1)[0].strip()
        rule = re.match(r"^tax_rules\[(\d+)\](?:\.(\w+))?$", path)
        if rule:
            index = int(rule.group(1))
            form = tax_rules.forms[rows[index]] if index < len(rows) else None
            if form is not None:
                field = rule.group(2) if rule.group(2) in form.fields else None
                form.add_error(field, message)
                return
        if path.startswith("tax rule"):  # raised by TaxRule itself: "tax rule for sku 'x': …"
            tax_rules._non_form_errors = tax_rules.error_class([message])
            return
        if path.startswith("unit_by_type"):
            units._non_form_errors = units.error_class([message])
            return
        field = self.FIELD_FOR_PATH.get(path, path)
        self.add_error(field if field in self.fields else None, message)


def _rate(value) -> str:
    return (value or "").strip().upper()


# --- the route preview ---------------------------------------------------------------------------------


class PreviewNumberForm(forms.Form):
    number = forms.CharField(
        label=_lazy("Order number"), max_length=40, widget=forms.TextInput(attrs={"placeholder": "#100016"})
    )

    def clean_number(self):
        raw = (self.cleaned_data.get("number") or "").strip()
        digits = raw.lstrip("#").strip()
        if not digits.isdigit():
            raise forms.ValidationError(
                _("“%(raw)s” is not an order number: type it as Haravan shows it, like #100016 or 100016.")
                % {"raw": raw}
            )
        return digits


class PreviewJsonForm(forms.Form):
    order_json = forms.CharField(
        label=_lazy("Order JSON"),
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "placeholder": '{"order": {…}}'}),
    )

    def clean_order_json(self):
        raw = self.cleaned_data.get("order_json") or ""
        try:
            order = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than any order
            raise forms.ValidationError(
                _(
                    "This is not valid JSON (%(error)s). Paste the order exactly as Haravan gives it: "
                    '{"order": {…}} or the order object itself.'
                )
                % {"error": exc}
            ) from exc
        if isinstance(order, dict) and isinstance(order.get("order"), dict):
            order = order["order"]
        if not isinstance(order, dict) or not order:
            raise forms.ValidationError(
                _('This JSON is not an order: paste {"order": {…}} or the order object itself.')
            )
        return order
