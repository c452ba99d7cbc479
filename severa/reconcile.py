"""Severa's side of a day's reconciliation (``connectors.registry.SourceAdapter``'s reconciliation hooks).

Where "expected" comes from: the invoices Severa's polling stored (``SyncDocument.source_data``: the bundle
``{"invoice": …, "rows": …}``), each with
the eligibility its target decided; the day is the invoice's own date (``date``, a bare date: the same day
wherever it is read) and the amount ``totalIncludingTax`` in its currency. Severa sends no webhooks: every
invoice is read by a poll (``changedSince``), so no count is asked of it — nothing is lost the way a webhook
is.

The organisation's time zone (the night job's "yesterday") is its own company's country's: Severa
organisations here are Nordic (``SeveraOrganisation.companies[].country``, ISO alpha-2); Helsinki's when it
names none.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from connectors.daycheck import StoredKeys

from .models import SeveraOrganisation

STORED_KEYS = StoredKeys(
    moment="invoice.date",
    amount="invoice.totalIncludingTax.amount",
    currency="invoice.totalIncludingTax.currencyCode",
    default_currency="EUR",
)
ZONES = {
    "FI": "Europe/Helsinki",
    "SE": "Europe/Stockholm",
    "NO": "Europe/Oslo",
    "DK": "Europe/Copenhagen",
    "IS": "Atlantic/Reykjavik",
    "EE": "Europe/Tallinn",
}
DEFAULT_ZONE = "Europe/Helsinki"


def day_zone(connection) -> dt.tzinfo:
    organisation = SeveraOrganisation.objects.filter(vat_number=connection.source_key).first()
    companies = (organisation.companies if organisation else None) or []
    own = next((c for c in companies if c.get("vat_number") == connection.source_key), None)
    country = str(((own or (companies[0] if companies else {})) or {}).get("country") or "").upper()
    return ZoneInfo(ZONES.get(country, DEFAULT_ZONE))
