"""Store first, then act: the generic half of every webhook and callback endpoint."""

import hashlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import InboundEvent

log = logging.getLogger(__name__)

# source_kind → Celery task name that processes one stored event; source apps register in ready().
_PROCESSORS: dict[str, str] = {}

# Headers worth keeping with a stored event (signatures are checked, not stored).
KEPT_HEADERS = ("X-Haravan-Topic", "X-Haravan-Org-Id", "X-Haravan-Test", "Content-Type", "User-Agent")
REJECTED_BODY_LIMIT = 2000


def register_processor(source_kind: str, task_name: str) -> None:
    _PROCESSORS[source_kind] = task_name


def dedupe_key(source_kind: str, source_key: str, topic: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (source_kind, source_key, topic):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


@dataclass
class Accepted:
    event_id: int
    duplicate: bool


def accept(*, source_kind, source_key, tenant_id, topic, body: bytes, headers, remote_addr) -> Accepted:
    """Store the raw event (once: a repeated delivery only bumps a counter), then enqueue after commit."""
    key = dedupe_key(source_kind, source_key, topic, body)
    try:
        with transaction.atomic():  # a savepoint when the caller has a transaction open
            event = InboundEvent.objects.create(
                source_kind=source_kind,
                source_key=source_key,
                tenant_id=tenant_id,
                topic=topic,
                dedupe_key=key,
                body=body.decode("utf-8"),
                headers=headers,
                remote_addr=remote_addr,
            )
    except IntegrityError:
        InboundEvent.objects.filter(dedupe_key=key).update(deliveries=F("deliveries") + 1)
        existing = InboundEvent.objects.filter(dedupe_key=key).values_list("pk", flat=True).first()
        return Accepted(event_id=existing, duplicate=True)
    transaction.on_commit(lambda: enqueue_soon(event.pk, source_kind))
    return Accepted(event_id=event.pk, duplicate=False)


def reject(*, source_kind, source_key, topic, body: bytes, headers, remote_addr, http_status, error) -> None:
    """The audit row for a delivery we refused: what came, from where, and why it was refused."""
    InboundEvent.objects.create(
        source_kind=source_kind,
        source_key=source_key[:64],
        topic=topic[:100],
        body=body[:REJECTED_BODY_LIMIT].decode("utf-8", errors="replace"),
        headers=headers,
        remote_addr=remote_addr,
        status=InboundEvent.Status.REJECTED,
        http_status=http_status,
        error=error,
    )
    log.warning("Rejected %s delivery (%s): %s", source_kind, http_status, error)


# The answer to Haravan must not wait for the broker: a publish runs on a background thread, and after
# a failure the broker is left alone for a while (a refused connection costs seconds of client retries).
# Whatever is not published stays pending in the database, and the sweeper sends it later.
BROKER_PAUSE_SECONDS = 5.0
_publisher: ThreadPoolExecutor | None = None
_publisher_lock = threading.Lock()
_broker_down_until = 0.0


def enqueue_soon(event_id: int, source_kind: str) -> None:
    global _publisher
    if time.monotonic() < _broker_down_until:
        return
    with _publisher_lock:
        if _publisher is None:  # created lazily: after a web server forks its workers
            _publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-publish")
    _publisher.submit(enqueue, event_id, source_kind)


def enqueue(event_id: int, source_kind: str) -> bool:
    """Hand an event to a worker. A broker outage is not an error here: the sweeper sends it later."""
    global _broker_down_until
    task_name = _PROCESSORS[source_kind]
    try:
        current_app.send_task(task_name, args=[event_id], retry=False)
    except Exception as exc:  # the broker is down or unreachable: the event is safe in the database
        _broker_down_until = time.monotonic() + BROKER_PAUSE_SECONDS
        log.warning("Event %s stays pending, broker unavailable: %s", event_id, exc)
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
    sent = []
    for pk, source_kind in due:
        if source_kind in _PROCESSORS and enqueue(pk, source_kind):
            sent.append(pk)
        elif source_kind in _PROCESSORS:
            break  # the broker is still down: try again on the next sweep
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
