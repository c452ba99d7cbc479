"""Sources and targets register themselves here, so the core (and each provider) never imports another
provider by name: Haravan hands a document to "whatever target this connection has", and a target
writes back to "whatever source this connection reads"."""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TargetKind:
    name: str  # "meinvoice", "amis", "maventa"
    label: str  # shown to people
    family: str  # the license family it needs
    tag_label: str  # the account tag prefix: "[MST 0101243150]"
    source_kind: str  # what it reads from: "haravan", "severa"
    order_document_kind: str  # what a source order becomes: "invoice", "sales_voucher"
    validate_external_id: Callable[[str], str | None] | None = field(default=None, compare=False)
    # Called (inside the intake transaction) after a document's source snapshot changed.
    on_document_changed: Callable | None = field(default=None, compare=False)
    # What the dashboard asks of a target; None where the target has no such thing.
    # (key, label, secret) per credential an account needs; secrets are write-only on every page.
    credential_fields: tuple[tuple[str, str, bool], ...] = ()
    test_connection: Callable | None = field(default=None, compare=False)  # (account) -> (ok, message)
    sync_templates: Callable | None = field(default=None, compare=False)  # (account) -> [templates]
    series_choices: Callable | None = field(default=None, compare=False)  # (account) -> [(value, label)]
    retry: Callable | None = field(default=None, compare=False)  # (documents, *, user) -> count retried
    publish_drafts: Callable | None = field(default=None, compare=False)  # (documents) -> count queued
    draft_view_link: Callable | None = field(default=None, compare=False)  # (document) -> url
    # (document) -> (lookup code, public page where the buyer looks the issued document up) or None
    lookup_link: Callable | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SourceKind:
    name: str  # "haravan"
    # write_back(document, fields: dict[str, str]) -> None: puts lookup codes etc. on the source object.
    write_back: Callable | None = field(default=None, compare=False)


_KINDS: dict[str, TargetKind] = {}
_SOURCES: dict[str, SourceKind] = {}


def register(kind: TargetKind) -> TargetKind:
    _KINDS[kind.name] = kind
    return kind


def register_source(kind: SourceKind) -> SourceKind:
    _SOURCES[kind.name] = kind
    return kind


def get(name: str) -> TargetKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise LookupError(f"Unknown target kind {name!r}; registered: {sorted(_KINDS)}") from None


def source(name: str) -> SourceKind:
    try:
        return _SOURCES[name]
    except KeyError:
        raise LookupError(f"Unknown source kind {name!r}; registered: {sorted(_SOURCES)}") from None


def all_kinds() -> list[TargetKind]:
    return sorted(_KINDS.values(), key=lambda k: k.name)


def choices() -> list[tuple[str, str]]:
    return [("meinvoice", "MISA meInvoice"), ("amis", "MISA AMIS accounting"), ("maventa", "Maventa")]
