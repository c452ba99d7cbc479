"""Sentences the product stores for people to read later (timeline rows, errors, routing explanations).

A stored sentence is its message id (the English text, with ``%(name)s`` placeholders) and its parameters,
so each reader gets it in their own language when it is shown, not in the language of the worker that
wrote it. ``Text(...)`` calls are found by ``make messages`` like ``gettext`` calls (see the project's
``makemessages`` command), so every message id has its translations in ``locale/``. Parameters that are
themselves sentences are ``Text`` too; anything else (numbers, codes, an outside service's own error
words) is shown verbatim.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Any

from django.utils import translation
from django.utils.functional import Promise


class Text:
    """A message id and its parameters: rendered in the active language (``str``), stored as JSON, logged
    in English (``english``)."""

    __slots__ = ("count", "literal", "msgid", "params", "plural")

    def __init__(self, msgid: str, /, **params: Any):
        self.msgid = str(msgid)
        self.params = {name: _param(value) for name, value in params.items()}
        self.plural, self.count = "", None
        self.literal = False  # True: the template itself is not looked up (how sentences are joined)

    def render(self) -> str:
        """The sentence in the active language (its parameters too)."""
        if self.plural:
            template = translation.ngettext(self.msgid, self.plural, self.count)
        elif self.literal or not self.msgid:
            template = self.msgid
        else:
            template = translation.gettext(self.msgid)
        if not self.params:
            return template
        values = {
            name: value.render() if isinstance(value, Text) else value for name, value in self.params.items()
        }
        try:
            return template % values
        except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder: say it in English
            return self.msgid % values

    def __str__(self) -> str:
        """The sentence in the active language (a page's, an e-mail's): how templates show it."""
        return self.render()

    def english(self) -> str:
        """The sentence in English, the language the product stores and logs in."""
        with translation.override(None):
            return self.render()

    def __repr__(self) -> str:
        return f"Text({self.msgid!r}, **{self.params!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Text) and (self.msgid, self.plural, self.params) == (
            other.msgid,
            other.plural,
            other.params,
        )

    def __hash__(self) -> int:
        return hash(self.msgid)

    def as_json(self) -> dict:
        out: dict[str, Any] = {"id": self.msgid}
        if self.plural:
            out.update(plural=self.plural, count=self.count)
        if self.literal:
            out["literal"] = True
        if self.params:
            out["params"] = {k: v.as_json() if isinstance(v, Text) else v for k, v in self.params.items()}
        return out

    @classmethod
    def from_json(cls, data: Any) -> Text:
        if isinstance(data, str):
            return verbatim(data)
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ValueError(f"not a stored sentence: {data!r}")
        params = {
            name: cls.from_json(value) if isinstance(value, dict) else value
            for name, value in (data.get("params") or {}).items()
        }
        text = cls.__new__(cls)
        text.msgid, text.params = data["id"], params
        text.plural, text.count = str(data.get("plural") or ""), data.get("count")
        text.literal = bool(data.get("literal"))
        return text


def Plural(singular: str, plural: str, count: int, /, **params: Any) -> Text:
    """A sentence whose words depend on a number (``ngettext``): "1 document was", "3 documents were"."""
    text = Text(singular, **params)
    text.plural, text.count = plural, int(count)
    return text


def verbatim(value: Any) -> Text:
    """Words that are shown as they are in every language (an outside service's own message, a name)."""
    text = Text("%(text)s", text=str(value))
    text.literal = True
    return text


def join(texts, separator: str = " ") -> Text:
    """Several sentences shown one after the other."""
    parts = [t if isinstance(t, Text) else verbatim(t) for t in texts if t]
    if not parts:
        return verbatim("")
    template = separator.join(f"%(part{i})s" for i in range(len(parts)))
    text = Text.__new__(Text)
    text.msgid, text.plural, text.count, text.literal = template, "", None, True
    text.params = {f"part{i}": part for i, part in enumerate(parts)}
    return text


def english(value: Any) -> str:
    """A sentence (or plain words) in English, for the logs."""
    return value.english() if isinstance(value, Text) else str(value)


def as_text(value: Any) -> Text:
    """A Text as it is, anything else shown verbatim."""
    return value if isinstance(value, Text) else verbatim(value)


def _param(value: Any) -> Any:
    if isinstance(value, Text) or value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Promise):  # a lazily translated label: kept as its message id
        with translation.override(None):
            return Text(str(value))
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def stored(value: Text | str | None) -> tuple[str, dict | None]:
    """(the English words, the JSON that renders them for a reader) to keep in the database; secrets that
    slipped into a parameter are redacted in both."""
    from .redaction import redact, redact_text

    if not value:
        return "", None
    if not isinstance(value, Text):
        return redact_text(str(value)), None
    return redact_text(value.english()), redact(value.as_json())


def shown(data: dict | None, fallback: str = "") -> str:
    """A stored sentence in the reader's language; what was stored as plain words, as it was (also when the
    words were changed without their sentence: the English words are the truth)."""
    if not data:
        return fallback
    try:
        text = Text.from_json(data)
        if fallback and not fallback.endswith(text.english()):
            return fallback
        return text.render()
    except (TypeError, ValueError):
        return fallback


def words_of(exc: BaseException) -> Text:
    """An exception as people read it: its own sentence when it has one, else its words as they are."""
    text = getattr(exc, "text", None)
    return text if isinstance(text, Text) else verbatim(exc)


# --- words as sources write them ------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def plain(value: Any) -> str:
    """A field as text, spaces collapsed ("" for null)."""
    return " ".join(str(value).split()) if value not in (None, "") else ""


def fold(value: Any) -> str:
    """For comparing names: NFC (Vietnamese may arrive decomposed), case-folded, spaces collapsed."""
    return unicodedata.normalize("NFC", plain(value)).casefold()


def status_key(value: Any) -> str:
    """For comparing status words: "Partially_Paid" and "partiallypaid" are the same status."""
    return plain(value).lower().replace("_", "")


def is_email(value: str) -> bool:
    return bool(_EMAIL.match(value))


def untranslated(text) -> str:
    """A lazily translated label (a choice's label, say) in its source language."""
    with translation.override(None):
        return str(text)
