"""What the Maventa simulator remembers: users (an API key each), companies (with their authorization
state, settings, vendor links and sent invoices), tokens and invoices. Times are simulator-clock seconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class User:
    email: str
    api_key: str
    first_name: str = ""
    last_name: str = ""
    companies: set[str] = field(default_factory=set)  # company ids this user reaches


@dataclass
class Company:
    id: str  # the company UUID
    name: str
    bid: str
    no_vat: bool
    country: str
    email: str
    address: dict
    activate_duetto: bool
    key: str  # normalised business id (helpers.normalise_bid)
    eia: str | None = None  # its own e-invoice address, when it has one
    auth_state: str = "NONE"  # NONE | PENDING | SENT | SIGNED | CANCELED
    auth_email: str | None = None
    auth_locale: str | None = None
    auth_requested_at: float | None = None
    auth_sent_at: float | None = None
    company_state: str = "UNVERIFIED"  # VERIFIED | UNVERIFIED
    vendors: dict[str, str] = field(default_factory=dict)  # vendor api key → link state
    settings: dict = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)  # id → invoice


@dataclass
class Token:
    value: str
    company: str
    user: str  # e-mail
    vendor: str
    scopes: list[str]
    issued_at: float
    expires_at: float


@dataclass
class Invoice:
    id: str
    uuid: str | None
    company: str
    document: dict  # what the minimum-content check read from the UBL
    fields: dict  # recipient_* and the other send fields
    files: list[dict]
    created_wall: datetime
    deliver_at: float  # simulator clock: when PENDING turns DELIVERED or FAILED
    channel: str | None  # EINVOICE | EMAIL | PRINT, None when no route exists
    recipient: dict
    why: str  # the routing decision in words
    outcome_error: str | None = None  # set: the delivery fails with this message
    status: str = "PENDING"
    actions: list[dict] = field(default_factory=list)
