"""Every client's token hides its value from repr and is renewed its own time before it ends."""

import datetime as dt

import pytest
from django.utils import timezone

from amis.client import Token as AmisToken
from maventa.client import Token as MaventaToken
from severa.client import Token as SeveraToken


@pytest.mark.parametrize(
    ("kind", "service", "renew"),
    [(AmisToken, "AMIS", 10), (MaventaToken, "Maventa", 5), (SeveraToken, "Severa", 5)],
)
def test_a_token_never_shows_its_value_and_is_renewed_early(kind, service, renew):
    now = timezone.now()
    token = kind(value="secret-value", expires_at=now + dt.timedelta(minutes=renew, seconds=30))
    assert "secret-value" not in repr(token) and repr(token).startswith(f"<{service} token until ")
    assert token.usable(now)
    assert not token.usable(now + dt.timedelta(minutes=1))
    assert not kind(value="", expires_at=now + dt.timedelta(hours=1)).usable(now)
