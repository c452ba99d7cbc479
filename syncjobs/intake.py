"""Store first, then act: the generic half of every webhook and callback endpoint."""

import collections
import functools
import hashlib
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from celery import current_app
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from .models import InboundEvent

log = logging.getLogger(__name__)

# source_kind → Celery task name that processes stored events, and → a function giving the SQL that finds
# the tenant owning a source key. Source apps register both in ready().
_PROCESSORS: dict[str, str] = {}
_TENANT_SQL: dict[str, Callable[[], str]] = {}

# Headers worth keeping with a stored event (signatures are checked, not stored).
KEPT_HEADERS = ("X-Haravan-Topic", "X-Haravan-Org-Id", "X-Haravan-Test", "Content-Type", "User-Agent")
REJECTED_BODY_LIMIT = 2000


def register_source(source_kind: str, task_name: str, tenant_sql: Callable[[], str]) -> None:
    """tenant_sql() returns a query with one parameter, the source key, selecting one column named
    tenant_id: one row when a tenant owns that key, none otherwise."""
    _PROCESSORS[source_kind] = task_name
    _TENANT_SQL[source_kind] = tenant_sql


def dedupe_key(source_kind: str, source_key: str, topic: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (source_kind, source_key, topic):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


_EVERY_DIGIT_TO_0 = bytes.maketrans(b"123456789", b"000000000")


def _has_19_digits_in_a_row(body: bytes) -> bool:
    return b"0000000000000000000" in body.translate(_EVERY_DIGIT_TO_0)  # C speed, unlike a regex here


def parse_body(body: bytes | str):
    """The JSON in a delivery's body, or ValueError saying why there is none.

    orjson parses an order about four times faster than the standard library, which matters at the door.
    What orjson refuses goes to the standard parser, so what is accepted, and the message for what is not,
    stay the standard library's (it also takes NaN and Infinity), with one exception: the body must be
    UTF-8, as it is stored as text. orjson reads an integer wider than 64 bits as a float, silently: a
    body with 19 digits in a row goes to the standard parser too, which keeps every digit.
    """
    if isinstance(body, str):
        body = body.encode()
    if not _has_19_digits_in_a_row(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None


@dataclass
class Accepted:
    event_id: int
    duplicate: bool


def accept(
    *, source_kind, source_key, topic, body: bytes, headers, remote_addr, tenant_sql=None
) -> Accepted | None:
    """Store the raw event for the tenant owning source_key (once: a repeated delivery only bumps a
    counter), then enqueue after commit. None when no tenant owns source_key: nothing was stored.

    `tenant_sql` (a function like the registered one) replaces the source's registered tenant query for
    this delivery: a source whose owners differ by how a delivery was authenticated names which ones.
    A database error means the event was not stored: the sender must then be told to deliver again.
    """
    row = {
        "source_kind": source_kind,
        "source_key": source_key,
        "topic": topic,
        "dedupe_key": dedupe_key(source_kind, source_key, topic, body),
        "body": body.decode("utf-8"),
        "headers": headers,
        "remote_addr": remote_addr,
        "received_at": timezone.now(),
        **_NEW_EVENT,
    }
    db = connections[DEFAULT_DB_ALIAS]  # the `connection` proxy costs a thread-local lookup on every use
    in_transaction = db.in_atomic_block
    owner_sql = tenant_sql or _TENANT_SQL[source_kind]
    if in_transaction:  # the caller's transaction decides; a savepoint keeps it usable on error
        with transaction.atomic():
            stored = _upsert(db, row, owner_sql)
    else:
        stored = _upsert(db, row, owner_sql)  # one autocommitted statement: durable when it returns
    if stored is None:
        return None
    event_id, deliveries = stored
    if deliveries > 1:
        return Accepted(event_id=event_id, duplicate=True)
    if in_transaction:
        transaction.on_commit(lambda: enqueue_soon(event_id, source_kind))
    else:
        enqueue_soon(event_id, source_kind)  # committed already
    return Accepted(event_id=event_id, duplicate=False)


_NEW_EVENT = {
    "status": InboundEvent.Status.PENDING,
    "http_status": 200,
    "error": "",
    "deliveries": 1,
    "attempts": 0,
}


def _upsert(db, row: dict, tenant_sql: Callable[[], str]) -> tuple[int, int] | None:
    """Insert the event for the tenant owning its source key, or count one more delivery of the stored
    one: (event id, deliveries so far), or None when no tenant owns the key.

    One statement, one round trip (the tenant lookup runs inside it), written out because this is the
    product's hottest path: the ORM spends longer building the query than the database running it.
    PostgreSQL and SQLite both speak INSERT … SELECT … ON CONFLICT … RETURNING.
    """
    names = tuple(row)
    params = [_EVENT_FIELDS[name].get_db_prep_save(value, db) for name, value in row.items()]
    params.append(row["source_key"])  # the tenant query's one parameter comes after the values
    sql = _upsert_sql(db.vendor, tenant_sql, names)
    with db.cursor() as cursor:
        if db.vendor == "postgresql" and settings.DB_PREPARED_STATEMENTS:
            _execute_prepared(db, cursor, sql, names, params)
        else:
            cursor.execute(sql, params)
        return cursor.fetchone()


# Raw connection → names of the statements PREPAREd on it (a new connection starts empty).
_PREPARED_ON: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _execute_prepared(db, cursor, sql: str, names: tuple[str, ...], params: list) -> None:
    """Run `sql` as a statement prepared on this connection, PREPAREing it first if need be.

    PostgreSQL then parses and plans the statement once per connection instead of once per webhook:
    about a third of the database's time per event. A PREPARE outlives a rolled-back transaction, so
    the names remembered here stay true while the connection lives, unless someone DEALLOCATEs them:
    that delivery fails (503, Haravan delivers again) and the next one prepares afresh. (Behind a
    pgbouncer in transaction mode, set DB_PREPARED_STATEMENTS=false: one connection's statements may
    reach different server sessions.)
    """
    name = _statement_name(sql)
    prepared = _PREPARED_ON.setdefault(db.connection, set())
    if name not in prepared:
        types = [_EVENT_FIELDS[field].db_type(db) for field in names] + ["text"]  # + the tenant query's key
        first, *rest = sql.split("%s")  # placeholders become $1, $2, … in order
        numbered = first + "".join(f"${number}{text}" for number, text in enumerate(rest, start=1))
        cursor.execute(f"PREPARE {name} ({', '.join(types)}) AS {numbered}")
        prepared.add(name)
    try:
        cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)
    except DatabaseError as exc:
        if getattr(exc.__cause__, "pgcode", None) == UNDEFINED_PREPARED_STATEMENT:
            prepared.discard(name)
        raise


UNDEFINED_PREPARED_STATEMENT = "26000"  # PostgreSQL's SQLSTATE for EXECUTE of an unknown name


@functools.cache
def _statement_name(sql: str) -> str:
    return "intake_" + hashlib.sha256(sql.encode()).hexdigest()[:16]


_EVENT_FIELDS = {field.name: field for field in InboundEvent._meta.concrete_fields}


@functools.cache
def _upsert_sql(vendor: str, tenant_sql: Callable[[], str], names: tuple[str, ...]) -> str:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name  # `vendor` is in the key: quoting differs by vendor
    table = quote(InboundEvent._meta.db_table)
    columns = ", ".join(quote(_EVENT_FIELDS[name].column) for name in (*names, "tenant"))
    values = ", ".join(["%s"] * len(names))
    # Only quoted model names, the source app's query and placeholders go into the text; every value
    # travels as a parameter. "WHERE 1 = 1" keeps SQLite from reading ON CONFLICT as a join's ON.
    return (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608
        f"SELECT {values}, owner.tenant_id FROM ({tenant_sql()}) AS owner WHERE 1 = 1 "
        f"ON CONFLICT ({quote('dedupe_key')}) DO UPDATE SET deliveries = {table}.deliveries + 1 "
        "RETURNING id, deliveries"
    )


def reject(*, source_kind, source_key, topic, body: bytes, headers, remote_addr, http_status, error) -> None:
    """The audit row for a delivery we refused: what came, from where, and why it was refused."""
    InboundEvent.objects.create(
        source_kind=source_kind,
        source_key=source_key[:64],
        topic=topic[:100],
        # Kept as readable text whatever came: PostgreSQL text cannot hold NUL, which UTF-16 is full of.
        body=body[:REJECTED_BODY_LIMIT].decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
        headers=headers,
        remote_addr=remote_addr,
        status=InboundEvent.Status.REJECTED,
        http_status=http_status,
        error=error,
    )
    log.warning("Rejected %s delivery (%s): %s", source_kind, http_status, error)


# The answer to Haravan must not wait for the broker: committed event ids go to one background thread
# per process, which hands them over in batches (one task per batch: a burst of webhooks costs a few
# publishes, not one each). A request only appends to a deque; the publisher is woken once per batch, not
# once per event (waking a thread hands the GIL over and back, which costs more than the append). A batch
# leaves as soon as deliveries pause (a lone webhook or the end of a burst waits PUBLISH_QUIET_SECONDS);
# under steady traffic, when it is full or PUBLISH_GATHER_SECONDS old. After a broker failure the broker
# is left alone for a while (a refused connection costs seconds of client retries).
# Whatever is not published stays pending in the database, and the sweeper sends it later: nothing
# accepted is lost, even if this process dies.
BROKER_PAUSE_SECONDS = 5.0
PUBLISH_BATCH = 100
PUBLISH_QUIET_SECONDS = 0.01
PUBLISH_GATHER_SECONDS = 0.1  # publishing costs about half a millisecond, a few times a second at most
_waiting: collections.deque = collections.deque()
_wake = threading.Event()
_publisher: threading.Thread | None = None
_publisher_lock = threading.Lock()
_broker_down_until = 0.0


def enqueue_soon(event_id: int, source_kind: str) -> None:
    if time.monotonic() < _broker_down_until:
        return
    if _publisher is None or not _publisher.is_alive():  # started lazily: after a server forks
        _start_publisher()
    _waiting.append((event_id, source_kind))
    if not _wake.is_set():  # the first event of a batch wakes the publisher; the rest ride along
        _wake.set()


def _start_publisher() -> None:
    global _publisher
    with _publisher_lock:
        if _publisher is None or not _publisher.is_alive():
            _publisher = threading.Thread(target=_publish_forever, name="intake-publish", daemon=True)
            _publisher.start()


def _publish_forever() -> None:
    while True:
        _wake.wait()
        _gather()
        # Cleared before draining: an event appended after this line sets the flag again, and one
        # appended before it is drained below. None is left behind until the next burst.
        _wake.clear()
        drained = []
        while _waiting:
            drained.append(_waiting.popleft())
        publish(drained)


def _gather() -> None:
    """Let the batch grow while deliveries keep coming, up to PUBLISH_GATHER_SECONDS or a full batch."""
    deadline = time.monotonic() + PUBLISH_GATHER_SECONDS
    gathered = len(_waiting)
    while gathered < PUBLISH_BATCH and time.monotonic() < deadline:
        time.sleep(PUBLISH_QUIET_SECONDS)
        if len(_waiting) == gathered:
            return  # none came meanwhile: a lone event, or the end of a burst
        gathered = len(_waiting)


def publish(events: list[tuple[int, str]]) -> list[int]:
    """Hand (event id, source kind) pairs to workers, up to PUBLISH_BATCH events of one kind per task.
    Returns the ids handed over; after a failed publish the rest of that kind stay pending in the
    database for the sweeper."""
    by_kind: dict[str, list[int]] = {}
    for event_id, source_kind in events:
        by_kind.setdefault(source_kind, []).append(event_id)
    sent = []
    for source_kind, ids in by_kind.items():
        for start in range(0, len(ids), PUBLISH_BATCH):
            chunk = ids[start : start + PUBLISH_BATCH]
            if not enqueue(chunk, source_kind):
                break  # the broker is down: try again on the next sweep
            sent.extend(chunk)
    return sent


def enqueue(event_ids: int | list[int], source_kind: str) -> bool:
    """Hand events to a worker. A broker outage is not an error here: the sweeper sends them later."""
    global _broker_down_until
    task_name = _PROCESSORS[source_kind]
    try:
        current_app.send_task(task_name, args=[event_ids], retry=False)
    except Exception as exc:  # the broker is down or unreachable: the events are safe in the database
        _broker_down_until = time.monotonic() + BROKER_PAUSE_SECONDS
        log.warning("Events %s stay pending, broker unavailable: %s", event_ids, exc)
        return False
    return True


def sweep(limit: int = 500) -> int:
    """Send again every event left pending too long (broker outage, lost worker). Returns how many."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.INTAKE_SWEEP_AFTER_SECONDS)
    due = list(
        InboundEvent.objects.filter(status=InboundEvent.Status.PENDING, received_at__lte=cutoff)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=cutoff))
        .order_by("received_at")
        .values_list("pk", "source_kind")[:limit]
    )
    sent = publish([(pk, source_kind) for pk, source_kind in due if source_kind in _PROCESSORS])
    if sent:
        InboundEvent.objects.filter(pk__in=sent).update(enqueued_at=timezone.now())
    return len(sent)


MAX_EVENT_ATTEMPTS = 5


def process(event_id: int, handler) -> str | None:
    """Run handler(event) once for a pending event under a row lock; the outcome is stored on the row.

    handler returns the final status (done or ignored) and may raise; a failure keeps the event pending
    for the sweeper until MAX_EVENT_ATTEMPTS, then marks it failed with the error for a person to see.
    """
    with transaction.atomic():
        event = (
            InboundEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_id, status=InboundEvent.Status.PENDING)
            .first()
        )
        if event is None:
            return None  # done already, or another worker holds it
        event.attempts += 1
        event.error = ""  # the handler may leave a note (why an event was ignored)
        try:
            with transaction.atomic():
                status = handler(event)
        except Exception as exc:
            log.exception("Event %s failed (attempt %s)", event.pk, event.attempts)
            event.error = f"{type(exc).__name__}: {exc}"
            event.enqueued_at = timezone.now()
            if event.attempts >= MAX_EVENT_ATTEMPTS:
                event.status = InboundEvent.Status.FAILED
            event.save(update_fields=["attempts", "error", "status", "enqueued_at"])
            return event.status
        event.status = status
        event.processed_at = timezone.now()
        event.save(update_fields=["attempts", "error", "status", "processed_at"])
        return status
