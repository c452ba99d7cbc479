"""Documents and their timeline: the one way every integration records what happened."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from connectors.models import LicenseError
from connectors.text import Text, stored

from .models import SyncAttempt, SyncDocument, SyncRun

Outcome = SyncAttempt.Outcome
State = SyncDocument.State

# A document in one of these states has produced something at the target: never move it elsewhere.
SETTLED_STATES = frozenset({State.PROCESSING, State.RETRYING, State.SENT, State.DONE, State.FAILED})


def attempt_row(
    *,
    connection,
    message: Text | str,
    outcome: str,
    action: str,
    document=None,
    account=None,
    exchange=None,
    request=None,
    response=None,
) -> SyncAttempt:
    """One timeline row, unsaved (batches save theirs together). The message is prefixed with the account
    tag and kept both in English and as a message id the reader's language renders; request/response are
    redacted. `request`/`response` narrow a batch exchange to this document."""
    account = account if account is not None else (document.account if document is not None else None)
    if account is not None:
        tag = account.tag
    elif document is not None:
        tag = document.tag  # a document no account could be chosen for: "[MST ?]"
    else:
        tag = f"[{connection.source_kind.capitalize()} {connection.source_key}]"  # about the whole source
    fields = exchange.logged(request=request, response=response) if exchange is not None else {}
    english, text = stored(message)
    return SyncAttempt(
        tenant_id=connection.tenant_id,
        connection=connection,
        document=document,
        account=account,
        action=action,
        outcome=outcome,
        message=f"{tag} {english}",
        text={"tag": tag, **text} if text else None,
        **fields,
    )


def log_attempt(**kwargs) -> SyncAttempt:
    row = attempt_row(**kwargs)
    row.save()
    return row


@dataclass
class Upserted:
    document: SyncDocument
    created: bool
    changed: bool
    rerouted_from: object = None  # the previous account when the document moved


def upsert_document(
    *,
    connection,
    account,
    source_type,
    source_id,
    source_label,
    kind,
    snapshot,
    source_updated_at,
    explanation,
) -> Upserted:
    """Create or refresh the one document for this source object, under a row lock.

    A newer snapshot replaces an older one (deliveries come out of order); an older one is ignored.
    A document still waiting may follow a new routing decision; one that reached the target never moves.
    """
    with transaction.atomic():
        existing = list(
            SyncDocument.objects.select_for_update(of=("self",))
            .filter(connection=connection, source_type=source_type, source_id=str(source_id), kind=kind)
            .select_related("account")
            .order_by("id")
        )
        if not existing:
            try:
                route_words, route_text = stored(explanation)
                with transaction.atomic():
                    doc = SyncDocument.objects.create(
                        connection=connection,
                        account=account,
                        source_type=source_type,
                        source_id=str(source_id),
                        source_label=source_label,
                        kind=kind,
                        source_data=snapshot,
                        source_updated_at=source_updated_at,
                        route_explanation=route_words,
                        route_text=route_text,
                    )
                return Upserted(document=doc, created=True, changed=True)
            except IntegrityError:
                # Another worker created it between our read and insert: take theirs, locked.
                existing = list(
                    SyncDocument.objects.select_for_update(of=("self",))
                    .filter(
                        connection=connection, source_type=source_type, source_id=str(source_id), kind=kind
                    )
                    .select_related("account")
                )
        doc = next((d for d in existing if d.account_id == (account.pk if account else None)), existing[0])
        changed = False
        rerouted_from = None
        newer = (
            source_updated_at is None
            or doc.source_updated_at is None
            or (source_updated_at > doc.source_updated_at)
        )
        if newer and snapshot != doc.source_data:
            doc.source_data = snapshot
            doc.source_updated_at = source_updated_at
            doc.source_label = source_label or doc.source_label
            changed = True
        if doc.account_id != (account.pk if account else None) and doc.state not in SETTLED_STATES and newer:
            rerouted_from = doc.account
            doc.account = account
            doc.set_route(explanation)
            changed = True
        if changed:
            doc.save()
        return Upserted(document=doc, created=False, changed=changed, rerouted_from=rerouted_from)


def sibling_document(document: SyncDocument, kind: str, explanation: Text | str) -> SyncDocument:
    """The one document of another kind for the same source object and account (an adjustment of an
    invoice, a receipt of a sales voucher), made from the same snapshot when it does not exist yet."""
    return upsert_document(
        connection=document.connection,
        account=document.account,
        source_type=document.source_type,
        source_id=document.source_id,
        source_label=document.source_label,
        kind=kind,
        snapshot=document.source_data,
        source_updated_at=document.source_updated_at,
        explanation=explanation,
    ).document


def hand_to_target(document: SyncDocument, decision, *, trigger: Text | str = "") -> None:
    """After a source object changed: the document waits for a person while something only a person can fix
    stands in the way (its target has no processor yet, no licence, no account to go to), said once;
    otherwise the connection's target decides what it becomes (skip, draft, queue, adjust)."""
    connection = document.connection
    reason = _waiting_for(connection, decision)
    if reason is not None:
        if document.state in (State.PENDING, State.BLOCKED) and document.last_error != reason.english():
            set_state(document, State.BLOCKED, error=reason)
            log_attempt(
                connection=connection,
                document=document,
                action="check",
                outcome=Outcome.ERROR,
                message=reason,
            )
        return
    if document.state == State.BLOCKED and not document.attempts:  # held by a target's answer: a person
        set_state(document, State.PENDING)
    connection.target.on_document_changed(document, trigger=trigger)


def _waiting_for(connection, decision) -> Text | None:
    if not connection.target.processes:
        return Text(
            "No processor for %(target)s documents yet: this connection's documents wait here until the "
            "integration can send them.",
            target=connection.target.label,
        )
    try:
        connection.check_license()
    except LicenseError as exc:
        return exc.text
    if decision.account is None:
        return decision.explanation
    return None


def settle(document: SyncDocument, state: str, error: Text | str, *, note: Text | str = "", outcome=None):
    """A target's decision about a document (not an answer from the outside service): its state and the
    reason a person reads, with a timeline row when either changed."""
    before = (document.state, document.last_error)
    document.state = state
    document.set_error(error)
    document.next_retry_at = None
    document.save()
    if before != (document.state, document.last_error):
        outcome = outcome or (Outcome.ERROR if state in (State.BLOCKED, State.FAILED) else Outcome.INFO)
        log_attempt(
            connection=document.connection,
            document=document,
            action="evaluate",
            outcome=outcome,
            message=error or note,
        )


def set_state(document: SyncDocument, state: str, *, error: Text | str = "") -> None:
    document.state = state
    document.set_error(error)
    document.save(update_fields=["state", "last_error", "last_error_text", "updated_at"])


def start_run_once(runs, token, start) -> tuple[SyncRun, bool]:
    """(the run, started now?): the run `runs` already holds for this one-time form token, or the one
    `start()` creates with it. The token's unique column makes a form posted twice, even at the same
    moment, one run; `runs` is the caller's scope (a person's tenant), so another's token finds nothing."""
    existing = runs.filter(request_token=token).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return start(), True
    except IntegrityError:  # the same form in another request at the same moment: that one started it
        return runs.get(request_token=token), False
