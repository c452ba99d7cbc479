"""Sources and targets register one adapter each; the core, the dashboard and the commands ask them.

Nothing outside a provider's own app names a provider: Haravan hands a document to "whatever target this
connection has", a screen shows "whatever this target's mapping is", a target writes back to "whatever
source this connection reads". A new integration is one app plus a registration in its ``AppConfig``.

An adapter is a class with one method per question; what a system does not offer (templates, drafts, a
manual sync) is a capability flag the screens read, with the method left to its default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .redaction import register_secret_keys
from .reference import ReferenceFacts
from .text import Text


class Unsupported(Exception):
    """The adapter does not offer this (its capability flag says so)."""


@dataclass(frozen=True)
class ScheduleState:
    """A source's scheduled sync of one connection, as the connection screen shows it."""

    every_minutes: int | None  # None: no schedule stored yet
    running: bool  # the schedule runs (the connection and the owner's switch are both on)
    owner_switch: bool  # the owner's own switch, whatever the connection switch says
    last_run_at: Any = None


@dataclass(frozen=True)
class SourceStatus:
    """A status a source's documents can be in (a Severa invoice status): a target moves documents
    between the ones a person chose. ``is_sent``: the source counts a document in it as sent."""

    key: str
    name: str
    is_sent: bool = False
    is_active: bool = True


class Adapter:
    """What every adapter declares about its outside service's settings."""

    name: ClassVar[str]
    # Settings naming the outside service's addresses → their production value (``check --deploy``)
    url_settings: ClassVar[dict[str, str]] = {}
    simulator_paths: ClassVar[tuple[str, ...]] = ()  # where the demo's simulators serve it (refused)
    # Keys (JSON fields, HTTP headers) whose values are secrets in its exchanges: redacted everywhere
    secret_keys: ClassVar[tuple[str, ...]] = ()

    def deploy_checks(self) -> list:
        """Its other ``check --deploy`` messages (demo secrets left in place, say)."""
        return []


class SourceAdapter(Adapter):
    """A system sales come from: it reads its objects into sales and takes back what targets issued."""

    name: ClassVar[str]  # "haravan"
    label: ClassVar[str]  # "Haravan"
    object_label: ClassVar[Any] = pgettext_lazy("sales order", "Order")  # what one of its objects is called
    key_label: ClassVar[Any] = _("Source id")  # what its own id of a connection is called
    # (value, label) of each routing fact it can tell about an object: "location", "Branch / location"
    dimensions: ClassVar[tuple[tuple[str, Any], ...]] = ()
    # Templates of its parts of the screens (None: nothing to show)
    source_template: ClassVar[str | None] = None  # the connection screen's source card
    connect_template: ClassVar[str | None] = None  # how a merchant connects one (overview, no connection yet)
    # Capabilities
    looks_up_by_number: ClassVar[bool] = False
    manual_sync: ClassVar[bool] = False
    scheduled_sync: ClassVar[bool] = False
    default_schedule_minutes: ClassVar[int] = 15
    manual_sync_help: ClassVar[Any] = ""  # what a manual sync reads, for its card

    def beat_entries(self) -> dict[str, dict]:
        """Its periodic tasks (a source without webhooks polls): {name: {"task": …, "schedule": seconds}}."""
        return {}

    # --- reading
    def read_sale(self, connection, raw: dict, options) -> Any:
        """The ``connectors.sale.Sale`` a stored object describes (with what the source's caches add)."""
        raise NotImplementedError

    def routing_facts(self, raw: dict) -> dict[str, list[str]]:
        raise NotImplementedError

    def label_of(self, raw: dict) -> str:
        """How people name the object: "#100123"."""
        raise NotImplementedError

    def shape_problem(self, raw: Any) -> str | None:
        """Why pasted JSON is not one of its objects, or None."""
        return None if isinstance(raw, dict) else "not a JSON object"

    def invoice_facts(self, raw: dict) -> dict:
        """What a formal invoice needs of the object beyond its sale (seller and buyer as the object names
        them, e-invoice addresses, references, dates), in neutral names: a source of invoices tells it."""
        raise Unsupported

    # --- people looking things up
    def fetch_by_number(self, connection, number: str, *, known_id: str | None = None) -> dict:
        """The object people call ``number``, read from the source (LookupError with words if absent)."""
        raise Unsupported

    def admin_url(self, connection, document) -> str | None:
        """The object in the source's own admin screens."""
        return None

    def connection_context(self, connection) -> dict:
        """What its source card shows about one connection."""
        return {}

    # --- syncing
    def start_manual_sync(self, connection, *, date_from, date_to, user=None, request_token=None):
        """A run reading every object created in the date range again (a SyncRun)."""
        raise Unsupported

    def schedule(self, connection) -> ScheduleState | None:
        return None

    def set_schedule(self, connection, *, every_minutes: int, enabled: bool) -> ScheduleState:
        raise Unsupported

    # --- statuses (a source whose documents wait in a status a target moves them out of)
    def statuses(self, connection) -> list[SourceStatus]:
        """The statuses its documents can be in, as the source last reported them."""
        raise Unsupported

    def document_pdf(self, connection, raw: dict) -> bytes:
        """The object as the source prints it (its own PDF), read from the source."""
        raise Unsupported

    def refetch(self, connection, document) -> dict:
        """The document's source object read again from the source (a person retrying wants today's)."""
        raise Unsupported

    # --- after a target issued something
    def write_back(self, document, fields: dict[str, str], *, style: str) -> None:
        raise Unsupported

    # --- stock (a source that keeps inventory documents: receives, returns, adjustments, transfers)
    def stock_kinds(self) -> tuple[str, ...]:
        """The ``connectors.stock`` kinds of document it offers (empty: none)."""
        return ()

    def read_stock_document(self, connection, raw: dict) -> Any:
        """The ``connectors.stock.StockDocument`` a stored inventory document describes (never raises)."""
        raise Unsupported

    def stock_on_hand(self, connection, *, skus=None) -> list:
        """``connectors.stock.StockBalance`` per location and SKU, read from the source now."""
        raise Unsupported

    # --- reconciliation (``syncjobs.reconciliation``: what the source says should exist for a day)
    # Where its stored snapshots keep an object's moment, amount and currency (None: it cannot be reconciled)
    stored_day_keys: ClassVar[Any] = None  # connectors.daycheck.StoredKeys

    def day_zone(self, connection) -> Any:
        """The time zone the connection's days are counted in (the shop's own): a ``tzinfo``."""
        from zoneinfo import ZoneInfo

        from django.conf import settings

        return ZoneInfo(settings.TIME_ZONE)

    def day_count(self, connection, start, end) -> int | None:
        """How many objects the source itself holds created in [start, end) (aware datetimes): one cheap
        question so a lost webhook shows. None: the source cannot say. Raises like an outside call."""
        return None

    def day_objects(self, connection, start, end) -> Iterable[Any]:
        """Every object created in [start, end), read from the source (``connectors.daycheck.DayObject``):
        asked only when ``day_count`` differs from what reached us."""
        raise Unsupported


class TargetAdapter(Adapter):
    """A system documents go to: its accounts, its mapping, how it processes and shows its documents."""

    name: ClassVar[str]  # "meinvoice"
    label: ClassVar[str]  # "MISA meInvoice"
    family: ClassVar[str]  # the licence family it needs: "haravan_to_meinvoice"
    family_label: ClassVar[Any]  # "Haravan → meInvoice"
    tag_label: ClassVar[str]  # what an account's id is called, and tags its lines: "[MST 0101243150]"
    source_kinds: ClassVar[tuple[str, ...]] = ()  # the sources it reads from
    order_document_kind: ClassVar[str]  # what a source object becomes: "invoice"
    # Every document kind (the part before ":" of a kind such as "refund:77") and its label
    document_kinds: ClassVar[dict[str, Any]] = {}
    # (key, label, secret) per credential an account needs; secrets are write-only on every page
    credential_fields: ClassVar[tuple[tuple[str, Any, bool], ...]] = ()
    # Celery: task → queue routes (its beat entries come from ``beat_entries``)
    task_routes: ClassVar[dict[str, dict]] = {}
    # What a preview says of the document: made, or not
    would_make: ClassVar[Any] = _("would be issued")
    would_not_make: ClassVar[Any] = _("would not be issued")
    # Templates of its parts of the screens
    mapping_template: ClassVar[str | None] = None  # its mapping section (None: only routing rules)
    preview_template: ClassVar[str | None] = None  # the document a preview would make
    # One account's own setup page (registration, approvals, settings…), linked from the accounts list
    account_setup_template: ClassVar[str | None] = None
    document_template: ClassVar[str | None] = None  # its part of a document's page (what it sent, why)
    # Capabilities
    tests_connection: ClassVar[bool] = False
    has_templates: ClassVar[bool] = False  # document templates / series synced per account
    has_drafts: ClassVar[bool] = False  # documents may wait as drafts for an accountant
    # Its accounts' master data (branches, warehouses, codes) is copied here for the mapping screens
    syncs_master_data: ClassVar[bool] = False
    processes: ClassVar[bool] = True  # False: documents wait for a person ("no processor yet")
    # The target a newly installed source's first connection goes to (the others are added by a person)
    first_for_new_sources: ClassVar[bool] = False
    # Its records describe items and buyers for the other targets of the same shop (``reference_facts``)
    offers_reference_facts: ClassVar[bool] = False

    def beat_entries(self) -> dict[str, dict]:
        """Its periodic tasks: {name: {"task": …, "schedule": seconds}} (read when beat starts)."""
        return {}

    # --- accounts
    def account_id_error(self, value: str) -> Text | str | None:
        return None

    def test_connection(self, account) -> tuple[bool, Any]:
        raise Unsupported

    def sync_templates(self, account) -> list:
        raise Unsupported

    def series_choices(self, account) -> list[tuple[str, str]]:
        return []

    def account_setup_context(self, account, request_data: dict | None = None) -> dict:
        """What ``account_setup_template`` shows of one account. ``request_data`` — ``{"action": …,
        "data": <the POST>}`` — is a refused action's input, to show again with what was wrong."""
        return {}

    def account_setup_action(self, account, action: str, data, user=None) -> Any:
        """Do one action of the setup page with the posted ``data``; the answer has ``ok`` (bool),
        ``message`` (words for the person) and ``invalid`` (the input itself was refused: the page shows it
        again). An action it does not know raises Unsupported."""
        raise Unsupported

    def sync_master_data(self, account) -> Any:
        """Bring the account's copy of the target's master data up to date: what was read, in words for a
        person (``Text`` or str). Raises like an outside call does (``ApiError``…) when it cannot."""
        raise Unsupported

    # --- documents
    def on_document_changed(self, document, *, trigger: str = "") -> None:
        """Called inside the intake transaction after a document's source snapshot changed."""
        raise NotImplementedError

    def retry(self, documents, *, user=None) -> int:
        raise Unsupported

    def publish_drafts(self, documents) -> int:
        raise Unsupported

    def draft_view_link(self, document) -> str:
        raise Unsupported

    def lookup_link(self, document) -> tuple[str, str] | None:
        """(lookup code, public page where the buyer looks the issued document up), or None."""
        return None

    def wants_correction_reference(self, document) -> bool:
        """Whether the document (a correction of an issued one) waits for the reference of a document a
        person holds — e.g. the agreement with the buyer — before it can be issued."""
        return False

    def provide_correction_reference(self, document, *, text: str, date, user=None) -> bool:
        """Store that reference (its number or words, and its date) and go on with the document; False when
        it no longer waits for one."""
        raise Unsupported

    def wanted_stock_kinds(self, connection) -> tuple[str, ...]:
        """The ``connectors.stock`` kinds this connection posts (switched on in its settings): a source polls
        those and hands each document to ``on_document_changed`` like an order (source_type: the kind)."""
        return ()

    def stock_differences(self, account) -> list[dict]:
        """An accounting target's stock against the source's on hand, per item and place, read from both now:
        ``[{"sku", "place", "source", "target"}]`` (quantities as strings), only where they differ."""
        raise Unsupported

    def alert_recipients(self, connection) -> list[str]:
        """Addresses its accounts name for failures, besides the connection's alert address."""
        return []

    def wanted_source_statuses(self, connection) -> list[str]:
        """The source statuses (``SourceAdapter.statuses`` keys) whose documents this target takes now: a
        source that is polled reads only those."""
        return []

    def reference_facts(self, connection, raw: dict) -> ReferenceFacts | None:
        """What this target's own records (its cached master data) say about the items and the buyer of one
        source object of ``connection``, for another target of the same shop; None when it has nothing to
        say (no account for the object, no records). Reads only: never calls the outside service."""
        return None

    def document_context(self, document) -> dict:
        """What ``document_template`` needs of one document."""
        return {}

    def kind_label(self, kind: str) -> Any:
        return self.document_kinds.get(kind.split(":", 1)[0], kind)

    # --- mapping and preview
    def mapping_section(self, connection, data=None):
        """Its mapping form for one connection (bound to POST data or filled from what is stored)."""
        raise Unsupported

    def preview(self, connection, raw: dict) -> dict:
        """What would happen to one source object, and why: the JSON ``manage.py preview`` prints."""
        raise Unsupported

    def preview_context(self, answer: dict) -> dict:
        """What ``preview_template`` needs to show the document of a preview."""
        return {}

    def preview_outcome(self, answer: dict) -> tuple[bool | None, Any]:
        """(would a document be made?, why) from a ``preview`` answer, for the screens."""
        return answer.get("issue"), answer.get("issuance", "")

    # --- reconciliation (``syncjobs.reconciliation``: what the target itself confirms for a day)
    reconciles: ClassVar[bool] = False  # it can be asked what it holds (``confirm_day``)
    # The keys of a document's stored result ``confirm_day`` reads (``KnownDocument.result`` holds only these,
    # read from the database as they are: the rest never leaves it); None: the whole result
    day_result_keys: ClassVar[tuple[str, ...] | None] = None

    def confirm_day(self, account, day, known: list) -> Any:
        """What the target itself confirms for one account about the day's source objects ``known``
        (``connectors.daycheck.KnownDocument``, one per object, any state): a
        ``connectors.daycheck.TargetDay``, asked of the target (not read from our rows). Raises like an
        outside call when it cannot be asked."""
        raise Unsupported


class UnknownTarget(TargetAdapter):
    """A connection whose target is not (or no longer) registered: its documents wait for a person."""

    processes = False

    def __init__(self, name: str):
        self.name = name
        self.label = name
        self.family = ""
        self.family_label = name
        self.tag_label = name.upper() or "?"
        self.order_document_kind = "document"


_TARGETS: dict[str, TargetAdapter] = {}
_SOURCES: dict[str, SourceAdapter] = {}


def register_target(adapter: TargetAdapter) -> TargetAdapter:
    _TARGETS[adapter.name] = adapter
    register_secret_keys(adapter.secret_keys)
    return adapter


def register_source(adapter: SourceAdapter) -> SourceAdapter:
    _SOURCES[adapter.name] = adapter
    register_secret_keys(adapter.secret_keys)
    return adapter


def unregister_target(name: str) -> None:
    _TARGETS.pop(name, None)


def unregister_source(name: str) -> None:
    """A source registered for a while (a test's own) taken away again."""
    _SOURCES.pop(name, None)


def target(name: str) -> TargetAdapter:
    """The target adapter of that name; an unregistered name gets one that processes nothing."""
    return _TARGETS.get(name) or UnknownTarget(name)


def source(name: str) -> SourceAdapter:
    try:
        return _SOURCES[name]
    except KeyError:
        raise LookupError(f"Unknown source kind {name!r}; registered: {sorted(_SOURCES)}") from None


def is_registered_target(name: str) -> bool:
    return name in _TARGETS


def targets() -> list[TargetAdapter]:
    return sorted(_TARGETS.values(), key=lambda a: a.name)


def sources() -> list[SourceAdapter]:
    return sorted(_SOURCES.values(), key=lambda a: a.name)


# --- choices for model fields (Django calls these when it needs them, after every app registered) ---------


def target_choices() -> list[tuple[str, Any]]:
    return [(a.name, a.label) for a in targets()]


def source_choices() -> list[tuple[str, Any]]:
    return [(a.name, a.label) for a in sources()]


def family_choices() -> list[tuple[str, Any]]:
    return sorted({(a.family, a.family_label) for a in targets() if a.family}, key=lambda c: c[0])


def family_label(family: str) -> Any:
    return dict(family_choices()).get(family, family)


def dimension_choices() -> list[tuple[str, Any]]:
    seen: dict[str, Any] = {}
    for adapter in sources():
        for value, label in adapter.dimensions:
            seen.setdefault(value, label)
    return list(seen.items())


def dimension_label(value: str) -> Any:
    return dict(dimension_choices()).get(value, value)


def document_kind_choices(target_names: Iterable[str]) -> list[tuple[str, Any]]:
    """Every kind the targets of these connections make: the order's own first, then the changes."""
    own, changes = {}, {}
    for name in sorted(set(target_names)):
        adapter = target(name)
        for kind, label in adapter.document_kinds.items():
            (own if kind == adapter.order_document_kind else changes).setdefault(kind, label)
    return [*own.items(), *changes.items()]


def beat_schedule() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for adapter in [*sources(), *targets()]:
        out.update(adapter.beat_entries())
    return out


def route_task(name, args=None, kwargs=None, options=None, task=None, **kw):
    """A Celery router (``CELERY_TASK_ROUTES``): the queue a target asked for its task, else the default."""
    for adapter in targets():
        if name in adapter.task_routes:
            return adapter.task_routes[name]
    return None
