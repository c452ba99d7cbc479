"""Fixtures of the Maventa account tests: the Maventa simulator answering the product's HTTP calls
in-process, a Severa → Maventa connection with its accounts, and Severa's invoice statuses."""

import pytest

from connectors import registry
from connectors.models import Connection, TargetAccount
from sandbox.maventa import DEMO_COMPANIES, DEMO_VENDOR_API_KEY
from sandbox.server import SandboxApp
from tests import factories
from tests.sandbox.maventa_helpers import Maventa

SE_VAT = "SE556677889901"  # the demo organisation (its Maventa company exists and is verified)
NEW_SE_VAT = "SE559012345001"  # a company Maventa does not know yet
TO_TRANSFER, AFTER, ERROR, SENT, DRAFT = "st-ready", "st-after", "st-error", "st-sent", "st-draft"

# Severa's invoice statuses of the demo, as the source adapter reports them.
STATUSES = [
    registry.SourceStatus(DRAFT, "Luonnos"),
    registry.SourceStatus(TO_TRANSFER, "Valmis lähetettäväksi"),
    registry.SourceStatus(AFTER, "Lähetetty Maventaan", is_sent=True),
    registry.SourceStatus(ERROR, "Siirto epäonnistui"),
    registry.SourceStatus(SENT, "Lähetetty", is_sent=True),
]


@pytest.fixture
def severa_statuses(monkeypatch, conn):
    """Severa's statuses reach Maventa only through the source adapter. The organisation is stored with
    them as Severa's app keeps them (``SeveraOrganisation.statuses``); while Severa's adapter cannot tell
    them yet on this branch (Unsupported), it answers this fixed list instead — the one stand-in allowed,
    for another app."""
    from severa.models import SeveraOrganisation

    SeveraOrganisation.objects.create(
        tenant=conn.tenant,
        vat_number=conn.source_key,
        name="Demokonsult AB",
        statuses=[
            {"guid": s.key, "name": s.name, "is_sent": s.is_sent, "is_active": s.is_active} for s in STATUSES
        ],
    )
    source = registry.source("severa")
    try:
        source.statuses(conn)
    except registry.Unsupported:
        monkeypatch.setattr(type(source), "statuses", lambda self, connection: list(STATUSES))
    assert [(s.key, s.is_sent) for s in source.statuses(conn)] == [(s.key, s.is_sent) for s in STATUSES]
    return STATUSES


@pytest.fixture
def maventa(sandbox, settings):
    """The sandbox's Maventa simulator (demo companies, our vendor key), the signatory never signing by
    themselves; the product's clients pointed at it."""
    settings.MAVENTA_API_URL = "http://127.0.0.1:8100/maventa"
    settings.MAVENTA_VENDOR_API_KEY = DEMO_VENDOR_API_KEY
    sim = sandbox.mounts["/maventa"]
    sim.set_knobs(auto_sign=False)
    return Maventa(SandboxApp({"/maventa": sim}), sim)


@pytest.fixture
def tenant(db):
    return factories.tenant("Demokonsult")


@pytest.fixture
def conn(tenant):
    return Connection.objects.create(
        tenant=tenant,
        name="Demokonsult → Maventa",
        source_kind="severa",
        source_key=SE_VAT,
        target_kind="maventa",
    )


def account_of(conn, vat, name="Demokonsult AB", **settings) -> TargetAccount:
    return TargetAccount.objects.create(
        connection=conn,
        external_id=vat,
        name=name,
        is_default=not conn.accounts.exists(),
        settings={"company_guid": f"guid-{vat}", "country": vat[:2], **settings},
    )


def demo_keys(index=0) -> dict:
    row = DEMO_COMPANIES[index]
    return {"user_api_key": row["api_key"], "company_uuid": row["id"]}


def sim_company(maventa, vat):
    return next(c for c in maventa.sim.companies.values() if c.bid == vat)


ADDRESS = {"address1": "Sveavägen 12", "post_code": "11157", "post_office": "Stockholm", "city": "Stockholm"}
