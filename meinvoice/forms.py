"""meInvoice's mapping form: issuance conditions, VAT rates, units, buyer fields, returns, write-back.

Its choices come from ``meinvoice.mapping``, and what it collects is checked by ``Mapping.from_dict``
(which names the field) before anything is saved: an invalid value is refused whole, next to its field.
"""

import re

from django import forms
from django.contrib import messages
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from .mapping import (
    EVERY_LINE,
    FINANCIAL_STATUSES,
    FULFILLMENT_STATUSES,
    REDUCED_RATE,
    REDUCTION_FROM,
    REDUCTION_MATCHES,
    REDUCTION_TO,
    RETURN_ACTIONS,
    SALES_PERCENTS,
    TAX_RULE_MATCHES,
    TRIGGERS,
    WRITEBACKS,
    Mapping,
    MappingError,
)

SETTINGS_KEY = "meinvoice"  # Connection.settings["meinvoice"]: the mapping, as Mapping.to_dict() writes it

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
EVERY_LINE_LABEL = _lazy("rate is the default rate (every line no rule names)")
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
SALES_PERCENT_LABELS = {
    "1": _lazy("1 percent: distribution, supply of goods"),
    "5": _lazy("5 percent: services, construction without materials"),
    "3": _lazy("3 percent: production, transport, services with goods"),
    "2": _lazy("2 percent: other activities"),
}


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


class ReductionRuleForm(forms.Form):
    match = forms.ChoiceField(
        label=_lazy("When the line's"),
        required=False,
        choices=[("", "—"), *_choices(REDUCTION_MATCHES, {**MATCH_LABELS, EVERY_LINE: EVERY_LINE_LABEL})],
    )
    value = forms.CharField(label=_lazy("is"), required=False)

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any((data.get(name) or "").strip() for name in ("match", "value"))


TaxRuleFormSet = forms.formset_factory(TaxRuleForm, extra=2, can_delete=True)
ReductionRuleFormSet = forms.formset_factory(ReductionRuleForm, extra=2, can_delete=True)
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
    # (c') the 8 % VAT reduction
    reduction_valid_from = forms.DateField(
        label=_lazy("Reduction applies from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    reduction_valid_to = forms.DateField(
        label=_lazy("Reduction applies until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    reduction_shipping = forms.BooleanField(label=_lazy("Shipping is reduced too"), required=False)
    reduction_sales_percent = forms.ChoiceField(
        label=_lazy("Sales invoices (direct method): your percentage of revenue, reduced by 20 percent"),
        required=False,
        choices=_choices(SALES_PERCENTS, SALES_PERCENT_LABELS),
    )
    default_unit = forms.CharField(label=_lazy("Default unit"))
    shipping_item_name = forms.CharField(label=_lazy("Name of the shipping line"))
    shipping_unit = forms.CharField(label=_lazy("Unit of the shipping line"))
    payment_method_name = forms.CharField(label=_lazy("Payment method printed on the invoice"))
    describe_as_accounting = forms.BooleanField(
        label=_lazy("Describe items and buyers as the accounting system does"),
        required=False,
        help_text=_lazy(
            "When this shop also posts to an accounting system (MISA AMIS): item names, units and VAT rates "
            "come from the items of the company the order goes to, and a company buyer's legal name from its "
            "account objects (the tax code too, for a customer the accounting system knows by one). Lines it "
            "does not know stay as the shop describes them."
        ),
    )
    # (d) buyer
    buyer_tax_code = forms.CharField(label=_lazy("Note attribute holding the buyer's tax code"))
    buyer_legal_name = forms.CharField(label=_lazy("Note attribute holding the company's legal name"))
    buyer_address = forms.CharField(label=_lazy("Note attribute holding the company's address"))
    buyer_email = forms.CharField(label=_lazy("Note attribute holding the invoice e-mail"))
    buyer_use_billing_company = forms.BooleanField(
        label=_lazy("Use the billing address's company when the legal name attribute is empty"),
        required=False,
    )
    buyer_id_number = forms.CharField(
        label=_lazy("Note attribute holding the buyer's personal identification number"),
        required=False,
        help_text=_lazy("12 digits (Decree 70). Empty: not collected."),
    )
    buyer_passport = forms.CharField(
        label=_lazy("Note attribute holding the buyer's passport number"),
        required=False,
        help_text=_lazy("Empty: not collected."),
    )
    buyer_budget_code = forms.CharField(
        label=_lazy("Note attribute holding the budget-relation unit code"),
        required=False,
        help_text=_lazy("7 digits, for units with budget relations (Decree 70). Empty: not collected."),
    )
    # (e) returns and write-back
    on_refund = forms.ChoiceField(label=_lazy("When an invoiced order is refunded"))
    on_cancel_after_issue = forms.ChoiceField(label=_lazy("When an invoiced order is cancelled"))
    require_agreement = forms.BooleanField(
        label=_lazy("Hold each adjustment or replacement until the agreement with the buyer is entered"),
        required=False,
        help_text=_lazy(
            "Decree 70: a business buyer signs an agreement, an individual is notified, before an invoice is "
            "adjusted or replaced. Its number and date are entered on the document's page and printed in "
            "the invoice's note."
        ),
    )
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
        "buyer.id_number": "buyer_id_number",
        "buyer.passport": "buyer_passport",
        "buyer.budget_code": "buyer_budget_code",
        "returns.on_refund": "on_refund",
        "returns.on_cancel_after_issue": "on_cancel_after_issue",
        "returns.require_agreement": "require_agreement",
        "reduction.valid_from": "reduction_valid_from",
        "reduction.valid_to": "reduction_valid_to",
        "reduction.shipping": "reduction_shipping",
        "reduction.sales_percent": "reduction_sales_percent",
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
        self.fields["reduction_valid_from"].help_text = _("Empty: %(day)s.") % {
            "day": REDUCTION_FROM.strftime("%d/%m/%Y")
        }
        self.fields["reduction_valid_to"].help_text = _(
            "Empty: %(day)s, the end of Decree 174/2025/NĐ-CP (Resolution 204/2025/QH15). The reduction "
            "never applies outside the decrees' windows, whatever is typed here."
        ) % {"day": REDUCTION_TO.strftime("%d/%m/%Y")}
        self.fields["min_total"].widget.attrs.update(inputmode="numeric")

    @staticmethod
    def initial_from(data: dict) -> dict:
        """Form initial values from a mapping dict (``Mapping.to_dict()``)."""
        conditions, buyer, returns = data["conditions"], data["buyer"], data["returns"]
        reduction = data.get("reduction") or {}
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
            "describe_as_accounting": bool(data.get("describe_as_accounting")),
            "buyer_tax_code": buyer["tax_code"],
            "buyer_legal_name": buyer["legal_name"],
            "buyer_address": buyer["address"],
            "buyer_email": buyer["email"],
            "buyer_use_billing_company": buyer["use_billing_company"],
            "buyer_id_number": buyer.get("id_number", ""),
            "buyer_passport": buyer.get("passport", ""),
            "buyer_budget_code": buyer.get("budget_code", ""),
            "on_refund": returns["on_refund"],
            "on_cancel_after_issue": returns["on_cancel_after_issue"],
            "require_agreement": returns.get("require_agreement", False),
            "writeback": data["writeback"],
            "reduction_valid_from": reduction.get("valid_from") or REDUCTION_FROM.isoformat(),
            "reduction_valid_to": reduction.get("valid_to") or REDUCTION_TO.isoformat(),
            "reduction_shipping": bool(reduction.get("shipping")),
            "reduction_sales_percent": reduction.get("sales_percent") or "1",
        }

    @staticmethod
    def reduction_rules_initial(data: dict) -> list[dict]:
        rules = (data.get("reduction") or {}).get("rules") or []
        return [dict(rule) for rule in rules if isinstance(rule, dict)]

    @staticmethod
    def tax_rules_initial(data: dict) -> list[dict]:
        return [dict(rule) for rule in data.get("tax_rules") or []]

    @staticmethod
    def units_initial(data: dict) -> list[dict]:
        return [{"product_type": k, "unit": v} for k, v in (data.get("unit_by_type") or {}).items()]

    def mapping_data(self, tax_rules, units, reductions=None) -> tuple[dict, list[int]]:
        """The mapping as ``Mapping.from_dict`` reads it, and the formset row of each tax rule kept
        (``self.reduction_rows``: the same for the reduction rules)."""
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
            "describe_as_accounting": bool(cd.get("describe_as_accounting")),
            "tax_rules": rules,
            "unit_by_type": unit_by_type,
            "buyer": {
                "tax_code": cd["buyer_tax_code"],
                "legal_name": cd["buyer_legal_name"],
                "address": cd["buyer_address"],
                "email": cd["buyer_email"],
                "use_billing_company": bool(cd["buyer_use_billing_company"]),
                "id_number": cd["buyer_id_number"] or "",
                "passport": cd["buyer_passport"] or "",
                "budget_code": cd["buyer_budget_code"] or "",
            },
            "returns": {
                "on_refund": cd["on_refund"],
                "on_cancel_after_issue": cd["on_cancel_after_issue"],
                "require_agreement": bool(cd["require_agreement"]),
            },
            "writeback": cd["writeback"],
        }
        self.reduction_rows = []
        reduction_rules = []
        for index, form in enumerate(reductions.forms if reductions is not None else []):
            if form in reductions.deleted_forms or form.is_blank():
                continue
            reduction_rules.append(
                {"match": form.cleaned_data.get("match") or "", "value": form.cleaned_data.get("value") or ""}
            )
            self.reduction_rows.append(index)
        start, end = cd.get("reduction_valid_from"), cd.get("reduction_valid_to")
        data["reduction"] = {
            "rules": reduction_rules,
            "valid_from": start.isoformat() if start else None,
            "valid_to": end.isoformat() if end else None,
            "shipping": bool(cd.get("reduction_shipping")),
            "sales_percent": cd.get("reduction_sales_percent") or "1",
        }
        return data, rows

    def validated_mapping(self, tax_rules, units, reductions=None) -> dict | None:
        """``Mapping.from_dict(...).to_dict()`` of what was typed, or None with the error on its field."""
        data, rows = self.mapping_data(tax_rules, units, reductions)
        try:
            return Mapping.from_dict(data).to_dict()
        except MappingError as exc:
            self.place_error(str(exc), tax_rules, units, rows, reductions)
            return None

    def place_error(self, message: str, tax_rules, units, rows: list[int], reductions=None) -> None:
        """Put a MappingError next to the field it names (the message names it too)."""
        self.mapping_error = message
        path = message.split(":", 1)[0].strip()
        reduction_rule = re.match(r"^reduction\.rules\[(\d+)\](?:\.(\w+))?$", path)
        if reduction_rule and reductions is not None:
            index = int(reduction_rule.group(1))
            kept = getattr(self, "reduction_rows", [])
            form = reductions.forms[kept[index]] if index < len(kept) else None
            if form is not None:
                field = reduction_rule.group(2) if reduction_rule.group(2) in form.fields else None
                form.add_error(field, message)
                return
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


# --- the section of the mapping screen ------------------------------------------------------------------


class MappingSection:
    """The mapping form and its two lists for one connection: bound to POST data, or filled from what is
    stored (an invalid stored mapping is shown as stored, with what is wrong, for the owner to fix)."""

    template = "meinvoice/_mapping.html"
    anchor = "invoice-mapping"

    def __init__(self, connection, data=None):
        self.connection = connection
        self.stored_error = ""
        raw = (connection.settings or {}).get(SETTINGS_KEY) or {}
        self.written_8 = False
        try:
            stored = Mapping.from_dict(raw)
            current = stored.to_dict()
            self.written_8 = REDUCED_RATE in {
                stored.default_vat_rate,
                stored.shipping_vat_rate,
                *(rule.rate for rule in stored.tax_rules),
            }
        except MappingError as exc:
            self.stored_error = str(exc)
            current = _overlay(Mapping().to_dict(), raw)
        if data is not None:
            self.form = MappingForm(data)
            self.tax_rules = TaxRuleFormSet(data, prefix="tax")
            self.units = UnitFormSet(data, prefix="unit")
            self.reductions = ReductionRuleFormSet(data, prefix="red")
        else:
            self.form = MappingForm(initial=MappingForm.initial_from(current))
            self.tax_rules = TaxRuleFormSet(initial=MappingForm.tax_rules_initial(current), prefix="tax")
            self.units = UnitFormSet(initial=MappingForm.units_initial(current), prefix="unit")
            self.reductions = ReductionRuleFormSet(
                initial=MappingForm.reduction_rules_initial(current), prefix="red"
            )

    def context(self) -> dict:
        return {
            "mapping_form": self.form,
            "tax_rules": self.tax_rules,
            "units": self.units,
            "reduction_rules": self.reductions,
            "stored_error": self.stored_error,
            "written_8": self.written_8,
            "reduction_ends": REDUCTION_TO,
            "vat_rates": VAT_RATE_SUGGESTIONS,
        }

    def save(self, request) -> bool:
        """Validate and save under a row lock; False (with the errors on the form) when refused."""
        form, tax_rules, units, reductions = self.form, self.tax_rules, self.units, self.reductions
        if form.is_valid() & tax_rules.is_valid() & units.is_valid() & reductions.is_valid():
            data = form.validated_mapping(tax_rules, units, reductions)
            if data is not None:
                from connectors.models import Connection

                with transaction.atomic():
                    locked = Connection.objects.select_for_update().get(pk=self.connection.pk)
                    locked.settings = {**(locked.settings or {}), SETTINGS_KEY: data}
                    locked.save(update_fields=["settings"])
                messages.success(request, _("Invoice mapping saved: orders evaluated from now on use it."))
                return True
        if not form.mapping_error:
            form.mapping_error = _("Some values are not valid: see the fields marked below.")
        return False


def _overlay(defaults: dict, raw) -> dict:
    """The stored (invalid) values over the defaults, where their shape fits: what the owner must fix."""
    if not isinstance(raw, dict):
        return defaults
    out = dict(defaults)
    for key, value in raw.items():
        if key not in out:
            continue
        if isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = {**out[key], **value}
        elif key == "tax_rules" and isinstance(value, list):
            out[key] = [rule for rule in value if isinstance(rule, dict)]
        elif out[key] is None or isinstance(value, type(out[key])):
            out[key] = value
    return out
