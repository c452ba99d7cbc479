"""Haravan's side of a day's reconciliation (``connectors.registry.SourceAdapter``'s reconciliation hooks).

Where "expected" comes from: the orders Haravan told us about (our stored snapshots, each with the
eligibility its target decided), counted against one cheap question to Haravan itself —
``GET /com/orders/count.json?status=any&created_at_min=…&created_at_max=…`` for the day in the shop's own time
zone — so a lost webhook shows. Only when Haravan counts more orders than reached us are the day's orders
listed (``/com/orders.json``, the same bounds) to name the unknown ones.

The day is the shop's: Haravan's shop record carries ``iana_timezone`` ("Asia/Ho_Chi_Minh"); a shop record
that cannot be read (or names no zone) counts days in Vietnam's time, where every Haravan shop is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.daycheck import DayObject, StoredKeys
from connectors.http import ApiError

from . import read
from .client import HaravanClient
from .services import shop_for

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
STORED_KEYS = StoredKeys(
    moment="created_at", amount="total_price", currency="currency", default_currency="VND"
)
# Haravan's created_at_max is inclusive (sandbox and Shopify-style APIs alike): the day ends 1 ms earlier
LAST_MOMENT = dt.timedelta(milliseconds=1)


def _client(connection) -> HaravanClient:
    return HaravanClient.for_shop(shop_for(connection))


def day_zone(connection) -> dt.tzinfo:
    try:
        name = str(_client(connection).get_shop().get("iana_timezone") or "")
        return ZoneInfo(name) if name else VIETNAM
    except (ApiError, ZoneInfoNotFoundError, ValueError):
        return VIETNAM


def _bounds(start: dt.datetime, end: dt.datetime) -> dict:
    return {"status": "any", "created_at_min": start, "created_at_max": end - LAST_MOMENT}


def day_count(connection, start: dt.datetime, end: dt.datetime) -> int:
    return _client(connection).count_orders(**_bounds(start, end))


def day_objects(connection, start: dt.datetime, end: dt.datetime) -> Iterator[DayObject]:
    for order in _client(connection).iter_orders(**_bounds(start, end)):
        try:
            amount = Decimal(str(order.get("total_price")))
        except (InvalidOperation, ValueError):
            amount = Decimal(0)
        yield DayObject(
            source_id=str(order.get("id")),
            label=read.order_label(order),
            amount=amount,
            currency=str(order.get("currency") or "VND"),
            facts=read.routing_facts(order),
        )
