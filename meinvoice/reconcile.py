"""What meInvoice itself confirms for one MST and one day (``TargetAdapter.confirm_day``).

Asked of meInvoice, not read from our rows:

1. ``POST /invoice/paging`` for the day and the next (an order of 23:50 is often invoiced after midnight),
   both series families: every invoice issued those days with its ``TotalAmount``. An invoice names its order
   only by its ``RefID``, our own key (``convert.ref_id_for``: account, order id, kind): no field of MISA's
   invoice carries the shop's order number.
2. ``POST /invoice/status?inputType=2`` (RefIDs, 50 per call) for the documents we recorded as issued that
   the pages did not show (issued later): status rows carry no amount, so those are confirmed at the order's
   amount (an edit there cannot show).

An invoice found with ``IsDelete`` set or ``EInvoiceStatus`` 2 (cancelled) is not confirmed: the report says
so. One the tax authority refused (``SendTaxStatus`` 3 rejected, 4 invalid) is refused.

An invoice issued behind our back (in meInvoice's own screens, another app) has a RefID we never made; ours of
other days are recognised by their RefID. A foreign original invoice is tied to one of the day's orders only
when exactly one order of the day has the same total and the same buyer name (``BuyerLegalName`` or
``BuyerFullName`` as we sent it): it is then a second document for that order ("duplicated", the detail says
how it was matched). A foreign invoice matching no order, or several, is the shop's own business (manual
invoices for walk-in buyers) and is not reported: nothing names its order.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal, InvalidOperation

from connectors.daycheck import KnownDocument, TargetDay
from connectors.reconcile import Confirmed
from connectors.text import Text
from syncjobs.models import SyncDocument

from .client import MAX_PAGE, VN_TZ
from .convert import ref_id_for
from .services import client_for

DAYS_PAGED = 2  # the day and the next
REJECTED_BY_TAX = {3: Text("rejected"), 4: Text("invalid")}


def _amount(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except (InvalidOperation, ValueError):
        return None


def _lower(row: dict) -> dict:
    """The row with its keys lower-cased once (MISA varies their casing), then read directly."""
    return {str(key).lower(): value for key, value in row.items()}


def _name(row: dict) -> str:
    """An invoice as people name it: its 7-character series and number (the client joined the series)."""
    return f"{row.get('invseries') or ''}-{row.get('invno') or ''}"


def _ref(known: KnownDocument, tax_code: str, kind: str) -> str:
    ref = str(known.result.get("ref_id") or ref_id_for(tax_code, known.source_id, kind))
    key = ref.casefold()
    return ref if key == ref else key  # our RefIDs are lower case already: one string, not two


def _same(amount: Decimal | None, ours: Decimal) -> Decimal | None:
    """The invoice's amount, as the order's own object when it is the same number written the same way
    (one Decimal per order held, not two)."""
    if amount is not None and amount == ours and amount.as_tuple() == ours.as_tuple():
        return ours
    return amount


# What a foreign invoice is kept with until the day's pages are read (the rest of its row is let go)
FOREIGN_KEYS = ("refid", "totalamount", "buyerlegalname", "buyerfullname", "invseries", "invno")


def _pages(client, first: dt.date, last: dt.date):
    """Every invoice issued between the two days, one page at a time (a page is let go once read)."""
    skip = 0
    while True:
        page = client.paging(from_date=first, to_date=last, skip=skip, take=MAX_PAGE)
        yield from page.rows
        skip += len(page.rows)
        if not page.rows or skip >= page.total:
            return


def confirm_day(account, day: dt.date, known: list[KnownDocument]) -> TargetDay:
    tax_code = account.external_id
    kind = account.connection.target.order_document_kind
    ours = {_ref(k, tax_code, kind): k for k in known}
    answer = TargetDay()
    client = client_for(account)
    today = dt.datetime.now(VN_TZ).date()
    last = min(day + dt.timedelta(days=DAYS_PAGED - 1), max(today, day))
    seen: set[int] = set()  # our documents the pages showed (their ids: objects the records already hold)
    foreign: list[dict] = []
    for row in _pages(client, day, last):
        row = _lower(row)
        ref = str(row.get("refid") or "").casefold()
        doc = ours.get(ref)
        if doc is None:
            if int(row.get("referencetype") or 0) == 0 and not row.get("isdelete"):
                foreign.append({key: row.get(key) for key in FOREIGN_KEYS})
            continue
        seen.add(doc.id)
        _confirm(answer, doc, row, _same(_amount(row.get("totalamount")), doc.amount))
    unseen = [
        k for k in ours.values() if k.id not in seen and k.state == SyncDocument.State.DONE and k.result
    ]
    by_family: dict[tuple[bool, bool], list[KnownDocument]] = defaultdict(list)
    for k in unseen:
        series = str(k.result.get("inv_series") or k.result.get("series") or "")
        with_code = len(series) < 2 or series[1] == "C"
        calcu = len(series) == 7 and series[4] == "M"
        by_family[(with_code, calcu)].append(k)
    for (with_code, calcu), docs in by_family.items():
        rows = client.status([_ref(k, tax_code, kind) for k in docs], with_code=with_code, calcu=calcu)
        for row in map(_lower, rows):
            doc = ours.get(str(row.get("refid") or "").casefold())
            if doc is not None:
                _confirm(answer, doc, row, doc.amount)
    if foreign:
        _foreign(answer, account, kind, known, foreign)
    return answer


def _confirm(answer: TargetDay, doc: KnownDocument, row: dict, amount: Decimal | None) -> None:
    name = _name(row)
    if row.get("isdelete"):
        answer.missing[doc.label] = Text("meInvoice lists invoice %(number)s as deleted", number=name)
        return
    if int(row.get("einvoicestatus") or 0) == 2:
        answer.missing[doc.label] = Text("invoice %(number)s is cancelled in meInvoice", number=name)
        return
    tax = int(row.get("sendtaxstatus") or 0)
    if tax in REJECTED_BY_TAX:
        answer.refused[doc.label] = Text(
            "the tax authority answered %(answer)s (SendTaxStatus %(code)s) for invoice %(number)s",
            answer=REJECTED_BY_TAX[tax],
            code=tax,
            number=name,
        )
        return
    answer.confirmed.append(Confirmed(doc.label, name, amount if amount is not None else doc.amount))


def _foreign(answer: TargetDay, account, kind: str, known: list[KnownDocument], rows: list[dict]) -> None:
    """Foreign original invoices: ours of other days are left alone; one matching exactly one order of the
    day by total and buyer name is a second document for it."""
    refs = [str(row.get("refid") or "").lower() for row in rows]
    elsewhere = set()
    for start in range(0, len(refs), 500):
        batch = refs[start : start + 500]
        elsewhere.update(
            str(r).casefold()
            for r in SyncDocument.objects.filter(account=account, result__ref_id__in=batch).values_list(
                "result__ref_id", flat=True
            )
        )
    rows = [row for row in rows if str(row.get("refid") or "").casefold() not in elsewhere]
    if not rows:
        return
    by_amount: dict[Decimal, list[KnownDocument]] = defaultdict(list)
    for k in known:
        if k.state != SyncDocument.State.SKIPPED:
            by_amount[k.amount].append(k)
    for row in rows:
        candidates = by_amount.get(_amount(row.get("totalamount")) or Decimal(-1), [])[:200]
        if not candidates:
            continue
        names = {str(row.get(key) or "").strip().casefold() for key in ("buyerlegalname", "buyerfullname")}
        names -= {""}
        buyers = SyncDocument.objects.filter(pk__in=[k.id for k in candidates]).values_list(
            "pk", "payload__BuyerLegalName", "payload__BuyerFullName"
        )
        matching = [
            pk
            for pk, legal, full in buyers
            if names & ({str(legal or "").strip().casefold(), str(full or "").strip().casefold()} - {""})
        ]
        if len(matching) == 1:
            doc = next(k for k in candidates if k.id == matching[0])
            answer.confirmed.append(Confirmed(doc.label, _name(row), _amount(row.get("totalamount"))))
