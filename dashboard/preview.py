"""What would happen to one order, and why: routing, issuance conditions and the invoice itself.

Used by `manage.py preview_invoice` and the mapping screen; it writes nothing and calls nobody.
"""

from django.utils import timezone

from connectors.routing import route
from haravan.read import routing_facts
from haravan.services import sale_for
from meinvoice.convert import ConversionError, Issue, check_issuance, ref_id_for, sale_to_invoice
from meinvoice.mapping import MappingError
from meinvoice.services import account_options, mapping_for


def preview_order(connection, order: dict) -> dict:
    """{"issue", "reason", "explanation", "issuance", "account", "invoice"}: `explanation` says why this
    account, `issuance` why an invoice is (not) issued, `reason` is both in one sentence."""
    decision = route(connection, routing_facts(order))
    account = decision.account
    answer = {
        "issue": False,
        "reason": "",
        "explanation": decision.explanation,
        "issuance": "",
        "account": {"tax_code": account.external_id, "name": account.name} if account else None,
        "invoice": None,
    }

    def decided(issuance: str, reason: str) -> dict:
        answer["issuance"], answer["reason"] = issuance, reason
        return answer

    if account is None:
        return decided("", decision.explanation)
    try:
        mapping = mapping_for(connection)
    except MappingError as exc:
        return decided(f"The meInvoice mapping is invalid: {exc}", f"The meInvoice mapping is invalid: {exc}")
    sale = sale_for(connection, order, mapping.read_options)  # with the shop's catalogue, as issuing does
    eligible, why = check_issuance(sale, mapping)
    why = str(why)
    if not eligible:
        return decided(why, f"{why} (If issued: {decision.explanation})")
    series = account_options(account)["series"]
    if not series:
        missing = f"No invoice series chosen for MST {account.external_id}."
        return decided(missing, missing)
    try:
        ref_id = ref_id_for(account.external_id, order.get("id") or "preview", "invoice")
        answer["invoice"] = sale_to_invoice(
            sale,
            mapping,
            Issue(account.external_id, series, ref_id, timezone.localdate()),
            seller_shop_name=account.name,
        )
    except ConversionError as exc:
        return decided(f"No invoice: {exc}", f"No invoice: {exc}")
    answer["issue"] = True
    return decided(why, f"{why} {decision.explanation}")
