"""Visma Severa → Maventa end to end on real parts: both simulators live over HTTP, Redis,
PostgreSQL, Celery worker processes and beat. A Maventa account is registered, its signatory signs, it is
switched on; an invoice a person moves to "to transfer" in Severa is sent to Maventa once, its Severa status
becomes "after transfer", and Maventa delivers it. The demo's own seed (`make demo`) sends the same way."""

import time
from collections import Counter

import pytest
import requests

from connectors.models import Connection, TargetAccount
from maventa import accounts
from maventa.setup import COMPANY_UUID, USER_API_KEY, setup_of
from sandbox.management.commands.demo import seed
from sandbox.maventa import DEMO_COMPANIES, DEMO_VENDOR_API_KEY
from sandbox.server import default_app
from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from sandbox.severa import data as severa_data
from sandbox.testing import LiveSandbox
from severa.connect import connect
from syncjobs.models import SyncAttempt, SyncDocument
from tests import factories
from tests.e2e.conftest import wait_until

SE = "SE556677889901"
SIGNATORY = "sara.ek@demokonsult.example"
State = SyncDocument.State


@pytest.fixture
def live():
    """Severa with the demo organisation but no invoices yet, Maventa with nobody registered."""
    app = default_app(
        seed_orders=False,
        severa_options={"seed_invoices": False},
        maventa_options={"seed_demo": False},
    )
    try:
        with LiveSandbox(app) as live:
            yield live
    finally:
        app.close()


def control(live, system, path, body=None) -> dict:
    resp = requests.post(f"{live.url}/{system}/_sandbox/{path}", json=body or {}, timeout=10)
    resp.raise_for_status()
    return resp.json()


def read_control(live, system, path, **params) -> dict:
    resp = requests.get(f"{live.url}/{system}/_sandbox/{path}", params=params, timeout=10)
    resp.raise_for_status()
    return resp.json()


def point_at(stack, live, settings) -> None:
    """This process and the stack's processes talk to the simulators; the schedules run every second."""
    urls = {
        "SEVERA_API_URL": f"{live.url}/severa/rest-api",
        "MAVENTA_API_URL": f"{live.url}/maventa",
        "MAVENTA_VENDOR_API_KEY": DEMO_VENDOR_API_KEY,
    }
    for name, value in urls.items():
        setattr(settings, name, value)
    stack.env.update(
        {
            **urls,
            "SEVERA_POLL_INTERVAL_SECONDS": "1",
            "MAVENTA_STATUS_INTERVAL_SECONDS": "1",
            "MAVENTA_AUTH_INTERVAL_SECONDS": "1",
            "MAVENTA_RETRY_BASE_SECONDS": "1",
        }
    )


def severa_invoice(live, guid: str) -> dict:
    return next(i for i in read_control(live, "severa", "invoices")["invoices"] if i["guid"] == guid)


def maventa_invoices(live, company: str | None = None) -> list[dict]:
    params = {"company": company} if company else {}
    return read_control(live, "maventa", "invoices", **params)["invoices"]


def documents(conn) -> list[SyncDocument]:
    return list(SyncDocument.objects.filter(connection=conn).select_related("account").order_by("pk"))


def timeline(doc) -> list[str]:
    return list(SyncAttempt.objects.filter(document=doc).order_by("pk").values_list("message", flat=True))


def demokonsult() -> Connection:
    """The merchant connects its Severa organisation (the demo's, in the simulator): the organisation, the
    connection to Maventa, an account per company with a VAT number of its own and their routing rules."""
    tenant = factories.tenant("Demokonsult")
    conn = connect(tenant, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, user=None)
    assert sorted(conn.accounts.values_list("external_id", flat=True)) == ["FI23456780", SE]
    return conn


def register_sign_and_enable(live, account: TargetAccount) -> str:
    """What the account's screens do: Register (a Maventa user and company with our vendor key), Send
    authentication request, the signatory signs (the simulator's control), Update, the settings and
    statuses saved, the switch on. Returns the company UUID."""
    done = accounts.register(
        account,
        email="sara.ek@demokonsult.example",
        first_name="Sara",
        last_name="Ek",
        activate_duetto=False,
        address={
            "address1": "Sveavägen 44",
            "post_code": "111 34",
            "post_office": "Stockholm",
            "city": "Stockholm",
        },
        company_email="ekonomi@demokonsult.example",
    )
    assert done.ok, done.message
    account.refresh_from_db()
    company = account.credentials[COMPANY_UUID]
    assert account.credentials[USER_API_KEY] and company
    refused = accounts.set_enabled(account, True)
    assert not refused.ok  # nothing is sent while unverified
    done = accounts.request_authentication(
        account, signatory="Sara Ek", auth_email=SIGNATORY, auth_locale="SE"
    )
    assert done.ok, done.message
    assert not setup_of(TargetAccount.objects.get(pk=account.pk)).verified
    control(live, "maventa", "sign", {"company": company})
    assert accounts.refresh_authentication(account).ok
    account.refresh_from_db()
    setup = setup_of(account)
    assert (setup.auth_state, setup.company_state) == ("SIGNED", "VERIFIED")
    done = accounts.save_settings(
        account,
        attach_pdf=True,
        email_fallback=True,
        print_allowed=True,
        error_emails=["ekonomi@demokonsult.example"],
        status_to_transfer=severa_data.TO_TRANSFER,
        status_after=severa_data.TRANSFERRED,
        status_error=severa_data.TRANSFER_FAILED,
        payment={"kind": "bankgiro", "account": "5551-2347", "bic": ""},
    )
    assert done.ok, done.message
    done = accounts.set_enabled(account, True)
    assert done.ok, done.message
    account.refresh_from_db()
    assert setup_of(account).sending
    return company


ROWS = [
    {"description": "Konsultation, maj", "quantity": "6", "unit": "h", "price": "1150.00", "vat": "25"},
    {"description": "Utbildningsmaterial", "quantity": "2", "unit": "st", "price": "249.50", "vat": "12"},
]


@pytest.mark.services
def test_a_registered_signed_account_sends_an_invoice_moved_to_transfer_once_and_maventa_delivers_it(
    stack, live, settings
):
    point_at(stack, live, settings)
    control(live, "maventa", "knobs", {"auto_sign": False, "delivery_seconds": 1.0})
    conn = demokonsult()
    account = conn.accounts.get(external_id=SE)
    company = register_sign_and_enable(live, account)
    invoice = {"company": severa_data.AB_COMPANY, "customer": severa_data.PEPPOL_CUSTOMER, "rows": ROWS}
    made = control(live, "severa", "invoices", {**invoice, "yourReference": "Anna Berg"})["invoice"]
    draft = control(live, "severa", "invoices", invoice)["invoice"]  # stays a draft: never sent
    stack.start_worker(concurrency=2)
    stack.start_beat()
    wait_until(
        lambda: _passes(live) >= 2,
        timeout=30,
        message=f"Severa read\n{stack.logs()}",
    )
    assert not documents(conn)  # nothing in "to transfer" yet
    control(live, "severa", "move", {"invoice": made["guid"], "status": "Valmis lähetettäväksi"})

    def delivered():
        docs = documents(conn)
        return docs if docs and all(d.state == State.DONE for d in docs) else None

    (doc,) = wait_until(delivered, timeout=90, message=f"the invoice delivered\n{stack.logs()}")
    assert doc.source_id == made["guid"] and doc.account_id == account.pk and doc.kind == "invoice"
    assert doc.payload["validation"]["valid"], doc.payload["validation"]
    assert doc.payload["route"]["channel"] == "einvoice"
    assert doc.payload["route"]["recipient_eia"] == "0007:5560123456"
    assert doc.result["uuid"] == doc.target_ref and doc.result["status"] == "DELIVERED"

    def written_back():
        found = severa_invoice(live, made["guid"])
        return found if found["status"]["guid"] == severa_data.TRANSFERRED else None

    found = wait_until(written_back, timeout=30, message=f"the Severa status after transfer\n{stack.logs()}")
    assert [h["status"] for h in found["history"]] == [
        severa_data.DRAFT,
        severa_data.TO_TRANSFER,
        severa_data.TRANSFERRED,
    ]
    assert found["pdfRequests"] >= 1  # the original PDF went with the e-invoice
    time.sleep(3)  # a few more passes of every schedule: nothing more goes out
    sent = maventa_invoices(live, company)
    assert [(i["uuid"], i["status"]) for i in sent] == [(doc.target_ref, "DELIVERED")]
    assert len(maventa_invoices(live)) == 1
    posts = [
        c
        for c in read_control(live, "maventa", "calls")["calls"]
        if c["method"] == "POST" and c["path"].rstrip("/").endswith("/v1/invoices")
    ]
    assert [c["status"] for c in posts] == [201], posts  # one send, accepted
    assert severa_invoice(live, draft["guid"])["status"]["guid"] == severa_data.DRAFT
    assert [d.pk for d in documents(conn)] == [doc.pk]
    lines = timeline(doc)
    assert any(line.startswith(f"[Maventa {SE}] ") for line in lines), lines


def _passes(live) -> int:
    """How many times the product listed Severa invoices."""
    calls = read_control(live, "severa", "calls")["calls"]
    return sum(1 for c in calls if c.get("endpoint") == "GET /v1/invoices")


@pytest.mark.services
def test_the_demo_seed_sends_what_the_demo_severa_has_waiting_and_what_its_generator_adds(stack, settings):
    """`make demo`'s seed, on the simulators as the demo starts them (Severa's demo invoices, Maventa's two
    registered and verified Demokonsult companies): every invoice waiting in "to transfer" and one of each
    kind the generator adds go to Maventa once each, on the account of the company that issued them, and
    are delivered."""
    app = default_app(seed_orders=False)
    try:
        with LiveSandbox(app) as live:
            point_at(stack, live, settings)
            control(live, "maventa", "knobs", {"delivery_seconds": 1.0})
            seed(severa_api_url=f"{live.url}/severa/rest-api")
            conn = Connection.objects.get(source_kind="severa", source_key=SE)
            assert conn.tenant.slug == "demokonsult"
            waiting = {
                i["guid"]: i
                for i in read_control(live, "severa", "invoices")["invoices"]
                if i["status"]["guid"] == severa_data.TO_TRANSFER
            }
            assert len(waiting) == 4  # two of each company, a credit note among them
            stack.start_worker(concurrency=2)
            stack.start_beat()
            made = control(live, "severa", "generate", {"count": 4})["invoices"]  # one of each template
            expected = {*waiting, *made}

            def delivered():
                docs = documents(conn)
                if any(d.state == State.FAILED for d in docs):
                    raise AssertionError([(d.source_label, d.last_error) for d in docs])
                done = all(d.state == State.DONE for d in docs)
                return docs if done and {d.source_id for d in docs} == expected else None

            docs = wait_until(
                delivered, timeout=120, message=f"the demo's invoices delivered\n{stack.logs()}"
            )
            sent = maventa_invoices(live)
            assert len(sent) == len(expected) == len({row["uuid"] for row in sent})  # one each
            by_uuid = {row["uuid"]: row for row in sent}
            companies = {c["bid"]: c["id"] for c in DEMO_COMPANIES}
            for doc in docs:
                invoice = severa_invoice(live, doc.source_id)
                assert doc.account.external_id == invoice["senderVatNumber"], doc.route_explanation
                row = by_uuid[doc.target_ref]
                assert (row["company"], row["status"]) == (companies[doc.account.external_id], "DELIVERED")
                assert invoice["status"]["guid"] == severa_data.TRANSFERRED
            kinds = Counter((d.account.external_id, d.kind, d.payload["route"]["channel"]) for d in docs)
            assert kinds == {
                ("FI23456780", "invoice", "einvoice"): 4,  # the OVT customer's and a reverse charge, twice
                (SE, "credit_note", "einvoice"): 1,
                (SE, "invoice", "einvoice"): 2,
                (SE, "invoice", "email"): 1,  # Café Lindqvist has only an e-mail address
            }
    finally:
        app.close()
