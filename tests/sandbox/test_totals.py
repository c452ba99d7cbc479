"""Order totals: one computation, always consistent (a property, and over many generated orders)."""

import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.generator import OrderGenerator
from sandbox.haravan import HaravanSimulator, compute_totals
from sandbox.server import SandboxApp
from sandbox.testing import mount

from .helpers import Client
from .test_haravan_orders import assert_totals_consistent

prices = st.integers(min_value=0, max_value=50_000_000)
line_items = st.lists(
    st.builds(
        lambda price, qty, share: {
            "price": price,
            "quantity": qty,
            "total_discount": int(price * qty * share),
        },
        prices,
        st.integers(min_value=1, max_value=500),
        st.floats(min_value=0, max_value=1),
    ),
    min_size=1,
    max_size=6,
)
codes = st.lists(
    st.one_of(
        st.builds(lambda v: {"code": "F", "type": "fixed_amount", "value": v}, st.integers(0, 100_000_000)),
        st.builds(lambda v: {"code": "P", "type": "percentage", "value": v}, st.integers(0, 100)),
        st.builds(lambda v: {"code": "S", "type": "shipping", "value": v}, st.integers(0, 100_000)),
    ),
    max_size=3,
)
shipping = st.lists(st.builds(lambda p: {"price": p}, st.integers(0, 200_000)), max_size=2)


@given(line_items, codes, shipping)
def test_compute_totals_invariants(lines, discount_codes, shipping_lines):
    totals, resolved = compute_totals(lines, discount_codes, shipping_lines)
    line_total = sum(li["price"] * li["quantity"] for li in lines)
    line_discounts = sum(li["total_discount"] for li in lines)
    ship = sum(s["price"] for s in shipping_lines)
    assert all(isinstance(v, int) for v in totals.values())
    assert totals["total_line_items_price"] == line_total
    assert totals["total_discounts"] == line_discounts + sum(c["amount"] for c in resolved)
    assert totals["subtotal_price"] == totals["total_line_items_price"] - totals["total_discounts"]
    assert totals["total_price"] == totals["subtotal_price"] + ship
    assert 0 <= totals["subtotal_price"] <= line_total
    assert all(c["amount"] >= 0 for c in resolved)
    assert sum(c["amount"] for c in resolved if c["type"] == "shipping") <= ship
    for code, got in zip(discount_codes, resolved, strict=True):
        if code["type"] == "fixed_amount":
            assert got["amount"] <= code["value"]


api_lines = st.lists(
    st.fixed_dictionaries(
        {
            "variant_id": st.sampled_from([1010000001, 1010000012, 1010000025, 1010000026, 1010000019]),
            "quantity": st.integers(1, 40),
        },
        optional={
            "applied_discounts": st.lists(st.fixed_dictionaries({"amount": st.integers(0, 5000)}), max_size=2)
        },
    ),
    min_size=1,
    max_size=4,
)
api_codes = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"code": st.just("GIAM"), "type": st.just("fixed_amount"), "amount": st.integers(0, 10**7)}
        ),
        st.fixed_dictionaries(
            {"code": st.just("SALE"), "type": st.just("percentage"), "value": st.integers(0, 100)}
        ),
    ),
    max_size=2,
)
api_shipping = st.lists(
    st.fixed_dictionaries({"code": st.just("GHN"), "price": st.integers(0, 60000)}), max_size=1
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(api_lines, api_codes, api_shipping)
def test_orders_created_through_the_api_are_consistent(lines, discount_codes, shipping_lines):
    sim = HaravanSimulator(seed_orders=False, webhook_background=False, webhook_sender=lambda *a: (200, ""))
    sim.set_knobs(rate_capacity=10**6)
    client = Client(SandboxApp({"/haravan": sim}))
    resp = client.post(
        "/com/orders.json",
        {"order": {"line_items": lines, "discount_codes": discount_codes, "shipping_lines": shipping_lines}},
    )
    assert resp.status == 201, resp.text
    order = resp.json()["order"]
    assert_totals_consistent(order)
    assert (
        client.get(f"/com/orders/{order['id']}.json").json()["order"]["total_price"] == order["total_price"]
    )


def test_many_generated_orders_are_consistent():
    sim = HaravanSimulator(seed_orders=False, webhook_background=False, webhook_sender=lambda *a: (200, ""))
    sim.set_knobs(rate_capacity=10**6)
    app = SandboxApp({"/haravan": sim})
    with responses.RequestsMock() as mock:
        base = mount(mock, app, "http://sandbox.test")
        generator = OrderGenerator(f"{base}/haravan", "demo-token", seed=7)
        orders = [generator.create_random_order() for _ in range(150)]
    for order in orders:
        assert_totals_consistent(order)
    sources = {o["source_name"] for o in orders}
    assert sources == {"web", "pos", "shopee"}
    assert any(o["discount_codes"] and o["discount_codes"][0]["type"] == "percentage" for o in orders)
    assert any(o["discount_codes"] and o["discount_codes"][0]["type"] == "fixed_amount" for o in orders)
    assert any(li["total_discount"] > 0 for o in orders for li in o["line_items"])
    assert {s["code"] for o in orders for s in o["shipping_lines"]} == {"GHN", "GHTK", "VTP"}
    assert all(o["shipping_lines"] for o in orders if o["source_name"] in ("web", "shopee"))
    pos = [o for o in orders if o["source_name"] == "pos"]
    assert any(o["customer"] is None for o in pos)
    business = [o for o in orders if any(a["name"] == "vat_tax_code" for a in o["note_attributes"])]
    assert 0.15 < len(business) / len(orders) < 0.45
    for order in business:
        names = {a["name"] for a in order["note_attributes"]}
        assert {"vat_tax_code", "vat_company_name", "vat_company_address", "vat_email"} <= names
    assert {o["location_id"] for o in orders} == {1001, 1002}
    assert all(1 <= len(o["line_items"]) <= 4 for o in orders)
