"""The stock comparison (amis.stock_check): what is planted is exactly what is found, whatever the order,
the spelling of the codes or how the rows are split; and the client reads AMIS's balance page by page."""

import uuid
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from amis.mapping import Mapping
from amis.stock_check import amis_rows, compare, quantity_text, source_in_amis_terms
from connectors.stock import StockBalance

SKUS = st.sampled_from(["SKU-A", "SKU-B", "SKU-C", "SKU-D"])
PLACES = st.sampled_from(["KHO01", "KHO02", "KHO03"])
QUANTITIES = st.decimals(min_value=Decimal(-50), max_value=Decimal(500), places=2)
BOOKS = st.dictionaries(st.tuples(SKUS, PLACES), QUANTITIES, max_size=12)


def rows(book: dict, *, shout=False, split=False):
    out = []
    for (sku, place), quantity in book.items():
        name = (sku.lower(), place.lower()) if shout else (sku, place)
        if split:  # the same item and place in two rows adds up
            half = (quantity / 2).quantize(Decimal("0.01"))
            out += [StockBalance(place=name[1], sku=name[0], quantity=half)]
            quantity -= half
        out.append(StockBalance(place=name[1], sku=name[0], quantity=quantity))
    return out


@settings(max_examples=300, deadline=None)
@given(BOOKS, BOOKS, st.booleans(), st.booleans(), st.randoms())
def test_the_differences_are_exactly_where_the_two_books_differ(source, target, shout, split, rnd):
    ours, theirs = rows(source), rows(target, shout=shout, split=split)
    rnd.shuffle(theirs)
    found = compare(ours, theirs)
    keys = set(source) | set(target)
    expected = {
        key: (source.get(key, Decimal(0)), target.get(key, Decimal(0)))
        for key in keys
        if source.get(key, Decimal(0)) != target.get(key, Decimal(0))
    }
    assert {
        (r["sku"].upper(), r["place"].upper()): (Decimal(r["source"]), Decimal(r["target"])) for r in found
    } == {key: value for key, value in expected.items()}
    assert compare(ours, ours) == []
    assert found == sorted(found, key=lambda r: (r["sku"].casefold(), r["place"].casefold()))


def test_quantities_read_as_people_write_them():
    assert [quantity_text(Decimal(v)) for v in ("10", "1E+1", "2.50", "-3", "0.00", "-0")] == [
        "10",
        "10",
        "2.5",
        "-3",
        "0",
        "0",
    ]


def test_the_source_is_put_in_amis_terms_by_the_mapping_and_amis_rows_by_their_ids():
    mapping = Mapping.from_dict(
        {
            "locations": {"1001": {"stock_code": "KHO01"}, "1004": {"stock_code": "KHO01"}, "1003": {}},
            "item_codes": {"OLD": "NEW"},
        }
    )
    source = [
        StockBalance("1001", "OLD", Decimal(2)),
        StockBalance("1004", "OLD", Decimal(3)),  # a second location of the same warehouse
        StockBalance("1003", "A", Decimal(1)),  # no warehouse: left out
        StockBalance("1002", "A", Decimal(1)),  # another company's location: left out
    ]
    ours = source_in_amis_terms(source, mapping, {"1001", "1003", "1004"})
    theirs = amis_rows(
        [
            {"stock_id": "S1", "inventory_item_id": "I1", "quantity_balance": 5},
            {"stock_code": "KHO01", "inventory_item_code": "B", "quantity_balance": "x"},  # unreadable
        ],
        stocks={"s1": "KHO01"},
        items={"i1": "NEW"},
    )
    assert compare(ours, theirs) == []


def test_the_client_reads_every_page_of_the_balance(sandbox, settings, db):
    from amis.client import AmisClient
    from connectors.ratelimit import DatabaseBackend, LeakyBucket

    sim = sandbox.mounts["/amis"]
    for n in range(230):
        sim.set_balance("demo-hanoi", f"SKU-{n:03d}", "KHO01", n + 1)
    client = AmisClient(
        org_company_code="demo-hanoi",
        access_code="demo",
        app_id="demo-amis-app",
        base_url="http://127.0.0.1:8100/amis",
        bucket=LeakyBucket(f"amis:test-{uuid.uuid4().hex}", 100, 1000.0, backend=DatabaseBackend()),
    )
    rows = client.inventory_balance()
    assert len(rows) == 230 and rows[0]["quantity_balance"] == 1
    calls = [c for c in sim.calls if c["endpoint"] == "get_list_inventory_balance"]
    assert len(calls) == 3
