"""Which target account receives a document, and a sentence that says why."""

from dataclasses import dataclass

from . import registry
from .models import Connection, RoutingRule, TargetAccount
from .text import Text, join, untranslated

# facts: what the source says about one document, per routing dimension, e.g.
# {"location": ["1002"], "source": ["shopee"], "carrier": ["GHN", "ghn_express"]}
Facts = dict[str, list[str]]


@dataclass(frozen=True)
class RouteDecision:
    account: TargetAccount | None
    rule: RoutingRule | None
    explanation: Text  # shown in the reader's language; stored with the document (its English too)


def _norm(value) -> str:
    return str(value).strip().casefold()


def _describe(facts: Facts, dimension: str) -> Text | str:
    values = facts.get(dimension) or []
    return ", ".join(str(v) for v in values) if values else Text("(none)")


def route(connection: Connection, facts: Facts, rules=None) -> RouteDecision:
    """First enabled rule (by priority) whose value is among the facts wins, else the default account."""
    if rules is None:
        rules = connection.rules.filter(enabled=True).select_related("account", "account__connection")
    label = connection.target.tag_label
    checked = []
    for rule in rules:
        if not rule.enabled:
            continue
        dimension = Text(untranslated(registry.dimension_label(rule.dimension)))
        values = {_norm(v) for v in facts.get(rule.dimension) or []}
        if _norm(rule.value) in values:
            return RouteDecision(
                account=rule.account,
                rule=rule,
                explanation=Text(
                    "Rule #%(rule)s (priority %(priority)s) matched: %(dimension)s = %(value)s "
                    "→ %(tag)s %(id)s",
                    rule=rule.pk,
                    priority=rule.priority,
                    dimension=dimension,
                    value=rule.value,
                    tag=label,
                    id=rule.account.external_id,
                ),
            )
        checked.append(
            Text(
                "%(dimension)s %(value)s ≠ %(facts)s",
                dimension=dimension,
                value=rule.value,
                facts=_describe(facts, rule.dimension),
            )
        )
    default = connection.default_account()
    why = (
        Text("no rule matched (%(checked)s)", checked=join(checked, "; "))
        if checked
        else Text("no routing rules")
    )
    if default is None:
        return RouteDecision(
            account=None,
            rule=None,
            explanation=Text(
                "No account: %(why)s and the connection has no default %(tag)s account. Add a default "
                "%(tag)s account or a rule that covers this order.",
                why=why,
                tag=label,
            ),
        )
    return RouteDecision(
        account=default,
        rule=None,
        explanation=Text("Default %(tag)s %(id)s: %(why)s.", tag=label, id=default.external_id, why=why),
    )
