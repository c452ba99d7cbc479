"""The Maventa simulator's invoices: sending (multipart, ZIP, formats, minimum content, uuid, unverified
companies), reading by id and uuid, status and actions over time, routing, and the delivery faults."""

import time

import pytest

from .maventa_helpers import FI, SE, ubl, zipped


@pytest.fixture
def token(maventa):
    return maventa.token(SE, scope="eui")


def _send_ok(maventa, token, *args, **kw):
    resp = maventa.send(token, *args, **kw)
    assert resp.status == 201, resp.text
    return resp.json()


def test_send_answers_the_invoice(maventa, token):
    invoice = _send_ok(maventa, token, uuid="5b7c0f0e-1d2a-4f3b-9c8d-7e6f5a4b3c2d")
    assert invoice["status"] == "PENDING" and invoice["number"] == "INV-1"
    assert invoice["id"] != "5b7c0f0e-1d2a-4f3b-9c8d-7e6f5a4b3c2d"  # Maventa's own id
    assert (invoice["sum"], invoice["sum_tax"], invoice["currency"]) == ("1250.00", "250.00", "SEK")
    assert (invoice["date"], invoice["date_due"], invoice["reference"]) == (
        "2026-03-01",
        "2026-03-31",
        "1234567890",
    )
    assert invoice["sender"] == {
        "eia": "0007:5566778899",
        "bid": "SE556677889901",
        "name": "Demokonsult AB",
        "country": "SE",
    }
    assert invoice["recipient"]["eia"] == "0007:5560123456" and invoice["recipient"]["operator"] == "PEPPOL"
    assert invoice["destination"] == "EINVOICE" and invoice["source_format"] == "PEPPOLBIS30"
    assert [a["type"] for a in invoice["actions"]] == ["CREATED"]
    assert invoice["files"][0]["type"] == "INVOICE_XML" and invoice["files"][0]["href"].startswith(
        "/v1/invoices/"
    )


def test_read_by_id_and_by_uuid(maventa, token):
    given = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    sent = _send_ok(maventa, token, uuid=given)
    by_id = maventa.api("GET", f"/v1/invoices/{sent['id']}", token).json()
    by_uuid = maventa.api("GET", f"/v1/invoices/{given}", token).json()
    assert by_id == by_uuid == sent
    missing = maventa.api("GET", "/v1/invoices/ffffffff-ffff-4fff-bfff-ffffffffffff", token)
    assert missing.status == 404 and missing.json()["code"] == "not_found"


def test_another_company_cannot_read_it(maventa, token):
    given = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    sent = _send_ok(maventa, token, uuid=given)
    other = maventa.token(FI, scope="eui")
    assert maventa.api("GET", f"/v1/invoices/{sent['id']}", other).status == 404
    assert maventa.api("GET", f"/v1/invoices/{given}", other).status == 404


def test_a_repeated_uuid_creates_nothing(maventa, maventa_sim, token):
    given = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    _send_ok(maventa, token, uuid=given)
    again = maventa.send(token, uuid=given.upper())
    assert again.status == 422
    assert again.json() == {
        "code": "uuid_already_used",
        "message": f"Invoice with uuid {given.upper()} already exists",
        "details": [given.upper()],
    }
    other = maventa.send(maventa.token(FI, scope="eui"), uuid=given)  # uuids are global
    assert other.status == 422
    assert sum(len(c.invoices) for c in maventa_sim.companies.values()) == 1


def test_without_uuid_every_send_is_a_new_invoice(maventa, maventa_sim, token):
    _send_ok(maventa, token)
    _send_ok(maventa, token)
    assert len(maventa_sim.companies[SE["id"]].invoices) == 2


def test_status_advances_to_delivered_with_actions(maventa, maventa_sim, token, clock):
    sent = _send_ok(maventa, token)
    clock.advance(4.9)
    assert maventa.api("GET", f"/v1/invoices/{sent['id']}", token).json()["status"] == "PENDING"
    clock.advance(0.1)
    invoice = maventa.api("GET", f"/v1/invoices/{sent['id']}", token).json()
    assert invoice["status"] == "DELIVERED"
    actions = maventa.api("GET", f"/v1/invoices/{sent['id']}/actions", token).json()
    assert [(a["type"], a["channel"]) for a in actions] == [
        ("CREATED", None),
        ("SENT", "EINVOICE"),
        ("DELIVERED", "EINVOICE"),
    ]
    only = maventa.api(
        "GET", f"/v1/invoices/{sent['id']}/actions", token, query={"type[]": ["DELIVERED"]}
    ).json()
    assert [a["type"] for a in only] == ["DELIVERED"]
    assert maventa.api("GET", "/v1/invoices/nope/actions", token).status == 404


def test_delivery_seconds_knob(maventa, maventa_sim, token, clock):
    maventa_sim.set_knobs(delivery_seconds=60)
    sent = _send_ok(maventa, token)
    clock.advance(59)
    assert maventa.api("GET", f"/v1/invoices/{sent['id']}", token).json()["status"] == "PENDING"
    clock.advance(1)
    assert maventa.api("GET", f"/v1/invoices/{sent['id']}", token).json()["status"] == "DELIVERED"


def test_delivery_failure_knob(maventa, maventa_sim, token, clock):
    maventa_sim.set_knobs(delivery_failure_rate=1.0)
    sent = _send_ok(maventa, token)
    assert sent["status"] == "PENDING"
    clock.advance(5)
    invoice = maventa.api("GET", f"/v1/invoices/{sent['id']}", token).json()
    assert invoice["status"] == "FAILED"
    error = invoice["actions"][-1]
    assert error["type"] == "ERROR" and error["channel"] == "EINVOICE" and "rejected" in error["message"]


# --- routing ------------------------------------------------------------------------------------------


def _route(maventa, token, clock, xml=None, **fields):
    sent = _send_ok(maventa, token, xml, **fields)
    clock.advance(5)
    return maventa.api("GET", f"/v1/invoices/{sent['id']}", token).json()


def test_route_by_buyer_endpoint_on_peppol(maventa, token, clock):
    invoice = _route(maventa, token, clock)
    assert (invoice["destination"], invoice["status"]) == ("EINVOICE", "DELIVERED")


def test_route_by_business_id_to_a_finnish_ovt(maventa, token, clock):
    xml = ubl(buyer_endpoint=None, buyer_bid="0737546-2", buyer_name="Järvi Rakennus Oy")
    invoice = _route(maventa, token, clock, xml)
    assert invoice["destination"] == "EINVOICE" and invoice["status"] == "DELIVERED"
    assert (invoice["recipient"]["eia"], invoice["recipient"]["operator"]) == (
        "0037:003707375462",
        "NDEAFIHH",
    )


def test_forced_eia_and_operator(maventa, token, clock):
    xml = ubl(buyer_endpoint=None, buyer_bid=None)
    invoice = _route(maventa, token, clock, xml, recipient_eia="003799999999", recipient_operator="HELSFIHH")
    assert invoice["destination"] == "EINVOICE"
    assert (invoice["recipient"]["eia"], invoice["recipient"]["operator"]) == ("003799999999", "HELSFIHH")


def test_known_recipient_eia_alone(maventa, token, clock):
    xml = ubl(buyer_endpoint=None, buyer_bid=None)
    invoice = _route(maventa, token, clock, xml, recipient_eia="0037:003723456780")
    assert invoice["destination"] == "EINVOICE" and invoice["recipient"]["operator"] == "003721291126"


def test_email_when_no_einvoice_address(maventa, token, clock):
    xml = ubl(buyer_endpoint=None, buyer_bid="5598765435", buyer_name="Kaffebryggeriet i Malmö AB")
    invoice = _route(maventa, token, clock, xml, recipient_email="ekonomi@kaffe.example")
    assert (invoice["destination"], invoice["status"]) == ("EMAIL", "DELIVERED")
    assert invoice["actions"][-1]["message"] == "Delivered to ekonomi@kaffe.example"


def test_buyer_contact_email_is_used_too(maventa, token, clock):
    xml = ubl(buyer_endpoint=None, buyer_bid="5598765435", buyer_email="ap@kaffe.example")
    assert _route(maventa, token, clock, xml)["destination"] == "EMAIL"


def test_print_when_no_email(maventa, token, clock):
    xml = ubl(buyer_endpoint=None, buyer_bid="1234567-1", buyer_name="Pekka Virtanen Tmi")
    invoice = _route(maventa, token, clock, xml)
    assert (invoice["destination"], invoice["status"]) == ("PRINT", "DELIVERED")


def test_email_off_in_settings_falls_to_print(maventa, token, clock):
    assert (
        maventa.api(
            "PATCH", "/v1/company/settings", token, body={"send_invoice_email": {"enabled": False}}
        ).status
        == 204
    )
    xml = ubl(buyer_endpoint=None, buyer_bid=None)
    assert _route(maventa, token, clock, xml, recipient_email="a@b.se")["destination"] == "PRINT"


def test_disabled_routes_leave_no_route(maventa, token, clock):
    xml = ubl(buyer_endpoint=None, buyer_bid=None)
    invoice = _route(
        maventa, token, clock, xml, recipient_email="a@b.se", **{"disabled_routes[]": ["email", "print"]}
    )
    assert (invoice["destination"], invoice["status"]) == (None, "FAILED")
    assert (
        invoice["actions"][-1]["type"] == "ERROR" and "No delivery route" in invoice["actions"][-1]["message"]
    )


def test_disabled_einvoice_skips_the_directory(maventa, token, clock):
    invoice = _route(
        maventa, token, clock, None, recipient_email="a@b.se", **{"disabled_routes[]": ["einvoice"]}
    )
    assert invoice["destination"] == "EMAIL"


def test_forced_address_with_einvoice_disabled_fails(maventa, token, clock):
    fields = {"recipient_eia": "003799999999", "recipient_operator": "X", "disabled_routes[]": ["einvoice"]}
    assert _route(maventa, token, clock, None, **fields)["status"] == "FAILED"


def test_no_street_and_no_email_has_no_route(maventa, token, clock):
    xml = ubl(buyer_endpoint=None, buyer_bid=None, buyer_street=None)
    assert _route(maventa, token, clock, xml)["status"] == "FAILED"


def test_peppol_route_fails_later_without_buyer_endpoint(maventa, token, clock):
    xml = ubl(buyer_endpoint=None, buyer_bid="5560123456")  # found by business id on PEPPOL
    invoice = _route(maventa, token, clock, xml)
    assert invoice["status"] == "FAILED" and "PEPPOL-EN16931-R020" in invoice["actions"][-1]["message"]


# --- send refusals ------------------------------------------------------------------------------------


def test_unverified_company_is_unauthorized(maventa, maventa_sim):
    company = maventa_sim.companies[FI["id"]]
    company.company_state, company.auth_state = "UNVERIFIED", "SENT"
    token = maventa.token(FI, scope="eui")
    resp = maventa.send(token)
    assert resp.status == 401
    assert resp.json() == {"code": "auth_unauthorized", "message": "Unauthorized", "details": []}
    maventa.control("POST", "sign", {"company": "Demokonsult Oy"})
    assert maventa.send(token).status == 201


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"fmt": None}, "format"),
        ({"fmt": "PDF"}, "format"),
        ({"fmt": "FINVOICE30"}, "format"),  # listed, but the sandbox reads PEPPOLBIS30 only
        ({"uuid": "not-a-uuid"}, "uuid"),
        ({"lang": "DE"}, "lang"),
        ({"recipient_email": "nope"}, "recipient_email"),
        ({"disabled_routes[]": ["fax"]}, "disabled_routes"),
    ],
)
def test_send_field_refusals(maventa, maventa_sim, token, fields, detail):
    resp = maventa.send(token, **fields)
    assert resp.status == 400 and resp.json()["code"] == "invalid_parameters"
    assert detail in resp.json()["details"]
    assert not maventa_sim.companies[SE["id"]].invoices


def test_file_must_be_a_named_multipart_part(maventa, token):
    no_file = maventa.multipart("POST", "/v1/invoices", [("format", "PEPPOLBIS30")], token)
    assert no_file.status == 400 and no_file.json()["details"] == ["file"]
    as_field = maventa.multipart(
        "POST", "/v1/invoices", [("file", ubl().decode()), ("format", "PEPPOLBIS30")], token
    )
    assert as_field.status == 400
    json_body = maventa.api("POST", "/v1/invoices", token, body={"file": "x"})
    assert json_body.status == 400 and "multipart" in json_body.json()["message"]


@pytest.mark.parametrize(
    ("xml", "problem"),
    [
        (b"%PDF-1.4 not xml", "not XML"),
        (b"<Invoice><unclosed></Invoice>", "not well-formed"),
        (b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"/>', "not a UBL 2.1 Invoice"),
        (b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', "DOCTYPE"),
        (ubl(customization="urn:cen.eu:en16931:2017"), "CustomizationID"),
        (ubl(drop=("ProfileID",)), "ProfileID"),
        (ubl(drop=("ID",)), "ID (invoice number)"),
        (ubl(drop=("IssueDate",)), "IssueDate"),
        (ubl(drop=("TypeCode",)), "InvoiceTypeCode"),
        (ubl(drop=("DocumentCurrencyCode",)), "DocumentCurrencyCode"),
        (ubl(drop=("AccountingSupplierParty",)), "AccountingSupplierParty"),
        (ubl(drop=("AccountingCustomerParty",)), "AccountingCustomerParty"),
        (ubl(buyer_name=""), "AccountingCustomerParty has no name"),
        (ubl(drop=("TaxTotal",)), "TaxTotal"),
        (ubl(drop=("LegalMonetaryTotal",)), "PayableAmount"),
        (ubl(drop=("Line",)), "InvoiceLine"),
        (ubl(root="CreditNote", drop=("Line",)), "CreditNoteLine"),
    ],
)
def test_minimum_content_rejection(maventa, token, xml, problem):
    resp = maventa.send(token, xml)
    assert resp.status == 400
    body = resp.json()
    assert body["code"] == "invalid_parameters"
    assert body["message"] == "Invoice file did not pass the minimum content check"
    assert any(problem in d for d in body["details"]), body["details"]


def test_credit_note_is_accepted(maventa, token):
    invoice = _send_ok(maventa, token, ubl(root="CreditNote", number="CN-1"))
    assert invoice["number"] == "CN-1" and invoice["date_due"] is None


def test_zip_with_xml_pdf_and_attachment(maventa, token):
    archive = zipped({"invoice.xml": ubl(), "invoice.pdf": b"%PDF-1.4", "1_timesheet.pdf": b"%PDF-1.4"})
    invoice = _send_ok(maventa, token, archive, filename="invoice.zip")
    assert [(f["filename"], f["type"]) for f in invoice["files"]] == [
        ("invoice.xml", "INVOICE_XML"),
        ("invoice.pdf", "INVOICE_IMAGE"),
        ("1_timesheet.pdf", "ATTACHMENT"),
    ]
    pdf = maventa.api("GET", invoice["files"][1]["href"], token)
    assert (pdf.status, pdf.body, pdf.headers["Content-Type"]) == (200, b"%PDF-1.4", "application/pdf")
    xml = maventa.api("GET", invoice["files"][0]["href"], token)
    assert xml.body == ubl()
    assert maventa.api("GET", f"/v1/invoices/{invoice['id']}/files/nope", token).status == 404


@pytest.mark.parametrize(
    "archive",
    [
        zipped({"invoice.pdf": b"%PDF"}),
        zipped({"a.xml": ubl(), "b.xml": ubl()}),
        b"PK\x03\x04 broken",
        zipped({"invoice.xml": b"<nope/>"}),
    ],
)
def test_bad_zips(maventa, token, archive):
    assert maventa.send(token, archive, filename="invoice.zip").status == 400


# --- listing ------------------------------------------------------------------------------------------


def test_list_sent_invoices_with_paging(maventa, token, clock):
    for n in range(3):
        _send_ok(maventa, token, ubl(number=f"INV-{n}"))
        clock.advance(1)
    received = maventa.api("GET", "/v1/invoices", token)
    assert received.json() == [] and received.headers["X-Total"] == "0"  # the default is RECEIVED
    page = maventa.api("GET", "/v1/invoices", token, query={"direction": "SENT", "per_page": 2})
    assert [i["number"] for i in page.json()] == ["INV-2", "INV-1"]
    assert (page.headers["X-Total"], page.headers["X-Total-Pages"], page.headers["X-Next-Page"]) == (
        "3",
        "2",
        "2",
    )
    one = maventa.api("GET", "/v1/invoices", token, query={"direction": "SENT", "number": "INV-0"}).json()
    assert [i["number"] for i in one] == ["INV-0"]
    clock.advance(2)  # INV-0 was sent 5 s ago, the others 4 and 3
    delivered = maventa.api(
        "GET", "/v1/invoices", token, query={"direction": "SENT", "status[]": ["DELIVERED"]}
    ).json()
    assert [i["number"] for i in delivered] == ["INV-0"]  # the others are still PENDING
    for bad in ({"per_page": 101}, {"page": 0}, {"direction": "SIDEWAYS"}, {"page": "x"}):
        assert maventa.api("GET", "/v1/invoices", token, query=bad).status == 400


# --- the answer lost after the invoice was stored -----------------------------------------------------


def test_timeout_after_accept_gateway_mode(maventa, maventa_sim, token):
    maventa_sim.set_knobs(timeout_after_accept_rate=1.0, lost_answer_mode="504")
    given = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    resp = maventa.send(token, uuid=given)
    assert resp.status == 504 and "Gateway Time-out" in resp.text
    maventa_sim.set_knobs(timeout_after_accept_rate=0.0)
    stored = maventa.api("GET", f"/v1/invoices/{given}", token)
    assert stored.status == 200 and stored.json()["number"] == "INV-1"
    assert maventa.send(token, uuid=given).status == 422
    calls = maventa.control("GET", "calls").json()["calls"]
    assert [c["lost"] for c in calls if c["path"] == "/maventa/v1/invoices"] == [True, False]


def test_timeout_after_accept_sleep_mode(maventa, maventa_sim, token):
    maventa_sim.set_knobs(timeout_after_accept_rate=1.0, timeout_after_accept_seconds=0.05)
    started = time.perf_counter()
    resp = maventa.send(token)
    assert time.perf_counter() - started >= 0.05
    assert resp.status == 201  # the answer comes, after the client's timeout
    assert len(maventa_sim.companies[SE["id"]].invoices) == 1


def test_refusals_are_never_lost(maventa, maventa_sim, token):
    maventa_sim.set_knobs(timeout_after_accept_rate=1.0, lost_answer_mode="504")
    assert maventa.send(token, fmt="PDF").status == 400


def test_server_errors_store_nothing(maventa, maventa_sim, token):
    maventa_sim.set_knobs(error_rate=1.0)
    assert {maventa.send(token).status for _ in range(10)} <= {500, 502, 503}
    assert not maventa_sim.companies[SE["id"]].invoices


def test_invoices_control(maventa, token):
    _send_ok(maventa, token, recipient_email="a@b.se", **{"disabled_routes[]": ["einvoice"]})
    rows = maventa.control("GET", "invoices", query={"company": "Demokonsult AB"}).json()["invoices"]
    assert rows[0]["channel"] == "EMAIL" and "a@b.se" in rows[0]["why"]
    assert maventa.control("GET", "invoices", query={"company": "nobody"}).status == 400


# --- through requests, as the product's client will call it --------------------------------------------


def test_through_requests_with_its_own_multipart_encoding(maventa):
    import requests
    import responses

    from sandbox.testing import mount

    with responses.RequestsMock() as mock:
        base = mount(mock, maventa.app) + "/maventa"
        token = requests.post(
            f"{base}/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": FI["id"],
                "client_secret": FI["api_key"],
                "vendor_api_key": maventa.sim.vendor_keys.copy().pop(),
                "scope": "eui",
            },
            timeout=5,
        ).json()["access_token"]
        archive = zipped(
            {"invoice.xml": ubl(buyer_endpoint=("0037", "003707375462")), "invoice.pdf": b"%PDF"}
        )
        resp = requests.post(
            f"{base}/v1/invoices",
            headers={"Authorization": f"Bearer {token}"},
            data={
                "format": "PEPPOLBIS30",
                "uuid": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
                "disabled_routes[]": ["print"],
            },
            files={"file": ("invoice.zip", archive, "application/zip")},
            timeout=5,
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["recipient"]["eia"] == "0037:003707375462"
        again = requests.get(
            f"{base}/v1/invoices/9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert again.json()["id"] == resp.json()["id"]
