"""A stock document → MISA AMIS vouchers: pure functions, no database, no HTTP.

The contract
------------
Input: one ``connectors.stock.StockDocument`` in status DONE, the AMIS company's ``amis.mapping.Mapping``
(its ``stock`` settings, its locations → branch and warehouse, item codes and units), the company's
``org_company_code``, the document's revision, and — for lines whose source gives no cost — ``costs``, the
unit cost of an AMIS item code (the purchase price the company keeps on the item).

Output: ``Converted``: the vouchers, each with the ``part`` of the document it books, and the master data
they need in the same ``save`` call (a supplier's account object). A document that cannot be booked raises
``ConversionError`` whose ``Text`` says what a person must do.

- purchase receive → ``pu_voucher`` 18/302 (purchase with stock receipt, unpaid; MISA's own sample client):
  the supplier as a vendor account object, lines at the cost the source gives (pre-VAT: the shop's
  documents carry no VAT; the accountant adds the supplier invoice's), debit inventory 1561 / credit
  payable 331;
- purchase return → a stock issue 8 (debit payable 331 / credit inventory 1561, the supplier on each line),
  or — with ``stock.return_style`` "voucher" — the return document (type/reftype settings, Unconfirmed);
- adjustment → a stock receipt 7 for the increases and a stock issue 8 for the decreases (one document may
  give both), accounts by reason, lines at the absolute value of their signed cost;
- transfer (received) → one transfer voucher (type/reftype settings, Unconfirmed; AMIS values the goods) or
  a stock issue 8 from the origin's warehouse + a receipt 7 at the destination's, at cost, 1561/1561.

Every line names its warehouse (``stock_code``); header totals are the sums of the lines' amounts (whole
đồng, rounded half up per line); each voucher's quantities are the document's (absolute for adjustments),
line by line. ``org_refid`` is a UUID from (company, kind:part, source id, revision), as for sales.
A transfer between locations of different companies is not a transfer: ``cross_company_hold`` says what
to post in each.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingType
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors import stock
from connectors.stock import StockDocument, StockLine
from connectors.taxcode import buyer_tax_code_error
from connectors.text import Text, join, plain

from .convert import (
    ACCOUNT_OBJECT,
    ORGANISATION,
    ConversionError,
    _child_id,
    account_object_id,
    local_time,
    org_refid_for,
)
from .mapping import Location, Mapping, lookup

PURCHASE_VOUCHER, PURCHASE_REFTYPE = 18, 302  # pu_voucher, bought on credit with stock receipt [M]
STOCK_RECEIPT, STOCK_ISSUE = 7, 8  # in_inward, in_outward (reftypes are settings)

# The parts of a document: which of its vouchers one is
PURCHASE, RETURN, RECEIPT, ISSUE, TRANSFER = "purchase", "return", "receipt", "issue", "transfer"

_ONE = Decimal(1)
_UNIT_PRICE_STEP = Decimal("0.0001")
_MEMO_LIMIT = 250
_REFNO_LIMIT = 20

KIND_WORDS = {
    stock.PURCHASE_RECEIVE: Text("purchase receive"),
    stock.PURCHASE_RETURN: Text("purchase return"),
    stock.ADJUSTMENT: Text("adjustment"),
    stock.TRANSFER: Text("transfer"),
}


@dataclass(frozen=True)
class StockVoucher:
    part: str  # PURCHASE, RETURN, RECEIPT, ISSUE or TRANSFER
    voucher: dict


@dataclass(frozen=True)
class Converted:
    vouchers: tuple[StockVoucher, ...]
    dictionary: tuple[dict, ...] = ()  # account objects (the supplier) for the same save call


# --- small helpers -------------------------------------------------------------------------------------


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _whole(value: Decimal) -> int:
    return int(value.quantize(_ONE, ROUND_HALF_UP))


def _label(doc: StockDocument) -> str:
    return doc.number or doc.source_id


def _refno(doc: StockDocument, suffix: str = "") -> str:
    base = _label(doc)[: _REFNO_LIMIT - len(suffix)]
    return f"{base}{suffix}"


def part_kind(doc_kind: str, part: str) -> str:
    """The kind under which a part's ``org_refid`` is derived: "adjustment:receipt"."""
    return f"{doc_kind}:{part}"


def refid_of(doc: StockDocument, part: str, company: str, revision: int) -> str:
    return org_refid_for(company, part_kind(doc.kind, part), doc.source_id, revision)


def location_for(place: str, mapping: Mapping) -> Location | None:
    """The branch and warehouse the mapping gives a source location (None: not listed)."""
    return lookup(mapping.locations, place) if place else None


def _warehouse(doc: StockDocument, place: str, name: str, mapping: Mapping, company: str) -> tuple[str, Any]:
    """(stock code, branch id) of a location, or ConversionError saying which mapping row to fill."""
    found = location_for(place, mapping)
    if found is None or not found.stock_code:
        raise ConversionError(
            Text(
                "%(doc)s: location %(location)s has no AMIS warehouse in the mapping of company "
                "%(company)s: add the location with its stock code (Kho) to the company's mapping, then "
                "retry.",
                doc=_label(doc),
                location=f"{name} ({place})" if name else place or "-",
                company=company,
            )
        )
    return found.stock_code, found.branch_id or mapping.default_branch_id


def item_code(line: StockLine, mapping: Mapping, doc: StockDocument) -> str:
    """The AMIS item code of a line: the mapping's entry for its SKU (or source item id), else the SKU."""
    key = line.sku or line.item_id
    mapped = lookup(mapping.item_codes, key) if key else None
    code = plain(mapped or line.sku)
    if not code:
        raise ConversionError(
            Text(
                "%(doc)s: the item “%(name)s” has no SKU and no AMIS item code is mapped for it (item id "
                "%(item)s): give the variant a SKU or map it to an AMIS item.",
                doc=_label(doc),
                name=line.name or "-",
                item=line.item_id or "-",
            )
        )
    return code


def _line_value(
    line: StockLine, code: str, doc: StockDocument, costs: MappingType[str, Decimal] | None, *, required: bool
) -> Decimal | None:
    """The line's cost, positive: the source's total, else its unit cost × quantity, else the item's cost
    in AMIS; None when nothing gives one and ``required`` is false (AMIS values the goods)."""
    quantity = abs(line.quantity)
    if line.amount is not None:
        return abs(line.amount)
    if line.unit_cost is not None:
        return abs(line.unit_cost) * quantity
    known = lookup(dict(costs or {}), code)
    if known is not None:
        return abs(Decimal(known)) * quantity
    if not required:
        return None
    raise ConversionError(
        Text(
            "%(doc)s: no cost is known for item %(code)s (the document gives none and the AMIS item has no "
            "purchase price): set the item's purchase price in AMIS and sync master data, then retry.",
            doc=_label(doc),
            code=code,
        )
    )


def _moment(doc: StockDocument) -> str:
    if doc.at is None:
        raise ConversionError(
            Text("%(doc)s has no date on which it moved stock: nothing can be posted.", doc=_label(doc))
        )
    return local_time(doc.at)


def _memo(words: str) -> str:
    return words[:_MEMO_LIMIT]


# --- lines and vouchers --------------------------------------------------------------------------------


def _detail(
    refid: str,
    number: int,
    line: StockLine,
    code: str,
    value: Decimal | None,
    *,
    mapping: Mapping,
    stock_code: str,
    debit: str,
    credit: str,
    party: str | None = None,
) -> dict:
    quantity = abs(line.quantity)
    amount = _whole(value) if value is not None else 0
    unit_price = (
        (Decimal(amount) / quantity).quantize(_UNIT_PRICE_STEP, ROUND_HALF_UP) if quantity else Decimal(0)
    )
    unit = lookup(mapping.units, code) or line.unit or mapping.default_unit
    detail = {
        "ref_detail_id": _child_id(refid, f"line:{number}"),
        "refid": refid,
        "sort_order": number,
        "inventory_item_code": code,
        "inventory_item_name": line.name or code,
        "description": line.name or code,
        "unit_name": unit,
        "main_unit_name": unit,
        "main_convert_rate": 1,
        "quantity": _number(quantity),
        "main_quantity": _number(quantity),
        "unit_price": _number(unit_price),
        "main_unit_price": _number(unit_price),
        "amount": amount,
        "amount_oc": amount,
        "debit_account": debit,
        "credit_account": credit,
        "stock_code": stock_code,
    }
    if party:
        detail["account_object_code"] = party
    return detail


def _header(
    doc: StockDocument,
    part: str,
    company: str,
    revision: int,
    *,
    voucher_type: int,
    reftype: int,
    refno: str,
    branch: Any,
    name: str,
    memo: str,
) -> dict:
    when = _moment(doc)
    org_refid = refid_of(doc, part, company, revision)
    return {
        "voucher_type": voucher_type,
        "org_refid": org_refid,
        "org_refno": refno,
        "org_reftype": reftype,
        "org_reftype_name": name,
        "reftype": reftype,
        "refid": _child_id(org_refid, "refid"),
        "is_get_new_id": True,
        "branch_id": branch,
        "refdate": when,
        "posted_date": when,
        "in_reforder": when,
        "currency_id": "VND",
        "exchange_rate": 1,
        "journal_memo": _memo(memo),
        "custom_field1": doc.source_id,
    }


def _close(voucher: dict, detail: list[dict]) -> dict:
    total = sum(d["amount"] for d in detail)
    voucher.update(total_amount=total, total_amount_oc=total, detail=detail)
    return voucher


def _party_fields(code: str, name: str, supplier) -> dict:
    return {
        "account_object_code": code,
        "account_object_name": name,
        "account_object_address": (supplier.address if supplier else "") or "",
        "account_object_tax_code": (supplier.tax_code if supplier else "") or None,
    }


# --- suppliers -----------------------------------------------------------------------------------------


def supplier_code(doc: StockDocument, mapping: Mapping) -> tuple[str, str]:
    """(the AMIS code of the document's supplier, its name): its own account object coded by the
    mapping's rule from the supplier's id, else the company's fixed supplier; ConversionError if neither."""
    rules = mapping.stock
    supplier = doc.supplier
    key = plain(supplier.key) if supplier else ""
    if key:
        return rules.supplier_code.format(supplier_id=key), plain(supplier.name) or key
    if rules.default_supplier:
        name = plain(supplier.name) if supplier else ""
        return rules.default_supplier, name or rules.default_supplier
    raise ConversionError(
        Text(
            "%(doc)s names no supplier with an id (%(name)s): set the supplier in Haravan, or give the "
            "company's mapping a fixed supplier for such documents, then retry.",
            doc=_label(doc),
            name=(plain(supplier.name) if supplier else "") or "-",
        )
    )


def supplier_dictionary(doc: StockDocument, mapping: Mapping) -> tuple[dict, ...]:
    """The supplier's account object (``is_vendor``) for the same save call; none for the company's fixed
    supplier (the accountant keeps it) or a document without one."""
    supplier = doc.supplier
    if supplier is None or not plain(supplier.key):
        return ()
    code, name = supplier_code(doc, mapping)
    tax_code = plain(supplier.tax_code)
    valid = bool(tax_code) and buyer_tax_code_error(tax_code) is None
    item: dict[str, Any] = {
        "dictionary_type": ACCOUNT_OBJECT,
        "account_object_id": account_object_id(code),
        "account_object_code": code,
        "account_object_name": name,
        "account_object_type": ORGANISATION,
        "is_customer": False,
        "is_vendor": True,
        "is_employee": False,
        "address": plain(supplier.address),
        "company_tax_code": tax_code if valid else "",
        "pay_account": mapping.stock.payable_account,
        "inactive": False,
    }
    if supplier.phone:
        item["tel"] = plain(supplier.phone)
    if supplier.email:
        item["email_address"] = plain(supplier.email)
    return (item,)


# --- the kinds -----------------------------------------------------------------------------------------


def _purchase(doc, mapping, company, revision, costs) -> Converted:
    rules = mapping.stock
    code, name = supplier_code(doc, mapping)
    stock_code, branch = _warehouse(doc, doc.location, doc.location_name, mapping, company)
    voucher = _header(
        doc,
        PURCHASE,
        company,
        revision,
        voucher_type=PURCHASE_VOUCHER,
        reftype=PURCHASE_REFTYPE,
        refno=_refno(doc),
        branch=branch,
        name="Mua hàng nhập kho",
        memo=f"Mua hàng nhập kho theo phiếu {_label(doc)} ({doc.source_id})"
        + (f", chứng từ NCC {doc.reference}" if doc.reference else ""),
    )
    voucher.update(_party_fields(code, name, doc.supplier))
    voucher.update(is_paid=False, include_invoice=0, total_vat_amount=0, total_vat_amount_oc=0)
    detail = []
    for number, line in enumerate(_goods(doc), start=1):
        item = item_code(line, mapping, doc)
        value = _line_value(line, item, doc, costs, required=True)
        d = _detail(
            voucher["refid"],
            number,
            line,
            item,
            value,
            mapping=mapping,
            stock_code=stock_code,
            debit=rules.inventory_account,
            credit=rules.payable_account,
            party=code,
        )
        d.update(vat_rate=-1, vat_amount=0, vat_amount_oc=0, discount_amount=0, discount_amount_oc=0)
        if rules.purchase_purpose_code:
            d["purchase_purpose_code"] = rules.purchase_purpose_code
        if line.lots:
            d["lot_no"] = line.lots[0][0]
        detail.append(d)
    return Converted((StockVoucher(PURCHASE, _close(voucher, detail)),), supplier_dictionary(doc, mapping))


def _return(doc, mapping, company, revision, costs) -> Converted:
    rules = mapping.stock
    code, name = supplier_code(doc, mapping)
    stock_code, branch = _warehouse(doc, doc.location, doc.location_name, mapping, company)
    as_voucher = rules.return_style == "voucher"
    part = RETURN if as_voucher else ISSUE
    voucher = _header(
        doc,
        part,
        company,
        revision,
        voucher_type=rules.return_voucher_type if as_voucher else STOCK_ISSUE,
        reftype=rules.return_reftype if as_voucher else rules.issue_reftype,
        refno=_refno(doc),
        branch=branch,
        name="Trả lại hàng mua" if as_voucher else "Xuất kho trả lại hàng mua",
        memo=f"Trả lại hàng mua theo phiếu {_label(doc)} ({doc.source_id})",
    )
    voucher.update(_party_fields(code, name, doc.supplier))
    detail = [
        _detail(
            voucher["refid"],
            number,
            line,
            item,
            _line_value(line, item, doc, costs, required=True),
            mapping=mapping,
            stock_code=stock_code,
            debit=rules.payable_account,
            credit=rules.inventory_account,
            party=code,
        )
        for number, (line, item) in enumerate(
            ((ln, item_code(ln, mapping, doc)) for ln in _goods(doc)), start=1
        )
    ]
    return Converted((StockVoucher(part, _close(voucher, detail)),), supplier_dictionary(doc, mapping))


def _adjustment(doc, mapping, company, revision, costs) -> Converted:
    rules = mapping.stock
    accounts = rules.accounts_for(doc.reason)
    stock_code, branch = _warehouse(doc, doc.location, doc.location_name, mapping, company)
    reason = f" ({doc.reason})" if doc.reason else ""
    out = []
    for part, lines, voucher_type, reftype, debit, credit, suffix, words in (
        (
            RECEIPT,
            doc.increases,
            STOCK_RECEIPT,
            rules.receipt_reftype,
            accounts.receipt_debit,
            accounts.receipt_credit,
            "-N",
            "Nhập kho điều chỉnh",
        ),
        (
            ISSUE,
            doc.decreases,
            STOCK_ISSUE,
            rules.issue_reftype,
            accounts.issue_debit,
            accounts.issue_credit,
            "-X",
            "Xuất kho điều chỉnh",
        ),
    ):
        if not lines:
            continue
        voucher = _header(
            doc,
            part,
            company,
            revision,
            voucher_type=voucher_type,
            reftype=reftype,
            refno=_refno(doc, suffix),
            branch=branch,
            name=words,
            memo=f"{words} theo phiếu {_label(doc)}{reason}" + (f": {doc.note}" if doc.note else ""),
        )
        detail = []
        for number, line in enumerate(lines, start=1):
            item = item_code(line, mapping, doc)
            value = _line_value(line, item, doc, costs, required=True)
            detail.append(
                _detail(
                    voucher["refid"],
                    number,
                    line,
                    item,
                    value,
                    mapping=mapping,
                    stock_code=stock_code,
                    debit=debit,
                    credit=credit,
                )
            )
        out.append(StockVoucher(part, _close(voucher, detail)))
    if not out:
        raise ConversionError(Text("%(doc)s moves no stock: nothing to post.", doc=_label(doc)))
    return Converted(tuple(out))


def _transfer(doc, mapping, company, revision, costs) -> Converted:
    rules = mapping.stock
    origin, branch = _warehouse(doc, doc.location, doc.location_name, mapping, company)
    destination, _ = _warehouse(doc, doc.to_location, doc.to_location_name, mapping, company)
    if origin.casefold() == destination.casefold():
        raise ConversionError(
            Text(
                "%(doc)s moves goods between two locations that share AMIS warehouse %(stock)s in company "
                "%(company)s: nothing moves in AMIS. Give the locations their own warehouses, or leave it.",
                doc=_label(doc),
                stock=origin,
                company=company,
            )
        )
    inventory = rules.inventory_account
    memo = f"Chuyển kho theo phiếu {_label(doc)}: {origin} → {destination}"
    if rules.transfer_style == "voucher":
        voucher = _header(
            doc,
            TRANSFER,
            company,
            revision,
            voucher_type=rules.transfer_voucher_type,
            reftype=rules.transfer_reftype,
            refno=_refno(doc),
            branch=branch,
            name="Xuất kho kiêm vận chuyển nội bộ",
            memo=memo,
        )
        voucher.update(from_stock_code=origin, to_stock_code=destination)
        detail = []
        for number, line in enumerate(_goods(doc), start=1):
            item = item_code(line, mapping, doc)
            value = _line_value(line, item, doc, costs, required=False)
            d = _detail(
                voucher["refid"],
                number,
                line,
                item,
                value,
                mapping=mapping,
                stock_code=origin,
                debit=inventory,
                credit=inventory,
            )
            d.update(from_stock_code=origin, to_stock_code=destination)
            detail.append(d)
        return Converted((StockVoucher(TRANSFER, _close(voucher, detail)),))
    out = []
    for part, stock_code, voucher_type, reftype, suffix, words in (
        (ISSUE, origin, STOCK_ISSUE, rules.issue_reftype, "-X", "Xuất kho chuyển kho"),
        (RECEIPT, destination, STOCK_RECEIPT, rules.receipt_reftype, "-N", "Nhập kho chuyển kho"),
    ):
        voucher = _header(
            doc,
            part,
            company,
            revision,
            voucher_type=voucher_type,
            reftype=reftype,
            refno=_refno(doc, suffix),
            branch=branch,
            name=words,
            memo=memo,
        )
        detail = []
        for number, line in enumerate(_goods(doc), start=1):
            item = item_code(line, mapping, doc)
            value = _line_value(line, item, doc, costs, required=True)
            detail.append(
                _detail(
                    voucher["refid"],
                    number,
                    line,
                    item,
                    value,
                    mapping=mapping,
                    stock_code=stock_code,
                    debit=inventory,
                    credit=inventory,
                )
            )
        out.append(StockVoucher(part, _close(voucher, detail)))
    return Converted(tuple(out))


def _goods(doc: StockDocument) -> tuple[StockLine, ...]:
    """The lines that move goods (a line of quantity 0 moves nothing); none: ConversionError."""
    lines = tuple(line for line in doc.lines if line.quantity != 0)
    if not lines:
        raise ConversionError(Text("%(doc)s moves no stock: nothing to post.", doc=_label(doc)))
    negative = [line.sku or line.name for line in lines if line.quantity < 0]
    if negative:
        raise ConversionError(
            Text(
                "%(doc)s has negative quantities on %(items)s, which a %(kind)s cannot have: check it at the "
                "source.",
                doc=_label(doc),
                items=", ".join(negative),
                kind=KIND_WORDS.get(doc.kind, doc.kind),
            )
        )
    return lines


_CONVERTERS = {
    stock.PURCHASE_RECEIVE: _purchase,
    stock.PURCHASE_RETURN: _return,
    stock.ADJUSTMENT: _adjustment,
    stock.TRANSFER: _transfer,
}


def stock_to_vouchers(
    doc: StockDocument,
    mapping: Mapping,
    company: str,
    revision: int = 0,
    *,
    costs: MappingType[str, Decimal] | None = None,
) -> Converted:
    """The vouchers of a DONE stock document for the AMIS company ``company`` (see the module's contract);
    raises ``ConversionError`` with what a person must do when it cannot be booked."""
    if doc.kind not in _CONVERTERS:
        raise ValueError(f"unknown stock kind {doc.kind!r}")
    if doc.status != stock.DONE:
        raise ConversionError(why_not_done(doc))
    if doc.problems:
        raise ConversionError(
            Text("Nothing posted for %(doc)s: %(problems)s", doc=_label(doc), problems=join(doc.problems))
        )
    return _CONVERTERS[doc.kind](doc, mapping, company, revision, costs)


def why_not_done(doc: StockDocument) -> Text:
    """Why a document is not posted (yet), in words."""
    kind = KIND_WORDS.get(doc.kind, doc.kind)
    if doc.status == stock.CANCELLED:
        return Text(
            "The %(kind)s %(doc)s is cancelled (%(words)s): nothing is posted.",
            kind=kind,
            doc=_label(doc),
            words=doc.status_words or doc.status,
        )
    return Text(
        "The %(kind)s %(doc)s is not done yet (%(words)s): it is posted once it is.",
        kind=kind,
        doc=_label(doc),
        words=doc.status_words or doc.status,
    )


def cross_company_hold(
    doc: StockDocument,
    *,
    from_company: str,
    from_stock: str | None,
    to_company: str,
    to_stock: str | None,
) -> Text:
    """What a person posts for a transfer whose locations belong to two AMIS companies: goods leaving one
    company and entering another are a sale and a purchase between them, not a transfer."""
    items = ", ".join(
        f"{line.sku or line.name} × {_number(abs(line.quantity))}" for line in doc.lines if line.quantity
    )
    return Text(
        "Transfer %(doc)s moves goods from %(from_location)s (AMIS company %(from_company)s, warehouse "
        "%(from_stock)s) to %(to_location)s (AMIS company %(to_company)s, warehouse %(to_stock)s): "
        "between two companies this is not a transfer. Post in %(from_company)s a sale to "
        "%(to_company)s with a stock issue from %(from_stock)s, and in %(to_company)s a purchase from "
        "%(from_company)s with a stock receipt into %(to_stock)s, for: %(items)s. Nothing is posted for "
        "it automatically.",
        doc=_label(doc),
        from_location=doc.location_name or doc.location,
        to_location=doc.to_location_name or doc.to_location,
        from_company=from_company,
        from_stock=from_stock or "?",
        to_company=to_company,
        to_stock=to_stock or "?",
        items=items or "-",
    )


def stock_summary(voucher: dict) -> dict:
    """What a person reads of a stock voucher (a preview, a document's page)."""
    return {
        "voucher_type": voucher["voucher_type"],
        "reftype": voucher["reftype"],
        "org_refno": voucher["org_refno"],
        "total_amount": voucher["total_amount"],
        "lines": [
            {
                "item": d["inventory_item_code"],
                "quantity": d["quantity"],
                "amount": d["amount"],
                "stock_code": d["stock_code"],
                "debit": d["debit_account"],
                "credit": d["credit_account"],
            }
            for d in voucher["detail"]
        ],
    }
