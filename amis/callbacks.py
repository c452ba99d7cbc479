"""What AMIS calls back, once it has processed what we sent (amis.md §10): stored first at the door
(`views.callback`), then applied here to the documents, each result once.

A result finds its document by ``org_refid`` (``SyncDocument.target_ref``) among the company's documents.
Deliveries repeat and may come out of order, so transitions only move forward: sent → proposal → generated;
a refusal never undoes a generated voucher. Results AMIS could not deliver are asked for with
``get_call_back_detail_error`` by the beat job `check_waiting`, which also sends again, under the same
``org_refid``, what AMIS never acknowledged at all.
"""

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.http import ApiError
from connectors.models import TargetAccount
from connectors.text import Plural, Text, verbatim
from syncjobs import intake
from syncjobs.models import InboundEvent, MergedResult, SyncAttempt, SyncDocument
from syncjobs.services import Outcome, State

from . import posting
from .client import CallbackResult, undelivered_result, verify_callback
from .models import AmisCallbackResult
from .services import TARGET_KIND, client_for

log = logging.getLogger(__name__)

SAVE_RESULTS = frozenset({1, 3})  # a save's outcome (3: an update, treated alike)
DELETE_RESULT = 2
PUSHED_BACK = 22  # the voucher as AMIS holds it, with what happened to it (custom_param.ModelState)
MODEL_STATES = {
    3: Text("deleted in AMIS"),
    7: Text("posted to the ledger in AMIS"),
    8: Text("unposted in AMIS"),
}
CALLBACK_WAIT_SECONDS = 900


def companies_sql() -> str:
    """SQL giving the tenant that posts to the AMIS company code which is its one parameter (the intake's
    tenant query for callbacks; no row: a company nobody posts to, and the callback is refused)."""
    from django.db import connection as db

    from connectors.models import Connection

    quote = db.ops.quote_name
    accounts, connections = quote(TargetAccount._meta.db_table), quote(Connection._meta.db_table)
    return (
        f"SELECT c.tenant_id FROM {accounts} a JOIN {connections} c ON c.id = a.connection_id "  # noqa: S608 - names from the models
        f"WHERE c.target_kind = '{TARGET_KIND}' AND lower(a.external_id) = lower(%s) ORDER BY a.id LIMIT 1"
    )


def process_event(event_id: int) -> str | None:
    return intake.process(event_id, _handle_event)


def _handle_event(event: InboundEvent) -> str:
    callback = verify_callback(event.body, settings.AMIS_APP_ID)  # checked at the door; stored as sent
    accounts = list(_accounts(callback.org_company_code, event.tenant_id))
    if not accounts:
        event.error = f"No AMIS company {callback.org_company_code} any more."
        return InboundEvent.Status.IGNORED
    applied = apply_all(accounts, callback.data_type, callback.results, callback.model_state)
    if not applied:
        event.error = "Nothing to apply: every result was known already, or names no voucher of ours."
        return InboundEvent.Status.IGNORED
    return InboundEvent.Status.DONE


def _accounts(company: str, tenant_id: int | None):
    accounts = TargetAccount.objects.filter(
        connection__target_kind=TARGET_KIND, external_id__iexact=company.strip()
    ).select_related("connection", "connection__tenant")
    return accounts.filter(connection__tenant_id=tenant_id) if tenant_id is not None else accounts


def apply_all(accounts, data_type: int | None, results: list[CallbackResult], model_state=None) -> int:
    """Apply a callback's results (a save's result names up to 100 vouchers), each once: the documents
    locked together in one order, the results not seen before recorded together, the common case — a
    proposal accepted — written for all in one statement, anything else one by one. Returns how many
    changed a document."""
    if len(results) <= 1:
        return sum(apply(accounts, data_type, result, model_state) for result in results)
    kind = data_type if data_type is not None else -1
    by_ref = {r.org_refid.strip().lower(): r for r in results}
    with transaction.atomic():
        docs = list(
            SyncDocument.objects.select_for_update(of=("self",))
            .select_related("account__connection", "connection")
            .filter(account__in=accounts, target_ref__in=list(by_ref))
            .order_by("pk")
        )
        seen = set(
            AmisCallbackResult.objects.filter(
                account__in=accounts, org_refid__in=[d.target_ref for d in docs], data_type=kind
            ).values_list("account_id", "org_refid", "session_id")
        )
        fresh = [
            (doc, by_ref[doc.target_ref])
            for doc in docs
            if (doc.account_id, doc.target_ref, by_ref[doc.target_ref].session_id[:64]) not in seen
        ]
        AmisCallbackResult.objects.bulk_create(
            [
                AmisCallbackResult(
                    account=doc.account,
                    org_refid=doc.target_ref,
                    data_type=kind,
                    session_id=result.session_id[:64],
                    success=result.success,
                )
                for doc, result in fresh
            ],
            ignore_conflicts=True,
        )
        accepted = [doc for doc, result in fresh if _accepts_proposal(doc, data_type, result)]
        others = [(doc, result) for doc, result in fresh if doc not in accepted]
        _proposals_accepted(accepted)
        return len(accepted) + sum(_apply(doc, data_type, result, model_state) for doc, result in others)


def _accepts_proposal(doc: SyncDocument, data_type, result: CallbackResult) -> bool:
    """A save's result saying AMIS took the voucher as a proposal, for a document still waiting for it."""
    return (
        (data_type in SAVE_RESULTS or data_type is None)
        and result.success
        and not result.generated
        and doc.state in (State.SENT, State.PROCESSING, State.RETRYING)
        and not (doc.state == State.SENT and (doc.result or {}).get("amis") == posting.PROPOSAL)
    )


def _proposals_accepted(docs: list[SyncDocument]) -> None:
    if not docs:
        return
    now = timezone.now()
    SyncDocument.objects.filter(pk__in=[d.pk for d in docs]).update(
        state=State.SENT,
        next_retry_at=None,
        last_error="",
        last_error_text=None,
        updated_at=now,
        result=MergedResult({"amis": posting.PROPOSAL}),
    )
    message = Text("AMIS accepted the proposal; waiting for an accountant to generate the voucher in AMIS.")
    rows = []
    for doc in docs:
        doc.state, doc.result = State.SENT, {**doc.result, "amis": posting.PROPOSAL}
        rows.append(posting._row("callback", Outcome.OK, message, document=doc))
    SyncAttempt.objects.bulk_create(rows)


def apply(accounts, data_type: int | None, result: CallbackResult, model_state: int | None = None) -> bool:
    """Apply one result to its document, once per (company, org_refid, data_type, session_id). Returns
    whether it changed anything."""
    ref = result.org_refid.strip().lower()
    with transaction.atomic():
        doc = (
            SyncDocument.objects.select_for_update(of=("self",))
            .select_related("account__connection", "connection")
            .filter(account__in=accounts, target_ref=ref)
            .first()
        )
        if doc is None:
            return False  # an older revision's proposal (deleted since), or not ours
        try:
            with transaction.atomic():
                AmisCallbackResult.objects.create(
                    account=doc.account,
                    org_refid=ref,
                    data_type=data_type if data_type is not None else -1,
                    session_id=result.session_id[:64],
                    success=result.success,
                )
        except IntegrityError:
            return False  # delivered before
        return _apply(doc, data_type, result, model_state)


def _apply(doc: SyncDocument, data_type, result: CallbackResult, model_state) -> bool:
    amis = (doc.result or {}).get("amis")
    if (result.generated and result.success) or result.error_code == "IsCreatedVoucher":
        if doc.state == State.DONE:
            return _numbered(doc, result)
        posting._generated(doc, {"refno": result.refno, "refid": result.refid})
        return True
    if data_type == PUSHED_BACK:
        words = MODEL_STATES.get(model_state)
        if words is None:
            return False
        outcome = Outcome.ERROR if model_state == 3 else Outcome.INFO
        number = doc.result.get("refno") or doc.target_ref
        posting._log(
            "callback", outcome, Text("Voucher %(number)s %(what)s.", number=number, what=words), document=doc
        )
        return True
    if data_type == DELETE_RESULT:
        return False  # the sender recorded the deletion when AMIS answered it
    if data_type not in SAVE_RESULTS and data_type is not None:
        return False
    if doc.state not in (State.SENT, State.PROCESSING, State.RETRYING):
        return False  # done, or made again since: the result is about what AMIS held before
    if result.success:
        if amis == posting.PROPOSAL and doc.state == State.SENT:
            return False
        doc.state, doc.next_retry_at = State.SENT, None
        doc.set_error("")
        doc.result = {**doc.result, "amis": posting.PROPOSAL}
        doc.save()
        posting._log(
            "callback",
            Outcome.OK,
            Text("AMIS accepted the proposal; waiting for an accountant to generate the voucher in AMIS."),
            document=doc,
        )
        return True
    detail = verbatim(
        f"{result.error_code}: {result.error_message}" if result.error_message else result.error_code or "?"
    )
    posting._fail([doc], Text("AMIS refused the voucher: %(detail)s", detail=detail), None)
    return True


def _numbered(doc: SyncDocument, result: CallbackResult) -> bool:
    """A generated voucher recorded without AMIS's number (a resend answered IsCreatedVoucher before the
    callback that names it came): the number now."""
    if doc.result.get("refno") or not result.refno:
        return False
    doc.result = {**doc.result, "refno": result.refno, **({"refid": result.refid} if result.refid else {})}
    doc.save(update_fields=["result", "updated_at"])
    posting._log(
        "callback",
        Outcome.OK,
        Text(
            "AMIS numbered the voucher of order %(order)s %(number)s.",
            order=doc.source_label,
            number=result.refno,
        ),
        document=doc,
    )
    return True


# --- results that never came ---------------------------------------------------------------------------


def wait_seconds() -> float:
    return float(getattr(settings, "AMIS_CALLBACK_WAIT_SECONDS", CALLBACK_WAIT_SECONDS))


def check_waiting(now=None) -> int:
    """Documents waiting too long for AMIS's answer: ask AMIS for the results it could not deliver, apply
    them; what AMIS never acknowledged is sent again under the same org_refid (AMIS updates a waiting
    proposal, never doubles it). A proposal waits for the accountant: it is never sent again. Returns how
    many documents moved."""
    now = now or timezone.now()
    ours = SyncDocument.objects.filter(
        connection__target_kind=TARGET_KIND,
        account__isnull=False,
        updated_at__lt=now - dt.timedelta(seconds=wait_seconds()),
    )
    stale = ours.filter(state=State.SENT)
    # Generated without AMIS's number (found generated on a resend), for a week: the callback naming it may
    # be among the undelivered ones.
    unnumbered = ours.filter(
        state=State.DONE, result__refno__isnull=True, updated_at__gt=now - dt.timedelta(days=7)
    )
    moved = 0
    accounts = set(stale.values_list("account_id", flat=True)) | set(
        unnumbered.values_list("account_id", flat=True)
    )
    for account_id in sorted(accounts):
        account = TargetAccount.objects.select_related("connection").get(pk=account_id)
        waiting = list(stale.filter(account=account))
        moved += _ask(account, [*waiting, *unnumbered.filter(account=account)], now)
        resend = [
            d.pk
            for d in SyncDocument.objects.filter(pk__in=[d.pk for d in waiting], state=State.SENT)
            if (d.result or {}).get("amis") == posting.SENT
        ]
        minutes = max(1, round(wait_seconds() / 60))
        for doc in SyncDocument.objects.filter(pk__in=resend).select_related("account", "connection"):
            doc.state = State.QUEUED
            doc.save(update_fields=["state", "updated_at"])
            posting._log(
                "callback",
                Outcome.RETRYABLE,
                Plural(
                    "No answer from AMIS for %(minutes)s minute and none among its undelivered results: "
                    "sent again under the same key (AMIS updates a waiting proposal, never doubles it).",
                    "No answer from AMIS for %(minutes)s minutes and none among its undelivered results: "
                    "sent again under the same key (AMIS updates a waiting proposal, never doubles it).",
                    minutes,
                    minutes=minutes,
                ),
                document=doc,
            )
            moved += 1
        if resend:
            posting._send_soon(account.pk)
    return moved


def _ask(account: TargetAccount, waiting: list[SyncDocument], now) -> int:
    """Apply what `get_call_back_detail_error` lists for these documents."""
    refs = {d.target_ref for d in waiting}
    since = min(d.updated_at for d in waiting) - dt.timedelta(days=1)
    try:
        rows = client_for(account).callback_errors_between(timezone.localdate(since), timezone.localdate(now))
    except ApiError as exc:
        log.warning("AMIS undelivered results of %s not read: %s", account.tag, exc.text.english())
        return 0
    applied = 0
    for row in rows:
        data_type, result = undelivered_result(row)
        if result.org_refid.strip().lower() in refs:
            applied += apply([account], data_type, result)
    return applied
