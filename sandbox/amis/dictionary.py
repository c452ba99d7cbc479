"""Master data: ``get_dictionary`` / ``get_dictionary_delete`` (read by data_type, amis.md §9) and
``save_dictionary`` (upsert by code, amis.md §8; the result also comes by callback)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..core import Request, Response, json_response
from .companies import new_id
from .helpers import AmisError, as_int, envelope, json_text, key, net_time, ok, parse_moment, text, vn
from .state import Company

if TYPE_CHECKING:
    from .simulator import AmisSimulator

MAX_TAKE = 100  # amis.md §9: the documented maximum page
MAX_DICTIONARY_ITEMS = 200  # amis.md §3: save_dictionary ≤ 200 items per call
READ_TYPES = range(1, 11)  # amis.md §9: 1 … 10 are readable; the simulator keeps 1 … 6
# save dictionary_type → (get data_type, code field, name field, id field), amis.md §8 / §9
SAVE_TYPES = {
    1: (1, "account_object_code", "account_object_name", "account_object_id"),
    3: (2, "inventory_item_code", "inventory_item_name", "inventory_item_id"),
    5: (3, "stock_code", "stock_name", "stock_id"),
    6: (4, "unit_name", "unit_name", "unit_id"),
}
CODE_FIELDS = {data_type: code for data_type, code, _, _ in SAVE_TYPES.values()} | {5: "account_number"}


def find(company: Company, data_type: int, code: str) -> dict | None:
    """A live master-data row of ``company`` by its code (case-insensitive)."""
    field = CODE_FIELDS[data_type]
    wanted = key(code)
    return next((row for row in company.dictionary.get(data_type, []) if key(row.get(field)) == wanted), None)


def check_items(items: object) -> list[dict]:
    """The ``dictionary`` array of a save / save_dictionary call, checked; raises InvalidParam."""
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise AmisError("InvalidParam", "dictionary phải là một mảng đối tượng")
    if len(items) > MAX_DICTIONARY_ITEMS:
        raise AmisError("InvalidParam", f"Mỗi lần chỉ được gửi tối đa {MAX_DICTIONARY_ITEMS} danh mục")
    for index, item in enumerate(items, 1):
        kind = as_int(item.get("dictionary_type"))
        if kind not in SAVE_TYPES:
            # sandbox: only account objects, items, stocks and units are kept (amis.md §8 lists more)
            raise AmisError(
                "InvalidParam",
                f"Danh mục thứ {index}: dictionary_type {item.get('dictionary_type')!r} không hỗ trợ",
            )
        _, code_field, name_field, _ = SAVE_TYPES[kind]
        for name in dict.fromkeys((code_field, name_field)):
            if not text(item.get(name)):
                raise AmisError("InvalidParam", f"Danh mục thứ {index}: thiếu {name}")
        if kind == 1 and "tax_code" in item and "company_tax_code" not in item:
            # sandbox: an account object's tax code is company_tax_code (amis.md §8); MISA would drop a
            # tax_code silently, the simulator refuses it so the mistake shows
            raise AmisError("InvalidParam", f"Danh mục thứ {index}: dùng company_tax_code thay cho tax_code")
    return items


ITEM_ACCOUNTS = ("receive_account", "pay_account", "inventory_account", "cogs_account", "sale_account")


def check_item_accounts(company: Company, items: list[dict]) -> None:
    """The accounts master data names must be in the company's chart, and an item's main unit must exist
    (in the company's units or the same call's) (amis.md §8); raises InvalidParam."""
    units = {key(i.get("unit_name")) for i in items if as_int(i.get("dictionary_type")) == 6}
    for index, item in enumerate(items, 1):
        unit = text(item.get("unit_name"))
        known = find(company, 4, unit) is not None or key(unit) in units
        if as_int(item.get("dictionary_type")) == 3 and unit and not known:
            raise AmisError("InvalidParam", f"Danh mục thứ {index}: đơn vị tính {unit} không tồn tại")
        for name in ITEM_ACCOUNTS:
            number = text(item.get(name))
            if number and find(company, 5, number) is None:
                raise AmisError(
                    "InvalidParam", f"Danh mục thứ {index}: {name} {number} không có trong hệ thống tài khoản"
                )


def apply_items(sim: AmisSimulator, company: Company, items: list[dict]) -> list[dict]:
    """Upsert by code (amis.md §8 [M]: once pushed, later pushes map by code); returns result items."""
    stamp = net_time(vn(sim.wall()))
    results = []
    for item in items:
        kind = as_int(item["dictionary_type"])
        data_type, code_field, _, id_field = SAVE_TYPES[kind]
        row = find(company, data_type, item[code_field])
        if row is None:
            row = {
                "dictionary_type": kind,
                id_field: text(item.get(id_field)) or new_id(sim),
                "created_date": stamp,
            }
            company.dictionary.setdefault(data_type, []).append(row)
        row.update({k: v for k, v in item.items() if k != id_field})
        row["dictionary_type"] = kind
        row["modified_date"] = stamp
        row.setdefault("inactive", False)
        results.append(
            {"dictionary_type": kind, "code": row[code_field], "id": row[id_field], "success": True}
        )
    return results


class Dictionary:
    def __init__(self, sim: AmisSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add("POST", "get_dictionary", self.get_dictionary)
        router.add("POST", "get_dictionary_delete", self.get_dictionary_delete)
        router.add("POST", "save_dictionary", self.save_dictionary)

    def get_dictionary(self, request: Request, body: dict, company: Company) -> Response:
        return self._read(body, company, company.dictionary)

    def get_dictionary_delete(self, request: Request, body: dict, company: Company) -> Response:
        return self._read(body, company, company.deleted)

    def _read(self, body: dict, company: Company, source: dict[int, list[dict]]) -> Response:
        sim = self.sim
        data_type = as_int(body.get("data_type"))
        if data_type not in READ_TYPES:
            raise AmisError("InvalidParam", f"data_type {body.get('data_type')!r} không hợp lệ")
        skip = as_int(body.get("skip") if body.get("skip") is not None else 0)
        take = as_int(body.get("take") if body.get("take") is not None else MAX_TAKE)
        if skip is None or take is None or skip < 0 or take <= 0:
            raise AmisError("InvalidParam", "skip/take không hợp lệ")
        retry = self._throttle(company)
        if retry is not None:
            return json_response(
                envelope(
                    False, None, "TooManyRequests", "Too Many Requests"
                ),  # sandbox: body shape Unconfirmed
                429,
                {"Retry-After": str(retry)},
            )
        since = None
        if body.get("last_sync_time") not in (None, ""):
            since = parse_moment(body.get("last_sync_time"))
            if since is None:
                raise AmisError("InvalidParam", "last_sync_time không hợp lệ")
        branch = body.get("branch_id")
        with sim.lock:
            rows = list(source.get(data_type, []))
            if since is not None:
                rows = [r for r in rows if parse_moment(r.get("modified_date")) > since]
            if branch not in (None, "") and data_type in (1, 2, 3):
                rows = [r for r in rows if r.get("branch_id") in (None, branch)]
            # sandbox: a take above the documented 100 is cut to 100 (amis.md §9: server cap Unconfirmed)
            page = rows[skip : skip + min(take, int(sim.knobs["max_take"]) or MAX_TAKE)]
            custom = json_text({"LastSyncTime": net_time(vn(sim.wall()))})
        return ok(page, as_text=bool(sim.knobs["data_as_text"]), CustomData=custom)

    def _throttle(self, company: Company) -> int | None:
        """Seconds to wait when the company made ``dictionary_burst`` reads within
        ``dictionary_window_seconds`` (amis.md §12: 429 seen on get_dictionary, limit undocumented)."""
        sim = self.sim
        burst = int(sim.knobs["dictionary_burst"])
        window = float(sim.knobs["dictionary_window_seconds"])
        if burst <= 0 or window <= 0:
            return None
        now = sim.clock()
        with sim.lock:
            company.dictionary_calls = [t for t in company.dictionary_calls if t > now - window]
            if len(company.dictionary_calls) >= burst:
                return max(1, math.ceil(company.dictionary_calls[0] + window - now))
            company.dictionary_calls.append(now)
        return None

    def save_dictionary(self, request: Request, body: dict, company: Company) -> Response:
        """amis.md §3: ≤200 items, result by callback (sandbox: data_type 7, one client's claim)."""
        sim = self.sim
        items = check_items(body.get("dictionary"))
        if not items:
            raise AmisError("InvalidParam", "dictionary không được để trống")
        with sim.lock:
            check_item_accounts(company, items)
            results = apply_items(sim, company, items)
            session = new_id(sim)
            sim.callbacks.schedule(company, 7, [{**r, "session_id": session} for r in results])
        return ok(None)
