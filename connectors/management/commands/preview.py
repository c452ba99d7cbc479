"""`manage.py preview --target TARGET --org SOURCE_ID OBJECT.json`: what would happen to one source object
(an order), on which account, why, and the document it would become — as one JSON object. Writes nothing."""

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from connectors import registry
from connectors.models import Connection


class Command(BaseCommand):
    help = (
        "Print, as one JSON object, what would happen to a source object: the account, why, and the document."
    )

    target_name: str | None = None  # a fixed target (an alias of this command sets it)

    def add_arguments(self, parser):
        if self.target_name is None:
            parser.add_argument(
                "--target", required=True, choices=[a.name for a in registry.targets()], help="The target."
            )
        parser.add_argument(
            "--org",
            required=True,
            help="The connection's source key: a Haravan shop's org id, a Severa organisation's VAT number.",
        )
        parser.add_argument("order", help="The object as JSON (a file, or - for standard input).")
        parser.add_argument(
            "--language",
            default="en",
            choices=[code for code, _name in settings.LANGUAGES],
            help="The language of the reasons (English by default, as the logs are).",
        )

    def handle(self, *args, **opts):
        target = registry.target(self.target_name or opts["target"])
        connection = Connection.objects.filter(
            source_kind__in=target.source_kinds, source_key=opts["org"], target_kind=target.name
        ).first()
        sources = " / ".join(registry.source(name).label for name in target.source_kinds)
        if connection is None:
            raise CommandError(f"No {target.label} connection for {sources} {opts['org']}.")
        try:
            raw = sys.stdin.read() if opts["order"] == "-" else open(opts["order"], encoding="utf-8").read()  # noqa: SIM115
            order = json.loads(raw)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the order: {exc}") from exc
        order = order.get("order", order) if isinstance(order, dict) else order
        if not isinstance(order, dict):
            example = '{"order": {...}}'
            raise CommandError(
                f"The order must be a JSON object (a {connection.source.label} order, or {example})."
            )
        problem = connection.source.shape_problem(order)
        if problem:
            raise CommandError(
                f"The file is not a {connection.source.label} {connection.source.object_label}: {problem}."
            )
        with translation.override(None if opts["language"] == "en" else opts["language"]):
            printed = json.dumps(target.preview(connection, order), ensure_ascii=False, indent=2, default=str)
        self.stdout.write(printed)
