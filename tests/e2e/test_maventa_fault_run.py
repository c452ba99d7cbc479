"""Severa → Maventa under faults, on real parts: both simulators live over HTTP, Redis,
PostgreSQL, Celery worker processes and beat. 300 invoices are moved to "to transfer" in Severa while
Maventa loses answers after accepting a send (held past the client's timeout, later a 504), answers 5xx,
Severa answers 429 besides its own 10 requests a second, and the only worker is killed with SIGKILL while
an invoice is being sent. In the end each Severa invoice revision has exactly one Maventa invoice (under the
uuid the document holds), none is lost: every invoice is in "after transfer" in Severa and DONE or SENT
here."""

import contextlib
import os
import signal
import time
from collections import Counter

import pytest

from sandbox.server import default_app
from sandbox.severa import data
from sandbox.testing import LiveSandbox
from syncjobs.models import SyncAttempt, SyncDocument
from tests.e2e.conftest import wait_until
from tests.support import severa_maventa as sm

State = SyncDocument.State
INVOICES = 300
ROUND = 30
# Every route and VAT case: PEPPOL (two rates), Finnish OVT, e-mail only, print, reverse charge
MIX = {"peppol": 2, "ovt": 1, "email": 1, "print": 1, "reverse_charge": 1}


@pytest.fixture
def live():
    app = default_app(
        seed_orders=False,
        severa_options={"seed_invoices": False, "call_log_size": 500_000},
        maventa_options={"call_log_size": 500_000},
    )
    try:
        with LiveSandbox(app) as live:
            yield live
    finally:
        app.close()


def test_the_seeded_connection_is_switched_on_and_verified(db):
    """The fault run's and the bench's starting point: both companies' accounts send (statuses chosen,
    verified, enabled), each company's invoices route to its own account."""
    from connectors import registry
    from maventa.setup import has_keys, setup_of

    conn = sm.seed()
    accounts = {a.external_id: a for a in conn.accounts.all()}
    assert set(accounts) == {"SE556677889901", "FI23456780"}
    target = registry.target(conn.target_kind)
    for vat, account in accounts.items():
        setup = setup_of(account)
        assert setup.sending and has_keys(account) and target.account_id_error(vat) is None
        assert conn.rules.get(dimension="company", value=vat).account == account
    assert accounts["SE556677889901"].is_default


def faults_of(url: str) -> Counter:
    """What the simulators did wrong so far: Maventa's answers lost after accepting and its 5xx, Severa's
    429s (its limit, or the share the knob throttles)."""
    faults = Counter()
    for call in sm.read(url, "maventa", "calls")["calls"]:
        if call["lost"]:
            faults["lost answer"] += 1
            faults["lost answer (504)" if call["status"] == 504 else "lost answer (held)"] += 1
        elif call["status"] >= 500:
            faults["5xx"] += 1
    for call in sm.severa_calls(url):
        if call["status"] == 429:
            faults["429 throttled" if call.get("throttled") else "429 limit"] += 1
            faults["429"] += 1
    return faults


@pytest.mark.services
def test_faults_and_a_killed_worker_leave_exactly_one_maventa_invoice_per_revision(stack, live):
    conn = sm.seed()
    stack.env.update(
        {
            **sm.environment(live.url),
            "HTTP_TIMEOUT": "2",
            "SEVERA_POLL_INTERVAL_SECONDS": "1",
            "MAVENTA_STATUS_INTERVAL_SECONDS": "1",
            "MAVENTA_RETRY_BASE_SECONDS": "1",
            # the killed worker's send is taken up again after this (production: 10 minutes)
            "MAVENTA_STALE_PROCESSING_SECONDS": "30",
        }
    )
    # Until one of each has happened every send's answer is lost and 30 % of Maventa's answers are 5xx;
    # then 10 % and 5 %. Severa refuses 5 % of the calls within its limit with a 429 throughout.
    sm.knobs(
        live.url,
        "maventa",
        latency_ms=150,  # a send stays in flight long enough to kill its worker
        timeout_after_accept_rate=1.0,
        timeout_after_accept_seconds=3,  # longer than HTTP_TIMEOUT: the answer is lost, the invoice kept
        lost_answer_mode="sleep",
        error_rate=0.3,
        delivery_seconds=1,
    )
    sm.knobs(live.url, "severa", throttle_rate=0.05, retry_after_rate=0.5)
    first = stack.start_worker(name="w1", concurrency=4)
    stack.start_beat()
    begun = time.monotonic()
    guids: list[str] = []
    killed: list[int] = []
    calmed: set[str] = set()

    def calm_down() -> None:
        """Once each fault happened, fewer of it; once an answer was held past the timeout, the gateway
        gives up with a 504 instead."""
        seen = faults_of(live.url)
        if seen["lost answer"] and "lost answer" not in calmed:
            calmed.add("lost answer")
            sm.knobs(live.url, "maventa", timeout_after_accept_rate=0.1)
        if seen["5xx"] and "5xx" not in calmed:
            calmed.add("5xx")
            sm.knobs(live.url, "maventa", error_rate=0.05)
        if seen["lost answer (held)"] and "504" not in calmed:
            calmed.add("504")
            sm.knobs(live.url, "maventa", lost_answer_mode="504", timeout_after_accept_rate=0.2)

    for number in range(INVOICES // ROUND):
        guids += sm.generate(live.url, ROUND, MIX)
        calm_down()
        if number == 3:
            wait_until(
                lambda: SyncDocument.objects.filter(connection=conn, state=State.PROCESSING).exists(),
                timeout=120,
                interval=0.02,
                message=f"an invoice being sent\n{stack.logs()}",
            )
            os.killpg(first.proc.pid, signal.SIGKILL)  # the worker and its pool, mid-send
            first.proc.wait(10)
            killed = list(
                SyncDocument.objects.filter(connection=conn, state=State.PROCESSING).values_list(
                    "pk", flat=True
                )
            )
            stack.start_worker(name="w2", concurrency=4)
        time.sleep(2)
    print(f"\n{INVOICES} invoices moved to 'to transfer' in {time.monotonic() - begun:.1f}s")
    assert killed, "no invoice was being sent when the worker was killed"

    def all_through():
        calm_down()
        book = sm.ledger(live.url, conn, guids)
        return book if not book.lost else None

    with contextlib.suppress(AssertionError):  # the ledger below says which are missing
        wait_until(all_through, timeout=600, interval=3, message="every invoice transferred")
    print(f"… and transferred by {time.monotonic() - begun:.1f}s")
    book = sm.ledger(live.url, conn, guids)
    print(f"states {dict(book.states)}; Severa {dict(book.severa_statuses)}")
    assert not book.lost, f"{len(book.lost)} lost: {book.lost[:20]}\n{stack.logs()}"
    assert book.duplicates == 0 and not book.uuid_mismatch, (book.duplicates, book.uuid_mismatch[:20])
    assert book.watched == INVOICES and book.maventa_invoices == INVOICES  # nothing else reached Maventa
    docs = list(SyncDocument.objects.filter(connection=conn))
    assert {d.source_id for d in docs} == set(guids) and len(docs) == INVOICES
    assert {d.state for d in docs} <= {State.DONE, State.SENT}
    assert all(d.state in (State.DONE, State.SENT) for d in docs if d.pk in killed)
    # each invoice's account is its issuing company's
    severa = {i["guid"]: i for i in sm.read(live.url, "severa", "invoices")["invoices"]}
    vat_of = {a.pk: a.external_id for a in conn.accounts.all()}
    for doc in docs:
        assert vat_of[doc.account_id] == severa[doc.source_id]["senderVatNumber"], doc.route_explanation
    customers = Counter(severa[g]["customer"]["guid"] for g in guids)
    assert customers[data.PRINT_CUSTOMER] == INVOICES // sum(MIX.values())  # the mix reached every route

    # The run really had its faults, and invoices were sent more than once (each still once at Maventa).
    faults = faults_of(live.url)
    print(f"faults injected: {dict(faults)}")
    for fault in ("lost answer (held)", "lost answer (504)", "5xx", "429 throttled"):
        assert faults[fault] >= 1, faults
    assert any(d.attempts > 1 for d in docs)
    assert SyncAttempt.objects.filter(document__connection=conn, outcome="retryable").exists()
