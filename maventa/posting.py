"""Severa invoices → Maventa e-invoices, exactly once.

A document (one Severa invoice or credit note on one Maventa account) moves
PENDING → QUEUED → PROCESSING → SENT (Maventa accepted it; delivery pending) → DONE (delivered) | FAILED,
with RETRYING when Maventa or Severa could not answer. Exactly once rests on our own key: the Maventa
``uuid`` is derived from (Severa invoice guid, revision) and stored before the POST; after a timeout, a 5xx
or a worker that died mid-call, Maventa is asked by that uuid before anything is sent again, and Maventa
itself refuses a second invoice under the same uuid. The revision only moves when an invoice Maventa
accepted failed to deliver and a person sends it again.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.http import ApiError, RetryableError
from connectors.registry import Unsupported
from connectors.text import Text, words_of
from syncjobs.models import SyncDocument
from syncjobs.services import Outcome, log_attempt, settle

from . import documents
from .client import MaventaError, MaventaUnauthorized, SentInvoice, send_zip
from .services import client_for
from .setup import AccountSetup, setup_of

log = logging.getLogger(__name__)
State = SyncDocument.State

# A queued document whose task has not started this long is queued again (its task was lost with a broker).
QUEUED_GRACE = dt.timedelta(minutes=2)


def stale_processing() -> dt.timedelta:
    """A document left PROCESSING this long belongs to a worker that died mid-call: asked about by uuid."""
    return dt.timedelta(seconds=settings.MAVENTA_STALE_PROCESSING_SECONDS)


MAX_RETRY_DELAY = dt.timedelta(hours=6)
MAX_ATTEMPTS = 12  # about a day of doubling waits: then a person looks
FOLLOW_BATCH = 200


def retry_delay(attempts: int, retry_after: float | None = None) -> dt.timedelta:
    base = settings.MAVENTA_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    return min(dt.timedelta(seconds=max(base, retry_after or 0)), MAX_RETRY_DELAY)


def _log(document, outcome, message, *, client=None, action="send"):
    return log_attempt(
        connection=document.connection,
        document=document,
        action=action,
        outcome=outcome,
        message=message,
        exchange=client.last_exchange if client is not None else None,
    )


def _status_of(document: SyncDocument) -> tuple[str, str]:
    """(guid, name) of the Severa status the stored invoice is in."""
    status = (document.source_data.get("invoice") or {}).get("status") or {}
    return str(status.get("guid") or "").lower(), str(status.get("name") or "?")


def not_sending(setup: AccountSetup, account) -> Text | None:
    """Why the account sends nothing now, or None."""
    if not setup.verified:
        return Text(
            "Maventa account %(vat)s is not verified yet (authentication %(state)s): nothing is sent until "
            "the signatory signs. See the account's authentication status.",
            vat=account.external_id,
            state=setup.auth_state or Text("not requested"),
        )
    if not setup.statuses_chosen:
        return Text(
            "Choose the Severa statuses (to transfer, after transfer, on error) of Maventa account %(vat)s.",
            vat=account.external_id,
        )
    if not setup.enabled:
        return Text(
            "Sending is switched off for Maventa account %(vat)s: switch it on in the account's settings.",
            vat=account.external_id,
        )
    return None


def wrong_account(document_or_raw, account, connection) -> Text | None:
    """Why the invoice may not go out on this account: it was issued by another company (routing fell
    back to the default account). An e-invoice always carries the issuing company's own identity."""
    raw = document_or_raw.source_data if hasattr(document_or_raw, "source_data") else document_or_raw
    seller = (connection.source.invoice_facts(raw).get("seller") or {}).get("vat_number") or ""
    if seller.replace(" ", "").upper() == account.external_id.replace(" ", "").upper():
        return None
    return Text(
        "The invoice was issued by %(seller)s, which has no Maventa account here; it is never sent on "
        "another company's account (%(vat)s). Add a Maventa account for %(seller)s.",
        seller=seller or Text("an unnamed company"),
        vat=account.external_id,
    )


def _send_soon(document_id: int) -> None:
    from .tasks import send_invoice

    def send():
        try:
            send_invoice.delay(document_id)
        except Exception as exc:  # the broker is away: the retry pass sends queued documents anyway
            log.warning("Could not enqueue maventa.send_invoice(%s): %s", document_id, exc)

    transaction.on_commit(send)


# --- deciding -----------------------------------------------------------------------------------------


def on_document_changed(document: SyncDocument, *, trigger: str = "") -> None:
    """Inside the intake transaction, after the stored invoice changed."""
    if document.account_id is None:
        return
    setup = setup_of(document.account)
    status, status_name = _status_of(document)
    if document.state in (State.QUEUED, State.PROCESSING, State.RETRYING):
        return  # on its way: the newest snapshot is what it sends
    if document.state in (State.SENT, State.DONE):
        if status == setup.status_to_transfer.lower() and setup.status_after:
            # Maventa has it: the status write-back did not land, or a person moved it back. Never twice.
            _log(
                document,
                Outcome.INFO,
                Text(
                    "Invoice %(label)s is in the status to transfer again, but Maventa already has it "
                    "(%(uuid)s): not sent again; its Severa status is set to after transfer again.",
                    label=document.source_label,
                    uuid=document.target_ref,
                ),
                action="evaluate",
            )
            _queue_write_back(document, setup.status_after)
        return
    if status != setup.status_to_transfer.lower():
        if document.state in (State.PENDING, State.BLOCKED, State.SKIPPED):
            settle(
                document,
                State.SKIPPED,
                Text(
                    "Not sent: the invoice is in the Severa status %(status)s, not in the one chosen to "
                    "transfer.",
                    status=status_name,
                ),
                outcome=Outcome.INFO,
            )
        return
    why = wrong_account(document, document.account, document.connection) or not_sending(
        setup, document.account
    )
    if why is not None:
        settle(document, State.BLOCKED, why)
        return
    if document.state == State.FAILED and (document.result or {}).get("maventa_id"):
        _new_revision(document)
    _queue(document, trigger or Text("in the status to transfer"))


def reconsider(account) -> int:
    """The account's documents that waited for a person (switched off, not verified, statuses not chosen)
    are decided again, in the caller's transaction."""
    waiting = SyncDocument.objects.select_for_update(of=("self",)).filter(
        account=account, state__in=(State.BLOCKED, State.PENDING, State.SKIPPED)
    )
    count = 0
    for document in waiting.select_related("account", "connection"):
        on_document_changed(document, trigger=Text("sending switched on"))
        count += 1
    return count


def _new_revision(document: SyncDocument) -> None:
    """Maventa has an invoice under the current uuid that failed to deliver: a new send is a new one."""
    result = dict(document.result or {})
    result["revision"] = int(result.get("revision") or 1) + 1
    earlier = {"uuid": document.target_ref, "id": result.get("maventa_id")}
    result["earlier"] = [*result.get("earlier", []), earlier]
    for key in ("maventa_id", "status", "actions", "uuid"):
        result.pop(key, None)
    document.result = result
    document.target_ref = ""


def _queue(document: SyncDocument, why: Text | str) -> None:
    document.state = State.QUEUED
    document.set_error("")
    document.next_retry_at = None
    document.save()
    _log(document, Outcome.INFO, Text("Queued to send to Maventa (%(why)s).", why=why), action="evaluate")
    _send_soon(document.pk)


def retry(documents_, *, user=None) -> int:
    """A person's retry: the invoice is read again from Severa and sent whatever its Severa status, unless
    Maventa already has it under the current revision."""
    queued = 0
    for doc_id in [d.pk for d in documents_]:
        with transaction.atomic():
            doc = (
                SyncDocument.objects.select_for_update(of=("self",))
                .select_related("account", "connection")
                .filter(pk=doc_id)
                .first()
            )
            if doc is None or doc.account_id is None:
                continue
            if doc.state not in (State.FAILED, State.BLOCKED, State.RETRYING, State.SKIPPED, State.PENDING):
                continue
            why = wrong_account(doc, doc.account, doc.connection) or not_sending(
                setup_of(doc.account), doc.account
            )
            if why is not None:
                settle(doc, State.BLOCKED, why)
                continue
            try:
                fresh = doc.connection.source.refetch(doc.connection, doc)
            except (ApiError, Unsupported):
                fresh = None
            if fresh and fresh != doc.source_data:
                doc.source_data = fresh
            if doc.state == State.FAILED and (doc.result or {}).get("maventa_id"):
                _new_revision(doc)
            who = getattr(user, "get_username", lambda: "")() if user is not None else ""
            _queue(doc, Text("retried by %(who)s", who=who) if who else Text("retried"))
            queued += 1
    return queued


# --- sending ------------------------------------------------------------------------------------------


def _take(document_id: int) -> SyncDocument | None:
    """The document, now PROCESSING under its uuid (stored before any call), or None when it is not ours
    to send (another worker has it, it is done, it is not due)."""
    now = timezone.now()
    with transaction.atomic():
        doc = (
            SyncDocument.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("account", "connection", "connection__tenant")
            .filter(pk=document_id)
            .first()
        )
        if doc is None or doc.account_id is None:
            return None
        due = doc.state == State.QUEUED or (
            doc.state == State.RETRYING and (doc.next_retry_at is None or doc.next_retry_at <= now)
        )
        stale = doc.state == State.PROCESSING and doc.updated_at <= now - stale_processing()
        if not (due or stale):
            return None
        why = wrong_account(doc, doc.account, doc.connection) or not_sending(
            setup_of(doc.account), doc.account
        )
        if why is not None:
            settle(doc, State.BLOCKED, why)
            return None
        result = dict(doc.result or {})
        revision = int(result.get("revision") or 1)
        uuid = documents.derived_uuid(doc.source_id, revision)
        result.update(uuid=uuid, revision=revision)
        if stale or doc.attempts:
            result["ask_first"] = True  # an earlier attempt may have reached Maventa
        doc.result = result
        doc.target_ref = uuid
        doc.state = State.PROCESSING
        doc.attempts += 1
        doc.next_retry_at = None
        doc.save()
    return doc


def send(document_id: int) -> str:
    """Send one document; returns the state it ended in (or "" when it was not ours to send)."""
    doc = _take(document_id)
    if doc is None:
        return ""
    account = doc.account
    setup = setup_of(account)
    client = client_for(account)
    uuid = doc.target_ref
    try:
        if doc.result.get("ask_first"):
            found = client.find_invoice(uuid)
            if found is not None:
                _accepted(doc, found, client, setup, note=Text("found at Maventa under its uuid"))
                return doc.state
        built, route = _prepare(doc, client, setup)
        if built is None:
            return doc.state
        source = doc.connection.source
        pdf = source.document_pdf(doc.connection, doc.source_data) if setup.attach_pdf else None
        sent = client.send_invoice(
            send_zip(built.ubl, pdf),
            uuid=uuid,
            recipient_eia=route.recipient_eia,
            recipient_operator=route.recipient_operator,
            recipient_email=route.recipient_email,
            disabled_routes=route.disabled_routes,
            lang=built.language,
        )
    except RetryableError as exc:
        _retry_later(doc, exc, client)
        return doc.state
    except MaventaUnauthorized as exc:
        settle(
            doc,
            State.BLOCKED,
            Text(
                "Maventa refused account %(vat)s (%(error)s): check its keys and that the company is "
                "verified, then retry.",
                vat=account.external_id,
                error=words_of(exc),
            ),
        )
        return doc.state
    except MaventaError as exc:
        _refused(doc, Text("Maventa refused the invoice: %(error)s", error=words_of(exc)), client, setup)
        return doc.state
    except ApiError as exc:  # the source refused (its PDF): a person looks
        _refused(doc, Text("Not sent: %(error)s", error=words_of(exc)), client, setup)
        return doc.state
    _accepted(doc, sent, client, setup)
    return doc.state


def _prepare(doc: SyncDocument, client, setup: AccountSetup):
    """(the built document, its route), payload stored; (None, None) when it cannot go (settled here)."""
    connection = doc.connection
    source = connection.source
    raw = doc.source_data
    facts = source.invoice_facts(raw)
    sale = source.read_sale(connection, raw, None)
    route = documents.route_of(facts, setup)
    buyer = facts.get("buyer") or {}
    if route.channel != documents.EINVOICE and buyer.get("vat_number"):
        receivers = client.lookup_receivers(bid=buyer["vat_number"], country=buyer.get("country") or "")
        if receivers:
            route = documents.route_of(facts, setup, receivers)
    built = documents.build(sale, facts, doc.account.external_id, setup, route)
    doc.payload = {
        "ubl": built.ubl.decode() if built.ubl else "",
        "validation": documents.validation_json(built),
        "route": route.as_json(),
        "format": documents.FORMAT,
        "pdf": setup.attach_pdf,
    }
    doc.save(update_fields=["payload", "updated_at"])
    _log(
        doc,
        Outcome.INFO,
        Text("Route: %(channel)s. %(why)s", channel=documents.CHANNEL_WORDS[route.channel], why=route.why),
    )
    if not built.valid:
        _refused(doc, documents.failed_rules(built), client, setup, checked=True)
        return None, None
    if route.channel is None:
        _refused(doc, route.why, client, setup)
        return None, None
    return built, route


def _accepted(doc, sent: SentInvoice, client, setup: AccountSetup, *, note: Text | str = "") -> None:
    result = dict(doc.result or {})
    result.pop("ask_first", None)
    result.update(
        maventa_id=sent.id,
        status=sent.status,
        actions=[_action_json(a) for a in sent.actions],
        recipient={"eia": sent.recipient_eia, "operator": sent.recipient_operator},
    )
    doc.result = result
    if sent.failed:
        doc.save()
        _delivery_failed(doc, sent, client, setup)
        return
    doc.state = State.DONE if sent.delivered else State.SENT
    doc.set_error("")
    if sent.delivered:
        doc.done_at = timezone.now()
    doc.save()
    if note or sent.repeated:
        message = Text(
            "Maventa already had it: invoice %(id)s (%(status)s), %(note)s.",
            id=sent.id,
            status=sent.status,
            note=note or Text("it refused the same uuid twice"),
        )
    else:
        message = Text("Sent to Maventa as invoice %(id)s (%(status)s).", id=sent.id, status=sent.status)
    _log(doc, Outcome.OK, message, client=client)
    _write_back(doc, setup.status_after, Text("after transfer"))


def _action_json(action) -> dict:
    return {
        "type": action.type,
        "channel": action.channel,
        "message": action.message,
        "happened_at": (
            action.happened_at.isoformat() if hasattr(action.happened_at, "isoformat") else action.happened_at
        ),
    }


def _retry_later(doc, exc: RetryableError, client) -> None:
    if doc.attempts >= MAX_ATTEMPTS:
        # Whether Maventa got it is unknown: no Severa status is set; a person's retry asks by uuid first.
        doc.state = State.FAILED
        doc.result = {**(doc.result or {}), "ask_first": True}
        why = Text(
            "Gave up after %(count)s attempts (last: %(error)s). Retry when Maventa and Severa answer again: "
            "Maventa is asked by the invoice's uuid before anything is sent.",
            count=doc.attempts,
            error=words_of(exc),
        )
        doc.set_error(why)
        doc.next_retry_at = None
        doc.save()
        _log(doc, Outcome.ERROR, why, client=client)
        return
    doc.state = State.RETRYING
    doc.next_retry_at = timezone.now() + retry_delay(doc.attempts, getattr(exc, "retry_after", None))
    doc.result = {**(doc.result or {}), "ask_first": True}
    why = Text("Will try again: %(error)s", error=words_of(exc))
    doc.set_error(why)
    doc.save()
    _log(doc, Outcome.RETRYABLE, why, client=client)


def _refused(doc, why: Text, client, setup: AccountSetup, *, checked: bool = False) -> None:
    doc.state = State.FAILED
    doc.set_error(why)
    doc.next_retry_at = None
    doc.save()
    _log(doc, Outcome.ERROR, why, client=None if checked else client)
    _write_back(doc, setup.status_error, Text("on error"))


def _delivery_failed(doc, sent: SentInvoice, client, setup: AccountSetup) -> None:
    errors = "; ".join(sent.errors) or sent.status
    _refused(
        doc,
        Text("Maventa could not deliver invoice %(id)s: %(errors)s", id=sent.id, errors=errors),
        client,
        setup,
    )


# --- writing the status back to Severa ----------------------------------------------------------------


def _write_back(doc, status: str, which: Text) -> None:
    """Move the Severa invoice to `status`; when Severa cannot take it now, remember it for the next
    follow-up pass (the invoice would otherwise be read again as waiting)."""
    if not status:
        return
    try:
        doc.connection.source.write_back(doc, {"status": status}, style="status")
    except ApiError as exc:
        doc.result = {**(doc.result or {}), "severa_status": {"pending": status}}
        doc.save(update_fields=["result", "updated_at"])
        _log(
            doc,
            Outcome.RETRYABLE,
            Text(
                "Could not set the Severa status (%(which)s) yet, tried again later: %(error)s",
                which=which,
                error=words_of(exc),
            ),
            action="write_back",
        )
        return
    doc.result = {**(doc.result or {}), "severa_status": {"set": status}}
    doc.save(update_fields=["result", "updated_at"])
    _log(doc, Outcome.OK, Text("Severa status set (%(which)s).", which=which), action="write_back")


def _queue_write_back(doc, status: str) -> None:
    doc.result = {**(doc.result or {}), "severa_status": {"pending": status}}
    doc.save(update_fields=["result", "updated_at"])


# --- passes (beat) ------------------------------------------------------------------------------------


def take_due(now=None) -> list[int]:
    """Documents to send now: retries that are due and sends a dead worker left half done (each turned
    QUEUED here, so the next pass leaves it to the task it is given), and queued ones whose task never
    started. A document a task is already on its way for is not given a second one."""
    now = now or timezone.now()
    ours = SyncDocument.objects.filter(connection__target_kind="maventa")
    due = ours.filter(
        Q(state=State.RETRYING, next_retry_at__isnull=True)
        | Q(state=State.RETRYING, next_retry_at__lte=now)
        | Q(state=State.PROCESSING, updated_at__lte=now - stale_processing())
    )
    with transaction.atomic():
        revived = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:1000])
        # updated_at moves with the state: the next pass leaves them to the task given now
        ours.filter(pk__in=revived).update(state=State.QUEUED, next_retry_at=None, updated_at=now)
    lost = ours.filter(state=State.QUEUED, updated_at__lte=now - QUEUED_GRACE).exclude(pk__in=revived)
    stuck = list(lost.values_list("pk", flat=True)[:1000])
    ours.filter(pk__in=stuck).update(updated_at=now)
    return revived + stuck


def follow_deliveries() -> int:
    """Ask Maventa how each sent invoice is delivering; settle delivered and failed ones; set the Severa
    statuses that could not be set before."""
    changed = 0
    sent = (
        SyncDocument.objects.filter(connection__target_kind="maventa", state=State.SENT)
        .select_related("account", "connection", "connection__tenant")
        .order_by("updated_at")[:FOLLOW_BATCH]
    )
    clients = {}
    for doc in sent:
        client = clients.setdefault(doc.account_id, client_for(doc.account))
        try:
            answer = client.get_invoice(doc.result.get("maventa_id") or doc.target_ref)
        except ApiError as exc:
            log.info("Maventa status of %s not read: %s", doc.pk, exc)
            continue
        seen = len(doc.result.get("actions") or [])
        if answer.status != doc.result.get("status") or len(answer.actions) != seen:
            changed += 1
            _followed(doc, answer, client)
    for doc in SyncDocument.objects.filter(
        connection__target_kind="maventa", result__severa_status__has_key="pending"
    ).select_related("account", "connection")[:FOLLOW_BATCH]:
        pending = doc.result["severa_status"]["pending"]
        after = pending == setup_of(doc.account).status_after
        _write_back(doc, pending, Text("after transfer") if after else Text("on error"))
    return changed


def _followed(doc, answer: SentInvoice, client) -> None:
    setup = setup_of(doc.account)
    doc.result = {**doc.result, "status": answer.status, "actions": [_action_json(a) for a in answer.actions]}
    if answer.delivered:
        doc.state = State.DONE
        doc.done_at = timezone.now()
        doc.save()
        channel = next((a.channel for a in reversed(answer.actions) if a.type == "DELIVERED"), "") or "-"
        message = Text("Delivered by Maventa (%(channel)s).", channel=channel)
        _log(doc, Outcome.OK, message, client=client, action="status")
        return
    if answer.failed:
        doc.save()
        _delivery_failed(doc, answer, client, setup)
        return
    doc.save()
