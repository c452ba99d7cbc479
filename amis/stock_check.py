"""An AMIS company's stock on hand against the source's, per item and warehouse.

``compare`` is pure: two lists of ``connectors.stock.StockBalance`` in the same terms (place = AMIS stock
code, sku = AMIS item code) → the differences ``[{"sku", "place", "source", "target"}]``, quantities as
strings, sorted; what one side does not list counts as 0, codes compare as AMIS compares them
(case-insensitively), several rows of one item and place add up.

``stock_differences`` reads both sides now: the source's on hand of the locations routing sends to this
company, put in AMIS's terms by the company's mapping (location → stock code, SKU → item code; locations
without a warehouse are left out, several locations of one warehouse add up), and AMIS's
``get_list_inventory_balance`` for the warehouses those locations map to (another warehouse of the company
has nothing in the shop to compare with).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from connectors.stock import StockBalance
from connectors.text import fold, plain

from .mapping import Mapping, lookup


def quantity_text(value: Decimal) -> str:
    """A quantity as people write it: "12", "2.5", "-3" (never "1E+1")."""
    normal = value.normalize()
    return format(normal if normal != 0 else Decimal(0), "f")


def _totals(balances: Iterable[StockBalance]) -> dict[tuple[str, str], tuple[str, str, Decimal]]:
    out: dict[tuple[str, str], tuple[str, str, Decimal]] = {}
    for balance in balances:
        key = (fold(balance.sku), fold(balance.place))
        sku, place, quantity = out.get(key, (plain(balance.sku), plain(balance.place), Decimal(0)))
        out[key] = (sku, place, quantity + Decimal(balance.quantity))
    return out


def compare(source: Iterable[StockBalance], target: Iterable[StockBalance]) -> list[dict]:
    """Where the two sides differ, one row per item and place (see the module)."""
    ours, theirs = _totals(source), _totals(target)
    rows = []
    for key in sorted(set(ours) | set(theirs)):
        named = ours.get(key) or theirs[key]
        here = ours[key][2] if key in ours else Decimal(0)
        there = theirs[key][2] if key in theirs else Decimal(0)
        if here != there:
            rows.append(
                {
                    "sku": named[0],
                    "place": named[1],
                    "source": quantity_text(here),
                    "target": quantity_text(there),
                }
            )
    return rows


def source_in_amis_terms(
    balances: Iterable[StockBalance], mapping: Mapping, places: set[str]
) -> list[StockBalance]:
    """The source's balances of ``places`` (its location ids) as AMIS stock code and item code."""
    out = []
    for balance in balances:
        if balance.place not in places:
            continue
        location = lookup(mapping.locations, balance.place)
        if location is None or not location.stock_code:
            continue
        code = plain(lookup(mapping.item_codes, balance.sku) or balance.sku)
        if code:
            out.append(StockBalance(place=location.stock_code, sku=code, quantity=balance.quantity))
    return out


def amis_rows(rows: Iterable[dict], stocks: dict[str, str], items: dict[str, str]) -> list[StockBalance]:
    """AMIS balance rows as ``StockBalance``: a row naming its warehouse or item only by id is named by the
    company's master data (``stocks``/``items``: id → code); a row with no readable quantity is left out."""
    out = []
    for row in rows:
        place = plain(row.get("stock_code")) or stocks.get(plain(row.get("stock_id")).casefold(), "")
        sku = plain(row.get("inventory_item_code")) or items.get(
            plain(row.get("inventory_item_id")).casefold(), ""
        )
        try:
            quantity = Decimal(str(row.get("quantity_balance")))
        except (InvalidOperation, ValueError):
            continue
        if place and sku and quantity.is_finite():
            out.append(StockBalance(place=place, sku=sku, quantity=quantity))
    return out


def stock_differences(account) -> list[dict]:
    """The company's stock in AMIS against the source's on hand, read from both now (see the module)."""
    from connectors.routing import route

    from .models import AmisDictionaryEntry
    from .services import client_for, mapping_for

    connection = account.connection
    mapping = mapping_for(account)
    source = connection.source.stock_on_hand(connection)
    places = set()
    for place in {b.place for b in source} | set(mapping.locations):
        if route(connection, {"location": [place]}).account == account:
            places.add(place)
    ours = source_in_amis_terms(source, mapping, places)
    warehouses = {
        fold(location.stock_code)
        for name, location in mapping.locations.items()
        if name in places and location.stock_code
    }
    ids = {
        data_type: {
            str(amis_id).casefold(): code
            for amis_id, code in AmisDictionaryEntry.objects.filter(account=account, data_type=data_type)
            .exclude(amis_id="")
            .values_list("amis_id", "code")
        }
        for data_type in (2, 3)
    }
    theirs = [
        b
        for b in amis_rows(client_for(account).inventory_balance(), ids[3], ids[2])
        if fold(b.place) in warehouses
    ]
    return compare(ours, theirs)
