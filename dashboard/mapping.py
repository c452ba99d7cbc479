"""A connection's mapping: routing rules, issuance conditions, tax rules, buyer fields, returns policy.

Routing rules are generic (every target kind routes the same way). The invoice mapping below them is
meInvoice's (``Connection.settings["meinvoice"]``): it is saved only through
``Mapping.from_dict(...).to_dict()``, so an invalid value is refused whole, with the field named.
The route preview shows what would happen to one order, and writes nothing.
"""

import json
import logging
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from connectors.http import ApiError
from connectors.middleware import scoped, scoped_object_or_404
from connectors.models import Connection, RoutingRule, TargetAccount
from connectors.routing import route
from haravan.client import HaravanClient
from haravan.read import order_label, routing_facts, shape_problem
from haravan.services import shop_for
from meinvoice.mapping import Mapping, MappingError
from syncjobs.models import SyncDocument

from .access import ANYONE, OWNER, role_required
from .forms import (
    VAT_RATE_SUGGESTIONS,
    MappingForm,
    PreviewJsonForm,
    PreviewNumberForm,
    RoutingRuleForm,
    TaxRuleFormSet,
    UnitFormSet,
)
from .preview import preview_order

log = logging.getLogger(__name__)

RULE_PREFIX = "rule"
# How many of the shop's newest orders are read to find an order by its number (50 per call).
SCAN_LIMIT = 250


def _connection(request, pk) -> Connection:
    return scoped_object_or_404(request, Connection, pk=pk)


def _rule(request, connection, rule_pk) -> RoutingRule:
    return get_object_or_404(
        scoped(request, RoutingRule).select_related("account", "account__connection"),
        pk=rule_pk,
        connection=connection,
    )


def _has_invoice_mapping(connection) -> bool:
    return connection.target_kind == "meinvoice"


# --- the page ------------------------------------------------------------------------------------------


def _rules_context(request, connection, *, rule_form=None, notice="", notice_ok=True) -> dict:
    rules = list(
        scoped(request, RoutingRule)
        .filter(connection=connection)
        .select_related("account", "account__connection")
        .order_by("priority", "id")
    )
    accounts = scoped(request, TargetAccount).filter(connection=connection).select_related("connection")
    default = accounts.filter(is_default=True).first()
    return {
        "connection": connection,
        "kind": connection.kind,
        "rules": rules,
        "default_account": default,
        "has_accounts": default is not None or accounts.exists(),
        "rule_form": rule_form or RoutingRuleForm(connection=connection, prefix=RULE_PREFIX),
        "rules_notice": notice,
        "rules_notice_ok": notice_ok,
    }


def _mapping_forms(connection, data=None):
    """The mapping form and its two lists, bound to POST data or filled from the stored mapping."""
    stored_error = ""
    raw = (connection.settings or {}).get("meinvoice") or {}
    try:
        current = Mapping.from_dict(raw).to_dict()
    except MappingError as exc:
        stored_error = str(exc)
        current = _overlay(Mapping().to_dict(), raw)
    if data is not None:
        return (
            MappingForm(data),
            TaxRuleFormSet(data, prefix="tax"),
            UnitFormSet(data, prefix="unit"),
            stored_error,
        )
    return (
        MappingForm(initial=MappingForm.initial_from(current)),
        TaxRuleFormSet(initial=MappingForm.tax_rules_initial(current), prefix="tax"),
        UnitFormSet(initial=MappingForm.units_initial(current), prefix="unit"),
        stored_error,
    )


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


def _page(request, connection, *, mapping_forms=None, preview=None, rule_form=None, status=200):
    context = _rules_context(request, connection, rule_form=rule_form)
    if _has_invoice_mapping(connection):
        form, tax_rules, units, stored_error = mapping_forms or _mapping_forms(connection)
        context.update(
            mapping_form=form,
            tax_rules=tax_rules,
            units=units,
            stored_error=stored_error,
            vat_rates=VAT_RATE_SUGGESTIONS,
        )
    context.update(
        has_invoice_mapping=_has_invoice_mapping(connection),
        can_look_up_orders=connection.source_kind == "haravan",
        number_form=PreviewNumberForm(),
        json_form=PreviewJsonForm(),
        preview=preview,
    )
    return render(request, "dashboard/mapping.html", context, status=status)


@role_required(ANYONE)
def mapping_page(request, pk):
    return _page(request, _connection(request, pk))


@role_required(OWNER)
@require_POST
def mapping_save(request, pk):
    connection = _connection(request, pk)
    if not _has_invoice_mapping(connection):
        messages.error(request, _("This connection has no invoice mapping to save."))
        return redirect("dashboard:mapping", pk=connection.pk)
    forms = _mapping_forms(connection, request.POST)
    form, tax_rules, units, _stored = forms
    if form.is_valid() & tax_rules.is_valid() & units.is_valid():
        data = form.validated_mapping(tax_rules, units)
        if data is not None:
            with transaction.atomic():
                locked = Connection.objects.select_for_update().get(pk=connection.pk)
                locked.settings = {**(locked.settings or {}), "meinvoice": data}
                locked.save(update_fields=["settings"])
            messages.success(
                request,
                _("Invoice mapping saved: orders evaluated from now on use it."),
            )
            return redirect(reverse("dashboard:mapping", args=[connection.pk]) + "#invoice-mapping")
    if not form.mapping_error:
        form.mapping_error = _("Some values are not valid: see the fields marked below.")
    return _page(request, connection, mapping_forms=forms)


# --- routing rules -------------------------------------------------------------------------------------


def _rules_answer(request, connection, *, rule_form=None, notice="", ok=True):
    """The rules section for htmx, or back to the page."""
    if request.htmx:
        context = _rules_context(request, connection, rule_form=rule_form, notice=notice, notice_ok=ok)
        return render(request, "dashboard/_mapping_rules.html", context)
    if rule_form is not None and rule_form.errors:
        return _page(request, connection, rule_form=rule_form)
    if notice:
        (messages.success if ok else messages.error)(request, notice)
    return redirect(reverse("dashboard:mapping", args=[connection.pk]) + "#rules")


def _describe(rule) -> str:
    return _("%(dimension)s = %(value)s → %(tag)s") % {
        "dimension": rule.get_dimension_display(),
        "value": rule.value,
        "tag": rule.account.tag,
    }


@role_required(OWNER)
@require_POST
def rule_add(request, pk):
    connection = _connection(request, pk)
    form = RoutingRuleForm(request.POST, connection=connection, prefix=RULE_PREFIX)
    if not form.is_valid():
        return _rules_answer(request, connection, rule_form=form)
    rule = form.save()
    return _rules_answer(
        request, connection, notice=_("Rule added: %(rule)s.") % {"rule": _describe(rule)}, ok=True
    )


@role_required(OWNER)
def rule_edit(request, pk, rule_pk):
    connection = _connection(request, pk)
    rule = _rule(request, connection, rule_pk)
    form = RoutingRuleForm(request.POST or None, connection=connection, instance=rule, prefix=RULE_PREFIX)
    if request.method == "POST" and form.is_valid():
        rule = form.save()
        messages.success(request, _("Rule saved: %(rule)s.") % {"rule": _describe(rule)})
        return redirect(reverse("dashboard:mapping", args=[connection.pk]) + "#rules")
    return render(
        request,
        "dashboard/mapping_rule.html",
        {"connection": connection, "rule": rule, "form": form},
    )


@role_required(OWNER)
@require_POST
def rule_delete(request, pk, rule_pk):
    connection = _connection(request, pk)
    rule = _rule(request, connection, rule_pk)
    described = _describe(rule)
    rule.delete()
    return _rules_answer(request, connection, notice=_("Rule deleted: %(rule)s.") % {"rule": described})


@role_required(OWNER)
@require_POST
def rule_toggle(request, pk, rule_pk):
    connection = _connection(request, pk)
    rule = _rule(request, connection, rule_pk)
    rule.enabled = not rule.enabled
    rule.save(update_fields=["enabled"])
    notice = _("Rule enabled: %(rule)s.") if rule.enabled else _("Rule disabled (skipped): %(rule)s.")
    return _rules_answer(request, connection, notice=notice % {"rule": _describe(rule)})


@role_required(OWNER)
@require_POST
def rule_move(request, pk, rule_pk):
    """Up or down one place: the rules are renumbered 10, 20, 30… in their order, then two swap."""
    connection = _connection(request, pk)
    rule = _rule(request, connection, rule_pk)
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        return _rules_answer(request, connection, notice=_("Move a rule up or down."), ok=False)
    with transaction.atomic():
        rules = list(
            RoutingRule.objects.select_for_update().filter(connection=connection).order_by("priority", "id")
        )
        index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
        other = index - 1 if direction == "up" else index + 1
        if 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
        for position, item in enumerate(rules, start=1):
            if item.priority != position * 10:
                item.priority = position * 10
                item.save(update_fields=["priority"])
    return _rules_answer(request, connection)


# --- the route preview ---------------------------------------------------------------------------------


class OrderNotFound(Exception):
    pass


def _number_of(order: dict) -> str:
    for key in ("order_number", "name"):
        value = str(order.get(key) or "").strip().lstrip("#").strip()
        if value:
            return value
    return ""


def fetch_order(request, connection, number: str) -> dict:
    """Read order #number from the connection's Haravan shop: by the id we already know for that number,
    else by looking through the shop's newest orders (Haravan cannot search orders by number)."""
    if connection.source_kind != "haravan":
        raise OrderNotFound(
            _("Orders can be read by number only from a Haravan shop: paste the order's JSON instead.")
        )
    label = f"#{number}"
    client = HaravanClient.for_shop(shop_for(connection))
    known = (
        scoped(request, SyncDocument)
        .filter(connection=connection, source_type="order", source_label=label)
        .values_list("source_id", flat=True)
        .first()
    )
    if known:
        return client.get_order(known)
    orders = client.iter_orders(status="any", order="created_at desc", fields="id,name,order_number")
    for seen, row in enumerate(orders, start=1):
        if _number_of(row) == number and row.get("id"):
            return client.get_order(row["id"])
        if seen >= SCAN_LIMIT:
            break
    raise OrderNotFound(
        _(
            "Order %(label)s is not among the %(limit)s newest orders of Haravan shop %(shop)s. Check the "
            "number, or open the order in Haravan and paste its JSON below."
        )
        % {"label": label, "limit": SCAN_LIMIT, "shop": connection.source_key}
    )


def _facts_text(facts: dict) -> list[tuple[str, str]]:
    labels = dict(RoutingRule.Dimension.choices)
    return [(labels.get(d, d), ", ".join(values)) for d, values in facts.items() if values]


def _number(value, places: int = 0) -> str:
    """Vietnamese figures whatever the page's language (the invoice is in đồng): 1.234.567,5."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = f"{amount:,.{places}f}" if places and amount != amount.to_integral_value() else f"{amount:,.0f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def _invoice_view(invoice: dict) -> dict:
    """The invoice's lines, rates and totals as the page shows them."""
    lines = [
        {
            "number": d.get("LineNumber"),
            "name": d.get("ItemName", ""),
            "code": d.get("ItemCode", ""),
            "unit": d.get("UnitName", ""),
            "quantity": _number(d.get("Quantity", 0), 3),
            "unit_price": _number(d.get("UnitPrice", 0), 2),
            "amount": _number(d.get("Amount", 0)),
            "discount": _number(d.get("DiscountAmount", 0)),
            "net": _number(d.get("AmountWithoutVAT", 0)),
            "rate": d.get("VATRateName") or "",
            "vat": _number(d.get("VATAmount", 0)),
        }
        for d in invoice.get("OriginalInvoiceDetail") or []
    ]
    rates = [
        {
            "rate": r.get("VATRateName", ""),
            "net": _number(r.get("AmountWithoutVATOC", 0)),
            "vat": _number(r.get("VATAmountOC", 0)),
        }
        for r in invoice.get("TaxRateInfo") or []
    ]
    return {
        "series": invoice.get("InvSeries", ""),
        "buyer": {
            "name": invoice.get("BuyerLegalName") or invoice.get("BuyerFullName") or "",
            "tax_code": invoice.get("BuyerTaxCode") or "",
            "address": invoice.get("BuyerAddress") or "",
            "email": invoice.get("BuyerEmail") or "",
        },
        "lines": lines,
        "rates": rates,
        "net": _number(invoice.get("TotalAmountWithoutVAT", 0)),
        "vat": _number(invoice.get("TotalVATAmount", 0)),
        "total": _number(invoice.get("TotalAmount", 0)),
        "in_words": invoice.get("TotalAmountInWords", ""),
    }


def run_preview(request, connection) -> dict:
    """Which account, why, and the invoice that would be issued; or what is wrong with the input."""
    by_json = "order_json" in request.POST
    form = PreviewJsonForm(request.POST) if by_json else PreviewNumberForm(request.POST)
    if not form.is_valid():
        return {"error": " ".join(e for errors in form.errors.values() for e in errors)}
    if by_json:
        order = form.cleaned_data["order_json"]
    else:
        number = form.cleaned_data["number"]
        try:
            order = fetch_order(request, connection, number)
        except OrderNotFound as exc:
            return {"error": str(exc)}
        except ApiError as exc:
            return {
                "error": _(
                    "Order #%(number)s could not be read from Haravan: %(error)s. Try again later, or paste "
                    "the order's JSON below."
                )
                % {"number": number, "error": str(exc).rstrip(". ")}
            }
    try:
        problem = shape_problem(order)
        if problem:
            raise ValueError(problem)
        facts = routing_facts(order)
        decision = route(connection, facts)
        if _has_invoice_mapping(connection):
            answer = preview_order(connection, order)
        else:  # only the routing is generic; this target's documents are not previewed here yet
            answer = {"issue": None, "issuance": "", "invoice": None}
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        log.info("Preview of a malformed order on connection %s: %r", connection.pk, exc)
        return {
            "error": _(
                "This does not look like a Haravan order (%(error)s): paste the whole order as Haravan "
                "gives it, with its line_items."
            )
            % {"error": exc}
        }
    invoice = answer["invoice"]
    return {
        "label": order_label(order),
        "account": decision.account,
        "explanation": decision.explanation,
        "issue": answer["issue"],
        "reason": answer["issuance"],
        "facts": _facts_text(facts),
        "invoice": _invoice_view(invoice) if invoice else None,
        "invoice_json": json.dumps(invoice, ensure_ascii=False, indent=2) if invoice else "",
    }


@role_required(ANYONE)
@require_POST
def mapping_preview(request, pk):
    """Writes nothing and sends nothing, so every role may preview (it is a POST for the pasted JSON)."""
    connection = _connection(request, pk)
    preview = run_preview(request, connection)
    if request.htmx:
        return render(
            request, "dashboard/_preview_result.html", {"preview": preview, "connection": connection}
        )
    return _page(request, connection, preview=preview)


urlpatterns = [
    path("connections/<int:pk>/mapping/", mapping_page, name="mapping"),
    path("connections/<int:pk>/mapping/save/", mapping_save, name="mapping_save"),
    path("connections/<int:pk>/mapping/preview/", mapping_preview, name="mapping_preview"),
    path("connections/<int:pk>/mapping/rules/add/", rule_add, name="rule_add"),
    path("connections/<int:pk>/mapping/rules/<int:rule_pk>/edit/", rule_edit, name="rule_edit"),
    path("connections/<int:pk>/mapping/rules/<int:rule_pk>/delete/", rule_delete, name="rule_delete"),
    path("connections/<int:pk>/mapping/rules/<int:rule_pk>/toggle/", rule_toggle, name="rule_toggle"),
    path("connections/<int:pk>/mapping/rules/<int:rule_pk>/move/", rule_move, name="rule_move"),
]
