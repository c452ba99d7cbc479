"""Forms of the accounts and mapping screens that every integration shares.

Account forms ask the connection's target adapter which credentials exist, so every target's accounts use
the same form. A target's own mapping form lives in its app (its adapter's ``mapping_section``).
"""

import json

from django import forms
from django.db.models import Max
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from connectors.models import RoutingRule, TargetAccount

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
        kind = connection.target
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
                % {"tag": self.connection.target.tag_label, "id": value}
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
        kind = account.connection.target
        settings = account.settings or {}
        current = settings.get("series") or ""
        if not kind.has_templates:
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
        if not kind.has_drafts:
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
                _("“%(raw)s” is not an order number: type it as the shop shows it, like #100016 or 100016.")
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
                    "This is not valid JSON (%(error)s). Paste the order exactly as the shop gives it: "
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


# --- documents -----------------------------------------------------------------------------------------


class CorrectionReferenceForm(forms.Form):
    """The reference of what a correction of an issued document rests on: for a meInvoice adjustment, the
    written agreement with a business buyer or the notice to an individual (Decree 70)."""

    text = forms.CharField(
        label=_lazy("Number of the agreement (or notice)"),
        max_length=100,
        help_text=_lazy("As written on it, e.g. 01/2026/BBTT."),
    )
    date = forms.DateField(
        label=_lazy("Its date"), widget=forms.DateInput(attrs={"type": "date"}), input_formats=["%Y-%m-%d"]
    )

    def clean_text(self):
        text = " ".join(self.cleaned_data["text"].split())
        if not text:
            raise forms.ValidationError(_("Enter the number of the agreement or notice."))
        return text
