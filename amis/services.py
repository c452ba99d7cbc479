"""An AMIS company as the rest of the product uses it: a client with the company's shared token, "test
connection", and the company's master data kept in our database for the mapping screens.

Tokens (amis.md §1, §2): one per (app ID, company), 12 hours, no refresh token. Every worker and every
connection posting to the company shares it through `AmisSession`; renewing it happens under that row's
lock, so workers that find it stale together connect once, and the others take the fresh token.

Master data (amis.md §9, §12): read per kind with ``get_dictionary``, incrementally from AMIS's own
``LastSyncTime`` less a few minutes of overlap, deletions from ``get_dictionary_delete``; a full read
replaces the copy. Reads are paced per company by the client's shared bucket, which also honours 429.
"""

import datetime as dt
import logging
from collections import abc
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from connectors.http import ApiError, RetryableError, require_url
from connectors.models import TargetAccount
from connectors.reference import (
    NOT_DECLARED,
    BuyerFacts,
    ItemFacts,
    ReferenceFacts,
    item_key,
    tax_key,
)
from connectors.text import Text

from .client import VN_TZ, AmisClient, Token
from .mapping import RATE_CODES, Mapping
from .models import DATA_TYPES, AmisDictionaryEntry, AmisDictionarySync, AmisSession

log = logging.getLogger(__name__)

TARGET_KIND = "amis"
OVERLAP = dt.timedelta(minutes=5)  # amis.md §9: overlap the cursor by a few minutes (paging boundary)
# get_dictionary data_type → (code field, name field, id field) of its rows (amis.md §9; units have no code)
FIELDS = {
    1: ("account_object_code", "account_object_name", "account_object_id"),
    2: ("inventory_item_code", "inventory_item_name", "inventory_item_id"),
    3: ("stock_code", "stock_name", "stock_id"),
    4: ("unit_name", "unit_name", "unit_id"),
    5: ("account_number", "account_name", "account_id"),
    6: ("organization_unit_code", "organization_unit_name", "organization_unit_id"),
}


def mapping_for(account: TargetAccount) -> Mapping:
    """The company's own mapping (branches, codes and accounts differ per AMIS company)."""
    return Mapping.from_dict((account.settings or {}).get("mapping") or {})


# --- the client, with the company's token shared through the database ----------------------------


class SharedTokenClient(AmisClient):
    """An AmisClient whose connect goes through the company's `AmisSession` row, under its lock: a token
    another worker renewed meanwhile is taken instead of connecting again, unless it is the very token AMIS
    just refused."""

    def __init__(self, **kw):
        self._held: set[str] = set()
        super().__init__(**kw)

    @property
    def token(self) -> Token | None:
        return self._token

    @token.setter
    def token(self, value: Token | None) -> None:
        self._token = value
        if value is not None:
            self._held.add(value.value)  # every token this client used: AMIS may refuse any of them

    def connect(self) -> Token:
        app_id = self._require_app_id()
        require_url(self.base_url, self.setting)
        with transaction.atomic():
            session = _locked_session(app_id, self.org_company_code)
            stored = _stored_token(session, self.token_owner)
            if stored is not None and stored.value not in self._held and stored.usable():
                self.token = stored
                return stored
            return super().connect()  # on_token saves it into the locked row


def _locked_session(app_id: str, company: str) -> AmisSession:
    AmisSession.objects.get_or_create(app_id=app_id, org_company_code=company)
    return AmisSession.objects.select_for_update().get(app_id=app_id, org_company_code=company)


def _stored_token(session: AmisSession | None, owner: str) -> Token | None:
    if session is None or session.owner != owner or session.expires_at is None:
        return None
    value = (session.secrets or {}).get("token")
    return Token(value=value, expires_at=session.expires_at) if value else None


def client_for(account: TargetAccount, *, on_token=None, **options) -> AmisClient:
    """A client for the account's company with the shared token, when it was issued for these very
    credentials; a renewed token is saved for every worker. With `on_token`, a client that never touches
    the database (for another thread): a token it gets is handed to `on_token`, for the caller to save.
    `options` go to AmisClient (``bucket``, ``sleep``, ``timeout``, ``base_url``)."""
    app_id = options.pop("app_id", None)
    app_id = settings.AMIS_APP_ID if app_id is None else app_id
    company = account.external_id.strip()
    kind = AmisClient if on_token is not None else SharedTokenClient
    client = kind(
        org_company_code=company,
        access_code=str((account.credentials or {}).get("access_code") or ""),
        app_id=app_id,
        **options,
    )
    owner = client.token_owner
    session = AmisSession.objects.filter(app_id=app_id or "", org_company_code=company).first()
    client.token = _stored_token(session, owner)

    def remember(token: Token) -> None:
        remember_token(app_id, company, owner, token)

    client.on_token = on_token or remember
    return client


def remember_token(app_id: str, company: str, owner: str, token: Token) -> None:
    """Keep a fresh token for every worker, with whose credentials it was issued for."""
    AmisSession.objects.update_or_create(
        app_id=app_id,
        org_company_code=company,
        defaults={"owner": owner, "secrets": {"token": token.value}, "expires_at": token.expires_at},
    )


# --- test connection -------------------------------------------------------------------------------


def test_connection(account: TargetAccount) -> tuple[bool, Text]:
    """Connect and read the company's own record: what a person sees after "Test connection"."""
    company = account.external_id.strip()
    if not str((account.credentials or {}).get("access_code") or "").strip():
        return False, Text(
            "No access code for AMIS company %(company)s: an AMIS administrator generates one under Settings "
            "→ Connect applications (Thiết lập → Kết nối ứng dụng); enter it here.",
            company=company,
        )
    try:
        client = client_for(account)
        client.connect()  # a token kept from before proves nothing about today's access code
        info = client.get_company_info()
    except RetryableError as exc:
        outcome = Text("AMIS cannot be reached now; try again in a few minutes (%(error)s)", error=exc.text)
    except ApiError as exc:
        outcome = exc.text
    else:
        name = str(info.get("company_name") or info.get("CompanyName") or "").strip()
        tax_code = str(info.get("company_tax_code") or info.get("tax_code") or "").strip()
        shown = f"{name} ({tax_code})" if name and tax_code else name or tax_code or company
        log.info("AMIS test connection of company %s: ok", company)
        return True, Text("Connected to AMIS company %(company)s: %(name)s.", company=company, name=shown)
    log.info("AMIS test connection of company %s failed: %s", company, outcome.english())
    return False, Text("Test connection failed: %(error)s", error=outcome)


# --- master data -----------------------------------------------------------------------------------


def sync_master_data(
    account: TargetAccount,
    data_types: Iterable[int] | None = None,
    full: bool = False,
    *,
    client: AmisClient | None = None,
) -> dict[int, int]:
    """Bring the account's copy of AMIS master data up to date; returns the rows AMIS sent per kind.

    Incremental (from the stored cursor less `OVERLAP`: changed rows upserted by code, deleted rows
    removed) unless `full` or no cursor yet: then every row is read and rows AMIS no longer lists go.
    Each kind is stored in its own transaction with its cursor, so a failure later keeps the earlier ones.
    """
    kinds = sorted(DATA_TYPES) if data_types is None else [int(kind) for kind in data_types]
    for kind in kinds:
        if kind not in DATA_TYPES:
            raise ValueError(f"AMIS master data of data_type {kind} is not kept (only {sorted(DATA_TYPES)})")
    client = client or client_for(account)
    counts = {}
    for kind in kinds:
        counts[kind] = _sync_kind(account, client, kind, full=full)
    return counts


def _sync_kind(account: TargetAccount, client: AmisClient, kind: int, *, full: bool) -> int:
    cursor = AmisDictionarySync.objects.filter(account=account, data_type=kind).first()
    since = (
        None if full or cursor is None or cursor.last_sync_time is None else cursor.last_sync_time - OVERLAP
    )
    # Read before taking any lock: the reads are paced and may wait for AMIS.
    live = client.get_dictionary(kind, last_sync_time=since)
    gone = client.get_dictionary(kind, last_sync_time=since, deleted=True).rows if since is not None else []
    now = timezone.now()
    with transaction.atomic():
        cursor, _ = AmisDictionarySync.objects.select_for_update().get_or_create(
            account=account, data_type=kind
        )
        removed = {_code(kind, row) for row in gone} - {""}
        if removed:
            AmisDictionaryEntry.objects.filter(account=account, data_type=kind, code__in=removed).delete()
        entries = _entries(account, kind, live.rows)
        if entries:
            AmisDictionaryEntry.objects.bulk_create(
                entries,
                update_conflicts=True,
                unique_fields=["account", "data_type", "code"],
                update_fields=["name", "amis_id", "inactive", "data", "synced_at"],
            )
        if since is None:
            kept = [entry.code for entry in entries]
            AmisDictionaryEntry.objects.filter(account=account, data_type=kind).exclude(
                code__in=kept
            ).delete()
            cursor.full_at = now
        moment = _moment(live.last_sync_time)
        if moment is not None:
            cursor.last_sync_time = moment
        cursor.synced_at = now
        cursor.save()
    log.info(
        "AMIS %s of company %s: %d rows read (%s), %d deleted",
        DATA_TYPES[kind],
        account.external_id,
        len(live.rows),
        "full" if since is None else f"since {since.isoformat()}",
        len(removed),
    )
    return len(live.rows)


def _code(kind: int, row: dict) -> str:
    return str(row.get(FIELDS[kind][0]) or "").strip()


def _entries(account: TargetAccount, kind: int, rows: list[dict]) -> list[AmisDictionaryEntry]:
    """One entry per code (the last row wins when AMIS repeats a code across pages)."""
    _, name_field, id_field = FIELDS[kind]
    by_code = {}
    now = timezone.now()
    for row in rows:
        code = _code(kind, row)
        if not code:
            continue
        by_code[code] = AmisDictionaryEntry(
            account=account,
            data_type=kind,
            code=code[:200],
            name=str(row.get(name_field) or "")[:500],
            amis_id=str(row.get(id_field) or "")[:64],
            inactive=bool(row.get("inactive")),
            data=row,
            synced_at=now,
        )
    return list(by_code.values())


def _moment(last_sync_time: str | None) -> dt.datetime | None:
    """AMIS's ``LastSyncTime`` (a .NET DateTime without offset, Vietnam wall time) as an aware datetime."""
    if not last_sync_time:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(last_sync_time).strip().replace("Z", "+00:00"))
    except ValueError:
        log.warning("AMIS sent a LastSyncTime that is not a time: %r", last_sync_time[:40])
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)


def choices(
    account: TargetAccount, data_type: int, *, include_inactive: bool = False
) -> list[tuple[str, str]]:
    """The account's master data of one kind as (code, label) for a mapping screen: "Kho HCM (KHO02)"."""
    entries = AmisDictionaryEntry.objects.filter(account=account, data_type=data_type)
    if not include_inactive:
        entries = entries.filter(inactive=False)
    return [(entry.code, str(entry)) for entry in entries.order_by("code")]


def missing_codes(account: TargetAccount, data_type: int, codes: Iterable[str]) -> list[str]:
    """The codes a mapping uses that the company's master data no longer has (or has made inactive),
    compared as AMIS compares codes (case-insensitively), in the order given."""
    known = {
        code.casefold()
        for code in AmisDictionaryEntry.objects.filter(
            account=account, data_type=data_type, inactive=False
        ).values_list("code", flat=True)
    }
    missing = []
    for code in codes:
        text = str(code or "").strip()
        if text and text.casefold() not in known and text not in missing:
            missing.append(text)
    return missing


def amis_accounts():
    """Every AMIS company of an enabled connection."""
    return TargetAccount.objects.filter(
        connection__target_kind=TARGET_KIND, connection__enabled=True
    ).select_related("connection")


# --- the company's records, for the other targets of the shop ---------------------------------------

ACCOUNT_OBJECTS, ITEMS = 1, 2  # get_dictionary data_type (amis.md §9)


def item_rate(value) -> tuple[Decimal | None, str]:
    """(fraction, category) of an item's ``tax_rate`` as AMIS codes it (amis.md §7): 0, 5, 8, 10 are
    percentages; −2 is "not declared" (KKKNT, rate 0). −1 "not subject" (KCT) is also what AMIS stores for
    an item nobody gave a rate ("Item master ``tax_rate`` default −1"), so it states nothing: (None, "").
    Our reading, chosen so that an item left at AMIS's default never turns taxable goods into KCT goods on an
    invoice; −3 (another rate) needs ``other_vat_rate``, which items do not carry: nothing either."""
    try:
        code = Decimal(str(value).strip().removesuffix("%"))
    except (InvalidOperation, ValueError):
        return None, ""
    if not code.is_finite():
        return None, ""
    if code == RATE_CODES["KKKNT"]:
        return Decimal(0), NOT_DECLARED
    if code in (0, 5, 8, 10):
        return code / 100, ""
    return None, ""


def _text(row: dict, key: str) -> str:
    return " ".join(str(row.get(key) or "").split())


def _buyer(entry: AmisDictionaryEntry) -> BuyerFacts:
    row = entry.data or {}
    return BuyerFacts(
        code=entry.code,
        legal_name=_text(row, "account_object_name") or entry.name.strip(),
        tax_code=tax_key(row.get("company_tax_code")),
        address=_text(row, "address"),
    )


def reference_facts(
    account: TargetAccount,
    items: abc.Mapping[str, str],
    *,
    buyer_code: str = "",
    tax_codes: Iterable[str] = (),
) -> ReferenceFacts:
    """What the company's cached master data says about one sale: its items (``items``: the sale line's own
    item code → the AMIS item code), the buyer's own account object (``buyer_code``) and the account objects
    whose ``company_tax_code`` is one of ``tax_codes``. Reads only those codes (compared as AMIS compares
    codes, case-insensitively), never the whole catalogue; inactive rows say nothing. A tax code whose
    account objects disagree on the legal name gives no company."""
    wanted = {
        item_key(code): item_key(own) for own, code in items.items() if item_key(code) and item_key(own)
    }
    found: dict[str, ItemFacts] = {}
    if wanted:
        rows = (
            AmisDictionaryEntry.objects.filter(account=account, data_type=ITEMS, inactive=False)
            .annotate(folded=Lower("code"))
            .filter(folded__in=sorted({str(code).strip().lower() for code in items.values()}))
            .order_by("code")
        )
        by_code = {}
        for entry in rows:
            by_code.setdefault(item_key(entry.code), entry)
        for code, own in wanted.items():
            entry = by_code.get(code)
            if entry is None:
                continue
            row = entry.data or {}
            rate, category = item_rate(row.get("tax_rate"))
            found[own] = ItemFacts(
                code=entry.code,
                name=_text(row, "inventory_item_name") or entry.name.strip(),
                unit=_text(row, "unit_name"),
                tax_rate=rate,
                tax_category=category,
            )
    objects = AmisDictionaryEntry.objects.filter(account=account, data_type=ACCOUNT_OBJECTS, inactive=False)
    buyer = None
    if item_key(buyer_code):
        entry = (
            objects.annotate(folded=Lower("code"))
            .filter(folded=buyer_code.strip().lower())
            .order_by("code")
            .first()
        )
        buyer = _buyer(entry) if entry is not None else None
    companies: dict[str, BuyerFacts] = {}
    codes = sorted({tax_key(code) for code in tax_codes} - {""})
    if codes:
        named: dict[str, set[str]] = {}
        for entry in objects.filter(data__company_tax_code__in=codes).order_by("code"):
            facts = _buyer(entry)
            if facts.tax_code in codes and facts.legal_name:
                companies.setdefault(facts.tax_code, facts)
                named.setdefault(facts.tax_code, set()).add(facts.legal_name.casefold())
        companies = {code: facts for code, facts in companies.items() if len(named[code]) == 1}
    return ReferenceFacts(source=f"AMIS {account.external_id}", items=found, buyer=buyer, companies=companies)


# --- pushing the shop's products and customers -------------------------------------------------------


def sync_products(account: TargetAccount) -> int:
    """Upsert the shop's variants (those with a SKU) as the company's items, by code, 200 per call, with
    the units AMIS's copy lacks; returns how many items were sent. AMIS answers each call by callback."""
    from connectors.models import CatalogItem

    from .convert import catalogue_item

    mapping, connection = mapping_for(account), account.connection
    rows = CatalogItem.objects.filter(
        source_kind=connection.source_kind, source_key=connection.source_key
    ).order_by("sku", "item_id")
    items = {}
    for row in rows.iterator():
        item = catalogue_item(row.sku, row.name, row.unit, mapping)
        if item is not None:
            items.setdefault(item["inventory_item_code"].casefold(), item)
    return _push(account, list(items.values()), units=True)


def sync_customers(account: TargetAccount) -> int:
    """Upsert the shop's customers as the company's account objects, by the mapping's code rule; returns
    how many were sent."""
    from connectors.models import BuyerProfile

    from .convert import customer_object

    mapping, connection = mapping_for(account), account.connection
    profiles = BuyerProfile.objects.filter(
        source_kind=connection.source_kind, source_key=connection.source_key
    ).order_by("buyer_id")
    objects = [
        customer_object(
            p.buyer_id,
            p.name,
            company=p.company,
            tax_code=p.tax_code,
            address=p.address,
            email=p.email,
            phone=p.phone,
            mapping=mapping,
        )
        for p in profiles.iterator()
    ]
    return _push(account, [o for o in objects if o is not None])


def _push(account: TargetAccount, items: list[dict], *, units: bool = False) -> int:
    from .client import MAX_DICTIONARY, AmisRefused

    if units:  # an item's main unit must exist in AMIS: the ones its copy lacks go first, in the same call
        known = {u.casefold() for u, _ in choices(account, 4, include_inactive=True)}
        new_units = {
            str(i["unit_name"]).casefold(): {
                "dictionary_type": 6,
                "unit_name": i["unit_name"],
                "inactive": False,
            }
            for i in items
            if i.get("unit_name") and str(i["unit_name"]).casefold() not in known
        }
        items = [*new_units.values(), *items]
    client = client_for(account)
    for start in range(0, len(items), MAX_DICTIONARY):
        chunk = items[start : start + MAX_DICTIONARY]
        result = client.save_dictionary(chunk)
        if not result.ok:
            raise AmisRefused(
                Text(
                    "AMIS company %(company)s refused the master data: %(code)s %(message)s",
                    company=account.external_id,
                    code=result.error_code,
                    message=result.error_message,
                ),
                code=result.error_code,
                message=result.error_message,
            )
    log.info("AMIS master data pushed to company %s: %d items", account.external_id, len(items))
    return len(items)
