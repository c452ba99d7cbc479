"""Reading a stored mapping (JSON a merchant saved through a form, or wrote by hand): each reader checks one
field and names it in the error, so "returns.on_refund: 'x' is not one of adjust, replace, manual" tells a
person exactly what to fix. Every target's mapping module reads with these."""

from typing import Any


class MappingError(ValueError):
    """A stored mapping value is invalid; the message names the field."""


def at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def section(data: Any, where: str) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MappingError(f"{where}: expected an object, got {type(data).__name__}")
    return data


def text(
    data: dict, key: str, default: str, where: str, *, allow_empty: bool = False, numbers: bool = False
) -> str:
    """A text field, stripped; ``numbers``: a whole number written as a number reads as its digits (a
    location id, an account number)."""
    value = data.get(key, default)
    if value is None:
        value = default
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise MappingError(f"{at(where, key)}: expected text, got {type(value).__name__}")
    value = value.strip()
    if not value and not allow_empty:
        raise MappingError(f"{at(where, key)}: must not be empty")
    return value


def choice(data: dict, key: str, default: str, choices: tuple[str, ...], where: str, **options) -> str:
    value = text(data, key, default, where, **options)
    if value not in choices:
        raise MappingError(f"{at(where, key)}: {value!r} is not one of {', '.join(choices)}")
    return value


def boolean(data: dict, key: str, default: bool, where: str) -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise MappingError(f"{at(where, key)}: expected true or false, got {value!r}")
    return value
