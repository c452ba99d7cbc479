"""`manage.py preview_invoice --org ORG_ID ORDER.json`: `preview --target meinvoice`, by its older name."""

from connectors.management.commands.preview import Command as PreviewCommand


class Command(PreviewCommand):
    help = (
        "Print, as one JSON object, whether an order would be invoiced, on which MST, why, and the invoice."
    )
    target_name = "meinvoice"
