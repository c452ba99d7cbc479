"""The demo's generator moves stock while it runs: receives, adjustments, transfers (received later) and
returns at the demo shop's locations, with the catalogue's SKUs, and the balances account for every unit."""

import responses

from sandbox import demo_data
from sandbox.generator import OrderGenerator
from sandbox.haravan import HaravanSimulator
from sandbox.haravan.inventory_balances import STARTING_STOCK
from sandbox.server import SandboxApp
from sandbox.testing import mount


def units(line):
    return line["quantity"] * int((line.get("variant_unit") or {}).get("ratio") or 1)


def test_the_generator_moves_stock_and_every_unit_is_accounted_for():
    sim = HaravanSimulator(seed_orders=False, webhook_background=False, webhook_sender=lambda *a: (200, ""))
    app = SandboxApp({"/haravan": sim})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        base = mount(mock, app)
        generator = OrderGenerator(f"{base}/haravan", "demo-token", seed=7, inventory_every=1)
        stats = generator.run(interval=0, max_rounds=28)
        generator.settle_stock_due(now=float("inf"))
    assert stats["errors"] == 0 and stats["created"] == 28
    assert min(stats[k] for k in ("receives", "adjustments", "transfers", "returns")) >= 1
    book = sim.shop().inventory
    skus = set(demo_data.VARIANTS_BY_SKU)
    locations = {loc["id"] for loc in demo_data.LOCATIONS}
    documents = [
        *book.adjustments.values(),
        *book.transfers.values(),
        *book.receives.values(),
        *book.returns.values(),
    ]
    assert all(line["sku"] in skus for doc in documents for line in doc["line_items"])
    assert {t["status"] for t in book.transfers.values()} == {"Received"}
    assert {a["location_id"] for a in book.adjustments.values()} <= locations
    assert {r["status"] for r in book.receives.values()} <= {"Đã nhập hàng", "Đã xuất trả"}

    expected = {variant_id: STARTING_STOCK * len(locations) for variant_id in book.costs}
    for doc in book.adjustments.values():
        for line in doc["line_items"]:
            expected[line["product_variant_id"]] += line["quantity"]
    for doc in book.receives.values():
        for line in doc["line_items"]:
            expected[line["product_variant_id"]] += units(line)
    for doc in book.returns.values():
        for line in doc["line_items"]:
            expected[line["product_variant_id"]] -= units(line)
    on_hand = dict.fromkeys(book.costs, 0)
    for (_loc, variant_id), balance in book.balances.items():
        on_hand[variant_id] += balance["qty_onhand"]
        assert balance["qty_onhand"] >= 0 and balance["qty_incoming"] == 0
    assert on_hand == expected
    app.close()
