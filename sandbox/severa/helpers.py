"""What the Severa simulator's resources share: Severa's error body, GUIDs, dates, money as JSON numbers."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..core import Response, json_response

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
CENT = Decimal("0.01")


class SeveraError(Exception):
    """An answer in Severa's error dialect: ``{"error": {"httpStatusCode", "type", "details": [{message}]}}``
    (maventa-severa.md §3)."""

    def __init__(self, status: int, kind: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        body = {
            "error": {
                "httpStatusCode": self.status,
                "type": self.kind,
                "details": [{"message": self.message}],
                "stack": None,
            }
        }
        return json_response(body, self.status, self.headers)


def invalid(message: str) -> SeveraError:
    return SeveraError(400, "InvalidParameter", message)


def not_found(what: str, guid: str) -> SeveraError:
    return SeveraError(404, "InvalidParameter", f"{what} with guid {guid} was not found")


def guid(value: str | None, name: str) -> str:
    """A GUID parameter, lowercased; anything else is an InvalidParameter."""
    if not value or not GUID.match(value):
        raise invalid(f"Parameter {name} is not a valid GUID: {value!r}")
    return value.lower()


def new_guid(rng) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def iso(moment: datetime) -> str:
    """Severa's timestamps: UTC ISO 8601 with a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_moment(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (AttributeError, ValueError) as exc:
        raise invalid(f"Parameter {name} is not a valid date and time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def money(value: Decimal) -> float:
    """An amount as the JSON number Severa sends (two decimals)."""
    return float(Decimal(value).quantize(CENT, ROUND_HALF_UP))


def amount(value: Decimal, currency: str) -> dict[str, Any]:
    return {"amount": money(value), "currencyCode": currency, "multiCurrencyInfo": []}


def count_param(value: str | None, name: str, *, default: int, maximum: int, minimum: int = 1) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise invalid(f"Parameter {name} must be an integer: {value!r}") from exc
    if not minimum <= number <= maximum:
        raise invalid(f"Parameter {name} must be between {minimum} and {maximum}")
    return number
