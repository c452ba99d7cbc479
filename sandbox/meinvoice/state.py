"""What the meInvoice simulator remembers: companies (one per MST) with their templates and issued
invoices, tokens, and preview pages."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime

from .helpers import series_key


@dataclass
class Token:
    value: str
    tax_code: str
    issued_at: float
    expires_at: float
    stale: bool = False  # revoked before it expired: business calls answer UnAuthorize


@dataclass
class Invoice:
    seq: int
    tax_code: str
    ref_id: str
    transaction_id: str
    inv_series: str
    inv_no: int
    inv_code: str
    inv_date: date
    published_at: float  # simulator clock (seconds)
    published_wall: datetime
    reference_type: int
    einvoice_status: int
    tax_fate: int  # 2 accepted or 3 rejected, reached after tax_accept_seconds
    data: dict
    org_ref_id: str | None = None
    deleted: bool = False  # deleted in meInvoice's own screens (sandbox/meinvoice/tampering.py)

    @property
    def number(self) -> str:
        return f"{self.inv_no:08d}"


@dataclass
class Account:
    tax_code: str
    name: str
    appid: str
    username: str
    password: str
    templates: list[dict]
    invoices: list[Invoice] = field(default_factory=list)
    by_ref: dict[str, Invoice] = field(default_factory=dict)
    by_tx: dict[str, Invoice] = field(default_factory=dict)
    last_no: dict[str, int] = field(default_factory=dict)  # issued series → last number
    last_date: dict[str, date] = field(default_factory=dict)  # issued series → latest InvDate
    last_call: dict[str, float] = field(default_factory=dict)  # series → its latest publish call (clock)
    rejected: deque = field(default_factory=lambda: deque(maxlen=1000))

    def find_ref(self, ref_id: str) -> Invoice | None:
        """By RefID, whatever its case (sandbox: MISA treats RefIDs as GUIDs)."""
        found = self.by_ref.get(ref_id)
        if found is None:
            key = ref_id.casefold()
            found = next((inv for ref, inv in self.by_ref.items() if ref.casefold() == key), None)
        return found

    def template_for(self, series: str) -> dict | None:
        key = series_key(series)
        return next((t for t in self.templates if series_key(t["InvSeries"]) == key), None)


@dataclass
class View:
    html: str
    expires_at: float
