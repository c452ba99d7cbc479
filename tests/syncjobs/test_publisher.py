"""How long the background publisher lets a batch grow: a lone webhook leaves at once, a stream in batches."""

import collections

import pytest

from syncjobs import intake


class Clock:
    """Stands in for the time module: sleeping moves it on, and deliveries may arrive meanwhile."""

    def __init__(self, arriving_per_sleep: int = 0):
        self.now, self.sleeps, self.arriving = 1000.0, 0, arriving_per_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        intake._waiting.extend([(0, "haravan")] * self.arriving)


@pytest.fixture
def waiting(monkeypatch):
    """An empty queue of its own: events other tests left for this process's publisher stay theirs."""
    own = collections.deque()
    monkeypatch.setattr(intake, "_waiting", own)
    return own


def gather(monkeypatch, clock: Clock) -> float:
    """Seconds _gather() let pass."""
    monkeypatch.setattr(intake, "time", clock)
    started = clock.now
    intake._gather()
    return clock.now - started


def test_a_lone_webhook_is_handed_over_after_one_quiet_pause(monkeypatch, waiting):
    waiting.append((1, "haravan"))
    clock = Clock(arriving_per_sleep=0)
    assert gather(monkeypatch, clock) == pytest.approx(intake.PUBLISH_QUIET_SECONDS)
    assert clock.sleeps == 1 and len(waiting) == 1


def test_a_steady_stream_is_gathered_until_the_batch_is_old_enough(monkeypatch, waiting):
    waiting.append((1, "haravan"))
    clock = Clock(arriving_per_sleep=2)  # deliveries keep coming: no pause to publish in
    waited = gather(monkeypatch, clock)
    limit, step = intake.PUBLISH_GATHER_SECONDS, intake.PUBLISH_QUIET_SECONDS
    assert limit <= waited < limit + step
    assert len(waiting) == 1 + 2 * clock.sleeps < intake.PUBLISH_BATCH


def test_a_burst_leaves_as_soon_as_it_fills_a_batch(monkeypatch, waiting):
    waiting.append((1, "haravan"))
    clock = Clock(arriving_per_sleep=intake.PUBLISH_BATCH // 3)
    waited = gather(monkeypatch, clock)
    assert clock.sleeps == 3 and len(waiting) >= intake.PUBLISH_BATCH  # full well before the time limit
    assert waited < intake.PUBLISH_GATHER_SECONDS
