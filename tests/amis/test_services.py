"""The AMIS services against the in-process AMIS simulator on the real test database: the company's token
shared by every client and renewed once, "test connection" in words a person can act on, and the
company's master data copied (full, then incremental with deletions) for the mapping screens."""

import logging
import threading
import uuid

import pytest
import requests
from django.db import connection as db_connection

from amis import services, tasks
from amis.client import AmisClient
from amis.models import AmisDictionaryEntry, AmisDictionarySync, AmisSession
from connectors.http import RetryableError
from connectors.models import Connection, TargetAccount
from connectors.ratelimit import DatabaseBackend, LeakyBucket
from sandbox.amis import DEMO_ACCOUNTS, DEMO_ITEMS
from tests import factories

BASE = "http://127.0.0.1:8100/amis"
COMPANY = "demo-hcm"
APP_ID = "demo-amis-app"


def control(path, **body):
    resp = requests.post(f"{BASE}/_sandbox/{path}", json=body, timeout=5)
    resp.raise_for_status()
    return resp.json()


def amis_account(company=COMPANY, access_code="demo", *, tenant=None, enabled=True) -> TargetAccount:
    """An AMIS company of a Haravan shop's connection (the AMIS target is not registered yet, and a plain
    create runs no validation)."""
    tenant = tenant or factories.tenant(licensed=False)
    shop = factories.shop(tenant)
    conn = Connection.objects.create(
        tenant=tenant,
        name="Shop → AMIS",
        source_kind="haravan",
        source_key=shop.org_id,
        target_kind="amis",
        enabled=enabled,
    )
    return TargetAccount.objects.create(
        connection=conn, external_id=company, is_default=True, credentials={"access_code": access_code}
    )


@pytest.fixture
def sim(sandbox):
    return sandbox.mounts["/amis"]


@pytest.fixture
def account(db, sandbox):
    return amis_account()


class Waits(list):
    sleep = None


@pytest.fixture
def waits(sim):
    """What the clients were told to sleep; the simulator's clock moves on by as much (nobody waits)."""
    seen = Waits()

    def sleep(seconds):
        seen.append(seconds)
        sim.advance(seconds)

    seen.sleep = sleep
    return seen


@pytest.fixture
def fast(waits):
    """Client options: a read bucket in the test database that barely waits, and the simulated sleep."""

    def options():
        bucket = LeakyBucket(f"amis:test-{uuid.uuid4().hex}", 100, 1000.0, backend=DatabaseBackend())
        return {"bucket": bucket, "sleep": waits.sleep}

    return options


def stored_token(company=COMPANY) -> str:
    return AmisSession.objects.get(app_id=APP_ID, org_company_code=company).secrets["token"]


# --- the account itself -------------------------------------------------------------------------------


def test_an_amis_connection_is_a_registered_target_and_company_codes_are_checked(account):
    assert account.connection.target_kind == "amis"
    account.connection.full_clean()  # what a form runs: AMIS takes documents now
    target = account.connection.target
    assert target.account_id_error("demo-hcm") is None and target.account_id_error("k6aguh1l") is None
    assert target.account_id_error("0101243150") is None
    assert target.account_id_error("demo hcm") is not None and target.account_id_error("") is not None


# --- the shared token ---------------------------------------------------------------------------------


def test_every_client_of_the_company_shares_one_token(account, sim, db):
    first = services.client_for(account)
    assert first.token is None
    assert first.get_company_info()["org_company_code"] == COMPANY
    issued = len(sim.tokens)
    session = AmisSession.objects.get(app_id=APP_ID, org_company_code=COMPANY)
    assert session.secrets["token"] == first.token.value
    assert session.owner == first.token_owner
    assert session.expires_at == first.token.expires_at

    second = services.client_for(account)
    assert second.token == first.token
    second.get_company_info()
    # another shop's connection to the same AMIS company, with the same access code, takes it too
    other = services.client_for(amis_account())
    assert other.token == first.token
    other.get_company_info()
    assert len(sim.tokens) == issued  # nobody connected again
    assert AmisSession.objects.count() == 1


def test_a_token_amis_expired_is_renewed_once_and_saved_for_every_worker(account, sim, db):
    first = services.client_for(account)
    first.get_company_info()
    old = first.token.value
    stale = services.client_for(account)  # another worker, holding the same token
    assert sim.expire_tokens(COMPANY) >= 1

    first.get_company_info()  # ExpiredToken → connect → saved
    renewed = stored_token()
    assert renewed != old and renewed == first.token.value
    issued = len(sim.tokens)

    stale.get_company_info()  # its token is refused too: it takes the renewed one instead of connecting
    assert stale.token.value == renewed
    assert len(sim.tokens) == issued
    assert services.client_for(account).token.value == renewed


def test_workers_that_find_the_token_expired_together_connect_once(transactional_db, sandbox, sim):
    account = amis_account()
    services.client_for(account).get_company_info()
    sim.expire_tokens(COMPANY)
    issued = len(sim.tokens)
    start = threading.Barrier(3)
    tokens, errors = [], []

    def worker():
        try:
            client = services.client_for(account)  # each thread: its own database connection
            start.wait(timeout=10)
            client.get_company_info()
            tokens.append(client.token.value)
        except Exception as exc:  # reported below, with the thread's own traceback in the message
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(sim.tokens) == issued + 1  # one connect; the others took the token it saved
    assert set(tokens) == {stored_token()}


def test_a_token_issued_for_other_credentials_is_never_used(account, sim, db):
    services.client_for(account).get_company_info()
    kept = stored_token()

    account.credentials = {"access_code": "not-the-code"}
    account.save()
    client = services.client_for(account)
    assert client.token is None  # the kept token would have worked, but not for this access code
    ok, text = services.test_connection(account)
    assert not ok and "access code" in text.english()
    assert stored_token() == kept  # a refused connect stores nothing

    control("companies", org_company_code=COMPANY, access_code="new-code")  # the admin made a new code
    account.credentials = {"access_code": "new-code"}
    account.save()
    ok, text = services.test_connection(account)
    assert ok, text.english()
    session = AmisSession.objects.get(app_id=APP_ID, org_company_code=COMPANY)
    assert session.secrets["token"] != kept
    assert session.owner == services.client_for(account).token_owner


def test_another_app_id_does_not_use_the_token(account, sim, db, settings):
    services.client_for(account).get_company_info()
    settings.AMIS_APP_ID = "another-app"
    assert services.client_for(account).token is None


# --- test connection ----------------------------------------------------------------------------------


def test_test_connection_names_the_company_amis_answers_with(account):
    ok, text = services.test_connection(account)
    assert ok
    assert "Công ty TNHH Demo Hồ Chí Minh" in text.english()
    assert "0319999992" in text.english()


def test_test_connection_with_a_wrong_access_code_says_which_code_to_check(db, sandbox):
    ok, text = services.test_connection(amis_account(access_code="wrong"))
    assert not ok
    english = text.english()
    assert "access code" in english and "Kết nối ứng dụng" in english and COMPANY in english


def test_test_connection_without_an_access_code_says_where_to_get_one(db, sandbox):
    ok, text = services.test_connection(amis_account(access_code=""))
    assert not ok and "No access code" in text.english()


@pytest.mark.parametrize(
    "knob, code, todo",
    [
        ("app_disconnected", "AppIDDisconnect", "connect it again"),
        ("db_not_connected", "DBAmisNotConnectDBACT", "choose the accounting database"),
    ],
)
def test_test_connection_when_the_company_switched_us_off_says_what_to_do(account, sim, knob, code, todo):
    sim.set_knobs(**{knob: COMPANY})
    ok, text = services.test_connection(account)
    assert not ok
    english = text.english()
    assert code in english and todo in english and "Kết nối ứng dụng" in english


def test_test_connection_without_our_app_id_names_the_setting(account, settings):
    settings.AMIS_APP_ID = ""
    ok, text = services.test_connection(account)
    assert not ok and "AMIS_APP_ID" in text.english()


def test_test_connection_without_the_amis_address_names_the_setting(account, settings):
    settings.AMIS_API_URL = ""
    ok, text = services.test_connection(account)
    assert not ok and "AMIS_API_URL" in text.english()


def test_test_connection_when_amis_is_down_says_to_try_again_later(account, sim):
    sim.set_knobs(error_rate=1.0)
    ok, text = services.test_connection(account)
    assert not ok and "try again" in text.english()


# --- master data --------------------------------------------------------------------------------------


def test_a_full_sync_copies_every_kind_of_master_data(account, fast):
    counts = services.sync_master_data(account, client=services.client_for(account, **fast()))
    assert counts == {1: 3, 2: len(DEMO_ITEMS), 3: 2, 4: 5, 5: len(DEMO_ACCOUNTS), 6: 3}
    assert services.choices(account, 3) == [("KHO01", "Kho tổng (KHO01)"), ("KHO02", "Kho cửa hàng (KHO02)")]
    assert ("Cái", "Cái") in services.choices(account, 4)  # units have no code: their name is the code
    stock = AmisDictionaryEntry.objects.get(account=account, data_type=3, code="KHO02")
    assert stock.amis_id and stock.data["stock_code"] == "KHO02"
    cursors = AmisDictionarySync.objects.filter(account=account)
    assert cursors.count() == 6 and all(c.last_sync_time and c.full_at for c in cursors)


def test_an_incremental_sync_reads_what_changed_and_drops_what_was_deleted(account, sim, fast):
    client = services.client_for(account, **fast())
    services.sync_master_data(account, [2, 3], client=client)
    sim.advance(600)
    services.sync_master_data(account, [2, 3], client=client)  # moves the cursor past the demo rows
    sim.advance(600)

    client.save_dictionary(
        [{"dictionary_type": 3, "inventory_item_code": "SKU-NEW-09", "inventory_item_name": "Áo khoác gió"}]
    )
    control("delete_dictionary", company=COMPANY, data_type=3, code="KHO02")
    counts = services.sync_master_data(account, [2, 3], client=client)
    assert counts == {2: 1, 3: 0}  # only the new item; the deletion comes from get_dictionary_delete
    assert ("SKU-NEW-09", "Áo khoác gió (SKU-NEW-09)") in services.choices(account, 2)
    assert [code for code, _ in services.choices(account, 3)] == ["KHO01"]
    assert services.missing_codes(account, 3, ["KHO01", "kho02", "KHO09", "KHO09", ""]) == ["kho02", "KHO09"]
    assert services.missing_codes(account, 2, ["sku-new-09", "SKU-AO-01"]) == []  # AMIS codes ignore case


def test_a_full_sync_replaces_the_copy(account, sim, fast):
    client = services.client_for(account, **fast())
    services.sync_master_data(account, [1], client=client)
    company = sim.companies[COMPANY]
    company.dictionary[1] = [r for r in company.dictionary[1] if r["account_object_code"] != "KH00001"]
    sim.advance(600)
    services.sync_master_data(account, [1], client=client)  # gone without a trace: incremental keeps it
    assert "KH00001" in dict(services.choices(account, 1))
    assert services.sync_master_data(account, [1], full=True, client=client) == {1: 2}
    assert "KH00001" not in dict(services.choices(account, 1))
    assert services.missing_codes(account, 1, ["KH00001"]) == ["KH00001"]


def test_an_inactive_row_is_kept_but_not_offered(account, sim, fast):
    company = sim.companies[COMPANY]
    next(r for r in company.dictionary[3] if r["stock_code"] == "KHO02")["inactive"] = True
    services.sync_master_data(account, [3], client=services.client_for(account, **fast()))
    assert dict(services.choices(account, 3)) == {"KHO01": "Kho tổng (KHO01)"}
    assert "KHO02" in dict(services.choices(account, 3, include_inactive=True))
    assert services.missing_codes(account, 3, ["KHO02"]) == ["KHO02"]


def test_a_429_is_waited_out_as_amis_says(account, sim, waits, fast):
    sim.set_knobs(dictionary_burst=1, dictionary_window_seconds=1)
    counts = services.sync_master_data(account, [3, 4], client=services.client_for(account, **fast()))
    assert counts == {3: 2, 4: 5}
    assert waits and all(w == 1 for w in waits)  # AMIS's Retry-After, not a guess


def test_a_long_429_is_handed_back_with_the_wait_and_keeps_what_was_read(account, sim, fast):
    sim.set_knobs(dictionary_burst=1, dictionary_window_seconds=120)
    with pytest.raises(RetryableError) as caught:
        services.sync_master_data(account, [3, 4], client=services.client_for(account, **fast()))
    assert caught.value.status == 429 and caught.value.retry_after == 120  # for the task's countdown
    assert [code for code, _ in services.choices(account, 3)] == ["KHO01", "KHO02"]
    assert services.choices(account, 4) == []


def test_only_the_kept_kinds_of_master_data_are_synced(account):
    with pytest.raises(ValueError, match="data_type 7"):
        services.sync_master_data(account, [7])


# --- tenants, tasks, secrets --------------------------------------------------------------------------


def test_master_data_belongs_to_the_accounts_tenant(account, fast, db):
    other = amis_account("demo-hanoi")
    services.sync_master_data(account, [3], client=services.client_for(account, **fast()))
    services.sync_master_data(other, [3, 4], client=services.client_for(other, **fast()))
    mine = account.connection.tenant
    theirs = other.connection.tenant
    assert set(AmisDictionaryEntry.objects.for_tenant(mine).values_list("account", flat=True)) == {account.pk}
    assert AmisDictionaryEntry.objects.for_tenant(theirs).count() == 2 + 5
    assert set(AmisDictionarySync.objects.for_tenant(mine).values_list("data_type", flat=True)) == {3}
    assert AmisDictionarySync.objects.for_tenant(theirs).count() == 2


def test_the_tasks_sync_one_company_and_walk_every_enabled_one(account, sim):
    amis_account("demo-hanoi", enabled=False)
    sim.set_knobs(dictionary_burst=0)
    result = tasks.sync_amis_master_data(account.pk, True)  # what a worker runs
    # parties, items, stocks, units, accounts, organisation units
    everything = 3 + len(DEMO_ITEMS) + 2 + 5 + len(DEMO_ACCOUNTS) + 3
    assert result[3] == 2 and AmisDictionaryEntry.objects.filter(account=account).count() == everything
    assert tasks.refresh_amis_master_data() == 1


def test_the_task_hands_a_busy_amis_back_to_celery(account, sim):
    sim.set_knobs(error_rate=1.0)
    with pytest.raises(RetryableError):  # run directly, Celery's retry raises the cause
        tasks.sync_amis_master_data(account.pk)


def test_a_refused_company_is_not_retried_by_the_task(account, sim):
    sim.set_knobs(app_disconnected=COMPANY)
    result = tasks.sync_amis_master_data(account.pk)
    assert "AppIDDisconnect" in result["error"]


def test_secrets_stay_out_of_logs_repr_and_the_database_column(db, sandbox, sim, caplog, fast):
    code = "S3cret-Access-Code-77"
    sim.add_company("acme-co", access_code=code)
    account = amis_account("acme-co", access_code=code)
    caplog.set_level(logging.DEBUG)
    assert services.test_connection(account)[0]
    client = services.client_for(account, **fast())
    services.sync_master_data(account, [3], client=client)
    token = stored_token("acme-co")
    session = AmisSession.objects.get(org_company_code="acme-co")
    shown = " ".join([caplog.text, repr(session), str(session), repr(client), repr(client.token)])
    assert token not in shown and code not in shown
    with db_connection.cursor() as cur:
        cur.execute("SELECT secrets FROM amis_amissession WHERE org_company_code = %s", ["acme-co"])
        raw = cur.fetchone()[0]
    assert token not in raw
    assert isinstance(client, AmisClient)
