"""Installing an app: Haravan's OpenID Connect authorize and token endpoints (``/accounts/connect/*``)
as described in https://docs.haravan.com/docs/tutorials/authentication/sign-in-using-the-hybrid-flow/ and
https://docs.haravan.com/docs/tutorials/create-app-and-connect-api/ (sample client:
https://github.com/Haravan/Omni_OAuth2_csharp)."""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import secrets
import time
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .. import demo_data
from ..core import Request, Response, Router, json_response, redirect, text_response
from .helpers import ApiProblem, with_query
from .state import ALL_SCOPES, TokenInfo

if TYPE_CHECKING:
    from .simulator import HaravanSimulator

NEVER_EXPIRES_IN = 365 * 24 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class OAuth:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/accounts/connect/authorize", self.authorize)
        router.add("POST", "/accounts/connect/token", self.token)

    def authorize(self, request: Request) -> Response:
        sim = self.sim
        q = request.arg
        if q("client_id") != sim.client_id:
            raise ApiProblem(400, "invalid_client: unknown client_id")
        redirect_uri = q("redirect_uri") or ""
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiProblem(400, "invalid_request: redirect_uri must be an absolute http(s) URL")
        allowed = sim.knobs.get("oauth_redirect_uris")
        if allowed and redirect_uri not in [u.strip() for u in allowed.split(",")]:
            raise ApiProblem(400, "invalid_request: redirect_uri is not registered for this client")
        state = q("state")
        response_type = set((q("response_type") or "").split())
        if "code" not in response_type:
            return redirect(with_query(redirect_uri, {"error": "unsupported_response_type", "state": state}))
        scopes = set((q("scope") or "").split())
        if "openid" not in scopes:
            return redirect(with_query(redirect_uri, {"error": "invalid_scope", "state": state}))
        with sim.lock:
            org_id = int(q("orgid")) if (q("orgid") or "").isdigit() else demo_data.SHOP_ID
            if org_id not in sim.shops:
                sim.add_shop(org_id)  # sandbox: any org id "exists" and approves
            code = secrets.token_urlsafe(24)
            sim.codes[code] = {
                "org_id": org_id,
                "client_id": sim.client_id,
                "redirect_uri": redirect_uri,
                "scopes": frozenset(scopes & ALL_SCOPES),
                "nonce": q("nonce"),
                "expires_at": sim.monotonic() + 300,
                "used": False,
            }
            answer = {
                "code": code,
                "scope": " ".join(sorted(scopes)),
                "state": state,
                "session_state": b64url(secrets.token_bytes(12)),
            }
            if "id_token" in response_type:
                answer["id_token"] = self.id_token(org_id, q("nonce"))
        if q("response_mode") == "form_post":
            fields = "".join(
                f'<input type="hidden" name="{escape(k)}" value="{escape(str(v))}"/>'
                for k, v in answer.items()
                if v is not None
            )
            page = (
                '<html><body onload="document.forms[0].submit()">'
                f'<form method="post" action="{escape(redirect_uri)}">{fields}'
                "<noscript><button>Continue</button></noscript></form></body></html>"
            )
            return text_response(page, content_type="text/html")
        return redirect(with_query(redirect_uri, answer))

    def id_token(self, org_id: int, nonce: str | None) -> str:
        """A signed JWT whose claims name the shop (``orgid``) and its owner."""
        sim = self.sim
        now = int(time.time())
        shop = sim.shops[org_id]
        claims = {
            "iss": "https://accounts.haravan.com",
            "aud": sim.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "auth_time": now,
            "sub": str(demo_data.POS_STAFF_ID),
            "idp": "local",
            "orgid": str(org_id),
            "orgname": shop.info.get("name"),
            "name": shop.info.get("shop_owner") or "Chủ cửa hàng",
            "email": shop.info.get("email"),
            "role": ["admin"],
            "locale": "vi",
            "amr": ["pwd"],
        }
        if nonce:
            claims["nonce"] = nonce
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = b64url(json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        signature = b64url(
            hmac.new(sim.client_secret.encode(), f"{header}.{payload}".encode(), "sha256").digest()
        )
        return f"{header}.{payload}.{signature}"

    def token(self, request: Request) -> Response:
        sim = self.sim
        form = request.form()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("Authorization") or ""
        if basic.lower().startswith("basic "):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                client_id, _, client_secret = base64.b64decode(basic[6:].strip()).decode().partition(":")
        if client_id != sim.client_id or not hmac.compare_digest(
            (client_secret or "").encode(), sim.client_secret.encode()
        ):
            return json_response({"error": "invalid_client"}, status=400)
        grant = form.get("grant_type")
        with sim.lock:
            if grant == "authorization_code":
                code = sim.codes.get(form.get("code") or "")
                if (
                    code is None
                    or code["used"]
                    or code["expires_at"] < sim.monotonic()
                    or code["redirect_uri"] != form.get("redirect_uri")
                ):
                    return json_response({"error": "invalid_grant"}, status=400)
                code["used"] = True
                return self.issue_tokens(code["org_id"], code["scopes"], code["nonce"])
            if grant == "refresh_token":
                previous = sim.refresh_tokens.get(form.get("refresh_token") or "")
                if previous is None or previous.org_id not in sim.shops:
                    return json_response({"error": "invalid_grant"}, status=400)
                return self.issue_tokens(
                    previous.org_id, previous.scopes, None, refresh_token=form["refresh_token"]
                )
        return json_response({"error": "unsupported_grant_type"}, status=400)

    def issue_tokens(
        self, org_id: int, scopes: frozenset, nonce: str | None, refresh_token: str | None = None
    ) -> Response:
        sim = self.sim
        ttl = int(sim.knobs["token_ttl_seconds"])
        access = secrets.token_hex(32)
        info = TokenInfo(
            org_id=org_id,
            scopes=scopes,
            kind="oauth",
            client_id=sim.client_id,
            expires_at=sim.monotonic() + ttl if ttl > 0 else None,
        )
        sim.tokens[access] = info
        refresh = refresh_token or secrets.token_hex(32)
        sim.refresh_tokens[refresh] = info
        return json_response(
            {
                "id_token": self.id_token(org_id, nonce),
                "access_token": access,
                "expires_in": ttl if ttl > 0 else NEVER_EXPIRES_IN,
                "token_type": "Bearer",
                "refresh_token": refresh,
                "scope": " ".join(sorted(scopes)),
            }
        )
