"""Posting the shop's stock documents (purchase receives, purchase returns, adjustments, transfers) to the
AMIS company that owns their location, through the same path as sales: evaluate → queue → ``sending`` (save in
batches per company) → callbacks → generated.

A source hands each stock document over as a ``SyncDocument`` whose ``source_type`` and ``kind`` are the
stock kind (``connectors.stock``), routed by its location (a transfer by its origin). That document holds the
first voucher the converter makes of it; a second voucher (an adjustment's issue next to its receipt, a
transfer's receipt next to its issue) is a sibling document of kind ``<kind>:<part>``.

What a document becomes: not switched on for the company, or not done at the source → skipped, with the
reason; something only a person can fix (a problem reading it, an item or warehouse AMIS lacks, a location
without a warehouse, a transfer between two companies) → held, with what to do; otherwise queued. A document
that changes before the accountant generates its voucher replaces the waiting proposal (deleted, sent again
under a new revision); once generated, a change waits for a person (a ``<kind>:change`` document says what).
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

from connectors import stock
from connectors.routing import route
from connectors.text import Text, join
from syncjobs.models import SyncDocument
from syncjobs.services import State, settle, sibling_document

from . import stock_convert as sc
from .convert import ConversionError, catalogue_item
from .mapping import Mapping, MappingError
from .posting import (
    GENERATED,
    _changed,
    _missing_items,
    _open,
    _place,
    _replace,
    _revision,
    _unknown,
    describe,
)
from .services import mapping_for

log = logging.getLogger(__name__)

CHANGE = "change"  # the part of a held change after generation


def is_stock(document: SyncDocument) -> bool:
    return document.source_type in stock.STOCK_KINDS


def on_document_changed(document: SyncDocument, *, trigger: str = "") -> None:
    """Called inside the intake transaction whenever a stock document's snapshot changed."""
    if document.kind != document.source_type or document.account_id is None:
        return
    evaluate(document)


def wanted_kinds(connection) -> tuple[str, ...]:
    """The stock kinds at least one company of the connection switched on (a company whose mapping is
    invalid switches nothing on)."""
    wanted: set[str] = set()
    for account in connection.accounts.all():
        try:
            wanted.update(mapping_for(account).stock.kinds)
        except MappingError:
            continue
    return tuple(kind for kind in stock.STOCK_KINDS if kind in wanted)


def _kind_of(main: SyncDocument, part: str, first: bool) -> str:
    return main.kind if first else sc.part_kind(main.source_type, part)[:30]


def _siblings(main: SyncDocument) -> dict[str, SyncDocument]:
    return {
        d.kind: d
        for d in SyncDocument.objects.filter(
            connection=main.connection,
            account=main.account,
            source_type=main.source_type,
            source_id=main.source_id,
        )
    }


def _hold(main: SyncDocument, reason: Text) -> None:
    if _open(main):
        settle(main, State.BLOCKED, reason)


def evaluate(main: SyncDocument) -> None:
    """Decide from the newest snapshot what the document's vouchers become (see the module)."""
    account, connection = main.account, main.connection
    company = account.external_id
    try:
        mapping = mapping_for(account)
    except MappingError as exc:
        _hold(
            main, Text("The AMIS mapping of %(tag)s is invalid: %(error)s", tag=account.tag, error=str(exc))
        )
        return
    kind_words = sc.KIND_WORDS.get(main.source_type, main.source_type)
    if main.source_type not in mapping.stock.kinds:
        if _open(main):
            settle(
                main,
                State.SKIPPED,
                Text(
                    "AMIS company %(company)s does not post %(kind)s documents (switched off in its "
                    "mapping): nothing is posted.",
                    company=company,
                    kind=kind_words,
                ),
            )
        return
    doc = connection.source.read_stock_document(connection, main.source_data)
    documents = _siblings(main)
    if doc.problems:
        _hold(main, Text("Nothing posted: %(reason)s", reason=join(doc.problems)))
        return
    if doc.status == stock.CANCELLED:
        _withdraw(main, doc, documents)
        return
    if doc.status != stock.DONE:
        if _open(main):
            settle(main, State.SKIPPED, sc.why_not_done(doc))
        return
    if doc.kind == stock.TRANSFER:
        held = _other_company(main, doc, mapping)
        if held is not None:
            _hold(main, held)
            return
    try:
        wanted, dictionary = _wanted(main, doc, mapping, company, documents)
    except ConversionError as exc:
        _hold(main, Text("Nothing posted: %(reason)s", reason=exc.text))
        return
    problem = _master_data_problem(account, mapping, wanted.values())
    if isinstance(problem, Text):
        _hold(main, problem)
        return
    dictionary = [
        *dictionary,
        *problem,
    ]  # items AMIS lacks, created with the vouchers when the mapping says so
    generated = [d for d in documents.values() if (d.result or {}).get("amis") == GENERATED]
    if generated:
        _after_generation(main, doc, wanted, generated, documents)
        return
    for kind, voucher in wanted.items():
        target = main if kind == main.kind else _sibling(main, kind, doc)
        _place(target, voucher, dictionary)
    for kind, other in documents.items():
        if kind not in wanted and kind != main.kind and not kind.endswith(":" + CHANGE):
            _drop(other, Text("%(doc)s no longer makes this voucher.", doc=main.source_label))


def _sibling(main: SyncDocument, kind: str, doc) -> SyncDocument:
    return sibling_document(main, kind, Text("Made from %(doc)s.", doc=main.source_label))


def _wanted(main, doc, mapping: Mapping, company: str, documents) -> tuple[dict[str, dict], list[dict]]:
    """kind → the voucher its document should hold now (each at that document's revision), and the
    supplier's account object if AMIS does not have it yet."""
    costs = _costs(main.account, doc, mapping)
    converted = sc.stock_to_vouchers(doc, mapping, company, 0, costs=costs)
    wanted = {}
    for index, part in enumerate(converted.vouchers):
        kind = _kind_of(main, part.part, index == 0)
        revision = _revision(documents.get(kind))
        voucher = part.voucher
        if revision:
            again = sc.stock_to_vouchers(doc, mapping, company, revision, costs=costs)
            voucher = next(v.voucher for v in again.vouchers if v.part == part.part)
        wanted[kind] = voucher
    return wanted, _unknown(main.account, 1, list(converted.dictionary))


def _costs(account, doc, mapping: Mapping) -> dict[str, Decimal]:
    """The purchase price AMIS keeps on the document's items (``unit_price`` of the item, amis.md §8), for
    lines whose source gives no cost."""
    from .models import AmisDictionaryEntry

    codes = set()
    for line in doc.lines:
        try:
            codes.add(sc.item_code(line, mapping, doc))
        except ConversionError:
            continue
    costs = {}
    for entry in AmisDictionaryEntry.objects.filter(account=account, data_type=2, code__in=codes):
        try:
            price = Decimal(str((entry.data or {}).get("unit_price")))
        except (InvalidOperation, ValueError):
            continue
        if price.is_finite() and price > 0:
            costs[entry.code] = price
    return costs


def _master_data_problem(account, mapping: Mapping, vouchers) -> Text | list[dict]:
    """What the company's master data (once synced) lacks: a warehouse holds the document; an item holds it
    unless the mapping creates missing items (their dictionary entries are returned)."""
    from .models import AmisDictionaryEntry
    from .services import missing_codes

    company = account.external_id
    if AmisDictionaryEntry.objects.filter(account=account, data_type=3).exists():
        stocks = [
            d.get(name)
            for v in vouchers
            for d in v["detail"]
            for name in ("stock_code", "from_stock_code", "to_stock_code")
            if d.get(name)
        ]
        gone = missing_codes(account, 3, stocks)
        if gone:
            return Text(
                "Nothing posted: AMIS company %(company)s has no warehouse with the code(s) %(codes)s. Add "
                "them in AMIS (or map the locations to existing warehouses), sync master data, then retry.",
                company=company,
                codes=", ".join(gone),
            )
    missing = _missing_items(account, vouchers)
    if missing and not mapping.create_missing_items:
        return Text(
            "Nothing posted: AMIS company %(company)s has no item with the code(s) %(codes)s. Add them in "
            "AMIS (or map the SKUs to existing codes), sync master data, then retry.",
            company=company,
            codes=", ".join(missing),
        )
    names = {d["inventory_item_code"]: d for v in vouchers for d in v["detail"]}
    items = []
    for code in missing:
        line = names.get(code) or {}
        item = catalogue_item(
            code, line.get("inventory_item_name") or code, line.get("unit_name") or "", mapping
        )
        if item is not None:
            item["inventory_item_code"] = code
            items.append(item)
    return items


def _other_company(main: SyncDocument, doc, mapping: Mapping) -> Text | None:
    """A transfer whose destination another AMIS company owns: what to post in each (held for a person)."""
    connection = main.connection
    decision = route(connection, {"location": [doc.to_location]} if doc.to_location else {})
    other = decision.account
    if other is not None and other.pk == main.account_id:
        return None
    origin = sc.location_for(doc.location, mapping)
    to_stock = None
    if other is not None:
        try:
            found = sc.location_for(doc.to_location, mapping_for(other))
            to_stock = found.stock_code if found else None
        except MappingError:
            to_stock = None
    return sc.cross_company_hold(
        doc,
        from_company=main.account.external_id,
        from_stock=origin.stock_code if origin else None,
        to_company=other.external_id if other is not None else "?",
        to_stock=to_stock,
    )


def _after_generation(main: SyncDocument, doc, wanted: dict, generated: list, documents: dict) -> None:
    """AMIS generated (some of) the document's vouchers: what changed since waits for a person, with what
    the vouchers should now be; a part not generated yet still follows the document."""
    changed = [
        d
        for d in generated
        if d.kind in wanted and _changed((d.payload or {}).get("voucher"), wanted[d.kind])
    ]
    changed += [d for d in generated if d.kind not in wanted]
    if changed:
        numbers = ", ".join(str(d.result.get("refno") or d.target_ref) for d in changed)
        now = "; ".join(describe(v) for v in wanted.values()) or "-"
        _held_change(
            main,
            Text(
                "%(doc)s changed after AMIS generated voucher(s) %(numbers)s from it: nothing is posted "
                "again. Correct them in AMIS by hand — the document now books: %(now)s.",
                doc=main.source_label,
                numbers=numbers,
                now=now,
            ),
        )
    for kind, voucher in wanted.items():
        target = documents.get(kind)
        if target is not None and (target.result or {}).get("amis") == GENERATED:
            continue
        _place(target or _sibling(main, kind, doc), voucher, [])


def _held_change(main: SyncDocument, reason: Text) -> None:
    kind = sc.part_kind(main.source_type, CHANGE)[:30]
    held = sibling_document(main, kind, reason)
    held.payload = {}
    settle(held, State.BLOCKED, reason)


def _drop(doc: SyncDocument, why: Text) -> None:
    """A voucher the document no longer makes: never sent → skipped; waiting in AMIS → withdrawn."""
    if _open(doc):
        settle(doc, State.SKIPPED, why)
    elif (
        doc.state in (State.SENT, State.RETRYING, State.FAILED)
        and doc.attempts
        and not doc.result.get("delete")
    ):
        doc.result = {**doc.result, "withdraw": True}
        _replace(doc, why)


def _withdraw(main: SyncDocument, doc, documents: dict) -> None:
    """A document cancelled at the source: nothing more is posted; a proposal waiting in AMIS is withdrawn;
    a generated voucher waits for a person."""
    why = sc.why_not_done(doc)
    generated = [d for d in documents.values() if (d.result or {}).get("amis") == GENERATED]
    for other in documents.values():
        if other not in generated and not other.kind.endswith(":" + CHANGE):
            _drop(other, why)
    if generated:
        numbers = ", ".join(str(d.result.get("refno") or d.target_ref) for d in generated)
        _held_change(
            main,
            Text(
                "%(doc)s was cancelled after AMIS generated voucher(s) %(numbers)s from it: reverse them in "
                "AMIS by hand.",
                doc=main.source_label,
                numbers=numbers,
            ),
        )
