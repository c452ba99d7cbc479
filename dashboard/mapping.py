"""A connection's mapping: routing rules, then the target's own mapping section, and a route preview.

Routing rules are generic (every target routes the same way, on the facts its source tells). The section
below them is the target adapter's (its form, its template, its validation). The route preview shows what
would happen to one source object, and writes nothing.
"""

import logging

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from connectors import registry
from connectors.http import ApiError
from connectors.middleware import scoped, scoped_object_or_404
from connectors.models import Connection, RoutingRule, TargetAccount
from connectors.registry import Unsupported
from connectors.routing import route
from syncjobs.models import SyncDocument

from .access import ANYONE, OWNER, role_required
from .connection import source_label, source_of
from .forms import PreviewJsonForm, PreviewNumberForm, RoutingRuleForm

log = logging.getLogger(__name__)

RULE_PREFIX = "rule"


def _connection(request, pk) -> Connection:
    return scoped_object_or_404(request, Connection, pk=pk)


def _rule(request, connection, rule_pk) -> RoutingRule:
    return get_object_or_404(
        scoped(request, RoutingRule).select_related("account", "account__connection"),
        pk=rule_pk,
        connection=connection,
    )


def _mapping_section(connection, data=None):
    """The target's own mapping section, or None when it has none (only routing rules apply)."""
    try:
        return connection.target.mapping_section(connection, data)
    except Unsupported:
        return None


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
        "kind": connection.target,
        "rules": rules,
        "default_account": default,
        "has_accounts": default is not None or accounts.exists(),
        "rule_form": rule_form or RoutingRuleForm(connection=connection, prefix=RULE_PREFIX),
        "rules_notice": notice,
        "rules_notice_ok": notice_ok,
    }


def _page(request, connection, *, section=None, preview=None, rule_form=None, status=200):
    context = _rules_context(request, connection, rule_form=rule_form)
    section = section or _mapping_section(connection)
    source = source_of(connection)
    context.update(
        section=section,
        **(section.context() if section else {}),
        source_label=source_label(connection),
        can_look_up_orders=bool(source and source.looks_up_by_number),
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
    section = _mapping_section(connection, request.POST)
    if section is None:
        messages.error(request, _("This connection has no document mapping to save."))
        return redirect("dashboard:mapping", pk=connection.pk)
    if section.save(request):
        return redirect(reverse("dashboard:mapping", args=[connection.pk]) + f"#{section.anchor}")
    return _page(request, connection, section=section)


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


def fetch_order(request, connection, number: str) -> dict:
    """Read the object people call ``number`` from the connection's source: by the id a document of this
    tenant already knows for that number, else as the source can find it."""
    source = source_of(connection)
    if source is None or not source.looks_up_by_number:
        raise LookupError(
            _("Orders can be read by number only from a shop that can look them up: paste the order's JSON.")
        )
    known = (
        scoped(request, SyncDocument)
        .filter(connection=connection, source_type="order", source_label=f"#{number}")
        .values_list("source_id", flat=True)
        .first()
    )
    return source.fetch_by_number(connection, number, known_id=known)


def _facts_text(facts: dict) -> list[tuple[str, str]]:
    return [(registry.dimension_label(d), ", ".join(values)) for d, values in facts.items() if values]


def run_preview(request, connection) -> dict:
    """Which account, why, and the document that would be made; or what is wrong with the input."""
    by_json = "order_json" in request.POST
    form = PreviewJsonForm(request.POST) if by_json else PreviewNumberForm(request.POST)
    if not form.is_valid():
        return {"error": " ".join(e for errors in form.errors.values() for e in errors)}
    source = source_of(connection)
    source_name = source_label(connection)
    if by_json:
        order = form.cleaned_data["order_json"]
    else:
        number = form.cleaned_data["number"]
        try:
            order = fetch_order(request, connection, number)
        except LookupError as exc:
            return {"error": str(exc)}
        except ApiError as exc:
            return {
                "error": _(
                    "Order #%(number)s could not be read from %(source)s: %(error)s. Try again later, or "
                    "paste the order's JSON below."
                )
                % {"number": number, "source": source_name, "error": str(exc.text).rstrip(". ")}
            }
    target = connection.target
    try:
        problem = source.shape_problem(order) if source else None
        if problem:
            raise ValueError(problem)
        facts = source.routing_facts(order)
        decision = route(connection, facts)
        try:
            answer = target.preview(connection, order)
            issue, why = target.preview_outcome(answer)
        except Unsupported:  # only the routing is generic; this target's documents are not previewed
            answer, issue, why = {}, None, ""
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        log.info("Preview of a malformed order on connection %s: %r", connection.pk, exc)
        return {
            "error": _(
                "This does not look like a %(source)s order (%(error)s): paste the whole order as %(source)s "
                "gives it, with its line_items."
            )
            % {"source": source_name, "error": exc}
        }
    return {
        "label": source.label_of(order),
        "account": decision.account,
        "explanation": decision.explanation,
        "issue": issue,
        "reason": why,
        "facts": _facts_text(facts),
        "document_template": target.preview_template if issue is not None else None,
        **(target.preview_context(answer) if issue is not None else {}),
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
