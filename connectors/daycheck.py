"""What a day's check passes between the core and the adapters (``connectors.registry``'s reconciliation
hooks): pure records, no database, no HTTP.

A source says what should exist for a day (``StoredKeys``: where its stored snapshots keep the moment, amount
and currency of an object; ``DayObject``: one object it lists itself for the day, for the ones that never
reached us). The core hands a target the documents it believes in for one account (``KnownDocument``, one
per source object of the day, whatever its state) and the target answers what it confirms itself
(``TargetDay``): ``connectors.reconcile`` compares the two.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from .reconcile import Confirmed
from .text import Text


@dataclass(frozen=True)
class StoredKeys:
    """Keys of the source's stored snapshot (``SyncDocument.source_data``; a dotted path reaches into an
    object: ``totalIncludingTax.amount``): ``moment`` an ISO 8601 time (a bare date "yyyy-mm-dd" counts as
    that day wherever the reader is), ``amount`` what the buyer pays, ``currency`` its ISO code (absent:
    ``default_currency``)."""

    moment: str
    amount: str
    currency: str = ""
    default_currency: str = "VND"


@dataclass(frozen=True)
class DayObject:
    """One object the source itself lists for the day (read from the source, not from our rows)."""

    source_id: str
    label: str
    amount: Decimal
    currency: str
    facts: dict = field(default_factory=dict)  # its routing facts: which account it would have gone to


@dataclass(slots=True)
class KnownDocument:
    """One of our documents of the day on one account, as the target is asked about it."""

    id: int
    source_id: str
    label: str
    state: str
    amount: Decimal
    target_ref: str
    result: dict
    done_at: dt.datetime | None
    updated_at: dt.datetime | None


@dataclass
class TargetDay:
    """What the target confirms for one account: its documents (``Confirmed.source`` is the source object's
    label, as in ``KnownDocument.label``), and what it says is still on its way or refused, by label, in
    words a person reads — these replace what our own rows would say."""

    confirmed: list[Confirmed] = field(default_factory=list)
    waiting: dict[str, Text | str] = field(default_factory=dict)
    refused: dict[str, Text | str] = field(default_factory=dict)
    # Why a document we believe issued is not confirmed, when the target says more than "unknown" (a
    # deleted invoice): by label
    missing: dict[str, Text | str] = field(default_factory=dict)
