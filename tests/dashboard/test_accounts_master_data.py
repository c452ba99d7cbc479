"""The accounts screen's "Sync master data": offered per account by a target whose adapter says it copies
master data, owners only, the adapter's summary (or what went wrong, in words) shown in the account's row.

The target here is the test's own adapter (registered for the test, unregistered after), so the screen is
shown to work through the registry alone, whatever the target."""

import pytest

from connectors import registry
from connectors.http import ApiError, RetryableError
from connectors.models import Connection, Membership, TargetAccount
from connectors.text import Text
from tests import factories

HTMX = {"HTTP_HX_REQUEST": "true"}


class Ledger(registry.TargetAdapter):
    """A target whose accounts have master data: each sync is counted, and may be told to fail."""

    name = "testledger"
    label = "Test Ledger"
    family = "haravan_to_testledger"
    family_label = "Haravan → Test Ledger"
    tag_label = "LEDGER"
    source_kinds = ("haravan",)
    order_document_kind = "voucher"
    document_kinds = {"voucher": "Sales voucher"}
    credential_fields = (("access_code", "Access code", True),)
    syncs_master_data = True

    def __init__(self):
        self.synced: list[str] = []
        self.failure: Exception | None = None

    def sync_master_data(self, account):
        if self.failure is not None:
            raise self.failure
        self.synced.append(account.external_id)
        return Text("%(count)s branches and %(stocks)s warehouses read.", count=2, stocks=3)

    def on_document_changed(self, document, *, trigger=""):
        raise NotImplementedError


class NoMasterData(Ledger):
    name = "testplain"
    syncs_master_data = False


@pytest.fixture
def ledger():
    adapters = [registry.register_target(Ledger()), registry.register_target(NoMasterData())]
    yield adapters[0]
    for adapter in adapters:
        registry.unregister_target(adapter.name)


def ledger_connection(tenant, target="testledger", companies=("hcm", "hanoi")) -> Connection:
    conn = Connection.objects.create(
        tenant=tenant,
        name="Shop → Ledger",
        source_kind="haravan",
        source_key=factories.shop(tenant).org_id,
        target_kind=target,
    )
    for i, company in enumerate(companies):
        TargetAccount.objects.create(
            connection=conn,
            external_id=company,
            name=f"Company {company}",
            is_default=i == 0,
            credentials={"access_code": "secret-code"},
        )
    return conn


@pytest.fixture
def conn(tenant, ledger):
    return ledger_connection(tenant)


def signed_in(tenant, role=Membership.Role.OWNER):
    return factories.signed_in(factories.user(tenant, role=role))


def url(conn, account=None):
    base = f"/connections/{conn.pk}/accounts/"
    return base if account is None else f"{base}{account.pk}/master-data/"


def test_the_button_is_offered_on_every_account_of_a_target_that_syncs_master_data(conn, tenant):
    html = signed_in(tenant).get(url(conn)).content.decode()
    assert html.count("Sync master data") == 2
    for account in conn.accounts.all():
        assert url(conn, account) in html


def test_syncing_shows_the_adapters_summary_in_the_row_and_calls_it_once(conn, tenant, ledger):
    account = conn.accounts.get(external_id="hanoi")
    resp = signed_in(tenant).post(url(conn, account), **HTMX)
    assert resp.status_code == 200
    html = resp.content.decode()
    assert f'id="account-{account.pk}"' in html  # the row, swapped in place
    assert "[LEDGER hanoi] 2 branches and 3 warehouses read." in html
    assert 'class="notice ok"' in html
    assert ledger.synced == ["hanoi"]


def test_without_htmx_the_summary_comes_back_as_a_message(conn, tenant, ledger):
    account = conn.accounts.get(external_id="hcm")
    resp = signed_in(tenant).post(url(conn, account), follow=True)
    assert resp.redirect_chain[-1][0] == url(conn)
    assert "[LEDGER hcm] 2 branches and 3 warehouses read." in resp.content.decode()
    assert ledger.synced == ["hcm"]


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (ApiError("Access code refused"), "Check this account in Test Ledger"),
        (RetryableError("HTTP 503"), "did not answer properly this time"),
    ],
)
def test_a_failed_sync_says_what_went_wrong_and_what_to_do(conn, tenant, ledger, failure, words):
    ledger.failure = failure
    account = conn.accounts.get(external_id="hcm")
    html = signed_in(tenant).post(url(conn, account), **HTMX).content.decode()
    assert "Syncing the master data failed on [LEDGER hcm]" in html
    assert str(failure) in html and words in html
    assert 'class="notice bad"' in html


def test_an_unexpected_error_is_said_without_a_stack_trace(conn, tenant, ledger):
    ledger.failure = KeyError("organization_unit_id")
    account = conn.accounts.get(external_id="hcm")
    html = signed_in(tenant).post(url(conn, account), **HTMX).content.decode()
    assert "Syncing the master data failed on [LEDGER hcm]" in html
    assert "Traceback" not in html and "Try again in a few minutes" in html


def test_missing_credentials_are_said_before_anything_is_called(conn, tenant, ledger):
    account = conn.accounts.get(external_id="hcm")
    account.credentials = {}
    account.save()
    html = signed_in(tenant).post(url(conn, account), **HTMX).content.decode()
    assert "[LEDGER hcm] has no Access code yet: add it under Edit, then sync the master data." in html
    assert ledger.synced == []


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.ACCOUNTANT])
def test_only_owners_may_sync(conn, tenant, ledger, role):
    client = signed_in(tenant, role)
    assert "Sync master data" not in client.get(url(conn)).content.decode()
    account = conn.accounts.get(external_id="hcm")
    assert client.post(url(conn, account), **HTMX).status_code == 403
    assert ledger.synced == []


def test_a_target_without_master_data_has_no_button_and_the_url_is_404(tenant, ledger):
    plain = ledger_connection(tenant, target="testplain", companies=("x1",))
    client = signed_in(tenant)
    assert "Sync master data" not in client.get(url(plain)).content.decode()
    assert client.post(url(plain, plain.accounts.get())).status_code == 404
    assert ledger.synced == []


def test_another_tenants_account_is_404(conn, tenant, ledger):
    other = factories.tenant("Shop B")
    theirs = ledger_connection(other, companies=("b1",))
    account_b = theirs.accounts.get()
    client = signed_in(tenant)
    assert client.post(url(theirs, account_b)).status_code == 404
    assert client.post(url(conn, account_b)).status_code == 404  # their account under one's own connection
    assert ledger.synced == []


def test_a_get_is_refused(conn, tenant, ledger):
    account = conn.accounts.get(external_id="hcm")
    assert signed_in(tenant).get(url(conn, account)).status_code == 405
    assert ledger.synced == []


def test_the_base_adapter_offers_no_master_data():
    assert registry.TargetAdapter.syncs_master_data is False
    with pytest.raises(registry.Unsupported):
        registry.TargetAdapter().sync_master_data(None)
