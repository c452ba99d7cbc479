"""Haravan's inventory documents polled into the pipeline: purchase receives, purchase returns, transfers and
adjustments, for every connection whose target posts that kind (``TargetAdapter.wanted_stock_kinds``).

Haravan sends no webhook for them and its lists have no ``updated_at_min`` (reference amis.md §13), so each
poll re-reads the newest ``HARAVAN_INVENTORY_POLL_PAGES`` pages of a list (50 a page, newest first) and
compares each row's ``updated_at`` with the stored ``SyncDocument.source_updated_at``: an unchanged document
costs nothing more; a new or changed one is read whole — its detail fetched where the list leaves the lines
out (receives, returns) — and goes through the same intake as an order: routed by location (a transfer by
its origin), upserted as ``source_type = kind = <stock kind>``, logged, handed to the target. A document
older than those pages that changes is found by a manual run over the days it was created in
(``read_range``).

The stored snapshot is Haravan's detail as it came, with a few keys of our own (see ``haravan.inventory``):
a transfer's ``from_location``/``to_location`` and an adjustment's ``location`` (``{id, name}`` from the
shop's cached locations), a receive's ``ref_purchase_order`` (``{id, purchase_number}``, the purchase order
read as a reference) and a return's ``ref_receive`` (``{id, receive_number}``).
"""

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings

from connectors.http import ApiError
from connectors.models import CatalogItem, Connection, LicenseError
from connectors.routing import route
from connectors.stock import (
    ADJUSTMENT,
    PURCHASE_RECEIVE,
    PURCHASE_RETURN,
    STOCK_KINDS,
    TRANSFER,
    StockBalance,
)
from connectors.text import Text, english, words_of
from syncjobs.models import SyncDocument
from syncjobs.services import Outcome, hand_to_target, log_attempt, upsert_document

from . import inventory
from .client import HaravanClient
from .models import HaravanLocation
from .services import shop_for

log = logging.getLogger(__name__)

KIND_WORDS = {
    PURCHASE_RECEIVE: Text("Purchase receive"),
    PURCHASE_RETURN: Text("Purchase return"),
    TRANSFER: Text("Transfer"),
    ADJUSTMENT: Text("Adjustment"),
}
# The Celery task that polls each kind (named after the promise: receives fill purchase orders)
TASKS = {
    PURCHASE_RECEIVE: "haravan.sync_inventory_purchase_orders",
    PURCHASE_RETURN: "haravan.sync_inventory_purchase_returns",
    TRANSFER: "haravan.sync_inventory_transfers",
    ADJUSTMENT: "haravan.sync_inventory_adjustments",
}


@dataclass(frozen=True)
class Resource:
    rows: Callable[[HaravanClient], Iterator[dict]]
    detail: Callable[[HaravanClient, object], dict]
    lines_listed: bool  # the list carries the lines (else every new or changed row's detail is read)


RESOURCES = {
    PURCHASE_RECEIVE: Resource(
        lambda c: c.iter_purchase_receives(), lambda c, i: c.get_purchase_receive(i), False
    ),
    PURCHASE_RETURN: Resource(
        lambda c: c.iter_purchase_returns(), lambda c, i: c.get_purchase_return(i), False
    ),
    TRANSFER: Resource(lambda c: c.iter_transfers(), lambda c, i: c.get_transfer(i), True),
    ADJUSTMENT: Resource(lambda c: c.iter_adjustments(), lambda c, i: c.get_adjustment(i), True),
}


@dataclass
class Tally:
    read: int = 0
    changed: int = 0
    failed: int = 0
    error: Text | None = None

    def add(self, other: "Tally") -> None:
        self.read += other.read
        self.changed += other.changed
        self.failed += other.failed
        self.error = self.error or other.error


def wanted_kinds(connection: Connection) -> tuple[str, ...]:
    return tuple(k for k in connection.target.wanted_stock_kinds(connection) if k in STOCK_KINDS)


def beat_entries() -> dict[str, dict]:
    return {
        f"haravan-{task.split('.', 1)[1].replace('_', '-')}": {
            "task": task,
            "schedule": settings.HARAVAN_INVENTORY_POLL_SECONDS,
        }
        for task in TASKS.values()
    }


# --- the scheduled poll ----------------------------------------------------------------------------------


def poll(kind: str) -> dict[str, int]:
    """One poll of one kind over every Haravan shop with a connection that posts it."""
    shops: dict[str, list[Connection]] = defaultdict(list)
    for connection in Connection.objects.filter(source_kind="haravan", enabled=True).select_related("tenant"):
        if kind in wanted_kinds(connection):
            shops[connection.source_key].append(connection)
    total = Tally()
    for org_id, connections in sorted(shops.items()):
        total.add(poll_shop(org_id, connections, kind))
    return {"shops": len(shops), "read": total.read, "changed": total.changed, "failed": total.failed}


def poll_shop(org_id: str, connections: list[Connection], kind: str) -> Tally:
    trigger = Text("inventory poll")
    tally = Tally()
    takers = []
    for connection in connections:
        try:
            connection.check_license()
            takers.append(connection)
        except LicenseError:
            continue  # its orders say why; stock waits quietly with them
    if not takers:
        return tally
    try:
        client = HaravanClient.for_shop(shop_for(takers[0]))
        lookups = _Lookups(client, org_id)
        limit = max(1, settings.HARAVAN_INVENTORY_POLL_PAGES) * 50
        for n, row in enumerate(RESOURCES[kind].rows(client)):
            if n >= limit:
                break
            _take_row(client, lookups, kind, row, takers, tally, trigger=trigger, force=False)
    except ApiError as exc:
        tally.error = exc.text
    for connection in takers:
        _log_pass(connection, kind, tally, trigger)
    return tally


# --- a person's run by date range --------------------------------------------------------------------------


def read_range(
    run, connection: Connection, client: HaravanClient, start: dt.datetime, end: dt.datetime, trigger
):
    """Every document of the kinds the connection's target posts, created in [start, end], read again.
    The lists have no date filter: they are read newest first until a document older than the range."""
    lookups = _Lookups(client, connection.source_key)
    for kind in wanted_kinds(connection):
        tally = Tally()
        try:
            for row in RESOURCES[kind].rows(client):
                created = inventory.created_at(row)
                if created is not None and created < start:
                    break
                if created is not None and created > end:
                    continue
                _take_row(client, lookups, kind, row, [connection], tally, trigger=trigger, force=True)
        except ApiError as exc:
            tally.error = exc.text
        run.processed += tally.read
        run.failed += tally.failed
        if tally.error is not None:
            run.set_error(tally.error)
        _log_pass(connection, kind, tally, trigger, always=True)
    return run.processed


# --- one row ---------------------------------------------------------------------------------------------


def _stale(connections: Iterable[Connection], kind: str, source_id: str, listed_at) -> list[Connection]:
    """The connections whose stored document is missing or older than the row says."""
    out = []
    for connection in connections:
        stored = list(
            SyncDocument.objects.filter(
                connection=connection, source_type=kind, source_id=source_id
            ).values_list("source_updated_at", flat=True)
        )
        if not stored or listed_at is None or any(at is None or at < listed_at for at in stored):
            out.append(connection)
    return out


def _take_row(client, lookups, kind, row, connections, tally: Tally, *, trigger, force: bool) -> None:
    if not isinstance(row, dict) or row.get("id") in (None, ""):
        return
    tally.read += 1
    source_id = str(row["id"])
    takers = list(connections) if force else _stale(connections, kind, source_id, inventory.updated_at(row))
    if not takers:
        return
    label = inventory.number_of(row, kind)
    try:
        resource = RESOURCES[kind]
        listed_lines = resource.lines_listed and isinstance(row.get("line_items"), list)
        raw = dict(row) if listed_lines else resource.detail(client, row["id"])
        raw = lookups.enrich(kind, raw)
        for connection in takers:
            tally.changed += intake_stock_for(connection, kind, raw, trigger=trigger).changed
    except Exception as exc:  # one bad document must not stop the others; it is logged and counted
        log.exception("Haravan %s %s failed in %s", kind, label, english(trigger))
        tally.failed += 1
        for connection in takers:
            log_attempt(
                connection=connection,
                action="intake",
                outcome=Outcome.ERROR,
                message=Text(
                    "%(kind)s %(label)s: %(error)s", kind=KIND_WORDS[kind], label=label, error=words_of(exc)
                ),
            )


def intake_stock_for(connection: Connection, kind: str, raw: dict, *, trigger: Text | str):
    """Route the inventory document by location and upsert its document, as an order's intake does."""
    decision = route(connection, inventory.routing_facts(raw, kind))
    label = inventory.number_of(raw, kind)
    upserted = upsert_document(
        connection=connection,
        account=decision.account,
        source_type=kind,
        source_id=str(raw["id"]),
        source_label=label,
        kind=kind,
        snapshot=raw,
        source_updated_at=inventory.updated_at(raw),
        explanation=decision.explanation,
    )
    if not upserted.changed:
        return upserted
    facts = {"what": KIND_WORDS[kind], "label": label, "trigger": trigger, "state": describe(raw, kind)}
    if upserted.created:
        message = Text(
            "%(what)s %(label)s received (%(trigger)s): %(state)s. %(route)s",
            route=decision.explanation,
            **facts,
        )
    elif upserted.rerouted_from is not None:
        message = Text(
            "%(what)s %(label)s updated (%(trigger)s) and moved from %(tag)s (nothing had been sent there): "
            "%(route)s",
            tag=upserted.rerouted_from.tag,
            route=decision.explanation,
            **{k: v for k, v in facts.items() if k != "state"},
        )
    else:
        message = Text("%(what)s %(label)s updated (%(trigger)s): %(state)s.", **facts)
    log_attempt(
        connection=connection,
        document=upserted.document,
        action="intake",
        outcome=Outcome.INFO,
        message=message,
    )
    hand_to_target(upserted.document, decision, trigger=trigger)
    return upserted


def describe(raw: dict, kind: str) -> Text:
    doc = inventory.read_document(raw, kind)
    where = doc.location_name or doc.location or "?"
    if kind == TRANSFER:
        where = f"{where} → {doc.to_location_name or doc.to_location or '?'}"
    return Text(
        "%(status)s at %(where)s (lines: %(count)s)",
        status=doc.status_words or doc.reason or doc.status,
        where=where,
        count=len(doc.lines),
    )


def _log_pass(connection: Connection, kind: str, tally: Tally, name, *, always: bool = False) -> None:
    """A pass with no news is not logged."""
    if tally.error is not None:
        log_attempt(
            connection=connection,
            action="sync",
            outcome=Outcome.ERROR,
            message=Text(
                "%(what)s, %(name)s stopped: %(error)s", name=name, what=KIND_WORDS[kind], error=tally.error
            ),
        )
        return
    if not (always or tally.changed or tally.failed):
        return
    log_attempt(
        connection=connection,
        action="sync",
        outcome=Outcome.OK if not tally.failed else Outcome.ERROR,
        message=Text(
            "%(what)s, %(name)s: %(read)s read, %(changed)s new or changed, %(failed)s failed.",
            name=name,
            what=KIND_WORDS[kind],
            read=tally.read,
            changed=tally.changed,
            failed=tally.failed,
        ),
    )


class _Lookups:
    """What a pass adds to snapshots: location names (cached rows) and the numbers of referred documents
    (read once per pass; a failure to read one leaves the number out)."""

    def __init__(self, client: HaravanClient, org_id: str):
        self.client = client
        self.names = {
            row.location_id: row.name for row in HaravanLocation.objects.filter(shop__org_id=str(org_id))
        }
        self.numbers: dict[tuple[str, str], str] = {}

    def place(self, value) -> dict | None:
        if value in (None, ""):
            return None
        return {"id": value, "name": self.names.get(str(value), "")}

    def number(self, what: str, ident) -> str:
        key = (what, str(ident))
        if key not in self.numbers:
            try:
                if what == "purchase_order":
                    self.numbers[key] = str(
                        self.client.get_purchase_order(ident).get("purchase_number") or ""
                    )
                else:
                    self.numbers[key] = str(
                        self.client.get_purchase_receive(ident).get("receive_number") or ""
                    )
            except ApiError as exc:
                log.warning("Haravan %s %s not read: %s", what, ident, english(exc.text))
                self.numbers[key] = ""
        return self.numbers[key]

    def enrich(self, kind: str, raw: dict) -> dict:
        raw = dict(raw)
        if kind == TRANSFER:
            raw["from_location"] = self.place(raw.get("from_loc_id"))
            raw["to_location"] = self.place(raw.get("to_loc_id"))
        elif kind == ADJUSTMENT and not isinstance(raw.get("location"), dict):
            raw["location"] = self.place(raw.get("location_id"))
        elif kind == PURCHASE_RECEIVE and raw.get("ref_purchase_order_id"):
            ident = raw["ref_purchase_order_id"]
            raw["ref_purchase_order"] = {"id": ident, "purchase_number": self.number("purchase_order", ident)}
        elif kind == PURCHASE_RETURN and raw.get("ref_receive_id"):
            ident = raw["ref_receive_id"]
            raw["ref_receive"] = {"id": ident, "receive_number": self.number("receive", ident)}
        return raw


# --- on hand ---------------------------------------------------------------------------------------------


def stock_on_hand(connection: Connection, *, skus=None) -> list[StockBalance]:
    """On hand per location and SKU, read from Haravan now. Variants are named by the shop's cached catalogue
    (a variant it does not know has no SKU to compare and is left out)."""
    client = HaravanClient.for_shop(shop_for(connection))
    sku_of = dict(
        CatalogItem.objects.filter(source_kind="haravan", source_key=connection.source_key)
        .exclude(sku="")
        .values_list("item_id", "sku")
    )
    variant_ids = None
    if skus is not None:
        wanted = {str(s).strip().casefold() for s in skus}
        variant_ids = sorted(
            int(i) for i, sku in sku_of.items() if sku.casefold() in wanted and str(i).isdigit()
        )
        if not variant_ids:
            return []
    balances = []
    for row in client.iter_inventory_locations(variant_ids=variant_ids):
        sku = sku_of.get(str(row.get("variant_id")))
        if not sku:
            continue
        try:
            quantity = Decimal(str(row.get("qty_onhand")))
        except InvalidOperation:
            continue
        balances.append(StockBalance(place=str(row.get("loc_id")), sku=sku, quantity=quantity))
    return balances
