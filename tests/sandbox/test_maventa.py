"""The Maventa simulator's accounts: tokens, users, companies, the vendor link, authorization, settings,
receiver lookup, the shared faults and the demo seed."""

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.maventa import DEMO_VENDOR_API_KEY, MaventaSimulator, normalise_bid
from sandbox.server import default_app

from .maventa_helpers import FI, SE

# --- tokens -------------------------------------------------------------------------------------------


def test_token_for_company_uuid_user_key_and_vendor_key(maventa):
    resp = maventa.token_response(SE, scope="eui")
    assert resp.status == 200
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "eui"
    current = maventa.api("GET", "/oauth2/current", body["access_token"]).json()
    assert current["company"]["id"] == SE["id"] and current["company"]["bid"] == "SE556677889901"
    assert current["user"]["email"] == SE["user"] and current["scopes"] == ["eui"]
    status = maventa.api("GET", "/status/authenticated", body["access_token"]).json()
    assert status["client_id"] == SE["id"] and status["expires_at"].endswith("Z")


def test_no_scope_means_global_company(maventa):
    body = maventa.token_response(FI).json()
    assert body["scope"] == "global company"


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"api_key": FI["api_key"]}, 401, "invalid_client"),  # a user who does not reach the company
        ({"api_key": "nonsense"}, 401, "invalid_client"),
        ({"vendor": "not-our-vendor"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": "eui teleport"}, 400, "invalid_scope"),
        ({"vendor": ""}, 400, "invalid_request"),
    ],
)
def test_token_refusals(maventa, kwargs, status, error):
    resp = maventa.token_response(SE, **kwargs)
    assert resp.status == status
    assert resp.json()["error"] == error and resp.json()["error_description"]


def test_unknown_company_uuid_is_invalid_client(maventa):
    assert maventa.token_response("00000000-0000-4000-8000-000000000000", api_key=SE["api_key"]).status == 401


def test_tokens_expire_after_an_hour(maventa, clock):
    token = maventa.token(SE)
    assert maventa.api("GET", "/v1/company/authorization", token).status == 200
    clock.advance(3600)
    resp = maventa.api("GET", "/v1/company/authorization", token)
    assert resp.status == 401 and resp.json()["code"] == "invalid_token"
    assert "expired" in resp.json()["message"]


def test_missing_or_unknown_bearer_is_401(maventa):
    for token in ("", "nonsense"):
        resp = maventa.api("GET", "/v1/company/settings", token)
        assert resp.status == 401 and resp.json() == {
            "code": "invalid_token",
            "message": "The access token is invalid",
            "details": [],
        }


def test_token_expiry_knob_and_control(maventa, maventa_sim):
    token = maventa.token(SE)
    maventa_sim.set_knobs(token_expiry_rate=1.0)
    assert maventa.api("GET", "/v1/company/settings", token).status == 401
    maventa_sim.set_knobs(token_expiry_rate=0.0)
    token = maventa.token(SE)
    other = maventa.token(FI)
    assert maventa.control("POST", "expire_tokens", {"company": SE["id"]}).json() == {"expired": 1}
    assert maventa.api("GET", "/v1/company/settings", token).status == 401
    assert maventa.api("GET", "/v1/company/settings", other).status == 200


def test_a_scope_is_needed_for_each_resource(maventa):
    token = maventa.token(SE, scope="lookup")
    resp = maventa.api("GET", "/v1/company/settings", token)
    assert resp.status == 403 and resp.json()["code"] == "insufficient_scope"
    global_only = maventa.token(SE)  # "global company" has no invoice:send
    assert maventa.send(global_only).status == 403
    assert maventa.api("GET", "/v1/lookup/receivers", global_only, query={"bid": "5560123456"}).status == 200


# --- users and companies ------------------------------------------------------------------------------


def _new_user(maventa, email="anna@kund.example"):
    return maventa.raw(
        "POST",
        "/v1/users",
        body=b'{"vendor_api_key": "%s", "email": "%s", "first_name": "Anna"}'
        % (DEMO_VENDOR_API_KEY.encode(), email.encode()),
        headers={"Content-Type": "application/json"},
    )


def _company_fields(user_api_key, **changes):
    fields = {
        "vendor_api_key": DEMO_VENDOR_API_KEY,
        "user_api_key": user_api_key,
        "name": "Kund AB",
        "bid": "SE556012345601",
        "no_vat": "false",
        "address1": "Storgatan 1",
        "post_code": "11122",
        "post_office": "Stockholm",
        "city": "Stockholm",
        "country": "SE",
        "email": "anna@kund.example",
        "activate_duetto": "false",
    }
    fields.update(changes)
    return [(k, v) for k, v in fields.items() if v is not None]


def test_register_user_then_company_then_token(maventa, maventa_sim):
    resp = _new_user(maventa)
    assert resp.status == 201
    key = resp.json()["user_api_key"]
    created = maventa.multipart("POST", "/v1/companies", _company_fields(key))
    assert created.status == 201, created.text
    company_id = created.json()["id"]
    token = maventa.token(company_id, api_key=key, scope="eui")
    state = maventa.api("GET", "/v1/company/authorization", token).json()
    assert state == {"auth_state": "NONE", "auth_email": None, "company_state": "UNVERIFIED"}
    assert maventa.api("GET", "/v1/company/vendors", token).json() == {"state": "LINKED"}
    listed = maventa.api("GET", "/v1/companies", token, query={"bid": "5560123456"}).json()
    assert listed == [{"id": company_id, "name": "Kund AB", "bid": "SE556012345601"}]
    assert maventa_sim.companies[company_id].activate_duetto is False


def test_duetto_is_on_unless_said_otherwise(maventa, maventa_sim):
    key = _new_user(maventa).json()["user_api_key"]
    company_id = maventa.multipart(
        "POST", "/v1/companies", _company_fields(key, activate_duetto=None)
    ).json()["id"]
    assert maventa_sim.companies[company_id].activate_duetto is True


def test_an_email_with_a_maventa_user_gets_no_api_key(maventa):
    assert _new_user(maventa, SE["user"]).json() == {"user_api_key": None}
    resp = _new_user(maventa, SE["user"].upper())
    assert resp.status == 200 and resp.json()["user_api_key"] is None


def test_user_refusals(maventa):
    bad_email = maventa.raw(
        "POST",
        "/v1/users",
        body=b'{"vendor_api_key": "%s", "email": "nope"}' % DEMO_VENDOR_API_KEY.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert bad_email.status == 400 and bad_email.json()["code"] == "invalid_parameters"
    bad_vendor = maventa.raw(
        "POST",
        "/v1/users",
        body=b'{"vendor_api_key": "x", "email": "a@b.fi"}',
        headers={"Content-Type": "application/json"},
    )
    assert bad_vendor.status == 401 and bad_vendor.json()["code"] == "auth_unauthorized"


@pytest.mark.parametrize("bid", ["SE556677889901", "5566778899", "556677-8899"])
def test_a_taken_bid_in_any_form(maventa, bid):
    key = _new_user(maventa).json()["user_api_key"]
    no_vat = "false" if bid.startswith("SE") else "true"
    resp = maventa.multipart("POST", "/v1/companies", _company_fields(key, bid=bid, no_vat=no_vat))
    assert resp.status == 422
    assert resp.json() == {"code": "bid_already_taken", "message": "BID ALREADY TAKEN", "details": ["bid"]}


def test_a_taken_finnish_bid_as_ytunnus(maventa):
    key = _new_user(maventa).json()["user_api_key"]
    fields = _company_fields(key, bid="2345678-0", no_vat="true", country="FI")
    assert maventa.multipart("POST", "/v1/companies", fields).json()["message"] == "BID ALREADY TAKEN"


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"name": "AB"}, "name"),
        ({"country": "XX"}, "country"),
        ({"email": "nope"}, "email"),
        ({"bid": "SE556012345701"}, "bid"),  # Luhn fails
        ({"bid": "5560123456"}, "bid"),  # an orgnr but no_vat false
        ({"city": None}, "city"),
    ],
)
def test_company_refusals(maventa, changes, detail):
    key = _new_user(maventa).json()["user_api_key"]
    resp = maventa.multipart("POST", "/v1/companies", _company_fields(key, **changes))
    assert resp.status == 400 and resp.json()["code"] == "invalid_parameters"
    assert detail in resp.json()["details"]


def test_company_needs_known_keys(maventa):
    key = _new_user(maventa).json()["user_api_key"]
    assert maventa.multipart("POST", "/v1/companies", _company_fields("nope")).status == 401
    assert maventa.multipart("POST", "/v1/companies", _company_fields(key, vendor_api_key="x")).status == 401


# --- vendor link --------------------------------------------------------------------------------------


def test_vendor_link_lifecycle(maventa):
    token = maventa.token(FI, scope="company")
    assert maventa.api("GET", "/v1/company/vendors", token).json() == {"state": "LINKED"}
    assert maventa.api("DELETE", "/v1/company/vendors", token).status == 204
    missing = maventa.api("GET", "/v1/company/vendors", token)
    assert missing.status == 404 and missing.json()["code"] == "not_found"
    assert maventa.api("DELETE", "/v1/company/vendors", token).status == 404
    linked = maventa.api("POST", "/v1/company/vendors", token)
    assert (linked.status, linked.json()) == (201, {"state": "LINKED"})
    assert maventa.api("POST", "/v1/company/vendors", token).status == 200


# --- authorization ------------------------------------------------------------------------------------


def _unverified(maventa):
    key = _new_user(maventa).json()["user_api_key"]
    company_id = maventa.multipart("POST", "/v1/companies", _company_fields(key)).json()["id"]
    return company_id, maventa.token(company_id, api_key=key, scope="eui")


def test_authorization_pending_sent_signed(maventa, maventa_sim, clock):
    company_id, token = _unverified(maventa)
    resp = maventa.api(
        "POST", "/v1/company/authorization", token, body={"auth_email": "vd@kund.example", "locale": "SE"}
    )
    assert resp.status == 200 and resp.json() == {"status": "PENDING"}
    state = lambda: maventa.api("GET", "/v1/company/authorization", token).json()  # noqa: E731
    assert state() == {
        "auth_state": "PENDING",
        "auth_email": "vd@kund.example",
        "company_state": "UNVERIFIED",
    }
    clock.advance(1)
    assert state()["auth_state"] == "SENT"
    bad = maventa.control("POST", "sign", {"company": "nobody"})
    assert bad.status == 400
    signed = maventa.control("POST", "sign", {"company": company_id})
    assert signed.status == 200 and signed.json()["company"]["company_state"] == "VERIFIED"
    assert state() == {"auth_state": "SIGNED", "auth_email": "vd@kund.example", "company_state": "VERIFIED"}
    again = maventa.api(
        "POST", "/v1/company/authorization", token, body={"auth_email": "vd@kund.example", "locale": "SE"}
    )
    assert again.status == 400 and again.json()["code"] == "auth_authorized"
    assert maventa.control("POST", "sign", {"company": company_id}).status == 400  # nothing waits


def test_automatic_signature_knob(maventa, maventa_sim, clock):
    maventa_sim.set_knobs(auto_sign=True, auto_sign_seconds=30, auth_send_seconds=2)
    _, token = _unverified(maventa)
    maventa.api(
        "POST", "/v1/company/authorization", token, body={"auth_email": "vd@kund.example", "locale": "EN"}
    )
    state = lambda: maventa.api("GET", "/v1/company/authorization", token).json()["auth_state"]  # noqa: E731
    clock.advance(2)
    assert state() == "SENT"
    clock.advance(29)
    assert state() == "SENT"
    clock.advance(1)
    assert state() == "SIGNED"


def test_sign_by_name_or_business_id_and_advance_control(maventa, maventa_sim):
    _, token = _unverified(maventa)
    maventa.api(
        "POST", "/v1/company/authorization", token, body={"auth_email": "vd@kund.example", "locale": "FI"}
    )
    assert maventa.control("POST", "advance", {"seconds": 5}).status == 200
    assert maventa.api("GET", "/v1/company/authorization", token).json()["auth_state"] == "SENT"
    assert maventa.control("POST", "advance", {"seconds": -1}).status == 400
    assert maventa.control("POST", "sign", {"company": "556012-3456"}).json()["company"]["name"] == "Kund AB"


@pytest.mark.parametrize(
    "body",
    [
        {"auth_email": "nope", "locale": "SE"},
        {"auth_email": "a@b.se", "locale": "DE"},
        {"auth_email": "a@b.se", "locale": "SE", "options": {"kyc": 1}},
    ],
)
def test_authorization_refusals(maventa, body):
    _, token = _unverified(maventa)
    resp = maventa.api("POST", "/v1/company/authorization", token, body=body)
    assert resp.status == 400 and resp.json()["code"] == "invalid_parameters"
    assert maventa.api("GET", "/v1/company/authorization", token).json()["auth_state"] == "NONE"


def test_authorization_needs_json(maventa):
    _, token = _unverified(maventa)
    resp = maventa.api("POST", "/v1/company/authorization", token, headers={"Content-Type": "text/plain"})
    assert resp.status == 400


# --- settings -----------------------------------------------------------------------------------------


def test_settings_read_and_patch(maventa):
    token = maventa.token(SE, scope="company")
    some = maventa.api("GET", "/v1/company/settings", token, query={"fields[]": ["invoice_notifications"]})
    assert list(some.json()) == ["invoice_notifications"]
    patch = {
        "invoice_notifications": {
            "on_send_errors": {"to_user": False, "to_emails": ["fel@demokonsult.example"]}
        },
        "send_invoice_email": {"enabled": False},
        "send_invoice_print": {"use_own_pdf": True, "enabled": False},
    }
    assert maventa.api("PATCH", "/v1/company/settings", token, body=patch).status == 204
    settings = maventa.api("GET", "/v1/company/settings", token).json()
    assert settings["invoice_notifications"]["on_send_errors"] == {
        "to_user": False,
        "to_emails": ["fel@demokonsult.example"],
    }
    assert settings["invoice_notifications"]["on_receiving"]["enabled"] is False  # untouched
    assert settings["send_invoice_email"]["enabled"] is False
    assert (
        settings["send_invoice_print"]["use_own_pdf"] is True
        and settings["details"]["bid"] == "SE556677889901"
    )


@pytest.mark.parametrize(
    "patch",
    [
        {"colour": {"enabled": True}},
        {"send_invoice_email": {"enabled": "yes"}},
        {"send_invoice_email": {"how_to_send": "PIGEON"}},
        {"invoice_notifications": {"on_send_errors": {"to_emails": ["not-an-email"]}}},
        {"invoice_notifications": "on"},
    ],
)
def test_settings_refusals(maventa, patch):
    token = maventa.token(SE, scope="company")
    before = maventa.api("GET", "/v1/company/settings", token).json()
    resp = maventa.api("PATCH", "/v1/company/settings", token, body=patch)
    assert resp.status == 400 and resp.json()["code"] == "invalid_parameters" and resp.json()["details"]
    assert maventa.api("GET", "/v1/company/settings", token).json() == before


def test_unknown_settings_field_is_refused_on_read(maventa):
    token = maventa.token(SE, scope="company")
    assert maventa.api("GET", "/v1/company/settings", token, query={"fields[]": ["nope"]}).status == 400


# --- receiver lookup ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "eia"),
    [
        ({"bid": "5560123456"}, "0007:5560123456"),
        ({"bid": "556012-3456"}, "0007:5560123456"),
        ({"bid": "SE556012345601"}, "0007:5560123456"),
        ({"eia": "0007:5560123456"}, "0007:5560123456"),
        ({"bid": "0737546-2"}, "0037:003707375462"),
        ({"bid": "FI07375462"}, "0037:003707375462"),
        ({"eia": "003723456780"}, "0037:003723456780"),
        ({"eia": "0216:003723456780"}, "0037:003723456780"),
        ({"name": "demokonsult", "country[]": ["FI"]}, "0037:003723456780"),
    ],
)
def test_lookup_finds_the_demo_directory(maventa, query, eia):
    token = maventa.token(SE, scope="lookup")
    rows = maventa.api("GET", "/v1/lookup/receivers", token, query=query).json()
    assert [r["eia"] for r in rows] == [eia]
    assert set(rows[0]) == {"eia", "identifier", "network", "operator", "document_types", "participant"}


def test_lookup_misses_and_refusals(maventa):
    token = maventa.token(SE, scope="lookup")
    for bid in ("5598765435", "1234567-1"):  # the e-mail-only and the no-address demo customers
        assert maventa.api("GET", "/v1/lookup/receivers", token, query={"bid": bid}).json() == []
    peppol_only = maventa.api(
        "GET", "/v1/lookup/receivers", token, query={"bid": "0737546-2", "network[]": ["PEPPOL"]}
    )
    assert peppol_only.json() == []
    assert maventa.api("GET", "/v1/lookup/receivers", token).status == 400
    assert (
        maventa.api("GET", "/v1/lookup/receivers", token, query={"bid": "1", "network[]": ["X"]}).status
        == 400
    )
    assert (
        maventa.api("GET", "/v1/lookup/receivers", token, query={"bid": "1", "per_page": 101}).status == 400
    )


def test_receivers_control_adds_a_row(maventa):
    added = maventa.control(
        "POST",
        "receivers",
        {
            "eia": "0007:5598765435",
            "name": "Kaffebryggeriet i Malmö AB",
            "bid": "5598765435",
            "country": "SE",
        },
    )
    assert added.status == 201
    token = maventa.token(SE, scope="lookup")
    rows = maventa.api("GET", "/v1/lookup/receivers", token, query={"bid": "5598765435"}).json()
    assert rows[0]["network"] == "PEPPOL"
    assert maventa.control("POST", "receivers", {"eia": "x"}).status == 400
    assert len(maventa.control("GET", "receivers").json()["receivers"]) == 5


# --- the front door, faults and the demo --------------------------------------------------------------


def test_unknown_path_and_method(maventa):
    token = maventa.token(SE)
    assert maventa.api("GET", "/v1/nothing", token).status == 404
    assert maventa.api("PUT", "/v1/company/settings", token).status == 405


def test_server_error_knob(maventa, maventa_sim):
    token = maventa.token(SE)
    maventa_sim.set_knobs(error_rate=1.0)
    statuses = {maventa.api("GET", "/v1/company/settings", token).status for _ in range(30)}
    assert statuses == {500, 502, 503}
    assert maventa.api("GET", "/v1/company/settings", token).status in statuses


def test_latency_knob(maventa, maventa_sim):
    token = maventa.token(SE)
    maventa_sim.set_knobs(latency_ms=60)
    started = time.perf_counter()
    maventa.api("GET", "/v1/company/settings", token)
    assert time.perf_counter() - started >= 0.06


def test_knob_refusals(maventa):
    assert maventa.control("POST", "knobs", {"lost_answer_mode": "never"}).status == 400
    assert maventa.control("POST", "knobs", {"delivery_failure_rate": 2}).status == 400
    assert maventa.control("POST", "knobs", {"nope": 1}).status == 400


def test_call_log_names_company_and_error_code(maventa):
    token = maventa.token(FI)
    maventa.api("GET", "/v1/company/settings", "wrong")
    maventa.api("GET", "/v1/company/settings", token)
    calls = maventa.control("GET", "calls").json()["calls"]
    assert [c["error_code"] for c in calls[-2:]] == ["invalid_token", None]
    only_fi = maventa.control("GET", "calls", query={"company": FI["id"]}).json()["calls"]
    assert only_fi and all(c["company"] == FI["id"] for c in only_fi)


def test_demo_companies_are_registered_verified_and_linked(maventa):
    rows = {c["name"]: c for c in maventa.control("GET", "companies").json()["companies"]}
    assert set(rows) == {"Demokonsult AB", "Demokonsult Oy"}
    for row in rows.values():
        assert (row["auth_state"], row["company_state"]) == ("SIGNED", "VERIFIED")
        assert row["vendors"] == {DEMO_VENDOR_API_KEY: "LINKED"}
    assert (
        rows["Demokonsult Oy"]["bid"] == "FI23456780" and rows["Demokonsult Oy"]["eia"] == "0037:003723456780"
    )
    assert rows["Demokonsult AB"]["users"][0]["api_key"] == SE["api_key"]


def test_reset_brings_back_the_demo(maventa, maventa_sim):
    key = _new_user(maventa).json()["user_api_key"]
    maventa.multipart("POST", "/v1/companies", _company_fields(key))
    assert len(maventa_sim.companies) == 3
    assert maventa.control("POST", "reset", {}).status == 200
    assert len(maventa_sim.companies) == 2 and maventa_sim.get_knobs()["auto_sign"] is True


def test_mounted_on_the_sandbox_server():
    app = default_app()
    try:
        assert isinstance(app["/maventa"], MaventaSimulator)
    finally:
        app.close()


def test_over_real_http():
    import requests

    from sandbox.server import SandboxApp
    from sandbox.testing import LiveSandbox

    sim = MaventaSimulator()
    with LiveSandbox(SandboxApp({"/maventa": sim})) as live:
        resp = requests.post(
            f"{live.url}/maventa/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": SE["id"],
                "client_secret": SE["api_key"],
                "vendor_api_key": DEMO_VENDOR_API_KEY,
                "scope": "eui",
            },
            timeout=5,
        )
        assert resp.status_code == 200
        token = resp.json()["access_token"]
        state = requests.get(
            f"{live.url}/maventa/v1/company/authorization",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert state.json()["company_state"] == "VERIFIED"
    sim.close()


# --- business ids: one key whatever the written form -------------------------------------------------


def _luhn_digit(first9: str) -> str:
    return next(d for d in "0123456789" if normalise_bid(first9 + d, "SE"))


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_a_swedish_orgnr_in_every_form_is_one_bid(first9):
    orgnr = first9 + _luhn_digit(first9)
    forms = {orgnr, f"{orgnr[:6]}-{orgnr[6:]}", f"SE{orgnr}01", f"0007:{orgnr}"}
    assert {normalise_bid(f, "SE") for f in forms} == {f"SE{orgnr}"}
    wrong = orgnr[:9] + str((int(orgnr[9]) + 1) % 10)
    assert normalise_bid(wrong, "SE") is None


@given(st.text(alphabet="0123456789", min_size=7, max_size=7))
def test_a_finnish_ytunnus_in_every_form_is_one_bid(first7):
    check = next((d for d in "0123456789" if normalise_bid(f"{first7}-{d}", "FI")), None)
    if check is None:  # remainder 1: never issued
        assert all(normalise_bid(f"{first7}-{d}", "FI") is None for d in "0123456789")
        return
    digits = first7 + check
    forms = {
        f"{first7}-{check}",
        f"FI{digits}",
        f"0037{digits}",
        f"0037:0037{digits}",
        f"0216:0037{digits}AB",
    }
    assert {normalise_bid(f, "FI") for f in forms} == {f"FI{digits}"}
    assert sum(normalise_bid(f"{first7}-{d}", "FI") is not None for d in "0123456789") == 1
