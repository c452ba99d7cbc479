"""What Maventa itself confirms for one company and one day (``TargetAdapter.confirm_day``).

Asked of Maventa: ``GET /v1/invoices?direction=SENT&created_at_start=…`` (``direction`` defaults to
RECEIVED), 100 per page, created since the day before the invoices' date (an invoice is sent on or after its
date). A Maventa invoice names its Severa invoice by its id (``result.maventa_id``, and the uuid we
sent it under) and by its ``number`` (the Severa invoice number, which is how people name it): two Maventa
invoices with one number — one uploaded in Maventa's own screens, say — are a duplicate. Its ``sum`` (tax
included) is the amount confirmed.

An invoice Maventa could not deliver (``status`` FAILED) is not confirmed: it is refused, with Maventa's
own words (its latest ERROR action). One still PENDING is confirmed: Maventa holds it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from connectors.daycheck import KnownDocument, TargetDay
from connectors.reconcile import Confirmed
from connectors.text import Text, verbatim

from .services import client_for


def _amount(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except (InvalidOperation, ValueError):
        return None


def _error_of(row: dict) -> str:
    errors = [a for a in row.get("actions") or [] if isinstance(a, dict) and a.get("type") == "ERROR"]
    return str(errors[-1].get("message") or "") if errors else ""


def confirm_day(account, day: dt.date, known: list[KnownDocument]) -> TargetDay:
    by_id: dict[str, KnownDocument] = {}
    for doc in known:
        for key in (doc.result.get("maventa_id"), doc.target_ref):
            if key:
                by_id[str(key).casefold()] = doc
    by_number = {doc.label: doc for doc in known}
    start = timezone.make_aware(dt.datetime.combine(day - dt.timedelta(days=1), dt.time()), dt.UTC)
    answer = TargetDay()
    for row in client_for(account).sent_invoices(created_from=start):
        number = str(row.get("number") or "")
        doc = by_id.get(str(row.get("id") or "").casefold()) or by_number.get(number)
        if doc is None:
            continue
        if str(row.get("status") or "").upper() == "FAILED":
            answer.refused[doc.label] = Text(
                "Maventa could not deliver invoice %(number)s: %(error)s",
                number=number or doc.label,
                error=verbatim(_error_of(row) or "FAILED"),
            )
            continue
        amount = _amount(row.get("sum"))
        answer.confirmed.append(
            Confirmed(doc.label, str(row.get("id")), amount if amount is not None else doc.amount)
        )
    return answer
