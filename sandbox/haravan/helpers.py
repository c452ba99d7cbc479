"""What every part of the Haravan simulator shares: its error answer, dates and money as Haravan writes
them, the one computation of an order's totals, and the address shape."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

SHOP_TZ = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh: naive filter dates are read in shop time


# --- errors -----------------------------------------------------------------------------------------


class ApiProblem(Exception):
    """An answer other than success, in Haravan's error dialect."""

    def __init__(self, status: int, errors: Any, headers: dict | None = None):
        super().__init__(str(errors))
        self.status = status
        self.errors = errors
        self.headers = headers or {}


def invalid(field_name: str, message: str) -> ApiProblem:
    return ApiProblem(422, {field_name: [message]})


def not_found(what: str = "Not Found") -> ApiProblem:
    return ApiProblem(404, what)


# --- time -------------------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """Haravan's timestamps: UTC, milliseconds, a trailing Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    text = value.strip().replace(" ", "+")  # an unencoded "+07:00" arrives as " 07:00"
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHOP_TZ)  # sandbox: naive dates are shop time (Asia/Ho_Chi_Minh)
    return moment


# --- money ------------------------------------------------------------------------------------------


def vnd(value: Any, field_name: str) -> int:
    """A whole-VND amount from a JSON number or numeric string (rounded half up)."""
    if isinstance(value, bool) or value is None or value == "":
        raise invalid(field_name, "is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise invalid(field_name, "is not a number") from exc
    if not number.is_finite():
        raise invalid(field_name, "is not a number")
    return int(number.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def money(amount: int | float | Decimal) -> float:
    return float(amount)


def as_int(value: Any, field_name: str) -> int:
    if isinstance(value, bool):
        raise invalid(field_name, "is not an integer")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise invalid(field_name, "is not an integer") from exc
    if not number.is_finite() or number != number.to_integral_value():
        raise invalid(field_name, "is not an integer")
    return int(number)


def round_vnd(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def compute_totals(
    line_items: list[dict], discount_codes: list[dict], shipping_lines: list[dict]
) -> tuple[dict[str, int], list[dict]]:
    """Haravan's order totals from normalised parts (all whole VND ints).

    ``line_items``: ``price``, ``quantity``, ``total_discount``; ``discount_codes``: ``code``, ``type``
    (``fixed_amount`` | ``percentage`` | ``shipping``) and ``value`` (VND, or percent for ``percentage``);
    ``shipping_lines``: ``price``. Returns the totals and the codes with their resolved VND ``amount``.

    total_line_items_price = Σ price × quantity; total_discounts = Σ line discounts + Σ code amounts;
    subtotal_price = total_line_items_price − total_discounts; total_price = subtotal_price + Σ shipping.
    A code never takes more than what is left of the merchandise (subtotal stays ≥ 0); a percentage is
    taken from the merchandise after line discounts; a shipping code never exceeds the shipping charged.
    """
    line_total = sum(int(li["price"]) * int(li["quantity"]) for li in line_items)
    line_discounts = sum(
        min(int(li.get("total_discount") or 0), int(li["price"]) * int(li["quantity"])) for li in line_items
    )
    shipping = sum(int(s["price"]) for s in shipping_lines)
    base = line_total - line_discounts
    remaining, shipping_left = base, shipping
    resolved = []
    for code in discount_codes:
        kind = code.get("type") or "fixed_amount"
        value = Decimal(str(code.get("value", 0) or 0))
        if kind == "percentage":
            pct = min(max(value, Decimal(0)), Decimal(100))
            amount = round_vnd(Decimal(base) * pct / Decimal(100))
        elif kind == "shipping":
            amount = min(round_vnd(value), shipping_left)
        else:
            amount = round_vnd(value)
        amount = max(0, min(amount, remaining))
        remaining -= amount
        if kind == "shipping":
            shipping_left -= amount
        resolved.append({"code": code.get("code") or "", "amount": amount, "type": kind})
    total_discounts = line_discounts + sum(c["amount"] for c in resolved)
    subtotal = line_total - total_discounts
    totals = {
        "total_line_items_price": line_total,
        "total_discounts": total_discounts,
        "subtotal_price": subtotal,
        "total_shipping": shipping,
        "total_price": subtotal + shipping,
    }
    return totals, resolved


# --- records ----------------------------------------------------------------------------------------

ADDRESS_FIELDS = (
    "address1",
    "address2",
    "city",
    "company",
    "country",
    "first_name",
    "last_name",
    "phone",
    "province",
    "zip",
    "name",
    "province_code",
    "country_code",
    "district",
    "district_code",
    "ward",
    "ward_code",
)


def address(raw: Any, *, new_id: Callable[[], int] | None) -> dict:
    """An address as Haravan answers it. Billing and customer addresses carry an id (``new_id`` numbers
    one that has none); a shipping address has coordinates instead."""
    raw = raw if isinstance(raw, dict) else {}
    out = {k: raw.get(k) for k in ADDRESS_FIELDS}
    out["country"] = out["country"] or "Vietnam"
    out["country_code"] = out["country_code"] or "VN"
    if not raw.get("name"):
        # Haravan's own spacing: "<last> <first>", a leading space when there is no last name
        out["name"] = f"{out['last_name'] or ''} {out['first_name'] or ''}"
    if new_id is not None:
        out["id"] = raw.get("id") or new_id()
        out["default"] = bool(raw.get("default", True))
    else:
        out["latitude"] = 0.0
        out["longitude"] = 0.0
    return out


def split_tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return [t.strip() for t in str(value).split(",") if t.strip()]


# --- plumbing ---------------------------------------------------------------------------------------


def with_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def setting(name: str, default: Any) -> Any:
    """A Django setting when Django is configured; the simulator also runs without it."""
    try:
        from django.conf import settings

        if settings.configured:
            return getattr(settings, name, default)
    except Exception:  # noqa: S110 - the simulator also runs without Django
        pass
    return default
