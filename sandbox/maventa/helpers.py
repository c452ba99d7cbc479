"""What every part of the Maventa simulator shares: the error body ``{code, message, details[]}``
(maventa-severa.md §2 "Errors"), request parsing (JSON, form, multipart), identifiers and time.

The OAuth endpoint answers in RFC 6749 §5.2's dialect instead (``{error, error_description}``) —
sandbox: the reference does not show Maventa's token error body; AX's ``/oauth2/token`` is an OAuth 2
token endpoint."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from typing import Any

from ..core import Request, Response, json_response


class MaventaError(Exception):
    """A refused call: ``status`` with ``{code, message, details}``."""

    def __init__(self, status: int, code: str, message: str, details: list | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details or [])

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message, self.details)


def error_response(status: int, code: str, message: str, details: list | None = None) -> Response:
    return json_response({"code": code, "message": message, "details": list(details or [])}, status)


def invalid(message: str, details: list | None = None) -> MaventaError:
    """400 ``invalid_parameters`` (the code Maventa answers bad input with, §2)."""
    return MaventaError(400, "invalid_parameters", message, details)


def unauthorized(message: str = "Unauthorized", code: str = "auth_unauthorized") -> MaventaError:
    return MaventaError(401, code, message)


def not_found(what: str) -> MaventaError:
    return MaventaError(404, "not_found", f"{what} not found")


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a ``Z`` (sandbox: the exact format AX writes is not in the reference)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def is_email(value: Any) -> bool:
    return isinstance(value, str) and bool(EMAIL_RE.match(value.strip()))


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError):
        return False
    return True


def truthy(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


# --- business ids ---------------------------------------------------------------------------------

SE_ORGNR = re.compile(r"^(\d{6})-?(\d{4})$")
SE_VAT = re.compile(r"^SE(\d{10})01$")
FI_YTUNNUS = re.compile(r"^(\d{7})-(\d)$")
FI_VAT = re.compile(r"^FI(\d{8})$")
FI_OVT = re.compile(r"^0037(\d{8})[0-9A-Z]{0,5}$")


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


def ytunnus_check(first7: str) -> int | None:
    """The Y-tunnus check digit (mod 11, weights 7 9 10 5 8 4 2; remainder 1 is never issued)."""
    remainder = sum(int(d) * w for d, w in zip(first7, (7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    if remainder == 1:
        return None
    return 0 if remainder == 0 else 11 - remainder


def normalise_bid(value: Any, country: str | None = None) -> str | None:
    """One key per company whatever form its business id is written in: ``SE5566778899`` for an orgnr or a
    Swedish VAT number, ``FI23456780`` for a Y-tunnus, a Finnish VAT number or an OVT address; None when
    ``value`` is none of them (or fails its check digit)."""
    text = re.sub(r"\s", "", str(value or "")).upper()
    if ":" in text:  # an EIA: 0007:orgnr, 0037:OVT, 0216:OVT
        text = text.split(":", 1)[1]
    if (m := SE_VAT.match(text)) or (m := SE_ORGNR.match(text)):
        digits = m.group(1) if m.re is SE_VAT else m.group(1) + m.group(2)
        if (country or "SE") == "SE" and luhn_ok(digits):
            return "SE" + digits
        return None
    if (m := FI_YTUNNUS.match(text)) or (m := FI_VAT.match(text)) or (m := FI_OVT.match(text)):
        digits = m.group(1) + m.group(2) if m.re is FI_YTUNNUS else m.group(1)
        if (country or "FI") == "FI" and ytunnus_check(digits[:7]) == int(digits[7]):
            return "FI" + digits
        return None
    return None


def is_vat_number(value: str) -> bool:
    text = re.sub(r"\s", "", value or "").upper()
    return bool(SE_VAT.match(text) or FI_VAT.match(text))


# --- request bodies -------------------------------------------------------------------------------


class Part:
    def __init__(self, name: str, filename: str | None, content_type: str, data: bytes):
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.data = data

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace").strip()


def content_type(request: Request) -> str:
    return (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()


def multipart(request: Request) -> list[Part]:
    """A ``multipart/form-data`` body as its parts, in order; 400 when the body is not one."""
    header = request.headers.get("Content-Type") or ""
    if content_type(request) != "multipart/form-data" or "boundary=" not in header:
        raise invalid("Request must be multipart/form-data")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + header.encode("latin-1") + b"\r\n\r\n" + request.body
    )
    if not message.is_multipart():
        raise invalid("Malformed multipart body")
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            raise invalid("A multipart part has no name")
        payload = part.get_payload(decode=True) or b""
        parts.append(Part(str(name), part.get_filename(), part.get_content_type(), payload))
    return parts


def form_fields(request: Request) -> tuple[dict[str, list[str]], dict[str, Part]]:
    """Fields (name → values; ``key[]`` names keep their brackets) and files of a multipart or
    url-encoded form."""
    if content_type(request) == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qs

        try:
            parsed = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise invalid("Form body is not UTF-8") from exc
        return parsed, {}
    fields: dict[str, list[str]] = {}
    files: dict[str, Part] = {}
    for part in multipart(request):
        if part.filename is not None:
            files[part.name] = part
        else:
            fields.setdefault(part.name, []).append(part.text)
    return fields, files


def first(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return values[0].strip()


def many(fields: dict[str, list[str]], name: str) -> list[str]:
    """``name[]`` (Rack style, what [MAX] sends) or a bare repeated ``name``."""
    return [v.strip() for v in (fields.get(f"{name}[]") or fields.get(name) or []) if v.strip()]


def json_object(request: Request) -> dict:
    if content_type(request) != "application/json":
        raise invalid("Content-Type must be application/json")
    try:
        body = request.json()
    except Exception as exc:  # core.BadRequest
        raise invalid(str(exc)) from exc
    if not isinstance(body, dict):
        raise invalid("Body must be a JSON object")
    return body
