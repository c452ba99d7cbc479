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

Memory: the stored documents are read in chunks of ``CHUNK`` rows, only the snapshot's moment, amount and
currency (``KeyTextTransform``: the JSON stays in the database); what stays in memory is one small record per
object of the day.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.daycheck import DayObject, KnownDocument, TargetDay
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


def _decimal(value) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except (InvalidOperation, ValueError):
        return Decimal(0)


class _Stored:
    """One stored document of the day: what the target is asked about, and what only the core needs."""

    __slots__ = ("account_id", "currency", "error", "error_text", "known")

    def __init__(self, account_id, known, currency, error, error_text):
        self.account_id, self.known, self.currency = account_id, known, currency
        self.error, self.error_text = error, error_text


def _snapshot_key(path: str):
    """The text of one key of the stored snapshot, a dotted path reaching into objects: ``total.amount``."""
    *outer, last = path.split(".")
    expression = "source_data"
    for name in outer:
        expression = KeyTransform(name, expression)
    return KeyTextTransform(last, expression)


def stored_documents(connection, day: dt.date, zone: dt.tzinfo) -> Iterator[_Stored]:
    """The connection's documents (its target's order kind) whose source object was created on ``day``,
    streamed in chunks; only the snapshot's moment, amount and currency leave the database. The text bounds
    are a day wider than the day on each side (any offset), the exact day is decided here."""
    keys = connection.source.stored_day_keys
    rows = (
        SyncDocument.objects.filter(connection=connection, kind=connection.target.order_document_kind)
        .annotate(
            day_moment=_snapshot_key(keys.moment),
            day_amount=_snapshot_key(keys.amount),
            day_currency=_snapshot_key(keys.currency or keys.moment),
        )
        .filter(
            day_moment__gte=(day - dt.timedelta(days=1)).isoformat(),
            day_moment__lt=(day + dt.timedelta(days=2)).isoformat(),
        )
        .values_list(
            "id",
            "account_id",
            "source_id",
            "source_label",
            "state",
            "target_ref",
            "result",
            "done_at",
            "updated_at",
            "last_error",
            "last_error_text",
            "day_moment",
            "day_amount",
            "day_currency",
        )
        .order_by()
    )
    for row in rows.iterator(chunk_size=CHUNK):
        (pk, account_id, source_id, label, state, ref, result, done_at, updated_at, error, error_text) = row[
            :11
        ]
        moment, amount, currency = row[11:]
        if day_of(moment, zone) != day:
            continue
        known = KnownDocument(
            id=pk,
            source_id=source_id,
            label=label or source_id,
            state=state,
            amount=_decimal(amount),
            target_ref=ref,
            result=result or {},
            done_at=done_at,
            updated_at=updated_at,
        )
        currency = (currency if keys.currency else "") or keys.default_currency
        yield _Stored(account_id, known, str(currency).upper(), error, error_text)


def nightly_connections() -> list[int]:
    """The connections each night's job checks: enabled, with a source and a target that can say."""
    from connectors.models import Connection

    return [
        connection.pk
        for connection in Connection.objects.filter(enabled=True).order_by("pk")
        if connection.target.reconciles and connection.source.stored_day_keys is not None
    ]


def check_day(connection, day: dt.date) -> list[ReconciledDay]:
    """Check one day of the connection on every account; each account's row is replaced."""
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
    per_account: dict[int | None, list[_Stored]] = defaultdict(list)
    reached: set[str] = set()
    for item in stored_documents(connection, day, zone):
        per_account[item.account_id].append(item)
        reached.add(item.known.source_id)
    never: dict[int, list[DayObject]] = defaultdict(list)
    source_error = None
    try:
        count = source.day_count(connection, start, end)
        if count is not None and count > len(reached):
            rules = list(
                connection.rules.filter(enabled=True).select_related("account", "account__connection")
            )
            for obj in source.day_objects(connection, start, end):
                if obj.source_id in reached:
                    continue
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
            per_account.pop(account.pk, []),
            never.get(account.pk, []),
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
    stored_docs: list[_Stored],
    never: list[DayObject],
    *,
    source_error=None,
) -> ReconciledDay:
    """One account's day: its documents of the day against what its target confirms."""
    target = connection.target
    default_currency = connection.source.stored_day_keys.default_currency
    currency = stored_docs[0].currency if stored_docs else (never[0].currency if never else default_currency)
    expected: list[Expected] = []
    amounts: dict[str, Decimal] = {}
    document_of: dict[str, KnownDocument] = {}
    waiting: dict[str, Text | str] = {}
    refused: dict[str, Text | str] = {}
    missing: dict[str, Text | str] = {}
    for item in stored_docs:
        known = item.known
        document_of[known.label] = known
        if known.state == State.SKIPPED:
            continue
        expected.append(Expected(known.label, known.amount))
        amounts[known.label] = known.amount
        state = State(known.state).label
        since = timezone.localtime(known.updated_at).strftime("%Y-%m-%d %H:%M") if known.updated_at else "?"
        reason = _reason(item)
        if known.state in WAITING_STATES:
            waiting[known.label] = (
                Text("%(state)s since %(since)s: %(reason)s", state=state, since=since, reason=reason)
                if reason
                else Text("%(state)s since %(since)s", state=state, since=since)
            )
        elif known.state in REFUSED_STATES:
            refused[known.label] = reason or Text("%(state)s since %(since)s", state=state, since=since)
        elif known.state == State.DONE:
            done = timezone.localtime(known.done_at).strftime("%Y-%m-%d %H:%M") if known.done_at else "?"
            missing[known.label] = Text(
                "recorded here as done on %(done)s (%(amount)s), unknown to %(target)s",
                done=done,
                amount=amount_text(known.amount, currency),
                target=target.label,
            )
    for obj in never:
        expected.append(Expected(obj.label, obj.amount))
        amounts[obj.label] = obj.amount
        missing[obj.label] = Text(
            "%(source)s has it (%(amount)s) but it never reached this service: its webhook was lost; a "
            "sync of the day takes it in",
            source=connection.source.label,
            amount=amount_text(obj.amount, currency),
        )
    known_docs = [item.known for item in stored_docs]
    try:
        answer = target.confirm_day(account, day, known_docs)
    except (ApiError, Unsupported) as exc:
        error = Text(
            "%(target)s could not be asked about the day: %(error)s",
            target=target.label,
            error=getattr(exc, "text", None) or str(exc) or type(exc).__name__,
        )
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
    missing.update(answer.missing)
    checked = reconcile(
        expected,
        answer.confirmed,
        waiting={k: english(v) for k, v in waiting.items()},
        refused={k: english(v) for k, v in refused.items()},
    )
    confirmed: dict[str, list] = defaultdict(list)
    for doc in answer.confirmed:
        confirmed[doc.source].append(doc)
    differences, texts = [], []
    for diff in checked.differences:
        text = _detail(diff, amounts, missing, waiting, refused, confirmed, currency)
        row = diff.as_json()
        row["detail"] = english(text)
        known = document_of.get(diff.source)
        row["document_id"] = known.id if known else None
        row["retryable"] = bool(known and known.state in RETRYABLE_BY_PERSON)
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


def _reason(item: _Stored) -> Text | str:
    if item.error_text:
        try:
            return Text.from_json(item.error_text)
        except (TypeError, ValueError):
            pass
    return item.error or ""


def _detail(diff, amounts, missing, waiting, refused, confirmed, currency) -> Text | str:
    """The difference's detail as a sentence a person reads in their language (its English is stored too)."""
    if diff.kind == MISSING:
        return missing.get(diff.source) or Text(
            "expected %(amount)s, none at the target", amount=amount_text(amounts[diff.source], currency)
        )
    if diff.kind == WAITING:
        return waiting[diff.source]
    if diff.kind == REFUSED:
        return refused[diff.source]
    docs = sorted(confirmed.get(diff.source, ()), key=lambda d: d.document)
    if diff.kind == DUPLICATED:
        return Text(
            "%(count)s target documents: %(names)s",
            count=len(docs),
            names=", ".join(d.document for d in docs),
        )
    if diff.kind == AMOUNT and docs:
        source, there = amounts[diff.source], docs[0].amount
        return Text(
            "source %(source)s, target %(target)s (difference %(difference)s)",
            source=amount_text(source, currency),
            target=amount_text(there, currency),
            difference=amount_text(there - source, currency),
        )
    return diff.detail


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
