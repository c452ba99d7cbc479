"""Nothing accepted is lost: the sweeper re-sends pending events, the processor is idempotent.

The sweeper publishes through the real Celery app onto the in-memory broker the tests run on
(tests/settings.py); what it sent is read back off that broker's queue.
"""

import contextlib
import datetime as dt
import logging

import pytest
from celery import Celery, current_app
from django.utils import timezone

from config.celery import app as celery_app
from syncjobs import intake
from syncjobs.models import InboundEvent
from tests import factories
from tests.support.services import free_port


def make_event(tenant, age_seconds, status="pending", **kw):
    return InboundEvent.objects.create(
        source_kind="haravan",
        source_key="200000001",
        tenant=tenant,
        topic="orders/create",
        body='{"id": 1}',
        status=status,
        received_at=timezone.now() - dt.timedelta(seconds=age_seconds),
        **kw,
    )


def published() -> list[tuple[str, list]]:
    """(task name, args) of every message waiting on the default queue (the one workers read), oldest
    first. Reading takes them off: the next look sees only what was sent after."""
    found = []
    with celery_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(celery_app.conf.task_default_queue)
        try:
            while True:
                message = queue.get(block=False)
                args, _kwargs, _embed = message.decode()
                found.append((message.headers["task"], args))
                message.ack()
        except queue.Empty:
            pass
        finally:
            queue.close()
    return found


@pytest.fixture
def broker(monkeypatch):
    """The in-memory broker, emptied of what earlier tests left; the publisher's pause after a broker
    failure is put back as it was when the test ends."""
    monkeypatch.setattr(intake, "_broker_down_until", 0.0)
    published()
    yield
    published()


@contextlib.contextmanager
def broker_unreachable():
    """The product's Celery app, configured from the same settings, but with its broker at an address where
    nothing listens (a connection gives up after half a second), as the current app."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(
            "CELERY_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0"
        )  # Celery reads it before settings
        down = Celery("ledgerlink", set_as_current=False)
        down.config_from_object("django.conf:settings", namespace="CELERY")
        down.conf.broker_connection_timeout = 0.5
        before = current_app._get_current_object()
        down.set_current()
        try:
            yield
        finally:
            before.set_current()
            down.close()


def test_sweep_resends_only_old_pending_events(db, settings, broker):
    settings.INTAKE_SWEEP_AFTER_SECONDS = 60
    t = factories.tenant()
    old = make_event(t, 120)
    make_event(t, 5)  # fresh: its own enqueue is still on the way
    make_event(t, 120, status="done")
    assert intake.sweep() == 1
    # One task on the workers' queue: one batch holding the one due event.
    assert published() == [("haravan.process_event", [[old.pk]])]
    old.refresh_from_db()
    assert old.enqueued_at is not None
    assert intake.sweep() == 0  # re-sent moments ago: not again until the delay passes
    assert published() == []


def test_sweep_stops_while_the_broker_is_down(db, settings, broker, caplog):
    settings.INTAKE_SWEEP_AFTER_SECONDS = 0
    t = factories.tenant()
    first, second = make_event(t, 10), make_event(t, 9)
    with broker_unreachable(), caplog.at_level(logging.WARNING, logger="syncjobs.intake"):
        assert intake.sweep() == 0
    # One publish was tried, for both events in one batch, and it failed: nothing else was tried.
    warnings = [r.getMessage() for r in caplog.records if r.name == "syncjobs.intake"]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"Events [{first.pk}, {second.pk}] stay pending, broker unavailable: ")
    assert published() == []
    assert InboundEvent.objects.filter(enqueued_at__isnull=True).count() == 2

    # The broker is back: the next sweep sends both, in one task.
    assert intake.sweep() == 2
    assert published() == [("haravan.process_event", [[first.pk, second.pk]])]
    assert not InboundEvent.objects.filter(enqueued_at__isnull=True).exists()


def test_failing_handler_keeps_the_event_until_max_attempts(db):
    t = factories.tenant()
    event = make_event(t, 0)

    def boom(_event):
        raise RuntimeError("database said no")

    for _ in range(intake.MAX_EVENT_ATTEMPTS - 1):
        assert intake.process(event.pk, boom) == "pending"
    assert intake.process(event.pk, boom) == "failed"
    event.refresh_from_db()
    assert event.attempts == intake.MAX_EVENT_ATTEMPTS and "database said no" in event.error
    assert intake.process(event.pk, boom) is None  # failed events are left for a person
