"""Connecting a Severa organisation (its REST API client id and secret) and keeping what we know of it —
its companies, business units and invoice statuses — and its Maventa accounts up to date.

One Maventa account per company of the organisation that has a VAT number of its own (
maventa-severa.md §1 "only business units that are their own organisation get settings"); the units that
are not their own company use their company's account. Invoices route to the account of the company that
issued them by the invoice's ``senderVatNumber`` (``severa.read.routing_facts``: the dimension "company").

Readings chosen where the reference (§3) leaves room:

- A company's VAT number is the ``vatNumber`` of its root business unit. The reference says the company's
  ``rootBusinessUnitGuid`` equals its units' ``companyBusinessUnitGuid``; the root unit itself is the one
  whose ``guid`` is that value (both hold in the simulator), so the root unit is found by its ``guid``,
  else as a unit of the company whose ``guid`` equals its ``companyBusinessUnitGuid``.
- The organisation's own (main) company is the one whose root unit carries the organisation's VAT number,
  else the one whose root unit has no parent, else the one named like the organisation, else the first
  active company; only that company falls back to ``organizationdetails.vatNumber``.
- ``activeCompanies`` lists companies with a country ``{name, code3}``; countries are stored as ISO alpha-2
  (``COUNTRY_CODES``/``COUNTRY_NAMES``: the Nordic countries, the EU's, and a few neighbours), else the
  letters of the VAT number (an EU VAT number starts with its country's alpha-2, Greece's "EL" aside).
- The addresses: ``organizationdetails`` gives the organisation's own address only, which is the main
  company's; the other companies' addresses are not in the documented models (left empty: an invoice
  names its sender's address itself, ``senderAddress``).

The shapes stored on ``SeveraOrganisation`` are those of its docstring; each company also says whether it is
the organisation's main company (``"main"``) and whether Severa still lists it (``"active"``): a company
that is no longer active keeps its account, its rule and its documents, and the card says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from connectors.http import ApiError
from connectors.models import Connection, Membership, RoutingRule, TargetAccount, Tenant
from connectors.text import Text
from syncjobs.services import Outcome, log_attempt

from .client import SeveraAuthError, SeveraClient
from .models import SeveraOrganisation
from .services import client_for

log = logging.getLogger(__name__)

SOURCE_KIND = "severa"
TARGET_KIND = "maventa"
COMPANY_DIMENSION = "company"  # severa.read.routing_facts: the invoice's senderVatNumber
RULE_PRIORITY = 100

# The two keys of a Maventa account's settings that name its Severa company: see maventa/setup.py
# (AccountSetup.company_guid, AccountSetup.country). Written by name: severa never imports maventa.
SETUP_COMPANY_GUID = "company_guid"
SETUP_COUNTRY = "country"

# ISO 3166 alpha-3 → alpha-2: the Nordic countries, the EU's member states, and the neighbours a Nordic
# consultancy is likely to have companies in.
COUNTRY_CODES = {
    "SWE": "SE", "FIN": "FI", "NOR": "NO", "DNK": "DK", "ISL": "IS", "ALA": "AX",
    "EST": "EE", "LVA": "LV", "LTU": "LT", "DEU": "DE", "NLD": "NL", "BEL": "BE", "LUX": "LU",
    "FRA": "FR", "AUT": "AT", "POL": "PL", "CZE": "CZ", "SVK": "SK", "HUN": "HU", "SVN": "SI",
    "HRV": "HR", "ITA": "IT", "ESP": "ES", "PRT": "PT", "IRL": "IE", "GRC": "GR", "CYP": "CY",
    "MLT": "MT", "ROU": "RO", "BGR": "BG", "GBR": "GB", "CHE": "CH",
}  # fmt: skip
# English and the Nordic languages' own names (Severa may answer in the organisation's language).
COUNTRY_NAMES = {
    "sweden": "SE", "sverige": "SE", "ruotsi": "SE",
    "finland": "FI", "suomi": "FI",
    "norway": "NO", "norge": "NO", "norja": "NO",
    "denmark": "DK", "danmark": "DK", "tanska": "DK",
    "iceland": "IS", "ísland": "IS", "estonia": "EE", "eesti": "EE", "viro": "EE",
    "latvia": "LV", "lithuania": "LT", "germany": "DE", "deutschland": "DE", "saksa": "DE",
    "netherlands": "NL", "belgium": "BE", "luxembourg": "LU", "france": "FR", "austria": "AT",
    "poland": "PL", "czech republic": "CZ", "czechia": "CZ", "slovakia": "SK", "hungary": "HU",
    "slovenia": "SI", "croatia": "HR", "italy": "IT", "spain": "ES", "portugal": "PT",
    "ireland": "IE", "greece": "GR", "cyprus": "CY", "malta": "MT", "romania": "RO",
    "bulgaria": "BG", "united kingdom": "GB", "switzerland": "CH",
}  # fmt: skip
ALPHA2 = frozenset(COUNTRY_CODES.values())


class ConnectError(Exception):
    """Connecting or refreshing failed; ``text`` says why in words a person can act on (never a secret)."""

    def __init__(self, text: Text):
        super().__init__(text.english())
        self.text = text


@dataclass(frozen=True)
class Snapshot:
    """What Severa said about the organisation in one reading."""

    details: dict
    units: list[dict]
    statuses: list[dict]

    @property
    def vat_number(self) -> str:
        return normalise_vat(self.details.get("vatNumber"))


def normalise_vat(value) -> str:
    """A VAT number as a source key: upper-cased, without spaces (or dots and dashes)."""
    text = "" if value is None else str(value)
    return "".join(ch for ch in text if ch.isalnum()).upper()


def country_code(country, *, vat_number: str = "") -> str:
    """ISO alpha-2 of Severa's country (``{code2}``, ``{code3}``, ``{code}``, a name, or a bare string),
    else the letters of the VAT number, else ""."""
    if isinstance(country, dict):
        for key in ("code2", "code"):
            code = str(country.get(key) or "").strip().upper()
            if len(code) == 2 and code.isalpha():
                return code
            if len(code) == 3 and code in COUNTRY_CODES:
                return COUNTRY_CODES[code]
        code3 = str(country.get("code3") or "").strip().upper()
        if code3 in COUNTRY_CODES:
            return COUNTRY_CODES[code3]
        name = country.get("englishName") or country.get("name")
    else:
        name = country
    name = str(name or "").strip()
    if name.upper() in COUNTRY_CODES:
        return COUNTRY_CODES[name.upper()]
    if len(name) == 2 and name.upper() in ALPHA2:
        return name.upper()
    if name.casefold() in COUNTRY_NAMES:
        return COUNTRY_NAMES[name.casefold()]
    prefix = vat_number[:2]
    if prefix == "EL":  # Greece's VAT numbers
        return "GR"
    return prefix if prefix in ALPHA2 else ""


# --- reading --------------------------------------------------------------------------------------------


def read(client: SeveraClient) -> Snapshot:
    """The organisation's details, its business units (active ones) and every invoice status."""
    details = client.organization_details()
    units = client.business_units(active=True)
    statuses = client.invoice_statuses(active=None)
    return Snapshot(details=details, units=units, statuses=statuses)


def _root_unit(company: dict, units: list[dict]) -> dict | None:
    root = str(company.get("rootBusinessUnitGuid") or "")
    if root:
        found = next((u for u in units if u.get("guid") == root), None)
        if found is not None:
            return found
    return next(
        (
            u
            for u in units
            if u.get("companyGuid") == company.get("guid")
            and u.get("guid") == u.get("companyBusinessUnitGuid")
        ),
        None,
    )


def _main_company(details: dict, companies: list[dict], roots: dict[str, dict | None]) -> str | None:
    """The guid of the organisation's own company (see the module's docstring)."""
    own_vat = normalise_vat(details.get("vatNumber"))
    guids = [str(c.get("guid") or "") for c in companies]
    for guid in guids:
        unit = roots.get(guid)
        if own_vat and unit is not None and normalise_vat(unit.get("vatNumber")) == own_vat:
            return guid
    for guid in guids:
        unit = roots.get(guid)
        if unit is not None and not unit.get("parentGuid"):
            return guid
    name = str(details.get("name") or "").strip().casefold()
    for company in companies:
        if name and str(company.get("name") or "").strip().casefold() == name:
            return str(company.get("guid") or "")
    return guids[0] if guids else None


def _address(value) -> dict:
    if not isinstance(value, dict):
        return {}
    keys = ("addressline", "postalCode", "city", "state", "country")
    return {k: value.get(k) for k in keys if k in value}


def shape(
    snapshot: Snapshot, *, known: list[dict] | None = None
) -> tuple[list[dict], list[dict], list[dict]]:
    """(companies, business units, statuses) as ``SeveraOrganisation`` stores them. Companies in `known`
    that Severa no longer lists stay, marked ``"active": False``."""
    details = snapshot.details
    units = [u for u in snapshot.units if isinstance(u, dict) and u.get("guid")]
    active = [c for c in details.get("activeCompanies") or [] if isinstance(c, dict) and c.get("guid")]
    if not active:
        # No organisation hierarchy: the organisation is its one company, its top unit the root.
        top = next((u for u in units if not u.get("parentGuid")), None)
        active = [
            {
                "guid": (top or {}).get("companyGuid") or "",
                "name": details.get("name") or "",
                "rootBusinessUnitGuid": (top or {}).get("guid") or "",
                "country": details.get("country"),
                "currencyCode": (details.get("currency") or {}).get("code")
                if isinstance(details.get("currency"), dict)
                else details.get("currency"),
            }
        ]
    roots = {str(c["guid"]): _root_unit(c, units) for c in active}
    main = _main_company(details, active, roots)

    companies = []
    for company in active:
        guid = str(company.get("guid") or "")
        root = roots.get(guid)
        vat = normalise_vat((root or {}).get("vatNumber"))
        is_main = guid == main
        if not vat and is_main:
            vat = snapshot.vat_number
        country = country_code(company.get("country"), vat_number=vat)
        if not country and is_main:
            country = country_code(details.get("country"), vat_number=vat)
        currency = company.get("currencyCode")
        if not currency and is_main and isinstance(details.get("currency"), dict):
            currency = details["currency"].get("code")
        companies.append(
            {
                "guid": guid,
                "name": str(company.get("name") or (root or {}).get("companyName") or ""),
                "vat_number": vat,
                "country": country,
                "currency": str(currency or ""),
                "root_business_unit": str(
                    (root or {}).get("guid") or company.get("rootBusinessUnitGuid") or ""
                ),
                "address": _address(details.get("address")) if is_main else {},
                "main": is_main,
                "active": True,
            }
        )
    listed = {c["guid"] for c in companies}
    for old in known or []:
        if isinstance(old, dict) and old.get("guid") not in listed:
            companies.append({**old, "main": False, "active": False})

    by_guid = {c["guid"]: c for c in companies}
    business_units = []
    for unit in units:
        company = by_guid.get(str(unit.get("companyGuid") or ""))
        is_root = company is not None and unit.get("guid") == company["root_business_unit"]
        business_units.append(
            {
                "guid": str(unit["guid"]),
                "name": str(unit.get("name") or ""),
                "company_guid": str(unit.get("companyGuid") or ""),
                "company_name": str(unit.get("companyName") or (company or {}).get("name") or ""),
                "own_company": bool(is_root and company["vat_number"]),
            }
        )

    statuses = [
        {
            "guid": str(s["guid"]),
            "name": str(s.get("name") or ""),
            "is_sent": bool(s.get("isSent")),
            "is_active": s.get("isActive") is not False,
        }
        for s in sorted(
            (s for s in snapshot.statuses if isinstance(s, dict) and s.get("guid")),
            key=lambda s: (s.get("sortOrder") is None, s.get("sortOrder") or 0),
        )
    ]
    return companies, business_units, statuses


# --- connecting -----------------------------------------------------------------------------------------


def connect(tenant: Tenant | None, *, client_id: str, client_secret: str, user: AbstractBaseUser | None):
    """Sign in with the REST API client, read the organisation, store it (credentials encrypted) with its
    connection to Maventa, then its accounts and rules (``refresh``). Returns the connection.

    `tenant` None: a tenant is made for the organisation, `user` its owner. Raises ConnectError (nothing
    stored) when Severa refuses the credentials or the reading, or when another merchant has connected
    the organisation already; the same merchant connecting again replaces the credentials."""
    client_id, client_secret = (client_id or "").strip(), (client_secret or "").strip()
    if not client_id or not client_secret:
        raise ConnectError(
            Text(
                "Enter both the client id and the client secret of the REST API client (Severa: Settings → "
                "Integrations → REST API)."
            )
        )
    if tenant is not None and user is not None and not _is_owner(user, tenant):
        raise ConnectError(Text("Only the merchant's owner can connect a Severa organisation."))
    client = SeveraClient(client_id=client_id, client_secret=client_secret)
    try:
        client.authenticate()
        snapshot = read(client)
    except SeveraAuthError as exc:
        raise ConnectError(exc.text) from None
    except ApiError as exc:
        raise ConnectError(
            Text("The Severa organisation could not be read: %(error)s", error=exc.text)
        ) from None
    vat = snapshot.vat_number
    if not vat:
        raise ConnectError(
            Text(
                "Severa's organisation details carry no VAT number; enter the organisation's VAT number in "
                "Severa (Settings → Organisation) and connect again."
            )
        )
    name = str(snapshot.details.get("name") or "").strip() or vat
    with transaction.atomic():
        organisation = SeveraOrganisation.objects.select_for_update().filter(vat_number=vat).first()
        if organisation is not None and (tenant is None or organisation.tenant_id != tenant.pk):
            if tenant is None and user is not None and _is_owner(user, organisation.tenant):
                tenant = organisation.tenant  # its owner, signed in without a merchant chosen
            else:
                raise ConnectError(
                    Text(
                        "The Severa organisation %(name)s (%(vat)s) is already connected to another "
                        "merchant; ask its owner to invite you.",
                        name=name,
                        vat=vat,
                    )
                )
        if tenant is None:
            tenant = Tenant.objects.create(name=name, slug=_unique_slug(name))
        if user is not None:
            Membership.objects.get_or_create(
                user=user, tenant=tenant, defaults={"role": Membership.Role.OWNER}
            )
        if organisation is None:
            organisation = SeveraOrganisation(tenant=tenant, vat_number=vat)
        organisation.name = name
        organisation.secrets = {"client_id": client_id, "client_secret": client_secret}
        organisation.save()
        connection = Connection.objects.filter(
            source_kind=SOURCE_KIND, source_key=vat, target_kind=TARGET_KIND
        ).first()
        if connection is not None and connection.tenant_id != tenant.pk:
            raise ConnectError(
                Text(
                    "The Severa organisation %(name)s (%(vat)s) is already connected to another merchant; "
                    "ask its owner to invite you.",
                    name=name,
                    vat=vat,
                )
            )
        if connection is None:
            connection = Connection.objects.create(
                tenant=tenant, source_kind=SOURCE_KIND, source_key=vat, target_kind=TARGET_KIND, name=name
            )
        elif connection.name != name:
            connection.name = name
            connection.save(update_fields=["name"])
        _apply(organisation, snapshot, action="connect")
    return connection


def refresh(organisation: SeveraOrganisation, *, client: SeveraClient | None = None) -> SeveraOrganisation:
    """Read the organisation again (companies, business units, invoice statuses) and bring its Maventa
    accounts and routing rules in line. Safe to repeat. Raises ConnectError when Severa cannot be read
    (logged on the connection)."""
    client = client or client_for(organisation)
    try:
        snapshot = read(client)
    except ApiError as exc:
        text = Text("The Severa organisation could not be read again: %(error)s", error=exc.text)
        for connection in _connections(organisation):
            log_attempt(connection=connection, action="connect", outcome=Outcome.ERROR, message=text)
        raise ConnectError(text) from None
    if snapshot.vat_number and snapshot.vat_number != organisation.vat_number:
        text = Text(
            "The API client now reads the Severa organisation %(vat)s, not %(connected)s: connect that "
            "organisation on its own, and give this connection the client of %(connected)s.",
            vat=snapshot.vat_number,
            connected=organisation.vat_number,
        )
        for connection in _connections(organisation):
            log_attempt(connection=connection, action="connect", outcome=Outcome.ERROR, message=text)
        raise ConnectError(text)
    with transaction.atomic():
        # One refresh at a time per organisation (a page and a task may ask at once): the row is locked and
        # read again, so each one starts from what the one before stored.
        locked = SeveraOrganisation.objects.select_for_update().get(pk=organisation.pk)
        _apply(locked, snapshot, action="connect")
    organisation.refresh_from_db()
    return organisation


def _apply(organisation: SeveraOrganisation, snapshot: Snapshot, *, action: str) -> None:
    """Store what was read; make sure each company with a VAT number of its own has its account and rule."""
    companies, units, statuses = shape(snapshot, known=organisation.companies)
    organisation.name = str(snapshot.details.get("name") or "").strip() or organisation.name
    organisation.companies = companies
    organisation.business_units = units
    organisation.statuses = statuses
    organisation.refreshed_at = timezone.now()
    organisation.save(update_fields=["name", "companies", "business_units", "statuses", "refreshed_at"])
    for connection in _connections(organisation):
        created = _ensure_accounts(connection, companies)
        main = next(
            (c for c in companies if c.get("main") and c.get("vat_number")),
            None,
        )
        account = connection.accounts.filter(external_id=main["vat_number"]).first() if main else None
        own = [c for c in companies if c.get("vat_number") and c.get("active", True)]
        log_attempt(
            connection=connection,
            account=account,
            action=action,
            outcome=Outcome.OK,
            message=Text(
                "Read the Severa organisation %(name)s: %(companies)s active companies (%(own)s with a VAT "
                "number of their own, each with a Maventa account; %(created)s new), %(units)s business "
                "units, %(statuses)s invoice statuses.",
                name=organisation.name,
                companies=sum(1 for c in companies if c.get("active", True)),
                own=len(own),
                created=created,
                units=len(units),
                statuses=len(statuses),
            ),
        )
        for gone in (c for c in companies if not c.get("active", True)):
            log_attempt(
                connection=connection,
                account=connection.accounts.filter(external_id=gone.get("vat_number") or "-").first(),
                action=action,
                outcome=Outcome.INFO,
                message=Text(
                    "Severa no longer lists %(company)s among the organisation's active companies: its "
                    "Maventa account and its documents are kept.",
                    company=gone.get("name") or gone.get("guid"),
                ),
            )


def _ensure_accounts(connection: Connection, companies: list[dict]) -> int:
    """One account per company with its own VAT number (external id = the VAT number), its settings naming
    the company; the main company's is the default; one "company" rule per VAT number. Returns how many
    accounts were made. Accounts are never deleted here."""
    created = 0
    default = None
    for company in companies:
        vat = company.get("vat_number")
        if not vat:
            continue
        account = (
            TargetAccount.objects.select_for_update().filter(connection=connection, external_id=vat).first()
        )
        if account is None:
            if not company.get("active", True):
                continue  # a company Severa no longer lists gets no new account
            account = TargetAccount(connection=connection, external_id=vat, settings={})
            created += 1
        account.name = company.get("name") or account.name
        settings = dict(account.settings or {}) if isinstance(account.settings, dict) else {}
        if company.get("active", True):
            # maventa/setup.py AccountSetup.company_guid / .country: the company this account sends for
            settings[SETUP_COMPANY_GUID] = company.get("guid") or ""
            settings[SETUP_COUNTRY] = company.get("country") or settings.get(SETUP_COUNTRY, "")
            address = company.get("address") or {}
            if address.get("addressline") and not settings.get("address"):
                # The register form's prefill (Maventa's company fields), when Severa gives the address
                settings["address"] = {
                    "address1": address.get("addressline") or "",
                    "post_code": (address.get("postalCode") or "").replace(" ", ""),
                    "post_office": address.get("city") or "",
                    "city": address.get("city") or "",
                }
        account.settings = settings
        account.save()
        _ensure_rule(connection, vat, account)
        if company.get("main") and company.get("active", True):
            default = account
    if default is not None and not default.is_default:
        default.make_default()
    elif default is None and not connection.accounts.filter(is_default=True).exists():
        first = connection.accounts.order_by("id").first()
        if first is not None:
            first.make_default()
    return created


def _ensure_rule(connection: Connection, vat: str, account: TargetAccount) -> None:
    rules = list(
        RoutingRule.objects.filter(connection=connection, dimension=COMPANY_DIMENSION, value=vat).order_by(
            "id"
        )
    )
    if not rules:
        RoutingRule.objects.create(
            connection=connection,
            dimension=COMPANY_DIMENSION,
            value=vat,
            account=account,
            priority=RULE_PRIORITY,
        )
        return
    for rule in rules:  # invoices of a company can only go out through that company's own account
        if rule.account_id != account.pk:
            rule.account = account
            rule.save(update_fields=["account"])


def _connections(organisation: SeveraOrganisation):
    return Connection.objects.filter(
        tenant_id=organisation.tenant_id, source_kind=SOURCE_KIND, source_key=organisation.vat_number
    ).order_by("id")


def _is_owner(user, tenant) -> bool:
    return Membership.objects.filter(user=user, tenant=tenant, role=Membership.Role.OWNER).exists()


def _unique_slug(text: str) -> str:
    base = slugify(text)[:60] or "severa"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


# --- what the screens show ------------------------------------------------------------------------------


def organisation_for(connection: Connection) -> SeveraOrganisation | None:
    return SeveraOrganisation.objects.filter(
        tenant_id=connection.tenant_id, vat_number=connection.source_key
    ).first()


def connection_context(connection: Connection) -> dict:
    """The Severa card: the organisation, its companies with their accounts, its business units (those
    that are not their own company use their company's account) and its invoice statuses."""
    organisation = organisation_for(connection)
    if organisation is None:
        return {"severa": {"organisation": None}}
    accounts = {a.external_id: a for a in connection.accounts.all()}
    companies = [
        {**c, "account": accounts.get(c.get("vat_number") or "")}
        for c in sorted(organisation.companies, key=lambda c: (not c.get("main"), not c.get("active", True)))
    ]
    names = {c.get("guid"): c.get("name") for c in organisation.companies}
    units = [
        {**u, "company_name": u.get("company_name") or names.get(u.get("company_guid")) or ""}
        for u in organisation.business_units
    ]
    return {
        "severa": {
            "organisation": organisation,
            "companies": companies,
            "business_units": units,
            "statuses": organisation.statuses,
            "refreshed_at": organisation.refreshed_at,
        }
    }
