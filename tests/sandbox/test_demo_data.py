"""The demo shop's data: a believable Vietnamese catalogue, customers and valid tax codes."""

from sandbox import demo_data
from sandbox.generator import OrderGenerator


def test_tax_codes_have_valid_check_digits():
    codes = [b["tax_code"] for b in demo_data.BUSINESS_BUYERS]
    assert len(codes) >= 6
    assert all(demo_data.mst_is_valid(c) for c in codes)
    assert demo_data.mst_is_valid("0101243150") and demo_data.mst_is_valid("0100109106-001")
    for bad in ("0101243151", "0311870405", "010124315", "01012431500", "0101243150-01", "", "abcdefghij"):
        assert not demo_data.mst_is_valid(bad), bad
    # a prefix whose weighted sum is a multiple of 11 would need the check digit "10": no valid code
    assert demo_data.mst_check_digit("000000000") is None


def test_catalogue_and_customers():
    products = demo_data.PRODUCTS
    assert 14 <= len(products) <= 20
    assert {p["product_type"] for p in products} >= {"Thời trang", "Mỹ phẩm", "Thực phẩm", "Sách"}
    variants = [v for p in products for v in p["variants"]]
    assert len({v["sku"] for v in variants}) == len(variants)
    assert len({v["id"] for v in variants}) == len(variants)
    assert all(v["price"] == int(v["price"]) and v["price"] > 0 for v in variants)
    assert any(len(p["variants"]) > 1 for p in products)
    customers = demo_data.CUSTOMERS
    assert len(customers) >= 10
    companies = [c for c in customers if c["default_address"]["company"]]
    assert 3 <= len(companies) < len(customers)
    assert {loc["id"] for loc in demo_data.LOCATIONS} == {1001, 1002}
    assert demo_data.SHOP["currency"] == "VND"


def test_build_order_payloads_are_varied_and_valid():
    generator = OrderGenerator("http://unused.test", seed=11)
    generator._catalog = {
        "variants": [(p, v) for p in demo_data.PRODUCTS for v in p["variants"]],
        "customers": demo_data.CUSTOMERS,
        "locations": demo_data.LOCATIONS,
    }
    payloads = [generator.build_order()["order"] for _ in range(300)]
    assert {p["source_name"] for p in payloads} == {"web", "pos", "shopee"}
    for p in payloads:
        assert 1 <= len(p["line_items"]) <= 4
        if p["source_name"] in ("web", "shopee"):
            assert p["shipping_lines"][0]["code"] in {"GHN", "GHTK", "VTP"}
        for attr in p.get("note_attributes", []):
            if attr["name"] == "vat_tax_code":
                assert demo_data.mst_is_valid(attr["value"])
    walk_ins = [p for p in payloads if p["source_name"] == "pos" and p["customer"] is None]
    assert len(walk_ins) > 20
