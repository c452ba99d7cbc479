"""Secret redaction for everything we log or store about an outside call."""

import logging
import re
from typing import Any

REDACTED = "***"

# Lower-cased key names whose values are never written anywhere readable.
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "client_secret",
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "authorization",
        "appid",
        "app_id",
        "access_code",
        "api_key",
        "x-api-key",
        "data_token",
        "user_api_key",
        "company_uuid",
    }
)

_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+")
_KEY_VALUE = re.compile(
    r"(?i)\b(password|client_secret|access_token|refresh_token|appid|app_id|access_code|api_key)"
    r"(\"?\s*[:=]\s*\"?)([^\s\"&,}]+)"
)


def redact_text(text: str) -> str:
    text = _BEARER.sub(r"\1" + REDACTED, text)
    return _KEY_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


# Each integration adds its own (its adapter's ``secret_keys``: a signature header, say) when it registers.
_REGISTERED: set[str] = set()


def register_secret_keys(keys) -> None:
    _REGISTERED.update(str(k).lower() for k in keys)


def redact(value: Any, extra_keys: frozenset[str] = frozenset()) -> Any:
    """A deep copy of value with secret-looking keys masked and bearer tokens cut out of strings."""
    keys = SECRET_KEYS | _REGISTERED | extra_keys
    if isinstance(value, dict):
        return {
            k: (REDACTED if str(k).lower() in keys and v not in (None, "") else redact(v, extra_keys))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, extra_keys) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactingFilter(logging.Filter):
    """Applied to every log handler: no log line carries a token or password, whoever wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if record.args:
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in record.args)
        return True
