"""AMIS's mapping section: the mapping of every AMIS company of a connection, one fieldset per company.

Each company (a ``TargetAccount``) has its own branches, warehouses, codes and accounts, so each has its
own mapping, stored at ``account.settings["mapping"]`` as ``amis.mapping.Mapping.to_dict()`` writes it.
The form edits the layers a merchant sets by hand — locations, parties, items, combos (a table, one row
per component, and the prefix of combo tags), VAT, shipping, the document policy, gateways, accounts — and
keeps what it does not show (tax rules, units per item, overrides per product type, the buyer's note
attributes) as stored.

Codes are picked from the company's copy of AMIS's master data (``amis.services.choices``): a select for
the short lists (branches, warehouses, units, accounts), a text input offering the codes for the long ones
(account objects, items). With no copy yet, a text input and a hint to sync the master data. A code the
copy does not have (any more) is flagged next to its field (``amis.services.missing_codes``), but saved:
the copy may be older than the code. What is typed is checked by ``Mapping.from_dict``; an invalid value
refuses the whole save, its error next to its field.

Branches are the one list offered by id: a voucher's ``branch_id`` is the ``organization_unit_id`` of a
company or branch unit (types 1 and 2; departments are refused), not its code [amis.md §12].
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.db import models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from connectors.models import TargetAccount
from connectors.text import Text, join

from . import services
from .mapping import (
    GATEWAY_KINDS,
    ORDER_EVENTS,
    SHIPPING_MODES,
    VOUCHER_EVENTS,
    Mapping,
    MappingError,
)
from .models import AmisDictionaryEntry, AmisDictionarySync
from .preview import MAPPING_KEY

# get_dictionary data types [amis.md §9]
ACCOUNT_OBJECTS, ITEMS, STOCKS, UNITS, ACCOUNTS, ORGANIZATION_UNITS = 1, 2, 3, 4, 5, 6
SELECT_KINDS = (ORGANIZATION_UNITS, STOCKS, UNITS, ACCOUNTS)  # short lists: a select
LIST_KINDS = (ACCOUNT_OBJECTS, ITEMS)  # long lists: a text input offering the codes
BRANCH_UNIT_TYPES = (1, 2)  # organization_unit_type_id: 1 company, 2 branch (3–4 departments)

SYNC_HINT = _lazy("Sync master data to pick from AMIS's lists.")

RATE_CHOICES = [
    ("0", "0%"),
    ("5", "5%"),
    ("8", "8%"),
    ("10", "10%"),
    ("KCT", _lazy("KCT: not subject to VAT")),
    ("KKKNT", _lazy("KKKNT: not declared, not paid")),
]
ORDER_EVENT_LABELS = {"created": _lazy("when the order is created"), "never": _lazy("never")}
VOUCHER_EVENT_LABELS = {
    "paid": _lazy("when the order is paid"),
    "fulfilled": _lazy("when the order is fulfilled"),
    "created": _lazy("as soon as the order is created"),
    "never": _lazy("never"),
}
SHIPPING_LABELS = {
    "line": _lazy("a service line on the voucher"),
    "leave_out": _lazy("left out of the books"),
}
GATEWAY_LABELS = {
    "cash": _lazy("cash: a cash receipt"),
    "bank": _lazy("bank: a bank deposit"),
    "none": _lazy("neither: no receipt (a gift card, say)"),
}
ACCOUNT_FIELDS = {  # Accounts field → label
    "receivable": _lazy("Receivable"),
    "revenue_goods": _lazy("Revenue from goods"),
    "revenue_services": _lazy("Revenue from services"),
    "vat_output": _lazy("Output VAT"),
    "cash": _lazy("Cash"),
    "bank": _lazy("Bank"),
    "inventory": _lazy("Inventory"),
    "cost_of_goods": _lazy("Cost of goods sold"),
    "sales_returns": _lazy("Sales returns"),
}


def _choices(values, labels) -> list[tuple[str, Any]]:
    return [(value, labels.get(value, value)) for value in values]


# --- one company's master data as the form offers it ------------------------------------------------


class MasterData:
    """The cached lists of one AMIS company: what each code field offers, and which codes it lacks."""

    def __init__(self, account: TargetAccount):
        self.account = account
        self.prefix = f"amis-{account.pk}"
        self._options: dict[int, list[tuple[str, str]]] = {}
        self.synced = set(
            AmisDictionarySync.objects.filter(account=account, synced_at__isnull=False).values_list(
                "data_type", flat=True
            )
        )

    def options(self, kind: int) -> list[tuple[str, str]]:
        """(value, "Name (CODE)") of the kind's active rows; branches by their organisation unit id."""
        if kind not in self._options:
            if kind == ORGANIZATION_UNITS:
                entries = AmisDictionaryEntry.objects.filter(
                    account=self.account, data_type=kind, inactive=False
                ).order_by("code")
                self._options[kind] = [
                    (entry.amis_id, str(entry))
                    for entry in entries
                    if entry.amis_id and _unit_type(entry) in (*BRANCH_UNIT_TYPES, None)
                ]
            else:
                self._options[kind] = services.choices(self.account, kind)
        return self._options[kind]

    def has(self, kind: int) -> bool:
        """Whether there is a list to offer (else: a text input and the hint)."""
        return bool(self.options(kind))

    def known(self, kind: int) -> bool:
        """Whether a code missing from the copy really is missing (the kind was read at least once)."""
        return kind in self.synced or self.has(kind)

    def missing(self, kind: int, values) -> set[str]:
        """The values (as typed) the company's copy does not have, when it was read."""
        values = [str(v).strip() for v in values if str(v or "").strip()]
        if not values or not self.known(kind):
            return set()
        if kind == ORGANIZATION_UNITS:
            ids = {value.casefold() for value, _label in self.options(kind)}
            return {v for v in values if v.casefold() not in ids}
        return set(services.missing_codes(self.account, kind, values))

    def list_id(self, kind: int) -> str:
        return f"{self.prefix}-list-{kind}"

    def widget(self, kind: int, current: str, *, empty_label: Any = "—") -> forms.Widget:
        """The input for a code of ``kind`` whose value is ``current``."""
        if not self.has(kind):
            return forms.TextInput(attrs={"autocomplete": "off"})
        if kind in LIST_KINDS:
            return forms.TextInput(attrs={"list": self.list_id(kind), "autocomplete": "off"})
        options = list(self.options(kind))
        if current and current not in {value for value, _label in options}:
            # kept as an option of its own, so saving the page unchanged keeps it: AMIS compares codes
            # case-insensitively, so a code written in another case is that row
            same = {value.casefold(): label for value, label in options}.get(current.casefold())
            options.append((current, same or _("%(code)s (not in AMIS's list)") % {"code": current}))
        return forms.Select(choices=[("", empty_label), *options])


# data type → its rows counted, in words (in the order the mapping uses them)
KIND_COUNTS = {
    ORGANIZATION_UNITS: lambda n: Text("branches and companies: %(count)s", count=n),
    STOCKS: lambda n: Text("warehouses: %(count)s", count=n),
    ACCOUNT_OBJECTS: lambda n: Text("account objects: %(count)s", count=n),
    ITEMS: lambda n: Text("items: %(count)s", count=n),
    UNITS: lambda n: Text("units: %(count)s", count=n),
    ACCOUNTS: lambda n: Text("accounts: %(count)s", count=n),
}


def master_data_summary(account: TargetAccount) -> Text:
    """What the mapping screen now offers for one company, in words: the answer to "Sync master data"
    (after ``services.sync_master_data``). Every count is of active rows; branches count the company and
    branch units only (what a voucher's ``branch_id`` may name)."""
    active = dict(
        AmisDictionaryEntry.objects.filter(account=account, inactive=False)
        .values("data_type")
        .annotate(n=models.Count("pk"))
        .values_list("data_type", "n")
    )
    active[ORGANIZATION_UNITS] = len(MasterData(account).options(ORGANIZATION_UNITS))
    return Text(
        "Master data of AMIS company %(company)s is up to date; the mapping offers %(counts)s.",
        company=account.external_id,
        counts=join([count(active.get(kind, 0)) for kind, count in KIND_COUNTS.items()], "; "),
    )


def _unit_type(entry: AmisDictionaryEntry) -> int | None:
    value = (entry.data or {}).get("organization_unit_type_id")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- the forms ----------------------------------------------------------------------------------------


class CodesForm(forms.Form):
    """A form some of whose fields hold AMIS codes (``CODE_FIELDS``: field → data type): their inputs
    come from the company's master data."""

    CODE_FIELDS: dict[str, int] = {}
    HINTS = True  # the hint to sync goes under each field (a table says it once, under the table)

    def __init__(self, *args, lists: MasterData, **kwargs):
        super().__init__(*args, **kwargs)
        self.lists = lists
        for name, kind in self.CODE_FIELDS.items():
            field = self.fields[name]
            if self.HINTS and not lists.has(kind):  # before the field is bound (it copies the help text)
                field.help_text = " ".join(str(t) for t in (field.help_text, SYNC_HINT) if t)
            field.widget = lists.widget(kind, self.current(name))

    def current(self, name: str) -> str:
        return str(self[name].value() or "").strip()

    def codes(self) -> dict[str, tuple[int, str]]:
        """field → (data type, the code it holds now)."""
        return {name: (kind, self.current(name)) for name, kind in self.CODE_FIELDS.items()}

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any(str(data.get(name) or "").strip() for name in self.fields if name != "DELETE")


class RowForm(CodesForm):
    """One row of a table: the hint to sync is said once, under the table."""

    HINTS = False


class LocationForm(RowForm):
    location = forms.CharField(label=_lazy("Haravan location id"), required=False)
    branch_id = forms.CharField(label=_lazy("AMIS branch"), required=False)
    stock_code = forms.CharField(label=_lazy("AMIS warehouse"), required=False)
    CODE_FIELDS = {"branch_id": ORGANIZATION_UNITS, "stock_code": STOCKS}


class ChannelForm(RowForm):
    channel = forms.CharField(label=_lazy("Sales channel (source_name)"), required=False)
    code = forms.CharField(label=_lazy("AMIS account object"), required=False)
    CODE_FIELDS = {"code": ACCOUNT_OBJECTS}


class ItemForm(RowForm):
    sku = forms.CharField(label=_lazy("SKU"), required=False)
    code = forms.CharField(label=_lazy("AMIS item code"), required=False)
    CODE_FIELDS = {"code": ITEMS}


class ComboForm(RowForm):
    """One component of a combo; the rows naming the same combo make it, in their order."""

    combo = forms.CharField(label=_lazy("Combo (its item code or SKU)"), required=False)
    code = forms.CharField(label=_lazy("Component (AMIS item code)"), required=False)
    quantity = forms.IntegerField(label=_lazy("Units per combo"), required=False, min_value=1, initial=1)
    weight = forms.IntegerField(
        label=_lazy("Weight: share of the combo's price per unit"), required=False, min_value=0, initial=1
    )
    vat_rate = forms.ChoiceField(
        label=_lazy("VAT rate"), required=False, choices=[("", _lazy("the combo's rate")), *RATE_CHOICES]
    )
    CODE_FIELDS = {"code": ITEMS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.current("vat_rate")
        if current and current not in dict(self.fields["vat_rate"].choices):  # KHAC:x, written by hand
            self.fields["vat_rate"].choices = [*self.fields["vat_rate"].choices, (current, current)]

    def is_blank(self) -> bool:  # quantity and weight have values: a row without codes is an empty row
        data = getattr(self, "cleaned_data", {})
        return not any(str(data.get(name) or "").strip() for name in ("combo", "code"))


class GatewayForm(RowForm):
    gateway = forms.CharField(label=_lazy("Payment gateway (as Haravan names it)"), required=False)
    kind = forms.ChoiceField(
        label=_lazy("Money received as"), choices=_choices(GATEWAY_KINDS, GATEWAY_LABELS)
    )

    def is_blank(self) -> bool:  # the kind always has a value: a row without a gateway is an empty row
        return not str(getattr(self, "cleaned_data", {}).get("gateway") or "").strip()


class CodesFormSet(forms.BaseFormSet):
    def __init__(self, *args, lists: MasterData, **kwargs):
        kwargs.setdefault("form_kwargs", {})["lists"] = lists
        super().__init__(*args, **kwargs)

    def kept(self) -> list[forms.Form]:
        return [f for f in self.forms if f not in self.deleted_forms and not f.is_blank()]


LocationFormSet = forms.formset_factory(LocationForm, formset=CodesFormSet, extra=2, can_delete=True)
ChannelFormSet = forms.formset_factory(ChannelForm, formset=CodesFormSet, extra=2, can_delete=True)
ItemFormSet = forms.formset_factory(ItemForm, formset=CodesFormSet, extra=2, can_delete=True)
GatewayFormSet = forms.formset_factory(GatewayForm, formset=CodesFormSet, extra=2, can_delete=True)
ComboFormSet = forms.formset_factory(ComboForm, formset=CodesFormSet, extra=3, can_delete=True)


class CompanyForm(CodesForm):
    """One company's single values: branch, parties, units, VAT, shipping, documents, gateways, accounts."""

    default_branch_id = forms.CharField(
        label=_lazy("Branch of sales from a location not listed"),
        required=False,
        help_text=_lazy("Empty: the company itself."),
    )
    walk_in = forms.CharField(label=_lazy("Account object of walk-in buyers"), required=False)
    customer_code = forms.CharField(
        label=_lazy("Code of a named customer's account object"),
        required=False,
        help_text=_lazy(
            "{customer_id} is replaced by the Haravan customer's id: KH{customer_id} gives KH555."
        ),
    )
    tax_code_code = forms.CharField(
        label=_lazy("Code of a VAT buyer with no Haravan customer"),
        required=False,
        help_text=_lazy("{tax_code} is replaced by the buyer's tax code."),
    )
    default_unit = forms.CharField(label=_lazy("Default unit"), required=False)
    create_missing_items = forms.BooleanField(
        label=_lazy("Create items AMIS does not have yet, with the voucher"),
        required=False,
        help_text=_lazy(
            "Otherwise an order with such an item waits for a person, with the missing codes listed."
        ),
    )
    combo_tag_prefix = forms.CharField(
        label=_lazy("Combos written on the products' tags: the tag's prefix"),
        required=False,
        help_text=_lazy(
            "Empty: tags are not read. With combo: a product tagged combo:SKU-A*2+SKU-B in Haravan is booked "
            "as two SKU-A and one SKU-B; @ gives a component's weight (combo:SKU-A*2@3+SKU-B@4), else 1. "
            "A combo in the table above wins over a tag."
        ),
    )
    default_vat_rate = forms.ChoiceField(label=_lazy("Default VAT rate"), choices=RATE_CHOICES)
    shipping_mode = forms.ChoiceField(
        label=_lazy("Shipping charged to the buyer"), choices=_choices(SHIPPING_MODES, SHIPPING_LABELS)
    )
    shipping_item_code = forms.CharField(label=_lazy("Item code of the shipping line"), required=False)
    shipping_name = forms.CharField(label=_lazy("Name of the shipping line"), required=False)
    shipping_unit = forms.CharField(label=_lazy("Unit of the shipping line"), required=False)
    shipping_vat_rate = forms.ChoiceField(
        label=_lazy("VAT rate of shipping"),
        required=False,
        choices=[("", _lazy("the default rate")), *RATE_CHOICES],
    )
    sales_order = forms.ChoiceField(
        label=_lazy("Sales order (ĐĐH)"), choices=_choices(ORDER_EVENTS, ORDER_EVENT_LABELS)
    )
    sales_voucher = forms.ChoiceField(
        label=_lazy("Sales voucher (PBH)"), choices=_choices(VOUCHER_EVENTS, VOUCHER_EVENT_LABELS)
    )
    stock_issue = forms.BooleanField(
        label=_lazy("Issue the goods from the location's warehouse with the sales voucher"), required=False
    )
    receipts = forms.BooleanField(
        label=_lazy("A cash receipt or bank deposit for each captured payment"), required=False
    )
    paid_at_sale = forms.BooleanField(
        label=_lazy("A sales voucher fully paid by cash or bank when it is made is booked as paid"),
        required=False,
        help_text=_lazy(
            "Then it gets no separate receipt; otherwise it is booked unpaid and each payment gets one."
        ),
    )
    default_gateway = forms.ChoiceField(
        label=_lazy("A gateway not listed"),
        required=False,
        choices=[("", _lazy("hold the order for a person")), *_choices(GATEWAY_KINDS, GATEWAY_LABELS)],
    )
    bank_account_number = forms.CharField(
        label=_lazy("The shop's bank account number on bank deposits"),
        required=False,
        help_text=_lazy("Empty: AMIS's default bank account."),
    )

    CODE_FIELDS = {
        "default_branch_id": ORGANIZATION_UNITS,
        "walk_in": ACCOUNT_OBJECTS,
        "default_unit": UNITS,
        "shipping_item_code": ITEMS,
        "shipping_unit": UNITS,
        **{f"account_{name}": ACCOUNTS for name in ACCOUNT_FIELDS},
    }
    # where each MappingError path lands on this form
    FIELD_FOR_PATH = {
        "default_branch_id": "default_branch_id",
        "parties.walk_in": "walk_in",
        "parties.customer_code": "customer_code",
        "parties.tax_code_code": "tax_code_code",
        "default_unit": "default_unit",
        "default_vat_rate": "default_vat_rate",
        "combo_tag_prefix": "combo_tag_prefix",
        "shipping.mode": "shipping_mode",
        "shipping.item_code": "shipping_item_code",
        "shipping.name": "shipping_name",
        "shipping.unit": "shipping_unit",
        "shipping.vat_rate": "shipping_vat_rate",
        "documents.sales_order": "sales_order",
        "documents.sales_voucher": "sales_voucher",
        "default_gateway": "default_gateway",
        "accounts.bank_account_number": "bank_account_number",
        **{f"accounts.{name}": f"account_{name}" for name in ACCOUNT_FIELDS},
    }

    def __init__(self, *args, lists: MasterData, **kwargs):
        super().__init__(*args, lists=lists, **kwargs)
        for name in ("default_vat_rate", "shipping_vat_rate"):
            current = self.current(name)
            if current and current not in dict(self.fields[name].choices):  # KHAC:x, written by hand
                self.fields[name].choices = [*self.fields[name].choices, (current, current)]

    @staticmethod
    def initial_from(data: dict) -> dict:
        parties, shipping, documents, accounts = (
            data["parties"],
            data["shipping"],
            data["documents"],
            data["accounts"],
        )
        return {
            "default_branch_id": data.get("default_branch_id") or "",
            "walk_in": parties["walk_in"],
            "customer_code": parties["customer_code"],
            "tax_code_code": parties["tax_code_code"],
            "default_unit": data["default_unit"],
            "create_missing_items": data.get("create_missing_items", False),
            "combo_tag_prefix": data.get("combo_tag_prefix") or "",
            "default_vat_rate": data["default_vat_rate"],
            "shipping_mode": shipping["mode"],
            "shipping_item_code": shipping["item_code"],
            "shipping_name": shipping["name"],
            "shipping_unit": shipping["unit"],
            "shipping_vat_rate": shipping.get("vat_rate") or "",
            "sales_order": documents["sales_order"],
            "sales_voucher": documents["sales_voucher"],
            "stock_issue": documents["stock_issue"],
            "receipts": documents["receipts"],
            "paid_at_sale": documents["paid_at_sale"],
            "default_gateway": data.get("default_gateway") or "",
            "bank_account_number": accounts.get("bank_account_number") or "",
            **{f"account_{name}": accounts[name] for name in ACCOUNT_FIELDS},
        }


# the accounts, one field each, after the others (their labels are ACCOUNT_FIELDS')
for _name, _label in ACCOUNT_FIELDS.items():
    CompanyForm.base_fields[f"account_{_name}"] = forms.CharField(label=_label, required=False)


# --- one company -------------------------------------------------------------------------------------


class CompanyMapping:
    """The mapping of one AMIS company: its form and tables, bound to POST data or filled from what is
    stored (an invalid stored mapping is shown as stored, with what is wrong, to be fixed)."""

    def __init__(self, account: TargetAccount, data=None):
        self.account = account
        self.lists = MasterData(account)
        self.prefix = self.lists.prefix
        self.stored_error = ""
        self.mapping_error = ""
        raw = (account.settings or {}).get(MAPPING_KEY) or {}
        try:
            self.current = Mapping.from_dict(raw).to_dict()
        except MappingError as exc:
            self.stored_error = str(exc)
            self.current = _overlay(Mapping().to_dict(), raw)
        # Bound only when the page that was posted showed this company (one added since keeps its mapping).
        self.bound = data is not None and f"{self.prefix}-loc-TOTAL_FORMS" in data
        given = data if self.bound else None
        current = self.current
        initial = {
            "form": CompanyForm.initial_from(current),
            "loc": [
                {
                    "location": name,
                    "branch_id": (loc if isinstance(loc, dict) else {}).get("branch_id") or "",
                    "stock_code": (loc if isinstance(loc, dict) else {}).get("stock_code") or "",
                }
                for name, loc in current["locations"].items()
            ],
            "chan": [{"channel": k, "code": v} for k, v in current["parties"]["by_channel"].items()],
            "item": [{"sku": k, "code": v} for k, v in current["item_codes"].items()],
            "gw": [{"gateway": k, "kind": v} for k, v in current["gateways"].items()],
            "combo": [
                {
                    "combo": name,
                    "code": part.get("code") or "",
                    "quantity": part.get("quantity", 1),
                    "weight": part.get("weight", 1),
                    "vat_rate": part.get("vat_rate") or "",
                }
                for name, combo in current["combos"].items()
                for part in _components(combo)
            ],
        }
        lists = self.lists
        self.form = CompanyForm(given, prefix=self.prefix, initial=initial["form"], lists=lists)
        self.locations = LocationFormSet(
            given, prefix=f"{self.prefix}-loc", initial=initial["loc"], lists=lists
        )
        self.channels = ChannelFormSet(
            given, prefix=f"{self.prefix}-chan", initial=initial["chan"], lists=lists
        )
        self.items = ItemFormSet(given, prefix=f"{self.prefix}-item", initial=initial["item"], lists=lists)
        self.gateways = GatewayFormSet(given, prefix=f"{self.prefix}-gw", initial=initial["gw"], lists=lists)
        self.combos = ComboFormSet(
            given, prefix=f"{self.prefix}-combo", initial=initial["combo"], lists=lists
        )
        # stock documents: bound only when the page posted showed them (an older page keeps them as stored)
        stock = current.get("stock") or {}
        self.stock_bound = self.bound and f"{self.prefix}-reason-TOTAL_FORMS" in data
        stock_given = data if self.stock_bound else None
        self.stock_form = StockForm(
            stock_given, prefix=f"{self.prefix}-stock", initial=StockForm.initial_from(stock), lists=lists
        )
        self.reasons = ReasonFormSet(
            stock_given, prefix=f"{self.prefix}-reason", initial=reason_rows(stock), lists=lists
        )

    @property
    def formsets(self) -> dict[str, CodesFormSet]:
        return {
            "loc": self.locations,
            "chan": self.channels,
            "item": self.items,
            "combo": self.combos,
            "gw": self.gateways,
        }

    # --- validation

    def validated(self) -> dict | None:
        """``Mapping.to_dict()`` of what was typed (over what is stored and not shown), or None with the
        errors on the fields; an unbound company gives back what is stored, untouched."""
        if not self.bound:
            return None if self.stored_error else self.current
        valid = self.form.is_valid()
        for formset in self.formsets.values():
            valid = formset.is_valid() and valid
        if self.stock_bound:
            valid = self.stock_form.is_valid() and self.reasons.is_valid() and valid
        if not valid:
            return None
        data = self.mapping_data()
        if data is None:
            return None
        try:
            return Mapping.from_dict(data).to_dict()
        except MappingError as exc:
            self.place_error(str(exc))
            return None

    def _table(self, formset, key: str, value, label) -> dict | None:
        """{row key: row value} of the rows kept; a row without its key, or a key given twice, is
        refused on its row."""
        out: dict = {}
        ok = True
        for form in formset.kept():
            name = str(form.cleaned_data.get(key) or "").strip()
            if not name:
                form.add_error(key, _("Required: %(what)s.") % {"what": label})
                ok = False
            elif name.casefold() in {k.casefold() for k in out}:
                form.add_error(key, _("%(value)s is listed twice.") % {"value": name})
                ok = False
            else:
                out[name] = value(form.cleaned_data)
        return out if ok else None

    def _combos(self) -> dict | None:
        """{combo code: {"components": [...]}} of the rows kept, grouped by combo code (compared as AMIS
        compares codes; the first row's spelling names the combo); a row without its codes, or a component
        named twice in one combo, is refused on its row."""
        out: dict[str, dict] = {}
        names: dict[str, str] = {}  # folded combo code → as first written
        ok = True
        for form in self.combos.kept():
            row = form.cleaned_data
            combo, code = (str(row.get(name) or "").strip() for name in ("combo", "code"))
            for name, value in (("combo", combo), ("code", code)):
                if not value:
                    form.add_error(name, _("Required: %(what)s.") % {"what": form.fields[name].label})
                    ok = False
            if not (combo and code):
                continue
            name = names.setdefault(combo.casefold(), combo)
            components = out.setdefault(name, {"components": []})["components"]
            if code.casefold() in {c["code"].casefold() for c in components}:
                form.add_error(
                    "code", _("%(code)s is listed twice in combo %(combo)s.") % {"code": code, "combo": name}
                )
                ok = False
                continue
            components.append(
                {
                    "code": code,
                    "quantity": 1 if row.get("quantity") is None else row["quantity"],
                    "weight": 1 if row.get("weight") is None else row["weight"],
                    "vat_rate": row.get("vat_rate") or None,
                }
            )
        return out if ok else None

    def mapping_data(self) -> dict | None:
        """The mapping dict as ``Mapping.from_dict`` reads it: the stored one with what the form shows
        replaced; None when a table row is refused."""
        cd = self.form.cleaned_data

        def text(name):
            return str(cd.get(name) or "").strip()

        locations = self._table(
            self.locations,
            "location",
            lambda row: {
                "branch_id": str(row.get("branch_id") or "").strip() or None,
                "stock_code": str(row.get("stock_code") or "").strip() or None,
            },
            LocationForm.base_fields["location"].label,
        )
        channels = self._table(
            self.channels,
            "channel",
            lambda row: str(row.get("code") or "").strip(),
            ChannelForm.base_fields["channel"].label,
        )
        items = self._table(
            self.items,
            "sku",
            lambda row: str(row.get("code") or "").strip(),
            ItemForm.base_fields["sku"].label,
        )
        gateways = self._table(
            self.gateways,
            "gateway",
            lambda row: row.get("kind") or "",
            GatewayForm.base_fields["gateway"].label,
        )
        combos = self._combos()
        by_reason = {}
        if self.stock_bound:
            by_reason = self._table(
                self.reasons,
                "reason",
                lambda row: {name: str(row.get(name) or "").strip() for name in REASON_ACCOUNT_LABELS},
                ReasonForm.base_fields["reason"].label,
            )
        if None in (locations, channels, items, gateways, combos, by_reason):
            return None
        data = {key: value for key, value in self.current.items()}
        if self.stock_bound:
            data["stock"] = self.stock_form.stock_data(self.current.get("stock") or {}, by_reason)
        data.update(
            locations=locations,
            default_branch_id=text("default_branch_id") or None,
            parties={
                **self.current["parties"],
                "walk_in": text("walk_in"),
                "by_channel": channels,
                "customer_code": text("customer_code"),
                "tax_code_code": text("tax_code_code"),
            },
            item_codes=items,
            combos=combos,
            combo_tag_prefix=text("combo_tag_prefix"),
            default_unit=text("default_unit"),
            create_missing_items=bool(cd.get("create_missing_items")),
            default_vat_rate=text("default_vat_rate"),
            accounts={
                **self.current["accounts"],
                **{name: text(f"account_{name}") for name in ACCOUNT_FIELDS},
                "bank_account_number": text("bank_account_number"),
            },
            gateways=gateways,
            default_gateway=text("default_gateway") or None,
            documents={
                "sales_order": text("sales_order"),
                "sales_voucher": text("sales_voucher"),
                "stock_issue": bool(cd.get("stock_issue")),
                "receipts": bool(cd.get("receipts")),
                "paid_at_sale": bool(cd.get("paid_at_sale")),
            },
            shipping={
                **self.current["shipping"],
                "mode": text("shipping_mode"),
                "item_code": text("shipping_item_code"),
                "name": text("shipping_name"),
                "unit": text("shipping_unit"),
                "vat_rate": text("shipping_vat_rate") or None,
            },
        )
        return data

    TABLE_FOR_PATH = (
        (re.compile(r"^locations\["), "loc"),
        (re.compile(r"^parties\.by_channel"), "chan"),
        (re.compile(r"^item_codes"), "item"),
        (re.compile(r"^combos"), "combo"),
        (re.compile(r"^gateways"), "gw"),
    )

    def place_error(self, message: str) -> None:
        """Put a MappingError next to the field it names (the message names it too)."""
        self.mapping_error = message
        path = message.split(":", 1)[0].strip()
        if path.startswith("stock.by_reason"):
            self.reasons._non_form_errors = self.reasons.error_class([message])
            return
        if path.startswith("stock.") and self.stock_form.field_for(path):
            self.stock_form.add_error(self.stock_form.field_for(path), message)
            return
        for pattern, key in self.TABLE_FOR_PATH:
            if pattern.match(path):
                formset = self.formsets[key]
                formset._non_form_errors = formset.error_class([message])
                return
        field = CompanyForm.FIELD_FOR_PATH.get(path)
        if field in self.form.fields:
            self.form.add_error(field, message)
        # else: a part the form does not show (tax rules, units…); the message at the company's top says it

    # --- what the page shows

    def flags(self) -> dict[int, dict[str, str]]:
        """id(form) → {field: why its code is flagged}: codes the company's copy of AMIS's lists lacks."""
        forms_ = [self.form, *(f for fs in self.formsets.values() for f in fs.forms)]
        if any(self.stock_form[name].value() for name in STOCK_KIND_LABELS):  # stock codes matter once on
            forms_ += [self.stock_form, *self.reasons.forms]
        by_kind: dict[int, set[str]] = {}
        for form in forms_:
            for kind, code in form.codes().values():
                if code:
                    by_kind.setdefault(kind, set()).add(code)
        missing = {kind: self.lists.missing(kind, sorted(codes)) for kind, codes in by_kind.items()}
        out: dict[int, dict[str, str]] = {}
        for form in forms_:
            for name, (kind, code) in form.codes().items():
                if code and code in missing.get(kind, ()):
                    out.setdefault(id(form), {})[name] = _(
                        "AMIS company %(company)s has no %(code)s in its lists (any more): pick another, "
                        "or sync the master data if it was just added in AMIS."
                    ) % {"company": self.account.external_id, "code": code}
        return out

    def context(self) -> dict:
        flags = self.flags()
        form = self.form

        def items(*names):
            return [{"field": form[name], "flag": flags.get(id(form), {}).get(name, "")} for name in names]

        def table(formset, names):
            rows = [
                {
                    "form": f,
                    "cells": [
                        {"field": f[name], "flag": flags.get(id(f), {}).get(name, "")} for name in names
                    ],
                }
                for f in formset.forms
            ]
            columns = [formset.form.base_fields[name].label for name in names]
            code_kinds = [
                formset.form.CODE_FIELDS[name] for name in names if name in formset.form.CODE_FIELDS
            ]
            hint = SYNC_HINT if any(not self.lists.has(kind) for kind in code_kinds) else ""
            return {"formset": formset, "columns": columns, "rows": rows, "hint": hint}

        sections = [
            {
                "legend": _("Branches and warehouses"),
                "intro": _(
                    "Each Haravan location books to an AMIS branch, and issues its goods from a warehouse "
                    "(no warehouse: no stock issue)."
                ),
                "table": table(self.locations, ("location", "branch_id", "stock_code")),
                "fields": items("default_branch_id"),
            },
            {
                "legend": _("Customers (account objects)"),
                "intro": _(
                    "A buyer with a tax code is always their own account object. Marketplace channels "
                    "listed here book to one fixed object each; other named customers get their own code; "
                    "anyone else is a walk-in buyer."
                ),
                "fields": items("walk_in", "customer_code", "tax_code_code"),
                "table": table(self.channels, ("channel", "code")),
            },
            {
                "legend": _("Items and units"),
                "intro": _("An item's AMIS code is its SKU, unless this table gives another."),
                "fields": items("default_unit", "create_missing_items"),
                "table": table(self.items, ("sku", "code")),
            },
            {
                "legend": _("Combos"),
                "intro": _(
                    "A combo is sold as one line and booked as its components: one row per component, "
                    "the rows with the same combo make it. The combo's price is split between its "
                    "components in proportion to units × weight, exactly to the đồng (weights all 0: by "
                    "units)."
                ),
                "table": table(self.combos, ("combo", "code", "quantity", "weight", "vat_rate")),
                "fields": items("combo_tag_prefix"),
            },
            {
                "legend": _("VAT and shipping"),
                "fields": items(
                    "default_vat_rate",
                    "shipping_mode",
                    "shipping_item_code",
                    "shipping_name",
                    "shipping_unit",
                    "shipping_vat_rate",
                ),
            },
            {
                "legend": _("Which vouchers are made"),
                "fields": items("sales_order", "sales_voucher", "stock_issue", "receipts", "paid_at_sale"),
            },
            {
                "legend": _("Payment gateways"),
                "intro": _("Money captured through a gateway is received as cash or into the bank."),
                "table": table(self.gateways, ("gateway", "kind")),
                "fields": items("default_gateway"),
            },
            {
                "legend": _("Accounts"),
                "fields": items(*(f"account_{name}" for name in ACCOUNT_FIELDS), "bank_account_number"),
            },
            stock_section(self, flags, table),
        ]
        datalists = [
            {"id": self.lists.list_id(kind), "options": self.lists.options(kind)}
            for kind in LIST_KINDS
            if self.lists.has(kind)
        ]
        return {
            "account": self.account,
            "anchor": self.prefix,
            "form": form,
            "sections": sections,
            "datalists": datalists,
            "stored_error": self.stored_error,
            "mapping_error": self.mapping_error,
            "flagged": sum(len(f) for f in flags.values()),
            "synced": bool(self.lists.synced),
        }


# --- the section of the mapping screen ------------------------------------------------------------------


class MappingSection:
    """The mapping of every AMIS company of one connection (``TargetAdapter.mapping_section``)."""

    template = "amis/_mapping.html"
    anchor = "amis-mapping"

    def __init__(self, connection, data=None):
        self.connection = connection
        self.error = ""
        accounts = TargetAccount.objects.filter(connection=connection).select_related("connection")
        self.companies = [
            CompanyMapping(account, data) for account in accounts.order_by("-is_default", "external_id")
        ]

    def context(self) -> dict:
        return {
            "amis_companies": [company.context() for company in self.companies],
            "amis_mapping_error": self.error,
        }

    def save(self, request) -> bool:
        """Validate every company shown, then save them all under row locks; False (with the errors on
        the fields) when any is refused: nothing is saved then."""
        answers = {company.account.pk: company.validated() for company in self.companies if company.bound}
        if not answers:
            self.error = _("Nothing to save: the page did not show any AMIS company. Reload it.")
            return False
        if any(answer is None for answer in answers.values()):
            self.error = _("Some values are not valid: see the fields marked below.")
            return False
        with transaction.atomic():
            locked = TargetAccount.objects.select_for_update().filter(pk__in=answers).order_by("pk")
            for account in locked:
                account.settings = {**(account.settings or {}), MAPPING_KEY: answers[account.pk]}
                account.save(update_fields=["settings"])
        names = ", ".join(c.account.external_id for c in self.companies if c.account.pk in answers)
        messages.success(
            request,
            _("AMIS mapping saved for %(companies)s: orders posted from now on use it.")
            % {"companies": names},
        )
        return True


def _components(combo) -> list[dict]:
    """The components of a stored combo that are shaped as components (an invalid stored mapping is
    shown as far as it can be)."""
    parts = combo.get("components") if isinstance(combo, dict) else None
    return [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []


def _overlay(defaults: dict, raw) -> dict:
    """The stored (invalid) values over the defaults, where their shape fits: what the owner must fix."""
    if not isinstance(raw, dict):
        return defaults
    out = dict(defaults)
    for key, value in raw.items():
        if key not in out:
            continue
        if isinstance(out[key], dict) and isinstance(value, dict):
            if key in ("locations", "item_codes", "units", "combos", "gateways"):
                out[key] = value
            else:
                out[key] = {**out[key], **value}
        elif key == "tax_rules" and isinstance(value, list):
            out[key] = [rule for rule in value if isinstance(rule, dict)]
        elif out[key] is None or isinstance(value, type(out[key])):
            out[key] = value
    return out


# --- stock documents: which kinds a company posts, their voucher types and accounts ------------

STOCK_KIND_LABELS = {
    "purchase_receive": _lazy("Post purchase receives (done) as purchases with stock receipt (18/302)"),
    "purchase_return": _lazy("Post purchase returns"),
    "adjustment": _lazy("Post adjustments and stock counts as stock receipts (7) and issues (8)"),
    "transfer": _lazy("Post transfers between this company's warehouses (once received)"),
}
RETURN_STYLE_LABELS = {
    "issue": _lazy("a stock issue (8), debit payable / credit inventory"),
    "voucher": _lazy("the return voucher (type and reftype below; verify on a trial company)"),
}
TRANSFER_STYLE_LABELS = {
    "voucher": _lazy("one transfer voucher (type and reftype below; verify on a trial company)"),
    "issue_receipt": _lazy("a stock issue from one warehouse and a receipt into the other, at cost"),
}
REASON_LABELS = {
    "newproduct": _lazy("new product"),
    "returned": _lazy("returned"),
    "productionofgoods": _lazy("production of goods"),
    "damaged": _lazy("damaged"),
    "shrinkage": _lazy("shrinkage"),
    "promotion": _lazy("promotion"),
    "transfer": _lazy("transfer"),
}
REASON_ACCOUNT_LABELS = {
    "receipt_debit": _lazy("Stock found: debit"),
    "receipt_credit": _lazy("Stock found: credit"),
    "issue_debit": _lazy("Stock lost: debit"),
    "issue_credit": _lazy("Stock lost: credit"),
}
STOCK_NUMBERS = (
    "receipt_reftype",
    "issue_reftype",
    "return_voucher_type",
    "return_reftype",
    "transfer_voucher_type",
    "transfer_reftype",
)


class StockForm(CodesForm):
    """One company's stock settings (``Mapping.stock``); the accounts per reason are a table beside it."""

    purchase_receive = forms.BooleanField(label=STOCK_KIND_LABELS["purchase_receive"], required=False)
    purchase_return = forms.BooleanField(label=STOCK_KIND_LABELS["purchase_return"], required=False)
    adjustment = forms.BooleanField(label=STOCK_KIND_LABELS["adjustment"], required=False)
    transfer = forms.BooleanField(
        label=STOCK_KIND_LABELS["transfer"],
        required=False,
        help_text=_lazy(
            "A transfer to a location of another AMIS company is never posted: it waits for a person, "
            "with what to post in each company."
        ),
    )
    supplier_code = forms.CharField(
        label=_lazy("Code of a supplier's account object"),
        required=False,
        help_text=_lazy(
            "{supplier_id} is replaced by Haravan's supplier id; it must start with a supplier prefix."
        ),
    )
    default_supplier = forms.CharField(
        label=_lazy("Account object of a document without a supplier id"),
        required=False,
        help_text=_lazy("Empty: such a document waits for a person."),
    )
    inventory_account = forms.CharField(label=_lazy("Inventory account"), required=False)
    payable_account = forms.CharField(label=_lazy("Payable to suppliers"), required=False)
    purchase_purpose_code = forms.CharField(label=_lazy("Purchase purpose code (optional)"), required=False)
    return_style = forms.ChoiceField(
        label=_lazy("A purchase return is posted as"),
        choices=_choices(("issue", "voucher"), RETURN_STYLE_LABELS),
    )
    transfer_style = forms.ChoiceField(
        label=_lazy("A transfer is posted as"),
        choices=_choices(("voucher", "issue_receipt"), TRANSFER_STYLE_LABELS),
    )
    receipt_reftype = forms.IntegerField(label=_lazy("Stock receipt (7): reftype"), min_value=1)
    issue_reftype = forms.IntegerField(label=_lazy("Stock issue (8): reftype"), min_value=1)
    return_voucher_type = forms.IntegerField(label=_lazy("Purchase return: voucher type"), min_value=1)
    return_reftype = forms.IntegerField(label=_lazy("Purchase return: reftype"), min_value=1)
    transfer_voucher_type = forms.IntegerField(label=_lazy("Transfer: voucher type"), min_value=1)
    transfer_reftype = forms.IntegerField(label=_lazy("Transfer: reftype"), min_value=1)

    CODE_FIELDS = {
        "default_supplier": ACCOUNT_OBJECTS,
        "inventory_account": ACCOUNTS,
        "payable_account": ACCOUNTS,
        **{f"adjust_{name}": ACCOUNTS for name in REASON_ACCOUNT_LABELS},
    }
    TEXTS = (
        "supplier_code",
        "default_supplier",
        "inventory_account",
        "payable_account",
        "purchase_purpose_code",
    )

    @staticmethod
    def initial_from(stock: dict) -> dict:
        accounts = stock.get("adjustment_accounts") or {}
        return {
            **{name: stock.get(name) for name in (*STOCK_KIND_LABELS, *StockForm.TEXTS, *STOCK_NUMBERS)},
            "return_style": stock.get("return_style"),
            "transfer_style": stock.get("transfer_style"),
            **{f"adjust_{name}": accounts.get(name) or "" for name in REASON_ACCOUNT_LABELS},
        }

    def stock_data(self, current: dict, by_reason: dict) -> dict:
        cd = self.cleaned_data
        return {
            **current,
            **{name: bool(cd.get(name)) for name in STOCK_KIND_LABELS},
            **{name: str(cd.get(name) or "").strip() for name in self.TEXTS},
            **{name: cd.get(name) for name in STOCK_NUMBERS},
            "return_style": cd.get("return_style"),
            "transfer_style": cd.get("transfer_style"),
            "adjustment_accounts": {
                name: str(cd.get(f"adjust_{name}") or "").strip() for name in REASON_ACCOUNT_LABELS
            },
            "by_reason": by_reason,
        }

    def field_for(self, path: str) -> str | None:
        """The field a ``MappingError`` path under ``stock.`` names."""
        name = path.removeprefix("stock.")
        name = name.replace("adjustment_accounts.", "adjust_")
        return name if name in self.fields else None


for _name, _label in REASON_ACCOUNT_LABELS.items():  # the company's default accounts of an adjustment
    StockForm.base_fields[f"adjust_{_name}"] = forms.CharField(label=_label, required=False)


class ReasonForm(RowForm):
    """The accounts of adjustments with one reason (the company's defaults otherwise)."""

    reason = forms.ChoiceField(
        label=_lazy("Reason"), required=False, choices=[("", "—"), *REASON_LABELS.items()]
    )
    receipt_debit = forms.CharField(label=REASON_ACCOUNT_LABELS["receipt_debit"], required=False)
    receipt_credit = forms.CharField(label=REASON_ACCOUNT_LABELS["receipt_credit"], required=False)
    issue_debit = forms.CharField(label=REASON_ACCOUNT_LABELS["issue_debit"], required=False)
    issue_credit = forms.CharField(label=REASON_ACCOUNT_LABELS["issue_credit"], required=False)
    CODE_FIELDS = {name: ACCOUNTS for name in REASON_ACCOUNT_LABELS}

    def is_blank(self) -> bool:
        return not str(getattr(self, "cleaned_data", {}).get("reason") or "").strip()


ReasonFormSet = forms.formset_factory(ReasonForm, formset=CodesFormSet, extra=1, can_delete=True)


def reason_rows(stock: dict) -> list[dict]:
    return [
        {"reason": name, **{k: (accounts or {}).get(k) or "" for k in REASON_ACCOUNT_LABELS}}
        for name, accounts in (stock.get("by_reason") or {}).items()
    ]


def stock_section(mapping: CompanyMapping, flags: dict, table) -> dict:
    form = mapping.stock_form
    own = flags.get(id(form), {})
    return {
        "legend": _("Stock documents"),
        "intro": _(
            "Receives, purchase returns, adjustments and transfers of the locations routed to this company. "
            "Each kind is off until switched on: check the README's list on a trial AMIS company first, "
            "as some voucher types are not published by MISA."
        ),
        "fields": [{"field": form[name], "flag": own.get(name, "")} for name in form.fields],
        "table": table(mapping.reasons, ("reason", *REASON_ACCOUNT_LABELS)),
    }
