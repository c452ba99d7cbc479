"""Severa invoices → Maventa, in-process against both simulators and the test database: the poll stores
what waits in "to transfer", each invoice is validated, routed and sent once under its derived uuid, its
Severa status moves, deliveries are followed; timeouts, refusals and validation failures."""

import pytest

from connectors.models import Connection, RoutingRule, TargetAccount
from maventa import documents, posting
from maventa.setup import AccountSetup, store_setup
from sandbox.maventa.demo import DEMO_COMPANIES, DEMO_VENDOR_API_KEY
from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from sandbox.severa import data as severa_data
from severa import services as severa_services
from severa.models import SeveraOrganisation
from syncjobs.models import SyncDocument
from tests import factories

State = SyncDocument.State
BASE = "http://127.0.0.1:8100"
AB_VAT, OY_VAT = "SE556677889901", "FI23456780"


@pytest.fixture
def sims(sandbox, settings):
    settings.MAVENTA_API_URL = f"{BASE}/maventa"
    settings.MAVENTA_VENDOR_API_KEY = DEMO_VENDOR_API_KEY
    severa, maventa = sandbox.mounts["/severa"], sandbox.mounts["/maventa"]
    severa.set_knobs(rate_limit=0)
    maventa.set_knobs(delivery_seconds=5)
    return severa, maventa


def _setup(company, country, **changes):
    values = dict(
        company_guid=company,
        country=country,
        origin="registered",
        auth_state="SIGNED",
        company_state="VERIFIED",
        status_to_transfer=severa_data.TO_TRANSFER,
        status_after=severa_data.TRANSFERRED,
        status_error=severa_data.TRANSFER_FAILED,
        payment={"kind": "bankgiro", "account": "5050-1055"}
        if country == "SE"
        else {"kind": "iban", "account": "FI2112345600000785", "bic": "NDEAFIHH"},
        enabled=True,
    )
    values.update(changes)
    return AccountSetup(**values)


@pytest.fixture
def connection(db, sims, request):
    tenant = factories.tenant("Demokonsult", licensed=False)
    import datetime as dt

    from django.utils import timezone

    from connectors.models import License

    License.objects.create(
        tenant=tenant, family="severa_to_maventa", expires_at=timezone.now() + dt.timedelta(days=30)
    )
    SeveraOrganisation.objects.create(
        tenant=tenant,
        vat_number=AB_VAT,
        name="Demokonsult AB",
        secrets={"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
    )
    conn = Connection.objects.create(
        tenant=tenant, name="Demokonsult", source_kind="severa", source_key=AB_VAT, target_kind="maventa"
    )
    keys = {c["bid"]: c for c in DEMO_COMPANIES}
    for vat, company, country, default in (
        (AB_VAT, severa_data.AB_COMPANY, "SE", True),
        (OY_VAT, severa_data.OY_COMPANY, "FI", False),
    ):
        account = TargetAccount.objects.create(
            connection=conn,
            external_id=vat,
            name=keys[vat]["name"],
            is_default=default,
            credentials={"user_api_key": keys[vat]["api_key"], "company_uuid": keys[vat]["id"]},
        )
        store_setup(account, _setup(company, country))
        RoutingRule.objects.create(connection=conn, dimension="company", value=vat, account=account)
    from severa.connect import refresh

    refresh(
        SeveraOrganisation.objects.get(vat_number=AB_VAT)
    )  # its companies and statuses, as connecting reads
    return conn


def _send_queued():
    for pk in SyncDocument.objects.filter(state=State.QUEUED).values_list("pk", flat=True):
        posting.send(pk)


def test_waiting_invoices_are_sent_once_and_their_severa_status_moves(connection, sims):
    severa, maventa = sims
    stored = severa_services.sync_invoices(connection)
    assert stored == 4  # 1001, 1003 (credit note), 5001, 5002 wait in "to transfer"
    docs = {d.source_label: d for d in SyncDocument.objects.filter(connection=connection)}
    assert set(docs) == {"1001", "1003", "5001", "5002"}
    assert docs["1003"].kind == "credit_note"
    assert docs["5001"].account.external_id == OY_VAT and docs["1001"].account.external_id == AB_VAT
    assert all(d.state == State.QUEUED for d in docs.values())

    _send_queued()
    for doc in SyncDocument.objects.filter(connection=connection):
        assert doc.state == State.SENT, (doc.source_label, doc.last_error)
        assert doc.target_ref == documents.derived_uuid(doc.source_id, 1)
        assert doc.payload["validation"]["valid"] is True
        assert doc.payload["ubl"].startswith("<?xml")
        assert severa.invoices[doc.source_id].status == severa_data.TRANSFERRED
    sent = [i for c in maventa.companies.values() for i in c.invoices.values()]
    assert len(sent) == 4 and len({i.uuid for i in sent}) == 4

    # A second pass finds nothing waiting; Maventa delivers; the follow-up settles them.
    assert severa_services.sync_invoices(connection) == 0
    maventa.advance(10)
    posting.follow_deliveries()
    assert set(SyncDocument.objects.values_list("state", flat=True)) == {State.DONE}


def test_routes_follow_the_customer(connection, sims):
    severa_services.sync_invoices(connection)
    _send_queued()
    routes = {d.source_label: d.payload["route"] for d in SyncDocument.objects.all()}
    assert routes["1001"]["channel"] == "einvoice" and routes["1001"]["recipient_eia"] == "0007:5560123456"
    assert routes["5001"]["channel"] == "einvoice"
    assert routes["5001"]["recipient_eia"] == "003776543212"
    assert routes["5001"]["recipient_operator"] == "003721291126"


def test_a_timeout_after_accept_is_asked_about_before_any_resend(connection, sims):
    _severa, maventa = sims
    maventa.set_knobs(timeout_after_accept_rate=1.0, lost_answer_mode="504")
    severa_services.sync_invoices(connection)
    _send_queued()
    assert set(SyncDocument.objects.values_list("state", flat=True)) == {State.RETRYING}
    maventa.set_knobs(timeout_after_accept_rate=0.0)
    SyncDocument.objects.update(next_retry_at=None)
    for pk in posting.take_due():
        posting.send(pk)
    assert set(SyncDocument.objects.values_list("state", flat=True)) == {State.SENT}
    sent = [i for c in maventa.companies.values() for i in c.invoices.values()]
    assert len(sent) == 4  # stored once each, found by uuid, never sent twice


def test_an_invalid_invoice_is_not_sent_and_goes_to_the_error_status(connection, sims):
    severa, maventa = sims
    account = connection.accounts.get(external_id=AB_VAT)
    store_setup(account, _setup(severa_data.AB_COMPANY, "SE", payment={}))  # no due date payment means
    invoice = severa.invoices[severa_data.INVOICE_TWO_RATES]
    # PEPPOL-EN16931-R003: neither a buyer reference (nor a contact to stand in) nor an order number
    invoice.header["yourReference"] = invoice.header["orderNumber"] = None
    invoice.header["receiverContactName"] = None
    severa_services.sync_invoices(connection)
    _send_queued()
    doc = SyncDocument.objects.get(source_label="1001")
    assert doc.state == State.FAILED
    assert "PEPPOL-EN16931-R003" in doc.last_error
    assert severa.invoices[doc.source_id].status == severa_data.TRANSFER_FAILED
    assert not any(
        i.document["number"] == "1001" for c in maventa.companies.values() for i in c.invoices.values()
    )


def test_a_disabled_account_sends_nothing_and_its_status_is_not_read(connection, sims):
    for account in connection.accounts.all():
        store_setup(
            account, _setup(account.settings["company_guid"], account.settings["country"], enabled=False)
        )
    assert connection.target.wanted_source_statuses(connection) == []
    assert severa_services.sync_invoices(connection) == 0


def test_switching_an_account_on_sends_what_waited_for_it(connection, sims):
    from maventa.accounts import set_enabled

    finnish = connection.accounts.get(external_id=OY_VAT)
    store_setup(finnish, _setup(severa_data.OY_COMPANY, "FI", enabled=False))
    severa_services.sync_invoices(connection)  # the Swedish account still reads the shared status
    waiting = SyncDocument.objects.filter(account=finnish)
    assert {d.state for d in waiting} == {State.BLOCKED}
    assert "switched off" in waiting.first().last_error

    assert set_enabled(finnish, True).ok
    assert {d.state for d in waiting.all()} == {State.QUEUED}
    _send_queued()
    assert {d.state for d in waiting.all()} == {State.SENT}


def test_an_invoice_of_a_company_without_its_own_account_is_never_sent_on_another(connection, sims):
    connection.accounts.get(external_id=OY_VAT).rules.all().delete()
    connection.accounts.filter(external_id=OY_VAT).update(external_id="FI99999999")
    severa_services.sync_invoices(connection)
    finnish = SyncDocument.objects.filter(source_label__in=["5001", "5002"])
    assert {d.account.external_id for d in finnish} == {AB_VAT}  # the default account…
    assert {d.state for d in finnish} == {State.BLOCKED}  # …which never sends them
    assert all("issued by FI23456780" in d.last_error for d in finnish)


def test_the_alert_digest_names_the_invalid_invoice_to_the_accounts_error_addresses(connection, sims):
    from django.core import mail

    from syncjobs import alerts

    severa, _maventa = sims
    account = connection.accounts.get(external_id=AB_VAT)
    store_setup(account, _setup(severa_data.AB_COMPANY, "SE", error_emails=["ekonomi@demokonsult.example"]))
    invoice = severa.invoices[severa_data.INVOICE_TWO_RATES]
    invoice.header["yourReference"] = invoice.header["orderNumber"] = None
    invoice.header["receiverContactName"] = None
    severa_services.sync_invoices(connection)
    _send_queued()
    connection.alert_language = "sv"
    connection.save()
    assert alerts.send_digests() == 1
    message = mail.outbox[0]
    assert message.to == ["ekonomi@demokonsult.example"]
    assert "Faktura 1001" in message.body and "PEPPOL-EN16931-R003" in message.body


def test_the_contact_person_stands_in_for_a_missing_buyer_reference(connection, sims):
    severa, _maventa = sims
    invoice = severa.invoices[severa_data.INVOICE_TWO_RATES]
    invoice.header["yourReference"] = invoice.header["orderNumber"] = None
    invoice.header["receiverContactName"] = "Anna Berg"
    severa_services.sync_invoices(connection)
    _send_queued()
    doc = SyncDocument.objects.get(source_label="1001")
    assert doc.state == State.SENT, doc.last_error
    assert "<cbc:BuyerReference>Anna Berg</cbc:BuyerReference>" in doc.payload["ubl"]


def test_the_retry_pass_gives_each_document_one_task(connection, sims):
    import datetime as dt

    from django.utils import timezone

    severa_services.sync_invoices(connection)
    queued = list(SyncDocument.objects.values_list("pk", flat=True))
    assert posting.take_due() == []  # just queued: their tasks are on their way
    first, second = queued[:2]
    SyncDocument.objects.filter(pk=first).update(state=State.RETRYING, next_retry_at=timezone.now())
    long_ago = timezone.now() - dt.timedelta(hours=1)
    SyncDocument.objects.filter(pk=second).update(updated_at=long_ago)  # its task was lost
    assert sorted(posting.take_due()) == sorted([first, second])
    assert SyncDocument.objects.get(pk=first).state == State.QUEUED
    assert posting.take_due() == []  # the next pass leaves them to the tasks just given
