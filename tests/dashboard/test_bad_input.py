"""Whatever a person (or a tampered form) sends, the answer is a page in words, never a 500."""

import uuid

import pytest

from connectors.models import Membership
from syncjobs.models import SyncDocument, SyncRun
from tests import factories


@pytest.fixture
def shop(db):
    tenant = factories.tenant("A")
    conn = factories.connection(tenant, factories.shop(tenant, org_id="111"))
    SyncDocument.objects.create(
        connection=conn, account=conn.accounts.get(), source_type="order", source_id="1", kind="invoice",
        state=SyncDocument.State.FAILED, source_label="#1",
    )  # fmt: skip
    owner = factories.user(tenant)
    accountant = factories.user(tenant, role=Membership.Role.ACCOUNTANT)
    return {"conn": conn, "owner": factories.signed_in(owner), "accountant": factories.signed_in(accountant)}


@pytest.mark.parametrize("path", ["/logs/", "/retry/", "/logs/export.csv"])
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_dates_no_document_can_have_are_refused_in_words(shop, path, day):
    answer = shop["accountant"].get(path, {"updated_to": day})
    if path == "/logs/export.csv":  # back to the list, where the filter says what is wrong
        assert answer.status_code == 302 and answer["Location"].startswith("/logs/?")
    else:
        assert answer.status_code == 200 and "between 2000 and 2099" in answer.content.decode()


def test_the_bulk_retry_list_updates_in_place(shop):
    answer = shop["accountant"].get(
        "/retry/", {"state": "failed"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="retry-results"
    )
    assert answer.status_code == 200 and "#1" in answer.content.decode()
    assert "<html" not in answer.content.decode()  # the results only


def test_tampered_document_ids_choose_nothing(shop):
    answer = shop["accountant"].post(
        "/retry/confirm/", {"state": "failed", "scope": "selected", "ids": ["²", "9" * 5000]}, follow=True
    )
    assert answer.status_code == 200 and not SyncRun.objects.exists()


def test_json_nested_deeper_than_any_order_is_refused_in_words(shop):
    answer = shop["owner"].post(
        f"/connections/{shop['conn'].pk}/mapping/preview/", {"order_json": "[" * 100_000}
    )
    assert answer.status_code == 200 and "not valid JSON" in answer.content.decode()


def test_a_manual_sync_from_year_one_is_refused(shop):
    answer = shop["owner"].post(
        f"/connections/{shop['conn'].pk}/sync/",
        {"date_from": "0001-01-01", "date_to": "2026-01-01", "request_token": str(uuid.uuid4())},
    )
    assert answer.status_code == 200 and "is before any shop" in answer.content.decode()
    assert not SyncRun.objects.exists()
