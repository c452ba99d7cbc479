"""Inventory documents in the Haravan simulator (reference amis.md §13): adjustments with signed lines,
transfers Active → Received, purchase receives and returns with their list quirks, and balances that move with
every one of them."""

import pytest

from sandbox.haravan.inventory_balances import STARTING_STOCK

SHIRT_S, SHIRT_M = 1010000001, 1010000002  # product 1000000101 (ASM-OX-S, ASM-OX-M)
HANOI, HCM = 1001, 1002


def balance(client, loc, variant):
    resp = client.get("/com/inventory_locations.json", query={"location_ids": loc, "variant_ids": variant})
    assert resp.status == 200, resp.text
    (row,) = resp.json()["inventory_locations"]
    return row


def adjust(client, lines, *, type="adjust", reason="damaged", location=HANOI):
    body = {"inventory": {"location_id": location, "type": type, "reason": reason, "line_items": lines}}
    return client.post("/com/inventories/adjustorset.json", body)


def control(client, path, body):
    resp = client.post(f"/_sandbox/inventory/{path}", body)
    assert resp.status < 300, resp.text
    return resp.json()


def test_an_adjustment_has_signed_lines_and_costs_and_moves_stock(client):
    resp = adjust(
        client,
        [{"product_variant_id": SHIRT_S, "quantity": -11}, {"product_variant_id": SHIRT_M, "quantity": 4}],
    )
    assert resp.status == 201, resp.text
    doc = resp.json()["adjustment"]
    assert doc["adjust_number"].startswith("IA")
    by_variant = {line["product_variant_id"]: line for line in doc["line_items"]}
    assert by_variant[SHIRT_S]["quantity"] == -11 and by_variant[SHIRT_S]["cost_amount"] < 0
    assert by_variant[SHIRT_M]["quantity"] == 4 and by_variant[SHIRT_M]["cost_amount"] > 0
    assert doc["total_cost"] == sum(line["cost_amount"] for line in doc["line_items"])
    assert balance(client, HANOI, SHIRT_S)["qty_onhand"] == STARTING_STOCK - 11
    assert balance(client, HANOI, SHIRT_M)["qty_onhand"] == STARTING_STOCK + 4
    assert balance(client, HCM, SHIRT_S)["qty_onhand"] == STARTING_STOCK
    detail = client.get(f"/com/inventories/adjustments/{doc['id']}.json").json()["adjustment"]
    assert detail == doc


def test_a_count_sets_on_hand_and_leaves_unchanged_lines_out(client):
    resp = adjust(
        client,
        [
            {"product_variant_id": SHIRT_S, "quantity": 45},
            {"product_variant_id": SHIRT_M, "quantity": STARTING_STOCK},
        ],
        type="set",
        reason="shrinkage",
    )
    doc = resp.json()["adjustment"]
    assert [(line["product_variant_id"], line["quantity"]) for line in doc["line_items"]] == [(SHIRT_S, -5)]
    assert balance(client, HANOI, SHIRT_S)["qty_onhand"] == 45
    nothing = adjust(
        client, [{"product_variant_id": SHIRT_S, "quantity": 45}], type="set", reason="shrinkage"
    )
    assert nothing.status == 422


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": "lost-in-a-fire"}, "reason"),
        ({"reason": None}, "reason"),
        ({"type": "add"}, "type"),
        ({"line_items": [{"product_variant_id": SHIRT_S, "quantity": 1.5}]}, "line_items[0].quantity"),
        (
            {"line_items": [{"product_variant_id": SHIRT_S, "quantity": -(STARTING_STOCK + 1)}]},
            "line_items.quantity",
        ),
        ({"line_items": [{"product_variant_id": 42, "quantity": 1}]}, "line_items[0].product_variant_id"),
        ({"line_items": [{"product_variant_id": SHIRT_S, "quantity": 1}] * 101}, "line_items"),
        ({"location_id": 999}, "location_id"),
    ],
)
def test_what_an_adjustment_refuses(client, change, field):
    body = {
        "location_id": HANOI,
        "type": "adjust",
        "reason": "damaged",
        "line_items": [{"product_variant_id": SHIRT_S, "quantity": 1}],
    }
    resp = client.post("/com/inventories/adjustorset.json", {"inventory": {**body, **change}})
    assert resp.status == 422
    assert field in resp.json()["errors"]
    assert balance(client, HANOI, SHIRT_S)["qty_onhand"] == STARTING_STOCK


def test_adjustment_lists_count_filter_and_ignore_updated_at_min(client):
    for location in (HANOI, HCM, HANOI):
        adjust(client, [{"product_variant_id": SHIRT_S, "quantity": 1}], location=location)
    rows = client.get("/com/inventories/adjustments.json").json()["adjustments"]
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)  # newest first
    assert client.get("/com/inventories/adjustments/count.json").json() == {"count": 3}
    only_hanoi = client.get("/com/inventories/adjustments.json", query={"location_id": HANOI}).json()
    assert {r["location_id"] for r in only_hanoi["adjustments"]} == {HANOI}
    assert client.get("/com/inventories/adjustments/count.json", query={"location_id": HCM}).json() == {
        "count": 1
    }
    future = client.get("/com/inventories/adjustments.json", query={"updated_at_min": "2999-01-01T00:00:00Z"})
    assert len(future.json()["adjustments"]) == 3
    since = client.get("/com/inventories/adjustments.json", query={"since_id": rows[-1]["id"]}).json()
    assert len(since["adjustments"]) == 2
    paged = client.get("/com/inventories/adjustments.json", query={"limit": 2, "page": 2}).json()
    assert [r["id"] for r in paged["adjustments"]] == [rows[-1]["id"]]


def test_a_transfer_moves_out_at_active_and_in_at_received(client, clock):
    body = {
        "transfer": {
            "from_loc_id": HANOI,
            "to_loc_id": HCM,
            "reason": "bổ sung hàng",
            "line_items": [{"product_id": 1000000101, "product_variant_id": SHIRT_S, "quantity": 7}],
        }
    }
    created = client.post("/com/inventories/transfer.json", body)
    assert created.status == 201, created.text
    transfer = created.json()["transfer"]
    assert transfer["status"] == "Active" and transfer["transfer_number"].startswith("IT")
    assert "cost_amount" not in transfer["line_items"][0] and "cost" not in transfer["line_items"][0]
    assert balance(client, HANOI, SHIRT_S)["qty_onhand"] == STARTING_STOCK - 7
    assert balance(client, HCM, SHIRT_S)["qty_incoming"] == 7
    assert balance(client, HCM, SHIRT_S)["qty_onhand"] == STARTING_STOCK
    detail = client.get(f"/com/inventorytransfer/detail/{transfer['id']}.json")
    assert detail.json()["inventorytransfer"]["status"] == "Active"
    clock.advance(60)
    received = client.post(
        f"/com/inventories/transfer/{transfer['id']}/receive.json", {"transfer": {"user_id": 7}}
    )
    assert received.status == 200, received.text
    after = client.get(f"/com/inventorytransfer/detail/{transfer['id']}.json").json()["inventorytransfer"]
    assert after["status"] == "Received" and after["received_user"] == 7
    assert after["updated_at"] > transfer["updated_at"]
    assert balance(client, HCM, SHIRT_S)["qty_onhand"] == STARTING_STOCK + 7
    assert balance(client, HCM, SHIRT_S)["qty_incoming"] == 0
    again = client.post(f"/com/inventories/transfer/{transfer['id']}/receive.json", {"transfer": {}})
    assert again.status == 422


def test_transfer_lists_filter_by_origin_and_destination(client):
    for origin, destination in ((HANOI, HCM), (HCM, HANOI)):
        body = {
            "from_loc_id": origin,
            "to_loc_id": destination,
            "line_items": [{"product_variant_id": SHIRT_S, "quantity": 1}],
        }
        assert client.post("/com/inventories/transfer.json", {"transfer": body}).status == 201
    out_of_hanoi = client.get("/com/inventories/transfers.json", query={"from_location_id": HANOI}).json()
    assert [(t["from_loc_id"], t["to_loc_id"]) for t in out_of_hanoi["transfers"]] == [(HANOI, HCM)]
    into_hanoi = client.get("/com/inventories/transfers/count.json", query={"to_location_id": HANOI})
    assert into_hanoi.json() == {"count": 1}
    same = {
        "from_loc_id": HANOI,
        "to_loc_id": HANOI,
        "line_items": [{"product_variant_id": SHIRT_S, "quantity": 1}],
    }
    assert client.post("/com/inventories/transfer.json", {"transfer": same}).status == 422


def test_purchase_receives_list_without_lines_and_the_detail_has_them(client):
    draft = control(
        client,
        "purchase_receives",
        {
            "status": "Nháp",
            "location_id": HCM,
            "line_items": [
                {
                    "product_variant_id": SHIRT_S,
                    "quantity": 10,
                    "original_cost": 200000,
                    "discount_amount": 20000,
                    "lots": [{"lot_no": "L1", "expire_date": "2027-01-01", "quantity": 10}],
                }
            ],
        },
    )["purchase_receive"]
    assert balance(client, HCM, SHIRT_S)["qty_onhand"] == STARTING_STOCK  # a draft moves nothing
    (row,) = client.get("/com/v2/inventories/purchase_receives.json").json()["purchase_receives"]
    assert row["line_items"] is None and row["status"] == "Nháp"
    detail = client.get(f"/com/v2/inventories/purchase_receives/{draft['id']}.json").json()[
        "purchase_receive"
    ]
    (line,) = detail["line_items"]
    assert (line["cost"], line["total_cost"]) == (180000, 1800000)
    assert detail["total_cost"] == 1800000 and detail["supplier"]["name"]
    control(client, "status", {"kind": "purchase_receive", "id": draft["id"], "status": "Đã nhập hàng"})
    assert balance(client, HCM, SHIRT_S)["qty_onhand"] == STARTING_STOCK + 10
    booked = client.get(f"/com/v2/inventories/purchase_receives/{draft['id']}.json").json()[
        "purchase_receive"
    ]
    assert booked["status"] == "Đã nhập hàng" and booked["received_at"]


def test_a_return_says_3_in_the_list_and_its_words_in_the_detail(client):
    receive = control(
        client, "purchase_receives", {"line_items": [{"product_variant_id": SHIRT_S, "quantity": 5}]}
    )["purchase_receive"]
    assert balance(client, HANOI, SHIRT_S)["qty_onhand"] == STARTING_STOCK + 5
    returned = control(client, "purchase_returns", {"receive_id": receive["id"]})["purchase_return"]
    assert returned["return_number"].startswith("PR") and returned["ref_receive_id"] == receive["id"]
    (row,) = client.get("/com/v2/inventories/purchase_returns.json").json()["purchase_returns"]
    assert row["status"] == "3" and row["line_items"] is None
    detail = client.get(f"/com/v2/inventories/purchase_returns/{returned['id']}.json").json()[
        "purchase_return"
    ]
    assert detail["status"] == "Đã xuất trả" and detail["returned_at"]
    assert balance(client, HANOI, SHIRT_S)["qty_onhand"] == STARTING_STOCK
    after = client.get(f"/com/v2/inventories/purchase_receives/{receive['id']}.json").json()[
        "purchase_receive"
    ]
    assert after["status"] == "Đã xuất trả"
    nothing_left = client.post("/_sandbox/inventory/purchase_returns", {"receive_id": receive["id"]})
    assert nothing_left.status == 422


def test_a_purchase_order_is_filled_by_its_receive(client):
    order = control(
        client, "purchase_orders", {"line_items": [{"product_variant_id": SHIRT_S, "quantity": 3}]}
    )["purchase_order"]
    assert order["status"] == "Chưa nhận hàng" and order["line_item"]["received_items"] is None
    control(
        client,
        "purchase_receives",
        {
            "ref_purchase_order_id": order["id"],
            "line_items": [{"product_variant_id": SHIRT_S, "quantity": 3}],
        },
    )
    after = client.get(f"/com/inventories/purchase_orders/{order['id']}.json").json()["purchase_order"]
    assert after["status"] == "Hoàn thành" and after["line_item"]["not_received_items"] is None
    assert client.post("/com/inventories/purchase_orders.json", {"purchase_order": {}}).status == 405


def test_balances_limits_and_the_documented_typo(client):
    typo = client.get("/com/inventory_locations.json", query={"location_ids": HANOI, "vatiant_ids": SHIRT_S})
    assert [r["variant_id"] for r in typo.json()["inventory_locations"]] == [SHIRT_S]
    too_many = ",".join(str(SHIRT_S + i) for i in range(51))
    assert client.get("/com/inventory_locations.json", query={"variant_ids": too_many}).status == 422
    assert client.get("/com/inventory_locations.json", query={"location_ids": too_many}).status == 422
    everything = client.get("/com/inventory_locations.json", query={"limit": 1000}).json()
    assert len(everything["inventory_locations"]) == 56  # 28 variants at 2 locations, under the cap of 250
    first = client.get("/com/inventory_locations.json", query={"limit": 20}).json()["inventory_locations"]
    assert len(first) == 20
    rest = client.get("/com/inventory_locations.json", query={"limit": 250, "since_id": first[-1]["id"]})
    assert [r["id"] for r in first + rest.json()["inventory_locations"]] == sorted(
        r["id"] for r in everything["inventory_locations"]
    )
    newest = client.get(
        "/com/inventory_locations.json", query={"order": "id", "direction": "desc", "limit": 1}
    )
    assert newest.json()["inventory_locations"][0]["id"] > first[-1]["id"]


def test_inventory_needs_its_scope(client, sim):
    sim.tokens["orders-only"] = type(sim.tokens["demo-token"])(
        org_id=sim.tokens["demo-token"].org_id, scopes=frozenset({"com.read_orders"})
    )
    for path in (
        "/com/inventories/adjustments.json",
        "/com/inventories/transfers.json",
        "/com/v2/inventories/purchase_receives.json",
        "/com/inventory_locations.json",
    ):
        assert client.get(path, token="orders-only").status == 403
    reader = type(sim.tokens["demo-token"])(
        org_id=sim.tokens["demo-token"].org_id, scopes=frozenset({"com.read_inventories"})
    )
    sim.tokens["reader"] = reader
    assert client.get("/com/inventories/adjustments.json", token="reader").status == 200
    refused = client.post("/com/inventories/adjustorset.json", {"inventory": {}}, token="reader")
    assert refused.status == 403


def test_inventory_calls_share_the_shops_rate_limit(client, sim):
    sim.set_knobs(rate_capacity=3, rate_per_second=0.0)
    answers = [client.get("/com/inventories/transfers.json").status for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert client.get("/com/orders.json").status == 429
