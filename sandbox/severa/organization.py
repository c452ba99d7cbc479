"""The organisation and its settings: ``GET /v1/organizationdetails`` (scope organization:read),
``GET /v1/organizationsettings``, ``GET /v1/businessunits`` and ``GET /v1/invoicestatuses`` (scope
settings:read), the last two paged by ``firstRow``/``rowCount`` (≤ 100), maventa-severa.md §3."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Request, Response, json_response
from .data import AB_COMPANY, AB_ROOT_BU, AB_STOCKHOLM_BU, OY_COMPANY, OY_HELSINKI_BU, OY_ROOT_BU
from .helpers import count_param, guid, invalid

if TYPE_CHECKING:
    from .simulator import SeveraSimulator

MAX_ROWS = 100


def organization_details() -> dict:
    return {
        "name": "Demokonsult AB",
        "vatNumber": "SE556677889901",
        "isVatRegistered": True,
        "address": {
            "addressline": "Sveavägen 44",
            "postalCode": "111 34",
            "city": "Stockholm",
            "state": None,
            "country": "Sweden",
        },
        "country": {"code": "SE", "name": "Sweden"},
        "eInvoiceAddress": "0007:5566778899",
        "eInvoiceOperatorCode": None,
        "odpCompany": None,
        "currency": {"code": "SEK"},
        "activeCompanies": [
            {
                "guid": AB_COMPANY,
                "name": "Demokonsult AB",
                "rootBusinessUnitGuid": AB_ROOT_BU,
                "country": {"name": "Sweden", "code3": "SWE"},
                "currencyCode": "SEK",
                "currencyRate": 1.0,
            },
            {
                "guid": OY_COMPANY,
                "name": "Demokonsult Oy",
                "rootBusinessUnitGuid": OY_ROOT_BU,
                "country": {"name": "Finland", "code3": "FIN"},
                "currencyCode": "EUR",
                "currencyRate": 0.087,
            },
        ],
        "activeAddons": ["OrganizationHierarchy", "RestApi"],
    }


def _unit(guid_, name, code, parent, company, company_name, vat, country) -> dict:
    return {
        "guid": guid_,
        "name": name,
        "code": code,
        "parentGuid": parent,
        "isActive": True,
        "vatNumber": vat,
        "companyGuid": company,
        "companyName": company_name,
        "companyBusinessUnitGuid": AB_ROOT_BU if company == AB_COMPANY else OY_ROOT_BU,
        "companyCountryGuid": country,
        "companyCurrencyGuid": None,
        "costCenter": None,
    }


SE_GUID = "ca000000-0752-4000-8000-000000000752"
FI_GUID = "ca000000-0246-4000-8000-000000000246"


def business_units() -> list[dict]:
    """Demokonsult AB (root), its unit in Stockholm (not a company of its own), Demokonsult Oy (its own
    company, VAT FI23456780) and the Oy's unit in Helsinki."""
    return [
        _unit(
            AB_ROOT_BU, "Demokonsult AB", "AB", None, AB_COMPANY, "Demokonsult AB", "SE556677889901", SE_GUID
        ),
        _unit(AB_STOCKHOLM_BU, "Stockholm", "STO", AB_ROOT_BU, AB_COMPANY, "Demokonsult AB", None, SE_GUID),
        _unit(
            OY_ROOT_BU,
            "Demokonsult Oy",
            "OY",
            AB_ROOT_BU,
            OY_COMPANY,
            "Demokonsult Oy",
            "FI23456780",
            FI_GUID,
        ),
        _unit(OY_HELSINKI_BU, "Helsinki", "HEL", OY_ROOT_BU, OY_COMPANY, "Demokonsult Oy", None, FI_GUID),
    ]


def window(request: Request, rows: list) -> list:
    first = count_param(request.arg("firstRow"), "firstRow", default=0, maximum=10**9, minimum=0)
    count = count_param(request.arg("rowCount"), "rowCount", default=MAX_ROWS, maximum=MAX_ROWS)
    return rows[first : first + count]


def flag(request: Request, name: str) -> bool | None:
    value = request.arg(name)
    if value in (None, ""):
        return None
    if value.lower() not in ("true", "false"):
        raise invalid(f"Parameter {name} must be true or false")
    return value.lower() == "true"


class Organization:
    def __init__(self, sim: SeveraSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add("GET", "/v1/organizationdetails", self.details, scope="organization:read")
        router.add("GET", "/v1/organizationsettings", self.settings, scope="organization:read")
        router.add("GET", "/v1/businessunits", self.business_units, scope="settings:read")
        router.add("GET", "/v1/invoicestatuses", self.statuses, scope="settings:read")

    def details(self, request: Request) -> Response:
        return json_response(organization_details())

    def settings(self, request: Request) -> Response:
        return json_response(
            {
                "currencyRoundingType": "AwayFromZero",
                "setCreditNoteInvoiceNumber": True,
                "paymentReferenceNumberDisplaySetting": "ReferenceNumber",
            }
        )

    def business_units(self, request: Request) -> Response:
        active = flag(request, "active")
        company = request.arg("companyGuid")
        company = guid(company, "companyGuid") if company else None
        rows = [
            unit
            for unit in business_units()
            if (active is None or unit["isActive"] == active)
            and (company is None or unit["companyGuid"] == company)
        ]
        return json_response(window(request, rows))

    def statuses(self, request: Request) -> Response:
        active = flag(request, "active")
        text = (request.arg("textToSearch") or "").casefold()
        with self.sim.lock:
            rows = [
                dict(status)
                for status in self.sim.statuses.values()
                if (active is None or status["isActive"] == active) and text in status["name"].casefold()
            ]
        rows.sort(key=lambda s: s["sortOrder"])
        return json_response(window(request, rows))
