"""Connecting a Severa organisation against the Severa simulator (the demo organisation "Demokonsult AB",
SE556677889901, with "Demokonsult Oy", FI23456780, its own company): the organisation, its Maventa accounts,
routing rules and statuses; refreshing it again; what is refused; the pages."""

import pytest
from django.db import connection as db
from django.urls import reverse

from connectors import registry
from connectors.models import Connection, Membership, RoutingRule, TargetAccount, Tenant
from connectors.registry import SourceStatus
from connectors.routing import route
from sandbox.severa import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SCOPES, Credential, data
from sandbox.severa import organization as severa_organization
from severa import read
from severa.client import SeveraClient
from severa.connect import ConnectError, Snapshot, connect, country_code, refresh, shape
from severa.models import SeveraOrganisation
from syncjobs.models import SyncAttempt
from tests import factories

pytestmark = pytest.mark.django_db

ORG = "SE556677889901"
OY = "FI23456780"
SECRETS = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


def owner_and_tenant():
    tenant = factories.tenant("Demokonsult")
    return factories.user(tenant), tenant


def connected(sandbox):
    user, tenant = owner_and_tenant()
    conn = connect(tenant, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, user=user)
    return user, tenant, conn


def add_client(sandbox, client_id, secret, scopes=SCOPES):
    sim = sandbox["/severa"]
    sim.credentials[client_id] = Credential(client_id, secret, frozenset(scopes))


def assert_no_secret(text: str, *secrets):
    for secret in secrets or SECRETS:
        assert secret not in text


# --- connecting -----------------------------------------------------------------------------------------


def test_connecting_the_demo_organisation_makes_an_account_per_company_with_its_own_vat_number(sandbox):
    _, tenant, conn = connected(sandbox)

    assert (conn.tenant, conn.source_kind, conn.source_key, conn.target_kind, conn.name) == (
        tenant,
        "severa",
        ORG,
        "maventa",
        "Demokonsult AB",
    )
    org = SeveraOrganisation.objects.get(vat_number=ORG)
    assert org.tenant == tenant and org.name == "Demokonsult AB" and org.refreshed_at is not None
    assert (org.client_id, org.client_secret) == SECRETS
    companies = {c["guid"]: c for c in org.companies}
    assert companies[data.AB_COMPANY] | {"address": None} == {
        "guid": data.AB_COMPANY,
        "name": "Demokonsult AB",
        "vat_number": ORG,
        "country": "SE",
        "currency": "SEK",
        "root_business_unit": data.AB_ROOT_BU,
        "address": None,
        "main": True,
        "active": True,
    }
    assert companies[data.AB_COMPANY]["address"]["city"] == "Stockholm"
    assert companies[data.OY_COMPANY] == {
        "guid": data.OY_COMPANY,
        "name": "Demokonsult Oy",
        "vat_number": OY,
        "country": "FI",
        "currency": "EUR",
        "root_business_unit": data.OY_ROOT_BU,
        "address": {},
        "main": False,
        "active": True,
    }
    units = {u["guid"]: u for u in org.business_units}
    assert {g: (u["company_guid"], u["own_company"]) for g, u in units.items()} == {
        data.AB_ROOT_BU: (data.AB_COMPANY, True),
        data.AB_STOCKHOLM_BU: (data.AB_COMPANY, False),
        data.OY_ROOT_BU: (data.OY_COMPANY, True),
        data.OY_HELSINKI_BU: (data.OY_COMPANY, False),
    }
    assert units[data.OY_HELSINKI_BU]["company_name"] == "Demokonsult Oy"

    accounts = {a.external_id: a for a in conn.accounts.all()}
    assert sorted(accounts) == [OY, ORG]
    assert accounts[ORG].is_default and not accounts[OY].is_default
    assert accounts[ORG].name == "Demokonsult AB" and accounts[OY].name == "Demokonsult Oy"
    # the keys of maventa.setup.AccountSetup that name the company
    assert accounts[ORG].settings == {
        "company_guid": data.AB_COMPANY,
        "country": "SE",
        # the register form's prefill, from the organisation's address
        "address": {
            "address1": "Sveavägen 44",
            "post_code": "11134",
            "post_office": "Stockholm",
            "city": "Stockholm",
        },
    }
    assert accounts[OY].settings == {"company_guid": data.OY_COMPANY, "country": "FI"}
    assert accounts[ORG].credentials == {}  # Maventa's keys come when the account is registered
    rules = {(r.dimension, r.value): r.account.external_id for r in conn.rules.all()}
    assert rules == {("company", ORG): ORG, ("company", OY): OY}


def test_invoices_route_to_the_account_of_the_company_that_issued_them(sandbox):
    _, _, conn = connected(sandbox)
    client = SeveraClient(client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, organisation=ORG)
    for guid, account in ((data.INVOICE_TWO_RATES, ORG), (data.INVOICE_OVT, OY), (data.CREDIT_NOTE, ORG)):
        facts = read.routing_facts({"invoice": client.invoice(guid)})
        decision = route(conn, facts)
        assert decision.account.external_id == account and decision.rule is not None


def test_the_statuses_are_severas_with_is_sent(sandbox):
    _, _, conn = connected(sandbox)
    statuses = registry.source("severa").statuses(conn)
    assert statuses == [
        SourceStatus(key=data.DRAFT, name="Luonnos", is_sent=False),
        SourceStatus(key=data.TO_TRANSFER, name="Valmis lähetettäväksi", is_sent=False),
        SourceStatus(key=data.TRANSFERRED, name="Lähetetty Maventaan", is_sent=True),
        SourceStatus(key=data.TRANSFER_FAILED, name="Siirto epäonnistui", is_sent=False),
        SourceStatus(key=data.SENT, name="Lähetetty", is_sent=True),
    ]
    org = SeveraOrganisation.objects.get(vat_number=ORG)
    assert org.status(data.TRANSFERRED) == {
        "guid": data.TRANSFERRED,
        "name": "Lähetetty Maventaan",
        "is_sent": True,
        "is_active": True,
    }


def test_what_was_read_is_logged_without_a_document_and_without_secrets(sandbox):
    _, _, conn = connected(sandbox)
    (row,) = SyncAttempt.objects.filter(connection=conn)
    assert (row.action, row.outcome, row.document) == ("connect", "ok", None)
    assert row.message.startswith(f"[Maventa {ORG}] Read the Severa organisation Demokonsult AB: 2 active")
    assert "4 business units, 5 invoice statuses" in row.message
    for value in (row.message, str(row.text), str(row.request), str(row.response)):
        assert_no_secret(value)


def test_the_credentials_are_stored_encrypted(sandbox):
    connected(sandbox)
    with db.cursor() as cursor:
        cursor.execute(f"SELECT secrets FROM {SeveraOrganisation._meta.db_table}")  # noqa: S608
        (stored,) = cursor.fetchone()
    assert_no_secret(str(stored))


def test_refreshing_again_changes_nothing_and_keeps_what_people_set(sandbox):
    _, _, conn = connected(sandbox)
    oy = conn.accounts.get(external_id=OY)
    oy.settings = {**oy.settings, "enabled": True, "status_to_transfer": data.TO_TRANSFER}
    oy.credentials = {"user_api_key": "k", "company_uuid": "u"}
    oy.save()
    org = SeveraOrganisation.objects.get(vat_number=ORG)
    before = (org.companies, org.business_units, org.statuses)
    accounts = sorted(conn.accounts.values_list("pk", "external_id", "is_default", "name"))
    rules = sorted(conn.rules.values_list("pk", "dimension", "value", "account_id"))

    refresh(org)
    refresh(SeveraOrganisation.objects.get(vat_number=ORG))

    org.refresh_from_db()
    assert (org.companies, org.business_units, org.statuses) == before
    assert sorted(conn.accounts.values_list("pk", "external_id", "is_default", "name")) == accounts
    assert sorted(conn.rules.values_list("pk", "dimension", "value", "account_id")) == rules
    oy.refresh_from_db()
    assert oy.settings == {
        "company_guid": data.OY_COMPANY,
        "country": "FI",
        "enabled": True,
        "status_to_transfer": data.TO_TRANSFER,
    }
    assert oy.credentials == {"user_api_key": "k", "company_uuid": "u"}
    assert SyncAttempt.objects.filter(connection=conn, action="connect", outcome="ok").count() == 3


def test_a_rule_pointing_elsewhere_is_put_back_and_a_lost_default_restored(sandbox):
    _, _, conn = connected(sandbox)
    ab, oy = conn.accounts.get(external_id=ORG), conn.accounts.get(external_id=OY)
    RoutingRule.objects.filter(connection=conn, value=OY).update(account=ab)
    oy.make_default()
    refresh(SeveraOrganisation.objects.get(vat_number=ORG))
    assert conn.rules.get(value=OY).account == oy
    assert conn.default_account() == ab


def test_a_company_no_longer_active_keeps_its_account_and_the_card_says_so(sandbox, monkeypatch):
    user, _, conn = connected(sandbox)
    details = severa_organization.organization_details()
    only_ab = {**details, "activeCompanies": details["activeCompanies"][:1]}
    monkeypatch.setattr(severa_organization, "organization_details", lambda: only_ab)

    refresh(SeveraOrganisation.objects.get(vat_number=ORG))
    refresh(SeveraOrganisation.objects.get(vat_number=ORG))

    org = SeveraOrganisation.objects.get(vat_number=ORG)
    oy = org.company(data.OY_COMPANY)
    assert oy["active"] is False and oy["vat_number"] == OY
    assert [c["guid"] for c in org.companies] == [data.AB_COMPANY, data.OY_COMPANY]
    assert sorted(conn.accounts.values_list("external_id", flat=True)) == [OY, ORG]
    assert conn.rules.filter(value=OY).exists()
    assert SyncAttempt.objects.filter(
        connection=conn, outcome="info", message__contains="no longer lists Demokonsult Oy"
    ).exists()
    page = factories.signed_in(user).get(reverse("dashboard:connection", args=[conn.pk])).content.decode()
    assert "Severa no longer lists this company as active" in page


def test_wrong_credentials_are_refused_in_words_and_nothing_is_stored(sandbox):
    user = factories.user()
    with pytest.raises(ConnectError) as caught:
        connect(None, client_id=DEMO_CLIENT_ID, client_secret="not-the-secret", user=user)
    assert "Severa refused the sign-in" in caught.value.text.english()
    assert "Settings → Integrations → REST API" in caught.value.text.english()
    assert not SeveraOrganisation.objects.exists() and not Connection.objects.exists()
    assert not Tenant.objects.exists() and not Membership.objects.filter(user=user).exists()
    with pytest.raises(ConnectError) as empty:
        connect(None, client_id=" ", client_secret="", user=user)
    assert "client id and the client secret" in empty.value.text.english()


def test_a_client_without_a_needed_scope_is_refused(sandbox):
    add_client(sandbox, "no-files", "no-files-secret", SCOPES - {"files:read"})
    user, tenant = owner_and_tenant()
    with pytest.raises(ConnectError) as caught:
        connect(tenant, client_id="no-files", client_secret="no-files-secret", user=user)
    assert "files:read" in caught.value.text.english()
    assert not SeveraOrganisation.objects.exists()


def test_an_organisation_another_merchant_connected_is_refused(sandbox):
    connected(sandbox)
    user, tenant = owner_and_tenant()
    with pytest.raises(ConnectError) as caught:
        connect(tenant, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, user=user)
    assert caught.value.text.english() == (
        "The Severa organisation Demokonsult AB (SE556677889901) is already connected to another merchant; "
        "ask its owner to invite you."
    )
    with pytest.raises(ConnectError):
        connect(None, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, user=factories.user())
    assert SeveraOrganisation.objects.get().tenant != tenant
    assert Connection.objects.count() == 1


def test_the_same_merchant_connecting_again_replaces_the_credentials(sandbox):
    user, tenant, conn = connected(sandbox)
    add_client(sandbox, "second-client", "second-secret")
    again = connect(tenant, client_id="second-client", client_secret="second-secret", user=user)
    assert again == conn and Connection.objects.count() == 1
    org = SeveraOrganisation.objects.get()
    assert (org.client_id, org.client_secret) == ("second-client", "second-secret")
    assert conn.accounts.count() == 2 and conn.rules.count() == 2


def test_a_viewer_cannot_connect_for_the_merchant(sandbox):
    tenant = factories.tenant()
    viewer = factories.user(tenant, role=Membership.Role.VIEWER)
    with pytest.raises(ConnectError):
        connect(tenant, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, user=viewer)
    assert not SeveraOrganisation.objects.exists()


@pytest.mark.parametrize(
    ("country", "vat", "code"),
    [
        ({"name": "Sweden", "code3": "SWE"}, "", "SE"),
        ({"name": "Finland", "code3": "FIN"}, "", "FI"),
        ({"code": "SE", "name": "Sweden"}, "", "SE"),
        ({"code2": "no"}, "", "NO"),
        ({"name": "Danmark"}, "", "DK"),
        ("Suomi", "", "FI"),
        ({"code3": "EST"}, "", "EE"),
        ({"name": "Atlantis"}, "FI23456780", "FI"),
        (None, "EL123456789", "GR"),
        (None, "XX123", ""),
    ],
)
def test_countries_are_iso_alpha_2(country, vat, code):
    assert country_code(country, vat_number=vat) == code


def demo_snapshot(details=None, units=None):
    return Snapshot(
        details=details or severa_organization.organization_details(),
        units=units if units is not None else severa_organization.business_units(),
        statuses=[],
    )


def test_the_main_company_falls_back_to_the_organisations_vat_number():
    units = [
        {**u, "vatNumber": None} if u["guid"] == data.AB_ROOT_BU else u
        for u in severa_organization.business_units()
    ]
    companies, business_units, _ = shape(demo_snapshot(units=units))
    by_guid = {c["guid"]: c for c in companies}
    assert by_guid[data.AB_COMPANY]["main"] and by_guid[data.AB_COMPANY]["vat_number"] == ORG
    assert by_guid[data.OY_COMPANY]["vat_number"] == OY and not by_guid[data.OY_COMPANY]["main"]
    assert [u["own_company"] for u in business_units] == [True, False, True, False]


def test_a_unit_of_a_company_without_its_own_vat_number_is_not_its_own_company():
    units = [
        {**u, "vatNumber": None} if u["guid"] == data.OY_ROOT_BU else u
        for u in severa_organization.business_units()
    ]
    companies, business_units, _ = shape(demo_snapshot(units=units))
    assert {c["guid"]: c["vat_number"] for c in companies} == {data.AB_COMPANY: ORG, data.OY_COMPANY: ""}
    assert [u["own_company"] for u in business_units] == [True, False, False, False]


def test_an_organisation_without_a_hierarchy_is_its_one_company():
    details = {**severa_organization.organization_details(), "activeCompanies": []}
    units = [u for u in severa_organization.business_units() if u["companyGuid"] == data.AB_COMPANY]
    companies, business_units, _ = shape(demo_snapshot(details, units))
    assert [
        (c["guid"], c["name"], c["vat_number"], c["country"], c["currency"], c["main"]) for c in companies
    ] == [(data.AB_COMPANY, "Demokonsult AB", ORG, "SE", "SEK", True)]
    assert [u["own_company"] for u in business_units] == [True, False]


# --- pages ----------------------------------------------------------------------------------------------


def test_a_fresh_user_connects_from_the_overview_and_lands_on_the_connection(sandbox):
    user = factories.user()
    client = factories.signed_in(user)
    overview = client.get(reverse("dashboard:overview")).content.decode()
    assert "Connect your Severa organisation" in overview
    assert f'action="{reverse("severa:connect")}"' in overview
    assert 'name="client_id" type="password"' in overview
    assert 'name="client_secret" type="password"' in overview
    assert "Settings → Integrations → REST API" in overview and "files:read" in overview

    answer = client.post(
        reverse("severa:connect"), {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}
    )
    conn = Connection.objects.get(source_kind="severa")
    assert answer.status_code == 302 and answer.url == reverse("dashboard:connection", args=[conn.pk])
    assert conn.tenant.name == "Demokonsult AB"
    assert Membership.objects.get(user=user).role == Membership.Role.OWNER
    page = client.get(answer.url).content.decode()
    assert "Severa organisation Demokonsult AB connected" in page
    assert_no_secret(page)


def test_wrong_credentials_on_the_page_say_why_and_show_nothing_back(sandbox):
    client = factories.signed_in(factories.user())
    answer = client.post(
        reverse("severa:connect"),
        {"client_id": DEMO_CLIENT_ID, "client_secret": "wrong-secret-123"},
        follow=True,
    )
    page = answer.content.decode()
    assert "Severa refused the sign-in" in page and "Connect your Severa organisation" in page
    assert_no_secret(page, DEMO_CLIENT_ID, "wrong-secret-123")
    assert not Connection.objects.exists()


def test_the_connection_page_shows_the_severa_card_in_english_and_swedish(sandbox):
    user, _, conn = connected(sandbox)
    url = reverse("dashboard:connection", args=[conn.pk])
    page = factories.signed_in(user).get(url).content.decode()
    assert f'data-severa-organisation="{ORG}"' in page
    assert "Demokonsult AB" in page and "Demokonsult Oy" in page
    assert f"[Maventa {ORG}]" in page and f"[Maventa {OY}]" in page
    assert page.count("data-own-company") == 2 and page.count("data-uses-company") == 2
    assert "uses Demokonsult AB's account" in page and "uses Demokonsult Oy's account" in page
    assert "Lähetetty Maventaan" in page and page.count("data-sent") == 2
    assert f'action="{reverse("severa:refresh", args=[conn.pk])}"' in page
    assert_no_secret(page)

    swedish = factories.signed_in(user, language="sv").get(url)
    html = swedish.content.decode()
    assert swedish.headers["Content-Language"] == "sv"
    assert ">Källa<" in html and "Dokument går till Maventa." in html
    assert f'data-severa-organisation="{ORG}"' in html and "Demokonsult Oy" in html
    assert "Lähetetty Maventaan" in html
    assert_no_secret(html)


def test_the_owner_refreshes_a_viewer_cannot_another_merchant_gets_404(sandbox):
    owner, tenant, conn = connected(sandbox)
    url = reverse("severa:refresh", args=[conn.pk])
    answer = factories.signed_in(owner).post(url, follow=True)
    assert answer.redirect_chain[-1][0] == reverse("dashboard:connection", args=[conn.pk])
    assert "Severa organisation read again." in answer.content.decode()
    assert SyncAttempt.objects.filter(connection=conn, action="connect").count() == 2

    viewer = factories.user(tenant, role=Membership.Role.VIEWER)
    viewer_client = factories.signed_in(viewer)
    assert viewer_client.post(url).status_code == 403
    page = viewer_client.get(reverse("dashboard:connection", args=[conn.pk])).content.decode()
    assert "Demokonsult Oy" in page and 'action="' + url not in page
    assert (
        viewer_client.post(reverse("severa:connect"), {"client_id": "x", "client_secret": "y"}).status_code
        == 403
    )

    stranger, _ = owner_and_tenant()
    stranger_client = factories.signed_in(stranger)
    assert stranger_client.post(url).status_code == 404
    assert stranger_client.get(reverse("dashboard:connection", args=[conn.pk])).status_code == 404
    assert SyncAttempt.objects.filter(connection=conn, action="connect").count() == 2


def test_no_page_or_log_row_holds_the_secrets(sandbox):
    owner, _, conn = connected(sandbox)
    client = factories.signed_in(owner)
    client.post(reverse("severa:refresh", args=[conn.pk]))
    for url in (
        reverse("dashboard:overview"),
        reverse("dashboard:connection", args=[conn.pk]),
        reverse("dashboard:accounts", args=[conn.pk]),
        reverse("dashboard:logs"),
    ):
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert_no_secret(answer.content.decode())
    for row in SyncAttempt.objects.all():
        assert_no_secret(" ".join(map(str, (row.message, row.text, row.request, row.response))))
    assert TargetAccount.objects.filter(connection=conn).count() == 2


def test_a_merchant_with_a_haravan_shop_can_connect_severa_too(db, sandbox):
    from django.urls import reverse

    tenant = factories.tenant("Both")
    shop = factories.shop(tenant, org_id="200000009")
    factories.connection(tenant, shop)
    owner = factories.user(tenant, email="owner@both.example")
    page = factories.signed_in(owner, language="en").get(reverse("dashboard:overview")).content.decode()
    assert "Connect another source" in page and reverse("severa:connect") in page
    viewer = factories.user(tenant, role="viewer", email="viewer@both.example")
    page = factories.signed_in(viewer, language="en").get(reverse("dashboard:overview")).content.decode()
    assert "Connect another source" not in page
