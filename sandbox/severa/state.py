"""What the Severa simulator remembers besides its demo data: API credentials, tokens, invoices."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Credential:
    """An API client made under Settings → Integrations → REST API, with the scopes chosen there."""

    client_id: str
    client_secret: str
    scopes: frozenset[str]


@dataclass
class Token:
    value: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float  # simulator clock
    refresh_token: str = ""


@dataclass
class Invoice:
    """One invoice: its header fields as Severa returns them (status and totals are filled in when read),
    its rows, its invoice settings, and when it last changed (``changedSince`` compares with it)."""

    guid: str
    number: int | None
    company: str  # activeCompanies[].guid of the issuing company
    customer: str
    status: str
    rows: list[dict]
    header: dict
    settings: dict
    updated: datetime
    pdf_requests: int = 0
    history: list[tuple[str, str]] = field(default_factory=list)  # (status guid, when) as it moved
