"""Fixtures the dashboard's tests share."""

import pytest

from tests import factories


@pytest.fixture
def sandbox(mounted_sandbox):
    """The Haravan and meInvoice simulators, answering in-process at the configured base URLs."""
    return mounted_sandbox


@pytest.fixture
def tenant(db):
    return factories.tenant("Shop A")
