import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from connectors import registry
from connectors.models import RoutingRule
from connectors.routing import route
from haravan.read import routing_facts
from tests import factories


@pytest.fixture
def conn(db):
    t = factories.tenant()
    c = factories.connection(t, factories.shop(t), accounts=("0101243150", "0312345673", "0101243150-001"))
    factories.rule(c, "source", "shopee", "0101243150-001", priority=10)
    factories.rule(c, "location", "1002", "0312345673", priority=20)
    return c


def mst(decision):
    return decision.account.external_id if decision.account else None


def test_first_matching_rule_by_priority_wins(conn):
    order = factories.order(source_name="shopee", location_id=1002)
    decision = route(conn, routing_facts(order))
    assert mst(decision) == "0101243150-001"
    assert "Sales channel (source_name) = shopee" in decision.explanation.english()
    assert "MST 0101243150-001" in decision.explanation.english()


def test_the_stored_explanation_is_in_one_language_whatever_the_reader_chose(conn):
    order = factories.order(source_name="web", location_id=1002)
    with translation.override("vi"):  # a retry clicked on a Vietnamese page
        decision = route(conn, routing_facts(order))
        assert (
            str(registry.dimension_label("location")) != "Branch / location"
        )  # the page itself does speak Vietnamese
    assert "Branch / location = 1002" in decision.explanation.english()


def test_second_rule_when_first_does_not_match(conn):
    decision = route(conn, routing_facts(factories.order(source_name="web", location_id=1002)))
    assert mst(decision) == "0312345673"


def test_default_with_an_explanation_of_every_rule_checked(conn):
    decision = route(conn, routing_facts(factories.order(source_name="pos", location_id=1001)))
    assert mst(decision) == "0101243150"
    assert decision.rule is None
    assert "Default MST 0101243150" in decision.explanation.english()
    explanation = decision.explanation.english()
    assert "shopee ≠ pos" in explanation and "1002 ≠ 1001" in explanation


def test_reordering_priorities_changes_the_winner(conn):
    conn.rules.filter(dimension="location").update(priority=1)
    decision = route(conn, routing_facts(factories.order(source_name="shopee", location_id=1002)))
    assert mst(decision) == "0312345673"


def test_disabled_rule_is_skipped(conn):
    conn.rules.filter(dimension="source").update(enabled=False)
    assert (
        mst(route(conn, routing_facts(factories.order(source_name="shopee", location_id=1001))))
        == "0101243150"
    )


def test_no_default_account_is_explained_not_guessed(conn):
    conn.accounts.update(is_default=False)
    decision = route(conn, routing_facts(factories.order(source_name="web", location_id=1001)))
    assert decision.account is None
    assert "no default MST account" in decision.explanation.english()


def test_carrier_and_storefront_and_gateway_facts(conn):
    order = factories.order(
        fulfillments=[
            {"tracking_company": "Giao Hàng Nhanh", "tracking_company_code": "GHN", "location_id": 1002}
        ],
        shipping_lines=[{"code": "GHTK", "title": "Giao hàng tiết kiệm", "price": 30000}],
        landing_site="https://shop-b.example.vn/collections/all",
        gateway_code="VNPAY",
    )
    facts = routing_facts(order)
    assert {"GHN", "Giao Hàng Nhanh", "GHTK"} <= set(facts["carrier"])
    assert facts["storefront"] == ["shop-b.example.vn"]
    assert "1002" in facts["location"] and facts["gateway"][0] == "VNPAY"
    factories.rule(conn, "carrier", "ghn", "0312345673", priority=5)  # case-insensitive
    assert mst(route(conn, facts)) == "0312345673"


values = st.sampled_from(["web", "pos", "shopee", "1001", "1002", "GHN"])


DIMENSIONS = ["location", "source", "storefront", "carrier", "gateway"]


@hsettings(max_examples=60, deadline=None)
@given(
    rules=st.lists(st.tuples(st.sampled_from(DIMENSIONS), values, st.integers(0, 50)), max_size=6),
    facts=st.dictionaries(st.sampled_from(DIMENSIONS), st.lists(values, max_size=2)),
)
def test_route_is_the_lowest_priority_match_or_default(rules, facts):
    """Against a plain re-statement of the rule: the winner is the first match in priority order."""
    from connectors.models import TargetAccount

    class Conn:  # the routing function only reads rules, accounts and the tag label
        target = type("K", (), {"tag_label": "MST"})()

        def default_account(self):
            return default

    default = TargetAccount(external_id="DEFAULT")
    built = []
    for i, (dim, value, prio) in enumerate(rules):
        r = RoutingRule(pk=i + 1, dimension=dim, value=value, priority=prio, enabled=True)
        r.account = TargetAccount(external_id=f"A{i}")
        built.append(r)
    ordered = sorted(built, key=lambda r: (r.priority, r.pk))
    expected = next((r.account for r in ordered if r.value in facts.get(r.dimension, [])), default)
    assert route(Conn(), facts, rules=ordered).account is expected
