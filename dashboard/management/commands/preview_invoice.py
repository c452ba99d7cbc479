"""`manage.py preview_invoice --org ORG_ID ORDER.json`: what would happen to that order, and why."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from connectors.models import Connection
from dashboard.preview import preview_order


class Command(BaseCommand):
    help = (
        "Print, as one JSON object, whether an order would be invoiced, on which MST, why, and the invoice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The Haravan shop's org id.")
        parser.add_argument("order", help="A Haravan order as JSON (a file, or - for standard input).")

    def handle(self, *args, **opts):
        connection = Connection.objects.filter(
            source_kind="haravan", source_key=opts["org"], target_kind="meinvoice"
        ).first()
        if connection is None:
            raise CommandError(f"No meInvoice connection for Haravan shop {opts['org']}.")
        try:
            raw = sys.stdin.read() if opts["order"] == "-" else open(opts["order"], encoding="utf-8").read()  # noqa: SIM115
            order = json.loads(raw)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the order: {exc}") from exc
        order = order.get("order", order) if isinstance(order, dict) else order
        if not isinstance(order, dict):
            raise CommandError('The order must be a JSON object (a Haravan order, or {"order": {...}}).')
        self.stdout.write(json.dumps(preview_order(connection, order), ensure_ascii=False, indent=2))
