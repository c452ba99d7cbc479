"""What AMIS itself confirms for one company and one day (``TargetAdapter.confirm_day``).

AMIS offers no call that lists the vouchers a company holds (amis.md §3): what it says about them, it says by
callback (§10). So the confirmation is AMIS's own words, as they reached us or as AMIS kept them:

- the callbacks stored at our door (``InboundEvent``, source ``amis``) since the day before the day, read
  again and checked (``verify_callback``) — not our documents' states;
- ``get_call_back_detail_error`` from the day to today: the results AMIS could not deliver.

A generated voucher (data_type 18, or any result with a refno) confirms its order, for the total of its lines
(``amount - discount_amount + vat_amount``); a voucher pushed back (data_type 22, ``custom_param.ModelState``)
adds one (1: entered in AMIS's own screens), changes its total (2: edited) or removes it (3: deleted). A
voucher names its order by our ``org_refid`` or, one entered in AMIS's screens, by ``custom_field1`` (the
source id we write on every voucher): two vouchers for one order are a duplicate.

What the report cannot know: AMIS sends nothing when an accountant deletes a proposal (§11), and no call
lists proposals. A document AMIS accepted as a proposal and that has no generated voucher is therefore
"waiting", with the date AMIS accepted it and what may have happened (the accountant is the one to ask).
A document we recorded as generated with no voucher in AMIS's words (callbacks older than those kept, or a
voucher generated without one) is "missing".
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.utils import timezone

from connectors.daycheck import KnownDocument, TargetDay
from connectors.reconcile import Confirmed
from connectors.text import Text
from syncjobs.models import InboundEvent, SyncDocument

from . import posting
from .client import AppIdNotConfigured, CallbackRejected, undelivered_result, verify_callback
from .services import client_for

GENERATED = 18
PUSHED_BACK = 22
ADDED, EDITED, DELETED = 1, 2, 3
SOURCE_KIND = "amis"


def _amount(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except (InvalidOperation, ValueError):
        return None


def _lines_total(voucher: dict) -> Decimal | None:
    """A voucher's total: its header's ``total_amount`` or, a generated voucher's callback carrying only its
    lines, the sum of what each line charges."""
    total = _amount(voucher.get("total_amount"))
    if total is not None:
        return total
    lines = [line for line in voucher.get("detail") or [] if isinstance(line, dict)]
    if not lines:
        return None
    return sum(
        (
            (_amount(line.get("amount")) or 0)
            - (_amount(line.get("discount_amount")) or 0)
            + (_amount(line.get("vat_amount")) or 0)
            for line in lines
        ),
        Decimal(0),
    )


class _Vouchers:
    """The vouchers AMIS has told of, per order label: refno → [amount or None, deleted]."""

    def __init__(self, known: list[KnownDocument]):
        self.by_ref = {k.target_ref.casefold(): k for k in known if k.target_ref}
        self.by_source = {k.source_id: k for k in known}
        self.held: dict[str, dict[str, list]] = {}

    def document(self, item: dict) -> KnownDocument | None:
        ref = str(item.get("org_refid") or "").strip().casefold()
        return (
            self.by_ref.get(ref) if ref else self.by_source.get(str(item.get("custom_field1") or "").strip())
        )

    def take(self, data_type, model_state, item: dict) -> None:
        doc = self.document(item)
        refno = str(item.get("refno") or "").strip()
        if doc is None or not refno:
            return
        vouchers = self.held.setdefault(doc.label, {})
        entry = vouchers.setdefault(refno, [None, False])
        if data_type == PUSHED_BACK and model_state == DELETED:
            entry[1] = True
            return
        if data_type == PUSHED_BACK or entry[0] is None:
            total = _lines_total(item)
            if total is not None:
                entry[0] = total
        if data_type == PUSHED_BACK and model_state == ADDED:
            entry[1] = False


def confirm_day(account, day: dt.date, known: list[KnownDocument]) -> TargetDay:
    vouchers = _Vouchers(known)
    today = timezone.localdate()
    rows = client_for(account).callback_errors_between(day, max(today, day))
    for row in rows:
        data_type, result = undelivered_result(row)
        vouchers.take(data_type, None, {**result.raw, "org_refid": result.org_refid, "refno": result.refno})
    since = timezone.make_aware(dt.datetime.combine(day - dt.timedelta(days=1), dt.time()))
    bodies = (
        InboundEvent.objects.filter(
            source_kind=SOURCE_KIND, tenant_id=account.connection.tenant_id, received_at__gte=since
        )
        .exclude(status=InboundEvent.Status.REJECTED)
        .order_by("received_at", "pk")
        .values_list("body", flat=True)
    )
    company = account.external_id.strip().casefold()
    for body in bodies.iterator(chunk_size=500):
        try:
            callback = verify_callback(body, settings.AMIS_APP_ID)
        except (CallbackRejected, AppIdNotConfigured):
            continue
        if callback.org_company_code.strip().casefold() != company:
            continue
        if callback.data_type == PUSHED_BACK and isinstance(callback.data, dict):
            items = callback.data.get("voucher")
            items = [items] if isinstance(items, dict) else items if isinstance(items, list) else []
        else:
            items = [
                {**r.raw, "org_refid": r.org_refid, "refno": r.refno} for r in callback.results if r.generated
            ]
        for item in items:
            if isinstance(item, dict):
                vouchers.take(callback.data_type, callback.model_state, item)
    answer = TargetDay()
    amounts = {k.label: k.amount for k in known}
    for label, held in vouchers.held.items():
        live = {refno: total for refno, (total, deleted) in held.items() if not deleted}
        for refno, total in sorted(live.items()):
            answer.confirmed.append(Confirmed(label, refno, total if total is not None else amounts[label]))
        if not live:
            answer.missing[label] = Text(
                "voucher %(refno)s was deleted in AMIS", refno=", ".join(sorted(held))
            )
    for doc in known:
        if (
            doc.label not in vouchers.held
            and doc.state == SyncDocument.State.SENT
            and doc.result.get("amis") == posting.PROPOSAL
        ):
            accepted = (
                timezone.localtime(doc.updated_at).strftime("%Y-%m-%d %H:%M") if doc.updated_at else "?"
            )
            answer.waiting[doc.label] = Text(
                "AMIS accepted the proposal on %(since)s and no voucher has been generated from it since. "
                "AMIS sends no word when an accountant deletes a proposal, so whether it is still there "
                "cannot be known from here: ask the company's accountant.",
                since=accepted,
            )
    return answer
