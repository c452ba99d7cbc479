"""Posting orders to AMIS companies, against the in-process simulator and the real test database: the
documents an order makes, the save batches per company, the callbacks that arrive through our own
endpoint, and what happens when an order changes before and after the accountant generates the voucher."""

import copy
import json

import pytest
import requests
from django.test import Client

from amis import callbacks, posting, sending
from connectors.models import Connection, RoutingRule, TargetAccount
from haravan import services as haravan_services
from sandbox.generator import OrderGenerator
from sandbox.testing import django_client_sender
from syncjobs.models import InboundEvent, SyncAttempt, SyncDocument
from tests import factories

BASE = "http://127.0.0.1:8100"
ORG = "200000001"
State = SyncDocument.State
MAPPING = {
    "locations": {"1001": {"stock_code": "KHO01"}, "1002": {"stock_code": "KHO02"}},
    "parties": {"walk_in": "KHACHLE", "by_channel": {"shopee": "KHACHLE_SHOPEE"}},
    "gateways": {"Thanh toán khi giao hàng (COD)": "cash", "Chuyển khoản ngân hàng": "bank"},
    "default_gateway": "cash",
}


@pytest.fixture
def sim(sandbox):
    amis = sandbox.mounts["/amis"]
    amis.webhooks.sender = django_client_sender(Client())  # callbacks reach our own endpoint
    amis.set_knobs(auto_generate=False)  # the accountant generates when a test says so
    return amis


@pytest.fixture
def connection(db, sim):
    tenant = factories.tenant("Books")
    factories.shop(tenant, org_id=ORG, token="demo-token")
    conn = Connection.objects.create(
        tenant=tenant, name="Demo → AMIS", source_kind="haravan", source_key=ORG, target_kind="amis"
    )
    for code, default in (("demo-hanoi", True), ("demo-hcm", False), ("demo-tmdt", False)):
        TargetAccount.objects.create(
            connection=conn,
            external_id=code,
            is_default=default,
            name=code,
            credentials={"access_code": "demo"},
            settings={"mapping": MAPPING},
        )
    RoutingRule.objects.create(
        connection=conn,
        dimension="source",
        value="shopee",
        account=conn.accounts.get(external_id="demo-tmdt"),
    )
    RoutingRule.objects.create(
        connection=conn, dimension="location", value="1002", account=conn.accounts.get(external_id="demo-hcm")
    )
    return conn


def generator(seed=5):
    return OrderGenerator(f"{BASE}/haravan", "demo-token", seed=seed)


def order_of(order_id):
    from haravan.client import HaravanClient

    return HaravanClient(ORG, "demo-token").get_order(order_id)


def paid_order(seed=5, **changes):
    gen = generator(seed)
    order = gen.create_random_order()
    if order["financial_status"] != "paid":
        gen.pay(order["id"])
    order = order_of(order["id"])
    order.update(changes)
    return order


def take(order):
    haravan_services.intake_order(ORG, order, trigger="test")


def post():
    return sending.sync_orders()


def deliver(sim):
    """The simulator's due callbacks reach our endpoint; a worker then applies the stored events."""
    sim.advance(5)
    sim.pump(release_held=True)
    sim.webhooks.drain()
    for event in InboundEvent.objects.filter(source_kind="amis", status=InboundEvent.Status.PENDING):
        callbacks.process_event(event.pk)


def generate(sim, company, org_refid=None):
    body = {"company": company, **({"org_refid": org_refid} if org_refid else {})}
    requests.post(f"{BASE}/amis/_sandbox/generate", json=body, timeout=5).raise_for_status()


def proposals(company):
    resp = requests.get(f"{BASE}/amis/_sandbox/proposals", params={"company": company}, timeout=5)
    resp.raise_for_status()
    return resp.json()["proposals"][company]


def docs(conn, **filters):
    return list(SyncDocument.objects.filter(connection=conn, **filters).order_by("pk"))


def test_a_paid_order_becomes_a_proposal_then_a_generated_voucher_on_the_routed_company(connection, sim):
    order = paid_order()
    take(order)
    (main,) = docs(connection, kind="sales_voucher")
    assert main.state == State.QUEUED, main.last_error
    company = main.account.external_id
    assert post() >= 1
    main.refresh_from_db()
    assert main.state == State.SENT and main.result["amis"] == posting.SENT
    assert [p["org_refid"] for p in proposals(company) if p["voucher_type"] == 13] == [main.target_ref]

    deliver(sim)
    main.refresh_from_db()
    assert main.state == State.SENT and main.result["amis"] == posting.PROPOSAL
    generate(sim, company, main.target_ref)
    deliver(sim)
    main.refresh_from_db()
    assert main.state == State.DONE and main.result["amis"] == posting.GENERATED
    assert main.result["refno"].startswith("BH")
    lines = list(SyncAttempt.objects.filter(document=main).values_list("message", flat=True))
    assert any(line.startswith(f"[AMIS {company}] Voucher BH") for line in lines), lines


def test_routing_rules_choose_the_company(connection, sim):
    shopee = paid_order(seed=5, source_name="shopee")
    take(shopee)
    (main,) = docs(connection, source_id=str(shopee["id"]), kind="sales_voucher")
    assert main.account.external_id == "demo-tmdt"
    assert main.payload["voucher"]["account_object_code"] == "KHACHLE_SHOPEE"


def test_a_resend_after_a_lost_answer_updates_the_proposal_and_never_doubles_it(connection, sim):
    take(paid_order())
    (main,) = docs(connection, kind="sales_voucher")
    sim.set_knobs(timeout_after_accept_rate=1.0, lost_answer_mode="504")
    post()
    main.refresh_from_db()
    assert main.state == State.RETRYING
    sim.set_knobs(timeout_after_accept_rate=0.0)
    SyncDocument.objects.filter(pk=main.pk).update(next_retry_at=None)
    post()
    main.refresh_from_db()
    assert main.state == State.SENT
    company = main.account.external_id
    same = [p for p in proposals(company) if p["org_refid"] == main.target_ref]
    assert len(same) == 1 and same[0]["versions"] >= 2


def test_a_cancelled_order_withdraws_its_waiting_proposal(connection, sim):
    order = paid_order()
    take(order)
    post()
    (main,) = docs(connection, kind="sales_voucher")
    first = main.target_ref
    cancelled = {
        **copy.deepcopy(order),
        "cancelled_at": "2026-11-23T09:00:00Z",
        "updated_at": "2099-01-01T00:00:00Z",
    }
    take(cancelled)
    post()
    main.refresh_from_db()
    assert main.state == State.SKIPPED, main.last_error
    statuses = {p["org_refid"]: p["status"] for p in proposals(main.account.external_id)}
    assert statuses[first] == "deleted"


def test_a_changed_order_replaces_its_waiting_proposal_under_a_new_revision(connection, sim):
    order = paid_order()
    take(order)
    post()
    (main,) = docs(connection, kind="sales_voucher")
    first = main.target_ref
    changed = copy.deepcopy(order)
    changed["note_attributes"] = [  # the buyer asks for a VAT invoice: booked to their own object now
        {"name": "vat_tax_code", "value": "0101243150"},
        {"name": "vat_company_name", "value": "Công ty Cổ phần MISA"},
    ]
    changed["updated_at"] = "2099-01-01T00:00:00Z"
    take(changed)
    post()
    main.refresh_from_db()
    assert main.state == State.SENT and main.result["revision"] == 1 and main.target_ref != first
    statuses = {p["org_refid"]: p["status"] for p in proposals(main.account.external_id)}
    assert statuses[first] == "deleted" and statuses[main.target_ref] == "proposal"


def test_a_refund_after_generation_becomes_a_return_voucher_never_a_second_sale(connection, sim):
    order = paid_order()
    take(order)
    post()
    (main,) = docs(connection, kind="sales_voucher")
    company = main.account.external_id
    generate(sim, company, main.target_ref)
    deliver(sim)
    main.refresh_from_db()
    assert main.state == State.DONE
    line = order["line_items"][0]
    refunded = copy.deepcopy(order)
    refunded["refunds"] = [
        {
            "id": 71,
            "created_at": "2026-11-22T09:00:00Z",
            "refund_line_items": [{"line_item_id": line["id"], "quantity": 1, "line_item": line}],
            "transactions": [{"kind": "refund", "status": "success", "amount": -10000}],
        }
    ]
    refunded["updated_at"] = "2099-01-01T00:00:00Z"
    take(refunded)
    post()
    (ret,) = docs(connection, kind="return:71")
    assert ret.state == State.SENT, ret.last_error
    assert ret.payload["voucher"]["voucher_type"] == 12 and ret.payload["voucher"]["total_amount"] == 10000
    sales = [p for p in proposals(company) if p["voucher_type"] == 13]
    assert len(sales) == 1


def test_a_refused_voucher_waits_for_a_person_with_amis_words_and_a_retry_sends_it_again(connection, sim):
    wrong = {"mapping": {**MAPPING, "accounts": {"revenue_goods": "5119"}}}  # no such account in AMIS
    connection.accounts.update(settings=wrong)
    take(paid_order())
    post()
    (main,) = docs(connection, kind="sales_voucher")
    assert main.state == State.FAILED and "5119" in main.last_error
    connection.accounts.update(settings={"mapping": MAPPING})
    assert posting.retry([main]) == 1
    post()
    main.refresh_from_db()
    assert main.state == State.SENT


def test_a_disconnected_company_holds_its_documents_for_a_person(connection, sim):
    take(paid_order())
    (main,) = docs(connection, kind="sales_voucher")
    sim.set_knobs(app_disconnected="*")
    post()
    main.refresh_from_db()
    assert main.state == State.BLOCKED and "AMIS" in main.last_error


def test_a_lost_callback_is_found_among_amis_undelivered_results(connection, sim, settings):
    settings.AMIS_CALLBACK_WAIT_SECONDS = 0
    sim.set_knobs(callback_lost_rate=1.0)
    take(paid_order())
    post()
    deliver(sim)
    (main,) = docs(connection, kind="sales_voucher")
    assert main.result["amis"] == posting.SENT  # the "accepted" callback never came
    assert callbacks.check_waiting() >= 1
    main.refresh_from_db()
    assert main.result["amis"] == posting.PROPOSAL


def test_a_callback_with_a_bad_signature_is_refused_in_amis_envelope_and_kept(connection, sim):
    body = b'{"data": "[]", "signature": "00", "org_company_code": "demo-hcm", "data_type": 1}'
    resp = Client().post("/callbacks/amis/", data=body, content_type="application/json")
    assert resp.status_code == 200
    assert resp.json()["Success"] is False and resp.json()["ErrorCode"] == "InvalidParam"
    rejected = InboundEvent.objects.get(source_kind="amis", status=InboundEvent.Status.REJECTED)
    assert "signature" in rejected.error


def test_a_callback_for_an_unknown_company_is_refused(connection, sim, settings):
    from amis.client import callback_signature

    signed = {
        "data": "[]",
        "signature": callback_signature("[]", settings.AMIS_APP_ID),
        "org_company_code": "nobody",
        "data_type": 1,
    }
    body = json.dumps(signed).encode()
    resp = Client().post("/callbacks/amis/", data=body, content_type="application/json")
    assert resp.json()["Success"] is False
    assert InboundEvent.objects.filter(source_kind="amis", status=InboundEvent.Status.REJECTED).exists()


def test_repeated_callbacks_apply_once(connection, sim):
    sim.set_knobs(callback_duplicate_rate=1.0)
    take(paid_order())
    post()
    deliver(sim)
    (main,) = docs(connection, kind="sales_voucher")
    accepted = SyncAttempt.objects.filter(document=main, action="callback")
    assert accepted.count() == 1


def test_orders_held_before_amis_could_post_become_sales_vouchers_a_retry_posts(connection, sim):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("amis.migrations.0004_held_orders_can_post_now")
    order = paid_order()
    account = connection.accounts.get(external_id="demo-hanoi")
    held = SyncDocument.objects.create(
        connection=connection,
        account=account,
        source_type="order",
        source_id=str(order["id"]),
        source_label=order["name"],
        kind="document",
        state=State.BLOCKED,
        source_data=order,
        last_error="No processor for MISA AMIS accounting documents yet",
    )
    migration.rename(apps, None)
    held.refresh_from_db()
    assert held.kind == "sales_voucher" and held.state == State.BLOCKED
    assert held.last_error.startswith("AMIS can post this order now")
    assert held.error_display.startswith("AMIS đã có thể")  # in the reader's language
    assert posting.retry([held]) == 1
    post()
    held.refresh_from_db()
    assert held.state == State.SENT and held.target_ref


def unknown_sku_order():
    order = paid_order()
    for line in order["line_items"]:
        line["sku"] = "SKU-MOI-01"
        line["variant_id"] = 999001
    return order


def test_an_item_amis_lacks_holds_the_order_with_the_codes_or_is_created_with_the_voucher(connection, sim):
    from amis import services

    for account in connection.accounts.all():
        services.sync_master_data(account, data_types=[2])
    order = unknown_sku_order()
    take(order)
    (main,) = docs(connection, kind="sales_voucher")
    assert main.state == State.BLOCKED and "SKU-MOI-01" in main.last_error

    for account in connection.accounts.all():
        account.settings = {"mapping": {**MAPPING, "create_missing_items": True}}
        account.save()
    assert posting.retry([main]) == 1
    post()
    main.refresh_from_db()
    assert main.state == State.SENT, main.last_error
    created = [i for i in main.payload["dictionary"] if i["dictionary_type"] == 3]
    assert [i["inventory_item_code"] for i in created] == ["SKU-MOI-01"]
    company = sim.companies[main.account.external_id]
    assert any(row.get("inventory_item_code") == "SKU-MOI-01" for row in company.dictionary[2])
    # known from now on: the next order with it does not push the item again
    again = unknown_sku_order()
    take(again)
    (second,) = docs(connection, kind="sales_voucher", source_id=str(again["id"]))
    assert not [i for i in second.payload["dictionary"] if i["dictionary_type"] == 3]


def test_sync_products_and_customers_upsert_the_shop_s_lists_into_a_company(connection, sim):
    from amis import services
    from connectors.models import BuyerProfile, CatalogItem

    tenant = connection.tenant
    for n, (sku, unit) in enumerate((("SKU-MOI-02", "Thùng"), ("SKU-AO-01", "Cái"), ("", "Cái"))):
        CatalogItem.objects.create(
            tenant=tenant,
            source_kind="haravan",
            source_key=ORG,
            item_id=str(900 + n),
            sku=sku,
            name=f"Hàng {n}",
            unit=unit,
        )
    BuyerProfile.objects.create(
        tenant=tenant,
        source_kind="haravan",
        source_key=ORG,
        buyer_id="555",
        name="Nguyễn Văn A",
        company="Công ty Cổ phần MISA",
        tax_code="0101243150",
        email="a@example.com",
    )
    account = connection.accounts.get(external_id="demo-hcm")
    services.sync_master_data(account, data_types=[4])
    assert services.sync_products(account) == 3  # two items with a SKU, and the unit AMIS lacks
    company = sim.companies["demo-hcm"]
    item = next(r for r in company.dictionary[2] if r.get("inventory_item_code") == "SKU-MOI-02")
    assert item["unit_name"] == "Thùng"
    assert any(r.get("unit_name") == "Thùng" for r in company.dictionary[4])
    assert services.sync_customers(account) == 1
    customer = next(r for r in company.dictionary[1] if r.get("account_object_code") == "KH555")
    assert (
        customer["company_tax_code"] == "0101243150"
        and customer["account_object_name"] == "Công ty Cổ phần MISA"
    )


def test_a_proposal_the_accountant_deleted_is_shown_to_a_person_never_silently_posted_again(connection, sim):
    from sandbox.amis.helpers import key

    order = paid_order()
    take(order)
    post()
    (main,) = docs(connection, kind="sales_voucher")
    first = main.target_ref
    with sim.lock:  # the accountant deletes the proposal in AMIS's screens (no callback comes)
        sim.companies[main.account.external_id].proposals[key(first)].status = "deleted"
    changed = {
        **copy.deepcopy(order),
        "note_attributes": [
            {"name": "vat_tax_code", "value": "0101243150"},
            {"name": "vat_company_name", "value": "Công ty Cổ phần MISA"},
        ],
        "updated_at": "2099-01-01T00:00:00Z",
    }
    take(changed)
    post()
    main.refresh_from_db()
    assert main.state == State.BLOCKED and "no longer has the proposal" in main.last_error
    take({**changed, "note": "again", "updated_at": "2099-01-02T00:00:00Z"})  # the order changes once more
    post()
    main.refresh_from_db()
    assert main.state == State.BLOCKED, "held for a person, not re-posted by an order change"
    assert posting.retry([main]) == 1
    post()
    main.refresh_from_db()
    assert main.state == State.SENT and main.target_ref != first and main.result["revision"] >= 1


def test_an_order_cancelled_while_its_replacement_waits_leaves_no_proposal_in_amis(connection, sim):
    order = paid_order()
    take(order)
    post()
    (main,) = docs(connection, kind="sales_voucher")
    first = main.target_ref
    changed = {
        **copy.deepcopy(order),
        "note_attributes": [
            {"name": "vat_tax_code", "value": "0101243150"},
            {"name": "vat_company_name", "value": "Công ty Cổ phần MISA"},
        ],
        "updated_at": "2099-01-01T00:00:00Z",
    }
    take(changed)  # its proposal is to be replaced: the deletion is queued, not sent yet
    main.refresh_from_db()
    assert main.state == State.QUEUED and main.result["delete"]["org_refid"] == first
    take({**changed, "cancelled_at": "2026-11-23T09:00:00Z", "updated_at": "2099-01-02T00:00:00Z"})
    post()
    main.refresh_from_db()
    assert main.state == State.SKIPPED, main.last_error
    live = [p for p in proposals(main.account.external_id) if p["status"] != "deleted"]
    assert live == []


def test_a_resend_answered_is_created_voucher_is_done_and_takes_its_number_from_the_late_callback(
    connection, sim
):
    take(paid_order())
    post()
    (main,) = docs(connection, kind="sales_voucher")
    generate(sim, main.account.external_id, main.target_ref)  # its callback is still on the way
    SyncDocument.objects.filter(pk=main.pk).update(state=State.RETRYING, next_retry_at=None)  # answer lost
    post()
    main.refresh_from_db()
    assert main.state == State.DONE and not main.result.get("refno")
    deliver(sim)
    main.refresh_from_db()
    assert main.result["refno"].startswith("BH")
    assert len([p for p in proposals(main.account.external_id) if p["voucher_type"] == 13]) == 1


def test_a_voucher_done_without_its_number_finds_it_among_amis_undelivered_results(connection, sim, settings):
    settings.AMIS_CALLBACK_WAIT_SECONDS = 0
    sim.set_knobs(callback_lost_rate=1.0)  # no callback reaches us: every result waits at AMIS
    take(paid_order())
    post()
    (main,) = docs(connection, kind="sales_voucher")
    generate(sim, main.account.external_id, main.target_ref)
    deliver(sim)
    SyncDocument.objects.filter(pk=main.pk).update(state=State.RETRYING, next_retry_at=None)  # answer lost
    post()
    main.refresh_from_db()
    assert main.state == State.DONE and not main.result.get("refno")
    callbacks.check_waiting()
    main.refresh_from_db()
    assert main.result["refno"].startswith("BH")


def test_a_callback_naming_a_whole_batch_moves_each_voucher_once(connection, sim):
    from amis.client import CallbackResult

    gen = generator(seed=9)
    for _ in range(4):
        order = gen.create_random_order()
        gen.pay(order["id"])
        take({**order_of(order["id"]), "source_name": "web", "location_id": 1002})
    post()
    sent = [
        d
        for d in docs(connection, kind="sales_voucher", state=State.SENT)
        if d.account.external_id == "demo-hcm"
    ]
    assert len(sent) >= 3
    deliver(sim)  # one save call per company: one callback naming all of the company's
    for doc in sent:
        doc.refresh_from_db()
        assert doc.result["amis"] == posting.PROPOSAL
        assert SyncAttempt.objects.filter(document=doc, action="callback").count() == 1
    again = [
        CallbackResult(d.target_ref, True, "", "", "s", 13, "", "", False, {}) for d in sent
    ]  # the same results again, from another session: applied once more would log again
    accounts = list(connection.accounts.all())
    assert callbacks.apply_all(accounts, 1, again) == 0
