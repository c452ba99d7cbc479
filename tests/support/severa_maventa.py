"""The Demokonsult organisation connected Severa → Maventa, for the fault run and the transfer bench: seeded
through the ORM as the connect and register screens leave it (both Maventa accounts verified, statuses
chosen, switched on), and the ledger both use to count what reached Maventa against what Severa holds.

Both simulators run over HTTP (sandbox.testing.LiveSandbox); the figures are read through their control
endpoints (``/severa/_sandbox/invoices``, ``/severa/_sandbox/calls``, ``/maventa/_sandbox/invoices``), never
from the product's own records alone."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field

import requests

from sandbox.maventa.demo import DEMO_COMPANIES as MAVENTA_COMPANIES
from sandbox.maventa.demo import DEMO_VENDOR_API_KEY
from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, data

ORG_VAT = "SE556677889901"  # the connection's source key
FAMILY = "severa_to_maventa"
# Severa company guid → (VAT number = the account's external id, Maventa company as the simulator seeds it)
COMPANIES = {
    data.AB_COMPANY: ("SE556677889901", MAVENTA_COMPANIES[0]),
    data.OY_COMPANY: ("FI23456780", MAVENTA_COMPANIES[1]),
}
# Where the buyers pay (Severa's API carries no bank details): a Bankgiro number with a valid Luhn digit,
# and the IBAN of the European Payments Council's examples.
PAYMENTS = {
    "SE": {"kind": "bankgiro", "account": "5050-1055", "bic": ""},
    "FI": {"kind": "iban", "account": "FI2112345600000785", "bic": "NDEAFIHH"},
}
AFTER_TRANSFER = data.TRANSFERRED
FINAL_STATES = ("done", "sent")  # delivered, or accepted by Maventa and delivery still pending
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def environment(sandbox_url: str) -> dict[str, str]:
    """The settings that point the product at the simulators."""
    return {
        "SEVERA_API_URL": f"{sandbox_url}/severa/rest-api",
        "MAVENTA_API_URL": f"{sandbox_url}/maventa",
        "MAVENTA_VENDOR_API_KEY": DEMO_VENDOR_API_KEY,
    }


def seed(tenant=None, *, attach_pdf: bool = True):
    """The Demokonsult connection (returned) with its organisation, two Maventa accounts (the simulator's
    demo keys) and a "company" routing rule each: as connecting Severa and registering both accounts leave
    them, verified and switched on."""
    from django.utils import timezone

    from connectors.models import Connection, License, RoutingRule, TargetAccount, Tenant
    from maventa.setup import COMPANY_UUID, USER_API_KEY, AccountSetup, store_setup
    from severa.models import SeveraOrganisation

    if tenant is None:
        tenant = Tenant.objects.create(name="Demokonsult", slug="demokonsult-bench")
    License.objects.get_or_create(
        tenant=tenant, family=FAMILY, defaults={"expires_at": timezone.now() + dt.timedelta(days=30)}
    )
    companies = []
    for guid, (vat, _maventa) in COMPANIES.items():
        demo = data.DEMO_COMPANIES[guid]
        companies.append(
            {
                "guid": guid,
                "name": demo["name"],
                "vat_number": vat,
                "country": demo["country"],
                "currency": demo["currency"],
                "root_business_unit": demo["root_business_unit"],
                "address": dict(demo["address"]),
                "main": guid == data.AB_COMPANY,
                "active": True,
            }
        )
    SeveraOrganisation.objects.create(
        tenant=tenant,
        vat_number=ORG_VAT,
        name="Demokonsult AB",
        secrets={"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
        companies=companies,
        statuses=[
            {"guid": g, "name": name, "is_sent": is_sent, "is_active": True}
            for g, name, is_sent, _default, _numbered in data.STATUSES
        ],
        refreshed_at=timezone.now(),
    )
    connection = Connection.objects.create(
        tenant=tenant,
        name="Demokonsult AB",
        source_kind="severa",
        source_key=ORG_VAT,
        target_kind="maventa",
    )
    for company in companies:
        _vat, maventa = COMPANIES[company["guid"]]
        account = TargetAccount.objects.create(
            connection=connection,
            external_id=company["vat_number"],
            name=company["name"],
            is_default=company["main"],
            credentials={USER_API_KEY: maventa["api_key"], COMPANY_UUID: maventa["id"]},
            settings={},
        )
        store_setup(
            account,
            AccountSetup(
                company_guid=company["guid"],
                country=company["country"],
                origin="registered",
                auth_state="SIGNED",
                company_state="VERIFIED",
                auth_email=maventa["email"],
                auth_locale=company["country"],
                attach_pdf=attach_pdf,
                email_fallback=True,
                print_allowed=True,
                error_emails=["ekonomi@demokonsult.example"],
                status_to_transfer=data.TO_TRANSFER,
                status_after=data.TRANSFERRED,
                status_error=data.TRANSFER_FAILED,
                payment=dict(PAYMENTS[company["country"]]),
                enabled=True,
            ),
        )
        RoutingRule.objects.create(
            connection=connection,
            dimension="company",
            value=company["vat_number"],
            account=account,
            priority=100,
        )
    return connection


# --- the simulators' side ---------------------------------------------------------------------------------


def control(sandbox_url: str, system: str, path: str, body: dict | None = None) -> dict:
    answer = requests.post(f"{sandbox_url}/{system}/_sandbox/{path}", json=body or {}, timeout=30)
    answer.raise_for_status()
    return answer.json()


def knobs(sandbox_url: str, system: str, **values) -> dict:
    return control(sandbox_url, system, "knobs", values)["knobs"]


def read(sandbox_url: str, system: str, path: str) -> dict:
    answer = requests.get(f"{sandbox_url}/{system}/_sandbox/{path}", timeout=60)
    answer.raise_for_status()
    return answer.json()


def generate(sandbox_url: str, count: int, mix: dict[str, int] | None = None) -> list[str]:
    """``count`` new invoices in "to transfer" (their guids), in the customer ``mix`` of templates."""
    body = {"count": count, **({"mix": mix} if mix else {})}
    return control(sandbox_url, "severa", "generate", body)["invoices"]


def severa_calls(sandbox_url: str) -> list[dict]:
    """Every API call the Severa simulator logged (it must have been made with a log long enough)."""
    return read(sandbox_url, "severa", "calls")["calls"]


def endpoint_kind(call: dict) -> str:
    """``GET /v1/invoices/{guid}/invoicerows`` for ``GET /v1/invoices/1a…/invoicerows``."""
    return GUID.sub("{guid}", call.get("endpoint") or f"{call['method']} {call['path']}")


@dataclass
class SeveraRequests:
    """What the product asked of Severa, from the simulator's own log: calls Severa admitted (they count
    against its 10 a second), 429s (the limit, or the knob ``throttle_rate``), and admitted calls by
    endpoint."""

    admitted: int = 0
    refused_429: int = 0
    throttled: int = 0
    by_endpoint: Counter = field(default_factory=Counter)
    first_at: str | None = None
    last_at: str | None = None

    @classmethod
    def of(cls, calls: list[dict], client_id: str = DEMO_CLIENT_ID) -> SeveraRequests:
        out = cls()
        mine = [c for c in calls if c.get("client_id") == client_id]
        for call in mine:
            if call["status"] == 429:
                out.refused_429 += 1
                out.throttled += bool(call.get("throttled"))
                continue
            out.admitted += 1
            out.by_endpoint[endpoint_kind(call)] += 1
        if mine:
            out.first_at, out.last_at = mine[0]["at"], mine[-1]["at"]
        return out

    def per_invoice(self, invoices: int) -> float:
        return self.admitted / invoices if invoices else 0.0


@dataclass
class Ledger:
    """Severa's invoices against Maventa's: for each Severa invoice (of those watched), the Maventa invoices
    its company holds with its number; a duplicate is a second one, a lost invoice has none, or is not in
    "after transfer" in Severa, or its document here is not DONE or SENT, or the uuid Maventa holds is not
    the document's."""

    watched: int
    maventa_invoices: int
    duplicates: int
    lost: list[str]
    states: Counter
    severa_statuses: Counter
    uuid_mismatch: list[str]

    @property
    def exactly_once(self) -> bool:
        return not (self.duplicates or self.lost or self.uuid_mismatch)


def ledger(sandbox_url: str, connection, guids: list[str]) -> Ledger:
    from syncjobs.models import SyncDocument

    severa = {i["guid"]: i for i in read(sandbox_url, "severa", "invoices")["invoices"]}
    maventa = read(sandbox_url, "maventa", "invoices")["invoices"]
    company_of = {m["id"]: guid for guid, (_vat, m) in COMPANIES.items()}
    held: dict[tuple[str, str], list[dict]] = {}
    for row in maventa:
        held.setdefault((company_of.get(row["company"], row["company"]), str(row["number"])), []).append(row)
    docs = {
        d["source_id"]: d
        for d in SyncDocument.objects.filter(connection=connection).values(
            "source_id", "state", "target_ref", "result"
        )
    }
    watched = set(guids)
    duplicates, lost, mismatch = 0, [], []
    statuses: Counter = Counter()
    for guid in guids:
        invoice = severa[guid]
        status = invoice["status"]["guid"]
        statuses[invoice["status"]["name"]] += 1
        rows = held.get((invoice_company(invoice), str(invoice["number"])), [])
        duplicates += max(0, len(rows) - 1)
        doc = docs.get(guid)
        if not rows or status != AFTER_TRANSFER or doc is None or doc["state"] not in FINAL_STATES:
            lost.append(f"{invoice['number']} ({len(rows)} at Maventa, {invoice['status']['name']}, "
                        f"{doc['state'] if doc else 'no document'})")  # fmt: skip
            continue
        uuid = str((doc["result"] or {}).get("uuid") or doc["target_ref"]).lower()
        if [str(r["uuid"] or "").lower() for r in rows] != [uuid]:
            mismatch.append(f"{invoice['number']}: ours {uuid}, Maventa {[r['uuid'] for r in rows]}")
    return Ledger(
        watched=len(watched),
        maventa_invoices=sum(len(v) for v in held.values()),
        duplicates=duplicates,
        lost=lost,
        states=Counter(d["state"] for g, d in docs.items() if g in watched),
        severa_statuses=statuses,
        uuid_mismatch=mismatch,
    )


def invoice_company(invoice: dict) -> str:
    """The Severa company that issued an invoice (the control view carries its sender VAT number)."""
    vat = invoice.get("senderVatNumber")
    return next(guid for guid, (number, _m) in COMPANIES.items() if number == vat)
