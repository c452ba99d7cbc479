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
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

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


class DeclaredResult(Mapping):
    """A stored result reduced to the keys a target declares (``TargetAdapter.day_result_keys``): the keys are
    the target's one tuple, each document holds only its values (None: absent) — a read-only mapping."""

    __slots__ = ("_keys", "_values")

    def __init__(self, keys: tuple[str, ...], values: tuple):
        self._keys, self._values = keys, values

    def __getitem__(self, key):
        try:
            value = self._values[self._keys.index(key)]
        except ValueError:
            raise KeyError(key) from None
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self):
        return (key for key, value in zip(self._keys, self._values, strict=True) if value is not None)

    def __len__(self) -> int:
        return sum(value is not None for value in self._values)

    def __repr__(self) -> str:
        return f"DeclaredResult({dict(self)!r})"


# A stored result with none of the keys the target declares (``TargetAdapter.day_result_keys``) but not empty:
# truthy like the result it stands for, every declared key absent. Read-only, shared by every document.
EMPTY_RESULT: Mapping = MappingProxyType({})
UNDECLARED_RESULT: Mapping = MappingProxyType({"(keys the target did not declare)": None})


@dataclass(slots=True)
class KnownDocument:
    """One of our documents of the day on one account, as the target is asked about it.

    ``result`` is the stored result reduced to the keys the target reads (``TargetAdapter.day_result_keys``;
    a target declaring none gets the whole result): empty exactly when the stored result is, read with
    ``.get``. ``done_at`` is given for a done document only (when it was done), ``updated_at`` for the others
    only (since when it waits or was refused; an AMIS proposal's acceptance). One of these stays in memory
    per document of the account being checked, so it holds nothing else."""

    id: int
    source_id: str
    label: str
    state: str
    amount: Decimal
    target_ref: str
    result: Mapping
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
