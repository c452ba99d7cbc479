"""A sale described as the accounting system describes it (the mapping's ``describe_as_accounting``): pure.

``described(sale, facts)`` changes words, never money: a line whose item code the accounting system's
records know takes the item's name and unit (and its tax rate, when the item states one; else the line
keeps its own); the buyer of a company invoice takes the legal name of the record with their tax code. A
tax code is never invented: it is filled only for a buyer without one whose own record (found by the code
the accounting system files this very buyer under) carries a tax code meInvoice accepts, and only when the
invoice then has everything Decree 70 wants with it (a name and an address), so that taking the books'
record never holds an invoice that would otherwise go out.
"""

from __future__ import annotations

from dataclasses import replace

from connectors.reference import BuyerFacts, ItemFacts, ReferenceFacts, tax_key
from connectors.sale import Buyer, Sale, SaleLine
from connectors.taxcode import buyer_tax_code_error, is_personal_id


def described(sale: Sale, facts: ReferenceFacts | None) -> Sale:
    """The sale with the accounting system's words for its items and its buyer (the same sale when the
    facts change nothing)."""
    if facts is None:
        return sale
    lines = tuple(_line(line, facts.item(line.item_code)) for line in sale.lines)
    buyer = _buyer(sale.buyer, facts)
    if buyer is sale.buyer and all(new is old for new, old in zip(lines, sale.lines, strict=True)):
        return sale
    return replace(sale, lines=lines, buyer=buyer)


def _line(line: SaleLine, item: ItemFacts | None) -> SaleLine:
    if item is None:
        return line
    changes: dict = {}
    name, unit = " ".join(item.name.split()), " ".join(item.unit.split())
    if name and name != line.name:
        changes["name"] = name
    if unit and unit != line.unit:
        changes["unit"] = unit
    if item.tax_rate is not None:
        changes["tax_rate"], changes["tax_category"] = item.tax_rate, item.tax_category
    return replace(line, **changes) if changes else line


def _origin(facts: ReferenceFacts, record: BuyerFacts) -> str:
    return f"{facts.source} {record.code}".strip()


def _buyer(buyer: Buyer, facts: ReferenceFacts) -> Buyer:
    own = facts.buyer
    if buyer.tax_code:
        same = own is not None and own.tax_code and tax_key(own.tax_code) == tax_key(buyer.tax_code)
        record = own if same else facts.company(buyer.tax_code)
        if record is None or not record.legal_name.strip():
            return buyer
        where = _origin(facts, record)
        changes: dict = {
            "legal_name": record.legal_name.strip(),
            "origin": {**buyer.origin, "legal_name": where},
        }
        if not buyer.address and record.address:
            changes["address"] = record.address
            changes["origin"]["address"] = where
        if changes["legal_name"] == buyer.legal_name and "address" not in changes:
            return buyer
        return replace(buyer, **changes)
    if own is None or not own.tax_code:
        return buyer
    tax_code = tax_key(own.tax_code)
    if buyer_tax_code_error(tax_code):
        return buyer  # a record meInvoice would refuse: the invoice stays a retail one
    legal_name = buyer.legal_name or own.legal_name.strip()
    address = buyer.address or own.address
    personal = is_personal_id(tax_code)
    if not (legal_name or (personal and buyer.name)) or not (address or (personal and buyer.home_address)):
        return buyer  # Decree 70 wants a name and an address with a tax code: none to add without them
    where = _origin(facts, own)
    origin = {**buyer.origin, "tax_code": where}
    if not buyer.legal_name and legal_name:
        origin["legal_name"] = where
    if not buyer.address and address:
        origin["address"] = where
    return replace(buyer, tax_code=tax_code, legal_name=legal_name, address=address, origin=origin)
