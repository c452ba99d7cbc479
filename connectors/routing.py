"""Which target account receives a document, and a sentence that says why."""

from dataclasses import dataclass

from . import registry
from .models import Connection, RoutingRule, TargetAccount
from .text import untranslated

# facts: what the source says about one document, per routing dimension, e.g.
# {"location": ["1002"], "source": ["shopee"], "carrier": ["GHN", "ghn_express"]}
Facts = dict[str, list[str]]


@dataclass(frozen=True)
class RouteDecision:
    account: TargetAccount | None
    rule: RoutingRule | None
    explanation: str


def _norm(value) -> str:
    return str(value).strip().casefold()


def _describe(facts: Facts, dimension: str) -> str:
    values = facts.get(dimension) or []
    return ", ".join(str(v) for v in values) if values else "(none)"


def route(connection: Connection, facts: Facts, rules=None) -> RouteDecision:
    """First enabled rule (by priority) whose value is among the facts wins, else the default account."""
    if rules is None:
        rules = connection.rules.filter(enabled=True).select_related("account", "account__connection")
    label = connection.target.tag_label
    checked = []
    for rule in rules:
        if not rule.enabled:
            continue
        dim_label = untranslated(registry.dimension_label(rule.dimension))
        values = {_norm(v) for v in facts.get(rule.dimension) or []}
        if _norm(rule.value) in values:
            return RouteDecision(
                account=rule.account,
                rule=rule,
                explanation=(
                    f"Rule #{rule.pk} (priority {rule.priority}) matched: {dim_label} = {rule.value} "
                    f"→ {label} {rule.account.external_id}"
                ),
            )
        checked.append(f"{dim_label} {rule.value} ≠ {_describe(facts, rule.dimension)}")
    default = connection.default_account()
    why = f"no rule matched ({'; '.join(checked)})" if checked else "no routing rules"
    if default is None:
        return RouteDecision(
            account=None,
            rule=None,
            explanation=(
                f"No account: {why} and the connection has no default {label} account. "
                f"Add a default {label} account or a rule that covers this order."
            ),
        )
    return RouteDecision(
        account=default, rule=None, explanation=f"Default {label} {default.external_id}: {why}."
    )
