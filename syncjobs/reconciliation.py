"""A connection's day, checked for every account: what the source says should exist against what the target
itself confirms (``connectors.reconcile``), kept as one ``ReconciledDay`` per account and day.

Where "expected" comes from, per account: the source objects that reached us created that day in the
source's own time zone (``SourceAdapter.day_zone``), each with the eligibility its target decided (a document
the target skipped as not eligible is not expected) and its amount as the stored snapshot says
(``stored_day_keys``); plus, when the source itself counts more objects for the day than reached us
(``day_count``, one cheap question), the unknown ones it lists (``day_objects``), routed by the
connection's rules as they would have been: "missing, never reached this service".

What the target confirms is asked of the target (``TargetAdapter.confirm_day``). Our own states say what is
still on its way (waiting: pending, queued, sending, sent and awaiting the answer, retry scheduled, draft) or
refused (failed, needs a person); the target's own words replace ours where it has some. A document we
recorded as done that the target does not confirm is missing. A target that cannot be asked leaves the
day's row with ``error`` set and ``matches`` false: never a false "matches".

Each difference is stored as the report prints it (``Difference.as_json``: kind, source, target_document,
detail) plus ``document_id`` (the ``SyncDocument`` a person's retry would resend, None for an object that
never reached us) and ``retryable`` (that document is in a state a person may retry now).

Memory: one account at a time, its stored documents read in chunks of ``CHUNK`` rows, only the snapshot's
moment, amount and currency (``KeyTextTransform``: the JSON stays in the database) and of the result only the
keys the target reads (``TargetAdapter.day_result_keys``). What stays in memory while an account is checked is
one slim record per document of that account (``KnownDocument``: ids, label, state, a shared amount, the
declared result keys, two times), the target's confirmation of it and the comparison's index of both; the
sentences of the differences are written for the differing objects only. Whether more objects of the day
exist at the source than reached us is counted from sorted ids as they pass (nothing kept), and the unknown
ones are looked up ``CHUNK`` at a time.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import BooleanField, Case, F, Q, Value, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.daycheck import (
    EMPTY_RESULT,
    UNDECLARED_RESULT,
    DayObject,
    DeclaredResult,
    KnownDocument,
    TargetDay,
)
from connectors.http import ApiError
from connectors.money import amount_text
from connectors.reconcile import AMOUNT, DUPLICATED, MISSING, REFUSED, WAITING, Expected, reconcile
from connectors.registry import Unsupported
from connectors.routing import route
from connectors.text import Text, english, stored

from .models import RETRYABLE_BY_PERSON, ReconciledDay, SyncDocument

CHUNK = 2000
State = SyncDocument.State
WAITING_STATES = frozenset(
    {State.PENDING, State.QUEUED, State.PROCESSING, State.SENT, State.RETRYING, State.DRAFT}
)
REFUSED_STATES = frozenset({State.FAILED, State.BLOCKED})


def day_bounds(zone: dt.tzinfo, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the day in ``zone``, as aware datetimes."""
    start = dt.datetime.combine(day, dt.time(), zone)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)


def day_of(value, zone: dt.tzinfo) -> dt.date | None:
    """The day a stored moment falls on in ``zone``: a bare date is that day; a time without an offset is
    UTC."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        moment = parse_datetime(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(zone).date()


@functools.lru_cache(maxsize=4096)
def _decimal_of(text: str) -> Decimal:
    """Decimals are immutable: one object per amount text, shared by every document of that amount."""
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _decimal(value) -> Decimal:
    return _decimal_of(str(value)) if value not in (None, "") else Decimal(0)


_STATES = {state.value: state.value for state in State}  # one string object per state


def _snapshot_key(path: str):
    """The text of one key of the stored snapshot, a dotted path reaching into objects: ``total.amount``."""
    *outer, last = path.split(".")
    expression = "source_data"
    for name in outer:
        expression = KeyTransform(name, expression)
    return KeyTextTransform(last, expression)


def _day_documents(connection, day: dt.date, **filters):
    """The connection's documents (its target's order kind) whose snapshot's moment is within a day of
    ``day`` on each side (text bounds, any offset: the exact day is decided by ``day_of``), with the
    snapshot's moment, amount and currency annotated (the JSON stays in the database)."""
    keys = connection.source.stored_day_keys
    return (
        SyncDocument.objects.filter(
            connection=connection, kind=connection.target.order_document_kind, **filters
        )
        .annotate(
            day_moment=_snapshot_key(keys.moment),
            day_amount=_snapshot_key(keys.amount),
            day_currency=_snapshot_key(keys.currency or keys.moment),
        )
        .filter(
            day_moment__gte=(day - dt.timedelta(days=1)).isoformat(),
            day_moment__lt=(day + dt.timedelta(days=2)).isoformat(),
        )
        .order_by()
    )


def reached_count(connection, day: dt.date, zone: dt.tzinfo) -> int:
    """How many distinct source objects of the day reached us (on any account, routed or not): their ids
    come sorted from the database and are counted as they pass, none kept."""
    rows = _day_documents(connection, day).values_list("source_id", "day_moment").order_by("source_id")
    count, previous = 0, None
    for source_id, moment in rows.iterator(chunk_size=CHUNK):
        if source_id != previous and day_of(moment, zone) == day:
            count, previous = count + 1, source_id
    return count


def unreached(connection, day: dt.date, zone: dt.tzinfo, objects: Iterable[DayObject]) -> Iterator[DayObject]:
    """The source's own objects of the day that did not reach us, asked of the database ``CHUNK`` at a
    time (nothing held across chunks)."""
    batch: list[DayObject] = []

    def flush():
        ids = {obj.source_id for obj in batch}
        rows = _day_documents(connection, day, source_id__in=ids).values_list("source_id", "day_moment")
        reached = {source_id for source_id, moment in rows if day_of(moment, zone) == day}
        yield from (obj for obj in batch if obj.source_id not in reached)
        batch.clear()

    for obj in objects:
        batch.append(obj)
        if len(batch) == CHUNK:
            yield from flush()
    if batch:
        yield from flush()


class _AccountDocuments:
    """One account's documents of the day, read once from the database in chunks: what the target is asked
    about (``known``, one slim ``KnownDocument`` each) and, for the few documents not done, what our own
    rows say of them (still on its way or refused, with when and why). ``currency`` is the first
    document's."""

    def __init__(self, connection, account, day: dt.date, zone: dt.tzinfo):
        self.known: list[KnownDocument] = []
        self.currency: str | None = None
        self.waiting: dict[str, Text | str] = {}
        self.refused: dict[str, Text | str] = {}
        keys = connection.source.stored_day_keys
        result_keys = connection.target.day_result_keys
        if result_keys is None:
            result_fields = {"whole_result": F("result")}
        else:
            result_keys = tuple(result_keys)
            result_fields = {f"result_{i}": KeyTransform(key, "result") for i, key in enumerate(result_keys)}
            result_fields["has_result"] = Case(
                When(Q(result__isnull=True) | Q(result={}), then=Value(False)),
                default=Value(True),
                output_field=BooleanField(),
            )
        rows = (
            _day_documents(connection, day, account=account)
            .annotate(**result_fields)
            .values_list(
                "id",
                "source_id",
                "source_label",
                "state",
                "target_ref",
                "done_at",
                "updated_at",
                "last_error",
                "last_error_text",
                "day_moment",
                "day_amount",
                "day_currency",
                *result_fields,
            )
        )
        shared: dict[str, str] = {}  # one object per short result value (a series, a state word)
        for row in rows.iterator(chunk_size=CHUNK):
            pk, source_id, label, state, ref, done_at, updated_at, error, error_text = row[:9]
            moment, amount, currency = row[9:12]
            if day_of(moment, zone) != day:
                continue
            if result_keys is None:
                result = row[12] or {}
            else:
                values = tuple(
                    shared.setdefault(value, value) if isinstance(value, str) and len(value) <= 16 else value
                    for value in row[12:-1]
                )
                if any(value is not None for value in values):
                    result = DeclaredResult(result_keys, values)
                else:
                    result = UNDECLARED_RESULT if row[-1] else EMPTY_RESULT
            known = KnownDocument(
                id=pk,
                source_id=source_id,
                label=label or source_id,
                state=_STATES.get(state, state),
                amount=_decimal(amount),
                target_ref=ref or "",
                result=result,
                done_at=done_at if state == State.DONE else None,
                updated_at=None if state == State.DONE else updated_at,
            )
            self.known.append(known)
            if self.currency is None:
                currency = (currency if keys.currency else "") or keys.default_currency
                self.currency = str(currency).upper()
            if known.state in WAITING_STATES or known.state in REFUSED_STATES:
                self._ours(known, _reason(error, error_text))

    def _ours(self, known: KnownDocument, reason: Text | str) -> None:
        state = State(known.state).label
        since = timezone.localtime(known.updated_at).strftime("%Y-%m-%d %H:%M") if known.updated_at else "?"
        if known.state in WAITING_STATES:
            self.waiting[known.label] = (
                Text("%(state)s since %(since)s: %(reason)s", state=state, since=since, reason=reason)
                if reason
                else Text("%(state)s since %(since)s", state=state, since=since)
            )
        else:
            self.refused[known.label] = reason or Text("%(state)s since %(since)s", state=state, since=since)


def nightly_connections() -> list[int]:
    """The connections each night's job checks: enabled, with a source and a target that can say."""
    from connectors.models import Connection

    return [
        connection.pk
        for connection in Connection.objects.filter(enabled=True).order_by("pk")
        if connection.target.reconciles and connection.source.stored_day_keys is not None
    ]


def check_day(connection, day: dt.date) -> list[ReconciledDay]:
    """Check one day of the connection on every account, one account after the other (each reads its own
    documents: one account's records are let go before the next is read); each account's row is
    replaced."""
    source, target = connection.source, connection.target
    accounts = list(connection.accounts.order_by("pk"))
    if source.stored_day_keys is None or not target.reconciles:
        why = Text(
            "%(source)s → %(target)s cannot be reconciled: %(missing)s says nothing of its days.",
            source=source.label,
            target=target.label,
            missing=target.label if source.stored_day_keys is not None else source.label,
        )
        return [_save(connection, account, day, error=why) for account in accounts]
    zone = source.day_zone(connection)
    start, end = day_bounds(zone, day)
    never: dict[int, list[DayObject]] = defaultdict(list)
    source_error = None
    try:
        count = source.day_count(connection, start, end)
        if count is not None and count > reached_count(connection, day, zone):
            rules = list(
                connection.rules.filter(enabled=True).select_related("account", "account__connection")
            )
            for obj in unreached(connection, day, zone, source.day_objects(connection, start, end)):
                decision = route(connection, obj.facts, rules)
                if decision.account is not None:
                    never[decision.account.pk].append(obj)
    except (ApiError, Unsupported) as exc:
        source_error = Text(
            "%(source)s could not be asked what the day holds: %(error)s",
            source=source.label,
            error=getattr(exc, "text", None) or str(exc) or type(exc).__name__,
        )
    recent = day >= dt.datetime.now(zone).date() - dt.timedelta(days=1)
    rows = []
    for account in accounts:
        row = check_account(
            connection,
            account,
            day,
            _AccountDocuments(connection, account, day, zone),
            never.pop(account.pk, []),
            source_error=source_error,
        )
        if recent:
            compare_stock(connection, row)
        rows.append(row)
    return rows


def compare_stock(connection, row: ReconciledDay) -> None:
    """An accounting target that books the shop's stock: its stock against the source's on hand, read from
    both now (so only for the latest day: an older day's balances are gone). A difference keeps the day
    from matching; a side that cannot be asked says so on the day."""
    target = connection.target
    if not target.wanted_stock_kinds(connection):
        return
    try:
        found = target.stock_differences(row.account)
    except Unsupported:
        return
    except ApiError as exc:
        if not row.error:
            row.set_error(
                Text(
                    "The stock could not be compared: %(error)s",
                    error=getattr(exc, "text", None) or str(exc) or type(exc).__name__,
                )
            )
            row.matches = False
            row.save(update_fields=["error", "error_text", "matches"])
        return
    row.stock_differences = found
    row.matches = row.matches and not found
    row.save(update_fields=["stock_differences", "matches"])


def check_account(
    connection,
    account,
    day: dt.date,
    docs: _AccountDocuments,
    never: list[DayObject],
    *,
    source_error=None,
) -> ReconciledDay:
    """One account's day: its documents of the day against what its target confirms.

    In memory meanwhile: the account's slim ``KnownDocument``s, the target's confirmations, and the
    comparison's index of both (``connectors.reconcile``); a difference's sentence (amounts, when it was
    done, why it waits) is written only for the documents that differ."""
    target = connection.target
    default_currency = connection.source.stored_day_keys.default_currency
    currency = docs.currency or (never[0].currency if never else default_currency)
    known = docs.known
    waiting, refused = docs.waiting, docs.refused
    expected = itertools.chain(
        (Expected(k.label, k.amount) for k in known if k.state != State.SKIPPED),
        (Expected(obj.label, obj.amount) for obj in never),
    )
    try:
        answer = target.confirm_day(account, day, known)
    except (ApiError, Unsupported) as exc:
        error = Text(
            "%(target)s could not be asked about the day: %(error)s",
            target=target.label,
            error=getattr(exc, "text", None) or str(exc) or type(exc).__name__,
        )
        amounts = _amounts(known, never)
        return _save(
            connection,
            account,
            day,
            currency=currency,
            expected_count=len(amounts),
            expected_total=sum(amounts.values(), Decimal(0)),
            error=error,
        )
    answer = answer or TargetDay()
    for label, why in answer.refused.items():
        waiting.pop(label, None)
        refused[label] = why
    for label, why in answer.waiting.items():
        if label not in answer.refused:
            refused.pop(label, None)
            waiting[label] = why
    checked = reconcile(
        expected,
        answer.confirmed,
        waiting={k: english(v) for k, v in waiting.items()},
        refused={k: english(v) for k, v in refused.items()},
    )
    differing = {diff.source for diff in checked.differences}
    details = _Details(connection, currency, known, never, answer, differing)
    differences, texts = [], []
    for diff in checked.differences:
        text = details.of(diff, waiting, refused)
        row = diff.as_json()
        row["detail"] = english(text)
        document = details.document_of.get(diff.source)
        row["document_id"] = document.id if document else None
        row["retryable"] = bool(document and document.state in RETRYABLE_BY_PERSON)
        differences.append(row)
        texts.append(stored(text)[1] if isinstance(text, Text) else None)
    unexpected = [
        {"source": doc.source, "document": doc.document, "amount": f"{doc.amount:f}"}
        for doc in checked.unexpected
    ]
    return _save(
        connection,
        account,
        day,
        currency=currency,
        expected_count=checked.expected_count,
        expected_total=checked.expected_total,
        confirmed_count=checked.confirmed_count,
        confirmed_total=checked.confirmed_total,
        differences=differences,
        differences_text=texts,
        unexpected=unexpected,
        matches=checked.matches and source_error is None,
        error=source_error,
    )


def _amounts(known: list[KnownDocument], never: list[DayObject], labels=None) -> dict[str, Decimal]:
    """Each expected object's amount by label (the last one read wins, as the check reads them), for
    ``labels`` only when given."""
    amounts: dict[str, Decimal] = {}
    for k in known:
        if k.state != State.SKIPPED and (labels is None or k.label in labels):
            amounts[k.label] = k.amount
    for obj in never:
        if labels is None or obj.label in labels:
            amounts[obj.label] = obj.amount
    return amounts


class _Details:
    """What the sentences of the differing objects need, gathered in one pass over the account's records
    for those labels only: their amounts, their documents, the target's documents for them, and why each
    missing one is missing."""

    def __init__(self, connection, currency, known, never, answer: TargetDay, labels: set[str]):
        self.currency = currency
        self.amounts = _amounts(known, never, labels)
        self.document_of: dict[str, KnownDocument] = {}
        self.missing: dict[str, Text | str] = {}
        target, source = connection.target, connection.source
        for k in known:
            if k.label not in labels:
                continue
            self.document_of[k.label] = k
            if k.state == State.DONE:
                done = timezone.localtime(k.done_at).strftime("%Y-%m-%d %H:%M") if k.done_at else "?"
                self.missing[k.label] = Text(
                    "recorded here as done on %(done)s (%(amount)s), unknown to %(target)s",
                    done=done,
                    amount=amount_text(k.amount, currency),
                    target=target.label,
                )
        for obj in never:
            if obj.label in labels:
                self.missing[obj.label] = Text(
                    "%(source)s has it (%(amount)s) but it never reached this service: its webhook was "
                    "lost; a sync of the day takes it in",
                    source=source.label,
                    amount=amount_text(obj.amount, currency),
                )
        self.missing.update((label, why) for label, why in answer.missing.items() if label in labels)
        self.confirmed: dict[str, list] = defaultdict(list)
        for doc in answer.confirmed:
            if doc.source in labels:
                self.confirmed[doc.source].append(doc)

    def of(self, diff, waiting, refused) -> Text | str:
        """The difference's detail as a sentence a person reads in their language (its English is stored
        too)."""
        currency = self.currency
        if diff.kind == MISSING:
            return self.missing.get(diff.source) or Text(
                "expected %(amount)s, none at the target",
                amount=amount_text(self.amounts[diff.source], currency),
            )
        if diff.kind == WAITING:
            return waiting[diff.source]
        if diff.kind == REFUSED:
            return refused[diff.source]
        docs = sorted(self.confirmed.get(diff.source, ()), key=lambda d: d.document)
        if diff.kind == DUPLICATED:
            return Text(
                "%(count)s target documents: %(names)s",
                count=len(docs),
                names=", ".join(d.document for d in docs),
            )
        if diff.kind == AMOUNT and docs:
            source, there = self.amounts[diff.source], docs[0].amount
            return Text(
                "source %(source)s, target %(target)s (difference %(difference)s)",
                source=amount_text(source, currency),
                target=amount_text(there, currency),
                difference=amount_text(there - source, currency),
            )
        return diff.detail


def _reason(error, error_text) -> Text | str:
    if error_text:
        try:
            return Text.from_json(error_text)
        except (TypeError, ValueError):
            pass
    return error or ""


@transaction.atomic
def _save(connection, account, day, *, error=None, **values) -> ReconciledDay:
    defaults = {
        "tenant_id": connection.tenant_id,
        "connection": connection,
        "currency": "VND",
        "expected_count": 0,
        "expected_total": Decimal(0),
        "confirmed_count": 0,
        "confirmed_total": Decimal(0),
        "differences": [],
        "differences_text": [],
        "unexpected": [],
        "matches": False,
        "checked_at": timezone.now(),
        **values,
    }
    defaults["error"], defaults["error_text"] = stored(error) if error else ("", None)
    if error:
        defaults["matches"] = False
    row, _created = ReconciledDay.objects.update_or_create(account=account, day=day, defaults=defaults)
    return row
