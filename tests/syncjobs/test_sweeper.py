"""Nothing accepted is lost: the sweeper re-sends pending events, the processor is idempotent."""

import datetime as dt

from django.utils import timezone

from syncjobs import intake
from syncjobs.models import InboundEvent
from tests import factories


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


def test_sweep_resends_only_old_pending_events(db, settings, monkeypatch):
    settings.INTAKE_SWEEP_AFTER_SECONDS = 60
    t = factories.tenant()
    old = make_event(t, 120)
    make_event(t, 5)  # fresh: its own enqueue is still on the way
    make_event(t, 120, status="done")
    sent = []
    monkeypatch.setattr(intake, "enqueue", lambda pk, kind: sent.append(pk) or True)
    assert intake.sweep() == 1 and sent == [[old.pk]]  # one batch holding the one due event
    old.refresh_from_db()
    assert old.enqueued_at is not None
    assert intake.sweep() == 0  # re-sent moments ago: not again until the delay passes


def test_sweep_stops_while_the_broker_is_down(db, settings, monkeypatch):
    settings.INTAKE_SWEEP_AFTER_SECONDS = 0
    t = factories.tenant()
    make_event(t, 10)
    make_event(t, 10)
    calls = []
    monkeypatch.setattr(intake, "enqueue", lambda pk, kind: calls.append(pk) and False)
    assert intake.sweep() == 0 and len(calls) == 1
    assert InboundEvent.objects.filter(enqueued_at__isnull=True).count() == 2


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
