"""One source invoice → what is sent to Maventa: the BIS 3 document, its validation, its route, its uuid.

Pure: no database, no HTTP. The inputs are the neutral sale and the invoice facts the source tells
(``SourceAdapter.invoice_facts``), the account's setup, and — when the customer has no e-invoice address of
its own — the receivers Maventa's lookup found for the buyer's business id.
"""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from dataclasses import dataclass, field, replace

from connectors.sale import Sale
from connectors.text import Text

from .convert import ConversionError, Options, Party, PaymentAccount, sale_to_ubl
from .setup import AccountSetup
from .validate import Issue, Validation, validate

FORMAT = "PEPPOLBIS30"
EINVOICE, EMAIL, PRINT = "einvoice", "email", "print"
# Our uuids are name-based (RFC 4122 v5) in this namespace: (source invoice id, revision) always gives the
# same uuid, so a resend after a timeout carries the uuid Maventa already knows.
UUID_NAMESPACE = uuidlib.UUID("5b7f3c1e-2d4a-4e8b-9c6f-1a2b3c4d5e6f")
# Routes other than the e-invoice network do not need the buyer's Peppol address (Maventa validates against
# the network's rules only when it routes there, maventa-severa.md §2).
NETWORK_ONLY_RULES = {"PEPPOL-EN16931-R010"}
SEND_LANGS = {"FI", "SE", "NO", "DK", "NL", "EN"}
LANGUAGE_TO_SEND = {
    "SV": "SE",
    "FI": "FI",
    "NB": "NO",
    "NN": "NO",
    "NO": "NO",
    "DA": "DK",
    "NL": "NL",
    "EN": "EN",
}


def derived_uuid(source_id: str, revision: int) -> str:
    return str(uuidlib.uuid5(UUID_NAMESPACE, f"{source_id.lower()}:{revision}"))


@dataclass(frozen=True)
class Route:
    channel: str | None  # einvoice | email | print; None: no way to deliver it
    why: Text
    recipient_eia: str = ""
    recipient_operator: str = ""
    recipient_email: str = ""
    disabled_routes: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return {
            "channel": self.channel,
            "recipient_eia": self.recipient_eia or None,
            "recipient_operator": self.recipient_operator or None,
            "recipient_email": self.recipient_email or None,
            "why": self.why.english(),
        }


@dataclass(frozen=True)
class Built:
    """The document for one invoice, or why there is none (``problems``)."""

    ubl: bytes | None
    validation: Validation | None
    problems: tuple[Text, ...] = ()
    credit_note: bool = False
    language: str = ""
    warnings: tuple[Issue, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return (
            self.ubl is not None
            and not self.problems
            and self.validation is not None
            and self.validation.valid
        )


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def org_number_of(vat_number: str, country: str) -> str:
    """The registration number a VAT number carries: SE 10-digit orgnr, FI Y-tunnus (NNNNNNN-C)."""
    digits = _digits(vat_number)
    if country == "SE" and len(digits) == 12:
        return digits[:10]
    if country == "FI" and len(digits) == 8:
        return f"{digits[:7]}-{digits[7]}"
    return ""


def _endpoint_of(address: str) -> tuple[str, str]:
    """(endpoint "scheme:value", Finnish OVT) of an e-invoice address as Severa stores it."""
    if ":" in address:
        return address, ""
    digits = _digits(address)
    if digits.startswith("0037") and len(digits) >= 12:
        return "", digits
    return "", ""


def seller_of(facts: dict, account_vat: str, setup: AccountSetup) -> Party:
    seller = facts.get("seller") or {}
    vat = (seller.get("vat_number") or account_vat).upper()
    country = setup.country or seller.get("country") or vat[:2]
    org = org_number_of(vat, country)
    return Party(
        name=seller.get("name") or "",
        country=country,
        org_number=org,
        vat_number=vat,
        ovt=f"0037{_digits(org)}" if country == "FI" and org else "",
        street=seller.get("street") or "",
        city=seller.get("city") or "",
        postal_code=seller.get("postal_code") or "",
    )


def buyer_of(facts: dict, route: Route | None = None) -> Party:
    buyer = facts.get("buyer") or {}
    vat = (buyer.get("vat_number") or "").upper()
    country = buyer.get("country") or (vat[:2] if vat[:2].isalpha() else "")
    endpoint, ovt = _endpoint_of(buyer.get("einvoice_address") or "")
    if not (endpoint or ovt) and route is not None and route.channel == EINVOICE and route.recipient_eia:
        endpoint, ovt = _endpoint_of(route.recipient_eia)
    return Party(
        name=buyer.get("name") or "",
        country=country,
        org_number=org_number_of(vat, country),
        vat_number=vat,
        ovt=ovt,
        endpoint=endpoint or (f"0216:{ovt}" if ovt else ""),
        street=buyer.get("street") or "",
        city=buyer.get("city") or "",
        postal_code=buyer.get("postal_code") or "",
        email=buyer.get("email") or "",
    )


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def options_of(facts: dict, setup: AccountSetup) -> Options:
    payment = setup.payment or {}
    days = facts.get("payment_term_days") or ""
    return Options(
        issue_date=_date(facts.get("issue_date") or ""),
        number=facts.get("number") or "",
        buyer_reference=facts.get("buyer_reference") or "",
        order_reference=facts.get("order_reference") or "",
        reverse_charge=bool(facts.get("reverse_charge")),
        reverse_charge_reason=facts.get("reverse_charge_reason") or "",
        exemption_reason=facts.get("exemption_reason") or "",
        payment=(
            PaymentAccount(kind=payment["kind"], account=payment["account"], bic=payment.get("bic") or "")
            if payment.get("kind") and payment.get("account")
            else None
        ),
        payment_terms=f"{days} days net" if days.isdigit() else "",
    )


def route_of(facts: dict, setup: AccountSetup, receivers=()) -> Route:
    """E-invoice when the customer has an e-invoice address (its own, or one Maventa's lookup found for its
    business id), else e-mail when allowed and it has one, else print unless print is off."""
    buyer = facts.get("buyer") or {}
    disabled = tuple(
        route
        for route, allowed in ((EMAIL, setup.email_fallback), (PRINT, setup.print_allowed))
        if not allowed
    )
    address = buyer.get("einvoice_address") or ""
    operator = buyer.get("einvoice_operator") or ""
    if address:
        endpoint, ovt = _endpoint_of(address)
        eia = endpoint or ovt or address
        why = (
            Text(
                "The customer's e-invoice address %(eia)s and operator %(operator)s in Severa.",
                eia=eia,
                operator=operator,
            )
            if operator
            else Text("The customer's e-invoice address %(eia)s in Severa.", eia=eia)
        )
        return Route(EINVOICE, why, recipient_eia=eia, recipient_operator=operator, disabled_routes=disabled)
    for receiver in receivers:
        eia = getattr(receiver, "eia", "") or ""
        if eia:
            return Route(
                EINVOICE,
                Text(
                    "Maventa's lookup found the e-invoice address %(eia)s for business id %(bid)s.",
                    eia=eia,
                    bid=buyer.get("vat_number") or "",
                ),
                recipient_eia=eia,
                disabled_routes=disabled,
            )
    email = buyer.get("email") or ""
    if email and setup.email_fallback:
        return Route(
            EMAIL,
            Text("No e-invoice address for the customer: sent by e-mail to %(email)s.", email=email),
            recipient_email=email,
            disabled_routes=(EINVOICE, *disabled),
        )
    if setup.print_allowed and buyer.get("street"):
        reason = (
            Text("No e-invoice address and the e-mail fallback is off: sent by post.")
            if email
            else Text("No e-invoice address and no e-mail for the customer: sent by post.")
        )
        return Route(PRINT, reason, disabled_routes=(EINVOICE, EMAIL))
    return Route(
        None,
        Text(
            "No way to deliver it: the customer has no e-invoice address, %(email)s, and %(print)s. Add the "
            "customer's e-invoice address or e-mail in Severa, or allow e-mail or print in the settings.",
            email=Text("the e-mail fallback is off") if email else Text("no e-mail"),
            print=Text("print is off") if not setup.print_allowed else Text("no postal address"),
        ),
    )


def build(sale: Sale, facts: dict, account_vat: str, setup: AccountSetup, route: Route) -> Built:
    """The BIS 3 document for the sale and its validation; what stands in the way, in words."""
    credit = bool(facts.get("credit_note")) or sale.document_type == "credit_note"
    language = LANGUAGE_TO_SEND.get((facts.get("language") or "").upper(), "")
    problems = tuple(sale.problems)
    if sale.paid_problem is not None:
        problems += (Text("The invoice's total is unreadable: %(why)s.", why=sale.paid_problem),)
    if problems:
        return Built(None, None, problems, credit, language)
    seller = seller_of(facts, account_vat, setup)
    buyer = buyer_of(facts, route)
    try:
        ubl = sale_to_ubl(sale, seller, buyer, options_of(facts, setup))
    except ConversionError as exc:
        return Built(None, None, (exc.text,), credit, language)
    validation = validate(ubl)
    if route.channel in (EMAIL, PRINT):
        moved = tuple(i for i in validation.errors if i.rule in NETWORK_ONLY_RULES)
        if moved:
            errors = tuple(i for i in validation.errors if i.rule not in NETWORK_ONLY_RULES)
            validation = replace(
                validation, valid=not errors, errors=errors, warnings=validation.warnings + moved
            )
    return Built(ubl, validation, (), credit, language)


def validation_json(built: Built) -> dict:
    if built.validation is None:
        return {
            "valid": False,
            "errors": [{"rule": "SOURCE", "message": p.english()} for p in built.problems],
            "warnings": [],
        }
    return {
        "valid": built.validation.valid,
        "errors": [{"rule": i.rule, "message": i.message.english()} for i in built.validation.errors],
        "warnings": [{"rule": i.rule, "message": i.message.english()} for i in built.validation.warnings],
    }


def failed_rules(built: Built) -> Text:
    """Each failed rule in words, for the document's error and the alert e-mail."""
    from connectors.text import join

    if built.validation is None:
        return Text("Not sent: %(problems)s", problems=join(list(built.problems), " "))
    parts = [
        Text("rule %(rule)s: %(message)s", rule=i.rule, message=i.message) for i in built.validation.errors
    ]
    return Text(
        "Not sent: the e-invoice fails %(count)s validation rule(s). %(rules)s",
        count=len(parts),
        rules=join(parts, "; "),
    )
