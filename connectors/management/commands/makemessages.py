"""`makemessages` that also finds the sentences the product stores: ``Text("…")`` and ``Plural("…", "…", n)``
(connectors.text) are message ids like ``gettext("…")``, so they get their translations in locale/."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [
        *makemessages.Command.xgettext_options,
        "--keyword=Text",
        "--keyword=Plural:1,2",
        "--keyword=_lazy",  # gettext_lazy, as the forms import it beside gettext
    ]
