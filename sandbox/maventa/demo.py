"""The demo's Maventa: our vendor key, the two Demokonsult companies (registered, linked to the
vendor and verified) with one user each, and a receiver directory holding the demo customers.

sandbox: the customers' names and identifiers are the simulator's own (valid check digits); the Severa demo
must use the same business ids for routing to find them."""

from __future__ import annotations

DEMO_VENDOR_API_KEY = "6b0e1a7c-5d2f-4c8e-9a31-0f7d2c4b8e55"
MAVENTA_OPERATOR = "003721291126"  # Maventa's own operator code (maventa-severa.md §5 ~)

# uuid, user e-mail, user api key, company fields
DEMO_COMPANIES = (
    {
        "id": "1f6c3a2e-8b7d-4e51-9c0a-5566778899aa",
        "user": "ekonomi@demokonsult.example",
        "api_key": "c3d5e7f9-1a2b-4c6d-8e0f-5566778899a1",
        "name": "Demokonsult AB",
        "bid": "SE556677889901",
        "no_vat": False,
        "country": "SE",
        "email": "ekonomi@demokonsult.example",
        "address": {
            "address1": "Drottninggatan 1",
            "post_code": "11151",
            "post_office": "Stockholm",
            "city": "Stockholm",
        },
        "eia": "0007:5566778899",
    },
    {
        "id": "2a7d4b3f-9c8e-4f62-8d1b-0037234567fe",
        "user": "talous@demokonsult.example",
        "api_key": "d4e6f8a0-2b3c-4d7e-9f1a-0037234567f1",
        "name": "Demokonsult Oy",
        "bid": "FI23456780",
        "no_vat": False,
        "country": "FI",
        "email": "talous@demokonsult.example",
        "address": {
            "address1": "Mannerheimintie 1",
            "post_code": "00100",
            "post_office": "Helsinki",
            "city": "Helsinki",
        },
        "eia": "0037:003723456780",
    },
)


def _doc_types(network: str) -> list[dict]:
    if network != "PEPPOL":
        return [{"document_type": "INVOICE", "document_identifier": None, "process_identifier": None}]
    return [
        {
            "document_type": kind,
            "document_identifier": (
                f"urn:oasis:names:specification:ubl:schema:xsd:{root}-2::{root}##urn:cen.eu:en16931:2017"
                "#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
            ),
            "process_identifier": "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
        }
        for kind, root in (("INVOICE", "Invoice"), ("CREDIT_NOTE", "CreditNote"))
    ]


def receiver(eia: str, name: str, bid: str, country: str, network: str, operator: str) -> dict:
    """A ``GET /v1/lookup/receivers`` row (maventa-severa.md §2 "Lookup")."""
    scheme, _, endpoint = eia.partition(":")
    names = {"0007": "SE:ORGNR", "0037": "FI:OVT", "0216": "FI:OVT2", "0192": "NO:ORG"}
    return {
        "eia": eia,
        "identifier": {
            "scheme": "iso6523-actorid-upis",
            "eaid_name": names.get(scheme, scheme),
            "eaid_code": scheme,
            "endpoint_id": endpoint,
        },
        "network": network,
        "operator": operator,
        "document_types": _doc_types(network),
        "participant": {"id": None, "name": name, "bid": bid, "country": country},
    }


# The demo customers: one reachable on PEPPOL, one with a Finnish OVT + operator; the
# e-mail-only customer (Kaffebryggeriet i Malmö AB, 559876-5435) and the one with neither (Pekka Virtanen Tmi,
# 1234567-1) are deliberately absent.
DEMO_RECEIVERS = (
    receiver("0007:5560123456", "Nordvik Konsult AB", "5560123456", "SE", "PEPPOL", "PEPPOL"),
    receiver("0037:003707375462", "Järvi Rakennus Oy", "0737546-2", "FI", "EXTERNAL", "NDEAFIHH"),
    receiver("0007:5566778899", "Demokonsult AB", "5566778899", "SE", "INTERNAL", MAVENTA_OPERATOR),
    receiver("0037:003723456780", "Demokonsult Oy", "2345678-0", "FI", "INTERNAL", MAVENTA_OPERATOR),
)
