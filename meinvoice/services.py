"""meInvoice issuance: evaluate → draft or queue → publish in batches per series → write back → status.

Exactly once rests on three things: the document row is unique; every publish of a series runs under a
lock that dies with its holder; and any document that was ever sent before is first looked up by its
RefID (meInvoice's own duplicate key) — a timeout is not a failure.
"""

import datetime as dt
import hashlib
import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, wait
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connectors.http import ApiError, PermanentError, RetryableError
from connectors.locks import try_lock
from connectors.models import Connection, TargetAccount
from connectors.text import Text, join, verbatim
from syncjobs.models import RETRYABLE_BY_PERSON, SyncAttempt, SyncDocument
from syncjobs.services import Outcome, State, attempt_row

from .client import (
    MeInvoiceClient,
    PublishResult,
    QuantityTooLarge,
    Token,
    full_series,
    inv_date,
    is_cash_register,
)
from .convert import (
    Changed,
    ConversionError,
    CorrectionReference,
    Issue,
    NothingToAdjust,
    adjustment_for_cancellation,
    adjustment_for_refund,
    buyer_is_business,
    check_issuance,
    cleaning_notes,
    ref_id_for,
    replacement_for_refund,
    sale_to_invoice,
    with_correction_reference,
)
from .mapping import Mapping, MappingError
from .models import MeInvoiceSession, MeInvoiceTemplate
from .reference import described

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 3600
SERIES_GAP_SECONDS = 1.0  # MISA's guide: publish sequentially per series, 1–3 s apart
# States in which a document may still be (re)evaluated from its order: nothing was sent yet.
OPEN_STATES = frozenset({State.PENDING, State.SKIPPED, State.BLOCKED, State.DRAFT, State.QUEUED})
DUE_STATES = (State.QUEUED, State.RETRYING, State.PROCESSING)


def mapping_for(connection) -> Mapping:
    return Mapping.from_dict(connection.settings.get("meinvoice") or {})


def account_options(account: TargetAccount) -> dict:
    """Per-account choices: the series to issue on and whether publishing waits for an accountant."""
    return {"series": "", "auto_publish": True, **(account.settings or {})}


# --- the timeline ---------------------------------------------------------------------------------------


def _row(action: str, outcome: str, message, *, document=None, account=None, client=None, **narrowed):
    """One timeline row (unsaved) about a document, or about an account: tagged with its account, with the
    exchange the client just had (``request``/``response`` narrow a batch to this document)."""
    account = account if account is not None else document.account
    return attempt_row(
        connection=(document or account).connection,
        document=document,
        account=account,
        action=action,
        outcome=outcome,
        message=message,
        exchange=client.last_exchange if client is not None else None,
        **narrowed,
    )


def _log(action: str, outcome: str, message, **kwargs):
    row = _row(action, outcome, message, **kwargs)
    row.save()
    return row


# --- the client, with the account's token shared through the database ----------------------------


def client_for(account: TargetAccount, *, on_token=None) -> MeInvoiceClient:
    """A client with the account's stored token; a renewed token is saved for every worker (or handed to
    `on_token`, for a client used off the database thread)."""
    creds = account.credentials
    session = MeInvoiceSession.objects.filter(account=account).first()
    token = None
    stored = session.secrets if session is not None else {}
    if stored.get("token") and stored.get("for") == _signed_by(account):
        token = Token(value=stored["token"], expires_at=session.expires_at)

    def remember(new: Token) -> None:
        remember_token(account, new)

    return MeInvoiceClient(
        tax_code=account.external_id,
        app_id=creds.get("app_id", ""),
        username=creds.get("username", ""),
        password=creds.get("password", ""),
        token=token,
        on_token=on_token or remember,
    )


def remember_token(account: TargetAccount, token: Token) -> None:
    MeInvoiceSession.objects.update_or_create(
        account=account,
        defaults={
            "secrets": {"token": token.value, "for": _signed_by(account)},
            "expires_at": token.expires_at,
        },
    )


def _signed_by(account: TargetAccount) -> str:
    """Which credentials a token was issued for: after a person changes them, the old token is not used."""
    creds = account.credentials or {}
    parts = [account.external_id, *(str(creds.get(key, "")) for key in ("app_id", "username", "password"))]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def test_connection(account: TargetAccount) -> tuple[bool, Text]:
    """Log in with the stored credentials: what a merchant sees after pressing "Test connection"."""
    client = client_for(account)
    try:
        token = client.login()
    except ApiError as exc:
        _log(
            "test",
            Outcome.ERROR,
            Text("Test connection failed: %(error)s", error=exc.text),
            account=account,
            client=client,
        )
        return False, exc.text
    message = Text(
        "Connected: meInvoice accepted the credentials (token valid until %(day)s).",
        day=f"{token.expires_at:%Y-%m-%d}",
    )
    _log("test", Outcome.OK, message, account=account, client=client)
    return True, message


def sync_templates(account: TargetAccount) -> list[MeInvoiceTemplate]:
    """Store the account's series; the first active one becomes the choice when none is made yet."""
    client = client_for(account)
    rows = client.templates()
    kept = []
    for row in rows:
        series = full_series(row)  # "1C25TAA", also when MISA sends InvTemplateNo "1" + "C25TAA"
        if not series:
            continue
        template, _ = MeInvoiceTemplate.objects.update_or_create(
            account=account,
            inv_series=series,
            defaults={
                "template_id": str(row.get("IPTemplateID") or ""),
                "name": str(row.get("TemplateName") or ""),
                "inv_template_no": str(row.get("InvTemplateNo") or series[:1]),
                "with_code": len(series) > 1 and series[1] == "C",
                "inactive": bool(row.get("Inactive")),
                "data": row,
            },
        )
        kept.append(template)
    MeInvoiceTemplate.objects.filter(account=account).exclude(pk__in=[t.pk for t in kept]).delete()
    options = account_options(account)
    active = [t.inv_series for t in kept if not t.inactive]
    if options["series"] not in active and active:
        account.settings = {**(account.settings or {}), "series": active[0]}
        account.save(update_fields=["settings"])
    names = ", ".join(t.inv_series for t in kept)
    synced = Text("Templates synced: %(series)s.", series=names) if names else Text("Templates synced: none.")
    _log("templates", Outcome.OK, synced, account=account, client=client)
    return kept


def issue_for(account: TargetAccount, series: str, ref_id: str) -> Issue:
    """How a document of ``account`` is issued on ``series`` today: with IsInvoiceSummary as the series'
    template says (``IsSendSummary``, from `invoice/templates`)."""
    template = MeInvoiceTemplate.objects.filter(account=account, inv_series=series).first()
    summary = bool((template.data or {}).get("IsSendSummary")) if template is not None else False
    return Issue(account.external_id, series, ref_id, timezone.localdate(), summary=summary)


def series_choices(account: TargetAccount) -> list[tuple[str, str]]:
    """The account's active series as (value, label), after "Sync templates"."""
    templates = MeInvoiceTemplate.objects.filter(account=account, inactive=False).order_by("inv_series")
    return [(t.inv_series, _series_label(t)) for t in templates]


def _series_label(template: MeInvoiceTemplate) -> str:
    label = f"{template.inv_series} · {template.name}" if template.name else template.inv_series
    if is_cash_register(template.inv_series):  # published with SignType 5, looked up with invoiceCalcu
        return Text("%(series)s (cash register)", series=label).render()
    return label


# --- evaluation: what should happen to this order ------------------------------------------------


def on_document_changed(document: SyncDocument, *, trigger: str = "") -> None:
    """Called inside the intake transaction whenever the order snapshot changed."""
    if document.kind != "invoice" or document.account_id is None:
        return
    if document.state in OPEN_STATES:
        evaluate(document)
    elif document.state == State.DONE:
        _after_issue(document)


def evaluate(document: SyncDocument) -> None:
    """Decide from the newest order: skipped (with the reason), blocked (what a person must fix),
    a draft, or queued for publishing — and keep the InvoiceData that would be sent."""
    account, connection = document.account, document.connection
    try:
        mapping = mapping_for(connection)
    except MappingError as exc:
        _settle(document, State.BLOCKED, Text("The meInvoice mapping is invalid: %(error)s", error=str(exc)))
        return
    sale = sale_of(document, mapping)
    eligible, reason = check_issuance(sale, mapping)
    if not eligible:
        _settle(document, State.SKIPPED, reason)
        return
    options = account_options(account)
    series = options["series"]
    if not series:
        _settle(
            document,
            State.BLOCKED,
            Text(
                "No invoice series chosen for MST %(mst)s: sync its templates and pick a series.",
                mst=account.external_id,
            ),
        )
        return
    ref_id = ref_id_for(account.external_id, document.source_id, document.kind)
    try:
        invoice = sale_to_invoice(
            sale,
            mapping,
            issue_for(account, series, ref_id),
            seller_shop_name=account.name,
        )
    except ConversionError as exc:
        _settle(document, State.BLOCKED, Text("No invoice issued: %(reason)s", reason=exc.text))
        return
    document.payload = invoice
    document.result = {**document.result, "ref_id": ref_id, "series": series}
    cleaned = cleaning_notes(sale)  # what was left out so that meInvoice accepts the invoice
    if cleaned:
        reason = join([reason, *cleaned])
    if options["auto_publish"]:
        _settle(
            document,
            State.QUEUED,
            "",
            note=Text("Queued for publishing on series %(series)s: %(reason)s", series=series, reason=reason),
        )
        _publish_soon(account.pk)
    else:
        _settle(
            document,
            State.DRAFT,
            "",
            note=Text(
                "Draft kept for an accountant to publish (series %(series)s): %(reason)s",
                series=series,
                reason=reason,
            ),
        )


def sale_of(document: SyncDocument, mapping: Mapping):
    """The sale the document's source object describes, as the connection's source reads it (in the
    accounting system's words when the mapping asks for them: ``described_sale``)."""
    connection = document.connection
    sale = connection.source.read_sale(connection, document.source_data, mapping.read_options)
    return described_sale(connection, document.source_data, sale, mapping)


def accounting_connections(connection) -> list:
    """The shop's other enabled connections whose target offers its records of items and buyers (an AMIS
    connection of the same shop), oldest first."""
    others = (
        Connection.objects.filter(
            tenant_id=connection.tenant_id,
            source_kind=connection.source_kind,
            source_key=connection.source_key,
            enabled=True,
        )
        .exclude(pk=connection.pk)
        .order_by("pk")
    )
    return [other for other in others if other.target.offers_reference_facts]


def described_sale(connection, raw: dict, sale, mapping: Mapping):
    """``sale`` with item names, units and tax rates, and the buyer's legal name (and tax code), as the
    accounting system the shop also posts to describes them (``meinvoice.reference.described``), when the
    mapping's ``describe_as_accounting`` is on; the first such connection that knows the object answers.
    Otherwise, or when none knows it, the sale as read."""
    if not mapping.describe_as_accounting:
        return sale
    for other in accounting_connections(connection):
        facts = other.target.reference_facts(other, raw)
        if facts is not None:
            return described(sale, facts)
    return sale


def _settle(document, state, error: Text | str, *, note: Text | str = ""):
    """A decision about a document that was not sent: its state, the reason a person reads, a timeline row
    when either changed."""
    before = (document.state, document.last_error)
    document.state = state
    document.set_error(error)
    document.next_retry_at = None
    document.save(
        update_fields=[
            "state",
            "last_error",
            "last_error_text",
            "payload",
            "result",
            "next_retry_at",
            "updated_at",
        ]
    )
    if before != (document.state, document.last_error):
        outcome = Outcome.ERROR if state == State.BLOCKED else Outcome.INFO
        _log("evaluate", outcome, error or note, document=document)


def _publish_soon(account_id: int) -> None:
    from .tasks import sync_orders

    transaction.on_commit(lambda: _send_quietly(sync_orders, account_id))


def _send_quietly(task, *args) -> None:
    try:
        task.apply_async(args=args, retry=False)
    except Exception as exc:  # the broker is away: the beat pass publishes queued documents anyway
        log.warning("Could not enqueue %s%s: %s", task.name, args, exc)


def publish_drafts(documents) -> int:
    """An accountant publishes drafts: they join the queue of their account."""
    count = 0
    accounts = set()
    for doc in documents:
        if doc.state == State.DRAFT:
            _settle(doc, State.QUEUED, "", note=Text("Draft released for publishing."))
            accounts.add(doc.account_id)
            count += 1
    for account_id in accounts:
        _publish_soon(account_id)
    return count


# --- publishing ------------------------------------------------------------------------------------


def _due(now=None):
    """Queued, being sent (a stale send, seen by the lock holder) or retrying and due."""
    return SyncDocument.objects.filter(
        state__in=DUE_STATES, account__isnull=False, connection__target_kind="meinvoice"
    ).exclude(state=State.RETRYING, next_retry_at__gt=now or timezone.now())


def due_documents(account_id: int, now=None):
    return (
        _due(now)
        .filter(account_id=account_id)
        .select_related("account", "connection", "connection__tenant")
        .order_by("created_at", "id")
    )


def sync_orders(account_id: int | None = None) -> int:
    """Publish what is due, per account and series. Returns how many documents reached the service."""
    if account_id is None:
        ids = set(_due().values_list("account_id", flat=True))
        return sum(sync_orders(i) for i in sorted(ids))
    account = TargetAccount.objects.select_related("connection", "connection__tenant").get(pk=account_id)
    series_list = sorted(
        set(_due().filter(account_id=account_id).values_list("result__series", flat=True)) - {None, ""}
    )
    sent = 0
    for series in series_list:
        # Numbers are sequential per series: one publisher per (account, series) at a time.
        with try_lock(f"meinvoice:publish:{account.pk}:{series}") as held:
            if not held:
                continue  # another worker is on it and loops until nothing is due
            sent += _publish_series(account, series)
    return sent


class _Seen:
    """The exchange one recorded answer came with (the client may be busy with the next call by then)."""

    def __init__(self, exchange):
        self.last_exchange = exchange


def _publish_series(account, series, batch_size=MeInvoiceClient.MAX_BATCH) -> int:
    """One batch in flight at a time, since numbers are sequential per series. While a batch is in
    flight, the answer to the one before is recorded: the series never waits for our own database."""
    renewed = []  # the sender thread never touches the database: a token it renews is saved here
    sender_client = client_for(account, on_token=renewed.append)  # publishes, from the sender thread only
    lookups = client_for(account)  # asks by RefID, from this thread
    pace = _Pace(series_gap_seconds())
    sent = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="meinvoice-publish") as sender:
        previous = None  # (batch, future): sent, its answer not recorded yet
        while True:
            if previous is not None:
                wait([previous[1]])
                while renewed:
                    remember_token(account, renewed.pop())
                if isinstance(previous[1].exception(), RetryableError):
                    _record(lookups, series, *previous)  # the service is in trouble: stop this pass
                    return sent
            holding = [d.pk for d in previous[0]] if previous else []
            try:
                batch = _ready_batch(lookups, account, series, min(batch_size, pace.fits), holding)
            except RetryableError:
                batch = []
            future = sender.submit(_send, sender_client, batch, pace) if batch else None
            if previous is not None:
                _record(lookups, series, *previous)
            if future is None:
                return sent
            sent += len(batch)
            previous = (batch, future)


def series_gap_seconds() -> float:
    return max(0.0, float(getattr(settings, "MEINVOICE_SERIES_GAP_SECONDS", SERIES_GAP_SECONDS)))


class _Pace:
    """MISA's guide: the publish calls of one series go one after another, 1–3 s apart. A call starts no
    sooner than `gap` seconds after the previous one started (a call slower than that waits for nothing);
    the shared per-series lock keeps a single sender."""

    def __init__(self, gap: float):
        self.gap = gap
        self.fits = MeInvoiceClient.MAX_BATCH  # lowered when meInvoice finds a batch too large
        self._last: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            if self._last is not None and self.gap > 0:
                delay = self._last + self.gap - now
                if delay > 0:
                    time.sleep(delay)
                    now = time.monotonic()
            self._last = now


def _send(client, batch, pace=None):
    """Publish a batch. A batch meInvoice finds too large (InvoiceQuantityTooLarge, nothing issued) is
    halved and each half sent again, down to single invoices; one invoice still too large is refused on
    its own, and the rest of the batch is issued."""
    pace = pace or _Pace(0)
    results: list[PublishResult] = []
    parts = [list(batch)]
    while parts:
        part = parts.pop(0)
        pace.wait()
        try:
            results.extend(client.publish([d.payload for d in part]))
        except QuantityTooLarge as exc:
            if len(part) > 1:
                half = len(part) // 2
                parts[:0] = [part[:half], part[half:]]
                pace.fits = min(pace.fits, half)  # the next batches of this pass start smaller
                continue
            results.append(
                PublishResult(
                    ref_id=part[0].result["ref_id"],
                    ok=False,
                    transaction_id="",
                    inv_no="",
                    inv_series="",
                    inv_code="",
                    inv_date="",
                    error_code="InvoiceQuantityTooLarge",
                    description=exc.description,
                )
            )
    return results, client.last_exchange


def _ready_batch(lookups, account, series, batch_size, holding) -> list:
    """The next documents to send, marked as being sent (committed before the call: a crash leaves
    evidence). Anything sent before (timeout, lost worker, 5xx) may exist at meInvoice: asked first."""
    while True:
        batch = list(
            due_documents(account.pk)
            .filter(result__series=series)
            .exclude(pk__in=holding)
            .defer("source_data")[:batch_size]
        )
        if not batch:
            return []
        seen_before = [d for d in batch if d.attempts > 0 or d.state == State.PROCESSING]
        if not seen_before:
            break
        try:
            ids = [d.result["ref_id"] for d in seen_before]
            found = _by_ref_id(_status(lookups, ids, series))
        except RetryableError as exc:
            for doc in seen_before:
                doc.attempts += 1  # a pass that could not even ask counts: the service is not answering
            SyncDocument.objects.bulk_update(seen_before, ["attempts"])
            _reschedule(seen_before, exc, lookups)
            raise
        except PermanentError as exc:
            _fail(batch, exc.text, lookups)
            return []
        already = [
            (doc, found[_key(doc.result["ref_id"])])
            for doc in seen_before
            if int((found.get(_key(doc.result["ref_id"])) or {}).get("PublishStatus") or 0) == 1
        ]
        _issued(
            already, lookups, note=Text("found already issued (an earlier answer was lost); not sent again")
        )
        batch = [d for d in batch if d.state != State.DONE]
        if batch:
            break
    today = timezone.localdate().isoformat()
    SyncDocument.objects.filter(pk__in=[d.pk for d in batch]).update(
        state=State.PROCESSING, attempts=F("attempts") + 1, updated_at=timezone.now()
    )
    redated = []
    for doc in batch:
        doc.state = State.PROCESSING
        doc.attempts += 1
        if doc.payload.get("InvDate") != today:  # drafted on an earlier day: the invoice is dated when issued
            doc.payload["InvDate"] = today
            redated.append(doc)
    SyncDocument.objects.bulk_update(redated, ["payload"])
    return batch


def _record(lookups, series, batch, future) -> None:
    """Each invoice's own answer, handled on its own."""
    try:
        results, exchange = future.result()
    except RetryableError as exc:
        _reschedule(batch, exc, _Seen(exc.exchange))
        return
    except PermanentError as exc:
        _fail(batch, exc.text, _Seen(exc.exchange))
        return
    seen = _Seen(exchange)
    by_ref = {_key(r.ref_id): r for r in results}
    ok, duplicates = [], []
    for doc in batch:
        result = by_ref.get(_key(doc.result["ref_id"]))
        if result is None:
            _reschedule([doc], RetryableError(Text("meInvoice's answer did not mention this invoice")), seen)
        elif result.ok:
            ok.append((doc, result.__dict__))
        elif result.duplicate:
            duplicates.append(doc)
        elif result.retryable:
            words = verbatim(f"{result.error_code}: {result.description}")  # meInvoice's own words
            _reschedule([doc], RetryableError(words), seen)
        else:
            detail = (
                f"{result.error_code} — {result.description}" if result.description else result.error_code
            )
            refused = Text("meInvoice refused the invoice: %(detail)s", detail=detail)
            _fail([doc], refused, seen, response=result)
    _issued(ok, seen)
    if duplicates:  # issued by an earlier attempt: take its number from meInvoice, never a new RefID
        try:
            ids = [d.result["ref_id"] for d in duplicates]
            rows = _by_ref_id(_status(lookups, ids, series))
        except ApiError as exc:
            lost = Text("DuplicateInvoiceRefID, and the lookup failed: %(error)s", error=exc.text)
            _reschedule(duplicates, RetryableError(lost), seen)
            return
        _issued(
            [(d, rows[_key(d.result["ref_id"])]) for d in duplicates if _key(d.result["ref_id"]) in rows],
            _Seen(lookups.last_exchange),
            note=Text("already issued under this RefID; recorded, not issued twice"),
        )
        missing = [d for d in duplicates if _key(d.result["ref_id"]) not in rows]
        _reschedule(missing, RetryableError(Text("DuplicateInvoiceRefID but not found by RefID yet")), seen)


def _summary(invoice: dict) -> dict:
    """A publish row keeps the gist of what was sent; the full InvoiceData stays on the document."""
    keys = (
        "RefID",
        "InvSeries",
        "InvDate",
        "BuyerTaxCode",
        "BuyerLegalName",
        "TotalAmountWithoutVAT",
        "TotalVATAmount",
        "TotalAmount",
    )
    return {**{k: invoice.get(k) for k in keys}, "lines": len(invoice.get("OriginalInvoiceDetail") or [])}


def _own_request(doc, client):
    """In a batch publish, each document's timeline shows its own invoice, not the other 49."""
    exchange = client.last_exchange
    if exchange is not None and exchange.method == "POST" and exchange.url.rstrip("/").endswith("/invoice"):
        return doc.payload
    return None


def _with_code(series: str) -> bool:
    """Status lookups are asked per kind of series: "1C…" invoices carry a tax-authority code, "1K…" none."""
    return series[1:2].upper() == "C"


def _status(client, ids, series: str) -> list[dict]:
    """meInvoice's rows for these RefIDs, asked the way the series needs: with or without a
    tax-authority code, and ``invoiceCalcu=true`` for a cash-register series."""
    return client.status(ids, with_code=_with_code(series), calcu=is_cash_register(series))


def _key(ref_id) -> str:
    """RefIDs compare case-insensitively: MISA has been seen echoing them upper-case."""
    return str(ref_id or "").casefold()


def _by_ref_id(rows) -> dict:
    return {_key(row.get("RefID")): row for row in rows}


def _field(row: dict, *names):
    for name in names:
        if row.get(name) not in (None, ""):
            return row[name]
    return ""


def _issued_series(doc, row) -> str:
    """The 7-character series the invoice was issued on, whichever form MISA answered in (the client
    joins "1" + "C25TAA"); the series we sent when the answer names none a person could use."""
    series = str(_field(row, "inv_series") or full_series(row))
    return series if len(series) == 7 else doc.result.get("series") or series


def _issued_date(doc, row) -> str:
    """The invoice's date, kept so a later adjustment can name it: MISA's InvDate, else the day of its
    PublishedTime in Vietnam, else the InvDate we sent."""
    day = str(_field(row, "inv_date") or inv_date(row))
    return day[:10] if day else str((doc.payload or {}).get("InvDate") or "")[:10]


def _issued(pairs, client, *, note: Text | None = None) -> None:
    """Record issued invoices (document, meInvoice's row) together: one update, one insert of log rows."""
    if not pairs:
        return
    now = timezone.now()
    rows = []
    for doc, row in pairs:
        doc.result.update(
            {
                "transaction_id": _field(row, "transaction_id", "TransactionID"),
                "inv_no": _field(row, "inv_no", "InvNo"),
                "inv_series": _issued_series(doc, row),
                "inv_code": _field(row, "inv_code", "InvCode", "InvoiceCode"),
                "inv_date": _issued_date(doc, row),
                "send_tax_status": row.get("SendTaxStatus"),
                "written_back": False,
            }
        )
        doc.state, doc.next_retry_at, doc.updated_at = State.DONE, None, now
        doc.set_error("")
        doc.done_at = now
        facts = {
            "number": f"{doc.result['inv_series']}-{doc.result['inv_no']}",
            "order": doc.source_label,
            "code": doc.result["transaction_id"],
        }
        message = (
            Text(
                "Invoice %(number)s issued for order %(order)s, lookup code %(code)s (%(note)s).",
                note=note,
                **facts,
            )
            if note
            else Text("Invoice %(number)s issued for order %(order)s, lookup code %(code)s.", **facts)
        )
        rows.append(
            _row(
                "publish",
                Outcome.OK,
                message,
                document=doc,
                client=client,
                request=_summary(doc.payload) if _own_request(doc, client) is not None else None,
                response={k: v for k, v in row.items() if not isinstance(v, dict | list)},
            )
        )
    with transaction.atomic():
        docs = [doc for doc, _ in pairs]
        SyncDocument.objects.filter(pk__in=[d.pk for d in docs]).update(
            state=State.DONE,
            last_error="",
            last_error_text=None,
            next_retry_at=None,
            updated_at=now,
            done_at=now,
        )
        SyncDocument.objects.bulk_update(docs, ["result"])
        SyncAttempt.objects.bulk_create(rows)
    from .tasks import write_back

    ids = [doc.pk for doc, _ in pairs if doc.kind == "invoice"]
    if ids:
        transaction.on_commit(lambda: _send_quietly(write_back, ids))


def retry_delay(attempts: int, retry_after: float | None = None) -> dt.timedelta:
    base = getattr(settings, "MEINVOICE_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS)
    seconds = min(RETRY_MAX_SECONDS, base * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=max(seconds, retry_after or 0))


def _reschedule(docs, exc, client) -> None:
    """Retryable trouble: due again after a backoff (and looked up first), or failed after MAX_ATTEMPTS."""
    now = timezone.now()
    give_up = [d for d in docs if d.attempts >= MAX_ATTEMPTS]
    if give_up:
        gave_up = Text(
            "Gave up after %(attempts)s attempts: %(error)s", attempts=give_up[0].attempts, error=exc.text
        )
        _fail(give_up, gave_up, client)
    later = [d for d in docs if d.attempts < MAX_ATTEMPTS]
    rows = []
    for doc in later:
        doc.state, doc.updated_at = State.RETRYING, now
        doc.set_error(exc.text)
        doc.next_retry_at = now + retry_delay(doc.attempts, getattr(exc, "retry_after", None))
        message = Text(
            "Not issued yet (%(error)s); will look it up and retry at %(when)s.",
            error=exc.text,
            when=f"{timezone.localtime(doc.next_retry_at):%H:%M:%S}",
        )
        rows.append(
            _row(
                "publish",
                Outcome.RETRYABLE,
                message,
                document=doc,
                client=client,
                request=_own_request(doc, client),
            )
        )
    SyncDocument.objects.bulk_update(
        later, ["state", "last_error", "last_error_text", "next_retry_at", "updated_at"]
    )
    SyncAttempt.objects.bulk_create(rows)


def _fail(docs, message: Text, client, *, response=None) -> None:
    """Permanent trouble: the documents wait for a person, with the reason."""
    for doc in docs:
        doc.state = State.FAILED
        doc.set_error(message)
        doc.next_retry_at = None
        doc.save(update_fields=["state", "last_error", "last_error_text", "next_retry_at", "updated_at"])
        _log(
            "publish",
            Outcome.ERROR,
            message,
            document=doc,
            client=client,
            request=_own_request(doc, client),
            response=response.__dict__ if response is not None else None,
        )


# --- after issuance: write-back, status, returns ---------------------------------------------------


def write_back(document_id: int) -> None:
    """Lookup code and invoice number onto the source order (a note attribute or a tag)."""
    doc = SyncDocument.objects.select_related("connection", "account").get(pk=document_id)
    if doc.state != State.DONE or doc.result.get("written_back") or doc.kind != "invoice":
        return
    mapping = mapping_for(doc.connection)
    fields = {
        "einvoice_lookup_code": doc.result.get("transaction_id", ""),
        "einvoice_number": f"{doc.result.get('inv_series', '')}-{doc.result.get('inv_no', '')}",
        "einvoice_mst": doc.account.external_id,
    }
    status = doc.result.get("send_tax_status") or 0
    if mapping.writeback == "tag":  # Haravan tags hold at most 40 characters: the status as its code
        fields["einvoice_tax_status"] = str(status)
    else:
        fields["einvoice_tax_status"] = tax_status(status).english()  # on the order as before: English
    try:
        doc.connection.source.write_back(doc, fields, style=mapping.writeback)
    except RetryableError:
        raise
    except ApiError as exc:
        _log(
            "write_back",
            Outcome.ERROR,
            Text("Lookup code not written on the order: %(error)s", error=exc.text),
            document=doc,
            client=_Seen(exc.exchange),
        )
        return
    SyncDocument.objects.filter(pk=doc.pk).update(result={**doc.result, "written_back": True})
    written = Text(
        "Lookup code %(code)s and number %(number)s written on order %(order)s (%(style)s).",
        code=fields["einvoice_lookup_code"],
        number=fields["einvoice_number"],
        order=doc.source_label,
        style=WRITEBACK_STYLES.get(mapping.writeback, mapping.writeback),
    )
    _log("write_back", Outcome.OK, written, document=doc)


WRITEBACK_STYLES = {"note_attribute": Text("note attribute"), "tag": Text("tag")}
TAX_STATUS = {
    0: Text("not sent to the tax authority"),
    1: Text("sent to the tax authority"),
    2: Text("accepted by the tax authority"),
    3: Text("rejected by the tax authority"),
    4: Text("invalid at the tax authority"),
}


def tax_status(status) -> Text:
    return TAX_STATUS.get(status) or Text("tax status %(status)s", status=status)


def refresh_status(limit_per_account: int = 500) -> int:
    """Ask meInvoice for the tax-authority status of issued invoices not yet accepted, 50 per call."""
    pending = (
        SyncDocument.objects.filter(state=State.DONE, connection__target_kind="meinvoice")
        .select_related("account", "connection")
        .order_by("updated_at")
    )
    by_series = defaultdict(list)
    for doc in pending.iterator():
        if doc.result.get("send_tax_status") in (2, 3, 4):
            continue
        key = (doc.account_id, doc.result.get("inv_series") or doc.result.get("series") or "")
        if len(by_series[key]) < limit_per_account:
            by_series[key].append(doc)
    _write_back_stragglers()
    changed = 0
    for (_account, series), docs in by_series.items():
        client = client_for(docs[0].account)
        try:
            ids = [d.result["ref_id"] for d in docs]
            rows = _by_ref_id(_status(client, ids, series))
        except ApiError as exc:
            log.warning("Status refresh for %s failed: %s", docs[0].account.tag, exc)
            continue
        for doc in docs:
            row = rows.get(_key(doc.result["ref_id"]))
            if not row or row.get("SendTaxStatus") == doc.result.get("send_tax_status"):
                continue
            status = row.get("SendTaxStatus")
            doc.result.update(
                {
                    "send_tax_status": status,
                    "einvoice_status": row.get("EInvoiceStatus"),
                    "inv_code": row.get("InvoiceCode") or doc.result.get("inv_code", ""),
                    "written_back": False,  # the order shows the new status too
                }
            )
            SyncDocument.objects.filter(pk=doc.pk).update(result=doc.result, updated_at=timezone.now())
            if doc.kind == "invoice":
                from .tasks import write_back

                transaction.on_commit(lambda pk=doc.pk: _send_quietly(write_back, [pk]))
            outcome = Outcome.ERROR if status in (3, 4) else Outcome.INFO
            number = f"{doc.result.get('inv_series')}-{doc.result.get('inv_no')}"
            _log(
                "status",
                outcome,
                Text("Invoice %(number)s: %(status)s.", number=number, status=tax_status(status)),
                document=doc,
            )
            changed += 1
    return changed


def _write_back_stragglers(older_than=dt.timedelta(minutes=10)) -> int:
    """Issued invoices whose lookup code never reached the order (Haravan refused for too long): again."""
    from .tasks import write_back

    ids = list(
        SyncDocument.objects.filter(
            state=State.DONE,
            kind="invoice",
            connection__target_kind="meinvoice",
            result__written_back=False,
            updated_at__lt=timezone.now() - older_than,
        ).values_list("pk", flat=True)[:500]
    )
    if ids:
        _send_quietly(write_back, ids)
    return len(ids)


def _change_document(invoice_doc: SyncDocument, kind: str, explanation: Text) -> SyncDocument:
    """The one document (unique per order, account and kind) for a change to an issued invoice."""
    from syncjobs.services import sibling_document

    return sibling_document(invoice_doc, kind, explanation)


def _reference_of(doc: SyncDocument) -> dict:
    """How a later invoice names an issued one (OrgInv… fields)."""
    return {
        "InvSeries": doc.result.get("inv_series", ""),
        "InvNo": doc.result.get("inv_no", ""),
        "InvDate": doc.result.get("inv_date", ""),
        "TransactionID": doc.result.get("transaction_id", ""),
    }


def _order_documents(document: SyncDocument):
    return SyncDocument.objects.filter(
        connection=document.connection,
        account=document.account,
        source_type="order",
        source_id=document.source_id,
    )


def _after_issue(document: SyncDocument, carried: dict | None = None) -> None:
    """Returns and cancellations of an invoiced order, per the returns policy: an adjustment invoice, a
    replacement invoice (refunds), or a document held for a person (manual, or waiting for the reference
    of the agreement with the buyer when the policy requires one). ``carried``: agreement references
    (by change key) of held documents a retry made again."""
    account = document.account
    mapping = mapping_for(document.connection)
    sale = sale_of(document, mapping)
    siblings = _order_documents(document)
    replacements = [
        r for r in siblings.filter(kind__startswith="replace:").order_by("pk") if not _waits_for_reference(r)
    ]
    if any(r.state != State.DONE for r in replacements):
        return  # one replacement at a time: the next is made from the one in force
    current = replacements[-1] if replacements else document  # the invoice in force
    if sale.cancelled_at is not None:
        policy, wanted = mapping.returns.on_cancel_after_issue, [("cancel", None)]
    else:
        policy, wanted = mapping.returns.on_refund, [(r.key, r) for r in sale.refunds]
    existing = set(siblings.values_list("kind", flat=True))
    waiting = {d.kind: d for d in siblings if _waits_for_reference(d)}
    for key, refund in wanted:
        kind = "cancel" if refund is None else f"{'replace' if policy == 'replace' else 'refund'}:{key}"
        if kind not in waiting and (
            kind in existing or f"refund:{key}" in existing or f"replace:{key}" in existing
        ):
            continue
        if refund is not None and refund.money == 0:
            continue  # goods back with no money (a restock): no invoice changes, nothing for a person
        what = Text("cancellation") if refund is None else Text("refund %(refund)s", refund=key)
        changed = f"{_reference_of(current)['InvSeries']}-{_reference_of(current)['InvNo']}"
        facts = {"what": what, "order": document.source_label, "invoice": changed}
        if policy == "manual":
            reason = Text(
                "The %(what)s of order %(order)s changes invoice %(invoice)s; the returns policy is manual: "
                "adjust it in meInvoice, or switch the policy and retry.",
                **facts,
            )
            _settle(_change_document(document, kind, reason), State.BLOCKED, reason)
            continue
        ref_id = ref_id_for(account.external_id, document.source_id, kind)
        series = document.result.get("series") or account_options(account)["series"]
        issue = issue_for(account, series, ref_id)
        first = Changed(_reference_of(document), document.payload)
        in_force = Changed(_reference_of(current), current.payload)
        try:
            if refund is None:
                # A cancelled order is never replaced: the invoice in force is adjusted to zero.
                priors = (
                    [
                        d.payload
                        for d in siblings.filter(
                            kind__startswith="refund:",
                            state__in=(
                                State.QUEUED,
                                State.PROCESSING,
                                State.RETRYING,
                                State.DRAFT,
                                State.DONE,
                            ),
                        )
                        if d.payload
                    ]
                    if current is document
                    else []
                )
                invoice = adjustment_for_cancellation(sale, mapping, issue, in_force, priors)
                label = Text("Adjustment for the %(what)s of order %(order)s (adjusts %(invoice)s)", **facts)
            elif policy == "replace":
                invoice = replacement_for_refund(sale, refund, mapping, issue, first, in_force)
                label = Text(
                    "Replacement for the %(what)s of order %(order)s (replaces %(invoice)s)", **facts
                )
            else:
                invoice = adjustment_for_refund(sale, refund, mapping, issue, first)
                label = Text("Adjustment for the %(what)s of order %(order)s (adjusts %(invoice)s)", **facts)
        except NothingToAdjust:
            continue  # a refund that gives no money back changes no invoice
        except ConversionError as exc:
            held = _change_document(document, kind, Text("Changes invoice %(invoice)s.", invoice=changed))
            _settle(
                held,
                State.BLOCKED,
                Text("Nothing issued for the %(what)s: %(reason)s", what=what, reason=exc.text),
            )
            continue
        doc = _change_document(document, kind, Text("%(label)s.", label=label))
        reference = _correction_reference(doc) or (carried or {}).get(_change_key(kind))
        if reference is None and mapping.returns.require_agreement:
            _hold_for_reference(doc, invoice, label)
            continue
        if reference is not None:
            if not doc.correction_reference:
                doc.correction_reference = reference
                doc.save(update_fields=["correction_reference", "updated_at"])
            invoice = with_correction_reference(invoice, _as_reference(reference))
        doc.payload = invoice
        doc.result = {"ref_id": ref_id, "series": series, "adjusts": _reference_of(current)}
        if account_options(account)["auto_publish"]:
            _settle(doc, State.QUEUED, "", note=Text("%(label)s: queued.", label=label))
            _publish_soon(account.pk)
        else:
            _settle(doc, State.DRAFT, "", note=Text("%(label)s: draft.", label=label))


# --- the agreement (or notice) an adjustment or a replacement rests on (Decree 70) -----------------------

WAITING_FOR_REFERENCE = "correction_reference"


def _change_key(kind: str) -> str:
    """What a change is about, whatever it became: "77" for "refund:77" and "replace:77", "cancel"."""
    return kind.partition(":")[2] or kind


def _waits_for_reference(doc: SyncDocument) -> bool:
    return (
        doc.state == State.BLOCKED
        and doc.attempts == 0
        and (doc.result or {}).get("waiting_for") == WAITING_FOR_REFERENCE
    )


def _correction_reference(doc: SyncDocument) -> dict | None:
    reference = doc.correction_reference or {}
    return reference if reference.get("text") and reference.get("date") else None


def _as_reference(reference: dict) -> CorrectionReference:
    return CorrectionReference(str(reference["text"]), dt.date.fromisoformat(str(reference["date"])[:10]))


def _hold_for_reference(doc: SyncDocument, invoice: dict, label: Text) -> None:
    """Held for a person: nothing is sent until the agreement's (or notice's) reference is given."""
    business = buyer_is_business(invoice)
    if business:
        reason = Text(
            "%(label)s: the returns policy requires the written agreement with the buyer (a business, Decree "
            "70) before an invoice is adjusted or replaced. Enter the agreement's number and date on this "
            "document's page; it is then issued with them in its note.",
            label=label,
        )
    else:
        reason = Text(
            "%(label)s: the returns policy requires the notice sent to the buyer (an individual, Decree 70) "
            "before an invoice is adjusted or replaced. Enter the notice's number and date on this "
            "document's page; it is then issued with them in its note.",
            label=label,
        )
    doc.payload = {}
    doc.result = {"waiting_for": WAITING_FOR_REFERENCE, "business": business}
    _settle(doc, State.BLOCKED, reason)


def wants_correction_reference(document: SyncDocument) -> bool:
    """Whether the document waits for the reference of the agreement (or notice) it rests on."""
    return _waits_for_reference(document)


def provide_correction_reference(document: SyncDocument, *, text: str, date: dt.date, user=None) -> bool:
    """A person gives the agreement's (or notice's) number and date: stored on the document, which is then
    made again from the invoice it changes and issued with them in its note. False when the document no
    longer waits for one (it changed meanwhile)."""
    who = user.get_username() if user is not None else "system"
    with transaction.atomic():
        locked = (
            SyncDocument.objects.select_for_update(of=("self",))
            .select_related("account", "connection")
            .get(pk=document.pk)
        )
        if not _waits_for_reference(locked) or locked.account_id is None:
            return False
        locked.correction_reference = {"text": text.strip(), "date": date.isoformat(), "by": who}
        locked.save(update_fields=["correction_reference", "updated_at"])
        _log(
            "reference",
            Outcome.INFO,
            Text(
                "Agreement reference %(text)s of %(date)s given by %(who)s.",
                text=text.strip(),
                date=date.strftime("%d/%m/%Y"),
                who=who,
            ),
            document=locked,
        )
        original = _issued_invoice_of(locked)
        if original is not None:
            _after_issue(original)
    return True


# --- for people: draft view, retries ---------------------------------------------------------------


def draft_view_link(document: SyncDocument) -> str:
    """meInvoice's own rendering of a draft (valid 5 minutes), asked for when a person wants it."""
    invoice = document.payload
    if not invoice:
        raise ValueError("This document has no invoice to show yet.")
    return client_for(document.account).unpublish_view(invoice)


def lookup_link(document: SyncDocument) -> tuple[str, str] | None:
    """The buyer's lookup code (TransactionID) and MISA's public lookup page for it."""
    code = str((document.result or {}).get("transaction_id") or "")
    if not code:
        return None
    return code, settings.MEINVOICE_LOOKUP_URL.format(code=quote(code))


def _issued_invoice_of(change: SyncDocument) -> SyncDocument | None:
    """The issued invoice an adjustment or replacement document changes (None: not issued, or gone)."""
    return SyncDocument.objects.filter(
        connection=change.connection,
        account=change.account,
        source_type=change.source_type,
        source_id=change.source_id,
        kind="invoice",
        state=State.DONE,
    ).first()


def retry(documents, *, user=None) -> int:
    """Single or bulk retry by a person. Never sent: evaluated again from the newest order (the mapping or
    the buyer may have been fixed). Sent before: due now, and looked up by RefID before any resend."""
    count = 0
    accounts = set()
    who = user.get_username() if user is not None else "system"
    for doc in documents:
        with transaction.atomic():
            locked = (
                SyncDocument.objects.select_for_update(of=("self",))
                .select_related("account", "connection")
                .get(pk=doc.pk)
            )
            if locked.state not in RETRYABLE_BY_PERSON or locked.account_id is None:
                continue
            _log("retry", Outcome.INFO, Text("Retry asked by %(who)s.", who=who), document=locked)
            if locked.attempts == 0 and locked.kind == "invoice":
                locked.state = State.PENDING
                evaluate(locked)
            elif locked.attempts == 0 and not locked.payload:
                # A return held back by the returns policy: decided again from the invoice it changes.
                original = _issued_invoice_of(locked)
                reference = _correction_reference(locked)
                carried = {_change_key(locked.kind): reference} if reference else None
                locked.delete()
                if original is not None:
                    _after_issue(original, carried)
            elif locked.attempts == 0:
                _settle(locked, State.QUEUED, "", note=Text("Queued again."))
            else:
                # Attempts restart at 1: the full series of tries again, still starting with a lookup.
                locked.state, locked.next_retry_at, locked.attempts = State.RETRYING, timezone.now(), 1
                locked.set_error("")
                locked.save(
                    update_fields=[
                        "state",
                        "next_retry_at",
                        "last_error",
                        "last_error_text",
                        "attempts",
                        "updated_at",
                    ]
                )
            accounts.add(locked.account_id)
            count += 1
    for account_id in accounts:
        _publish_soon(account_id)
    return count
