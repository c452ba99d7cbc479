"""Sending AMIS vouchers: one sender per company, batches of up to 100 in order, one save in flight at a
time, and what each answer means for the documents (sent, refused, retried later, held for a person).

What a document should be is decided in ``posting`` (from the order); this module takes what is due and
gets it to AMIS exactly once: the same ``org_refid`` on every resend (AMIS updates a waiting proposal and
answers ``IsCreatedVoucher`` once the voucher exists), documents marked as being sent before each call
(a crash leaves evidence), and a callback that settled a document meanwhile never undone.
"""

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor, wait

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connectors.http import PermanentError, RetryableError
from connectors.locks import try_lock
from connectors.models import TargetAccount
from connectors.stock import STOCK_KINDS
from connectors.text import Text, verbatim
from syncjobs.models import MergedResult, SyncAttempt, SyncDocument
from syncjobs.services import Outcome, State

from .client import MAX_DICTIONARY, MAX_VOUCHERS, AmisDisconnected, SaveResult
from .convert import SALES_VOUCHER
from .posting import (
    SENT,
    _fail,
    _generated,
    _log,
    _main_of,
    _own_request,
    _revision,
    _row,
    _summary,
    describe,
    evaluate,
)
from .services import client_for, remember_token

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 3600
# States in which a document may still be (re)made from its order: nothing reached AMIS yet.


DUE_STATES = (State.QUEUED, State.RETRYING, State.PROCESSING)


def retry_delay(attempts: int, retry_after: float | None = None) -> dt.timedelta:
    base = getattr(settings, "AMIS_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS)
    seconds = min(RETRY_MAX_SECONDS, base * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=max(seconds, retry_after or 0))


def _due(now=None):
    return SyncDocument.objects.filter(
        state__in=DUE_STATES, account__isnull=False, connection__target_kind="amis"
    ).exclude(state=State.RETRYING, next_retry_at__gt=now or timezone.now())


def sync_orders(account_id: int | None = None) -> int:
    """Send what is due, per company, in order. Returns how many vouchers AMIS accepted for processing."""
    if account_id is None:
        ids = sorted(set(_due().values_list("account_id", flat=True)))
        return sum(sync_orders(i) for i in ids)
    account = TargetAccount.objects.select_related("connection", "connection__tenant").get(pk=account_id)
    sent = 0
    while True:
        # Sequential per company (amis.md §12): one sender per company at a time.
        with try_lock(f"amis:post:{account.pk}") as held:
            if not held:
                return sent  # another worker is on it and loops until nothing is due
            sent += _post_company(account)
        # What became due while the lock was being let go would otherwise wait for the next beat pass.
        if not _due().filter(account_id=account.pk, state=State.QUEUED).exists():
            return sent


class _Seen:
    """The exchange one answer came with (the sending client is busy with the next call by then)."""

    def __init__(self, exchange):
        self.last_exchange = exchange


def _call_save(client, docs: list[SyncDocument]):
    """In the sender thread: the save call, and nothing else."""
    result = client.save([d.payload["voucher"] for d in docs], _dictionary(docs))
    return result, client.last_exchange


def _post_company(account: TargetAccount) -> int:
    """One save in flight at a time per company, so AMIS gets them in order. While it is in flight, the
    answer to the one before is recorded and the next batch taken, so the company does not wait for our
    database between calls."""
    client = client_for(account)  # this thread's: deletions, and narrowing down a refused call
    renewed: list = []  # the sender thread never touches the database: a token it gets is saved here
    sender = client_for(account, on_token=renewed.append)
    sent, handled, previous = 0, set(), None

    def keep_tokens() -> None:
        while renewed:
            token = renewed.pop(0)
            remember_token(settings.AMIS_APP_ID, account.external_id.strip(), sender.token_owner, token)

    def take() -> list[SyncDocument]:
        batch = _next_batch(account, handled)
        handled.update(d.pk for d in batch)
        return batch

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="amis-save") as pool:
        try:
            batch = take()
            while batch:
                saves = [d for d in batch if not d.result.get("delete")]
                deletions = [d for d in batch if d.result.get("delete")]
                if deletions:  # rare: withdrawn first, one by one, before anything else is sent
                    if previous is not None:
                        sent += _record(account, client, *previous)
                        previous = None
                    try:
                        for doc in deletions:
                            _delete(client, doc)
                    except (RetryableError, PermanentError) as exc:
                        _in_trouble(account, client, batch, exc)
                        return sent
                future = pool.submit(_call_save, sender, saves) if saves else None
                if previous is not None:
                    sent += _record(account, client, *previous)
                previous = (saves, future) if future is not None else None
                batch = take()
                if previous is not None:
                    wait([previous[1]])
                    keep_tokens()
                    if previous[1].exception() is not None:  # AMIS in trouble, or refusing the company
                        _put_back(batch)
                        return sent + _record(account, client, *previous)
            if previous is not None:
                sent += _record(account, client, *previous)
            return sent
        finally:
            keep_tokens()


def _put_back(batch: list[SyncDocument]) -> None:
    """A batch taken but not sent (the pass stops): due again as it was, its attempt not counted."""
    SyncDocument.objects.filter(pk__in=[d.pk for d in batch], state=State.PROCESSING).update(
        state=State.QUEUED, attempts=F("attempts") - 1
    )


def _record(account: TargetAccount, client, docs: list[SyncDocument], future) -> int:
    """A save's answer, on this thread: how many vouchers AMIS took."""
    try:
        result, exchange = future.result()
    except (RetryableError, PermanentError) as exc:
        _in_trouble(account, _Seen(exc.exchange), docs, exc)
        return 0
    try:
        return _answered(client, docs, result, _Seen(exchange))
    except (RetryableError, PermanentError) as exc:  # narrowing a refusal down took more calls
        _in_trouble(account, client, docs, exc)
        return 0


def _in_trouble(account: TargetAccount, client, docs: list[SyncDocument], exc) -> None:
    """AMIS's trouble settles what is still being sent: retried later (the same keys), held for a person
    (a disconnected company holds all its documents), or failed. The pass stops after it."""
    processing = [d for d in docs if d.state == State.PROCESSING]
    if isinstance(exc, RetryableError):
        _reschedule(processing, exc, client)
    elif isinstance(exc, AmisDisconnected):
        _hold_company(account, exc, client)
    else:
        _fail(processing, exc.text, client, state=State.BLOCKED)


def _next_batch(account: TargetAccount, handled=frozenset()) -> list[SyncDocument]:
    """The next vouchers of the company, oldest first, marked as being sent (committed before the call: a
    crash leaves evidence). At most 100 vouchers and 200 master-data items per call. The rows are locked
    while they are read and marked, so a callback settling one meanwhile (generated, with its number) is
    never turned back into "being sent"; one a callback holds right now waits for the next batch."""
    with transaction.atomic():
        docs = list(
            _due()
            .filter(account_id=account.pk)
            .exclude(pk__in=handled, state=State.PROCESSING)  # never twice in one pass, whatever went wrong
            .select_for_update(of=("self",), skip_locked=True)
            .defer("source_data")
            .order_by("created_at", "id")[:MAX_VOUCHERS]
        )
        batch, items = [], set()
        for doc in docs:
            codes = {str(d.get("account_object_code")) for d in (doc.payload or {}).get("dictionary") or []}
            if batch and len(items | codes) > MAX_DICTIONARY:
                break
            items |= codes
            batch.append(doc)
        if not batch:
            return []
        SyncDocument.objects.filter(pk__in=[d.pk for d in batch]).update(
            state=State.PROCESSING, attempts=F("attempts") + 1, updated_at=timezone.now()
        )
    for doc in batch:
        doc.state = State.PROCESSING
        doc.attempts += 1
        doc.account = account  # one company: its tag for every timeline row without a query each
        doc.connection = account.connection
    return batch


def _dictionary(docs) -> list[dict]:
    """The master data the vouchers need, each item once (by code)."""
    items = {}
    for doc in docs:
        for item in (doc.payload or {}).get("dictionary") or []:
            items[str(item.get("account_object_code") or item.get("inventory_item_code") or len(items))] = (
                item
            )
    return list(items.values())


def _save(client, docs: list[SyncDocument]) -> int:
    """One save call on this thread, and what its answer means."""
    return _answered(
        client, docs, client.save([d.payload["voucher"] for d in docs], _dictionary(docs)), client
    )


def _answered(client, docs: list[SyncDocument], result: SaveResult, seen) -> int:
    """AMIS took the vouchers, or refused: a refusal that names its vouchers fails those and sends the
    others again, one that names none is narrowed down by halves."""
    if result.ok:
        _sent(docs, seen)
        return len(docs)
    named = _refused_by_refid(result)
    refused = [d for d in docs if d.target_ref.casefold() in named]
    if refused:
        for doc in refused:
            item = named[doc.target_ref.casefold()]
            code = str(item.get("error_code") or result.error_code)
            _refused(doc, code, str(item.get("error_message") or ""), seen)
        rest = [d for d in docs if d.target_ref.casefold() not in named]
        return _save(client, rest) if rest else 0  # nothing of the call was kept: the others again
    if len(docs) > 1:
        half = len(docs) // 2
        return _save(client, docs[:half]) + _save(client, docs[half:])
    _refused(docs[0], result.error_code, result.error_message, seen)
    return 0


def _refused_by_refid(result: SaveResult) -> dict[str, dict]:
    rows = result.data if isinstance(result.data, list) else []
    return {
        str(row.get("org_refid")).casefold(): row
        for row in rows
        if isinstance(row, dict) and row.get("org_refid")
    }


def _refused(doc: SyncDocument, code: str, message: str, client) -> None:
    with transaction.atomic():
        if not _still_processing([doc]):
            return  # a callback settled it meanwhile (generated, with its number): that stands
        if code == "IsCreatedVoucher":  # sent before (an answer was lost) and generated since
            _generated(
                doc,
                {},
                client,
                note=Text("AMIS had already generated it (an earlier answer was lost); not sent again"),
            )
            return
        words = verbatim(f"{code}: {message}" if message else code)
        _fail([doc], Text("AMIS refused the voucher: %(detail)s", detail=words), client)


def _still_processing(docs) -> list[SyncDocument]:
    """The documents no callback has moved meanwhile (AMIS may answer by callback before its answer to the
    call is recorded): locked, so a callback waits for this to be recorded, and never undone by it."""
    ids = set(
        SyncDocument.objects.select_for_update()
        .filter(pk__in=[d.pk for d in docs], state=State.PROCESSING)
        .order_by("pk")  # rows locked in one order everywhere (callbacks too): no deadlock
        .values_list("pk", flat=True)
    )
    return [d for d in docs if d.pk in ids]


def _sent(docs, client) -> None:
    with transaction.atomic():
        _record_sent(_still_processing(docs), client)


def _record_sent(docs, client) -> None:
    now = timezone.now()
    sent = {"amis": SENT, "sent_at": now.isoformat()}
    SyncDocument.objects.filter(pk__in=[d.pk for d in docs]).update(
        state=State.SENT,
        next_retry_at=None,
        updated_at=now,
        last_error="",
        last_error_text=None,
        result=MergedResult(sent),
    )
    rows = []
    for doc in docs:
        doc.state, doc.next_retry_at, doc.updated_at = State.SENT, None, now
        doc.set_error("")
        doc.result = {**doc.result, **sent}
        voucher = doc.payload["voucher"]
        rows.append(
            _row(
                "post",
                Outcome.OK,
                Text(
                    "Sent to AMIS: %(what)s; waiting for AMIS to accept the proposal.", what=describe(voucher)
                ),
                document=doc,
                client=client,
                request=_summary(voucher),
            )
        )
    SyncAttempt.objects.bulk_create(rows)
    if docs:
        _remember_created(docs[0].account, _dictionary(docs))


def _remember_created(account: TargetAccount, items: list[dict]) -> None:
    """Master data AMIS took with the vouchers joins the company's copy (the next sync confirms it)."""
    from .models import AmisDictionaryEntry
    from .services import FIELDS

    by_type = {1: 1, 3: 2}  # save dictionary_type → get data_type (amis.md §8, §9)
    now = timezone.now()
    entries = {}
    for item in items:
        data_type = by_type.get(item.get("dictionary_type"))
        if data_type is None:
            continue
        code_field, name_field, id_field = FIELDS[data_type]
        code = str(item.get(code_field) or "").strip()
        if code:
            entries[(data_type, code)] = AmisDictionaryEntry(
                account=account,
                data_type=data_type,
                code=code[:200],
                name=str(item.get(name_field) or "")[:500],
                amis_id=str(item.get(id_field) or "")[:64],
                inactive=False,
                data=item,
                synced_at=now,
            )
    if entries:
        AmisDictionaryEntry.objects.bulk_create(list(entries.values()), ignore_conflicts=True)


def _delete(client, doc: SyncDocument) -> None:
    """Withdraw the proposal AMIS holds; then the document is made again (under the next revision) or, for a
    cancelled order, ends there."""
    target = doc.result["delete"]
    result = client.delete([target])
    gone = result.not_found and (doc.result.get("delete_sent") or doc.result.get("withdraw"))
    if result.ok or gone:  # deleted now, by our earlier call whose answer was lost, or not there at all
        _deleted(doc, client)
    elif result.already_generated:
        doc.result = {k: v for k, v in doc.result.items() if k not in ("delete", "withdraw")}
        with transaction.atomic():
            if not _still_processing([doc]):
                return  # a callback recorded it generated meanwhile, with its number
            _generated(
                doc,
                {},
                client,
                note=Text("AMIS had already generated it, so its proposal could not be withdrawn"),
            )
    elif result.not_found:
        doc.result = {k: v for k, v in doc.result.items() if k not in ("delete", "withdraw")}
        reason = Text(
            "AMIS no longer has the proposal %(refid)s (an accountant may have deleted it in AMIS); nothing "
            "was posted again. Retry to post it again, or leave it if it was deleted on purpose.",
            refid=target["org_refid"],
        )
        _fail([doc], reason, client, state=State.BLOCKED)
    else:
        words = verbatim(f"{result.error_code}: {result.error_message}")
        _fail([doc], Text("AMIS refused to delete the proposal: %(detail)s", detail=words), client)


def _deleted(doc: SyncDocument, client) -> None:
    withdrawn = doc.result.get("withdraw")
    old = doc.result["delete"]["org_refid"]
    revision = _revision(doc) + 1
    doc.result = {"revision": revision, "amis": "", "deleted": [*doc.result.get("deleted", []), old]}
    doc.target_ref = ""
    doc.attempts = 0
    if withdrawn:
        doc.state = State.SKIPPED
        doc.set_error("")
        doc.save()
        _log(
            "delete",
            Outcome.OK,
            Text(
                "Order %(order)s is cancelled: its proposal %(refid)s was deleted in AMIS.",
                order=doc.source_label,
                refid=old,
            )
            if doc.source_type not in STOCK_KINDS
            else Text(
                "%(doc)s: its proposal %(refid)s was withdrawn from AMIS.", doc=doc.source_label, refid=old
            ),
            document=doc,
            client=client,
        )
        return
    doc.state = State.PENDING
    doc.save()
    _log(
        "delete",
        Outcome.OK,
        Text(
            "Proposal %(refid)s deleted in AMIS; sent again as revision %(revision)s.",
            refid=old,
            revision=revision,
        ),
        document=doc,
        client=client,
    )
    main = doc if doc.kind == SALES_VOUCHER else _main_of(doc)
    if main is not None:
        evaluate(main)


def _reschedule(docs, exc, client) -> None:
    """Retryable trouble: due again after a backoff (the same org_refid: AMIS updates, never doubles), or
    failed after MAX_ATTEMPTS."""
    with transaction.atomic():
        _record_retry(_still_processing(docs), exc, client)


def _record_retry(docs, exc, client) -> None:
    now = timezone.now()
    give_up = [d for d in docs if d.attempts >= MAX_ATTEMPTS]
    if give_up:
        _fail(
            give_up,
            Text(
                "Gave up after %(attempts)s attempts: %(error)s", attempts=give_up[0].attempts, error=exc.text
            ),
            client,
        )
    later = [d for d in docs if d.attempts < MAX_ATTEMPTS]
    rows = []
    for doc in later:
        doc.state, doc.updated_at = State.RETRYING, now
        doc.set_error(exc.text)
        doc.next_retry_at = now + retry_delay(doc.attempts, getattr(exc, "retry_after", None))
        if doc.result.get("delete"):
            doc.result = {**doc.result, "delete_sent": True}
        rows.append(
            _row(
                "post",
                Outcome.RETRYABLE,
                Text(
                    "Not accepted yet (%(error)s); will send again under the same key at %(when)s.",
                    error=exc.text,
                    when=f"{timezone.localtime(doc.next_retry_at):%H:%M:%S}",
                ),
                document=doc,
                client=client,
                request=_own_request(doc),
            )
        )
    SyncDocument.objects.bulk_update(
        later, ["state", "last_error", "last_error_text", "next_retry_at", "updated_at", "result"]
    )
    SyncAttempt.objects.bulk_create(rows)


def _hold_company(account: TargetAccount, exc: AmisDisconnected, client) -> None:
    """The company disconnected our app (or its database): everything due for it waits for a person."""
    docs = list(_due().filter(account_id=account.pk))
    _fail(docs, exc.text, client, state=State.BLOCKED)
    _log("post", Outcome.ERROR, exc.text, account=account, client=client)
