"""Haravan's inventory documents read into ``connectors.stock.StockDocument``: pure, no database, no HTTP.

The contract (shapes in ``/work/shared/reference/amis.md`` §13):

- kinds: an adjustment or stock count (``adjust_number``), a transfer (``transfer_number``), a purchase
  receive (``receive_number``), a purchase return (``return_number``); ``kind_of`` tells them apart by
  those fields.
- statuses, normalised (Unicode NFC, case and spacing ignored): a receive "Nháp" → draft, "Đã nhập hàng" →
  done, "Đã xuất trả" (returned later) → done, "Đã hủy"/"Đã huỷ" → cancelled; a return "Đã xuất trả" —
  or ``"3"``, as the list writes it — → done; a transfer "Active" → in transit, "Received" → done,
  "Cancelled" → cancelled (an Unconfirmed word); an adjustment has no status: done. Any other word is kept and
  named as a problem.
- quantities: adjustments signed as Haravan writes them (−11 = a decrease); ``cost_amount`` takes the
  quantity's sign (the reference shows it signed; an unsigned one reads the same). Transfers carry no cost.
  Receives and returns: ``cost`` is the unit cost after the line's discount (else ``original_cost −
  discount_amount``), the line's amount its ``total_cost`` (else cost × quantity); a stated ``total_cost``
  that is not cost × quantity is a problem. The quantity counts ``variant_unit.unit`` (its name kept when it
  is not the base unit).
- totals: the document's ``total_cost`` must equal the sum of its lines' amounts (for adjustments: the signed
  sum, or the sum of the magnitudes — which one Haravan means is Unconfirmed, both are accepted); otherwise a
  problem names both figures.
- what cannot be read (a missing SKU, a non-numeric quantity, an unknown status, no lines) is one of
  ``problems``, a ``Text`` naming Haravan's own field; nothing here raises.

Extra keys the sync adds to a snapshot (never Haravan's): ``from_location``/``to_location`` (a transfer's
``{id, name}``), ``location`` on an adjustment (``{id, name}``), ``ref_purchase_order`` on a receive and
``ref_receive`` on a return (``{id, purchase_number | receive_number}``).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_datetime

from connectors.stock import (
    ADJUSTMENT,
    CANCELLED,
    DONE,
    DRAFT,
    IN_TRANSIT,
    PURCHASE_RECEIVE,
    PURCHASE_RETURN,
    TRANSFER,
    StockDocument,
    StockLine,
    Supplier,
)
from connectors.text import Text

NUMBER_FIELDS = {
    ADJUSTMENT: "adjust_number",
    TRANSFER: "transfer_number",
    PURCHASE_RECEIVE: "receive_number",
    PURCHASE_RETURN: "return_number",
}

_CANCELLED_WORDS = {"đã hủy": "Đã hủy", "đã huỷ": "Đã hủy"}
STATUSES = {
    PURCHASE_RECEIVE: {
        "nháp": (DRAFT, "Nháp"),
        "đã nhập hàng": (DONE, "Đã nhập hàng"),
        "đã xuất trả": (DONE, "Đã xuất trả"),
        **{k: (CANCELLED, v) for k, v in _CANCELLED_WORDS.items()},
    },
    PURCHASE_RETURN: {
        "3": (DONE, "Đã xuất trả"),  # the list's code for the detail's words
        "đã xuất trả": (DONE, "Đã xuất trả"),
        "nháp": (DRAFT, "Nháp"),
        **{k: (CANCELLED, v) for k, v in _CANCELLED_WORDS.items()},
    },
    TRANSFER: {
        "active": (IN_TRANSIT, "Active"),
        "received": (DONE, "Received"),
        "cancelled": (CANCELLED, "Cancelled"),
        "canceled": (CANCELLED, "Cancelled"),
    },
}


# --- what a document is, before reading it --------------------------------------------------------------


def kind_of(raw: Any) -> str:
    """The stock kind of a Haravan inventory document ("" when it is none of them)."""
    if not isinstance(raw, dict):
        return ""
    if "adjust_number" in raw:
        return ADJUSTMENT
    if "transfer_number" in raw or "from_loc_id" in raw:
        return TRANSFER
    if "return_number" in raw or "ref_receive_id" in raw:
        return PURCHASE_RETURN
    if "receive_number" in raw:
        return PURCHASE_RECEIVE
    return ""


def number_of(raw: dict, kind: str | None = None) -> str:
    """How people name the document: "IA100017", "IT100001", "IR100012", "PR100003" (else its id)."""
    kind = kind or kind_of(raw)
    value = raw.get(NUMBER_FIELDS.get(kind, "")) if isinstance(raw, dict) else None
    return str(value or (raw.get("id") if isinstance(raw, dict) else "") or "")


def location_of(raw: dict, kind: str | None = None) -> str:
    """The location stock moved at: an adjustment's, a transfer's origin, a receive's or return's."""
    kind = kind or kind_of(raw)
    if kind == TRANSFER:
        value = raw.get("from_loc_id")
    elif kind == ADJUSTMENT:
        value = raw.get("location_id")
    else:
        location = raw.get("location")
        value = location.get("id") if isinstance(location, dict) else raw.get("location_id")
    return "" if value in (None, "") else str(value)


def routing_facts(raw: dict, kind: str | None = None) -> dict[str, list[str]]:
    """Routed like a sale, by location (a transfer by its origin)."""
    location = location_of(raw, kind)
    return {"location": [location]} if location else {}


def moment(value: Any) -> dt.datetime | None:
    """A Haravan timestamp as an aware datetime (UTC without an offset); None when absent or unreadable."""
    if isinstance(value, dt.datetime):
        found = value
    elif not value or not isinstance(value, str):
        return None
    else:
        try:
            found = parse_datetime(value.strip())
        except ValueError:
            return None
    if found is None:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=dt.UTC)


def updated_at(raw: dict) -> dt.datetime | None:
    return moment(raw.get("updated_at")) if isinstance(raw, dict) else None


def created_at(raw: dict) -> dt.datetime | None:
    return moment(raw.get("created_at")) if isinstance(raw, dict) else None


def normalise_status(kind: str, value: Any) -> tuple[str | None, str]:
    """(neutral status or None when unknown, the source's words normalised)."""
    words = " ".join(unicodedata.normalize("NFC", str(value if value is not None else "")).split())
    found = STATUSES.get(kind, {}).get(words.casefold())
    return (found[0], found[1]) if found else (None, words)


# --- reading ---------------------------------------------------------------------------------------------


def read_document(raw: Any, kind: str | None = None) -> StockDocument:
    """The ``StockDocument`` one stored inventory document describes. Never raises."""
    kind = kind or kind_of(raw)
    if kind not in NUMBER_FIELDS or not isinstance(raw, dict):
        return StockDocument(
            kind=kind,
            source_id=str(raw.get("id") or "") if isinstance(raw, dict) else "",
            number="",
            status=DRAFT,
            status_words="",
            at=None,
            location="",
            problems=(
                Text(
                    "Not a Haravan inventory document: it has no adjust_number, transfer_number, "
                    "receive_number or return_number."
                ),
            ),
        )
    try:
        return _Reader(raw, kind).read()
    except Exception as exc:  # a shape nobody foresaw: held for a person, never a crash
        return StockDocument(
            kind=kind,
            source_id=str(raw.get("id") or ""),
            number=number_of(raw, kind),
            status=DRAFT,
            status_words="",
            at=None,
            location=location_of(raw, kind) if isinstance(raw, dict) else "",
            problems=(
                Text("The document could not be read: %(error)s", error=f"{type(exc).__name__}: {exc}"),
            ),
        )


class _Reader:
    def __init__(self, raw: dict, kind: str):
        self.raw = raw
        self.kind = kind
        self.problems: list[Text] = []

    # --- fields

    def number(self, value: Any, field: str, *, line: int | None = None) -> Decimal | None:
        """A Decimal from a JSON number or numeric string; None (and a problem) when it is not one."""
        if value is None or value == "":
            return None
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            number = Decimal(str(value).strip())
            if not number.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            if line is None:
                self.problems.append(
                    Text("%(field)s is not a number: %(value)s", field=field, value=str(value))
                )
            else:
                self.problems.append(
                    Text(
                        "Line %(line)s: %(field)s is not a number: %(value)s",
                        line=line,
                        field=field,
                        value=str(value),
                    )
                )
            return None
        return number

    def text(self, *fields: str) -> str:
        for name in fields:
            value = self.raw.get(name)
            if value not in (None, ""):
                return str(value).strip()
        return ""

    def place(self, key: str) -> tuple[str, str]:
        """(id, name) of a ``{id, name}`` object under ``key``."""
        value = self.raw.get(key)
        if isinstance(value, dict):
            ident = value.get("id")
            return ("" if ident in (None, "") else str(ident)), str(value.get("name") or "")
        return "", ""

    # --- the document

    def read(self) -> StockDocument:
        raw, kind = self.raw, self.kind
        if raw.get("id") in (None, ""):
            self.problems.append(Text("The document has no id."))
        status, words = self.status()
        lines = self.lines()
        if not lines and not self.problems:
            self.problems.append(Text("The document has no lines (line_items)."))
        total_cost = None if kind == TRANSFER else self.number(raw.get("total_cost"), "total_cost")
        quantity_field = "total_quantity" if kind == ADJUSTMENT else "total"
        total_quantity = self.number(raw.get(quantity_field), quantity_field)
        self.check_total(lines, total_cost)
        location = location_of(raw, kind)
        if not location:
            field = {TRANSFER: "from_loc_id", ADJUSTMENT: "location_id"}.get(kind, "location")
            self.problems.append(Text("The document names no location (%(field)s).", field=field))
        location_name = to_location = to_location_name = ""
        if kind == TRANSFER:
            to_value = raw.get("to_loc_id")
            to_location = "" if to_value in (None, "") else str(to_value)
            if not to_location:
                self.problems.append(Text("The transfer names no destination (to_loc_id)."))
            location_name = self.place("from_location")[1]
            to_location_name = self.place("to_location")[1]
        else:
            location_name = self.place("location")[1]
        refers_to, refers_to_number = self.refers_to()
        return StockDocument(
            kind=kind,
            source_id=str(raw.get("id") or ""),
            number=number_of(raw, kind),
            status=status or DRAFT,
            status_words=words,
            at=self.at(status),
            location=location,
            to_location=to_location,
            location_name=location_name,
            to_location_name=to_location_name,
            reason=self.text("reason"),
            adjustment_type=self.text("type") if kind == ADJUSTMENT else "",
            supplier=self.supplier() if kind in (PURCHASE_RECEIVE, PURCHASE_RETURN) else None,
            refers_to=refers_to,
            refers_to_number=refers_to_number,
            reference=self.text("ref_number"),
            note=self.text("notes", "note"),
            currency=self.text("currency") or "VND",
            lines=tuple(lines),
            total_quantity=total_quantity,
            total_cost=total_cost,
            updated_at=updated_at(raw),
            problems=tuple(self.problems),
        )

    def status(self) -> tuple[str | None, str]:
        if self.kind == ADJUSTMENT:
            return DONE, ""
        status, words = normalise_status(self.kind, self.raw.get("status"))
        if status is None:
            self.problems.append(
                Text(
                    "Status %(status)s is not one Haravan is known to use for this document.",
                    status=repr(words),
                )
            )
        return status, words

    def at(self, status: str | None) -> dt.datetime | None:
        raw = self.raw
        if self.kind == ADJUSTMENT:
            return moment(raw.get("tran_date")) or created_at(raw)
        if self.kind == TRANSFER:
            if status == DONE:
                return moment(raw.get("received_at")) or updated_at(raw)
            if status == IN_TRANSIT:
                return moment(raw.get("actived_at")) or moment(raw.get("tran_date")) or created_at(raw)
            return None
        if status != DONE:
            return None
        field = "returned_at" if self.kind == PURCHASE_RETURN else "received_at"
        return moment(raw.get(field)) or updated_at(raw)

    def refers_to(self) -> tuple[str, str]:
        if self.kind == PURCHASE_RECEIVE:
            ident, extra, number_field = (
                self.raw.get("ref_purchase_order_id"),
                "ref_purchase_order",
                "purchase_number",
            )
        elif self.kind == PURCHASE_RETURN:
            ident, extra, number_field = self.raw.get("ref_receive_id"), "ref_receive", "receive_number"
        else:
            return "", ""
        known = self.raw.get(extra) if isinstance(self.raw.get(extra), dict) else {}
        return ("" if ident in (None, "", 0) else str(ident)), str(known.get(number_field) or "")

    def supplier(self) -> Supplier | None:
        value = self.raw.get("supplier")
        if isinstance(value, str) and value.strip():
            return Supplier(name=value.strip())
        if not isinstance(value, dict):
            return None
        parts = [value.get(k) for k in ("address", "ward", "district", "province")]
        return Supplier(
            key="" if value.get("id") in (None, "") else str(value["id"]),
            name=str(value.get("name") or value.get("supplier_name") or "").strip(),
            phone=str(value.get("phone") or "").strip(),
            email=str(value.get("email") or "").strip(),
            address=", ".join(str(p).strip() for p in parts if p not in (None, "") and str(p).strip()),
            tax_code=str(value.get("tax_code") or "").strip(),
        )

    # --- lines

    def lines(self) -> list[StockLine]:
        items = self.raw.get("line_items")
        if items is None:
            self.problems.append(Text("The document came without its lines (line_items is null)."))
            return []
        if not isinstance(items, list):
            self.problems.append(Text("line_items is not a list."))
            return []
        out = []
        for n, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                self.problems.append(Text("Line %(line)s is not an object.", line=n))
                continue
            line = self.line(n, item)
            if line is not None:
                out.append(line)
        return out

    def line(self, n: int, item: dict) -> StockLine | None:
        sku = str(item.get("sku") or "").strip()
        if not sku:
            self.problems.append(Text("Line %(line)s has no SKU: its item cannot be matched.", line=n))
        quantity = self.number(item.get("quantity"), "quantity", line=n)
        if quantity is None:
            if item.get("quantity") in (None, ""):
                self.problems.append(Text("Line %(line)s has no quantity.", line=n))
            return None
        if self.kind != ADJUSTMENT and quantity <= 0:
            self.problems.append(
                Text("Line %(line)s: quantity %(quantity)s is not above zero.", line=n, quantity=quantity)
            )
        name = " ".join(str(item.get(k) or "").strip() for k in ("product_name", "variant_title")).strip()
        name = name or str(item.get("title") or item.get("name") or sku)
        variant = item.get("product_variant_id", item.get("variant_id"))
        unit_cost = amount = None
        unit = ""
        lots: tuple = ()
        if self.kind == ADJUSTMENT:
            stated = self.number(item.get("cost_amount"), "cost_amount", line=n)
            if stated is not None:
                amount = abs(stated) if quantity >= 0 else -abs(stated)
                unit_cost = _per_unit(abs(stated), abs(quantity)) if quantity else None
        elif self.kind in (PURCHASE_RECEIVE, PURCHASE_RETURN):
            unit_cost, amount = self.costs(n, item, quantity)
            unit = _unit_name(item.get("variant_unit"))
            lots = self.lots(n, item.get("lots"))
        return StockLine(
            sku=sku,
            name=name,
            quantity=quantity,
            unit=unit,
            unit_cost=unit_cost,
            amount=amount,
            item_id="" if variant in (None, "") else str(variant),
            lots=lots,
        )

    def costs(self, n: int, item: dict, quantity: Decimal) -> tuple[Decimal | None, Decimal | None]:
        cost = self.number(item.get("cost"), "cost", line=n)
        if cost is None:
            original = self.number(item.get("original_cost"), "original_cost", line=n)
            discount = self.number(item.get("discount_amount"), "discount_amount", line=n) or Decimal(0)
            cost = None if original is None else original - discount
        stated = self.number(item.get("total_cost"), "total_cost", line=n)
        if cost is None and stated is None:
            self.problems.append(Text("Line %(line)s has no cost (cost, original_cost, total_cost).", line=n))
            return None, None
        if cost is None:
            return _per_unit(stated, quantity) if quantity else None, stated
        expected = cost * quantity
        if stated is not None and stated != expected:
            self.problems.append(
                Text(
                    "Line %(line)s: total_cost %(stated)s is not cost × quantity (%(expected)s).",
                    line=n,
                    stated=_plain(stated),
                    expected=_plain(expected),
                )
            )
        return cost, stated if stated is not None else expected

    def lots(self, n: int, value: Any) -> tuple[tuple[str, str, Decimal], ...]:
        if not isinstance(value, list):
            return ()
        out = []
        for lot in value:
            if not isinstance(lot, dict):
                continue
            quantity = self.number(lot.get("quantity"), "lots.quantity", line=n)
            expiry = moment(lot.get("expire_date"))
            expiry_text = expiry.date().isoformat() if expiry else str(lot.get("expire_date") or "")[:10]
            out.append(
                (str(lot.get("lot_no") or ""), expiry_text, quantity if quantity is not None else Decimal(0))
            )
        return tuple(out)

    def check_total(self, lines: list[StockLine], total_cost: Decimal | None) -> None:
        if (
            total_cost is None
            or self.kind == TRANSFER
            or not lines
            or any(line.amount is None for line in lines)
        ):
            return
        signed = sum((line.amount for line in lines), Decimal(0))
        magnitude = sum((abs(line.amount) for line in lines), Decimal(0))
        accepted = {signed, abs(signed), magnitude} if self.kind == ADJUSTMENT else {signed}
        if total_cost not in accepted:
            self.problems.append(
                Text(
                    "The lines' costs add up to %(lines)s, the document's total_cost says %(total)s.",
                    lines=_plain(signed),
                    total=_plain(total_cost),
                )
            )


def _per_unit(amount: Decimal, quantity: Decimal) -> Decimal:
    value = amount / quantity
    return (
        value.quantize(Decimal(1))
        if value == value.to_integral_value()
        else value.quantize(Decimal("0.0001"))
    )


def _unit_name(value: Any) -> str:
    """The unit a line's quantity counts, "" for the variant's base unit."""
    if not isinstance(value, dict):
        return ""
    try:
        ratio = Decimal(str(value.get("ratio") or 1))
    except InvalidOperation:
        ratio = Decimal(1)
    if value.get("base") or ratio == 1:
        return ""
    return str(value.get("unit") or "")


def _plain(value: Decimal) -> str:
    return f"{value:f}"
