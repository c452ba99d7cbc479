"""`manage.py report_orders --org ORG --date YYYY-MM-DD [--connection ID] [--json]`: one day reconciled on
every account of the merchant's connections (``syncjobs.reconciliation.check_day``; each account's
``ReconciledDay`` is replaced), printed for people or, with ``--json``, as one object:

``{"date", "accounts": [{"target", "account", "expected": {"count", "total"}, "confirmed": {"count", "total"},
"differences": [{"kind", "source", "target_document", "detail"}]}]}`` — amounts to the đồng / cent. Besides
that contract an account may carry ``"error"`` (the target could not be asked: the day is not known to match),
``"unexpected"`` (documents the target holds that no expected source object explains) and ``"stock"`` (an
accounting target's stock against the source's on hand, per SKU and place, on the latest day)."""

import datetime as dt
import json
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from connectors.models import Connection, Tenant
from connectors.money import quantum, round_half_up
from syncjobs.reconciliation import check_day

CONTRACT_KEYS = ("kind", "source", "target_document", "detail")


def number(amount: Decimal, currency: str) -> int | float:
    """An amount as a JSON number, to the đồng (VND: an integer) or the cent."""
    step = quantum(currency)
    value = round_half_up(Decimal(amount), step)
    return int(value) if step >= 1 else float(value)


def account_json(row) -> dict:
    out = {
        "target": row.connection.target_kind,
        "account": row.account.external_id,
        "expected": {"count": row.expected_count, "total": number(row.expected_total, row.currency)},
        "confirmed": {"count": row.confirmed_count, "total": number(row.confirmed_total, row.currency)},
        "differences": [{key: diff.get(key) for key in CONTRACT_KEYS} for diff in row.differences],
    }
    if row.error:
        out["error"] = row.error
    if row.unexpected:
        out["unexpected"] = row.unexpected
    if row.stock_differences:
        out["stock"] = row.stock_differences
    return out


class Command(BaseCommand):
    help = "Reconcile one day on every account of a merchant's connections and print the differences."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The merchant (its slug).")
        parser.add_argument("--date", required=True, help="The day, YYYY-MM-DD, in each source's time zone.")
        parser.add_argument("--connection", type=int, help="Only this connection (its id).")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument(
            "--language",
            default="en",
            choices=[code for code, _name in settings.LANGUAGES],
            help="The language of the details (English by default, as the logs are).",
        )

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["org"]).first()
        if tenant is None:
            raise CommandError(f"No merchant with the slug {opts['org']!r}.")
        try:
            day = dt.date.fromisoformat(opts["date"])
        except ValueError as exc:
            raise CommandError(f"--date must be a day as YYYY-MM-DD, not {opts['date']!r}.") from exc
        connections = Connection.objects.filter(tenant=tenant, enabled=True).order_by("pk")
        if opts["connection"] is not None:
            connections = connections.filter(pk=opts["connection"])
            if not connections.exists():
                raise CommandError(f"{tenant.slug} has no enabled connection {opts['connection']}.")
        rows = []
        for connection in connections:
            rows.extend(check_day(connection, day))
        with translation.override(None if opts["language"] == "en" else opts["language"]):
            if opts["json"]:
                report = {"date": day.isoformat(), "accounts": [account_json(row) for row in rows]}
                self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
            else:
                self.stdout.write(self.text(day, rows))

    def text(self, day, rows) -> str:
        from connectors.money import amount_text
        from connectors.text import shown

        lines = [f"Reconciliation of {day.isoformat()}"]
        if not rows:
            lines.append("  (no accounts)")
        for row in rows:
            status = (
                "ERROR"
                if row.error
                else ("matches" if row.matches else f"{len(row.differences)} differences")
            )
            lines.append("")
            lines.append(f"{row.account.tag} ({row.connection.name}): {status}")
            lines.append(
                f"  expected  {row.expected_count:>7}  {amount_text(row.expected_total, row.currency)}"
            )
            lines.append(
                f"  confirmed {row.confirmed_count:>7}  {amount_text(row.confirmed_total, row.currency)}"
            )
            if row.error:
                lines.append(f"  ! {row.error_display}")
            texts = row.differences_text or []
            for i, diff in enumerate(row.differences):
                detail = shown(texts[i] if i < len(texts) else None, diff.get("detail", ""))
                document = f" → {diff['target_document']}" if diff.get("target_document") else ""
                lines.append(f"  - {diff['kind']:<10} {diff['source']}{document}: {detail}")
            for doc in row.unexpected or []:
                lines.append(f"  + unexpected {doc['document']} for {doc['source']} ({doc['amount']})")
            for item in row.stock_differences or []:
                lines.append(
                    f"  ~ stock      {item['sku']} at {item['place']}: source {item['source']}, "
                    f"target {item['target']}"
                )
        return "\n".join(lines) + "\n"
