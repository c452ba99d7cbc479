"""The mapping screen: routing rules (first match by priority), the meInvoice mapping saved whole or not at
all, and the route preview from pasted JSON or from an order read through the Haravan simulator."""

import json
import re
from pathlib import Path

import pytest
import requests
from django.utils import translation

from connectors.models import Membership, RoutingRule
from connectors.routing import route
from haravan.read import routing_facts
from syncjobs.models import SyncAttempt, SyncDocument
from tests import factories

BASE = "http://127.0.0.1:8100"
ORG = "200000001"  # the simulator's demo shop
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def conn(tenant):
    c = factories.connection(
        tenant, factories.shop(tenant, org_id=ORG, token="demo-token"), accounts=("0101243150", "0312345673")
    )
    for account in c.accounts.all():
        account.settings = {"series": "1C26TAA"}
        account.save()
    return c


def signed_in(tenant, role=Membership.Role.OWNER):
    """Signed in, reading English (pages default to Vietnamese; the words checked here are English)."""
    return factories.signed_in(factories.user(tenant, role=role))


@pytest.fixture
def owner(tenant):
    return signed_in(tenant)


def url(conn, name=""):
    return f"/connections/{conn.pk}/mapping/" + (f"{name}/" if name else "")


def rule_url(conn, rule, action):
    return f"/connections/{conn.pk}/mapping/rules/{rule.pk}/{action}/"


def add_rule(client, conn, dimension, value, mst, priority=""):
    account = conn.accounts.get(external_id=mst)
    return client.post(
        url(conn, "rules/add"),
        {
            "rule-dimension": dimension,
            "rule-value": value,
            "rule-account": account.pk,
            "rule-priority": priority,
        },
        **HTMX,
    )


def mapping_form(**changes):
    """Every field of the mapping form, as a browser posts it (defaults of meinvoice.mapping)."""
    data = {
        "trigger": "paid",
        "financial_statuses": ["paid"],
        "sources": "",
        "min_total": "0",
        "default_vat_rate": "8%",
        "shipping_vat_rate": "",
        "prices_include_vat": "on",
        "default_unit": "Cái",
        "shipping_item_name": "Phí vận chuyển",
        "shipping_unit": "Lần",
        "payment_method_name": "TM/CK",
        "buyer_tax_code": "vat_tax_code",
        "buyer_legal_name": "vat_company_name",
        "buyer_address": "vat_company_address",
        "buyer_email": "vat_email",
        "buyer_use_billing_company": "on",
        "on_refund": "adjust",
        "on_cancel_after_issue": "adjust",
        "writeback": "note_attribute",
        "tax-TOTAL_FORMS": "2",
        "tax-INITIAL_FORMS": "0",
        "unit-TOTAL_FORMS": "1",
        "unit-INITIAL_FORMS": "0",
        "red-TOTAL_FORMS": "1",
        "red-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def preview(client, conn, **data):
    resp = client.post(url(conn, "preview"), data, **HTMX)
    assert resp.status_code == 200
    return resp.content.decode()


# --- routing rules -------------------------------------------------------------------------------------


def test_the_page_says_first_match_wins_else_the_default(conn, owner):
    html = owner.get(url(conn)).content.decode()
    assert "first enabled rule" in html and "default account [MST 0101243150]" in html
    assert 'aria-current="page"' in html and f"/connections/{conn.pk}/accounts/" in html
    assert "Invoice mapping" in html and 'name="default_vat_rate"' in html and 'value="8%"' in html


def test_rules_add_reorder_delete_and_first_match_order(conn, owner):
    resp = add_rule(owner, conn, "source", "shopee", "0312345673")
    assert resp.status_code == 200 and 'id="rules"' in resp.content.decode()
    assert "Rule added" in resp.content.decode()
    add_rule(owner, conn, "location", "1002", "0101243150")
    first, second = conn.rules.order_by("priority", "id")
    assert (first.value, second.value) == ("shopee", "1002") and first.priority < second.priority

    both = routing_facts(factories.paid_order(source_name="shopee", location_id=1002))
    assert route(conn, both).account.external_id == "0312345673"  # the first rule wins

    html = owner.post(rule_url(conn, second, "move"), {"direction": "up"}, **HTMX).content.decode()
    assert html.index("1002") < html.index("shopee")
    assert [r.value for r in conn.rules.order_by("priority", "id")] == ["1002", "shopee"]
    assert route(conn, both).account.external_id == "0101243150"

    owner.post(rule_url(conn, second, "move"), {"direction": "up"}, **HTMX)  # already first: stays
    assert [r.value for r in conn.rules.order_by("priority", "id")] == ["1002", "shopee"]
    owner.post(rule_url(conn, second, "move"), {"direction": "down"}, **HTMX)
    assert [r.value for r in conn.rules.order_by("priority", "id")] == ["shopee", "1002"]

    html = owner.post(rule_url(conn, first, "delete"), **HTMX).content.decode()
    assert "Rule deleted" in html and not conn.rules.filter(pk=first.pk).exists()
    assert route(conn, both).account.external_id == "0101243150"


def test_equal_priorities_are_renumbered_before_a_move(conn):
    a = factories.rule(conn, "source", "shopee", "0312345673")
    b = factories.rule(conn, "source", "lazada", "0101243150")
    owner = signed_in(conn.tenant)
    owner.post(rule_url(conn, b, "move"), {"direction": "up"})
    a.refresh_from_db()
    b.refresh_from_db()
    assert (b.priority, a.priority) == (10, 20)


def test_disabled_rules_are_skipped_and_edit_changes_a_rule(conn, owner):
    add_rule(owner, conn, "location", "1002", "0312345673")
    rule = conn.rules.get()
    facts = routing_facts(factories.paid_order())
    owner.post(rule_url(conn, rule, "toggle"), **HTMX)
    rule.refresh_from_db()
    assert not rule.enabled and route(conn, facts).account.external_id == "0101243150"
    page = owner.get(rule_url(conn, rule, "edit")).content.decode()
    assert 'name="rule-value"' in page and 'value="1002"' in page and 'class="check"' in page
    resp = owner.post(
        rule_url(conn, rule, "edit"),
        {
            "rule-dimension": "location",
            "rule-value": "1003",
            "rule-account": rule.account_id,
            "rule-priority": "5",
            "rule-enabled": "on",
        },
    )
    assert resp.status_code == 302
    rule.refresh_from_db()
    assert (rule.value, rule.priority, rule.enabled) == ("1003", 5, True)


def test_a_rule_needs_a_value_and_an_account_of_this_connection(conn, owner, tenant):
    html = add_rule(owner, conn, "location", "  ", "0312345673").content.decode()
    assert "Say which value" in html and not conn.rules.exists()
    other = factories.connection(tenant, factories.shop(tenant), accounts=("0101243150-001",))
    foreign = other.accounts.get()
    owner.post(
        url(conn, "rules/add"),
        {"rule-dimension": "location", "rule-value": "1", "rule-account": foreign.pk},
        **HTMX,
    )
    assert not conn.rules.exists()


# --- the invoice mapping -------------------------------------------------------------------------------


def test_an_invalid_vat_rate_is_refused_with_the_field_named_and_nothing_saved(conn, owner):
    conn.settings = {"meinvoice": {"default_unit": "Chiếc"}, "schedule": {"enabled": False}}
    conn.save()
    resp = owner.post(url(conn, "save"), mapping_form(default_vat_rate="9%", default_unit="Bộ"))
    html = resp.content.decode()
    assert resp.status_code == 200
    message = "default_vat_rate: &#x27;9%&#x27; is not a VAT rate"  # MappingError's words, the field named
    assert f"Nothing was saved. {message}" in html
    assert f'<ul class="errorlist" id="id_default_vat_rate_error"><li>{message}' in html  # next to the field
    conn.refresh_from_db()
    assert conn.settings == {"meinvoice": {"default_unit": "Chiếc"}, "schedule": {"enabled": False}}


def test_an_invalid_tax_rule_names_its_row(conn, owner):
    form = mapping_form(**{"tax-0-match": "tag", "tax-0-value": "sach", "tax-0-rate": "7%"})
    html = owner.post(url(conn, "save"), form).content.decode()
    assert 'id="id_tax-0-rate_error"><li>tax_rules[0].rate: &#x27;7%&#x27; is not a VAT rate' in html
    conn.refresh_from_db()
    assert "meinvoice" not in conn.settings


def test_a_valid_mapping_is_saved_through_the_mapping_dataclasses(conn, owner):
    conn.settings = {"schedule": {"enabled": False}}
    conn.save()
    form = mapping_form(
        default_vat_rate="khac:3.5%",
        shipping_vat_rate="10%",
        financial_statuses=["paid", "partially_paid"],
        fulfillment_statuses=["fulfilled"],
        sources="web, shopee",
        min_total="200000",
        trigger="fulfilled",
        on_refund="replace",
        writeback="tag",
        buyer_use_billing_company="",
        **{
            "tax-0-match": "tag",
            "tax-0-value": "sach",
            "tax-0-rate": "5%",
            "unit-0-product_type": "Sách",
            "unit-0-unit": "Quyển",
        },
    )
    form.pop("buyer_use_billing_company")
    resp = owner.post(url(conn, "save"), form)
    assert resp.status_code == 302
    conn.refresh_from_db()
    saved = conn.settings["meinvoice"]
    assert conn.settings["schedule"] == {"enabled": False}  # other settings untouched
    assert saved["default_vat_rate"] == "KHAC:3.5%" and saved["shipping_vat_rate"] == "10%"
    assert saved["conditions"] == {
        "financial_statuses": ["paid", "partially_paid"],
        "fulfillment_statuses": ["fulfilled"],
        "sources": ["web", "shopee"],
        "min_total": "200000",
        "trigger": "fulfilled",
    }
    assert saved["tax_rules"] == [{"match": "tag", "value": "sach", "rate": "5%"}]
    assert saved["unit_by_type"] == {"Sách": "Quyển"}
    assert saved["buyer"]["use_billing_company"] is False
    assert saved["returns"]["on_refund"] == "replace" and saved["writeback"] == "tag"
    html = owner.get(url(conn)).content.decode()
    assert 'value="KHAC:3.5%"' in html and 'value="Quyển"' in html  # the page reads it back


def test_the_reduction_rules_and_window_are_saved_and_shown(conn, owner):
    form = mapping_form(
        default_vat_rate="10%",
        reduction_valid_from="2025-07-01",
        reduction_valid_to="2026-06-30",
        reduction_shipping="on",
        reduction_sales_percent="5",
        **{"red-0-match": "product_type", "red-0-value": "Thời trang"},
    )
    resp = owner.post(url(conn, "save"), form)
    assert resp.status_code == 302
    conn.refresh_from_db()
    assert conn.settings["meinvoice"]["reduction"] == {
        "rules": [{"match": "product_type", "value": "Thời trang"}],
        "valid_from": "2025-07-01",
        "valid_to": "2026-06-30",
        "shipping": True,
        "sales_percent": "5",
    }
    html = owner.get(url(conn)).content.decode()
    assert "The 8% VAT reduction" in html and 'value="Thời trang"' in html and 'value="2026-06-30"' in html


def test_an_invalid_reduction_window_is_refused_next_to_its_field(conn, owner):
    form = mapping_form(reduction_valid_from="2026-07-01", reduction_valid_to="2026-01-01")
    html = owner.post(url(conn, "save"), form).content.decode()
    assert 'id="id_reduction_valid_to_error"><li>reduction.valid_to: the window ends before it starts' in html
    conn.refresh_from_db()
    assert "meinvoice" not in (conn.settings or {})


def test_a_stored_invalid_mapping_is_shown_to_be_fixed(conn, owner):
    conn.settings = {"meinvoice": {"default_vat_rate": "12%"}}
    conn.save()
    html = owner.get(url(conn)).content.decode()
    assert "The saved mapping is not valid" in html and 'value="12%"' in html


# --- the route preview ---------------------------------------------------------------------------------


def test_preview_of_pasted_json_shows_the_mst_and_the_invoice_and_follows_a_new_rule(conn, owner):
    order = factories.paid_order()
    html = preview(owner, conn, order_json=json.dumps({"order": order}))
    assert "[MST 0101243150]" in html and "Default MST 0101243150: no routing rules" in html
    assert "would be issued" in html and "qualifies" in html
    assert "Áo thun" in html and "1C26TAA" in html and '<td class="tag">8%</td>' in html
    assert "200.000 đ" in html and "16.000 đ" in html and "216.000 đ" in html  # before VAT, VAT, total

    add_rule(owner, conn, "location", "1002", "0312345673")
    html = preview(owner, conn, order_json=json.dumps(order))
    assert "[MST 0312345673]" in html and "matched: Branch / location = 1002" in html
    assert not SyncDocument.objects.exists() and not SyncAttempt.objects.exists()  # a preview writes nothing


def test_preview_shows_what_follows_the_invoice(conn, owner):
    """Haravan's documented refunds: nothing for the two restocks, one adjustment of the money given back."""
    conn.settings = {"meinvoice": {"conditions": {"financial_statuses": ["paid", "partially_refunded"]}}}
    conn.save()
    example = (Path(__file__).parents[1] / "meinvoice" / "haravan_refund_example.json").read_text(
        encoding="utf-8"
    )
    html = preview(owner, conn, order_json=example)
    assert "What follows the invoice" in html
    assert html.count("Refund 10116") == 1 and "Refund 1011638030 gives back 1.500.000 đồng" in html
    assert "-1.500.000 đ" in html


def test_preview_says_why_an_order_is_not_invoiced(conn, owner):
    html = preview(owner, conn, order_json=json.dumps(factories.paid_order(financial_status="pending")))
    assert "would not be issued" in html and "invoices are issued when it is paid" in html
    assert "[MST 0101243150]" in html and '<table class="invoice-lines"' not in html


@pytest.mark.parametrize(
    ("pasted", "words"),
    [
        ("{oops", "not valid JSON"),
        ("[1, 2]", "not an order"),
        ('{"fulfillments": "x"}', "does not look like"),
    ],
)
def test_bad_json_gets_a_clear_message(conn, owner, pasted, words):
    html = preview(owner, conn, order_json=pasted)
    assert 'class="notice bad"' in html and words in html and "Traceback" not in html


def test_preview_by_order_number_reads_the_order_from_haravan(conn, owner, sandbox):
    created = requests.post(
        f"{BASE}/haravan/com/orders.json",
        json={
            "order": {
                "financial_status": "paid",
                "location_id": 1002,
                "source_name": "web",
                "line_items": [{"variant_id": 1010000001, "quantity": 2}],
            }
        },
        headers={"Authorization": "Bearer demo-token"},
        timeout=5,
    ).json()["order"]
    label = created["name"]  # "#100001"
    add_rule(owner, conn, "location", "1002", "0312345673")
    for typed in (label, label.lstrip("#")):
        html = preview(owner, conn, number=typed)
        assert f"Order {label}" in html and "[MST 0312345673]" in html, typed
        assert "would be issued" in html and created["line_items"][0]["title"] in html
    html = preview(owner, conn, number="#999999")
    assert "is not among the 250 newest orders" in html
    html = preview(owner, conn, number="abc")
    assert "is not an order number" in html


def test_preview_by_number_when_the_shop_is_not_installed(conn, owner, sandbox):
    from haravan.models import HaravanShop

    HaravanShop.objects.filter(org_id=ORG).delete()
    html = preview(owner, conn, number="100001")
    assert "could not be read from Haravan" in html and "install the app again" in html


def test_without_htmx_the_preview_comes_back_in_the_page(conn, owner):
    resp = owner.post(url(conn, "preview"), {"order_json": json.dumps(factories.paid_order())})
    html = resp.content.decode()
    assert resp.status_code == 200 and "<h1>" in html and "[MST 0101243150]" in html


# --- roles and tenants ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.ACCOUNTANT])
def test_viewers_and_accountants_read_and_preview_but_cannot_change(conn, tenant, role):
    rule = factories.rule(conn, "location", "1002", "0312345673")
    client = signed_in(tenant, role)
    html = client.get(url(conn)).content.decode()
    assert "[MST 0312345673]" in html and "Add a rule" not in html and "Save the mapping" not in html
    assert '<fieldset class="sections" disabled>' in html
    assert client.post(url(conn, "save"), mapping_form(default_vat_rate="10%")).status_code == 403
    assert add_rule(client, conn, "source", "shopee", "0101243150").status_code == 403
    for action in ("edit", "delete", "toggle", "move"):
        assert client.post(rule_url(conn, rule, action), {"direction": "up"}).status_code == 403, action
    assert client.get(rule_url(conn, rule, "edit")).status_code == 403
    assert list(conn.rules.values_list("value", "enabled")) == [("1002", True)]
    assert "meinvoice" not in conn.settings
    assert "[MST 0312345673]" in preview(client, conn, order_json=json.dumps(factories.paid_order()))


def test_another_tenants_connection_and_rules_are_404(conn, owner):
    other = factories.tenant("Shop B")
    conn_b = factories.connection(other, factories.shop(other, org_id="222"), accounts=("0312345673",))
    rule_b = factories.rule(conn_b, "location", "1002", "0312345673")
    assert owner.get(url(conn_b)).status_code == 404
    assert owner.post(url(conn_b, "save"), mapping_form()).status_code == 404
    assert owner.post(url(conn_b, "preview"), {"order_json": "{}"}).status_code == 404
    assert add_rule(owner, conn_b, "source", "x", "0312345673").status_code == 404
    for action in ("edit", "delete", "toggle", "move"):
        assert owner.post(rule_url(conn_b, rule_b, action), {"direction": "up"}).status_code == 404
        assert owner.post(rule_url(conn, rule_b, action), {"direction": "up"}).status_code == 404
    assert RoutingRule.objects.filter(pk=rule_b.pk, enabled=True).exists()


def test_another_target_kind_gets_the_generic_rules_and_route_only(tenant, owner):
    books = factories.connection(
        tenant, factories.shop(tenant), target_kind="fortnox", accounts=("0101243150",)
    )
    html = owner.get(url(books)).content.decode()
    assert "Routing rules" in html and 'name="default_vat_rate"' not in html
    html = preview(owner, books, order_json=json.dumps(factories.paid_order()))
    assert "[FORTNOX 0101243150]" in html and "not previewed here yet" in html
    assert owner.post(url(books, "save"), mapping_form()).status_code == 302
    books.refresh_from_db()
    assert "meinvoice" not in books.settings


def test_a_mapping_that_writes_8_percent_warns_before_the_reduction_ends(conn, owner):
    conn.settings = {"meinvoice": {"default_vat_rate": "8%"}}
    conn.save()
    with translation.override("en"):
        html = owner.get(url(conn), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "This mapping writes a rate of 8%" in html and "31/12/2026" in html
    conn.settings = {"meinvoice": {}}  # the default: 10 %, reduced by the default-rate rule
    conn.save()
    assert "This mapping writes a rate of 8%" not in owner.get(url(conn)).content.decode()


def test_the_accounting_words_switch_is_saved_and_shown(conn, owner):
    assert owner.post(url(conn, "save"), mapping_form(describe_as_accounting="on")).status_code == 302
    conn.refresh_from_db()
    assert conn.settings["meinvoice"]["describe_as_accounting"] is True
    html = owner.get(url(conn)).content.decode()
    assert "Describe items and buyers as the accounting system does" in html
    assert re.search(r'<input type="checkbox" name="describe_as_accounting"[^>]* checked', html)
    assert owner.post(url(conn, "save"), mapping_form()).status_code == 302  # unticked
    conn.refresh_from_db()
    assert conn.settings["meinvoice"]["describe_as_accounting"] is False
