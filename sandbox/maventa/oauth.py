"""Tokens (maventa-severa.md §2 "Token"): ``POST /oauth2/token`` (form: ``grant_type=client_credentials``,
``client_id`` = company UUID, ``client_secret`` = user API key, ``vendor_api_key``, ``scope`` space-separated;
no scope ⇒ ``global company``) → ``{access_token, token_type, expires_in, scope}``, 60 minutes;
``GET /oauth2/current`` and ``GET /status/authenticated``.

sandbox: refusals use RFC 6749 §5.2 bodies: 401 ``invalid_client`` for wrong credentials (an unknown vendor
key, user key or company, or a user without access to the company), 400 ``unsupported_grant_type`` /
``invalid_scope`` / ``invalid_request``."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from ..core import Request, Response, json_response
from .helpers import content_type, iso
from .state import Token

if TYPE_CHECKING:
    from .simulator import MaventaSimulator

SCOPE_GROUPS = {
    "eui": [
        "eui:open",
        "company:read",
        "company:write",
        "lookup",
        "receivables:assignments",
        "document:send",
        "document:receive",
        "invoice:receive",
        "invoice:send",
        "analysis",
    ],
    "global": ["company:read", "document:receive", "document:send", "lookup"],
    "company": ["company:read", "company:write"],
}
SCOPES = frozenset(
    {
        *SCOPE_GROUPS,
        *(s for group in SCOPE_GROUPS.values() for s in group),
        "invoice:send",
        "invoice:receive",
        "lookup",
        "validate",
        "partner:lookups",
        "partner:invoice_delivery_actions",
        "billing:reports",
    }
)
DEFAULT_SCOPE = "global company"


def expand(scopes: list[str]) -> set[str]:
    out: set[str] = set()
    for scope in scopes:
        out.add(scope)
        out.update(SCOPE_GROUPS.get(scope, ()))
    return out


def oauth_error(status: int, error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, status)


class OAuth:
    def __init__(self, sim: MaventaSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add("POST", "/oauth2/token", self.token)
        router.add("GET", "/oauth2/current", self.current)
        router.add("GET", "/status/authenticated", self.authenticated)

    def token(self, request: Request, context: dict) -> Response:
        sim = self.sim
        if content_type(request) == "application/json":  # one client sends JSON (§2 ~); accept it too
            body = request.json() or {}
            form = {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
        else:
            form = request.form()
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "The authorization grant type is not supported")
        for name in ("client_id", "client_secret", "vendor_api_key"):
            if not form.get(name, "").strip():
                return oauth_error(400, "invalid_request", f"Missing required parameter: {name}")
        scopes = (form.get("scope") or DEFAULT_SCOPE).split()
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            return oauth_error(400, "invalid_scope", f"Unknown scope: {' '.join(unknown)}")
        with sim.lock:
            company = sim.companies.get(form["client_id"].strip())
            user = sim.user_by_key(form["client_secret"].strip())
            context["company"] = company.id if company else None
            if (
                form["vendor_api_key"].strip() not in sim.vendor_keys
                or company is None
                or user is None
                or company.id not in user.companies
            ):
                return oauth_error(
                    401,
                    "invalid_client",
                    "Client authentication failed due to unknown client, no client authentication "
                    "included, or unsupported authentication method.",
                )
            now = sim.clock()
            token = Token(
                value=secrets.token_urlsafe(32),
                company=company.id,
                user=user.email.casefold(),
                vendor=form["vendor_api_key"].strip(),
                scopes=scopes,
                issued_at=now,
                expires_at=now + float(sim.knobs["token_ttl_seconds"]),
            )
            sim.tokens[token.value] = token
        return json_response(
            {
                "access_token": token.value,
                "token_type": "Bearer",
                "expires_in": int(sim.knobs["token_ttl_seconds"]),
                "scope": " ".join(scopes),
            }
        )

    def current(self, request: Request, context: dict) -> Response:
        sim = self.sim
        token = sim.authenticate(request, context)
        with sim.lock:
            company = sim.companies[token.company]
            user = sim.users[token.user]
            return json_response(
                {
                    "user": {
                        "id": user.api_key,
                        "first_name": user.first_name,
                        "last_name": user.last_name,
                        "email": user.email,
                    },
                    "company": {
                        "id": company.id,
                        "bid": company.bid,
                        "name": company.name,
                        "country": company.country,
                        "vat": None if company.no_vat else company.bid,
                        "wizard_done": True,
                        "disabled": False,
                    },
                    "scopes": token.scopes,
                }
            )

    def authenticated(self, request: Request, context: dict) -> Response:
        sim = self.sim
        token = sim.authenticate(request, context)
        return json_response({"client_id": token.company, "expires_at": iso(sim.wall_at(token.expires_at))})
