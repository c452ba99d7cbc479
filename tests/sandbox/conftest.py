"""Fixtures for the simulator tests: a fresh Haravan shop, in-process calls, a controllable clock."""

import pytest

from sandbox.haravan import HaravanSimulator
from sandbox.server import SandboxApp
from sandbox.testing import RecordingSender

from .amis_helpers import amis, amis_sim  # noqa: F401 - the AMIS simulator's fixtures
from .helpers import Client, FakeClock
from .maventa_helpers import maventa, maventa_sim  # noqa: F401 - the Maventa simulator's fixtures
from .severa_helpers import severa, severa_clock, severa_sim  # noqa: F401 - the Severa simulator's fixtures


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def sender():
    return RecordingSender()


@pytest.fixture
def sim(clock, sender):
    """An empty demo shop (catalogue, customers, locations; no orders); webhooks wait for drain()."""
    simulator = HaravanSimulator(
        seed=1,
        clock=clock,
        now=clock.wall,
        seed_orders=False,
        webhook_sender=sender,
        webhook_background=False,
    )
    yield simulator
    simulator.close()


@pytest.fixture
def app(sim):
    return SandboxApp({"/haravan": sim})


@pytest.fixture
def client(app):
    return Client(app)
