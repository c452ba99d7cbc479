"""Access tokens an outside service issued, kept in the worker process that asked for them.

Keyed by a digest of the credentials they were issued for (a client's ``token_owner``), never by the
credentials, and never written anywhere: a token changed keys or a new process simply asks again."""

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.utils import timezone


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when it ends; its value never in a repr (tracebacks, logs). A client's own
    subclass names its service and how early it renews."""

    value: str = field(repr=False)
    expires_at: dt.datetime

    service: ClassVar[str] = "Access"
    renew_before: ClassVar[dt.timedelta] = dt.timedelta(minutes=5)

    def __repr__(self) -> str:
        return f"<{self.service} token until {self.expires_at:%Y-%m-%d %H:%M %Z}>"

    def usable(self, now: dt.datetime | None = None) -> bool:
        return bool(self.value) and (now or timezone.now()) < self.expires_at - self.renew_before


class ProcessTokens:
    def __init__(self):
        self._tokens: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, owner: str):
        return self._tokens.get(owner)

    def remember(self, owner: str, token) -> None:
        with self._lock:
            self._tokens[owner] = token

    def attach(self, client):
        """Give the client the token its credentials already have here, and keep the ones it gets."""
        owner = client.token_owner
        client.token = self.get(owner)
        client.on_token = lambda token: self.remember(owner, token)
        return client
