"""What the AMIS simulator remembers: companies (one per ``org_company_code``) with their master data,
tokens, and the proposals sent by ``save`` and the vouchers the accountant generated from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Token:
    value: str
    company: str
    issued_at: float  # simulator clock
    expires_at: float


@dataclass
class Proposal:
    """A voucher sent by ``save``, keyed by (company, ``org_refid``). ``status``: ``proposal`` (waiting
    for the accountant), ``generated`` (a real voucher exists), ``deleted`` (removed by ``delete``)."""

    company: str
    org_refid: str
    voucher_type: int
    reftype: int
    voucher: dict
    session_id: str
    received_at: float  # simulator clock of the latest save
    status: str = "proposal"
    versions: int = 1
    generate_at: float | None = None  # when the accountant generates it (auto mode)
    refid: str | None = None  # the generated voucher's id and number
    refno: str | None = None
    detail_ids: list[str] = field(default_factory=list)
    generated_wall: datetime | None = None


@dataclass
class Company:
    code: str  # org_company_code
    name: str
    tax_code: str
    access_code: str
    callback_url: str | None
    # read-side master data by get_dictionary data_type (1 account objects … 6 organisation units)
    dictionary: dict[int, list[dict]] = field(default_factory=dict)
    deleted: dict[int, list[dict]] = field(default_factory=dict)
    proposals: dict[str, Proposal] = field(default_factory=dict)  # org_refid (casefolded) → proposal
    next_refno: dict[str, int] = field(default_factory=dict)  # refno prefix → last number
    dictionary_calls: list[float] = field(default_factory=list)  # clock of recent get_dictionary calls
    # stock on hand: (item code key, stock code key) → [item code, stock code, quantity] (``inventory``)
    balances: dict[tuple[str, str], list] = field(default_factory=dict)
