"""What would happen to one Severa invoice: the JSON ``manage.py preview --target maventa`` prints.

Nothing is stored and nothing is sent. When the invoice's customer has no e-invoice address of its own and
the account can sign in, Maventa's receiver lookup is asked, as the send would ask it.
"""

from __future__ import annotations

from connectors.http import ApiError
from connectors.routing import route as route_for

from . import documents
from .posting import not_sending, wrong_account
from .services import client_for
from .setup import COMPANY_UUID, AccountSetup, has_keys, setup_of


def preview_invoice(connection, raw: dict) -> dict:
    source = connection.source
    decision = route_for(connection, source.routing_facts(raw))
    account = decision.account
    setup = setup_of(account) if account is not None else AccountSetup()
    facts = source.invoice_facts(raw)
    sale = source.read_sale(connection, raw, None)
    route = documents.route_of(facts, setup)
    lookup_note = ""
    buyer = facts.get("buyer") or {}
    if route.channel != documents.EINVOICE and buyer.get("vat_number") and account and has_keys(account):
        try:
            receivers = client_for(account).lookup_receivers(
                bid=buyer["vat_number"], country=buyer.get("country") or ""
            )
        except ApiError as exc:
            lookup_note = f" (Maventa's receiver lookup could not be asked: {exc})"
        else:
            if receivers:
                route = documents.route_of(facts, setup, receivers)
    built = documents.build(sale, facts, account.external_id if account else "", setup, route)
    validation = documents.validation_json(built)
    send, reason = _decision(connection, raw, account, setup, decision, built, route)
    route_json = route.as_json()
    route_json["why"] += lookup_note
    return {
        "send": send,
        "reason": reason,
        "account": (
            {
                "vat_number": account.external_id,
                "company_uuid": str(account.credentials.get(COMPANY_UUID) or ""),
            }
            if account is not None
            else None
        ),
        "route": route_json,
        "format": documents.FORMAT,
        "ubl": built.ubl.decode() if built.ubl else "",
        "validation": {"valid": validation["valid"], "errors": validation["errors"]},
    }


def _account_json(account) -> dict | None:
    if account is None:
        return None
    return {
        "vat_number": account.external_id,
        "company_uuid": str(account.credentials.get(COMPANY_UUID) or ""),
    }


def _decision(connection, raw, account, setup, decision, built, route) -> tuple[bool, str]:
    if account is None:
        return False, decision.explanation.english()
    status = ((raw.get("invoice") or {}).get("status") or {}).get("guid") or ""
    elsewhere = wrong_account(raw, account, connection)
    if elsewhere is not None:
        return False, elsewhere.english()
    if not built.valid:
        return False, documents.failed_rules(built).english()
    if route.channel is None:
        return False, route.why.english()
    why = not_sending(setup, account)
    if why is not None:
        return False, why.english()
    if str(status).lower() != setup.status_to_transfer.lower():
        name = ((raw.get("invoice") or {}).get("status") or {}).get("name") or status or "?"
        return False, f"The invoice is in the Severa status {name}, not in the one chosen to transfer."
    return True, (
        f"It would be sent to Maventa account {account.external_id} by {route.channel}: "
        f"{decision.explanation.english()}"
    )
