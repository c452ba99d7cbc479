"""Target kinds register themselves here, so the core never imports a provider by name."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TargetKind:
    name: str  # "meinvoice", "amis", "maventa"
    label: str  # shown to people
    family: str  # the license family it needs
    tag_label: str  # the account tag prefix: "[MST 0101243150]"
    source_kind: str  # what it reads from: "haravan", "severa"
    order_document_kind: str  # what a source order becomes: "invoice", "sales_voucher"
    validate_external_id: object = field(
        default=None, compare=False
    )  # callable(str) -> str | None (an error)


_KINDS: dict[str, TargetKind] = {}


def register(kind: TargetKind) -> TargetKind:
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> TargetKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise LookupError(f"Unknown target kind {name!r}; registered: {sorted(_KINDS)}") from None


def all_kinds() -> list[TargetKind]:
    return sorted(_KINDS.values(), key=lambda k: k.name)


def choices() -> list[tuple[str, str]]:
    return [("meinvoice", "MISA meInvoice"), ("amis", "MISA AMIS accounting"), ("maventa", "Maventa")]
