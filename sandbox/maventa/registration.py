"""Registering (maventa-severa.md §2 "Users, companies, vendor link"): ``POST /v1/users`` (JSON
``{vendor_api_key, email, first_name?, last_name?}``, no auth) → 201 ``{user_api_key}``, and
``POST /v1/companies`` (multipart form, no auth) → 201 ``{id}``; a business id already registered →
``BID ALREADY TAKEN``; ``GET /v1/companies?bid=&country=`` lists the companies the token's user reaches.

sandbox choices where the reference is silent or Unconfirmed:
- an e-mail that already has a Maventa user answers **200 ``{"user_api_key": null}``** — no key comes back
  (Severa's help page: the key "comes back empty"), the status as the sibling ``POST /v1/company/users``
  answers an existing user (200 vs 201);
- a taken BID is **422** ``{code: "bid_already_taken", message: "BID ALREADY TAKEN"}`` (422 = business
  conflict, §2 "Errors"); the orgnr, the VAT number and the OVT of one company count as the same BID;
- a wrong ``vendor_api_key`` / ``user_api_key`` is 401 ``auth_unauthorized``;
- the company is linked to the registering vendor, starts UNVERIFIED with ``auth_state`` NONE, and the
  registering user reaches it; ``bid`` must be a VAT number unless ``no_vat`` is true, with valid check digits
  (SE Luhn, FI mod 11) — other countries' ids are accepted as they come."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING

from ..core import Request, Response, json_response
from .helpers import (
    MaventaError,
    first,
    form_fields,
    invalid,
    is_email,
    is_vat_number,
    json_object,
    normalise_bid,
    truthy,
    unauthorized,
)
from .state import Company

if TYPE_CHECKING:
    from .simulator import MaventaSimulator

COUNTRIES = ("FI", "SE", "NO", "DK", "NL")  # the 2023 spec's enum
COMPANY_REQUIRED = ("name", "bid", "address1", "post_code", "post_office", "city", "country", "email")


def default_settings(company: Company) -> dict:
    """A new company's settings (the shapes of §2 "Settings"; sandbox: the default values)."""
    return {
        "invoice_notifications": {
            "on_receiving": {"enabled": False, "how_to_send": "EMBEDDED", "other_email": None},
            "on_send_errors": {"to_user": True, "to_emails": []},
        },
        "send_invoice_email": {
            "enabled": False,
            "how_to_send": "EMBEDDED",
            "reminder_frequency": None,
            "content_data": {
                "note_to_receiver": None,
                "contact": {"email": company.email, "name": None, "phone": None},
            },
        },
        "send_invoice_print": {
            "enabled": True,
            "letter_class": "ECONOMY",
            "color_scheme": "BLACK_AND_WHITE",
            "attachment_print": False,
            "marketing_page": False,
            "use_own_pdf": False,
        },
        "send_invoice_general": {"stop_duplicate_numbers": False, "hold_multiple_recipients": False},
        "details": {
            "name": company.name,
            "email": company.email,
            "website": None,
            "country": company.country,
            "bid": company.bid,
            "vat_number": None if company.no_vat else company.bid,
        },
        "address": {
            "street_address": company.address.get("address1"),
            "post_code": company.address.get("post_code"),
            "post_office": company.address.get("post_office"),
            "city": company.address.get("city"),
            "country": company.country,
        },
        "logos": {"logo": None},
        "checks": {"check_duplicates": False},
        "email_reports": {"enabled": False},
    }


class Registration:
    def __init__(self, sim: MaventaSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add("POST", "/v1/users", self.create_user)
        router.add("POST", "/v1/companies", self.create_company)
        router.add("GET", "/v1/companies", self.list_companies)

    def create_user(self, request: Request, context: dict) -> Response:
        sim = self.sim
        body = json_object(request)
        if str(body.get("vendor_api_key") or "") not in sim.vendor_keys:
            raise unauthorized("Invalid vendor_api_key")
        email = str(body.get("email") or "").strip()
        if not is_email(email):
            raise invalid("email is invalid", ["email"])
        with sim.lock:
            if email.casefold() in sim.users:
                return json_response({"user_api_key": None}, 200)
            user = sim.add_user(
                email,
                first_name=str(body.get("first_name") or ""),
                last_name=str(body.get("last_name") or ""),
            )
        return json_response({"user_api_key": user.api_key}, 201)

    def create_company(self, request: Request, context: dict) -> Response:
        sim = self.sim
        fields, _ = form_fields(request)
        vendor = first(fields, "vendor_api_key")
        if vendor not in sim.vendor_keys:
            raise unauthorized("Invalid vendor_api_key")
        with sim.lock:
            user = sim.user_by_key(first(fields, "user_api_key"))
        if user is None:
            raise unauthorized("Invalid user_api_key")
        missing = [name for name in COMPANY_REQUIRED if not first(fields, name)]
        if missing:
            raise invalid(f"Missing parameters: {', '.join(missing)}", missing)
        name, bid, country = (
            first(fields, "name"),
            first(fields, "bid").upper(),
            first(fields, "country").upper(),
        )
        if len(name) < 3:
            raise invalid("name must be at least 3 characters", ["name"])
        if country not in COUNTRIES:
            raise invalid(f"country does not have a valid value ({', '.join(COUNTRIES)})", ["country"])
        if not is_email(first(fields, "email")):
            raise invalid("email is invalid", ["email"])
        no_vat = truthy(first(fields, "no_vat"), False)
        key = normalise_bid(bid, country) if country in ("SE", "FI") else f"{country}{bid}"
        if country in ("SE", "FI") and (key is None or is_vat_number(bid) == no_vat):
            raise invalid(
                "bid is not a valid business id" + ("" if no_vat else " (a VAT number unless no_vat)"),
                ["bid"],
            )
        with sim.lock:
            if any(c.key == key for c in sim.companies.values()):
                raise MaventaError(422, "bid_already_taken", "BID ALREADY TAKEN", ["bid"])
            company = sim.add_company(
                str(uuid.UUID(int=sim.rng.getrandbits(128), version=4)),
                name=name,
                bid=bid,
                no_vat=no_vat,
                country=country,
                email=first(fields, "email"),
                address={
                    k: first(fields, k) or None
                    for k in ("address1", "address2", "post_code", "post_office", "city", "state")
                },
                activate_duetto=truthy(first(fields, "activate_duetto"), True),
                user=user,
                vendor=vendor,
            )
            context["company"] = company.id
        return json_response({"id": company.id}, 201)

    def list_companies(self, request: Request, context: dict) -> Response:
        sim = self.sim
        token = sim.authenticate(request, context, "company:read")
        bid = (request.arg("bid") or "").strip()
        country = (request.arg("country") or "").strip().upper()
        with sim.lock:
            user = sim.users[token.user]
            rows = [
                {"id": c.id, "name": c.name, "bid": c.bid}
                for c in (sim.companies[i] for i in sorted(user.companies))
                if (not bid or c.key == normalise_bid(bid, c.country) or c.bid == bid.upper())
                and (not country or c.country == country)
            ]
        return json_response(copy.deepcopy(rows))
