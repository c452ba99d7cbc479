"""The demo's second merchant, "Demokonsult": the Severa organisation Demokonsult AB sending
through two Maventa accounts, owned by the demo user next to the Haravan merchant "Demo" — and neither
merchant's pages show the other's connection."""

import datetime as dt
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connection, License, Membership, RoutingRule, TargetAccount, Tenant
from maventa.accounts import enable_problem, payment_problem
from maventa.services import client_for as maventa_client_for
from maventa.setup import COMPANY_UUID, USER_API_KEY, setup_of
from maventa.validate import luhn_ok
from sandbox.management.commands.demo import DEMO_EMAIL, seed
from sandbox.maventa import DEMO_COMPANIES, DEMO_VENDOR_API_KEY
from sandbox.server import default_app
from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, data
from sandbox.testing import LiveSandbox
from severa.models import SeveraOrganisation
from tests import factories

SE, FI = "SE556677889901", "FI23456780"
MAVENTA_KEYS = {c["bid"]: (c["api_key"], c["id"]) for c in DEMO_COMPANIES}


def iban_ok(value: str) -> bool:
    text = value.replace(" ", "")
    moved = text[4:] + text[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


@pytest.fixture
def demo(db):
    seed()
    return Tenant.objects.get(slug="demo"), Tenant.objects.get(slug="demokonsult")


def test_the_demo_user_owns_two_merchants(demo):
    haravan_merchant, demokonsult = demo
    user = get_user_model().objects.get(username=DEMO_EMAIL)
    owned = {m.tenant.name: m.role for m in Membership.objects.filter(user=user).select_related("tenant")}
    assert owned == {"Demo": Membership.Role.OWNER, "Demokonsult": Membership.Role.OWNER}
    assert demokonsult.name == "Demokonsult"
    assert list(Membership.objects.filter(tenant=demokonsult).values_list("user__username", flat=True)) == [
        DEMO_EMAIL
    ]
    licence = License.objects.get(tenant=demokonsult)
    assert licence.family == "severa_to_maventa"
    assert licence.expires_at > timezone.now() + dt.timedelta(days=300)
    assert Connection.objects.filter(tenant=demokonsult).count() == 1
    assert not Connection.objects.filter(tenant=haravan_merchant, source_kind="severa").exists()


def test_the_severa_organisation_is_what_the_simulator_answers(demo):
    _, demokonsult = demo
    org = SeveraOrganisation.objects.get(vat_number=SE)
    assert org.tenant == demokonsult and org.name == "Demokonsult AB"
    assert (org.client_id, org.client_secret) == (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    assert org.refreshed_at is not None
    companies = {c["vat_number"]: c for c in org.companies}
    assert set(companies) == {SE, FI}
    assert companies[SE] | {"address": None} == {
        "guid": data.AB_COMPANY,
        "name": "Demokonsult AB",
        "vat_number": SE,
        "country": "SE",
        "currency": "SEK",
        "root_business_unit": data.AB_ROOT_BU,
        "address": None,
        "main": True,
        "active": True,
    }
    assert companies[SE]["address"]["city"] == "Stockholm"
    assert companies[FI] == {
        "guid": data.OY_COMPANY,
        "name": "Demokonsult Oy",
        "vat_number": FI,
        "country": "FI",
        "currency": "EUR",
        "root_business_unit": data.OY_ROOT_BU,
        "address": {},  # organizationdetails carries only the organisation's own address
        "main": False,
        "active": True,
    }
    units = {u["guid"]: u for u in org.business_units}
    assert {g: (u["company_guid"], u["own_company"]) for g, u in units.items()} == {
        data.AB_ROOT_BU: (data.AB_COMPANY, True),
        data.AB_STOCKHOLM_BU: (data.AB_COMPANY, False),  # uses Demokonsult AB's account
        data.OY_ROOT_BU: (data.OY_COMPANY, True),
        data.OY_HELSINKI_BU: (data.OY_COMPANY, False),
    }
    assert [(s["guid"], s["name"], s["is_sent"], s["is_active"]) for s in org.statuses] == [
        (guid, name, is_sent, True) for guid, name, is_sent, _default, _numbered in data.STATUSES
    ]


def test_two_verified_maventa_accounts_one_per_company_switched_on(demo):
    _, demokonsult = demo
    conn = Connection.objects.get(tenant=demokonsult)
    assert (conn.source_kind, conn.source_key, conn.target_kind, conn.name) == (
        "severa",
        SE,
        "maventa",
        "Demokonsult",
    )
    assert conn.enabled and conn.alert_email == DEMO_EMAIL
    conn.check_license()  # licensed: raises otherwise
    accounts = {a.external_id: a for a in conn.accounts.all()}
    assert set(accounts) == {SE, FI}
    assert conn.default_account() == accounts[SE]
    org = SeveraOrganisation.objects.get(vat_number=SE)
    for vat, account in accounts.items():
        company = next(c for c in org.companies if c["vat_number"] == vat)
        assert account.name == company["name"]
        assert account.credentials == {USER_API_KEY: MAVENTA_KEYS[vat][0], COMPANY_UUID: MAVENTA_KEYS[vat][1]}
        setup = setup_of(account)
        assert (setup.company_guid, setup.country, setup.origin) == (company["guid"], vat[:2], "registered")
        assert (setup.auth_state, setup.company_state) == ("SIGNED", "VERIFIED")
        assert setup.attach_pdf and setup.email_fallback and setup.print_allowed and setup.enabled
        assert org.status(setup.status_to_transfer)["name"] == "Valmis lähetettäväksi"
        assert org.status(setup.status_after) == {
            "guid": data.TRANSFERRED,
            "name": "Lähetetty Maventaan",
            "is_sent": True,
            "is_active": True,
        }
        assert org.status(setup.status_error)["name"] == "Siirto epäonnistui"
        assert not org.status(setup.status_to_transfer)["is_sent"]  # enabling would be refused otherwise
        assert setup.sending
        assert enable_problem(account) is None  # the switch would let a person switch it on
    se_pay, fi_pay = setup_of(accounts[SE]).payment, setup_of(accounts[FI]).payment
    assert se_pay == {"kind": "bankgiro", "account": "55512347", "bic": ""}
    assert fi_pay == {"kind": "iban", "account": "FI2112345600000785", "bic": "NDEAFIHH"}
    for pay in (se_pay, fi_pay):
        assert payment_problem(pay["kind"], pay["account"], pay["bic"]) is None
    assert luhn_ok(se_pay["account"]) and iban_ok(fi_pay["account"])  # checked here too, not only there
    rules = RoutingRule.objects.filter(connection=conn).order_by("value")
    assert [(r.dimension, r.value, r.account.external_id, r.enabled) for r in rules] == [
        ("company", FI, FI, True),
        ("company", SE, SE, True),
    ]


def test_the_seeded_keys_open_the_simulators_verified_companies(demo, settings):
    """What the seed stored agrees with the Maventa simulator the demo runs: the keys sign in, and Maventa
    reports each company signed and verified under the account's VAT number."""
    settings.MAVENTA_VENDOR_API_KEY = DEMO_VENDOR_API_KEY  # the demo settings' default (checked elsewhere)
    app = default_app(seed_orders=False)
    try:
        with LiveSandbox(app) as live:
            for account in TargetAccount.objects.filter(connection__source_key=SE):
                client = maventa_client_for(account, base_url=f"{live.url}/maventa")
                status = client.authorization()
                assert (status.auth_state, status.company_state) == ("SIGNED", "VERIFIED")
                assert client.current()["company"]["bid"] == account.external_id
    finally:
        app.close()


def test_seeding_again_keeps_the_same_demo_and_a_persons_choices(demo):
    _, demokonsult = demo
    account = TargetAccount.objects.get(connection__tenant=demokonsult, external_id=FI)
    account.settings = {**account.settings, "attach_pdf": False, "enabled": False}
    account.save()
    seed()
    assert Tenant.objects.filter(slug="demokonsult").count() == 1
    assert SeveraOrganisation.objects.count() == 1
    assert Connection.objects.filter(tenant=demokonsult).count() == 1
    assert TargetAccount.objects.filter(connection__tenant=demokonsult).count() == 2
    assert RoutingRule.objects.filter(connection__tenant=demokonsult).count() == 2
    setup = setup_of(TargetAccount.objects.get(pk=account.pk))
    assert not setup.attach_pdf and not setup.enabled  # the person's choice
    assert setup.company_state == "VERIFIED" and setup.status_after == data.TRANSFERRED


def test_the_demo_command_seeds_both_merchants(db):
    out = StringIO()
    call_command("demo", "--seed-only", stdout=out)
    assert "Demokonsult" in out.getvalue()
    assert Connection.objects.get(source_kind="severa").tenant.slug == "demokonsult"


def test_each_merchants_pages_never_show_the_others_connection(demo):
    haravan_merchant, demokonsult = demo
    user = get_user_model().objects.get(username=DEMO_EMAIL)
    client = factories.signed_in(user)
    severa_conn = Connection.objects.get(tenant=demokonsult)
    haravan_conns = list(Connection.objects.filter(tenant=haravan_merchant))
    assert len(haravan_conns) >= 2

    def page(url, status=200):
        response = client.get(url)
        assert response.status_code == status, url
        return response.content.decode()

    def links(conn):
        return (
            reverse("dashboard:connection", args=[conn.pk]),
            reverse("dashboard:accounts", args=[conn.pk]),
        )

    # "Demo" first (the merchants come by name): its overview and logs
    overview = page(reverse("dashboard:overview"))
    assert all(conn.name in overview for conn in haravan_conns)
    assert not any(link in overview for link in links(severa_conn))
    assert SE not in overview and FI not in overview
    for link in links(severa_conn):
        page(link, 404)
    assert SE not in page(reverse("dashboard:logs"))

    # switch to "Demokonsult" in the header
    assert client.post(reverse("dashboard:switch_tenant"), {"tenant": demokonsult.pk}).status_code == 302
    overview = page(reverse("dashboard:overview"))
    assert all(link in overview for link in links(severa_conn)[:1])
    assert SE in overview
    for conn in haravan_conns:
        assert conn.name not in overview
        assert not any(link in overview for link in links(conn))
        for link in links(conn):
            page(link, 404)
    assert "0101243150" not in overview and "demo-hanoi" not in overview
    assert SE in page(reverse("dashboard:accounts", args=[severa_conn.pk]))
    page(reverse("dashboard:connection", args=[severa_conn.pk]))

    # and back
    client.post(reverse("dashboard:switch_tenant"), {"tenant": haravan_merchant.pk})
    for link in links(severa_conn):
        page(link, 404)


def test_a_merchant_the_user_does_not_belong_to_cannot_be_switched_to(demo):
    _, demokonsult = demo
    stranger = factories.user(factories.tenant("Someone else"))
    client = factories.signed_in(stranger)
    assert client.post(reverse("dashboard:switch_tenant"), {"tenant": demokonsult.pk}).status_code == 404
    severa_conn = Connection.objects.get(tenant=demokonsult)
    assert client.get(reverse("dashboard:connection", args=[severa_conn.pk])).status_code == 404


def test_severas_client_id_header_reaches_the_simulator_over_http():
    """Over a socket, Severa's ``client_id`` header keeps its underscore (WSGI alone would turn it into
    ``Client-Id``, which the simulator — like Severa — does not take for it)."""
    import requests

    body = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "scope": "invoices:read"}
    app = default_app(seed_orders=False)
    try:
        with LiveSandbox(app) as live:
            url = f"{live.url}/severa/rest-api/v1/token"
            assert requests.post(url, json=body, headers={"client_id": DEMO_CLIENT_ID}, timeout=5).ok
            refused = requests.post(url, json=body, headers={"client-id": DEMO_CLIENT_ID}, timeout=5)
            assert refused.status_code == 401
    finally:
        app.close()
