"""The per-company mapping from sales to MISA AMIS vouchers: plain dataclasses.

One ``Mapping`` per AMIS company (each company has its own branches, warehouses, codes and accounts),
stored as JSON. ``Mapping.from_dict`` fills missing keys with defaults, ignores unknown keys and raises
``MappingError`` (naming the field) for invalid values; ``to_dict`` gives back JSON-ready data that
``from_dict`` reads to an equal mapping.

The layers (see the AMIS reference, §14): branch and warehouse per Haravan location; parties (walk-in and
per-channel fixed account objects, a code rule for named customers and for VAT buyers); items (code = SKU
or a table, units, combos from a table or from the products' tags); tax rates; accounts (TT200 defaults,
overrides per product type); payment gateways (cash or bank); the document policy; shipping.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.mapping import MappingError, at, boolean, choice, section, text
from connectors.sale import BuyerFields, ReadOptions
from connectors.text import fold, plain

# The sales order (ĐĐH) is made when the sale is created, or never.
ORDER_EVENTS = ("created", "never")
# The sales voucher (PBH) is made when the sale is paid, fulfilled, created — or never.
VOUCHER_EVENTS = ("paid", "fulfilled", "created", "never")
GATEWAY_KINDS = ("cash", "bank", "none")  # "none": money that is not cash or bank (a gift voucher)
SHIPPING_MODES = ("line", "leave_out")
# A refund of a sale whose sales voucher AMIS has already generated: a return voucher (12/3540) is posted,
# or a person books it in AMIS.
REFUND_AFTER_GENERATION = ("voucher", "manual")
RULE_MATCHES = ("product_type", "vendor", "sku", "tag")
CUSTOMER_FIELD, TAX_CODE_FIELD = "customer_id", "tax_code"

# AMIS line VAT codes [reference §7]: 0, 5, 8, 10; −1 not subject (KCT), −2 not declared (KKKNT),
# −3 another rate (given in other_vat_rate).
RATE_CODES = {"0": 0, "5": 5, "8": 8, "10": 10, "KCT": -1, "KKKNT": -2}
_OTHER_RATE = re.compile(r"^KHAC:(\d{1,2}(?:\.\d{1,2})?)$")


@dataclass(frozen=True)
class Rate:
    """A VAT rate as AMIS codes it: ``code`` for ``vat_rate``, ``other`` (percent) for ``other_vat_rate``
    when the code is −3, and the share of the pre-VAT amount it adds."""

    name: str  # as the mapping writes it: "10", "KCT", "KHAC:3.5"
    code: int
    other: Decimal | None
    fraction: Decimal


def rate_error(name: Any) -> str | None:
    """None when ``name`` is a rate the mapping may write, else what is wrong with it."""
    if isinstance(name, str) and name in RATE_CODES:
        return None
    match = _OTHER_RATE.match(name) if isinstance(name, str) else None
    if not match:
        return f"{name!r} is not a VAT rate: use 0, 5, 8, 10, KCT, KKKNT or KHAC:x (e.g. KHAC:3.5)"
    if not Decimal(0) < Decimal(match.group(1)) < Decimal(100):
        return f"{name!r}: the percentage of KHAC must be above 0 and below 100"
    return None


def rate(name: str) -> Rate:
    """The AMIS codes of a rate the mapping writes."""
    error = rate_error(name)
    if error:
        raise MappingError(error)
    if name in RATE_CODES:
        code = RATE_CODES[name]
        return Rate(name, code, None, Decimal(max(code, 0)) / 100)
    percent = Decimal(name.removeprefix("KHAC:"))
    return Rate(name, -3, percent, percent / 100)


def rate_of_fraction(fraction: Decimal) -> Rate:
    """The AMIS codes of a rate a sale states itself (0.08 → 8; 0.035 → −3 with 3.5)."""
    percent = (fraction * 100).normalize()
    if percent == percent.to_integral_value() and str(int(percent)) in ("0", "5", "8", "10"):
        return rate(str(int(percent)))
    if not Decimal(0) < percent < Decimal(100):
        raise MappingError(f"{fraction} is not a VAT rate")
    text = format(percent, "f")
    return Rate(f"KHAC:{text}", -3, percent, fraction)


# --- reading helpers: each names the field it reads --------------------------------------------------


def _str(data: dict, key: str, default: str, where: str, *, allow_empty: bool = False) -> str:
    return text(data, key, default, where, allow_empty=allow_empty, numbers=True)


def _optional(data: dict, key: str, where: str) -> str | None:
    return _str(data, key, "", where, allow_empty=True) or None


def _choice(data: dict, key: str, default: str, choices: tuple[str, ...], where: str) -> str:
    return choice(data, key, default, choices, where, numbers=True)


def _rate_name(data: dict, key: str, default: str | None, where: str) -> str | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        value = value.strip().upper().removesuffix("%")
    error = rate_error(value)
    if error:
        raise MappingError(f"{at(where, key)}: {error}")
    return value


def _table(data: dict, key: str, where: str) -> dict:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MappingError(f"{at(where, key)}: expected an object")
    for name in value:
        if not isinstance(name, str) or not name.strip():
            raise MappingError(f"{at(where, key)}: keys must be non-empty text")
    return value


def _str_table(data: dict, key: str, where: str) -> dict[str, str]:
    """An object of text → non-empty text (numbers written as numbers read as their digits)."""
    out = {}
    for name, value in _table(data, key, where).items():
        what = f"{at(where, key)}[{name!r}]"
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise MappingError(f"{what}: expected text, got {type(value).__name__}")
        if not value.strip():
            raise MappingError(f"{what}: must not be empty")
        out[name.strip()] = value.strip()
    return out


def _whole(value: Any, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or value is None:
        raise MappingError(f"{what}: expected a whole number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise MappingError(f"{what}: {value!r} is not a number") from exc
    if not number.is_finite() or number != number.to_integral_value() or number < minimum:
        raise MappingError(f"{what}: expected a whole number, {minimum} or more, got {value!r}")
    return int(number)


def _code_rule(data: dict, key: str, default: str, placeholder: str, where: str) -> str:
    rule = _str(data, key, default, where)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(rule) if name is not None}
    except ValueError as exc:
        raise MappingError(f"{at(where, key)}: {rule!r} is not a code rule: {exc}") from exc
    if names != {placeholder}:
        raise MappingError(
            f"{at(where, key)}: {rule!r} must contain {{{placeholder}}} and nothing else in braces"
        )
    return rule


def lookup(table: dict[str, Any], key: str) -> Any:
    """``table[key]`` compared loosely (case and Unicode form), None when absent."""
    if key in table:
        return table[key]
    wanted = fold(key)
    return next((value for name, value in table.items() if fold(name) == wanted), None)


# --- the layers ---------------------------------------------------------------------------------------


@dataclass
class Location:
    """Where a Haravan location books: the AMIS branch (organisation unit id) and warehouse (stock code).
    No stock code: sales from this location issue no stock."""

    branch_id: str | None = None
    stock_code: str | None = None

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Location:
        data = section(data, where)
        return cls(
            branch_id=_optional(data, "branch_id", where), stock_code=_optional(data, "stock_code", where)
        )

    def to_dict(self) -> dict:
        return {"branch_id": self.branch_id, "stock_code": self.stock_code}


@dataclass
class Parties:
    """Which AMIS account object a sale is made out to.

    A buyer with a tax code (a VAT buyer) is always their own object: the Haravan customer's code when
    there is a customer, else ``tax_code_code``. Otherwise a channel listed in ``by_channel`` (a
    marketplace) books to its fixed object, a named customer to ``customer_code``, anyone else to
    ``walk_in``. Codes made by the rules must not start with a supplier prefix (customers and suppliers
    share AMIS's code space)."""

    walk_in: str = "KHACHLE"
    by_channel: dict[str, str] = field(default_factory=dict)  # source_name → account object code
    customer_code: str = "KH{customer_id}"
    tax_code_code: str = "MST{tax_code}"
    supplier_prefixes: list[str] = field(default_factory=lambda: ["NCC"])

    def __post_init__(self):
        for name in ("customer_code", "tax_code_code"):
            fixed = getattr(self, name).split("{", 1)[0]
            for prefix in self.supplier_prefixes:
                if fold(fixed).startswith(fold(prefix)) or (fixed and fold(prefix).startswith(fold(fixed))):
                    raise MappingError(
                        f"parties.{name}: codes made by {getattr(self, name)!r} could collide with supplier "
                        f"codes starting {prefix!r}"
                    )

    @classmethod
    def from_dict(cls, data: Any, where: str = "parties") -> Parties:
        data = section(data, where)
        prefixes = data.get("supplier_prefixes", ["NCC"])
        if prefixes is None:
            prefixes = ["NCC"]
        if not isinstance(prefixes, list) or not all(isinstance(p, str) and p.strip() for p in prefixes):
            raise MappingError(f"{where}.supplier_prefixes: expected a list of non-empty text values")
        return cls(
            walk_in=_str(data, "walk_in", "KHACHLE", where),
            by_channel=_str_table(data, "by_channel", where),
            customer_code=_code_rule(data, "customer_code", "KH{customer_id}", CUSTOMER_FIELD, where),
            tax_code_code=_code_rule(data, "tax_code_code", "MST{tax_code}", TAX_CODE_FIELD, where),
            supplier_prefixes=[p.strip() for p in prefixes],
        )

    def to_dict(self) -> dict:
        return {
            "walk_in": self.walk_in,
            "by_channel": dict(self.by_channel),
            "customer_code": self.customer_code,
            "tax_code_code": self.tax_code_code,
            "supplier_prefixes": list(self.supplier_prefixes),
        }


@dataclass
class Component:
    """One item of a combo: ``quantity`` of it per combo, and its ``weight`` per unit (say its list price)
    in the split of the combo's price."""

    code: str
    quantity: int = 1
    weight: int = 1
    vat_rate: str | None = None  # None: the combo line's rate

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Component:
        data = section(data, where)
        return cls(
            code=_str(data, "code", "", where),
            quantity=_whole(data.get("quantity", 1), f"{where}.quantity", minimum=1),
            weight=_whole(data.get("weight", 1), f"{where}.weight", minimum=0),
            vat_rate=_rate_name(data, "vat_rate", None, where),
        )

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "quantity": self.quantity,
            "weight": self.weight,
            "vat_rate": self.vat_rate,
        }


@dataclass
class Combo:
    """A product sold as one line and booked as its components (AMIS has no confirmed combo item)."""

    components: list[Component]

    def __post_init__(self):
        if not self.components:
            raise MappingError("a combo needs at least one component")

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Combo:
        data = section(data, where)
        raw = data.get("components")
        if not isinstance(raw, list) or not raw:
            raise MappingError(f"{where}.components: expected a non-empty list of components")
        return cls([Component.from_dict(c, f"{where}.components[{i}]") for i, c in enumerate(raw)])

    def to_dict(self) -> dict:
        return {"components": [c.to_dict() for c in self.components]}


# A combo written on the product itself, as one of its tags: the prefix (``Mapping.combo_tag_prefix``, e.g.
# "combo:") then its components joined by "+", each ``CODE``, ``CODE*QUANTITY`` or ``CODE*QUANTITY@WEIGHT``
# (``CODE@WEIGHT`` too): "combo:AO-1*2+QUAN-1" is two AO-1 and one QUAN-1 per combo, each unit weighing 1 in
# the split of the combo's price; "combo:AO-1*2@3+QUAN-1@4" weighs each AO-1 3 and the QUAN-1 4. Quantities
# are whole, 1 or more (default 1); weights whole, 0 or more (default 1). Spaces around the parts are
# ignored. A tag cannot hold a comma (Haravan separates tags with commas), so codes cannot either.
_DIGITS = re.compile(r"^[0-9]{1,12}$")
_TAG_PART = re.compile(r"^([^*@+\s]+)(?:\*([^*@+]*))?(?:@([^*@+]*))?$")


def combo_tag(tag: str, prefix: str) -> Combo | None:
    """The combo a product tag writes (None when the tag does not start with ``prefix``, compared loosely;
    never with an empty prefix); raises ``MappingError`` saying what is wrong with a malformed one."""
    written = unicodedata.normalize("NFC", plain(tag))
    start = unicodedata.normalize("NFC", plain(prefix))
    if not start or written[: len(start)].casefold() != start.casefold():
        return None
    body = written[len(start) :].strip()
    if not body:
        raise MappingError("it names no component")
    components: list[Component] = []
    for index, raw in enumerate(body.split("+"), start=1):
        part = raw.strip()
        match = _TAG_PART.match(part)
        if not match:
            if not part:
                raise MappingError(f"component {index} is empty")
            raise MappingError(
                f"component {index} ({part!r}) is not CODE, CODE*QUANTITY or CODE*QUANTITY@WEIGHT"
            )
        code, quantity, weight = match.groups()
        if fold(code) in {fold(c.code) for c in components}:
            raise MappingError(f"{code!r} is named twice")
        numbers = []
        for name, value, minimum in (("quantity", quantity, 1), ("weight", weight, 0)):
            value = "1" if value is None else value.strip()
            if not _DIGITS.match(value) or int(value) < minimum:
                raise MappingError(
                    f"the {name} of {code!r} must be a whole number, {minimum} or more, not {value!r}"
                )
            numbers.append(int(value))
        components.append(Component(code=code, quantity=numbers[0], weight=numbers[1]))
    return Combo(components)


@dataclass
class TaxRule:
    """Lines whose ``match`` field equals ``value`` (loosely) get ``rate`` when the sale states none."""

    match: str
    value: str
    rate: str

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TaxRule:
        data = section(data, where)
        name = _rate_name(data, "rate", None, where)
        if name is None:
            raise MappingError(f"{where}.rate: is required")
        return cls(_choice(data, "match", "", RULE_MATCHES, where), _str(data, "value", "", where), name)

    def to_dict(self) -> dict:
        return {"match": self.match, "value": self.value, "rate": self.rate}


@dataclass
class TypeAccounts:
    """Overrides for the lines of one product type: their revenue account, and whether they are services
    (no stock issued, AMIS item type 2)."""

    revenue: str | None = None
    service: bool = False

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TypeAccounts:
        data = section(data, where)
        return cls(revenue=_optional(data, "revenue", where), service=boolean(data, "service", False, where))

    def to_dict(self) -> dict:
        return {"revenue": self.revenue, "service": self.service}


@dataclass
class Accounts:
    """Accounts per document kind (Circular 200 defaults)."""

    receivable: str = "131"
    revenue_goods: str = "5111"
    revenue_services: str = "5113"
    vat_output: str = "33311"
    cash: str = "1111"
    bank: str = "1121"
    inventory: str = "1561"
    cost_of_goods: str = "632"
    sales_returns: str = "5212"
    bank_account_number: str = ""  # the shop's bank account on bank deposits ("" AMIS's default)
    by_product_type: dict[str, TypeAccounts] = field(default_factory=dict)

    _NAMES = (
        "receivable",
        "revenue_goods",
        "revenue_services",
        "vat_output",
        "cash",
        "bank",
        "inventory",
        "cost_of_goods",
        "sales_returns",
    )
    _DEFAULTS = ("131", "5111", "5113", "33311", "1111", "1121", "1561", "632", "5212")

    @classmethod
    def from_dict(cls, data: Any, where: str = "accounts") -> Accounts:
        data = section(data, where)
        values = {
            name: _str(data, name, default, where)
            for name, default in zip(cls._NAMES, cls._DEFAULTS, strict=True)
        }
        for name, value in values.items():
            if not value.isdigit():
                raise MappingError(f"{where}.{name}: {value!r} is not an account number")
        types = {
            name.strip(): TypeAccounts.from_dict(value, f"{where}.by_product_type[{name!r}]")
            for name, value in _table(data, "by_product_type", where).items()
        }
        return cls(
            **values,
            bank_account_number=_str(data, "bank_account_number", "", where, allow_empty=True),
            by_product_type=types,
        )

    def to_dict(self) -> dict:
        out = {name: getattr(self, name) for name in self._NAMES}
        out["bank_account_number"] = self.bank_account_number
        out["by_product_type"] = {name: t.to_dict() for name, t in self.by_product_type.items()}
        return out


@dataclass
class Documents:
    """Which voucher each event of a sale makes."""

    sales_order: str = "never"  # ĐĐH (20/3520): "created" | "never"
    sales_voucher: str = "paid"  # PBH (13): "paid" | "fulfilled" | "created" | "never"
    stock_issue: bool = True  # PBH with a nested stock issue when the location has a warehouse
    receipts: bool = True  # cash receipts / bank deposits for captured payments
    # A PBH whose whole amount was captured through cash (or bank) gateways by its date is "paid at sale"
    # (3531 / 3537) and gets no receipt; otherwise it is unpaid (3530) and each capture a receipt.
    paid_at_sale: bool = True

    @classmethod
    def from_dict(cls, data: Any, where: str = "documents") -> Documents:
        data = section(data, where)
        return cls(
            sales_order=_choice(data, "sales_order", "never", ORDER_EVENTS, where),
            sales_voucher=_choice(data, "sales_voucher", "paid", VOUCHER_EVENTS, where),
            stock_issue=boolean(data, "stock_issue", True, where),
            receipts=boolean(data, "receipts", True, where),
            paid_at_sale=boolean(data, "paid_at_sale", True, where),
        )

    def to_dict(self) -> dict:
        return {
            "sales_order": self.sales_order,
            "sales_voucher": self.sales_voucher,
            "stock_issue": self.stock_issue,
            "receipts": self.receipts,
            "paid_at_sale": self.paid_at_sale,
        }


@dataclass
class Shipping:
    """Shipping charged to the buyer: a service line, or left out of the books (the shop treats it as the
    carrier's money). Left out, the vouchers total what the buyer paid less the shipping."""

    mode: str = "line"
    item_code: str = "PHIVANCHUYEN"
    name: str = "Phí vận chuyển"
    unit: str = "Lần"
    vat_rate: str | None = None  # None: the default rate

    @classmethod
    def from_dict(cls, data: Any, where: str = "shipping") -> Shipping:
        data = section(data, where)
        return cls(
            mode=_choice(data, "mode", "line", SHIPPING_MODES, where),
            item_code=_str(data, "item_code", "PHIVANCHUYEN", where),
            name=_str(data, "name", "Phí vận chuyển", where),
            unit=_str(data, "unit", "Lần", where),
            vat_rate=_rate_name(data, "vat_rate", None, where),
        )

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "item_code": self.item_code,
            "name": self.name,
            "unit": self.unit,
            "vat_rate": self.vat_rate,
        }


@dataclass
class Returns:
    """What a refund does once AMIS has generated the sale's voucher (before that, the waiting proposal is
    deleted and the sale re-posted as it now stands): ``voucher`` posts a sales return (hàng bán trả lại,
    12/3540, debit ``accounts.sales_returns``); ``manual`` leaves it to a person in AMIS."""

    on_refund_after_generation: str = "voucher"

    def __post_init__(self):
        if self.on_refund_after_generation not in REFUND_AFTER_GENERATION:
            raise MappingError(
                f"returns.on_refund_after_generation: {self.on_refund_after_generation!r} is not one of "
                f"{', '.join(REFUND_AFTER_GENERATION)}"
            )

    @classmethod
    def from_dict(cls, data: Any, where: str = "returns") -> Returns:
        data = section(data, where)
        return cls(
            on_refund_after_generation=_choice(
                data, "on_refund_after_generation", "voucher", REFUND_AFTER_GENERATION, where
            )
        )

    def to_dict(self) -> dict:
        return {"on_refund_after_generation": self.on_refund_after_generation}


# --- stock documents (receives, returns, adjustments, transfers): amis.md §5, §6.6, §6.7 -----------------

# Which stock kinds a company posts: each is off until a merchant switches it on (the voucher types are
# partly Unconfirmed at MISA: see the README's "Stock documents in AMIS").
STOCK_KINDS = ("purchase_receive", "purchase_return", "adjustment", "transfer")
# A purchase return: a stock issue (8, debit payable / credit inventory), or the return document itself
RETURN_STYLES = ("issue", "voucher")
# A transfer inside one company: one transfer voucher (AMIS values the goods), or a stock issue from the
# origin + a receipt at the destination at cost (the lines' cost, else the item's purchase price in AMIS)
TRANSFER_STYLES = ("voucher", "issue_receipt")
ADJUSTMENT_REASONS = (
    "newproduct",
    "returned",
    "productionofgoods",
    "damaged",
    "shrinkage",
    "promotion",
    "transfer",
)


def _account_number(data: dict, key: str, default: str, where: str) -> str:
    value = _str(data, key, default, where)
    if not value.isdigit():
        raise MappingError(f"{at(where, key)}: {value!r} is not an account number")
    return value


def _voucher_number(data: dict, key: str, default: int, where: str) -> int:
    return _whole(data.get(key, default), at(where, key), minimum=1)


@dataclass
class ReasonAccounts:
    """The accounts of an adjustment: a receipt (stock found: debit inventory, credit other income 711 or
    surplus 3381) and an issue (stock lost: debit cost 632 or other expenses 811, credit inventory — or
    shortage 1381 on the debit side while it is investigated), amis.md §6.6."""

    receipt_debit: str = "1561"
    receipt_credit: str = "711"
    issue_debit: str = "632"
    issue_credit: str = "1561"

    _NAMES = ("receipt_debit", "receipt_credit", "issue_debit", "issue_credit")

    @classmethod
    def from_dict(cls, data: Any, where: str, default: ReasonAccounts | None = None) -> ReasonAccounts:
        data = section(data, where)
        base = default or cls()
        return cls(**{name: _account_number(data, name, getattr(base, name), where) for name in cls._NAMES})

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self._NAMES}


@dataclass
class Stock:
    """How a company books the shop's stock documents (all kinds off by default).

    Voucher types MISA has not published for certain are settings with the best-known defaults: the
    stock receipt 7 / reftype 2014 (one client copying a doc sample), the stock issue 8 / reftype 2023
    (seen in MISA's UI API), the transfer 9 / reftype 2030 (one test harness; never seen accepted), the
    purchase return 16 / reftype 3030 (no source names one: a guess by analogy, so the default return style
    is a stock issue). The purchase with stock receipt is MISA's own 18 / 302 and is not a setting."""

    purchase_receive: bool = False
    purchase_return: bool = False
    adjustment: bool = False
    transfer: bool = False
    # suppliers: their own account object, coded by this rule from the source's supplier id (it must start
    # with one of ``parties.supplier_prefixes``: customers and suppliers share AMIS's code space); a document
    # whose supplier has no id books to ``default_supplier`` ("": it waits for a person)
    supplier_code: str = "NCC{supplier_id}"
    default_supplier: str = ""
    inventory_account: str = "1561"
    payable_account: str = "331"
    purchase_purpose_code: str = ""  # pu_voucher lines' purchase_purpose_code ("" : not sent)
    receipt_reftype: int = 2014
    issue_reftype: int = 2023
    return_style: str = "issue"
    return_voucher_type: int = 16
    return_reftype: int = 3030
    transfer_style: str = "voucher"
    transfer_voucher_type: int = 9
    transfer_reftype: int = 2030
    adjustment_accounts: ReasonAccounts = field(default_factory=ReasonAccounts)
    by_reason: dict[str, ReasonAccounts] = field(default_factory=dict)  # a reason's own accounts

    def __post_init__(self):
        for reason in self.by_reason:
            if reason not in ADJUSTMENT_REASONS:
                raise MappingError(
                    f"stock.by_reason[{reason!r}]: not an adjustment reason; use one of "
                    f"{', '.join(ADJUSTMENT_REASONS)}"
                )

    @property
    def kinds(self) -> tuple[str, ...]:
        """The stock kinds switched on."""
        return tuple(kind for kind in STOCK_KINDS if getattr(self, kind))

    def accounts_for(self, reason: str) -> ReasonAccounts:
        return self.by_reason.get(reason) or self.adjustment_accounts

    @classmethod
    def from_dict(cls, data: Any, where: str = "stock") -> Stock:
        data = section(data, where)
        default_accounts = ReasonAccounts.from_dict(
            data.get("adjustment_accounts"), f"{where}.adjustment_accounts"
        )
        by_reason = {
            name.strip(): ReasonAccounts.from_dict(value, f"{where}.by_reason[{name!r}]", default_accounts)
            for name, value in _table(data, "by_reason", where).items()
        }
        return cls(
            **{kind: boolean(data, kind, False, where) for kind in STOCK_KINDS},
            supplier_code=_code_rule(data, "supplier_code", "NCC{supplier_id}", "supplier_id", where),
            default_supplier=_str(data, "default_supplier", "", where, allow_empty=True),
            inventory_account=_account_number(data, "inventory_account", "1561", where),
            payable_account=_account_number(data, "payable_account", "331", where),
            purchase_purpose_code=_str(data, "purchase_purpose_code", "", where, allow_empty=True),
            receipt_reftype=_voucher_number(data, "receipt_reftype", 2014, where),
            issue_reftype=_voucher_number(data, "issue_reftype", 2023, where),
            return_style=_choice(data, "return_style", "issue", RETURN_STYLES, where),
            return_voucher_type=_voucher_number(data, "return_voucher_type", 16, where),
            return_reftype=_voucher_number(data, "return_reftype", 3030, where),
            transfer_style=_choice(data, "transfer_style", "voucher", TRANSFER_STYLES, where),
            transfer_voucher_type=_voucher_number(data, "transfer_voucher_type", 9, where),
            transfer_reftype=_voucher_number(data, "transfer_reftype", 2030, where),
            adjustment_accounts=default_accounts,
            by_reason=by_reason,
        )

    def to_dict(self) -> dict:
        return {
            **{kind: getattr(self, kind) for kind in STOCK_KINDS},
            "supplier_code": self.supplier_code,
            "default_supplier": self.default_supplier,
            "inventory_account": self.inventory_account,
            "payable_account": self.payable_account,
            "purchase_purpose_code": self.purchase_purpose_code,
            "receipt_reftype": self.receipt_reftype,
            "issue_reftype": self.issue_reftype,
            "return_style": self.return_style,
            "return_voucher_type": self.return_voucher_type,
            "return_reftype": self.return_reftype,
            "transfer_style": self.transfer_style,
            "transfer_voucher_type": self.transfer_voucher_type,
            "transfer_reftype": self.transfer_reftype,
            "adjustment_accounts": self.adjustment_accounts.to_dict(),
            "by_reason": {name: accounts.to_dict() for name, accounts in self.by_reason.items()},
        }


def _buyer_fields(data: Any, where: str = "buyer") -> BuyerFields:
    data = section(data, where)
    return BuyerFields(
        tax_code=_str(data, "tax_code", "vat_tax_code", where),
        legal_name=_str(data, "legal_name", "vat_company_name", where),
        address=_str(data, "address", "vat_company_address", where),
        email=_str(data, "email", "vat_email", where),
        use_billing_company=boolean(data, "use_billing_company", True, where),
    )


@dataclass
class Mapping:
    """Everything one AMIS company needs to book a sale."""

    locations: dict[str, Location] = field(default_factory=dict)  # Haravan location id → branch, warehouse
    default_branch_id: str | None = None  # for sales from a location not listed
    parties: Parties = field(default_factory=Parties)
    item_codes: dict[str, str] = field(default_factory=dict)  # SKU → AMIS item code (default: the SKU)
    default_unit: str = "Cái"
    units: dict[str, str] = field(default_factory=dict)  # AMIS item code → its main unit
    combos: dict[str, Combo] = field(default_factory=dict)  # the combo's item code → its components
    # Combos written on the products' tags (see ``combo_tag``): the tag's prefix, "" for none. A combo of
    # the ``combos`` table wins over a tag for the same code.
    combo_tag_prefix: str = ""
    # An item code the company's master data lacks: created in AMIS with the voucher (True), or the order
    # waits for a person with the missing codes listed (False)
    create_missing_items: bool = False
    default_vat_rate: str = "10"
    tax_rules: list[TaxRule] = field(default_factory=list)  # first match wins
    accounts: Accounts = field(default_factory=Accounts)
    gateways: dict[str, str] = field(default_factory=dict)  # gateway name → cash | bank | none
    default_gateway: str | None = None  # for gateways not listed (None: such a capture holds the sale)
    documents: Documents = field(default_factory=Documents)
    shipping: Shipping = field(default_factory=Shipping)
    returns: Returns = field(default_factory=Returns)
    buyer: BuyerFields = field(default_factory=BuyerFields)
    stock: Stock = field(default_factory=Stock)  # stock documents (see ``Stock``)

    def __post_init__(self):
        fixed = self.stock.supplier_code.split("{", 1)[0]
        if not any(fold(fixed).startswith(fold(prefix)) for prefix in self.parties.supplier_prefixes):
            raise MappingError(
                f"stock.supplier_code: {self.stock.supplier_code!r} must start with a supplier prefix "
                f"({', '.join(self.parties.supplier_prefixes)}): customers and suppliers share AMIS's codes"
            )
        if "," in self.combo_tag_prefix or "+" in self.combo_tag_prefix:
            raise MappingError(
                f"combo_tag_prefix: {self.combo_tag_prefix!r} cannot hold a comma (Haravan separates tags "
                "with commas) or a + (it joins the components)"
            )
        error = rate_error(self.default_vat_rate)
        if error:
            raise MappingError(f"default_vat_rate: {error}")
        for name, kind in self.gateways.items():
            if kind not in GATEWAY_KINDS:
                raise MappingError(f"gateways[{name!r}]: {kind!r} is not one of {', '.join(GATEWAY_KINDS)}")
        if self.default_gateway is not None and self.default_gateway not in GATEWAY_KINDS:
            raise MappingError(
                f"default_gateway: {self.default_gateway!r} is not one of {', '.join(GATEWAY_KINDS)}"
            )

    @property
    def read_options(self) -> ReadOptions:
        return ReadOptions(buyer=self.buyer)

    @classmethod
    def from_dict(cls, data: Any) -> Mapping:
        data = section(data, "amis mapping")
        raw_rules = data.get("tax_rules") or []
        if not isinstance(raw_rules, list):
            raise MappingError("tax_rules: expected a list of rules")
        return cls(
            locations={
                name.strip(): Location.from_dict(value, f"locations[{name!r}]")
                for name, value in _table(data, "locations", "").items()
            },
            default_branch_id=_optional(data, "default_branch_id", ""),
            parties=Parties.from_dict(data.get("parties")),
            item_codes=_str_table(data, "item_codes", ""),
            default_unit=_str(data, "default_unit", "Cái", ""),
            units=_str_table(data, "units", ""),
            combos={
                name.strip(): Combo.from_dict(value, f"combos[{name!r}]")
                for name, value in _table(data, "combos", "").items()
            },
            combo_tag_prefix=_str(data, "combo_tag_prefix", "", "", allow_empty=True),
            create_missing_items=boolean(data, "create_missing_items", False, ""),
            default_vat_rate=_rate_name(data, "default_vat_rate", "10", "") or "10",
            tax_rules=[TaxRule.from_dict(r, f"tax_rules[{i}]") for i, r in enumerate(raw_rules)],
            accounts=Accounts.from_dict(data.get("accounts")),
            gateways=_str_table(data, "gateways", ""),
            default_gateway=_optional(data, "default_gateway", ""),
            documents=Documents.from_dict(data.get("documents")),
            shipping=Shipping.from_dict(data.get("shipping")),
            returns=Returns.from_dict(data.get("returns")),
            buyer=_buyer_fields(data.get("buyer")),
            stock=Stock.from_dict(data.get("stock")),
        )

    def to_dict(self) -> dict:
        return {
            "locations": {name: loc.to_dict() for name, loc in self.locations.items()},
            "default_branch_id": self.default_branch_id,
            "parties": self.parties.to_dict(),
            "item_codes": dict(self.item_codes),
            "default_unit": self.default_unit,
            "units": dict(self.units),
            "combos": {name: combo.to_dict() for name, combo in self.combos.items()},
            "combo_tag_prefix": self.combo_tag_prefix,
            "create_missing_items": self.create_missing_items,
            "default_vat_rate": self.default_vat_rate,
            "tax_rules": [r.to_dict() for r in self.tax_rules],
            "accounts": self.accounts.to_dict(),
            "gateways": dict(self.gateways),
            "default_gateway": self.default_gateway,
            "documents": self.documents.to_dict(),
            "shipping": self.shipping.to_dict(),
            "returns": self.returns.to_dict(),
            "buyer": {
                "tax_code": self.buyer.tax_code,
                "legal_name": self.buyer.legal_name,
                "address": self.buyer.address,
                "email": self.buyer.email,
                "use_billing_company": self.buyer.use_billing_company,
            },
            "stock": self.stock.to_dict(),
        }
