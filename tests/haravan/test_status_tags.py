"""Tag write-back: our "name:value" tags are replaced when their value changes (DELETE …/tags.json), the
merchant's own tags stay, and every tag fits Haravan's 40 characters (the simulator refuses longer ones
with 422, as Haravan does)."""

import json

import pytest

from connectors.models import Connection, TargetAccount
from haravan import services as haravan_services
from haravan.client import TAG_MAX_LENGTH, HaravanClient
from meinvoice import services
from sandbox.generator import OrderGenerator
from syncjobs.models import SyncDocument
from tests import factories

BASE = "http://127.0.0.1:8100"
ORG = "200000001"
MERCHANT_TAGS = {"VIP", "khách sỉ"}


@pytest.fixture
def conn(db, sandbox):
    tenant = factories.tenant("Demo")
    factories.shop(tenant, org_id=ORG, token="demo-token")
    connection = Connection.objects.create(
        tenant=tenant, name="Demo → meInvoice", source_kind="haravan", source_key=ORG, target_kind="meinvoice"
    )
    connection.settings = {"meinvoice": {"writeback": "tag"}}
    connection.save()
    account = TargetAccount.objects.create(
        connection=connection,
        external_id="0101243150",
        is_default=True,
        name="Company",
        credentials={"app_id": "demo-app", "username": "demo", "password": "demo"},
    )
    services.sync_templates(account)
    return connection


def api():
    return HaravanClient(ORG, "demo-token")


def tags_of(order_id) -> list[str]:
    return haravan_services.split_tags(api().get_order(order_id)["tags"])


def haravan_calls(sandbox, method):
    return [c for c in sandbox["/haravan"].calls if c["method"] == method and "/tags.json" in c["path"]]


def issued_order_with_merchant_tags(sandbox):
    gen = OrderGenerator(f"{BASE}/haravan", "demo-token", seed=21)
    order = gen.create_random_order()
    if order["financial_status"] != "paid":
        gen.pay(order["id"])
    api().update_order(order["id"], tags=", ".join(sorted(MERCHANT_TAGS)))
    haravan_services.intake_order(ORG, api().get_order(order["id"]), trigger="test")
    services.sync_orders()
    doc = SyncDocument.objects.get(source_id=str(order["id"]), kind="invoice")
    assert doc.state == "done"
    return order["id"], doc


def status_changes_to(doc, status):
    """What refresh_status does when the tax authority answers: a new status, to be written back again."""
    doc.refresh_from_db()
    doc.result.update(send_tax_status=status, written_back=False)
    SyncDocument.objects.filter(pk=doc.pk).update(result=doc.result)
    services.write_back(doc.pk)


def test_after_two_status_changes_only_the_latest_status_tag_and_the_merchants_tags_remain(conn, sandbox):
    order_id, doc = issued_order_with_merchant_tags(sandbox)
    services.write_back(doc.pk)
    doc.refresh_from_db()
    ours = {
        f"einvoice_lookup_code:{doc.result['transaction_id']}",
        f"einvoice_number:{doc.result['inv_series']}-{doc.result['inv_no']}",
        "einvoice_mst:0101243150",
    }
    first = doc.result.get("send_tax_status") or 0
    assert set(tags_of(order_id)) == MERCHANT_TAGS | ours | {f"einvoice_tax_status:{first}"}

    status_changes_to(doc, 1)
    status_changes_to(doc, 2)

    tags = tags_of(order_id)
    assert set(tags) == MERCHANT_TAGS | ours | {"einvoice_tax_status:2"}
    assert len(tags) == len(set(tags))  # one of each
    deleted = haravan_calls(sandbox, "DELETE")
    assert len(deleted) == 2 and all(c["status"] == 200 for c in deleted)
    assert all(len(tag) <= TAG_MAX_LENGTH for tag in tags)


def test_writing_the_same_values_again_changes_nothing(conn, sandbox):
    order_id, doc = issued_order_with_merchant_tags(sandbox)
    services.write_back(doc.pk)
    before = tags_of(order_id)
    writes = len(haravan_calls(sandbox, "POST")) + len(haravan_calls(sandbox, "DELETE"))
    status_changes_to(doc, doc.result.get("send_tax_status") or 0)  # written again, same value
    assert tags_of(order_id) == before
    assert len(haravan_calls(sandbox, "POST")) + len(haravan_calls(sandbox, "DELETE")) == writes


def test_a_value_too_long_for_one_tag_is_cut_to_haravans_limit(conn, sandbox):
    order_id, doc = issued_order_with_merchant_tags(sandbox)
    long_code = "X" * 60
    haravan_services.write_back(
        doc, {"einvoice_lookup_code": long_code, "einvoice_number": "1C26TAA-7, 8"}, style="tag"
    )
    tags = tags_of(order_id)
    assert f"einvoice_lookup_code:{long_code}"[:TAG_MAX_LENGTH] in tags
    assert "einvoice_number:1C26TAA-7 8" in tags  # a comma would have split it in two
    assert all(len(tag) <= TAG_MAX_LENGTH for tag in tags) and set(tags) >= MERCHANT_TAGS


# --- the simulator, as strict as Haravan ------------------------------------------------------------------


def test_simulator_refuses_a_tag_longer_than_40_characters(sandbox, db):
    from tests.sandbox.helpers import Client as SimClient

    client = SimClient(sandbox)
    order = OrderGenerator(f"{BASE}/haravan", "demo-token", seed=3).create_random_order()
    too_long = "a" * (TAG_MAX_LENGTH + 1)
    for answer in (
        client.post(f"/com/orders/{order['id']}/tags.json", {"tags": f"ok,{too_long}"}),
        client.put(f"/com/orders/{order['id']}.json", {"order": {"tags": too_long}}),
    ):
        assert answer.status == 422
        errors = json.loads(answer.body)["errors"]
        assert "longer than 40 characters" in errors["tags"][0]
    assert not api().get_order(order["id"])["tags"]  # nothing changed, not even the short one
    fits = "a" * TAG_MAX_LENGTH
    assert client.post(f"/com/orders/{order['id']}/tags.json", {"tags": fits}).status == 200


def test_simulator_delete_tags_removes_only_those_named(sandbox, db):
    from tests.sandbox.helpers import Client as SimClient

    client = SimClient(sandbox)
    order = OrderGenerator(f"{BASE}/haravan", "demo-token", seed=4).create_random_order()
    api().add_tags(order["id"], ["VIP", "einvoice_tax_status:1", "einvoice_mst:0101243150"])
    left = api().remove_tags(order["id"], ["EINVOICE_TAX_STATUS:1", "not-there"])  # case-insensitive
    assert left == "VIP,einvoice_mst:0101243150"
    assert tags_of(order["id"]) == ["VIP", "einvoice_mst:0101243150"]
    blank = client("DELETE", f"/com/orders/{order['id']}/tags.json", body={"tags": ""})
    assert blank.status == 422 and "tags" in json.loads(blank.body)["errors"]
