"""Access tokens an outside service issued, kept in the worker process that asked for them.

Keyed by a digest of the credentials they were issued for (a client's ``token_owner``), never by the
credentials, and never written anywhere: a token changed keys or a new process simply asks again."""

import threading
from typing import Any


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
