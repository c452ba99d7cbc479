"""The accounts screen: one MST per row, write-only secrets, test connection and templates against the
meInvoice simulator (mounted in-process through `responses`), default and removal rules, roles, tenants."""

import pytest
from django.db import connection as db
from django.utils import timezone

from connectors.models import Membership, TargetAccount
from syncjobs.models import SyncDocument
from tests import factories

HTMX = {"HTTP_HX_REQUEST": "true"}
YY = f"{timezone.localdate().year % 100:02d}"


@pytest.fixture
def conn(tenant):
    return factories.connection(tenant, factories.shop(tenant, org_id="200000001"), accounts=("0101243150",))


def signed_in(tenant, role=Membership.Role.OWNER):
    """Signed in, reading English (pages default to Vietnamese; the words checked here are English)."""
    return factories.signed_in(factories.user(tenant, role=role))


@pytest.fixture
def owner(tenant):
    return signed_in(tenant)


def url(conn, name="", account=None):
    base = f"/connections/{conn.pk}/accounts/"
    if account is None:
        return base + (f"{name}/" if name else "")
    return f"{base}{account.pk}/{name}/"


def demo_account(conn, mst="0312345673", password="demo", **fields) -> TargetAccount:
    """An account the meInvoice simulator knows (its demo companies use demo-app / demo / demo)."""
    return TargetAccount.objects.create(
        connection=conn,
        external_id=mst,
        name=f"Company {mst}",
        credentials={"app_id": "demo-app", "username": "demo", "password": password},
        **fields,
    )


def add_form(**fields):
    return {
        "external_id": "0312345673",
        "name": "Chi nhánh Sài Gòn",
        "cred_app_id": "demo-app",
        "cred_username": "demo",
        "cred_password": "Very-Secret-42",
        **fields,
    }


# --- the list and the form -----------------------------------------------------------------------------


def test_list_shows_one_row_per_account_with_which_credentials_are_set(conn, owner):
    demo_account(conn, password="")
    html = owner.get(url(conn)).content.decode()
    assert "[MST 0101243150]" in html and "[MST 0312345673]" in html
    assert "secret-pw" not in html and "demo-app" not in html  # which are set, never their values
    assert "meInvoice password" in html and "not set" in html
    assert 'aria-current="page"' in html and f"/connections/{conn.pk}/mapping/" in html  # the tabs
    for button in ("Test connection", "Sync templates", "Set default", "Add an account"):
        assert button in html, button


def test_adding_an_invalid_mst_shows_the_error_next_to_the_field(conn, owner):
    resp = owner.post(url(conn, "add"), add_form(external_id="0312345674"))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "wrong check digit" in html and "has-error" in html
    assert "Very-Secret-42" not in html  # not even the password just typed
    assert not conn.accounts.filter(external_id="0312345674").exists()


def test_adding_a_duplicate_mst_is_refused(conn, owner):
    html = owner.post(url(conn, "add"), add_form(external_id="0101243150")).content.decode()
    assert "already an account of this connection" in html
    assert conn.accounts.count() == 1


def test_a_valid_add_stores_credentials_encrypted_and_no_page_shows_the_secret(conn, owner):
    resp = owner.post(url(conn, "add"), add_form())
    assert resp.status_code == 302
    account = conn.accounts.get(external_id="0312345673")
    assert account.credentials == {"app_id": "demo-app", "username": "demo", "password": "Very-Secret-42"}
    assert not account.is_default  # the connection had a default already
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials::text FROM connectors_targetaccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert "Very-Secret-42" not in stored and "demo-app" not in stored
    for page in (url(conn), url(conn, "edit", account)):
        html = owner.get(page, follow=True).content.decode()
        assert "Very-Secret-42" not in html
    edit = owner.get(url(conn, "edit", account)).content.decode()
    assert 'type="password"' in edit and 'name="cred_password"' in edit
    assert "set — leave blank to keep it" in edit
    password_input = edit.split('name="cred_password"')[1].split(">")[0]
    assert "value=" not in password_input  # rendered empty, not masked


def test_the_first_account_becomes_the_default(tenant, owner):
    conn = factories.connection(tenant, factories.shop(tenant), accounts=())
    owner.post(url(conn, "add"), add_form())
    assert conn.default_account().external_id == "0312345673"


def test_editing_with_a_blank_password_keeps_it(conn, owner):
    account = conn.accounts.get()
    resp = owner.post(
        url(conn, "edit", account),
        {"external_id": "0101243150", "name": "Renamed", "cred_app_id": "app", "cred_username": "new-user"},
    )
    assert resp.status_code == 302
    account.refresh_from_db()
    assert account.name == "Renamed"
    assert account.credentials == {
        "app_id": "app",
        "username": "new-user",
        "password": "secret-pw",
        "tax_code": "0101243150",  # a key the form does not know is kept as it is
    }
    owner.post(
        url(conn, "edit", account),
        {"external_id": "0101243150", "name": "Renamed", "cred_app_id": "app", "cred_username": "new-user",
         "cred_password": "changed"},
    )  # fmt: skip
    account.refresh_from_db()
    assert account.credentials["password"] == "changed"


def test_the_mst_of_an_account_with_documents_cannot_change(conn, owner):
    account = conn.accounts.get()
    SyncDocument.objects.create(
        connection=conn, account=account, source_type="order", source_id="1", kind="x"
    )
    owner.post(url(conn, "edit", account), {"external_id": "0312345673", "name": "N"})
    account.refresh_from_db()
    assert account.external_id == "0101243150" and account.name == "N"


# --- outside calls: test connection, templates, series -------------------------------------------------


def test_test_connection_against_the_sandbox_ok_and_wrong_password(conn, owner, sandbox):
    good = demo_account(conn)
    bad = demo_account(conn, mst="0101243150-001", password="Wr0ng-Pass-77")
    resp = owner.post(url(conn, "test", good), **HTMX)
    html = resp.content.decode()
    assert resp.status_code == 200 and 'class="notice ok"' in html
    assert "[MST 0312345673]" in html and "accepted the credentials" in html
    html = owner.post(url(conn, "test", bad), **HTMX).content.decode()
    assert 'class="notice bad"' in html and "[MST 0101243150-001]" in html
    assert "refused the credentials" in html and "Check the credentials in MISA meInvoice" in html
    assert "Wr0ng-Pass-77" not in html  # the password itself is never echoed


def test_test_connection_without_a_password_says_so_without_calling_out(conn, owner):
    account = demo_account(conn, password="")
    html = owner.post(url(conn, "test", account), **HTMX).content.decode()
    assert "has no meInvoice password yet" in html and 'class="notice bad"' in html


def test_test_connection_without_htmx_comes_back_as_a_message(conn, owner, sandbox):
    account = demo_account(conn)
    html = owner.post(url(conn, "test", account), follow=True).content.decode()
    assert "accepted the credentials" in html


def test_sync_templates_then_choose_the_series_and_drafts(conn, owner, sandbox):
    account = demo_account(conn)
    html = owner.post(url(conn, "templates", account), **HTMX).content.decode()
    assert f'id="account-{account.pk}"' in html  # the row, swapped in place
    assert f"Templates synced for [MST 0312345673]: 1C{YY}TAA" in html
    select = html.split("<select")[1].split("</select>")[0]
    assert f'<option value="1K{YY}TBB"' in select and f"1C{YY}TCC" not in select  # active series only
    account.refresh_from_db()
    assert account.settings["series"] == f"1C{YY}TAA"  # the first active one, until someone chooses

    html = owner.post(url(conn, "options", account), {"series": f"1K{YY}TBB"}, **HTMX).content.decode()
    assert "Saved for [MST 0312345673]" in html and "wait as drafts" in html
    account.refresh_from_db()
    assert account.settings == {"series": f"1K{YY}TBB", "auto_publish": False}

    owner.post(url(conn, "options", account), {"series": f"1K{YY}TBB", "auto_publish": "on"}, **HTMX)
    account.refresh_from_db()
    assert account.settings["auto_publish"] is True

    html = owner.post(url(conn, "options", account), {"series": "9Z99XXX"}, **HTMX).content.decode()
    assert 'class="notice bad"' in html and "Select a valid choice. 9Z99XXX" in html
    account.refresh_from_db()
    assert account.settings["series"] == f"1K{YY}TBB"


def test_sync_templates_with_a_wrong_password_says_what_to_do(conn, owner, sandbox):
    account = demo_account(conn, password="wrong")
    html = owner.post(url(conn, "templates", account), **HTMX).content.decode()
    assert "Syncing the templates failed on [MST 0312345673]" in html
    assert "refused the credentials" in html and "Check this account in MISA meInvoice" in html


def test_a_failing_service_is_said_in_words(conn, owner, sandbox):
    sandbox["/meinvoice"].set_knobs(error_rate=1.0)  # every call answers 5xx
    account = demo_account(conn)
    html = owner.post(url(conn, "templates", account), **HTMX).content.decode()
    assert "Syncing the templates failed on [MST 0312345673]" in html
    assert "did not answer properly this time" in html and "Try again in a few minutes" in html
    assert "Traceback" not in html


# --- default and removal -------------------------------------------------------------------------------


def test_set_default(conn, owner):
    other = demo_account(conn)
    owner.post(url(conn, "default", other))
    assert conn.default_account() == other
    assert conn.accounts.filter(is_default=True).count() == 1


def test_removing_an_account_with_documents_is_refused(conn, owner):
    account = demo_account(conn)
    SyncDocument.objects.create(
        connection=conn, account=account, source_type="order", source_id="1", kind="x"
    )
    html = owner.post(url(conn, "remove", account), follow=True).content.decode()
    assert "[MST 0312345673] cannot be removed: 1 document (an invoice issued" in html
    assert conn.accounts.filter(pk=account.pk).exists()


def test_removing_the_default_needs_another_default_first_unless_it_is_the_last(conn, owner):
    default, other = conn.accounts.get(), demo_account(conn)
    html = owner.post(url(conn, "remove", default), follow=True).content.decode()
    assert "is the default account: make another account the default first" in html
    assert conn.accounts.count() == 2
    owner.post(url(conn, "remove", other))
    assert list(conn.accounts.all()) == [default]
    resp = owner.post(url(conn, "remove", default), **HTMX)
    assert resp.status_code == 200 and resp["HX-Redirect"] == url(conn)
    assert not conn.accounts.exists()


def test_removing_an_account_removes_its_rules_and_says_so(conn, owner):
    other = demo_account(conn)
    factories.rule(conn, "location", "1002", "0312345673")
    html = owner.post(url(conn, "remove", other), follow=True).content.decode()
    assert "Removed [MST 0312345673] and its 1 routing rule;" in html
    assert not conn.rules.exists()


# --- roles and tenants ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.ACCOUNTANT])
def test_viewers_and_accountants_read_but_cannot_change(conn, tenant, role):
    client = signed_in(tenant, role)
    account = conn.accounts.get()
    page = client.get(url(conn))
    assert page.status_code == 200 and "[MST 0101243150]" in page.content.decode()
    assert "Add an account" not in page.content.decode() and "Sync templates" not in page.content.decode()
    assert client.get(url(conn, "add")).status_code == 403
    assert client.post(url(conn, "add"), add_form()).status_code == 403
    for action in ("edit", "remove", "default", "templates", "options"):
        assert client.post(url(conn, action, account), {"name": "x"}).status_code == 403, action
    assert conn.accounts.count() == 1 and conn.accounts.get().name == "Company 0101243150"


def test_a_viewer_cannot_test_but_an_accountant_may(conn, tenant):
    account = conn.accounts.get()
    assert signed_in(tenant, Membership.Role.VIEWER).post(url(conn, "test", account)).status_code == 403
    account.credentials = {}
    account.save()
    resp = signed_in(tenant, Membership.Role.ACCOUNTANT).post(url(conn, "test", account), **HTMX)
    assert resp.status_code == 200 and "has no" in resp.content.decode()


def test_another_tenants_connection_and_accounts_are_404(conn, owner):
    other = factories.tenant("Shop B")
    conn_b = factories.connection(other, factories.shop(other, org_id="222"), accounts=("0312345673",))
    account_b = conn_b.accounts.get()
    assert owner.get(url(conn_b)).status_code == 404
    assert owner.get(url(conn_b, "add")).status_code == 404
    for action in ("edit", "remove", "default", "test", "templates", "options"):
        assert owner.post(url(conn_b, action, account_b)).status_code == 404, action
        # the other tenant's account under one's own connection is no way in either
        assert owner.post(url(conn, action, account_b)).status_code == 404, action
    assert TargetAccount.objects.filter(pk=account_b.pk, is_default=True).exists()


def test_a_target_kind_without_credentials_or_templates_uses_the_same_page(tenant, owner):
    books = factories.connection(
        tenant, factories.shop(tenant), target_kind="fortnox", accounts=("0101243150",)
    )
    account = books.accounts.get()
    html = owner.get(url(books)).content.decode()
    assert "[FORTNOX 0101243150]" in html and "No credentials for this kind of account" in html
    assert "Sync templates" not in html and "Test connection" not in html
    assert owner.post(url(books, "test", account)).status_code == 404
    assert owner.post(url(books, "templates", account)).status_code == 404
