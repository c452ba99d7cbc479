"""Severa's invoice → the neutral sale: hand-read examples in Severa's own shapes (reference §3), and
the reader's promises as properties: it never raises, and the rows plus the tax are what the buyer pays."""

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from severa.read import invoice_label, read_invoice, routing_facts, shape_problem


def money(amount, code="SEK"):
    return {"amount": amount, "currencyCode": code}


def bundle(**invoice_changes):
    invoice = {
        "guid": "6f1c0c1e-0000-4000-8000-000000001001",
        "number": 1001,
        "referenceNumber": "10013",
        "status": {"guid": "s-ready", "name": "Valmis lähetettäväksi", "isSent": False, "isPaid": False},
        "customer": {"guid": "c-1", "name": "Kund AB", "number": 7},
        "date": "2026-11-30",
        "dueDate": "2026-12-30",
        "entryDate": "2026-11-30T08:00:00Z",
        "currency": {"guid": "cur", "name": "Krona", "code": "SEK", "symbol": "kr"},
        "totalExcludingTax": money(1600),
        "totalTax": money(370),
        "totalIncludingTax": money(1970),
        "receiverCustomerName": "Kund AB",
        "receiverContactName": "Anna Andersson",
        "receiverContactEmail": "anna@kund.se",
        "receiverAddress": {
            "addressline": "Storgatan 1",
            "postalCode": "111 22",
            "city": "Stockholm",
            "country": "Sweden",
        },
        "receiverVatNumber": "SE556036079301",
        "senderVatNumber": "SE 556677889901",
        "invoiceNumberBusinessUnitGuid": "bu-ab",
        "isCreditNote": False,
        "lastUpdatedDateTime": "2026-12-01T09:30:00Z",
        **invoice_changes,
    }
    rows = [
        {
            "guid": "r2",
            "rowType": "Hours",
            "description": "Konsulttimmar",
            "quantity": 8,
            "unitPrice": money(150),
            "measurementUnit": "h",
            "vatRate": 25,
            "sortOrder": 2,
            "code": ["KONS"],
        },
        {
            "guid": "r1",
            "rowType": "FlatRate",
            "description": "Kurslitteratur",
            "quantity": 1,
            "unitPrice": money(400),
            "measurementUnit": "st",
            "vatRate": 6,
            "sortOrder": 1,
            "code": [],
        },
    ]
    return {
        "invoice": invoice,
        "rows": rows,
        "customer": {"guid": "c-1", "name": "Kund AB", "email": "faktura@kund.se"},
    }


def test_an_invoice_reads_as_a_sale_with_tax_on_top_that_adds_up():
    sale = read_invoice(bundle())
    assert sale.problems == () and sale.adds_up
    assert sale.label == "1001" and sale.currency == "SEK" and not sale.prices_include_tax
    assert [line.key for line in sale.lines] == ["r1", "r2"]  # Severa's sortOrder
    first, second = sale.lines
    assert (first.quantity, first.unit_price, first.tax_rate, first.tax_category) == (
        1,
        400,
        Decimal("0.06"),
        "S",
    )
    assert (second.item_code, second.unit, second.list_value, second.tax_rate) == (
        "KONS",
        "h",
        1200,
        Decimal("0.25"),
    )
    assert sale.totals.tax == 370 and sale.totals.paid == 1970 and sale.totals.tax_on_top
    assert sale.buyer.legal_name == "Kund AB" and sale.buyer.tax_code == "SE556036079301"
    assert sale.buyer.address == "Storgatan 1, 111 22 Stockholm, Sweden"
    assert sale.due_date == dt.date(2026, 12, 30) and sale.payment_reference == "10013"
    assert sale.document_type == "sale" and sale.corrects == ""
    assert sale.routing == {"company": ("SE556677889901",), "business_unit": ("bu-ab",)}


def test_a_credit_note_names_the_invoice_it_credits():
    data = bundle(isCreditNote=True, creditNoteInvoice={"guid": "g-1000", "number": 1000})
    sale = read_invoice(data)
    assert sale.document_type == "credit_note" and sale.corrects == "g-1000"


def test_reverse_charge_puts_every_line_in_ae_at_zero():
    data = {
        **bundle(totalTax=money(0), totalIncludingTax=money(1600)),
        "invoiceSettings": {"isReverseCharged": True},
    }
    sale = read_invoice(data)
    assert {(line.tax_category, line.tax_rate) for line in sale.lines} == {("AE", 0)}
    assert sale.adds_up


def test_a_zero_rate_takes_the_customers_country_category():
    data = bundle()
    data["rows"][1]["vatRate"] = 0
    data["customerCountrySettings"] = [
        {"country": "Norway", "isTaxFree": True, "zeroVatCategoryCodeEn16931": "G"}
    ]
    sale = read_invoice(data)
    assert {(line.key, line.tax_category) for line in sale.lines} == {("r1", "G"), ("r2", "S")}


def test_a_customers_reverse_charge_country_setting_does_not_untax_rows_severa_taxes():
    """Not reverse-charged, the invoice's taxed rows stay taxed even though the customer is set up tax-free
    (AE) for another country: Severa charged their VAT, and the e-invoice must total what Severa says."""
    data = bundle()
    data["customerCountrySettings"] = [
        {"country": "Finland", "isTaxFree": True, "zeroVatCategoryCodeEn16931": "AE"}
    ]
    sale = read_invoice(data)
    assert {(line.key, line.tax_category, line.tax_rate) for line in sale.lines} == {
        ("r1", "S", Decimal("0.06")),
        ("r2", "S", Decimal("0.25")),
    }
    assert sale.adds_up


def test_what_cannot_be_read_is_a_problem_naming_severas_field():
    data = bundle()
    data["rows"][0]["quantity"] = "åtta"
    sale = read_invoice(data)
    assert [p.english() for p in sale.problems] == [
        "Severa's quantity of row 2 (Konsulttimmar) is not a number."
    ]
    assert not sale.adds_up
    assert read_invoice({**bundle(), "rows": []}).problems[0].english() == "The Severa invoice has no rows."


def test_shapes_and_labels():
    assert shape_problem(bundle()) is None
    assert shape_problem([]) == "not a JSON object"
    assert "guid" in shape_problem({"invoice": {}})
    assert "rows" in shape_problem({"invoice": {"guid": "g"}})
    assert invoice_label({"guid": "g"}) == "g"
    assert routing_facts({}) == {}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.dictionaries(
        st.sampled_from(["invoice", "rows", "customer", "invoiceSettings", "customerCountrySettings"]),
        json_values,
    )
)
def test_the_reader_never_raises(data):
    read_invoice(data)


rows = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=50),  # quantity
        st.integers(min_value=0, max_value=500_000).map(lambda c: Decimal(c) / 100),  # unit price, to the öre
        st.sampled_from([25, 12, 6, 0]),
    ),
    min_size=1,
    max_size=8,
)


@given(rows, st.integers(min_value=0, max_value=10_000_000).map(lambda c: Decimal(c) / 100))
def test_rows_and_tax_make_what_the_buyer_pays(rows, tax):
    data = bundle()
    data["rows"] = [
        {
            "guid": f"r{n}",
            "description": f"rad {n}",
            "quantity": q,
            "unitPrice": money(str(p)),
            "vatRate": r,
            "sortOrder": n,
        }
        for n, (q, p, r) in enumerate(rows)
    ]
    net = sum((q * p for q, p, _r in rows), Decimal(0))  # the oracle: Severa's own arithmetic
    data["invoice"]["totalTax"] = money(str(tax))
    data["invoice"]["totalIncludingTax"] = money(str(net + tax))
    sale = read_invoice(data)
    assert sale.problems == () and sale.adds_up
    assert sale.totals.lines == net and len(sale.lines) == len(rows)
