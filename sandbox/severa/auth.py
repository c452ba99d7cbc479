"""Tokens: ``POST /v1/token`` with ``{client_id, client_secret, scope}`` → an access token and a refresh
token (maventa-severa.md §3), ``POST /v1/refreshtoken`` (the refresh token as a JSON string).

Sandbox choices: the ``client_id`` header is required on the token call too, and must match the body (the
"ClientIdAuth" scheme covers every call in the spec); scopes may be separated by commas or spaces (both
are seen in clients); asking for a scope the client was not given answers 401; tokens live an hour
(``access_token_expires_in``; the real lifetime is not documented)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from ..core import Request, Response, json_response
from .helpers import SeveraError, invalid, iso
from .state import Token

if TYPE_CHECKING:
    from .simulator import SeveraSimulator

ACCESS_TTL_SECONDS = 3600
REFRESH_TTL_SECONDS = 30 * 24 * 3600
SCOPES = frozenset(
    {
        "invoices:read",
        "invoices:write",
        "customers:read",
        "settings:read",
        "organization:read",
        "files:read",
        "projects:read",
        "users:read",
    }
)


def split_scopes(value) -> list[str]:
    if not isinstance(value, str):
        return []
    return [part for part in value.replace(",", " ").split() if part]


class Auth:
    def __init__(self, sim: SeveraSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add("POST", "/v1/token", self.token)
        router.add("POST", "/v1/refreshtoken", self.refresh)

    def token(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise invalid("The body must be a JSON object with client_id, client_secret and scope")
        client_id = body.get("client_id")
        header = request.headers.get("client_id")
        sim = self.sim
        with sim.lock:
            credential = sim.credentials.get(client_id) if isinstance(client_id, str) else None
            if credential is None or body.get("client_secret") != credential.client_secret:
                raise SeveraError(401, "AuthenticationRequired", "Invalid client credentials")
            if header != client_id:
                raise SeveraError(
                    401, "AuthenticationRequired", "The client_id header does not match the client"
                )
            wanted = split_scopes(body.get("scope"))
            if not wanted:
                raise invalid("scope is required")
            missing = [s for s in wanted if s not in credential.scopes]
            if missing:
                raise SeveraError(
                    401,
                    "InsufficientApiScope",
                    f"The client is not allowed the scope(s) {', '.join(missing)}",
                )
            return self._issue(credential.client_id, frozenset(wanted))

    def refresh(self, request: Request) -> Response:
        value = request.json()
        sim = self.sim
        with sim.lock:
            found = next((t for t in sim.tokens.values() if value and t.refresh_token == value), None)
            if found is None or request.headers.get("client_id") != found.client_id:
                raise SeveraError(401, "AuthenticationRequired", "Invalid refresh token")
            found.refresh_token = ""
            return self._issue(found.client_id, found.scopes)

    def _issue(self, client_id: str, scopes: frozenset[str]) -> Response:
        sim = self.sim
        ttl = int(sim.knobs["token_ttl_seconds"])
        token = Token(
            value=secrets.token_urlsafe(24),
            client_id=client_id,
            scopes=scopes,
            expires_at=sim.clock() + ttl,
            refresh_token=secrets.token_urlsafe(24),
        )
        sim.tokens[token.value] = token
        now = sim.wall()
        return json_response(
            {
                "access_token": token.value,
                "access_token_type": "Bearer",
                "access_token_expires_in": ttl,
                "access_token_expires_utc": iso(now + timedelta(seconds=ttl)),
                "refresh_token": token.refresh_token,
                "refresh_token_expires_in": REFRESH_TTL_SECONDS,
                "refresh_token_expires_utc": iso(now + timedelta(seconds=REFRESH_TTL_SECONDS)),
                "scope": ",".join(sorted(scopes)),
            }
        )
