"""The AMIS mapping section: one fieldset per AMIS company of the connection, codes picked from the
company's copy of AMIS's master data (or typed, with a hint, before any copy), codes the copy lacks flagged
next to their field, every value checked by ``Mapping.from_dict`` before anything is saved, and what the
form does not show kept as stored.

Real models on the test database; the page is posted as a browser would post it (every field the section
renders, with its current value), then changed where a test says."""

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone, translation

from amis.forms import MappingSection, master_data_summary
from amis.mapping import Combo, Component, Location, Mapping, Parties, TaxRule
from amis.models import AmisDictionaryEntry, AmisDictionarySync
from connectors.models import Connection, TargetAccount
from tests import factories

BRANCH_HCM = "5b7d2c3e-1111-4a2b-9c3d-000000000002"
BRANCH_HN = "5b7d2c3e-1111-4a2b-9c3d-000000000001"
DEPARTMENT = "5b7d2c3e-1111-4a2b-9c3d-000000000003"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def conn(db):
    tenant = factories.tenant()
    shop = factories.shop(tenant)
    conn = Connection.objects.create(
        tenant=tenant, name="Shop → AMIS", source_kind="haravan", source_key=shop.org_id, target_kind="amis"
    )
    for i, company in enumerate(("demo-hanoi", "demo-hcm")):
        TargetAccount.objects.create(
            connection=conn,
            external_id=company,
            name=f"Công ty {company}",
            is_default=i == 0,
            credentials={"access_code": "demo"},
        )
    return conn


def company(conn, code) -> TargetAccount:
    return conn.accounts.get(external_id=code)


def entry(account, data_type, code, name="", amis_id="", inactive=False, **data):
    return AmisDictionaryEntry.objects.create(
        account=account,
        data_type=data_type,
        code=code,
        name=name,
        amis_id=amis_id,
        inactive=inactive,
        data=data,
    )


def synced(account, *kinds):
    for kind in kinds:
        AmisDictionarySync.objects.create(account=account, data_type=kind, synced_at=timezone.now())


@pytest.fixture
def hcm_lists(conn):
    """demo-hcm's master data: two company/branch units and a department, stocks, units, items, objects."""
    hcm = company(conn, "demo-hcm")
    entry(hcm, 6, "DEMO-HCM", "Công ty HCM", BRANCH_HN, organization_unit_type_id=1)
    entry(hcm, 6, "CN01", "Chi nhánh 1", BRANCH_HCM, organization_unit_type_id=2)
    entry(hcm, 6, "PKD", "Phòng kinh doanh", DEPARTMENT, organization_unit_type_id=3)
    entry(hcm, 3, "KHO01", "Kho Hà Nội")
    entry(hcm, 3, "KHO02", "Kho HCM")
    entry(hcm, 3, "KHO99", "Kho cũ", inactive=True)
    entry(hcm, 4, "Cái", "Cái")
    entry(hcm, 4, "Lần", "Lần")
    entry(hcm, 2, "AT-01", "Áo thun")
    entry(hcm, 2, "PHIVANCHUYEN", "Phí vận chuyển")
    entry(hcm, 1, "KHACHLE", "Khách lẻ")
    entry(hcm, 1, "KHACHLE_SHOPEE", "Khách Shopee")
    for number in ("131", "5111", "5113", "33311", "1111", "1121", "1561", "632", "5212"):
        entry(hcm, 5, number, f"Tài khoản {number}")
    synced(hcm, 1, 2, 3, 4, 5, 6)
    return hcm


def store(account, mapping: Mapping):
    account.settings = {**(account.settings or {}), "mapping": mapping.to_dict()}
    account.save()


def posted(section: MappingSection, **changes) -> dict:
    """What the browser posts from the section as rendered (unbound), with ``changes`` (None: left out)."""
    data = {}
    for company_ in section.companies:
        for formset in company_.formsets.values():
            for bf in formset.management_form:
                data[bf.html_name] = bf.value()
        forms_ = [company_.form, *(f for fs in company_.formsets.values() for f in fs.forms)]
        for form in forms_:
            for bf in form:
                value = bf.value()
                if bf.widget_type == "checkbox":
                    if value:
                        data[bf.html_name] = "on"
                elif value is not None:
                    data[bf.html_name] = str(value)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def request():
    req = RequestFactory().post("/")
    req._messages = CookieStorage(req)
    return req


def render(section, conn, *, can_configure=True) -> str:
    return render_to_string(
        "amis/_mapping.html", {**section.context(), "connection": conn, "can_configure": can_configure}
    )


def row(formset, key, value):
    """The form of a table whose ``key`` field shows ``value`` (stored tables come back in the
    database's key order)."""
    return next(f for f in formset.forms if f[key].value() == value)


def fields_of(section, code) -> dict:
    """The bound fields of one company's form by name."""
    chosen = next(c for c in section.companies if c.account.external_id == code)
    return {bf.name: bf for bf in chosen.form}


# --- unbound: what is stored, with AMIS's lists ----------------------------------------------------------


def test_one_fieldset_per_company_the_default_first(conn):
    section = MappingSection(conn)
    assert [c.account.external_id for c in section.companies] == ["demo-hanoi", "demo-hcm"]
    html = render(section, conn)
    assert html.index("[AMIS demo-hanoi]") < html.index("[AMIS demo-hcm]")
    for account in conn.accounts.all():
        assert f'id="amis-{account.pk}"' in html
        assert f'name="amis-{account.pk}-walk_in"' in html  # each company's own fields
    assert 'action="/connections/' in html and "Save the mapping" in html


def test_an_unmapped_company_shows_the_defaults(conn):
    fields = fields_of(MappingSection(conn), "demo-hanoi")
    assert fields["walk_in"].value() == "KHACHLE"
    assert fields["customer_code"].value() == "KH{customer_id}"
    assert fields["default_vat_rate"].value() == "10"
    assert fields["sales_voucher"].value() == "paid" and fields["sales_order"].value() == "never"
    assert fields["stock_issue"].value() is True and fields["paid_at_sale"].value() is True
    assert fields["account_receivable"].value() == "131" and fields["account_sales_returns"].value() == "5212"
    assert fields["shipping_item_code"].value() == "PHIVANCHUYEN"


def test_without_master_data_codes_are_typed_with_a_hint_to_sync(conn):
    section = MappingSection(conn)
    html = render(section, conn)
    fields = fields_of(section, "demo-hanoi")
    assert fields["default_branch_id"].widget_type == "text"
    assert str(fields["default_unit"].help_text) == "Sync master data to pick from AMIS's lists."
    assert "No master data of [AMIS demo-hanoi] yet" in html
    assert "missing-code" not in html  # nothing read yet: nothing to call missing


def test_with_master_data_the_codes_are_picked_from_amis_lists(conn, hcm_lists):
    section = MappingSection(conn)
    fields = fields_of(section, "demo-hcm")
    stock = dict(section.companies[1].locations.forms[0].fields["stock_code"].widget.choices)
    assert stock == {"": "—", "KHO01": "Kho Hà Nội (KHO01)", "KHO02": "Kho HCM (KHO02)"}  # not the inactive
    branch = dict(fields["default_branch_id"].field.widget.choices)
    assert branch == {"": "—", BRANCH_HN: "Công ty HCM (DEMO-HCM)", BRANCH_HCM: "Chi nhánh 1 (CN01)"}
    assert DEPARTMENT not in branch  # a department is no branch_id [amis.md §12]
    assert dict(fields["default_unit"].field.widget.choices)["Lần"] == "Lần"
    assert "5111" in dict(fields["account_revenue_goods"].field.widget.choices)
    # the long lists: typed, with AMIS's codes offered
    assert fields["walk_in"].field.widget.attrs["list"] == f"amis-{hcm_lists.pk}-list-1"
    html = render(section, conn)
    assert f'<datalist id="amis-{hcm_lists.pk}-list-2">' in html
    assert '<option value="KHACHLE_SHOPEE">Khách Shopee (KHACHLE_SHOPEE)</option>' in html
    # the other company has no lists: its fields stay text inputs
    assert fields_of(section, "demo-hanoi")["default_unit"].widget_type == "text"


def test_the_stored_mapping_fills_the_tables(conn, hcm_lists):
    store(
        hcm_lists,
        Mapping(
            locations={"1002": Location(BRANCH_HCM, "KHO02")},
            parties=Parties(by_channel={"shopee": "KHACHLE_SHOPEE"}),
            item_codes={"AT-01-XL": "AT-01"},
            gateways={"Tiền mặt": "cash"},
        ),
    )
    chosen = MappingSection(conn).companies[1]
    assert chosen.locations.forms[0]["location"].value() == "1002"
    assert chosen.locations.forms[0]["branch_id"].value() == BRANCH_HCM
    assert chosen.channels.forms[0]["code"].value() == "KHACHLE_SHOPEE"
    assert chosen.items.forms[0]["sku"].value() == "AT-01-XL"
    assert chosen.gateways.forms[0]["kind"].value() == "cash"
    assert len(chosen.locations.forms) == 3  # and two empty rows to add


def test_codes_the_master_data_lacks_are_flagged_next_to_their_field(conn, hcm_lists):
    store(
        hcm_lists,
        Mapping(
            locations={"1002": Location("0000-gone", "KHO99"), "1001": Location(BRANCH_HN, "KHO01")},
            parties=Parties(walk_in="KHACHLE_CU"),
            default_unit="Chiếc",
        ),
    )
    section = MappingSection(conn)
    html = render(section, conn)
    for code in ("KHO99", "KHACHLE_CU", "Chiếc", "0000-gone"):
        assert f"AMIS company demo-hcm has no {code} in its lists (any more)" in html, code
    assert "KHO01 in its lists" not in html and "Cái in its lists" not in html
    assert "Codes not in AMIS's lists: 4. See the fields marked below." in html
    # the stale value stays selected, marked, so saving the page does not drop it
    stock = row(section.companies[1].locations, "location", "1002").fields["stock_code"].widget
    assert ("KHO99", "KHO99 (not in AMIS's list)") in stock.choices
    assert '<option value="KHO99" selected>' in html


def test_an_empty_list_that_was_read_flags_too_but_an_unread_one_does_not(conn):
    hanoi = company(conn, "demo-hanoi")
    synced(hanoi, 3)  # warehouses read: none
    store(hanoi, Mapping(locations={"1001": Location(None, "KHO01")}, parties=Parties(walk_in="KHACHLE")))
    html = render(MappingSection(conn), conn)
    assert "AMIS company demo-hanoi has no KHO01" in html
    assert "has no KHACHLE " not in html  # account objects never read: nothing to compare with


def test_a_stored_invalid_mapping_is_shown_to_be_fixed(conn):
    hanoi = company(conn, "demo-hanoi")
    hanoi.settings = {"mapping": {"default_vat_rate": "12", "parties": {"walk_in": "KL"}}}
    hanoi.save()
    section = MappingSection(conn)
    html = render(section, conn)
    assert "The saved mapping of this company is not valid" in html and "default_vat_rate" in html
    assert fields_of(section, "demo-hanoi")["walk_in"].value() == "KL"  # as stored, to fix


def test_a_viewer_sees_the_section_disabled(conn):
    html = render(MappingSection(conn), conn, can_configure=False)
    assert '<fieldset class="sections" disabled>' in html
    assert "Only the shop's owner can change the mapping." in html


def test_no_company_yet_says_where_to_add_one(db):
    tenant = factories.tenant()
    conn = Connection.objects.create(
        tenant=tenant, name="x", source_kind="haravan", source_key="1", target_kind="amis"
    )
    html = render(MappingSection(conn), conn)
    assert "No AMIS company yet" in html and "<form" not in html


# --- bound: validation and saving ----------------------------------------------------------------------


def test_saving_the_page_unchanged_stores_the_defaults_for_every_company(conn):
    section = MappingSection(conn, posted(MappingSection(conn)))
    req = request()
    assert section.save(req) is True
    for account in conn.accounts.all():
        assert account.settings["mapping"] == Mapping().to_dict()
    (message,) = get_messages(req)
    assert str(message).startswith("AMIS mapping saved for demo-hanoi, demo-hcm:")


def test_a_changed_mapping_round_trips_and_keeps_what_the_form_does_not_show(conn, hcm_lists):
    hidden = Mapping(
        tax_rules=[TaxRule("product_type", "Sách", "5")],
        combos={"COMBO1": Combo([Component("AT-01", 2)])},
        units={"AT-01": "Cái"},
    )
    store(hcm_lists, hidden)
    hcm_lists.settings["series"] = "kept too"
    hcm_lists.save()
    p = f"amis-{hcm_lists.pk}"
    data = posted(
        MappingSection(conn),
        **{
            f"{p}-loc-0-location": "1002",
            f"{p}-loc-0-branch_id": BRANCH_HCM,
            f"{p}-loc-0-stock_code": "KHO02",
            f"{p}-loc-1-location": "1001",
            f"{p}-loc-1-branch_id": BRANCH_HN,
            f"{p}-chan-0-channel": "shopee",
            f"{p}-chan-0-code": "KHACHLE_SHOPEE",
            f"{p}-item-0-sku": "AT-01-XL",
            f"{p}-item-0-code": "AT-01",
            f"{p}-gw-0-gateway": "Chuyển khoản",
            f"{p}-gw-0-kind": "bank",
            f"{p}-gw-1-gateway": "Voucher",
            f"{p}-gw-1-kind": "none",
            f"{p}-default_gateway": "cash",
            f"{p}-default_branch_id": BRANCH_HN,
            f"{p}-default_vat_rate": "8",
            f"{p}-shipping_mode": "leave_out",
            f"{p}-shipping_vat_rate": "KCT",
            f"{p}-sales_order": "created",
            f"{p}-sales_voucher": "fulfilled",
            f"{p}-stock_issue": None,  # unticked
            f"{p}-customer_code": "KHHRV{customer_id}",
            f"{p}-account_revenue_goods": "5112",
            f"{p}-bank_account_number": "0071000123456",
        },
    )
    section = MappingSection(conn, data)
    assert section.save(request()) is True
    hcm_lists.refresh_from_db()
    assert hcm_lists.settings["series"] == "kept too"
    saved = Mapping.from_dict(hcm_lists.settings["mapping"])
    assert saved.locations == {"1002": Location(BRANCH_HCM, "KHO02"), "1001": Location(BRANCH_HN, None)}
    assert saved.parties.by_channel == {"shopee": "KHACHLE_SHOPEE"}
    assert saved.parties.customer_code == "KHHRV{customer_id}"
    assert saved.item_codes == {"AT-01-XL": "AT-01"}
    assert saved.gateways == {"Chuyển khoản": "bank", "Voucher": "none"} and saved.default_gateway == "cash"
    assert saved.default_branch_id == BRANCH_HN and saved.default_vat_rate == "8"
    assert (saved.shipping.mode, saved.shipping.vat_rate) == ("leave_out", "KCT")
    assert (saved.documents.sales_order, saved.documents.sales_voucher) == ("created", "fulfilled")
    assert saved.documents.stock_issue is False and saved.documents.receipts is True
    assert saved.accounts.revenue_goods == "5112" and saved.accounts.bank_account_number == "0071000123456"
    # what the form does not show, as stored
    assert (
        saved.tax_rules == hidden.tax_rules and saved.combos == hidden.combos and saved.units == hidden.units
    )
    # the other company: saved as it was shown
    assert company(conn, "demo-hanoi").settings["mapping"] == Mapping().to_dict()
    # and the page shows it back as saved
    again = MappingSection(conn).companies[1]
    assert row(again.locations, "location", "1002")["stock_code"].value() == "KHO02"
    assert fields_of(MappingSection(conn), "demo-hcm")["default_vat_rate"].value() == "8"


def test_a_flagged_code_is_saved_all_the_same(conn, hcm_lists):
    p = f"amis-{hcm_lists.pk}"
    data = posted(MappingSection(conn), **{f"{p}-loc-0-location": "1003", f"{p}-loc-0-stock_code": "KHO03"})
    section = MappingSection(conn, data)
    assert section.save(request()) is True
    hcm_lists.refresh_from_db()
    assert hcm_lists.settings["mapping"]["locations"] == {"1003": {"branch_id": None, "stock_code": "KHO03"}}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("customer_code", "NCC{customer_id}", "could collide with supplier codes"),
        ("customer_code", "KH{id}", "must contain {customer_id}"),
        ("walk_in", "", "parties.walk_in: must not be empty"),
        ("account_cash", "11x1", "accounts.cash: '11x1' is not an account number"),
        ("shipping_item_code", "", "shipping.item_code: must not be empty"),
    ],
)
def test_an_invalid_value_is_refused_next_to_its_field_and_nothing_is_saved(conn, field, value, words):
    hanoi = company(conn, "demo-hanoi")
    p = f"amis-{hanoi.pk}"
    section = MappingSection(conn, posted(MappingSection(conn), **{f"{p}-{field}": value}))
    assert section.save(request()) is False
    assert not any("mapping" in (a.settings or {}) for a in conn.accounts.all())  # neither company
    chosen = section.companies[0]
    assert words in chosen.mapping_error
    assert words in " ".join(chosen.form.errors[field])
    html = render(section, conn)
    assert "Nothing was saved. Some values are not valid" in html and words.split("'")[0] in html


def test_a_table_row_without_its_key_or_listed_twice_is_refused(conn):
    hanoi = company(conn, "demo-hanoi")
    p = f"amis-{hanoi.pk}"
    data = posted(
        MappingSection(conn),
        **{
            f"{p}-loc-0-stock_code": "KHO01",  # no location id
            f"{p}-chan-0-channel": "shopee",
            f"{p}-chan-0-code": "A",
            f"{p}-chan-1-channel": "Shopee",
            f"{p}-chan-1-code": "B",
        },
    )
    section = MappingSection(conn, data)
    assert section.save(request()) is False
    chosen = section.companies[0]
    assert "Required: Haravan location id." in chosen.locations.forms[0].errors["location"]
    assert "Shopee is listed twice." in chosen.channels.forms[1].errors["channel"]
    assert not any("mapping" in (a.settings or {}) for a in conn.accounts.all())


def test_a_removed_row_is_dropped(conn):
    hanoi = company(conn, "demo-hanoi")
    store(hanoi, Mapping(gateways={"COD": "cash", "Momo": "bank"}))
    shown = MappingSection(conn)
    cod = row(shown.companies[0].gateways, "gateway", "COD")
    section = MappingSection(conn, posted(shown, **{f"{cod.prefix}-DELETE": "on"}))
    assert section.save(request()) is True
    hanoi.refresh_from_db()
    assert hanoi.settings["mapping"]["gateways"] == {"Momo": "bank"}


def test_a_company_the_posted_page_did_not_show_keeps_its_mapping(conn):
    data = posted(MappingSection(conn))
    late = TargetAccount.objects.create(
        connection=conn, external_id="demo-tmdt", settings={"mapping": {"x": 1}}
    )
    section = MappingSection(conn, data)
    assert section.save(request()) is True
    late.refresh_from_db()
    assert late.settings == {"mapping": {"x": 1}}


def test_a_post_without_any_company_saves_nothing(conn):
    section = MappingSection(conn, {"csrfmiddlewaretoken": "x"})
    assert section.save(request()) is False
    assert "Nothing to save" in render(section, conn)
    assert not any("mapping" in (a.settings or {}) for a in conn.accounts.all())


def test_a_rate_written_by_hand_is_kept_when_the_page_is_saved(conn):
    hanoi = company(conn, "demo-hanoi")
    store(hanoi, Mapping(default_vat_rate="KHAC:3.5"))
    section = MappingSection(conn)
    assert ("KHAC:3.5", "KHAC:3.5") in section.companies[0].form.fields["default_vat_rate"].choices
    assert MappingSection(conn, posted(section)).save(request()) is True
    hanoi.refresh_from_db()
    assert hanoi.settings["mapping"]["default_vat_rate"] == "KHAC:3.5"


# --- the answer to "Sync master data" ------------------------------------------------------------------


def test_the_master_data_summary_counts_what_the_mapping_offers(conn, hcm_lists):
    text = master_data_summary(hcm_lists)
    assert text.english() == (
        "Master data of AMIS company demo-hcm is up to date; the mapping offers branches and companies: 2; "
        "warehouses: 2; account objects: 2; items: 2; units: 2; accounts: 9."
    )  # the department and the inactive warehouse are not offered
    empty = master_data_summary(company(conn, "demo-hanoi")).english()
    assert "demo-hanoi" in empty and "branches and companies: 0; warehouses: 0" in empty


def test_the_section_renders_in_vietnamese(conn, hcm_lists):
    store(hcm_lists, Mapping(locations={"1002": Location(BRANCH_HCM, "KHO09")}))
    with translation.override("vi"):
        html = render(MappingSection(conn), conn)
    assert "[AMIS demo-hcm]" in html and "KHO09" in html


def test_an_error_in_a_part_the_form_does_not_show_is_said_at_the_companys_top(conn):
    hanoi = company(conn, "demo-hanoi")
    hanoi.settings = {"mapping": {"tax_rules": [{"match": "sku", "value": "A", "rate": "7"}]}}
    hanoi.save()
    section = MappingSection(conn, posted(MappingSection(conn)))
    assert section.save(request()) is False
    html = render(section, conn)
    assert (
        html.count("tax_rules[0].rate: &#x27;7&#x27; is not a VAT rate") == 2
    )  # the stored error, the refusal
    hanoi.refresh_from_db()
    assert hanoi.settings["mapping"]["tax_rules"][0]["rate"] == "7"  # nothing saved


def test_a_code_stored_in_another_case_stays_selected_and_is_not_flagged(conn, hcm_lists):
    store(hcm_lists, Mapping(locations={"1002": Location(BRANCH_HCM.upper(), "kho02")}))
    section = MappingSection(conn)
    html = render(section, conn)
    assert '<option value="kho02" selected>Kho HCM (KHO02)</option>' in html
    assert f'<option value="{BRANCH_HCM.upper()}" selected>Chi nhánh 1 (CN01)</option>' in html
    assert "missing-code" not in html
    assert MappingSection(conn, posted(section)).save(request()) is True
    hcm_lists.refresh_from_db()
    assert hcm_lists.settings["mapping"]["locations"]["1002"] == {
        "branch_id": BRANCH_HCM.upper(),
        "stock_code": "kho02",
    }


# --- combos: a table, one row per component, and the prefix of combo tags ----------------------------


def combo_rows(formset) -> list[tuple]:
    return [
        tuple(f[name].value() for name in ("combo", "code", "quantity", "weight", "vat_rate"))
        for f in formset.forms
    ]


def test_stored_combos_fill_the_combos_table_one_row_per_component(conn, hcm_lists):
    store(
        hcm_lists,
        Mapping(
            combos={
                "SET-1": Combo([Component("AT-01", 2, 100_000), Component("QUAN-9", 1, 0, "KHAC:3.5")]),
                "SET-2": Combo([Component("AT-01")]),
            },
            combo_tag_prefix="combo:",
        ),
    )
    section = MappingSection(conn)
    chosen = section.companies[1]
    assert combo_rows(chosen.combos)[:3] == [
        ("SET-1", "AT-01", 2, 100_000, ""),
        ("SET-1", "QUAN-9", 1, 0, "KHAC:3.5"),
        ("SET-2", "AT-01", 1, 1, ""),
    ]
    assert combo_rows(chosen.combos)[3:] == [(None, None, 1, 1, None)] * 3  # empty rows to add
    assert fields_of(section, "demo-hcm")["combo_tag_prefix"].value() == "combo:"
    # components are offered from the company's items, and one it lacks is flagged
    assert chosen.combos.forms[0].fields["code"].widget.attrs["list"] == f"amis-{hcm_lists.pk}-list-2"
    html = render(section, conn)
    assert "AMIS company demo-hcm has no QUAN-9 in its lists (any more)" in html
    assert "has no AT-01" not in html
    assert "Units per combo" in html and "Weight: share of the combo&#x27;s price per unit" in html


def test_combo_rows_are_grouped_by_combo_and_saved_with_the_prefix(conn, hcm_lists):
    p = f"amis-{hcm_lists.pk}"
    data = posted(
        MappingSection(conn),
        **{
            f"{p}-combo-0-combo": "SET-1",
            f"{p}-combo-0-code": "AT-01",
            f"{p}-combo-0-quantity": "2",
            f"{p}-combo-0-weight": "3",
            f"{p}-combo-1-combo": "SET-2",
            f"{p}-combo-1-code": "AT-01",
            f"{p}-combo-1-quantity": "",  # blank: 1
            f"{p}-combo-1-weight": "",  # blank: 1
            f"{p}-combo-2-combo": "set-1",  # the same combo, as AMIS compares codes
            f"{p}-combo-2-code": "PHIVANCHUYEN",
            f"{p}-combo-2-weight": "0",
            f"{p}-combo-2-vat_rate": "KCT",
            f"{p}-combo_tag_prefix": "combo:",
        },
    )
    assert MappingSection(conn, data).save(request()) is True
    hcm_lists.refresh_from_db()
    saved = Mapping.from_dict(hcm_lists.settings["mapping"])
    assert saved.combos == {
        "SET-1": Combo([Component("AT-01", 2, 3), Component("PHIVANCHUYEN", 1, 0, "KCT")]),
        "SET-2": Combo([Component("AT-01", 1, 1)]),
    }
    assert saved.combo_tag_prefix == "combo:"
    # shown back as saved, and saving the page unchanged keeps it
    again = MappingSection(conn)
    assert combo_rows(again.companies[1].combos)[:3] == [
        ("SET-1", "AT-01", 2, 3, ""),
        ("SET-1", "PHIVANCHUYEN", 1, 0, "KCT"),
        ("SET-2", "AT-01", 1, 1, ""),
    ]
    stored = hcm_lists.settings["mapping"]
    assert MappingSection(conn, posted(again)).save(request()) is True
    hcm_lists.refresh_from_db()
    assert hcm_lists.settings["mapping"] == stored


def test_a_removed_component_row_is_dropped_and_a_combo_without_rows_goes(conn):
    hanoi = company(conn, "demo-hanoi")
    store(
        hanoi,
        Mapping(combos={"SET-1": Combo([Component("A"), Component("B")]), "SET-2": Combo([Component("C")])}),
    )
    shown = MappingSection(conn)
    rows = shown.companies[0].combos.forms
    data = posted(shown, **{f"{rows[1].prefix}-DELETE": "on", f"{rows[2].prefix}-DELETE": "on"})
    assert MappingSection(conn, data).save(request()) is True
    hanoi.refresh_from_db()
    assert Mapping.from_dict(hanoi.settings["mapping"]).combos == {"SET-1": Combo([Component("A")])}


def test_combo_rows_without_their_codes_are_refused_on_their_row_and_nothing_is_saved(conn):
    hanoi = company(conn, "demo-hanoi")
    p = f"amis-{hanoi.pk}"
    data = posted(
        MappingSection(conn),
        **{
            f"{p}-combo-0-code": "A",  # no combo
            f"{p}-combo-1-combo": "SET-1",  # no component
            f"{p}-combo-2-combo": "SET-2",
            f"{p}-combo-2-code": "B",
        },
    )
    section = MappingSection(conn, data)
    assert section.save(request()) is False
    rows = section.companies[0].combos.forms
    assert rows[0].errors["combo"] == ["Required: Combo (its item code or SKU)."]
    assert rows[1].errors["code"] == ["Required: Component (AMIS item code)."]
    assert not rows[2].errors
    assert not any("mapping" in (a.settings or {}) for a in conn.accounts.all())
    html = render(section, conn)
    assert "Nothing was saved. Some values are not valid" in html and "Required: Combo" in html


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("quantity", "0", "greater than or equal to 1"),
        ("quantity", "1.5", "Enter a whole number."),
        ("weight", "-1", "greater than or equal to 0"),
    ],
)
def test_an_invalid_quantity_weight_or_rate_is_refused_next_to_it(conn, field, value, words):
    hanoi = company(conn, "demo-hanoi")
    p = f"amis-{hanoi.pk}"
    data = posted(
        MappingSection(conn),
        **{f"{p}-combo-0-combo": "SET-1", f"{p}-combo-0-code": "A", f"{p}-combo-0-{field}": value},
    )
    section = MappingSection(conn, data)
    assert section.save(request()) is False
    assert words in " ".join(section.companies[0].combos.forms[0].errors[field])
    assert not any("mapping" in (a.settings or {}) for a in conn.accounts.all())


def test_a_combo_mapping_from_dict_refuses_is_said_above_the_combos_table(conn):
    hanoi = company(conn, "demo-hanoi")
    p = f"amis-{hanoi.pk}"
    data = posted(
        MappingSection(conn),
        **{f"{p}-combo-0-combo": "SET-1", f"{p}-combo-0-code": "A", f"{p}-combo-0-vat_rate": "7"},
    )
    section = MappingSection(conn, data)
    assert section.save(request()) is False
    words = "combos['SET-1'].components[0].vat_rate: '7' is not a VAT rate"
    assert words in section.companies[0].combos.non_form_errors()[0]
    assert not any("mapping" in (a.settings or {}) for a in conn.accounts.all())


def test_a_component_named_twice_in_one_combo_is_refused(conn):
    hanoi = company(conn, "demo-hanoi")
    p = f"amis-{hanoi.pk}"
    data = posted(
        MappingSection(conn),
        **{
            f"{p}-combo-0-combo": "SET-1",
            f"{p}-combo-0-code": "A",
            f"{p}-combo-1-combo": "SET-1",
            f"{p}-combo-1-code": "a",
        },
    )
    section = MappingSection(conn, data)
    assert section.save(request()) is False
    assert section.companies[0].combos.forms[1].errors["code"] == ["a is listed twice in combo SET-1."]


def test_a_prefix_no_tag_could_start_with_is_refused_next_to_its_field(conn):
    hanoi = company(conn, "demo-hanoi")
    p = f"amis-{hanoi.pk}"
    section = MappingSection(conn, posted(MappingSection(conn), **{f"{p}-combo_tag_prefix": "combo,"}))
    assert section.save(request()) is False
    assert "cannot hold a comma" in " ".join(section.companies[0].form.errors["combo_tag_prefix"])
    assert not any("mapping" in (a.settings or {}) for a in conn.accounts.all())


def test_an_invalid_stored_combo_is_shown_to_be_fixed(conn):
    hanoi = company(conn, "demo-hanoi")
    hanoi.settings = {"mapping": {"combos": {"SET-1": {"components": [{"code": "A", "quantity": 0}]}}}}
    hanoi.save()
    section = MappingSection(conn)
    chosen = section.companies[0]
    assert "combos['SET-1'].components[0].quantity" in chosen.stored_error
    assert combo_rows(chosen.combos)[0] == ("SET-1", "A", 0, 1, "")
    refused = MappingSection(conn, posted(section))
    assert refused.save(request()) is False
    assert (
        "Ensure this value is greater than or equal to 1."
        in refused.companies[0].combos.forms[0].errors["quantity"]
    )
