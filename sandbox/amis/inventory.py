"""Stock on hand: per item × warehouse balances the generated vouchers move, and
``get_list_inventory_balance`` that reads them (amis.md §3).

Reading of the sources (sandbox): the request body is ``{app_id, stock_id|null, branch_id|null, skip, take,
last_sync_time}`` (amis.md §3); the rows are named as public clients read them — ``inventory_item_code`` and
``quantity_balance`` (a Kengi client, index id 58159935233), keyed by ``inventory_item_id`` + ``stock_id``
(a dlt pipeline, id 57772447588, which also notes the API ignores ``last_sync_time`` for balances) — and
carry ``stock_code``, ``stock_name``, ``inventory_item_name``, ``unit_name`` and ``branch_id``. A Java
client notes that only posted vouchers count (id 66543202210): here only generated vouchers move stock.
``take`` is capped at 100 like ``get_dictionary``; rows of a zero balance are left out. Amounts are not
kept (no ``amount_balance``): the simulator does no costing.

What moves stock when the accountant generates it: a sales voucher with its stock issue (13 with
``is_sale_with_outward``) and a stock issue 8 out; a stock receipt 7, a purchase with stock receipt 18 and
a sales return with its receipt (12 with ``is_return_with_inward``) in; a purchase return out; a transfer
(9) out of ``from_stock_code`` and into ``to_stock_code``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ..core import Request, Response, as_decimal
from .dictionary import MAX_TAKE, find
from .helpers import AmisError, as_int, key, ok, text
from .state import Company

if TYPE_CHECKING:
    from .simulator import AmisSimulator

TRANSFER_TYPES = frozenset({9})
PURCHASE_RETURN_TYPES = frozenset({16})


def _sign(voucher: dict) -> int:
    """+1 into the line's warehouse, −1 out of it, 0 for a voucher that moves no stock."""
    voucher_type = as_int(voucher.get("voucher_type"))
    if voucher_type == 13:
        return -1 if voucher.get("is_sale_with_outward") else 0
    if voucher_type == 12:
        return 1 if voucher.get("is_return_with_inward") else 0
    if voucher_type in (7, 18):
        return 1
    if voucher_type == 8 or voucher_type in PURCHASE_RETURN_TYPES:
        return -1
    return 0


def movements(voucher: dict) -> list[tuple[str, str, Decimal]]:
    """(item code, stock code, signed quantity) of each line a generated voucher moves."""
    out = []
    transfer = as_int(voucher.get("voucher_type")) in TRANSFER_TYPES
    sign = _sign(voucher)
    for line in voucher.get("detail") or []:
        item = text(line.get("inventory_item_code"))
        quantity = as_decimal(line.get("main_quantity") or line.get("quantity"))
        if not item or quantity is None:
            continue
        if transfer:
            origin = text(line.get("from_stock_code") or voucher.get("from_stock_code"))
            destination = text(line.get("to_stock_code") or voucher.get("to_stock_code"))
            out += [(item, origin, -quantity), (item, destination, quantity)]
        elif sign and text(line.get("stock_code")):
            out.append((item, text(line.get("stock_code")), sign * quantity))
    return out


def move(company: Company, voucher: dict) -> None:
    """Apply a generated voucher to the company's balances (call with the lock held)."""
    for item, stock, quantity in movements(voucher):
        add(company, item, stock, quantity)


def add(company: Company, item: str, stock: str, quantity: Decimal, *, absolute: bool = False) -> Decimal:
    entry = company.balances.setdefault((key(item), key(stock)), [item, stock, Decimal(0)])
    entry[2] = quantity if absolute else entry[2] + quantity
    return entry[2]


class Inventory:
    def __init__(self, sim: AmisSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add("POST", "get_list_inventory_balance", self.balance)

    def balance(self, request: Request, body: dict, company: Company) -> Response:
        sim = self.sim
        skip = as_int(body.get("skip") if body.get("skip") is not None else 0)
        take = as_int(body.get("take") if body.get("take") is not None else MAX_TAKE)
        if skip is None or take is None or skip < 0 or take <= 0:
            raise AmisError("InvalidParam", "skip/take không hợp lệ")
        stock_id, branch_id = text(body.get("stock_id")), text(body.get("branch_id"))
        with sim.lock:
            rows = []
            for _, (item, stock, quantity) in sorted(company.balances.items()):
                if quantity == 0:
                    continue
                stock_row = find(company, 3, stock) or {}
                item_row = find(company, 2, item) or {}
                if stock_id and key(stock_row.get("stock_id")) != key(stock_id):
                    continue
                if branch_id and key(stock_row.get("branch_id")) != key(branch_id):
                    continue
                rows.append(
                    {
                        "inventory_item_id": item_row.get("inventory_item_id"),
                        "inventory_item_code": item_row.get("inventory_item_code") or item,
                        "inventory_item_name": item_row.get("inventory_item_name") or item,
                        "unit_name": item_row.get("unit_name"),
                        "stock_id": stock_row.get("stock_id"),
                        "stock_code": stock_row.get("stock_code") or stock,
                        "stock_name": stock_row.get("stock_name") or stock,
                        "branch_id": stock_row.get("branch_id"),
                        "quantity_balance": _number(quantity),
                    }
                )
            page = rows[skip : skip + min(take, int(sim.knobs["max_take"]) or MAX_TAKE)]
        return ok(page, as_text=bool(sim.knobs["data_as_text"]))


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
