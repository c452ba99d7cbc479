"""What would happen to one order, and why: routing, issuance conditions and the invoice itself.

Used by `manage.py preview` (and its alias `preview_invoice`) and the mapping screen; it writes nothing and
calls nobody.
"""

from decimal import Decimal, InvalidOperation

from connectors.money import amount_text
from connectors.routing import route
from connectors.text import Text, join

from .convert import (
    Changed,
    ConversionError,
    NothingToAdjust,
    adjustment_for_refund,
    check_issuance,
    ref_id_for,
    replacement_for_refund,
    sale_to_invoice,
)
from .mapping import MappingError
from .services import account_options, described_sale, issue_for, mapping_for


def preview_order(connection, order: dict) -> dict:
    """{"issue", "reason", "explanation", "issuance", "account", "invoice", "adjustments"}: `explanation`
    says why this account, `issuance` why an invoice is (not) issued, `reason` is both in one sentence (as
    ``Text``: the page shows them in its language, the command prints them in English); `adjustments` what
    the order's refunds would issue after the invoice (see ``what_follows``)."""
    decision = route(connection, connection.source.routing_facts(order))
    account = decision.account
    answer = {
        "issue": False,
        "reason": "",
        "explanation": decision.explanation,
        "issuance": "",
        "account": {"tax_code": account.external_id, "name": account.name} if account else None,
        "invoice": None,
        "adjustments": [],
    }

    def decided(issuance, reason) -> dict:
        answer["issuance"], answer["reason"] = issuance, reason
        return answer

    if account is None:
        return decided("", decision.explanation)
    try:
        mapping = mapping_for(connection)
    except MappingError as exc:
        invalid = Text("The meInvoice mapping is invalid: %(error)s", error=str(exc))
        return decided(invalid, invalid)
    # With the shop's catalogue and customer list, as issuing does.
    sale = connection.source.read_sale(connection, order, mapping.read_options)
    sale = described_sale(connection, order, sale, mapping)
    eligible, why = check_issuance(sale, mapping)
    if not eligible:
        return decided(why, Text("%(why)s (If issued: %(route)s)", why=why, route=decision.explanation))
    series = account_options(account)["series"]
    if not series:
        missing = Text("No invoice series chosen for MST %(mst)s.", mst=account.external_id)
        return decided(missing, missing)
    try:
        ref_id = ref_id_for(account.external_id, order.get("id") or "preview", "invoice")
        answer["invoice"] = sale_to_invoice(
            sale,
            mapping,
            issue_for(account, series, ref_id),
            seller_shop_name=account.name,
        )
    except ConversionError as exc:
        refused = Text("No invoice: %(reason)s", reason=exc.text)
        return decided(refused, refused)
    answer["issue"] = True
    answer["adjustments"] = what_follows(sale, mapping, account, order.get("id"), answer["invoice"])
    return decided(why, join([why, decision.explanation]))


# Until it is published, the invoice has no number: the invoices that follow it name this one instead.
UNNUMBERED = "00000000"


def what_follows(sale, mapping, account, order_id, invoice: dict) -> list[dict]:
    """[{"kind", "reason", "invoice"}]: for each refund of the sale (oldest first), what the returns policy
    would issue once ``invoice`` is issued as previewed, as issuing does it: an adjustment or a replacement
    (``invoice`` its InvoiceData), a refusal (``invoice`` None, ``reason`` why), or nothing, left to a person
    (kind "manual"). A refund that gives no money back changes no invoice and is not listed. A cancellation
    never follows here: a cancelled order is not invoiced at all (its adjustment to zero is made only for an
    invoice issued before the order was cancelled)."""
    series, day = invoice["InvSeries"], invoice["InvDate"]
    first = current = Changed({"InvSeries": series, "InvNo": UNNUMBERED, "InvDate": day}, invoice)
    follows = []

    def issue(kind: str):
        return issue_for(account, series, ref_id_for(account.external_id, order_id or "preview", kind))

    policy = mapping.returns.on_refund
    for refund in sale.refunds:
        name = refund.name
        if refund.money == 0:
            continue  # goods back with no money: the invoice stays as it is
        if policy == "manual":
            reason = Text(
                "Refund %(refund)s: the returns policy is manual, so nothing is issued; adjust it in "
                "meInvoice.",
                refund=name,
            )
            follows.append({"kind": "manual", "reason": reason, "invoice": None})
            continue
        kind = "replacement" if policy == "replace" else "adjustment"
        try:
            if policy == "replace":
                made = replacement_for_refund(
                    sale, refund, mapping, issue(f"replace:{refund.key}"), first, current
                )
                current = Changed({"InvSeries": series, "InvNo": UNNUMBERED, "InvDate": day}, made)
                reason = Text(
                    "Refund %(refund)s gives back %(money)s: a replacement invoice for what the buyer keeps, "
                    "%(total)s.",
                    refund=name,
                    money=amount_text(refund.money, sale.currency),
                    total=amount_text(made["TotalAmount"], sale.currency),
                )
            else:
                made = adjustment_for_refund(sale, refund, mapping, issue(f"refund:{refund.key}"), first)
                reason = Text(
                    "Refund %(refund)s gives back %(money)s: an adjustment invoice of %(total)s.",
                    refund=name,
                    money=amount_text(refund.money, sale.currency),
                    total=amount_text(made["TotalAmount"], sale.currency),
                )
        except NothingToAdjust:
            continue  # worth less than a đồng: nothing changes either
        except ConversionError as exc:
            reason = Text("Nothing issued for refund %(refund)s: %(reason)s", refund=name, reason=exc.text)
            follows.append({"kind": kind, "reason": reason, "invoice": None})
            continue
        if mapping.returns.require_agreement:
            held = Text(
                "It waits for the reference of the agreement with the buyer (or of the notice sent to them), "
                "entered on its page, before it is issued."
            )
            reason = join([reason, held])
        follows.append({"kind": kind, "reason": reason, "invoice": made})
    return follows


# --- how the mapping screen shows the invoice -------------------------------------------------------


def _number(value, places: int = 0) -> str:
    """Vietnamese figures whatever the page's language (the invoice is in đồng): 1.234.567,5."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = f"{amount:,.{places}f}" if places and amount != amount.to_integral_value() else f"{amount:,.0f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def invoice_view(invoice: dict) -> dict:
    """The invoice's lines, rates and totals as the page shows them."""
    lines = [
        {
            "number": d.get("LineNumber"),
            "name": d.get("ItemName", ""),
            "code": d.get("ItemCode", ""),
            "unit": d.get("UnitName", ""),
            "quantity": _number(d.get("Quantity", 0), 3),
            "unit_price": _number(d.get("UnitPrice", 0), 2),
            "amount": _number(d.get("Amount", 0)),
            "discount": _number(d.get("DiscountAmount", 0)),
            "net": _number(d.get("AmountWithoutVAT", 0)),
            "rate": d.get("VATRateName") or "",
            "vat": _number(d.get("VATAmount", 0)),
        }
        for d in invoice.get("OriginalInvoiceDetail") or []
    ]
    rates = [
        {
            "rate": r.get("VATRateName", ""),
            "net": _number(r.get("AmountWithoutVATOC", 0)),
            "vat": _number(r.get("VATAmountOC", 0)),
        }
        for r in invoice.get("TaxRateInfo") or []
    ]
    return {
        "series": invoice.get("InvSeries", ""),
        "buyer": {
            "name": invoice.get("BuyerLegalName") or invoice.get("BuyerFullName") or "",
            "tax_code": invoice.get("BuyerTaxCode") or "",
            "address": invoice.get("BuyerAddress") or "",
            "email": invoice.get("BuyerEmail") or "",
        },
        "lines": lines,
        "rates": rates,
        "net": _number(invoice.get("TotalAmountWithoutVAT", 0)),
        "vat": _number(invoice.get("TotalVATAmount", 0)),
        "total": _number(invoice.get("TotalAmount", 0)),
        "in_words": invoice.get("TotalAmountInWords", ""),
    }
