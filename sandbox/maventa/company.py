"""The token's company (maventa-severa.md §2): its vendor link (``POST/GET/DELETE /v1/company/vendors``),
its authorization / KYC request (``POST/GET /v1/company/authorization``) and its settings
(``GET/PATCH /v1/company/settings``).

Authorization states: a request is PENDING, turns SENT after the knob ``auth_send_seconds`` (the e-mail to the
signatory left) and SIGNED when the signatory signs — the control endpoint ``sign``, or by itself after
``auto_sign_seconds`` when the knob ``auto_sign`` is on (the demo); SIGNED makes ``company_state`` VERIFIED.

sandbox choices: POST authorization answers 200 ``{"status": "PENDING"}`` (the state it set; the reference
shows ``{status, count?}`` without values); on a company already signed it is 400 ``auth_authorized`` (a code
the Ruby client records as a non-error, §2); a repeated request while PENDING/SENT sends a new one. Vendor
link states are ``LINKED`` (201 on the first link, 200 when already linked; 404 ``not_found`` when not
linked); an unlinked company still gets tokens and sends (the reference names no refusal). PATCH
settings takes any subset of the groups (partial PATCH: "likely fine ?" in §2), refuses an unknown group
or field and a wrongly typed value with 400 ``invalid_parameters``, answers 204."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..core import Request, Response, json_response
from .helpers import MaventaError, invalid, is_email, json_object, not_found
from .registration import default_settings

if TYPE_CHECKING:
    from .simulator import MaventaSimulator

LOCALES = ("FI", "NO", "SE", "EN", "NL")
LINKED = "LINKED"
ENUMS = {
    ("send_invoice_email", "how_to_send"): ("EMBEDDED", "WITH_OBJECTIONS", "WITH_LINK"),
    ("invoice_notifications", "on_receiving", "how_to_send"): ("EMBEDDED", "WITH_OBJECTIONS", "WITH_LINK"),
    ("send_invoice_print", "letter_class"): ("ECONOMY", "PRIORITY"),
    ("send_invoice_print", "color_scheme"): ("BLACK_AND_WHITE", "COLOR"),
}


class CompanyResources:
    def __init__(self, sim: MaventaSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add(("POST", "GET", "DELETE"), "/v1/company/vendors", self.vendors)
        router.add(("POST", "GET"), "/v1/company/authorization", self.authorization)
        router.add(("GET", "PATCH"), "/v1/company/settings", self.settings)

    # --- vendor link -----------------------------------------------------------------------------

    def vendors(self, request: Request, context: dict) -> Response:
        sim = self.sim
        scope = "company:read" if request.method == "GET" else "company:write"
        token = sim.authenticate(request, context, scope)
        with sim.lock:
            company = sim.companies[token.company]
            state = company.vendors.get(token.vendor)
            if request.method == "GET":
                if state is None:
                    raise not_found("Vendor link")
                return json_response({"state": state})
            if request.method == "DELETE":
                if company.vendors.pop(token.vendor, None) is None:
                    raise not_found("Vendor link")
                return Response(204, {}, b"")
            company.vendors[token.vendor] = LINKED
        return json_response({"state": LINKED}, 200 if state else 201)

    # --- authorization ---------------------------------------------------------------------------

    def authorization(self, request: Request, context: dict) -> Response:
        sim = self.sim
        scope = "company:read" if request.method == "GET" else "company:write"
        token = sim.authenticate(request, context, scope)
        if request.method == "GET":
            with sim.lock:
                company = sim.companies[token.company]
                return json_response(
                    {
                        "auth_state": company.auth_state,
                        "auth_email": company.auth_email,
                        "company_state": company.company_state,
                    }
                )
        body = json_object(request)
        email = str(body.get("auth_email") or "").strip()
        locale = str(body.get("locale") or "").strip().upper()
        problems = []
        if not is_email(email):
            problems.append("auth_email is invalid")
        if locale not in LOCALES:
            problems.append(f"locale does not have a valid value ({', '.join(LOCALES)})")
        if body.get("options") is not None and not isinstance(body.get("options"), str):
            problems.append("options must be a JSON string")
        if problems:
            raise invalid("; ".join(problems), problems)
        with sim.lock:
            company = sim.companies[token.company]
            if company.auth_state == "SIGNED":
                raise MaventaError(400, "auth_authorized", "Company is already authorized")
            company.auth_state = "PENDING"
            company.auth_email = email
            company.auth_locale = locale
            company.auth_requested_at = sim.clock()
            company.auth_sent_at = None
        return json_response({"status": "PENDING"})

    # --- settings --------------------------------------------------------------------------------

    def settings(self, request: Request, context: dict) -> Response:
        sim = self.sim
        scope = "company:read" if request.method == "GET" else "company:write"
        token = sim.authenticate(request, context, scope)
        if request.method == "GET":
            wanted = request.query.get("fields[]") or request.query.get("fields") or []
            with sim.lock:
                current = sim.companies[token.company].settings
                unknown = [f for f in wanted if f not in current]
                if unknown:
                    raise invalid(f"fields does not have a valid value: {', '.join(unknown)}", unknown)
                return json_response(
                    copy.deepcopy({k: v for k, v in current.items() if not wanted or k in wanted})
                )
        body = json_object(request)
        with sim.lock:
            company = sim.companies[token.company]
            merged = copy.deepcopy(company.settings)
            errors: list[str] = []
            _merge(merged, body, default_settings(company), (), errors)
            if errors:
                raise invalid("Invalid settings: " + "; ".join(errors), errors)
            company.settings = merged
        return Response(204, {}, b"")


def _merge(target: dict, patch: dict, shape: dict, path: tuple, errors: list[str]) -> None:
    """Merge ``patch`` into ``target`` where ``shape`` (the default settings) says a field exists and what
    type it has (a None default takes a string or null)."""
    for name, value in patch.items():
        where = ".".join((*path, name))
        if name not in shape:
            errors.append(f"{where} is not a setting")
            continue
        default = shape[name]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                errors.append(f"{where} must be an object")
            else:
                _merge(target.setdefault(name, {}), value, default, (*path, name), errors)
            continue
        if not _type_ok(default, value):
            errors.append(f"{where} has the wrong type")
            continue
        allowed = ENUMS.get((*path, name))
        if allowed and value not in allowed:
            errors.append(f"{where} must be one of {', '.join(allowed)}")
            continue
        if name in ("to_emails",) and not all(is_email(v) for v in value):
            errors.append(f"{where} must hold e-mail addresses")
            continue
        if name in ("email", "other_email") and value is not None and not is_email(value):
            errors.append(f"{where} must be an e-mail address")
            continue
        target[name] = value


def _type_ok(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, list):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if default is None or isinstance(default, str):
        return value is None or isinstance(value, str)
    return True
