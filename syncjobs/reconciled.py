"""How people read a checked day (``ReconciledDay``): its state, its differences by kind, its amounts.

Shared by the reconciliation screens and the alert digest, so both say the same thing in the same words.
Reads stored rows only; it never checks a day (``syncjobs.reconciliation`` does that).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils import formats
from django.utils.translation import gettext_lazy as _

from connectors.money import MINOR_UNITS, quantum
from connectors.text import shown

MATCHES, DIFFERS, ERROR, UNCHECKED = "matches", "differs", "error", "unchecked"
# The report's kinds (``connectors.reconcile.KINDS``) in the order a person reads them, then the two kinds of
# line that are not the report's differences but are shown with them.
KIND_LABELS = {
    "missing": _("Missing at the target"),
    "duplicated": _("Duplicated at the target"),
    "amount": _("Amount differs"),
    "waiting": _("Still waiting for the target"),
    "refused": _("Refused by the target"),
    "unexpected": _("At the target, not expected by the source"),
    "stock": _("Stock differs"),
}
STATE_LABELS = {
    MATCHES: _("Matches"),
    DIFFERS: _("Differs"),
    ERROR: _("Could not be checked"),
    UNCHECKED: _("Not checked"),
}


def state(day) -> str:
    """``matches``, ``differs``, ``error`` (the target or the source could not be asked), or ``unchecked``."""
    if day is None:
        return UNCHECKED
    if day.error:
        return ERROR
    if not day.matches or day.differences or day.unexpected or day.stock_differences:
        return DIFFERS
    return MATCHES


def problem_count(day) -> int:
    """Every line a person should look at: the differences, what nobody expected, the stock that differs."""
    return len(day.differences or ()) + len(day.unexpected or ()) + len(day.stock_differences or ())


def counts_by_kind(day) -> dict[str, int]:
    """{kind: how many}, in ``KIND_LABELS`` order, only kinds that occur."""
    found = {kind: 0 for kind in KIND_LABELS}
    for difference in day.differences or ():
        kind = str(difference.get("kind", ""))
        found[kind] = found.get(kind, 0) + 1
    found["unexpected"] += len(day.unexpected or ())
    found["stock"] += len(day.stock_differences or ())
    return {kind: n for kind, n in found.items() if n}


def kind_label(kind: str):
    return KIND_LABELS.get(kind, kind)


@dataclass(frozen=True)
class Line:
    """One difference of a day as a person reads it. ``index``: its place in ``day.differences``."""

    index: int
    kind: str
    source: str
    target_document: str
    detail: str  # in the reader's language
    document_id: int | None


def lines(day) -> list[Line]:
    """The day's differences in their stored order, each detail in the active language."""
    texts = day.differences_text or []
    out = []
    for i, difference in enumerate(day.differences or ()):
        data = texts[i] if i < len(texts) else None
        out.append(
            Line(
                index=i,
                kind=str(difference.get("kind", "")),
                source=str(difference.get("source") or ""),
                target_document=str(difference.get("target_document") or ""),
                detail=shown(data, str(difference.get("detail") or "")),
                document_id=document_id(difference),
            )
        )
    return out


def document_id(difference: dict) -> int | None:
    """The document a person's retry would send again, when the check named one."""
    value = difference.get("document_id") if isinstance(difference, dict) else None
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def fingerprint(day) -> str:
    """What differs on the day, summed up: equal for two checks that found the same things."""
    data = {
        "matches": bool(day.matches),
        "differences": [
            {k: d.get(k) for k in ("kind", "source", "target_document", "detail")}
            for d in (day.differences or ())
        ],
        "unexpected": day.unexpected or [],
        "stock": day.stock_differences or [],
        "error": day.error or "",
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def plain_amount(value, currency: str) -> str:
    """An amount in the currency's minor units, for files: 2592000 (VND), 1234.50 (EUR)."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{amount.quantize(quantum(currency)):f}"


def money(value, currency: str) -> str:
    """An amount as the screens write it: đồng in Vietnamese figures whatever the language (1.234.567 đ, as
    the previews do), other currencies in the reader's own figures with their code (1,234.50 EUR)."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    code = (currency or "VND").upper()
    places = MINOR_UNITS.get(code, 2)
    if code == "VND":
        return f"{amount.quantize(quantum(code)):,.0f}".replace(",", ".") + " đ"
    figures = formats.number_format(
        amount.quantize(quantum(code)), places, use_l10n=True, force_grouping=True
    )
    return f"{figures} {code}"
