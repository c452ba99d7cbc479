"""The Severa simulator's API (maventa-severa.md §3): token and the client_id header, scopes, the demo
organisation, invoices with changedSince and NextPageToken paging, rows, customers, PDF,
the status change by JSON Patch, and the limit of 10 requests a second."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.core import Request
from sandbox.server import default_app
from sandbox.severa import QUOTA_MESSAGE, SeveraSimulator, data

# --- token and auth ------------------------------------------------------------------------------------


def test_token_answers_access_and_refresh_tokens(severa):
    resp = severa.token_call("invoices:read settings:read")  # a space separates scopes too
    assert resp.status == 200
    body = resp.json()
    assert body["access_token"] and body["refresh_token"]
    assert body["access_token_type"] == "Bearer" and body["access_token_expires_in"] == 3600
    assert body["access_token_expires_utc"].endswith("Z")
    assert set(body["scope"].split(",")) == {"invoices:read", "settings:read"}


@pytest.mark.parametrize(
    ("kw", "kind"),
    [
        ({"secret": "wrong"}, "AuthenticationRequired"),
        ({"client_id": "nobody"}, "AuthenticationRequired"),
        ({"header": None}, "AuthenticationRequired"),
        ({"header": "another-client"}, "AuthenticationRequired"),
    ],
)
def test_token_refusals(severa, kw, kind):
    resp = severa.token_call(**kw)
    assert resp.status == 401
    assert resp.json()["error"]["type"] == kind
    assert resp.json()["error"]["httpStatusCode"] == 401


def test_a_scope_the_client_was_not_given_is_refused(severa, severa_sim):
    severa_sim.handle(
        Request(
            "POST",
            "/_sandbox/credentials",
            body=b'{"client_id": "reader", "client_secret": "s", "scopes": ["invoices:read"]}',
        )
    )
    severa.client_id, severa.secret = "reader", "s"
    assert severa.token_call("invoices:read,invoices:write").status == 401
    assert severa.token_call("invoices:read").status == 200


def test_every_call_needs_the_bearer_token_and_the_client_id_header(severa):
    severa.login()
    assert severa.get("/v1/invoicestatuses").status == 200
    assert severa.get("/v1/invoicestatuses", token=None).status == 401
    assert severa.get("/v1/invoicestatuses", token="forged").status == 401
    severa.client_id = "someone-else"
    resp = severa.get("/v1/invoicestatuses")
    assert resp.status == 401 and resp.json()["error"]["type"] == "AuthenticationRequired"


def test_a_token_without_the_scope_is_forbidden(severa):
    severa.login("invoices:read")
    resp = severa.get("/v1/invoicestatuses")
    assert resp.status == 403 and resp.json()["error"]["type"] == "InsufficientApiScope"
    assert severa.get(f"/v1/invoices/{data.INVOICE_OVT}/pdf").status == 403  # files:read


def test_tokens_expire_after_an_hour(severa, severa_clock):
    severa.login()
    severa_clock.advance(3600)
    assert severa.get("/v1/invoicestatuses").status == 401


def test_paths_outside_the_api_are_404_and_wrong_methods_405(severa):
    assert severa.sim.handle(Request("GET", "/v1/invoices")).status == 404
    assert severa.get("/v1/nothing").status == 404
    assert severa("DELETE", "/v1/invoicestatuses").status == 405


# --- the demo organisation -----------------------------------------------------------------------------


def test_the_demo_organisation_has_a_finnish_company_of_its_own(severa):
    org = severa.get("/v1/organizationdetails").json()
    assert org["name"] == "Demokonsult AB" and org["vatNumber"] == "SE556677889901"
    companies = {c["name"]: c for c in org["activeCompanies"]}
    assert set(companies) == {"Demokonsult AB", "Demokonsult Oy"}
    units = {u["name"]: u for u in severa.get("/v1/businessunits").json()}
    oy = units["Demokonsult Oy"]
    assert oy["vatNumber"] == "FI23456780" and oy["companyGuid"] == companies["Demokonsult Oy"]["guid"]
    assert oy["guid"] == companies["Demokonsult Oy"]["rootBusinessUnitGuid"] == oy["companyBusinessUnitGuid"]
    # a unit that is not a company of its own uses its company's VAT number
    assert units["Stockholm"]["vatNumber"] is None
    assert units["Stockholm"]["companyGuid"] == companies["Demokonsult AB"]["guid"]
    assert data.DEMO_COMPANIES[data.AB_COMPANY]["orgnr"] == "5566778899"
    assert data.DEMO_COMPANIES[data.OY_COMPANY]["ovt"] == "003723456780"


def test_business_units_page_with_first_row_and_row_count(severa):
    assert len(severa.get("/v1/businessunits", query={"firstRow": 1, "rowCount": 2}).json()) == 2
    assert severa.get("/v1/businessunits", query={"rowCount": 101}).status == 400
    oy_units = severa.get("/v1/businessunits", query={"companyGuid": data.OY_COMPANY}).json()
    assert {u["name"] for u in oy_units} == {"Demokonsult Oy", "Helsinki"}


def test_invoice_statuses_of_the_maventa_integration(severa):
    statuses = {s["name"]: s for s in severa.get("/v1/invoicestatuses").json()}
    assert list(statuses) == [
        "Luonnos",
        "Valmis lähetettäväksi",
        "Lähetetty Maventaan",
        "Siirto epäonnistui",
        "Lähetetty",
    ]
    assert {name for name, s in statuses.items() if s["isSent"]} == {"Lähetetty Maventaan", "Lähetetty"}
    assert statuses["Valmis lähetettäväksi"]["guid"] == data.TO_TRANSFER


def test_customers_for_every_route(severa):
    peppol = severa.get(f"/v1/customers/{data.PEPPOL_CUSTOMER}").json()
    assert peppol["eInvoiceAddress"] == "0007:5560123456"
    ovt = severa.get(f"/v1/customers/{data.OVT_CUSTOMER}").json()
    assert ovt["eInvoiceAddress"] == "003776543212" and ovt["eInvoiceOperator"] == "003721291126"
    email = severa.get(f"/v1/customers/{data.EMAIL_CUSTOMER}").json()
    assert email["email"] and not email["eInvoiceAddress"]
    nothing = severa.get(f"/v1/customers/{data.PRINT_CUSTOMER}").json()
    assert not nothing["email"] and not nothing["eInvoiceAddress"]
    settings = severa.get(f"/v1/customers/{data.PEPPOL_CUSTOMER}/customercountrysettings").json()
    assert settings[0]["isTaxFree"] and settings[0]["zeroVatCategoryCodeEn16931"] == "AE"
    assert severa.get(f"/v1/customers/{data.OVT_CUSTOMER}/customercountrysettings").json() == []
    missing = severa.get("/v1/customers/00000000-0000-4000-8000-000000000000")
    assert missing.status == 404
    assert severa.get("/v1/customers/not-a-guid").status == 400


# --- invoices ------------------------------------------------------------------------------------------


def _all_pages(severa, query):
    numbers, token, pages = [], None, 0
    while True:
        q = dict(query, **({"pageToken": token} if token else {}))
        resp = severa.get("/v1/invoices", query=q)
        assert resp.status == 200, resp.text
        numbers += [i["number"] for i in resp.json()]
        pages += 1
        token = resp.headers.get("NextPageToken")
        if not token:
            return numbers, pages


def test_invoices_in_a_status_page_by_next_page_token(severa):
    numbers, pages = _all_pages(severa, {"invoiceStatusGuids": data.TO_TRANSFER, "rowCount": 1})
    assert sorted(numbers) == [1001, 1003, 5001, 5002] and pages == 4
    both, _ = _all_pages(severa, {"invoiceStatusGuids": [data.TO_TRANSFER, data.SENT], "rowCount": 3})
    assert sorted(both) == [1000, 1001, 1003, 5001, 5002]


def test_page_tokens_are_strict(severa):
    first = severa.get("/v1/invoices", query={"invoiceStatusGuids": data.TO_TRANSFER, "rowCount": 2})
    token = first.headers["NextPageToken"]
    other = severa.get("/v1/invoices", query={"invoiceStatusGuids": data.SENT, "pageToken": token})
    assert other.status == 400 and other.json()["error"]["type"] == "InvalidParameter"
    assert severa.get("/v1/invoices", query={"pageToken": "made-up"}).status == 400
    assert severa.get("/v1/invoices", query={"rowCount": 101}).status == 400
    joined = f"{data.TO_TRANSFER},{data.SENT}"  # arrays repeat the key; a joined list is not a GUID
    assert severa.get("/v1/invoices", query={"invoiceStatusGuids": joined}).status == 400


def test_changed_since_lists_what_changed_at_or_after_it(severa, severa_sim, severa_clock):
    severa_clock.advance(60)
    since = severa_sim.wall().isoformat().replace("+00:00", "Z")
    severa_clock.advance(1)
    assert severa.get("/v1/invoices", query={"changedSince": since}).json() == []
    severa_sim.move(severa_sim.invoices[data.INVOICE_EMAIL], data.TO_TRANSFER)
    changed = severa.get(
        "/v1/invoices", query={"changedSince": since, "invoiceStatusGuids": data.TO_TRANSFER}
    )
    assert [i["guid"] for i in changed.json()] == [data.INVOICE_EMAIL]
    assert severa.get("/v1/invoices", query={"changedSince": "yesterday"}).status == 400


def test_invoice_totals_come_from_the_rows(severa):
    invoice = severa.get(f"/v1/invoices/{data.INVOICE_TWO_RATES}").json()
    rows = severa.get(f"/v1/invoices/{data.INVOICE_TWO_RATES}/invoicerows").json()
    assert {r["vatRate"] for r in rows} == {25.0, 12.0}
    net = sum(Decimal(str(r["quantity"])) * Decimal(str(r["unitPrice"]["amount"])) for r in rows)
    assert Decimal(str(invoice["totalExcludingTax"]["amount"])) == net == Decimal("12498.00")
    assert Decimal(str(invoice["totalTax"]["amount"])) == Decimal("2994.76")  # 2875 + 119.76
    assert invoice["status"]["guid"] == data.TO_TRANSFER and invoice["status"]["isSent"] is False
    assert invoice["senderVatNumber"] == "SE556677889901" and invoice["currency"]["code"] == "SEK"
    assert invoice["yourReference"] and invoice["orderNumber"] == "PO-4711"


def test_credit_note_and_reverse_charge(severa):
    credit = severa.get(f"/v1/invoices/{data.CREDIT_NOTE}").json()
    assert credit["isCreditNote"] is True
    assert credit["creditNoteInvoice"] == {"guid": data.INVOICE_TWO_RATES, "number": 1001}
    assert credit["totalIncludingTax"]["amount"] == -2875.0
    reverse = severa.get(f"/v1/invoices/{data.INVOICE_REVERSE_CHARGE}/invoicesettings").json()
    assert reverse["isReverseCharged"] is True and reverse["reverseChargeDescription"]
    invoice = severa.get(f"/v1/invoices/{data.INVOICE_REVERSE_CHARGE}").json()
    assert invoice["senderVatNumber"] == "FI23456780" and invoice["totalTax"]["amount"] == 0
    assert invoice["invoiceNumberBusinessUnitGuid"] == data.OY_ROOT_BU
    assert severa.get(f"/v1/invoices/{data.INVOICE_OVT}/invoicesettings").json()["isReverseCharged"] is False


def test_rows_page_too(severa):
    first = severa.get(f"/v1/invoices/{data.INVOICE_OVT}/invoicerows", query={"rowCount": 1})
    assert len(first.json()) == 1
    second = severa.get(
        f"/v1/invoices/{data.INVOICE_OVT}/invoicerows",
        query={"rowCount": 1, "pageToken": first.headers["NextPageToken"]},
    )
    assert len(second.json()) == 1 and "NextPageToken" not in second.headers
    assert second.json()[0]["guid"] != first.json()[0]["guid"]


def test_pdf(severa):
    resp = severa.get(f"/v1/invoices/{data.INVOICE_OVT}/pdf", query={"pdfGetOptions": "InvoiceOnly"})
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/pdf"
    assert resp.body.startswith(b"%PDF-") and resp.body.rstrip().endswith(b"%%EOF")
    assert severa.get(f"/v1/invoices/{data.INVOICE_OVT}/pdf", query={"pdfGetOptions": "Some"}).status == 400


# --- the status change ---------------------------------------------------------------------------------


def test_json_patch_changes_the_status(severa, severa_sim):
    before = severa_sim.invoices[data.INVOICE_OVT].updated
    ops = [{"op": "replace", "path": "/status/guid", "value": data.TRANSFERRED}]
    resp = severa.patch(f"/v1/invoices/{data.INVOICE_OVT}", ops)
    assert resp.status == 200
    [invoice] = resp.json()
    assert invoice["status"]["name"] == "Lähetetty Maventaan" and invoice["status"]["isSent"] is True
    assert severa_sim.invoices[data.INVOICE_OVT].updated > before
    # the spec's enum spells ops in PascalCase
    again = [{"op": "Replace", "path": "/status/guid", "value": data.TRANSFER_FAILED}]
    assert severa.patch(f"/v1/invoices/{data.INVOICE_OVT}", again).status == 200


@pytest.mark.parametrize(
    ("ops", "content_type", "status"),
    [
        ([{"op": "replace", "path": "/status/guid", "value": data.SENT}], "application/json", 415),
        ({"op": "replace", "path": "/status/guid", "value": data.SENT}, None, 400),
        ([], None, 400),
        ([{"op": "replace", "path": "/status", "value": data.SENT}], None, 400),
        ([{"op": "remove", "path": "/status/guid"}], None, 400),
        ([{"op": "frobnicate", "path": "/status/guid", "value": data.SENT}], None, 400),
        ([{"op": "replace", "path": "/status/guid", "value": 5}], None, 400),
        (
            [{"op": "replace", "path": "/status/guid", "value": "00000000-0000-4000-8000-000000000000"}],
            None,
            400,
        ),
    ],
)
def test_json_patch_is_validated(severa, severa_sim, ops, content_type, status):
    kw = {"content_type": content_type} if content_type else {}
    assert severa.patch(f"/v1/invoices/{data.INVOICE_OVT}", ops, **kw).status == status
    assert severa_sim.invoices[data.INVOICE_OVT].status == data.TO_TRANSFER


def test_the_status_path_is_a_knob(severa, severa_sim):
    severa_sim.set_knobs(status_patch_path="/invoiceStatus/guid")
    ops = [{"op": "replace", "path": "/status/guid", "value": data.SENT}]
    assert severa.patch(f"/v1/invoices/{data.INVOICE_OVT}", ops).status == 400
    ops[0]["path"] = "/invoiceStatus/guid"
    assert severa.patch(f"/v1/invoices/{data.INVOICE_OVT}", ops).status == 200


# --- the limit -----------------------------------------------------------------------------------------


def test_ten_requests_a_second_then_429(severa, severa_sim, severa_clock):
    severa.login()
    severa_clock.advance(1.0)  # the token call counts too
    severa.pace = 0
    severa_sim.set_knobs(retry_after_rate=1.0)
    answers = [severa.get("/v1/invoicestatuses") for _ in range(11)]
    assert [a.status for a in answers[:10]] == [200] * 10
    assert answers[10].status == 429
    assert answers[10].json()["message"] == QUOTA_MESSAGE.format(limit=10, window=1.0)
    assert answers[10].headers["Retry-After"] == "1"
    severa_clock.advance(1.0)
    assert severa.get("/v1/invoicestatuses").status == 200


def test_retry_after_comes_only_sometimes(severa, severa_sim):
    severa.login()
    severa.pace = 0
    severa_sim.set_knobs(retry_after_rate=0.0)
    answers = [severa.get("/v1/invoicestatuses") for _ in range(12)]
    assert answers[-1].status == 429 and "Retry-After" not in answers[-1].headers


# --- control -------------------------------------------------------------------------------------------


def test_the_generator_moves_new_invoices_to_transfer(severa, severa_sim, severa_clock):
    severa_sim.set_knobs(generate_every_seconds=5)
    severa_clock.advance(11)
    numbers, _ = _all_pages(severa, {"invoiceStatusGuids": data.TO_TRANSFER})
    assert len(numbers) == 6
    new = [i for i in severa_sim.invoices.values() if i.number not in (1000, 1001, 1002, 1003, 5001, 5002)]
    assert all([s for s, _ in i.history] == [data.DRAFT, data.TO_TRANSFER] for i in new)
    assert len({i.number for i in severa_sim.invoices.values()}) == len(severa_sim.invoices)


def test_the_generator_does_not_flood_after_a_quiet_day(severa_sim, severa_clock):
    severa_sim.set_knobs(generate_every_seconds=1)
    severa_clock.advance(86400)
    severa_sim.pump()
    assert len(severa_sim.invoices) == 6 + 100
    severa_clock.advance(1)
    severa_sim.pump()
    assert len(severa_sim.invoices) == 6 + 101


def test_control_adds_moves_and_generates(severa, severa_sim):
    def control(path, body):
        import json

        return severa_sim.handle(Request("POST", f"/_sandbox/{path}", body=json.dumps(body).encode()))

    made = control(
        "invoices",
        {
            "company": data.OY_COMPANY,
            "customer": data.OVT_CUSTOMER,
            "rows": [{"description": "Työ", "quantity": "2", "unit": "h", "price": "100", "vat": "25.5"}],
        },
    )
    assert made.status == 201
    invoice = made.json()["invoice"]
    assert invoice["status"]["name"] == "Luonnos" and invoice["number"] == 5003
    assert invoice["totalIncludingTax"]["amount"] == 251.0
    moved = control("move", {"invoice": invoice["guid"], "status": "Valmis lähetettäväksi"})
    assert moved.json()["invoice"]["status"]["guid"] == data.TO_TRANSFER
    assert control("generate", {"count": 2}).status == 201
    assert control("move", {"invoice": invoice["guid"], "status": "nope"}).status == 400
    bad = control("invoices", {"customer": "nobody", "rows": []})
    assert bad.status == 400 and bad.json()["error"]["type"] == "InvalidRequest"


def test_mounted_at_severa_in_the_default_app():
    app = default_app(seed_orders=False, webhook_background=False)
    try:
        resp = app.handle(Request("GET", "/severa/rest-api/v1/invoicestatuses"))
        assert resp.status == 401
    finally:
        app.close()


ROW = st.fixed_dictionaries(
    {
        "description": st.just("Työ"),
        "quantity": st.decimals(min_value=-50, max_value=500, places=2).filter(lambda q: q != 0),
        "unit": st.sampled_from(["h", "st"]),
        "price": st.decimals(min_value=0, max_value=10000, places=2),
        "vat": st.sampled_from([Decimal(0), Decimal(6), Decimal(12), Decimal(25), Decimal("25.5")]),
    }
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(ROW, min_size=1, max_size=6))
def test_totals_are_the_rows_nets_and_tax_per_rate(rows):
    """Half-up rounding of each row's net and of each rate's tax (the simulator's reading)."""
    sim = SeveraSimulator(seed=1, seed_invoices=False)
    invoice = sim.add_invoice(data.AB_COMPANY, data.PEPPOL_CUSTOMER, rows)
    view = sim.invoice_views.invoice_json(invoice)
    cent = Decimal("0.01")
    nets = [(r["quantity"] * r["price"]).quantize(cent, ROUND_HALF_UP) for r in rows]
    groups = {}
    for row, net in zip(rows, nets, strict=True):
        groups[row["vat"]] = groups.get(row["vat"], Decimal(0)) + net
    tax = sum(
        (g * rate / 100).quantize(cent, ROUND_HALF_UP) for rate, g in groups.items()
    )  # commercial rounding
    assert Decimal(str(view["totalExcludingTax"]["amount"])) == sum(nets)
    assert Decimal(str(view["totalTax"]["amount"])) == tax
    assert Decimal(str(view["totalIncludingTax"]["amount"])) == sum(nets) + tax
