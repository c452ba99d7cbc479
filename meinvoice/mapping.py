"""The per-connection mapping from sales to meInvoice invoices: plain dataclasses.

Stored as JSON in ``Connection.settings["meinvoice"]``. ``Mapping.from_dict`` fills missing keys with
defaults, ignores unknown keys and raises ``MappingError`` (naming the field) for invalid values;
``to_dict`` gives back JSON-ready data that ``from_dict`` reads to an equal mapping.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.mapping import MappingError, at, boolean, choice, section, text
from connectors.sale import BuyerFields, ReadOptions

FINANCIAL_STATUSES = (
    "pending",
    "authorized",
    "partially_paid",
    "paid",
    "partially_refunded",
    "refunded",
    "voided",
)
FULFILLMENT_STATUSES = ("notfulfilled", "partial", "fulfilled", "restocked")
TRIGGERS = ("paid", "fulfilled", "created")
TAX_RULE_MATCHES = ("product_type", "vendor", "sku", "tag")
EVERY_LINE = "default"  # a reduction rule for every line at the default rate, when that is 10 %
REDUCTION_MATCHES = (EVERY_LINE, *TAX_RULE_MATCHES)
RETURN_ACTIONS = ("adjust", "replace", "manual")
WRITEBACKS = ("note_attribute", "tag")

# The 2 % VAT reduction (goods otherwise at 10 % are invoiced at 8 %; sellers on the direct method reduce
# their percentage of revenue by 20 %), as each decree set it, in force on the invoice date:
REDUCTION_WINDOWS = (
    (dt.date(2022, 2, 1), dt.date(2022, 12, 31), "Nghị định 15/2022/NĐ-CP"),
    (dt.date(2023, 7, 1), dt.date(2023, 12, 31), "Nghị định 44/2023/NĐ-CP"),
    (dt.date(2024, 1, 1), dt.date(2024, 6, 30), "Nghị định 94/2023/NĐ-CP"),
    (dt.date(2024, 7, 1), dt.date(2024, 12, 31), "Nghị định 72/2024/NĐ-CP"),
    (dt.date(2025, 1, 1), dt.date(2025, 6, 30), "Nghị định 180/2024/NĐ-CP"),
    (dt.date(2025, 7, 1), dt.date(2026, 12, 31), "Nghị định 174/2025/NĐ-CP"),  # Nghị quyết 204/2025/QH15
)
# The mapping's default window: the unbroken run of decrees up to today's (an adjustment is priced as its
# original invoice was, so an invoice of 2024 at 8 % stays adjustable).
REDUCTION_FROM = dt.date(2023, 7, 1)
REDUCTION_TO = dt.date(2026, 12, 31)
REDUCED_RATE, REDUCTION_BASE = "8%", "10%"
SALES_PERCENTS = ("1", "2", "3", "5")  # percentage of revenue by activity (direct method)


def reduction_decree(day: dt.date) -> str | None:
    """The decree that grants the 2 % reduction on ``day``, None when none does."""
    for start, end, decree in REDUCTION_WINDOWS:
        if start <= day <= end:
            return decree
    return None


_RATE = re.compile(r"^(?:0%|5%|8%|10%|KCT|KKKNT|KHAC:(\d{1,2}(?:\.\d{1,2})?)%)$")


def vat_rate_error(rate: Any) -> str | None:
    """None when ``rate`` is a meInvoice VAT rate name, else what is wrong with it."""
    if not isinstance(rate, str) or not _RATE.match(rate):
        return f"{rate!r} is not a VAT rate: use 0%, 5%, 8%, 10%, KCT, KKKNT or KHAC:x% (e.g. KHAC:3.5%)"
    match = _RATE.match(rate)
    if match.group(1) is not None and not Decimal(0) < Decimal(match.group(1)) < Decimal(100):
        return f"{rate!r}: the percentage of KHAC must be above 0 and below 100"
    return None


def vat_fraction(rate: str | None) -> Decimal:
    """The VAT share of the net amount: ``"8%"`` → 0.08; KCT, KKKNT and 0% → 0; ``"KHAC:3.5%"`` → 0.035;
    None (a sales invoice: no VAT) → 0."""
    if rate is None:
        return Decimal(0)
    error = vat_rate_error(rate)
    if error:
        raise MappingError(error)
    if rate in ("KCT", "KKKNT"):
        return Decimal(0)
    percent = rate.removeprefix("KHAC:").removesuffix("%")
    return Decimal(percent) / 100


# --- reading helpers: each names the field it reads --------------------------------------------------


def _str_list(data: dict, key: str, default: list[str], where: str) -> list[str]:
    value = data.get(key, default)
    if value is None:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MappingError(f"{at(where, key)}: expected a list of text values")
    out: list[str] = []
    for item in value:
        item = item.strip()
        if not item:
            raise MappingError(f"{at(where, key)}: contains an empty value")
        if item not in out:
            out.append(item)
    return out


def _rate(data: dict, key: str, default: str | None, where: str) -> str | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
    error = vat_rate_error(value)
    if error:
        raise MappingError(f"{at(where, key)}: {error}")
    return value


# --- the sections ---------------------------------------------------------------------------------


@dataclass
class IssuanceConditions:
    """When an order gets an invoice. Empty lists mean "any"; a cancelled order never qualifies."""

    financial_statuses: list[str] = field(default_factory=lambda: ["paid"])
    fulfillment_statuses: list[str] = field(default_factory=list)  # Haravan null is read as notfulfilled
    sources: list[str] = field(default_factory=list)  # matched against source_name (or source)
    min_total: Decimal = Decimal(0)
    trigger: str = "paid"  # paid | fulfilled | created

    @classmethod
    def from_dict(cls, data: Any, where: str = "conditions") -> IssuanceConditions:
        data = section(data, where)
        financial = [s.lower() for s in _str_list(data, "financial_statuses", ["paid"], where)]
        for status in financial:
            if status.replace("_", "") not in {s.replace("_", "") for s in FINANCIAL_STATUSES}:
                raise MappingError(
                    f"{where}.financial_statuses: {status!r} is not one of {', '.join(FINANCIAL_STATUSES)}"
                )
        fulfillment = [s.lower() for s in _str_list(data, "fulfillment_statuses", [], where)]
        for status in fulfillment:
            if status not in FULFILLMENT_STATUSES:
                raise MappingError(
                    f"{where}.fulfillment_statuses: {status!r} is not one of "
                    f"{', '.join(FULFILLMENT_STATUSES)} (Haravan's null counts as notfulfilled)"
                )
        raw_min = data.get("min_total", 0)
        if isinstance(raw_min, bool) or raw_min is None:
            raise MappingError(f"{where}.min_total: expected a number of đồng, got {raw_min!r}")
        try:
            min_total = Decimal(str(raw_min).strip())
        except InvalidOperation as exc:
            raise MappingError(f"{where}.min_total: {raw_min!r} is not a number") from exc
        if not min_total.is_finite() or min_total < 0:
            raise MappingError(f"{where}.min_total: must be a number of đồng, 0 or more")
        return cls(
            financial_statuses=financial,
            fulfillment_statuses=fulfillment,
            sources=_str_list(data, "sources", [], where),
            min_total=min_total,
            trigger=choice(data, "trigger", "paid", TRIGGERS, where),
        )

    def to_dict(self) -> dict:
        return {
            "financial_statuses": list(self.financial_statuses),
            "fulfillment_statuses": list(self.fulfillment_statuses),
            "sources": list(self.sources),
            "min_total": str(self.min_total),
            "trigger": self.trigger,
        }


@dataclass
class TaxRule:
    """Lines whose ``match`` field equals ``value`` (case- and accent-form-insensitive) get ``rate``."""

    match: str
    value: str
    rate: str

    def __post_init__(self):
        if self.match not in TAX_RULE_MATCHES:
            raise MappingError(f"tax rule match {self.match!r} is not one of {', '.join(TAX_RULE_MATCHES)}")
        error = vat_rate_error(self.rate)
        if error:
            raise MappingError(f"tax rule for {self.match} {self.value!r}: {error}")

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TaxRule:
        data = section(data, where)
        if not data:
            raise MappingError(f"{where}: expected an object with match, value and rate")
        return cls(
            match=choice(data, "match", "", TAX_RULE_MATCHES, where),
            value=text(data, "value", "", where),
            rate=_rate(data, "rate", None, where) or _missing(f"{where}.rate"),
        )

    def to_dict(self) -> dict:
        return {"match": self.match, "value": self.value, "rate": self.rate}


def _date(data: dict, key: str, default: dt.date, where: str) -> dt.date:
    value = data.get(key, default)
    if value is None or value == "":
        return default
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise MappingError(f"{at(where, key)}: expected a date (yyyy-mm-dd), got {value!r}")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise MappingError(f"{at(where, key)}: {value!r} is not a date (yyyy-mm-dd)") from exc


@dataclass
class ReductionRule:
    """Lines whose ``match`` field equals ``value`` are goods at 10 % eligible for the 8 % reduction.
    ``match`` "default": every line no tax rule names, when the default rate is 10 % (and the shipping,
    when it has no rate of its own). It is the default: the reduction covers most goods, and a rate of
    10 % written in a tax rule stays 10 %; a shop selling what the law excludes lists its eligible goods
    instead."""

    match: str
    value: str = ""

    @property
    def every_line(self) -> bool:
        return self.match == EVERY_LINE

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ReductionRule:
        data = section(data, where)
        if not data:
            raise MappingError(f"{where}: expected an object with match and value")
        match = choice(data, "match", "", REDUCTION_MATCHES, where)
        return cls(match=match, value="" if match == EVERY_LINE else text(data, "value", "", where))

    def to_dict(self) -> dict:
        return {"match": self.match, "value": self.value}


@dataclass
class Reduction:
    """Which goods at 10 % get the 2 % reduction (8 %), and when: only within ``valid_from``–``valid_to``
    *and* a decree's window, judged on the invoice date (an adjustment's, on its original's date).

    A rate of ``8%`` written in a tax rule or as a default (mappings made before this section) reads as
    "10 %, reduced": it is issued at 8 % within the window and refused outside it. ``shipping``: the
    shipping line is eligible too. ``sales_percent``: for a sales invoice (direct method), the
    percentage of revenue the reduction takes 20 % of (1 goods, 5 services, 3 production/transport, 2 other).
    """

    rules: list[ReductionRule] = field(default_factory=lambda: [ReductionRule(EVERY_LINE)])
    valid_from: dt.date = REDUCTION_FROM
    valid_to: dt.date = REDUCTION_TO
    shipping: bool = False
    sales_percent: str = "1"

    def __post_init__(self):
        if self.valid_to < self.valid_from:
            raise MappingError("reduction.valid_to: the window ends before it starts")
        if self.sales_percent not in SALES_PERCENTS:
            raise MappingError(f"reduction.sales_percent: {self.sales_percent!r} is not one of 1, 2, 3, 5")

    def in_force(self, day: dt.date) -> bool:
        return self.valid_from <= day <= self.valid_to and reduction_decree(day) is not None

    @classmethod
    def from_dict(cls, data: Any, where: str = "reduction") -> Reduction:
        data = section(data, where)
        raw_rules = data.get("rules")
        raw_rules = [{"match": EVERY_LINE}] if raw_rules is None else raw_rules  # [] lists no goods
        if not isinstance(raw_rules, list):
            raise MappingError(f"{where}.rules: expected a list of rules")
        percent = data.get("sales_percent", "1")
        percent = "1" if percent in (None, "") else str(percent).strip().removesuffix("%").strip()
        return cls(
            rules=[ReductionRule.from_dict(r, f"{where}.rules[{i}]") for i, r in enumerate(raw_rules)],
            valid_from=_date(data, "valid_from", REDUCTION_FROM, where),
            valid_to=_date(data, "valid_to", REDUCTION_TO, where),
            shipping=boolean(data, "shipping", False, where),
            sales_percent=percent,
        )

    def to_dict(self) -> dict:
        return {
            "rules": [rule.to_dict() for rule in self.rules],
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat(),
            "shipping": self.shipping,
            "sales_percent": self.sales_percent,
        }


def _missing(where: str):
    raise MappingError(f"{where}: is required")


def buyer_fields_from_dict(data: Any, where: str = "buyer") -> BuyerFields:
    """Which checkout note attributes hold the VAT-invoice buyer (Haravan has no native field)."""
    data = section(data, where)
    return BuyerFields(
        tax_code=text(data, "tax_code", "vat_tax_code", where),
        legal_name=text(data, "legal_name", "vat_company_name", where),
        address=text(data, "address", "vat_company_address", where),
        email=text(data, "email", "vat_email", where),
        use_billing_company=boolean(data, "use_billing_company", True, where),
        id_number=text(data, "id_number", "", where, allow_empty=True),
        passport=text(data, "passport", "", where, allow_empty=True),
        budget_code=text(data, "budget_code", "", where, allow_empty=True),
    )


def buyer_fields_to_dict(fields: BuyerFields) -> dict:
    return {
        "tax_code": fields.tax_code,
        "legal_name": fields.legal_name,
        "address": fields.address,
        "email": fields.email,
        "use_billing_company": fields.use_billing_company,
        "id_number": fields.id_number,
        "passport": fields.passport,
        "budget_code": fields.budget_code,
    }


@dataclass
class ReturnsPolicy:
    on_refund: str = "adjust"  # adjust | replace | manual
    on_cancel_after_issue: str = "adjust"  # adjust | replace | manual
    # Decree 70 (amending Decree 123, art. 19): before an invoice is adjusted or replaced, the seller and a
    # business buyer sign an agreement, and an individual buyer is notified. True: every adjustment and
    # replacement waits until a person gives that document's reference (number and date), printed in its note.
    require_agreement: bool = False

    @classmethod
    def from_dict(cls, data: Any, where: str = "returns") -> ReturnsPolicy:
        data = section(data, where)
        return cls(
            on_refund=choice(data, "on_refund", "adjust", RETURN_ACTIONS, where),
            on_cancel_after_issue=choice(data, "on_cancel_after_issue", "adjust", RETURN_ACTIONS, where),
            require_agreement=boolean(data, "require_agreement", False, where),
        )

    def to_dict(self) -> dict:
        return {
            "on_refund": self.on_refund,
            "on_cancel_after_issue": self.on_cancel_after_issue,
            "require_agreement": self.require_agreement,
        }


@dataclass
class Mapping:
    conditions: IssuanceConditions = field(default_factory=IssuanceConditions)
    # 10 %, reduced to 8 % for the goods the reduction rules list while a decree allows it. "8%" written
    # here or in a tax rule (mappings made before the reduction rules) means "10 %, reduced" and is refused
    # outside the window rather than silently issued at another rate.
    default_vat_rate: str = "10%"
    tax_rules: list[TaxRule] = field(default_factory=list)  # first match wins, in list order
    prices_include_vat: bool = True
    default_unit: str = "Cái"
    unit_by_type: dict[str, str] = field(default_factory=dict)  # product type → unit name
    shipping_item_name: str = "Phí vận chuyển"
    shipping_vat_rate: str | None = None  # None: the default rate
    shipping_unit: str = "Lần"  # the unit name of the shipping line
    buyer: BuyerFields = field(default_factory=BuyerFields)
    returns: ReturnsPolicy = field(default_factory=ReturnsPolicy)
    writeback: str = "note_attribute"  # note_attribute | tag
    payment_method_name: str = "TM/CK"
    reduction: Reduction = field(default_factory=Reduction)
    # Describe items and buyers as the accounting system does: when the shop also posts to an accounting
    # target that offers its records (AMIS), lines take its items' names, units and tax rates, and the buyer
    # its account object's legal name (and tax code), so that the invoice and the books agree.
    describe_as_accounting: bool = False

    def __post_init__(self):
        for name in ("default_vat_rate", "shipping_vat_rate"):
            value = getattr(self, name)
            if value is None and name == "shipping_vat_rate":
                continue
            error = vat_rate_error(value)
            if error:
                raise MappingError(f"{name}: {error}")

    @property
    def read_options(self) -> ReadOptions:
        """What the source's reader needs from this mapping: where the VAT buyer is written."""
        return ReadOptions(buyer=self.buyer)

    @property
    def shipping_rate(self) -> str:
        """The VAT rate of the shipping line."""
        return self.shipping_vat_rate or self.default_vat_rate

    @classmethod
    def from_dict(cls, data: Any) -> Mapping:
        data = section(data, "meinvoice settings")
        raw_rules = data.get("tax_rules")
        raw_rules = [] if raw_rules is None else raw_rules
        if not isinstance(raw_rules, list):
            raise MappingError("tax_rules: expected a list of rules")
        raw_units = data.get("unit_by_type")
        raw_units = {} if raw_units is None else raw_units
        if not isinstance(raw_units, dict):
            raise MappingError("unit_by_type: expected an object of product type → unit name")
        units: dict[str, str] = {}
        for key, value in raw_units.items():
            if not isinstance(key, str) or not key.strip():
                raise MappingError("unit_by_type: product types must be non-empty text")
            if not isinstance(value, str) or not value.strip():
                raise MappingError(f"unit_by_type[{key!r}]: the unit name must be non-empty text")
            units[key.strip()] = value.strip()
        reduction = data.get("reduction")
        if reduction is None and "default_vat_rate" in data:
            # Made before the reduction rules: its rates mean what they said ("8%": 10 %, reduced).
            reduction = {"rules": []}
        return cls(
            conditions=IssuanceConditions.from_dict(data.get("conditions"), "conditions"),
            default_vat_rate=_rate(data, "default_vat_rate", "10%", "") or "10%",
            tax_rules=[TaxRule.from_dict(rule, f"tax_rules[{i}]") for i, rule in enumerate(raw_rules)],
            prices_include_vat=boolean(data, "prices_include_vat", True, ""),
            default_unit=text(data, "default_unit", "Cái", ""),
            unit_by_type=units,
            shipping_item_name=text(data, "shipping_item_name", "Phí vận chuyển", ""),
            shipping_vat_rate=_rate(data, "shipping_vat_rate", None, ""),
            shipping_unit=text(data, "shipping_unit", "Lần", ""),
            buyer=buyer_fields_from_dict(data.get("buyer"), "buyer"),
            returns=ReturnsPolicy.from_dict(data.get("returns"), "returns"),
            writeback=choice(data, "writeback", "note_attribute", WRITEBACKS, ""),
            payment_method_name=text(data, "payment_method_name", "TM/CK", ""),
            reduction=Reduction.from_dict(reduction, "reduction"),
            describe_as_accounting=boolean(data, "describe_as_accounting", False, ""),
        )

    def to_dict(self) -> dict:
        return {
            "conditions": self.conditions.to_dict(),
            "default_vat_rate": self.default_vat_rate,
            "tax_rules": [rule.to_dict() for rule in self.tax_rules],
            "prices_include_vat": self.prices_include_vat,
            "default_unit": self.default_unit,
            "unit_by_type": dict(self.unit_by_type),
            "shipping_item_name": self.shipping_item_name,
            "shipping_vat_rate": self.shipping_vat_rate,
            "shipping_unit": self.shipping_unit,
            "buyer": buyer_fields_to_dict(self.buyer),
            "returns": self.returns.to_dict(),
            "writeback": self.writeback,
            "payment_method_name": self.payment_method_name,
            "reduction": self.reduction.to_dict(),
            "describe_as_accounting": self.describe_as_accounting,
        }
