"""Reading a Severa organisation: a client for it, the polling of its invoices, and what the target asks of
it (the invoice's PDF, the invoice read again, its status moved)."""

import datetime as dt
import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from django import db
from django.db import transaction
from django.utils import timezone

from connectors.http import ApiError, RetryableError
from connectors.locks import try_lock
from connectors.models import Connection
from connectors.routing import route
from connectors.text import Text, words_of
from syncjobs.models import SyncCursor, SyncDocument, SyncRun
from syncjobs.services import Outcome, Upserted, hand_to_target, log_attempt, start_run_once, upsert_document

from . import read
from .client import SeveraClient, Token
from .models import SeveraOrganisation

log = logging.getLogger(__name__)

# A Severa token serves every call of one API client for about an hour: each worker process keeps the ones
# it was given, keyed by a digest of the credentials (never the credentials), never outside the process.
_TOKENS: dict[str, Token] = {}
_TOKENS_LOCK = threading.Lock()


def _remember(owner: str, token: Token) -> None:
    with _TOKENS_LOCK:
        _TOKENS[owner] = token


def client_for(organisation: SeveraOrganisation, **options) -> SeveraClient:
    """A client for the organisation's API client, paced by the organisation's shared 10 requests/s.
    `options` go to SeveraClient (``base_url``, ``timeout``, ``bucket``)."""
    client = SeveraClient(
        client_id=organisation.client_id,
        client_secret=organisation.client_secret,
        organisation=organisation.vat_number,
        **options,
    )
    owner = client.token_owner
    client.token = _TOKENS.get(owner)
    client.on_token = lambda token: _remember(owner, token)
    return client


def organisation_of(connection) -> SeveraOrganisation:
    """The Severa organisation a connection reads (its source key is the organisation's VAT number)."""
    return SeveraOrganisation.objects.get(vat_number=connection.source_key, tenant_id=connection.tenant_id)


# --- polling: Severa sends no webhooks ------------------------------------------------------------------

# Severa's changedSince is compared with its own clock: each pass asks again for a little before the newest
# change it saw, so an invoice saved while the previous pass was reading is never missed.
OVERLAP = dt.timedelta(minutes=2)
DETAIL_READERS = 4  # invoices whose details are read at once (the organisation's 10 requests/s still rule)
INVOICE = "invoice"


def _cursor_name(statuses: list[str]) -> str:
    """One watermark per set of statuses read: a status newly chosen is read from the start."""
    digest = hashlib.sha256(",".join(sorted(statuses)).encode()).hexdigest()[:16]
    return f"severa:{digest}"


def _invoice_moment(invoice: dict) -> dt.datetime | None:
    value = str(invoice.get("lastUpdatedDateTime") or "")
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


class _Details:
    """Reads an invoice's rows, settings, customer and the customer's country settings; customers are read
    once per pass. One client per thread (a requests session is not shared between threads)."""

    def __init__(self, organisation: SeveraOrganisation):
        self.organisation = organisation
        self.local = threading.local()
        self.customers: dict[str, tuple[dict, list]] = {}
        self.lock = threading.Lock()

    def client(self) -> SeveraClient:
        if getattr(self.local, "client", None) is None:
            self.local.client = client_for(self.organisation)
        return self.local.client

    def customer(self, guid: str) -> tuple[dict, list]:
        with self.lock:
            known = self.customers.get(guid)
        if known is not None:
            return known
        client = self.client()
        found = (client.customer(guid), client.customer_country_settings(guid)) if guid else ({}, [])
        with self.lock:
            self.customers[guid] = found
        return found

    def bundle(self, invoice: dict) -> dict:
        client = self.client()
        guid = str(invoice["guid"])
        customer, country_settings = self.customer(str((invoice.get("customer") or {}).get("guid") or ""))
        return _plain(
            {
                "invoice": invoice,
                "rows": client.invoice_rows(guid),
                "customer": customer,
                "invoiceSettings": client.invoice_settings(guid),
                "customerCountrySettings": country_settings,
            }
        )


def _plain(value):
    """The answer as JSON can store it: the client reads numbers as exact Decimals; each is stored as the
    number it is (an int, or a float that reads back as the same decimal), else as its exact text."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        number = float(value)
        return number if Decimal(repr(number)) == value else str(value)
    return value


def _known(connection, invoices: list[dict]) -> dict[str, dt.datetime | None]:
    """The invoices already stored at their newest change: their details need not be read again."""
    guids = [str(i.get("guid") or "") for i in invoices]
    return dict(
        SyncDocument.objects.filter(
            connection=connection, source_type=INVOICE, source_id__in=guids
        ).values_list("source_id", "source_updated_at")
    )


def sync_invoices(connection, *, since: dt.datetime | None = None, trigger: Text | str = "") -> int:
    """Read the invoices in the statuses the connection's target takes (changed since the watermark, or
    `since`) and hand each new or changed one to the target. Returns how many were stored."""
    statuses = connection.target.wanted_source_statuses(connection)
    if not statuses or not connection.enabled:
        return 0
    organisation = organisation_of(connection)
    cursor_name = _cursor_name(statuses)
    cursor = SyncCursor.objects.filter(connection=connection, name=cursor_name).first()
    changed_since = since or (cursor.value - OVERLAP if cursor else None)
    details = _Details(organisation)
    trigger = trigger or Text("scheduled read")
    stored, newest = 0, cursor.value if cursor else None
    # Reader threads have their own database connections (the shared rate limit may live in the database):
    # inside an open transaction they could wait on its locks, so it reads one invoice after another.
    readers = 1 if db.connection.in_atomic_block else DETAIL_READERS
    with ThreadPoolExecutor(max_workers=readers) as pool:
        page_token = None
        while True:
            page = details.client().invoice_page(
                status_guids=statuses, changed_since=changed_since, page_token=page_token
            )
            known = _known(connection, page.invoices)
            wanted = []
            for invoice in page.invoices:
                moment = _invoice_moment(invoice)
                if moment is not None and (newest is None or moment > newest):
                    newest = moment
                seen = known.get(str(invoice.get("guid") or ""), False)
                if seen is False or seen is None or moment is None or moment > seen:
                    wanted.append(invoice)
            bundles = pool.map(details.bundle, wanted) if readers > 1 else map(details.bundle, wanted)
            for bundle in bundles:
                intake_invoice(connection, bundle, trigger=trigger)
                stored += 1
            page_token = page.next_page_token
            if not page_token:
                break
    if newest is not None and since is None:
        SyncCursor.objects.update_or_create(
            connection=connection, name=cursor_name, defaults={"value": newest}
        )
    return stored


def intake_invoice(connection, bundle: dict, *, trigger: Text | str) -> Upserted:
    """Store the invoice (its document, routed to an account) and let the target decide, in one
    transaction: nothing read is lost, nothing is decided on what was not stored."""
    invoice = bundle["invoice"]
    label = read.invoice_label(invoice)
    with transaction.atomic():
        decision = route(connection, read.routing_facts(bundle))
        upserted = upsert_document(
            connection=connection,
            account=decision.account,
            source_type=INVOICE,
            source_id=str(invoice["guid"]).lower(),
            source_label=label,
            kind="credit_note" if invoice.get("isCreditNote") else connection.target.order_document_kind,
            snapshot=bundle,
            source_updated_at=_invoice_moment(invoice),
            explanation=decision.explanation,
        )
        if not upserted.changed:
            return upserted
        status = (invoice.get("status") or {}).get("name") or "?"
        message = (
            Text(
                "Invoice %(label)s read from Severa (%(trigger)s), status %(status)s. %(route)s",
                label=label,
                trigger=trigger,
                status=status,
                route=decision.explanation,
            )
            if upserted.created
            else Text(
                "Invoice %(label)s changed in Severa (%(trigger)s), status %(status)s.",
                label=label,
                trigger=trigger,
                status=status,
            )
        )
        log_attempt(
            connection=connection,
            document=upserted.document,
            action="intake",
            outcome=Outcome.INFO,
            message=message,
        )
        hand_to_target(upserted.document, decision, trigger=trigger)
    return upserted


def sync_all(connection_id: int | None = None) -> int:
    """Every enabled Severa connection (or one), each under its own lock: a pass still reading is not
    started twice."""
    connections = Connection.objects.filter(source_kind="severa", enabled=True).select_related("tenant")
    if connection_id is not None:
        connections = connections.filter(pk=connection_id)
    stored = 0
    for connection in connections:
        with try_lock(f"severa:sync:{connection.pk}") as mine:
            if not mine:
                continue
            try:
                stored += sync_invoices(connection)
            except (ApiError, SeveraOrganisation.DoesNotExist) as exc:
                _pass_failed(connection, exc)
    return stored


def _pass_failed(connection, exc) -> None:
    if isinstance(exc, SeveraOrganisation.DoesNotExist):
        message = Text(
            "Severa organisation %(vat)s is not connected: connect it again.", vat=connection.source_key
        )
    else:
        message = Text(
            "Reading invoices from Severa failed, the next pass tries again: %(error)s", error=words_of(exc)
        )
    log.warning("Severa pass of connection %s failed: %s", connection.pk, exc)
    log_attempt(connection=connection, action="sync", outcome=Outcome.RETRYABLE, message=message)


def start_manual_sync(connection, *, date_from, date_to=None, user=None, request_token=None) -> SyncRun:
    """Read again every invoice in the taken statuses changed since `date_from`, as a run with progress."""
    from .tasks import run_manual_sync

    def start():
        return SyncRun.objects.create(
            connection=connection,
            kind=SyncRun.Kind.MANUAL,
            params={"date_from": date_from.isoformat(), "date_to": date_to.isoformat() if date_to else None},
            created_by=user,
            request_token=request_token,
        )

    run, started = start_run_once(SyncRun.objects.filter(connection=connection), request_token, start)
    if started:
        transaction.on_commit(lambda: run_manual_sync.delay(run.pk))
    return run


def run_manual(run_id: int) -> None:
    run = SyncRun.objects.select_related("connection").get(pk=run_id)
    run.status, run.started_at = SyncRun.Status.RUNNING, timezone.now()
    run.save(update_fields=["status", "started_at"])
    since = dt.datetime.combine(dt.date.fromisoformat(run.params["date_from"]), dt.time.min, tzinfo=dt.UTC)
    try:
        with try_lock(f"severa:sync:{run.connection_id}") as mine:
            if not mine:
                raise RetryableError(Text("Another read of this organisation is running; try again shortly."))
            run.processed = run.total = sync_invoices(
                run.connection, since=since, trigger=Text("manual sync")
            )
        run.status = SyncRun.Status.DONE
    except (ApiError, SeveraOrganisation.DoesNotExist) as exc:
        run.status = SyncRun.Status.FAILED
        run.set_error(words_of(exc) if not isinstance(exc, SeveraOrganisation.DoesNotExist) else str(exc))
    run.finished_at = timezone.now()
    run.save()


# --- what the target asks of the source ----------------------------------------------------------------


def invoice_pdf(connection, bundle: dict) -> bytes:
    return client_for(organisation_of(connection)).invoice_pdf(str(bundle["invoice"]["guid"]))


def refetch(connection, document) -> dict:
    """The invoice read again, whole, as a bundle (a person retrying wants today's invoice)."""
    organisation = organisation_of(connection)
    invoice = client_for(organisation).invoice(document.source_id)
    return _Details(organisation).bundle(invoice)


def write_back(document, fields: dict[str, str], *, style: str = "status") -> None:
    """Move the invoice to another Severa status (``fields["status"]``: its guid). Moving it to the status it
    is already in changes nothing, so a repeated write-back is harmless."""
    if style != "status" or not fields.get("status"):
        raise ValueError("Severa takes back one thing: the invoice's status")
    client = client_for(organisation_of(document.connection))
    client.set_invoice_status(document.source_id, fields["status"])
