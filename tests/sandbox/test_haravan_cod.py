"""COD in the Haravan simulator: fulfilments carry Haravan's COD fields, and the carrier's money reaching
the shop marks them received and adds a successful "Capture" written in Vietnamese, as the product reads
it."""

import json

import responses

from haravan import read
from sandbox.generator import OrderGenerator
from sandbox.haravan import HaravanSimulator
from sandbox.server import SandboxApp
from sandbox.testing import mount

from .helpers import line, make_order

COD = {"gateway": "Thanh toán khi giao hàng (COD)", "gateway_code": "COD"}
COD_DATES = ("cod_paid_date", "cod_receipt_date", "cod_pending_date", "cod_not_receipt_date")


def control(client, order, action, body=None):
    return client.post(f"/_sandbox/orders/{order['id']}/{action}", body or {}, token=None)


def current(client, order):
    return client.get(f"/com/orders/{order['id']}.json").json()["order"]


def test_a_cod_order_fulfilled_waits_for_its_money_with_haravans_fields(client, sim, clock):
    order = make_order(client, line_items=[line(quantity=2)], fulfillment_status="fulfilled", **COD)
    (fulfillment,) = order["fulfillments"]
    assert fulfillment["cod_amount"] == order["total_price"] > 0
    assert (fulfillment["carrier_cod_status_code"], fulfillment["carrier_status_code"]) == (
        "codpending",
        "delivered",
    )
    assert fulfillment["carrier_cod_status_name"] and fulfillment["delivered_date"] == order["created_at"]
    assert fulfillment["cod_pending_date"] == order["created_at"]
    assert [fulfillment[name] for name in COD_DATES if name != "cod_pending_date"] == [None, None, None]
    assert set(fulfillment) >= {"real_shipping_fee", "return_date", "tracking_company", "location_id"}
    assert order["financial_status"] == "pending"

    clock.advance(3600)
    sim.webhooks.drain()
    before = len(sim.webhooks.deliveries())
    answer = control(client, order, "cod_received")
    assert answer.status == 200, answer.text
    received = current(client, order)
    (fulfillment,) = received["fulfillments"]
    assert fulfillment["carrier_cod_status_code"] == "codreceipt"
    assert fulfillment["cod_receipt_date"] == fulfillment["cod_paid_date"] == received["updated_at"]
    assert fulfillment["cod_receipt_date"] > order["created_at"]
    capture = received["transactions"][-1]
    assert (capture["kind"], capture["status"], capture["gateway"]) == (
        "Capture",
        "Thành công",
        COD["gateway"],
    )
    assert capture["amount"] == order["total_price"] and capture["is_cod_gateway"] is True
    assert received["financial_status"] == "paid"
    assert answer.json()["transaction"] == capture
    sim.webhooks.drain()
    assert [w["topic"] for w in sim.webhooks.deliveries()[before:]] == ["orders/paid"]
    sale = read.read_order(received)
    (payment,) = [p for p in sale.payments if p.kind == "capture"]
    assert payment.succeeded and payment.amount == order["total_price"] and payment.gateway == COD["gateway"]

    again = control(client, order, "cod_received")
    assert again.status == 422 and "waiting for COD" in again.text


def test_the_carrier_collects_only_what_is_still_owed(client):
    order = make_order(client, line_items=[line(quantity=3)], **COD)
    total = round(order["total_price"])
    client.post(
        f"/com/orders/{order['id']}/transactions.json",
        {"transaction": {"kind": "capture", "amount": 100_000, "gateway": "Tiền mặt"}},
    )
    shipped = control(client, order, "fulfil", {"tracking_company": "GHN", "real_shipping_fee": 31_900})
    assert shipped.status == 200, shipped.text
    fulfillment = shipped.json()["fulfillment"]
    assert fulfillment["cod_amount"] == total - 100_000 and fulfillment["real_shipping_fee"] == 31_900
    assert current(client, order)["fulfillment_status"] == "fulfilled"
    assert control(client, order, "fulfil").status == 422  # nothing left to ship
    control(client, order, "cod_received")
    received = current(client, order)
    assert received["transactions"][-1]["amount"] == total - 100_000
    assert received["financial_status"] == "paid"


def test_a_cod_amount_above_what_is_owed_captures_only_the_debt(client):
    order = make_order(client, line_items=[line()], **COD)
    control(client, order, "fulfil", {"cod_amount": round(order["total_price"]) + 50_000})
    body = control(client, order, "cod_received").json()
    assert body["collected"] == order["total_price"] + 50_000
    assert body["transaction"]["amount"] == order["total_price"]


def test_orders_without_cod_have_none_and_nothing_to_receive(client):
    paid = make_order(client, financial_status="paid", fulfillment_status="fulfilled", gateway="Tiền mặt")
    (fulfillment,) = paid["fulfillments"]
    assert (fulfillment["cod_amount"], fulfillment["carrier_cod_status_code"]) == (0, "none")
    assert all(fulfillment[name] is None for name in COD_DATES)
    assert control(client, paid, "cod_received").status == 422
    assert client.post("/_sandbox/orders/999/cod_received", {}, token=None).status == 404
    cancelled = make_order(client, **COD)
    client.post(f"/com/orders/{cancelled['id']}/cancel.json", {"reason": "customer"})
    assert control(client, cancelled, "fulfil").status == 422


def test_the_fulfilment_webhook_carries_the_cod_fields(client, sim, sender):
    order = make_order(client, **COD)
    sim.webhooks.drain()
    control(client, order, "fulfil")
    sim.webhooks.drain()
    body = json.loads(sender.calls[-1]["body"])
    assert sender.topics()[-1] == "orders/updated"
    assert body["fulfillments"][0]["carrier_cod_status_code"] == "codpending"


def test_the_order_generator_settles_cod_orders_through_the_carrier():
    sim = HaravanSimulator(seed_orders=False, webhook_background=False, webhook_sender=lambda *a: (200, ""))
    app = SandboxApp({"/haravan": sim})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        base = mount(mock, app)
        generator = OrderGenerator(f"{base}/haravan", "demo-token", seed=5, cancel_share=0, pay_share=1)
        generator.run(interval=0, max_rounds=15)
        generator.settle_due(now=float("inf"))
    orders = [o for shop in sim.shops.values() for o in shop.orders.values()]
    cod = [o for o in orders if o["gateway_code"] == "COD"]
    assert cod and generator.stats["errors"] == 0
    for order in cod:
        (fulfillment,) = order["fulfillments"]
        assert fulfillment["carrier_cod_status_code"] == "codreceipt" and fulfillment["tracking_company"]
        assert order["transactions"][-1]["status"] == "Thành công" and order["financial_status"] == "paid"
    others = [o for o in orders if o["gateway_code"] != "COD"]
    assert all(o["financial_status"] == "paid" for o in others)
    app.close()
