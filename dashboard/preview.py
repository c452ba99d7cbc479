"""What would happen to one order, and why: routing, issuance conditions and the invoice itself.

Used by `manage.py preview_invoice` and the mapping screen; it writes nothing and calls nobody.
"""

from django.utils import timezone

from connectors.routing import route
from haravan.convert import routing_facts
from meinvoice.convert import ConversionError, check_issuance, order_to_invoice, ref_id_for
from meinvoice.mapping import MappingError
from meinvoice.services import account_options, mapping_for


def preview_order(connection, order: dict) -> dict:
    decision = route(connection, routing_facts(order))
    account = decision.account
    answer = {
        "issue": False,
        "reason": "",
        "account": {"tax_code": account.external_id, "name": account.name} if account else None,
        "invoice": None,
    }
    if account is None:
        answer["reason"] = decision.explanation
        return answer
    try:
        mapping = mapping_for(connection)
    except MappingError as exc:
        answer["reason"] = f"The meInvoice mapping is invalid: {exc}"
        return answer
    eligible, why = check_issuance(order, mapping)
    if not eligible:
        answer["reason"] = f"{why} (If issued: {decision.explanation})"
        return answer
    series = account_options(account)["series"]
    if not series:
        answer["reason"] = f"No invoice series chosen for MST {account.external_id}."
        return answer
    try:
        answer["invoice"] = order_to_invoice(
            order,
            mapping,
            tax_code=account.external_id,
            series=series,
            ref_id=ref_id_for(account.external_id, order.get("id") or "preview", "invoice"),
            inv_date=timezone.localdate(),
            seller_shop_name=account.name,
        )
    except ConversionError as exc:
        answer["reason"] = f"No invoice: {exc}"
        return answer
    answer["issue"] = True
    answer["reason"] = f"{why} {decision.explanation}"
    return answer
