"""Haravan's OAuth: authorize auto-approves, codes are single use, client credentials are checked."""

import base64
import json
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings

REDIRECT = "http://127.0.0.1:8000/haravan/install/callback/"


def authorize(client, **overrides):
    params = {
        "response_mode": "query",
        "response_type": "code",
        "scope": "openid profile org com.read_orders com.write_orders com.read_shop wh_api",
        "client_id": settings.HARAVAN_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "state": "st-123",
        "nonce": "n-1",
        **overrides,
    }
    return client.get("/accounts/connect/authorize", query={k: v for k, v in params.items() if v is not None})


def code_from(resp):
    assert resp.status == 302, resp.text
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT)
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st-123"]
    return query["code"][0]


def exchange(client, code, **overrides):
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": settings.HARAVAN_CLIENT_ID,
        "client_secret": settings.HARAVAN_CLIENT_SECRET,
        **overrides,
    }
    return client(
        "POST",
        "/accounts/connect/token",
        raw=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        token=None,
    )


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_code_flow_gives_tokens_that_open_the_shop(client):
    code = code_from(authorize(client))
    resp = exchange(client, code)
    assert resp.status == 200
    tokens = resp.json()
    assert set(tokens) >= {"access_token", "refresh_token", "id_token", "expires_in", "scope", "token_type"}
    assert tokens["token_type"] == "Bearer"
    claims = jwt_claims(tokens["id_token"])
    assert (
        claims["orgid"] == "200000001"
        and claims["nonce"] == "n-1"
        and claims["aud"] == settings.HARAVAN_CLIENT_ID
    )
    shop = client.get("/com/shop.json", token=tokens["access_token"])
    assert shop.status == 200 and shop.json()["shop"]["id"] == 200000001
    assert client.get("/com/orders.json", token=tokens["access_token"]).status == 200


def test_code_is_single_use(client):
    code = code_from(authorize(client))
    assert exchange(client, code).status == 200
    again = exchange(client, code)
    assert again.status == 400 and again.json() == {"error": "invalid_grant"}


def test_wrong_client_secret_or_redirect_is_refused(client):
    code = code_from(authorize(client))
    bad = exchange(client, code, client_secret="not-the-secret")
    assert bad.status == 400 and bad.json() == {"error": "invalid_client"}
    assert exchange(client, code, redirect_uri="http://evil.test/cb").json() == {"error": "invalid_grant"}
    assert exchange(client, "made-up").json() == {"error": "invalid_grant"}
    assert exchange(client, code).status == 200  # the refused attempts did not burn the code


def test_refresh_token_grant(client):
    tokens = exchange(client, code_from(authorize(client))).json()
    resp = exchange(client, "", grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert resp.status == 200
    fresh = resp.json()["access_token"]
    assert fresh != tokens["access_token"]
    assert client.get("/com/shop.json", token=fresh).status == 200
    assert exchange(client, "", grant_type="refresh_token", refresh_token="nope").status == 400
    assert exchange(client, "", grant_type="password").json() == {"error": "unsupported_grant_type"}


def test_authorize_validation(client):
    assert authorize(client, client_id="someone-else").status == 400
    assert authorize(client, redirect_uri="not-a-url").status == 400
    resp = authorize(client, response_type="token")
    assert resp.status == 302 and "error=unsupported_response_type" in resp.headers["Location"]
    resp = authorize(client, scope="com.read_orders")
    assert "error=invalid_scope" in resp.headers["Location"]


def test_orgid_picks_another_shop(client, sim):
    code = code_from(authorize(client, orgid="200000777"))
    token = exchange(client, code).json()["access_token"]
    shop = client.get("/com/shop.json", token=token).json()["shop"]
    assert shop["id"] == 200000777
    assert client.get("/com/orders/count.json", token=token).json() == {"count": 0}


def test_scopes_are_enforced(client):
    code = code_from(authorize(client, scope="openid com.read_orders"))
    token = exchange(client, code).json()["access_token"]
    assert client.get("/com/orders.json", token=token).status == 200
    denied = client.post(
        "/com/orders.json", {"order": {"line_items": [{"variant_id": 1010000001}]}}, token=token
    )
    assert denied.status == 403 and "com.write_orders" in denied.json()["errors"]
    assert client.get("/com/locations.json", token=token).status == 403


def test_token_ttl_knob_expires_tokens(client, sim, clock):
    sim.set_knobs(token_ttl_seconds=60)
    tokens = exchange(client, code_from(authorize(client))).json()
    assert tokens["expires_in"] == 60
    assert client.get("/com/shop.json", token=tokens["access_token"]).status == 200
    clock.advance(61)
    assert client.get("/com/shop.json", token=tokens["access_token"]).status == 401


def test_basic_auth_client_credentials(client):
    code = code_from(authorize(client))
    basic = base64.b64encode(
        f"{settings.HARAVAN_CLIENT_ID}:{settings.HARAVAN_CLIENT_SECRET}".encode()
    ).decode()
    resp = client(
        "POST",
        "/accounts/connect/token",
        raw=urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}),
        headers={"Authorization": f"Basic {basic}"},
        token=None,
    )
    assert resp.status == 200


def test_form_post_mode(client):
    resp = authorize(client, response_mode="form_post", response_type="code id_token")
    assert resp.status == 200 and 'name="code"' in resp.text and 'name="id_token"' in resp.text
