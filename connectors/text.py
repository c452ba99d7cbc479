"""Texts the product stores (timeline messages, routing explanations, run errors) are written in one
language, English, whichever language the person or worker writing them has active; pages translate their
own words around them."""

from django.utils import translation


def untranslated(text) -> str:
    """A lazily translated label (a choice's label, say) in its source language."""
    with translation.override(None):
        return str(text)
