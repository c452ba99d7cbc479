"""Fixtures the dashboard's tests share."""

import pytest

from tests import factories


@pytest.fixture
def tenant(db):
    return factories.tenant("Shop A")
