"""Reading the JSON envelopes of services that vary their keys' casing and nest JSON inside strings (MISA's
meInvoice and AMIS both do), and masking what such an envelope carries before it is logged."""

import json
from typing import Any

from .redaction import REDACTED


def pick(obj: Any, *names: str, snake_case: bool = False) -> Any:
    """The first non-null value among ``names``, whatever the casing of the keys (``ErrorCode`` and
    ``errorCode`` are one key); ``snake_case``: ``error_code`` is the same key too."""
    if not isinstance(obj, dict):
        return None

    def normal(name) -> str:
        name = str(name).lower()
        return name.replace("_", "") if snake_case else name

    lowered = {normal(key): value for key, value in obj.items()}
    for name in names:
        if (value := lowered.get(normal(name))) is not None:
            return value
    return None


def json_inside(value: Any) -> Any:
    """A JSON document sent as a string inside the JSON, parsed; a token, a link or any other plain string
    stays a string."""
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def mask_data(body: Any) -> Any:
    """The envelope with its ``Data`` masked (a token, an invoice's buyer): what may be logged of it."""
    if not isinstance(body, dict):
        return body
    return {key: (REDACTED if str(key).lower() == "data" and value else value) for key, value in body.items()}
