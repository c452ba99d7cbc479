"""The durable record of everything that moves: inbound events, documents, attempts, runs."""

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import StrIndex, Substr
from django.db.models.lookups import GreaterThan
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from connectors.models import Connection, TargetAccount, Tenant, TenantScopedManager
from connectors.text import Text, shown, stored


class InboundEvent(models.Model):
    """A webhook or callback exactly as it arrived: stored before anything else happens."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a worker")
        DONE = "done", _("Processed")
        IGNORED = "ignored", _("Nothing to do")
        FAILED = "failed", _("Failed (see error)")
        REJECTED = "rejected", _("Rejected at the door")

    source_kind = models.CharField(max_length=20)  # "haravan"
    source_key = models.CharField(max_length=64, blank=True)  # the shop's org id as sent
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL)
    topic = models.CharField(max_length=100, blank=True)
    # sha256 of (source, shop, topic, raw body): a repeated delivery of the same body is the same event.
    dedupe_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL for rejections
    body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    http_status = models.PositiveSmallIntegerField(default=200)
    error = models.TextField(blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=1)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager()
    tenant_path = "tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="inbound_event_delivered_once"),
        ]
        indexes = [
            models.Index(
                fields=["status", "received_at"], name="inbound_pending_idx", condition=Q(status="pending")
            )
        ]

    def __str__(self):
        return f"{self.source_kind} {self.topic} #{self.pk} ({self.status})"


def kind_family():
    """A document kind without its key: "refund:77" and "refund" are both "refund", "invoice" stays "invoice".

    An expression both PostgreSQL and SQLite can index (strpos/instr, substr and CASE are immutable), so
    the logs can filter by kind family in index order instead of reading every row of a connection.
    """
    colon = StrIndex("kind", Value(":"))
    return Case(
        When(GreaterThan(colon, 0), then=Substr("kind", 1, colon - 1)),
        default=F("kind"),
        output_field=models.CharField(),
    )


class MergedResult(models.Func):
    """``result`` with some keys set, in one UPDATE for many documents (each keeps its other keys):
    PostgreSQL's jsonb ``||``, SQLite's ``json_patch``."""

    output_field = models.JSONField()

    def __init__(self, values: dict, **extra):
        import json

        super().__init__(F("result"), Value(json.dumps(values)), **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="(%(expressions)s::jsonb)", arg_joiner=" || ", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="json_patch", **extra)


class SyncDocument(models.Model):
    """One source object becoming one target document on one account. The database decides 'already done'."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        BLOCKED = "blocked", _("Needs a person")
        QUEUED = "queued", _("Queued to send")
        PROCESSING = "processing", _("Sending")
        # Accepted by a target that answers later (AMIS calls back once its accountant generates the voucher)
        SENT = "sent", _("Sent, awaiting the answer")
        RETRYING = "retrying", _("Retry scheduled")
        DRAFT = "draft", _("Draft")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Not eligible")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="documents")
    account = models.ForeignKey(
        TargetAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )
    source_type = models.CharField(max_length=30)  # "order"
    source_id = models.CharField(max_length=64)
    source_label = models.CharField(max_length=100, blank=True)  # "#100020"
    kind = models.CharField(max_length=30)  # "invoice", "adjustment", "sales_voucher"
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    source_data = models.JSONField(default=dict, blank=True)  # the newest snapshot of the source object
    source_updated_at = models.DateTimeField(null=True, blank=True)
    route_explanation = models.TextField(blank=True)  # in English; route_text renders it for the reader
    route_text = models.JSONField(null=True, blank=True, editable=False)
    # What is (or was) sent to the target, e.g. the meInvoice InvoiceData: the draft a person can read.
    payload = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)  # what the target answered: numbers, lookup codes
    # The target's key of the document as we sent it (AMIS org_refid): how its later answers find it.
    target_ref = models.CharField(max_length=64, blank=True, default="")
    # A correction of an issued document (an adjustment, a replacement) may rest on a document a person
    # holds, e.g. the agreement with the buyer: {"text": its number, "date": "yyyy-mm-dd", "by": who}.
    correction_reference = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)  # in English (search, logs); last_error_text for people
    last_error_text = models.JSONField(null=True, blank=True, editable=False)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    # When the target issued it: later status refreshes move updated_at, never this.
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = TenantScopedManager()
    tenant_path = "connection__tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "account", "source_type", "source_id", "kind"],
                name="one_document_per_source_account_kind",
            ),
            models.UniqueConstraint(
                fields=["connection", "source_type", "source_id", "kind"],
                condition=Q(account__isnull=True),
                name="one_unrouted_document_per_source_kind",
            ),
            models.UniqueConstraint(
                fields=["account", "target_ref"],
                condition=~Q(target_ref=""),
                name="one_document_per_target_ref",
            ),
        ]
        indexes = [
            models.Index(fields=["connection", "state", "-updated_at", "-id"], name="doc_conn_state_recent"),
            models.Index(fields=["connection", "-updated_at", "-id"], name="doc_conn_recent"),
            models.Index(fields=["state", "next_retry_at"], name="doc_due_retry"),
            models.Index(fields=["connection", "source_label"], name="doc_conn_label"),
            # The logs' kind filter ("refunds", "cancellations"): rare kinds found without a full scan.
            models.Index(
                F("connection"),
                kind_family(),
                F("updated_at").desc(),
                F("id").desc(),
                name="doc_conn_kind_recent",
            ),
        ]

    def __str__(self):
        return f"{self.tag} {self.kind} {self.source_label or self.source_id} ({self.state})"

    @property
    def tag(self) -> str:
        return self.account.tag if self.account_id else f"[{self.connection.target.tag_label} ?]"

    def set_error(self, error: Text | str) -> None:
        """The reason a person reads, kept as a message id and its parameters (``last_error`` holds it in
        English). Not saved: the caller saves it with the state it goes with."""
        self.last_error, self.last_error_text = stored(error)

    def set_route(self, explanation: Text | str) -> None:
        self.route_explanation, self.route_text = stored(explanation)

    @property
    def error_display(self) -> str:
        """The reason in the reader's language (rows from before messages were stored as ids: as stored)."""
        return shown(self.last_error_text, self.last_error)

    @property
    def route_display(self) -> str:
        return shown(self.route_text, self.route_explanation)

    @property
    def kind_label(self) -> str:
        """The kind in the reader's language ("Refund (adjustment) · 77" for "refund:77")."""
        label = str(self.connection.target.kind_label(self.kind))
        _family, _colon, key = self.kind.partition(":")
        return f"{label} · {key}" if key else label


# What a person may ask to retry; each target kind's retry checks it again under a row lock.
RETRYABLE_BY_PERSON = (
    SyncDocument.State.FAILED,
    SyncDocument.State.BLOCKED,
    SyncDocument.State.RETRYING,
    SyncDocument.State.SKIPPED,
)


class SyncAttempt(models.Model):
    """One line of a document's timeline: an outside call or a decision, secrets redacted."""

    class Outcome(models.TextChoices):
        OK = "ok", _("OK")
        INFO = "info", _("Info")
        RETRYABLE = "retryable", _("Will retry")
        ERROR = "error", _("Error")

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="attempts")
    document = models.ForeignKey(
        SyncDocument, null=True, blank=True, on_delete=models.CASCADE, related_name="timeline"
    )
    account = models.ForeignKey(
        TargetAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40)  # "intake", "route", "publish", "status", "write_back"
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    message = models.TextField()  # in English, always starting with the account tag: "[MST 0101243150] …"
    # The message as people read it: {"tag": …, "id": message id, "params": …}, rendered in their language.
    text = models.JSONField(null=True, blank=True, editable=False)
    request = models.JSONField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = TenantScopedManager()
    tenant_path = "tenant"

    class Meta:
        indexes = [models.Index(fields=["document", "created_at"], name="attempt_doc_time")]

    def __str__(self):
        return self.message[:120]

    @property
    def display(self) -> str:
        """The message in the reader's language, tag first (older rows: as stored)."""
        if not self.text:
            return self.message
        return f"{self.text.get('tag', '')} {shown(self.text, self.message)}".strip()


class SyncRun(models.Model):
    """A batch with progress: a scheduled pass, a manual date-range sync, a bulk retry."""

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled sync")
        MANUAL = "manual", _("Manual sync")
        RETRY = "retry", _("Bulk retry")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)  # in English; error_text renders it for the reader
    error_text = models.JSONField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The one-time token of the confirmation form that started the run: the database refuses a second run
    # for the same token, so a double submission finds this run instead of retrying everything twice.
    request_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    objects = TenantScopedManager()
    tenant_path = "connection__tenant"

    class Meta:
        indexes = [models.Index(fields=["connection", "kind", "-created_at"], name="run_conn_kind_recent")]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    def set_error(self, error: Text | str) -> None:
        self.error, self.error_text = stored(error)

    @property
    def error_display(self) -> str:
        return shown(self.error_text, self.error)

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.processed / self.total) if self.total else 0


class SyncCursor(models.Model):
    """How far a scheduled pass has read a source (an updated_at watermark)."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="cursors")
    name = models.CharField(max_length=40)
    value = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "name"], name="one_cursor_per_name")]

    def __str__(self):
        return f"{self.name} = {self.value:%Y-%m-%d %H:%M:%S}"


class ReconciledDay(models.Model):
    """One account's day, checked: what the source said should exist against what the target confirms.

    One row per (account, day in the source's time zone), replaced each time the day is checked again. The
    differences are stored as the report prints them (``connectors.reconcile.Difference.as_json``: kind,
    source, target_document, detail in English) with ``differences_text`` keeping each detail as a message id
    and its parameters for the reader's language.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="reconciled_days")
    account = models.ForeignKey(TargetAccount, on_delete=models.CASCADE, related_name="reconciled_days")
    day = models.DateField()
    currency = models.CharField(max_length=3, default="VND")
    expected_count = models.PositiveIntegerField(default=0)
    expected_total = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    confirmed_count = models.PositiveIntegerField(default=0)
    confirmed_total = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    differences = models.JSONField(default=list, blank=True)  # [{kind, source, target_document, detail}]
    differences_text = models.JSONField(default=list, blank=True)  # each detail as stored(Text), same order
    unexpected = models.JSONField(default=list, blank=True)  # [{source, document, amount}] nobody expected
    stock_differences = models.JSONField(default=list, blank=True)  # AMIS: [{sku, place, source, target}]
    matches = models.BooleanField(default=False)
    # Why the target (or the source) could not be asked: the day is not known to match (English; _text: id)
    error = models.TextField(blank=True)
    error_text = models.JSONField(null=True, blank=True, editable=False)
    checked_at = models.DateTimeField(default=timezone.now)
    # What the alert digest last said of this day (``syncjobs.reconciled.fingerprint``): a day is mailed once,
    # and again only when what differs changes. Checking the day again leaves it as it is.
    reported = models.CharField(max_length=64, blank=True, default="", editable=False)

    objects = TenantScopedManager()
    tenant_path = "tenant"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="one_reconciled_day_per_account"),
        ]
        indexes = [models.Index(fields=["connection", "-day"], name="reconciled_conn_day")]

    def __str__(self):
        return f"{self.account} {self.day}: {'matches' if self.matches else len(self.differences)}"

    def set_error(self, error: Text | str) -> None:
        self.error, self.error_text = stored(error)

    @property
    def error_display(self) -> str:
        return shown(self.error_text, self.error)
