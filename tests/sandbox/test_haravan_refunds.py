"""Refunds in the Haravan simulator, as Haravan's Refund page shows them: goods back and money back apart,
refund transactions written negative with the status in Vietnamese, and only successful money counting."""

import pytest

from .helpers import line, make_order


def refunds_path(order):
    return f"/com/orders/{order['id']}/refunds.json"


def order_of(client, order):
    return client.get(f"/com/orders/{order['id']}.json").json()["order"]


def test_haravans_documented_example_restock_twice_then_money_alone(client):
    order = make_order(client, line_items=[line(quantity=3)], financial_status="paid")
    line_id = order["line_items"][0]["id"]
    restock = {"restock": True, "note": "wrong size", "transactions": []}
    one = client.post(
        refunds_path(order),
        {"refund": {**restock, "refund_line_items": [{"line_item_id": line_id, "quantity": 1}]}},
    )
    two = client.post(
        refunds_path(order),
        {"refund": {**restock, "refund_line_items": [{"line_item_id": line_id, "quantity": 2}]}},
    )
    money = client.post(
        refunds_path(order),
        {"refund": {"note": "hoàn tiền", "transactions": [{"kind": "refund", "amount": 150000}]}},
    )
    assert [r.status for r in (one, two, money)] == [201, 201, 201]
    first = one.json()["refund"]
    assert first["transactions"] == [] and first["restock"] is True
    (item,) = first["refund_line_items"]
    assert item["line_item_id"] == line_id and item["quantity"] == 1
    assert item["line_item"]["id"] == 0 and item["line_item"]["quantity"] == 3  # Haravan's own snapshot
    given = money.json()["refund"]
    assert given["refund_line_items"] == [] and given["restock"] is None
    (tx,) = given["transactions"]
    assert tx["kind"] == "refund" and tx["amount"] == -150000.0 and tx["status"] == "Thành công"
    listed = client.get(refunds_path(order)).json()["refunds"]
    assert [r["id"] for r in listed] == [first["id"], two.json()["refund"]["id"], given["id"]]
    one_back = client.get(f"/com/orders/{order['id']}/refunds/{first['id']}.json").json()["refund"]
    assert one_back == first
    after = order_of(client, order)
    assert after["refunds"] == listed and after["financial_status"] == "partially_refunded"
    assert after["transactions"][-1]["id"] == tx["id"]


def test_units_and_money_are_limited_to_what_is_left(client):
    order = make_order(client, line_items=[line(quantity=2)], financial_status="paid")
    line_id = order["line_items"][0]["id"]

    def refund(**body):
        return client.post(refunds_path(order), {"refund": body})

    assert refund(refund_line_items=[{"line_item_id": 1, "quantity": 1}]).status == 422  # not on the order
    assert refund(refund_line_items=[{"line_item_id": line_id, "quantity": 3}]).status == 422
    assert refund(refund_line_items=[{"line_item_id": line_id, "quantity": 0}]).status == 422
    assert refund(transactions=[{"kind": "capture", "amount": 1000}]).status == 422
    assert refund(transactions=[{"kind": "refund", "amount": order["total_price"] + 1}]).status == 422
    assert refund().status == 422  # neither goods nor money
    assert refund(refund_line_items=[{"line_item_id": line_id, "quantity": 2}]).status == 201
    again = refund(refund_line_items=[{"line_item_id": line_id, "quantity": 1}])
    assert again.status == 422 and "between 1 and 0" in again.text
    everything = refund(transactions=[{"kind": "refund", "amount": order["total_price"]}])
    assert everything.status == 201
    assert order_of(client, order)["financial_status"] == "refunded"


@pytest.mark.parametrize("status", ["success", "Success", "SUCCESS", "Thành công"])
def test_a_successful_refund_in_any_form_counts(client, sim, status):
    sim.set_knobs(refund_transaction_status=status)
    order = make_order(client, financial_status="paid")
    body = {"refund": {"transactions": [{"kind": "refund", "amount": 1000}]}}
    assert client.post(refunds_path(order), body).json()["refund"]["transactions"][0]["status"] == status
    assert order_of(client, order)["financial_status"] == "partially_refunded"


@pytest.mark.parametrize("status", ["pending", "failure", "Thất bại"])
def test_money_that_did_not_move_does_not_count(client, sim, status):
    sim.set_knobs(refund_transaction_status=status)
    order = make_order(client, financial_status="paid")
    body = {"refund": {"transactions": [{"kind": "refund", "amount": order["total_price"]}]}}
    assert client.post(refunds_path(order), body).status == 201
    after = order_of(client, order)
    assert after["financial_status"] == "paid" and after["refunds"][0]["transactions"][0]["status"] == status
    sim.set_knobs(refund_transaction_status="Thành công")  # the money can still be given back for real
    assert client.post(refunds_path(order), body).status == 201
    assert order_of(client, order)["financial_status"] == "refunded"


def test_a_refund_is_announced_by_webhook(client, sim, sender):
    order = make_order(client, financial_status="paid")
    sim.webhooks.drain()
    before = len(sender.topics())
    client.post(refunds_path(order), {"refund": {"transactions": [{"kind": "refund", "amount": 1000}]}})
    sim.webhooks.drain()
    assert sender.topics()[before:] == ["orders/updated"]
