"""What would be posted to AMIS for one order, and why: the company routing chooses, the vouchers its
mapping makes of the sale.

Used by ``manage.py preview --target amis`` and the mapping screen's route preview. It writes nothing and
calls nobody: the sale is read as posting reads it (with the source's caches), the vouchers come from
``amis.convert.preview`` with the routed company's own mapping (``TargetAccount.settings["mapping"]``).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _

from connectors.routing import route
from connectors.text import Text, join

from . import convert
from .mapping import Mapping, MappingError
from .services import mapping_for

MAPPING_KEY = "mapping"  # TargetAccount.settings["mapping"]: the company's mapping, as Mapping.to_dict()


def company_mapping(account) -> Mapping:
    """The mapping stored for one AMIS company (defaults where nothing is stored); MappingError when the
    stored one is invalid."""
    return mapping_for(account)


def preview_order(connection, raw: dict) -> dict:
    """``{"post", "reason", "account", "vouchers"}``: whether anything would be posted, why
    (in the active language: the page's, or the command's ``--language``), the company routing chooses
    (``{"org_company_code", "name"}``, or None) and the vouchers in ``convert.voucher_summary``'s shape.

    The reason says why no company (routing), why nothing is due yet (the document policy), why the
    order is held (what the converter refuses), or what would be posted — the route's explanation
    following it whenever a company was chosen."""
    decision = route(connection, connection.source.routing_facts(raw))
    account = decision.account
    answer: dict[str, Any] = {
        "post": False,
        "reason": "",
        "account": {"org_company_code": account.external_id, "name": account.name} if account else None,
        "vouchers": [],
    }
    if account is None:
        answer["reason"] = str(decision.explanation)
        return answer
    company = account.external_id
    try:
        mapping = company_mapping(account)
    except MappingError as exc:
        answer["reason"] = str(
            Text(
                "The AMIS mapping of company %(company)s is invalid: %(error)s. Correct it under Mapping.",
                company=company,
                error=str(exc),
            )
        )
        return answer
    sale = connection.source.read_sale(connection, raw, mapping.read_options)
    result = convert.preview(sale, mapping, company)
    answer["post"], answer["vouchers"] = bool(result["post"]), list(result["vouchers"])
    answer["reason"] = str(_reason(sale, mapping, company, answer["vouchers"], decision.explanation))
    return answer


def _reason(sale, mapping: Mapping, company: str, vouchers: list[dict], route_explanation) -> Text:
    """The converter's own sentence (it gives its reason in English only), in the reader's language."""
    if vouchers:
        posted = Text(
            "Order %(label)s would be posted as: %(kinds)s.",
            label=sale.label,
            kinds=", ".join(f"{v['voucher_type']}/{v['reftype']} {v['org_refno']}" for v in vouchers),
        )
        return join([posted, route_explanation])
    kinds = convert.due_kinds(sale, mapping)
    if not kinds:
        why = convert.why_not_due(sale, mapping)
        return Text("%(why)s (If posted: %(route)s)", why=why, route=route_explanation)
    try:
        convert.sale_to_vouchers(sale, mapping, company, kinds=kinds)
    except convert.ConversionError as exc:
        return Text("Held, nothing posted: %(reason)s", reason=exc.text)
    # The converter made vouchers this time but not the first (it is pure, so this does not happen).
    return Text("Nothing would be posted for order %(label)s.", label=sale.label)


# --- how the mapping screen shows the vouchers ---------------------------------------------------------

# (voucher_type, reftype) → what the voucher is, as a person in AMIS calls it [reference §5]
VOUCHER_KINDS = {
    (13, convert.UNPAID): _("Sales voucher (PBH), not paid yet"),
    (13, convert.PAID_CASH): _("Sales voucher (PBH), paid in cash"),
    (13, convert.PAID_BANK): _("Sales voucher (PBH), paid by bank"),
    (20, 3520): _("Sales order (ĐĐH)"),
    (5, 1010): _("Cash receipt"),
    (1, 1500): _("Bank deposit"),
}
# AMIS line VAT codes [reference §7] → how a rate is written
VAT_CODES = {0: "0%", 5: "5%", 8: "8%", 10: "10%", -1: "KCT", -2: "KKKNT", -3: "KHAC"}


def _number(value: Any) -> str:
    """Vietnamese figures whatever the page's language (the books are in đồng): 1.234.567,5."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    whole = amount == amount.to_integral_value()
    text = f"{amount:,.0f}" if whole else f"{amount.normalize():,f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def voucher_view(voucher: dict) -> dict:
    """One voucher of a preview answer (``convert.voucher_summary``'s shape) as the page shows it."""
    key = (voucher.get("voucher_type"), voucher.get("reftype"))
    lines = [
        {
            "number": number,
            "code": d.get("inventory_item_code") or "",
            "quantity": _number(d.get("quantity", 0)),
            "unit_price": _number(d.get("unit_price", 0)),
            "amount": _number(d.get("amount", 0)),
            "discount": _number(d.get("discount_amount", 0)),
            "rate": VAT_CODES.get(d.get("vat_rate"), str(d.get("vat_rate", ""))),
            "vat": _number(d.get("vat_amount", 0)),
            "debit": d.get("debit_account") or "",
            "credit": d.get("credit_account") or "",
            "stock": d.get("stock_code") or "",
        }
        for number, d in enumerate(voucher.get("detail") or [], start=1)
    ]
    return {
        "kind": VOUCHER_KINDS.get(key, f"{key[0]}/{key[1]}"),
        "voucher_type": voucher.get("voucher_type"),
        "reftype": voucher.get("reftype"),
        "org_refno": voucher.get("org_refno") or "",
        "org_refid": voucher.get("org_refid") or "",
        "party": voucher.get("account_object_code") or "",
        "tax_code": voucher.get("account_object_tax_code") or "",
        "branch": voucher.get("branch_id") or "",
        "sale": _number(voucher.get("total_sale_amount", 0)),
        "discount": _number(voucher.get("total_discount_amount", 0)),
        "vat": _number(voucher.get("total_vat_amount", 0)),
        "total": _number(voucher.get("total_amount", 0)),
        "lines": lines,
        "stock_issue": any(line["stock"] for line in lines),
    }


def preview_context(answer: dict) -> dict:
    """What ``amis/_preview.html`` needs. Its keys are merged into the page's ``preview``, whose
    ``account`` is the routed TargetAccount: the company is therefore given as ``company``."""
    vouchers = answer.get("vouchers") or []
    return {
        "vouchers": [voucher_view(v) for v in vouchers],
        "company": answer.get("account"),
        "vouchers_json": json.dumps(vouchers, ensure_ascii=False, indent=2) if vouchers else "",
    }
