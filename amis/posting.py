"""Posting sales to AMIS companies: evaluate → queue → save in batches per company → wait for the callbacks.

One document per voucher: the sales voucher (PBH, the order's own document), the sales order (ĐĐH),
a receipt per captured payment, a sales return per refund and one for a cancellation after the voucher was
generated. Each is sent under its ``org_refid`` (``SyncDocument.target_ref``), derived from (company, kind,
order, revision): AMIS takes a repeated ``org_refid`` as an update of the waiting proposal, so a resend after
a timeout is safe until the accountant generates the voucher, and ``IsCreatedVoucher`` then means "done".

States: queued → sending → sent (AMIS queued it; result["amis"] "sent", then "proposal" once its callback
says the proposal was accepted) → done when the voucher is generated; refused by AMIS → failed, with AMIS's
words; what only a person can fix (a disconnected company, a deleted proposal, a manual returns policy)
→ needs a person. A proposal not generated yet that must change is deleted and sent again under a new
revision; once generated, a change becomes a return voucher or waits for a person — never a second sale.
"""

import datetime as dt
import logging

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from connectors.models import TargetAccount
from connectors.stock import STOCK_KINDS
from connectors.text import Text, join
from syncjobs.models import RETRYABLE_BY_PERSON, SyncAttempt, SyncDocument
from syncjobs.services import Outcome, State, attempt_row, settle, sibling_document

from .convert import (
    BANK_DEPOSIT,
    CASH_RECEIPT,
    SALES_ORDER,
    SALES_VOUCHER,
    ConversionError,
    NothingToReturn,
    captures,
    due_kinds,
    item_dictionary,
    org_refid_for,
    party_dictionary,
    refund_to_return,
    sale_to_vouchers,
    why_not_due,
)
from .mapping import Mapping, MappingError
from .services import mapping_for

log = logging.getLogger(__name__)

OPEN_STATES = frozenset({State.PENDING, State.SKIPPED, State.BLOCKED, State.QUEUED})
RECEIPT, RETURN, CANCEL = "receipt", "return", "cancel"
SENT, PROPOSAL, GENERATED = "sent", "proposal", "generated"  # result["amis"]: how far AMIS got


# --- the timeline ---------------------------------------------------------------------------------------


def _row(action, outcome, message, *, document=None, account=None, client=None, **narrowed):
    account = account if account is not None else document.account
    return attempt_row(
        connection=(document or account).connection,
        document=document,
        account=account,
        action=action,
        outcome=outcome,
        message=message,
        exchange=client.last_exchange if client is not None else None,
        **narrowed,
    )


def _log(action, outcome, message, **kwargs):
    row = _row(action, outcome, message, **kwargs)
    row.save()
    return row


SEND_SOON_SECONDS = 1  # orders queued within this window of one another share one sending task


def _send_soon(account_id: int) -> None:
    """After the commit, a sending task for the company, shared by the documents queued in the next
    second (a burst of orders is one task, not one each): it starts once they are all committed."""
    from .tasks import sync_orders

    def send():
        if not cache.add(f"amis:send-soon:{account_id}", 1, SEND_SOON_SECONDS):
            return  # a task already on its way starts after this commit
        try:
            sync_orders.apply_async(args=(account_id,), countdown=SEND_SOON_SECONDS * 1.5, retry=False)
        except Exception as exc:  # the broker is away: the beat pass posts queued documents anyway
            log.warning("Could not enqueue amis.sync_orders(%s): %s", account_id, exc)

    transaction.on_commit(send)


# --- evaluation: which vouchers an order makes ---------------------------------------------------


def on_document_changed(document: SyncDocument, *, trigger: str = "") -> None:
    """Called inside the intake transaction whenever the order snapshot changed."""
    if document.source_type in STOCK_KINDS:  # a receive, return, adjustment or transfer
        from . import stock_posting

        stock_posting.on_document_changed(document, trigger=trigger)
        return
    if document.kind != SALES_VOUCHER or document.account_id is None:
        return
    evaluate(document)


def sale_of(document: SyncDocument, mapping: Mapping):
    connection = document.connection
    return connection.source.read_sale(connection, document.source_data, mapping.read_options)


def _siblings(document: SyncDocument) -> dict[str, SyncDocument]:
    return {
        d.kind: d
        for d in SyncDocument.objects.filter(
            connection=document.connection,
            account=document.account,
            source_type=document.source_type,
            source_id=document.source_id,
        )
    }


def _document(main: SyncDocument, kind: str, explanation: Text) -> SyncDocument:
    """The one document of this kind for the order (unique per order, company and kind)."""
    return main if kind == main.kind else sibling_document(main, kind, explanation)


def evaluate(main: SyncDocument) -> None:
    """Decide from the newest order what each of its vouchers becomes: not due (with the reason), held
    (what a person must fix), queued, replaced (its proposal deleted first), or a return / cancellation
    once the sale's voucher was generated."""
    if main.source_type in STOCK_KINDS:
        from . import stock_posting

        stock_posting.evaluate(main)
        return
    account = main.account
    try:
        mapping = mapping_for(account)
    except MappingError as exc:
        settle(
            main,
            State.BLOCKED,
            Text("The AMIS mapping of %(tag)s is invalid: %(error)s", tag=account.tag, error=str(exc)),
        )
        return
    sale = sale_of(main, mapping)
    if sale.problems:
        if _open(main):
            settle(main, State.BLOCKED, Text("Nothing posted: %(reason)s", reason=join(sale.problems)))
        return
    documents = _siblings(main)
    if sale.status.cancelled:
        _cancel(main, sale, mapping, documents)
        return
    kinds = due_kinds(sale, mapping)
    if not kinds:
        if _open(main):
            settle(main, State.SKIPPED, why_not_due(sale, mapping))
        return
    company = account.external_id
    try:
        wanted = _wanted(sale, mapping, company, kinds, documents)
        dictionary = _unknown(account, 1, party_dictionary(sale, mapping))
    except ConversionError as exc:
        if _open(main):
            settle(main, State.BLOCKED, Text("Nothing posted: %(reason)s", reason=exc.text))
        return
    missing = _missing_items(account, wanted.values())
    if missing and mapping.create_missing_items:  # created in AMIS by the same save call
        dictionary = [*dictionary, *item_dictionary(list(wanted.values()), missing, mapping)]
    elif missing:
        if _open(main):
            settle(
                main,
                State.BLOCKED,
                Text(
                    "Nothing posted: AMIS company %(company)s has no item with the code(s) %(codes)s. Add "
                    "them in AMIS (or map the SKUs to existing codes), sync master data, then retry.",
                    company=company,
                    codes=", ".join(missing),
                ),
            )
        return
    if SALES_VOUCHER not in wanted and _open(main):
        settle(main, State.SKIPPED, why_not_due(sale, mapping))
    for kind, voucher in wanted.items():
        doc = documents.get(kind) or _document(
            main, kind, Text("Made from order %(order)s.", order=main.source_label)
        )
        _place(doc, voucher, dictionary)
    if main.result.get("amis") == GENERATED:
        _after_generation(main, sale, mapping, documents)


def _open(doc: SyncDocument) -> bool:
    """Whether the document may still be made again from its order: nothing reached AMIS yet. One held
    after AMIS answered (a deleted proposal, a disconnected company) waits for a person's retry, whatever
    the order does meanwhile."""
    if (doc.result or {}).get("delete"):
        return False  # AMIS holds its proposal until the deletion queued for it is done
    return doc.state in OPEN_STATES and not (doc.state == State.BLOCKED and doc.attempts)


def _moment(sale, mapping: Mapping) -> dt.datetime | None:
    """When the sales voucher became due: the last capture for "paid", else the sale's creation."""
    if mapping.documents.sales_voucher == "paid":
        moments = [p.at for p in captures(sale) if p.at is not None]
        if moments:
            return max(moments)
    return None


def _wanted(sale, mapping, company, kinds, documents) -> dict[str, dict]:
    """kind → the voucher it should be now, each under its document's current revision."""
    at = _moment(sale, mapping)
    out = {}
    for voucher in sale_to_vouchers(sale, mapping, company, 0, at=at, kinds=kinds):
        kind = kind_of(voucher, sale, company, 0)
        revision = _revision(documents.get(kind))
        if revision:
            voucher = _at_revision(sale, mapping, company, kind, revision, at)
        out[kind] = voucher
    return out


def _revision(doc: SyncDocument | None) -> int:
    return int((doc.result or {}).get("revision") or 0) if doc is not None else 0


def _at_revision(sale, mapping, company, kind, revision, at) -> dict:
    source_kind = SALES_ORDER if kind == SALES_ORDER else SALES_VOUCHER
    for voucher in sale_to_vouchers(sale, mapping, company, revision, at=at, kinds=(source_kind,)):
        if kind_of(voucher, sale, company, revision) == kind:
            return voucher
    raise ConversionError(
        Text("The %(kind)s of order %(order)s is no longer made.", kind=kind, order=sale.label)
    )


def kind_of(voucher: dict, sale, company: str, revision: int) -> str:
    """Which document of the order a voucher is: receipts are told apart by the payment they book."""
    voucher_type = voucher["voucher_type"]
    if voucher_type == 13:
        return SALES_VOUCHER
    if voucher_type == 20:
        return SALES_ORDER
    for number, payment in enumerate(captures(sale), start=1):
        key = payment.key or str(number)
        for doc in (CASH_RECEIPT, BANK_DEPOSIT):
            if org_refid_for(company, f"{doc}:{key}", sale.source_id, revision) == voucher["org_refid"]:
                return f"{RECEIPT}:{key}"[:30]
    raise ValueError(f"voucher {voucher['org_refid']} is not one of order {sale.label}'s")


def _unknown(account: TargetAccount, data_type: int, items: list[dict]) -> list[dict]:
    """The master-data items the company's copy lacks: what it has (or we created) is not pushed again,
    so an accountant's own changes to a customer in AMIS are not overwritten by every order."""
    from .models import AmisDictionaryEntry
    from .services import FIELDS

    field = FIELDS[data_type][0]
    codes = [str(item.get(field) or "") for item in items]
    known = {
        code.casefold()
        for code in AmisDictionaryEntry.objects.filter(
            account=account, data_type=data_type, code__in=codes
        ).values_list("code", flat=True)
    }
    return [item for item, code in zip(items, codes, strict=True) if code.casefold() not in known]


def _missing_items(account: TargetAccount, vouchers) -> list[str]:
    """Item codes the vouchers use that the company's master data lacks — only once it was synced: a
    company whose items were never read is left to AMIS's own answer."""
    from .models import AmisDictionaryEntry
    from .services import missing_codes

    if not AmisDictionaryEntry.objects.filter(account=account, data_type=2).exists():
        return []
    codes = [d.get("inventory_item_code") for v in vouchers for d in v.get("detail") or []]
    return missing_codes(account, 2, [c for c in codes if c])


def _place(doc: SyncDocument, voucher: dict, dictionary: list[dict]) -> None:
    """Put the voucher a document should be now on it: queued when nothing reached AMIS yet, sent again
    when still in flight, or its proposal replaced (deleted, then sent under a new revision) when AMIS
    holds an older one the accountant has not generated yet."""
    payload = {"voucher": voucher, "dictionary": dictionary}
    if _open(doc):
        doc.payload = payload
        doc.target_ref = voucher["org_refid"]
        doc.result = {
            **_kept(doc.result),
            "revision": _revision(doc),
            "amis": "",
            "made_from": _made_from(doc),
        }
        settle(doc, State.QUEUED, "", note=Text("Queued for AMIS: %(what)s.", what=describe(voucher)))
        _send_soon(doc.account_id)
    elif doc.state == State.RETRYING and doc.payload.get("voucher") != voucher:
        doc.payload = payload  # the next send updates the proposal under the same org_refid
        doc.result = {**doc.result, "made_from": _made_from(doc)}
        doc.save(update_fields=["payload", "result", "updated_at"])
    elif doc.state == State.SENT and _changed(doc.payload.get("voucher"), voucher):
        _replace(
            doc, Text("Order %(order)s changed before AMIS generated its voucher", order=doc.source_label)
        )


def _made_from(doc: SyncDocument) -> str:
    """Which snapshot of the order the voucher was made from (the source's own time of it)."""
    return doc.source_updated_at.isoformat() if doc.source_updated_at else ""


def _kept(result: dict) -> dict:
    return {k: v for k, v in (result or {}).items() if k in ("revision",)}


def _changed(sent: dict | None, now: dict) -> bool:
    """Whether the voucher differs from what AMIS holds (its org_refid aside: a new revision renames it)."""
    if not sent:
        return True
    ignore = ("org_refid", "refid")
    return {k: v for k, v in sent.items() if k not in ignore} != {
        k: v for k, v in now.items() if k not in ignore
    }


def _replace(doc: SyncDocument, why: Text) -> None:
    """The waiting proposal is deleted first; the document is then made again under the next revision."""
    doc.result = {
        **doc.result,
        "delete": {"org_refid": doc.target_ref, "voucher_type": doc.payload["voucher"]["voucher_type"]},
    }
    doc.state, doc.next_retry_at = State.QUEUED, None
    doc.set_error("")
    doc.save()
    _log(
        "evaluate",
        Outcome.INFO,
        Text("%(why)s: its proposal is deleted in AMIS and sent again.", why=why),
        document=doc,
    )
    _send_soon(doc.account_id)


def describe(voucher: dict) -> str:
    kind = f"{voucher['voucher_type']}/{voucher['reftype']}"
    return f"{kind} {voucher['org_refno']} ({voucher['total_amount']:,} VND)"


# --- after the sale's voucher was generated: returns and cancellations -------------------------------


def _cancel(main: SyncDocument, sale, mapping: Mapping, documents: dict) -> None:
    """A cancelled order: what AMIS has not generated yet is withdrawn (never sent, or its proposal
    deleted); a generated sales voucher is reversed by a return voucher, or waits for a person."""
    for doc in documents.values():
        if doc.kind.startswith((RETURN + ":", CANCEL)):
            continue
        if _open(doc):
            settle(
                doc,
                State.SKIPPED,
                Text("Order %(order)s is cancelled: nothing is posted.", order=doc.source_label),
            )
        elif (
            doc.state == State.SENT or (doc.state in (State.RETRYING, State.FAILED) and doc.attempts)
        ) and not doc.result.get("delete"):
            doc.result = {**doc.result, "withdraw": True}
            _replace(
                doc,
                Text(
                    "Order %(order)s was cancelled before AMIS generated its voucher",
                    order=doc.source_label,
                ),
            )
    if main.result.get("amis") == GENERATED:
        _after_generation(main, sale, mapping, documents)


def _after_generation(main: SyncDocument, sale, mapping: Mapping, documents: dict) -> None:
    """Refunds (and a cancellation) of a sale whose voucher AMIS generated: a sales return voucher each,
    per the mapping's returns policy, or a document held for a person with what to do in AMIS."""
    company = main.account.external_id
    changes = [(f"{RETURN}:{r.key}"[:30], r) for r in sale.refunds]
    if sale.status.cancelled:
        changes = [(CANCEL, None)]
    for kind, refund in changes:
        existing = documents.get(kind)
        if existing is not None and existing.state != State.PENDING:
            continue  # made already (a person's retry sets it pending to make it again)
        number = main.result.get("refno") or main.source_label
        what = (
            Text("cancellation of order %(order)s", order=main.source_label)
            if refund is None
            else Text(
                "refund %(refund)s of order %(order)s",
                refund=refund.name or refund.key,
                order=main.source_label,
            )
        )
        if mapping.returns.on_refund_after_generation == "manual":
            reason = Text(
                "The %(what)s changes sales voucher %(number)s, which AMIS already generated; the returns "
                "policy is manual: record the return in AMIS (Bán hàng → Hàng bán trả lại), or switch the "
                "policy and retry.",
                what=what,
                number=number,
            )
            doc = existing or _document(main, kind, reason)
            doc.payload = {}
            settle(doc, State.BLOCKED, reason)
            continue
        try:
            booked = (main.payload or {}).get("voucher", {}).get("total_amount")
            target = refund if refund is not None else _everything_back(sale, booked)
            voucher = refund_to_return(
                sale, target, mapping, company, _revision(existing), at=_when(refund, sale)
            )
        except NothingToReturn:
            continue
        except ConversionError as exc:
            doc = existing or _document(main, kind, Text("Changes sales voucher %(number)s.", number=number))
            settle(
                doc,
                State.BLOCKED,
                Text("Nothing posted for the %(what)s: %(reason)s", what=what, reason=exc.text),
            )
            continue
        doc = existing or _document(
            main, kind, Text("Return for the %(what)s (sales voucher %(number)s).", what=what, number=number)
        )
        _place(doc, voucher, party_dictionary(sale, mapping))


def _when(refund, sale):
    if refund is not None and refund.created_at is not None:
        return refund.created_at
    return sale.cancelled_at


def _everything_back(sale, booked: int | None):
    """A cancelled sale, as one refund of what was sold and not yet returned (restocked, as Haravan's
    cancellation restocks), worth what its sales voucher booked less the money already given back."""
    from connectors.sale import Refund, RefundLine

    returned: dict[str, object] = {}
    for refund in sale.refunds:
        for line in refund.lines:
            returned[line.line_key] = returned.get(line.line_key, 0) + line.quantity
    lines = tuple(
        RefundLine(line_key=line.key, quantity=line.quantity - returned.get(line.key, 0), restock=True)
        for line in sale.lines
        if line.quantity - returned.get(line.key, 0) > 0
    )
    given_back = sum((r.money or 0) for r in sale.refunds)
    money = None if booked is None else booked - given_back
    return Refund(key="cancel", name="cancel", created_at=sale.cancelled_at, lines=lines, money=money)


def _own_request(doc: SyncDocument) -> dict | None:
    """A batch's timeline row shows its own voucher's gist, never the 99 others of the call."""
    voucher = (doc.payload or {}).get("voucher")
    return _summary(voucher) if voucher else {"document": doc.pk}


def _summary(voucher: dict) -> dict:
    keys = ("voucher_type", "reftype", "org_refid", "org_refno", "account_object_code", "total_amount")
    return {**{k: voucher.get(k) for k in keys}, "lines": len(voucher.get("detail") or [])}


def _main_of(doc: SyncDocument) -> SyncDocument | None:
    """The document a sibling was made from: the order's sales voucher, a stock document's own kind."""
    return (
        SyncDocument.objects.filter(
            connection=doc.connection,
            account=doc.account,
            source_type=doc.source_type,
            source_id=doc.source_id,
            kind=doc.source_type if doc.source_type in STOCK_KINDS else SALES_VOUCHER,
        )
        .select_related("account", "connection")
        .first()
    )


def _generated(doc: SyncDocument, facts: dict, client=None, *, note: Text | None = None) -> None:
    """AMIS generated the voucher: the document is done; a sale's returns may follow."""
    now = timezone.now()
    doc.state, doc.next_retry_at, doc.done_at = State.DONE, None, now
    doc.set_error("")
    doc.result = {**doc.result, "amis": GENERATED, **{k: v for k, v in facts.items() if v}}
    doc.save(
        update_fields=[
            "state",
            "next_retry_at",
            "done_at",
            "last_error",
            "last_error_text",
            "result",
            "updated_at",
        ]
    )
    number = doc.result.get("refno") or doc.target_ref
    message = Text(
        "Voucher %(number)s generated in AMIS for order %(order)s.", number=number, order=doc.source_label
    )
    if note is not None:
        message = Text(
            "Voucher %(number)s generated in AMIS for order %(order)s (%(note)s).",
            number=number,
            order=doc.source_label,
            note=note,
        )
    if doc.source_type in STOCK_KINDS:  # a stock document, not an order
        message = Text(
            "Voucher %(number)s generated in AMIS for %(doc)s.", number=number, doc=doc.source_label
        )
    _log("generated", Outcome.OK, message, document=doc, client=client)
    if doc.kind == SALES_VOUCHER and doc.result.get("made_from") != _made_from(doc):
        evaluate(doc)  # the order changed since (a refund, a cancellation): what follows is made now
    elif doc.source_type in STOCK_KINDS:  # a stock document that changed since waits for a person
        main = _main_of(doc)
        if main is not None and doc.result.get("made_from") != _made_from(main):
            evaluate(main)


def _fail(docs, message: Text, client, *, state=State.FAILED) -> None:
    """Permanent trouble: the documents wait for a person, with the reason."""
    now = timezone.now()
    rows = []
    for doc in docs:
        doc.state, doc.next_retry_at, doc.updated_at = state, None, now
        doc.set_error(message)
        rows.append(
            _row("post", Outcome.ERROR, message, document=doc, client=client, request=_own_request(doc))
        )
    SyncDocument.objects.bulk_update(
        docs, ["state", "last_error", "last_error_text", "next_retry_at", "updated_at", "result"]
    )
    SyncAttempt.objects.bulk_create(rows)


# --- people ------------------------------------------------------------------------------------------


def retry(documents, *, user=None) -> int:
    """Single or bulk retry by a person. Never accepted by AMIS: made again from the newest order (the
    mapping may have been fixed) and sent. A proposal AMIS lost or refused: sent again under a new
    revision. Waiting on a retry time: due now."""
    count, accounts = 0, set()
    who = user.get_username() if user is not None else "system"
    for doc in documents:
        with transaction.atomic():
            locked = (
                SyncDocument.objects.select_for_update(of=("self",))
                .select_related("account", "connection")
                .filter(pk=doc.pk)
                .first()
            )
            if locked is None or locked.state not in RETRYABLE_BY_PERSON or locked.account_id is None:
                continue
            _log("retry", Outcome.INFO, Text("Retry asked by %(who)s.", who=who), document=locked)
            if locked.state == State.RETRYING:
                locked.next_retry_at, locked.attempts = timezone.now(), 1
                locked.save(update_fields=["next_retry_at", "attempts", "updated_at"])
            else:
                if (
                    locked.attempts
                ):  # refused, or gone from AMIS: a fresh key, never an update of a deleted one
                    locked.result = {"revision": _revision(locked) + 1}
                    locked.target_ref = ""
                locked.attempts = 0
                locked.state = State.PENDING
                locked.payload = {}
                locked.save()
                main = locked if locked.kind == SALES_VOUCHER else _main_of(locked)
                if main is not None:
                    evaluate(main)
            accounts.add(locked.account_id)
            count += 1
    for account_id in accounts:
        _send_soon(account_id)
    return count
