"""The stock part of an AMIS company's mapping form: shown with the stored settings (all kinds off by
default), posted back to the stored mapping, refused next to its field; a page without it keeps them."""

import pytest
from django.utils import translation

from amis.forms import MappingSection
from amis.mapping import Mapping
from connectors.models import Connection, TargetAccount
from tests import factories
from tests.amis.test_forms import company, posted, render, request


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
    for i, code in enumerate(("demo-hanoi", "demo-hcm")):
        TargetAccount.objects.create(
            connection=conn,
            external_id=code,
            name=f"Công ty {code}",
            is_default=i == 0,
            credentials={"access_code": "demo"},
        )
    return conn


def stock_posted(section: MappingSection, **changes) -> dict:
    """``posted`` plus the stock form and its table of reasons, as the browser posts them."""
    data = posted(section)
    for company_ in section.companies:
        for bf in company_.reasons.management_form:
            data[bf.html_name] = bf.value()
        for form in (company_.stock_form, *company_.reasons.forms):
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


def test_the_stock_section_shows_every_kind_off_and_the_best_known_defaults(conn):
    html = render(MappingSection(conn), conn)
    assert "Stock documents" in html and "Post purchase receives" in html
    form = MappingSection(conn).companies[0].stock_form
    assert not any(form[name].value() for name in ("purchase_receive", "adjustment", "transfer"))
    assert form["transfer_reftype"].value() == 2030 and form["issue_reftype"].value() == 2023


def test_switching_kinds_on_and_accounts_per_reason_round_trips(conn):
    hanoi = company(conn, "demo-hanoi")
    p = f"amis-{hanoi.pk}"
    data = stock_posted(
        MappingSection(conn),
        **{
            f"{p}-stock-adjustment": "on",
            f"{p}-stock-transfer": "on",
            f"{p}-stock-transfer_style": "issue_receipt",
            f"{p}-stock-adjust_issue_debit": "811",
            f"{p}-reason-0-reason": "shrinkage",
            f"{p}-reason-0-receipt_debit": "1561",
            f"{p}-reason-0-receipt_credit": "3381",
            f"{p}-reason-0-issue_debit": "1381",
            f"{p}-reason-0-issue_credit": "1561",
        },
    )
    section = MappingSection(conn, data)
    assert section.save(request()) is True, section.companies[0].mapping_error
    hanoi.refresh_from_db()
    stored = Mapping.from_dict(hanoi.settings["mapping"]).stock
    assert stored.kinds == ("adjustment", "transfer") and stored.transfer_style == "issue_receipt"
    assert stored.adjustment_accounts.issue_debit == "811"
    assert stored.accounts_for("shrinkage").receipt_credit == "3381"
    assert stored.accounts_for("damaged").issue_debit == "811"
    again = MappingSection(conn).companies[0]
    assert again.reasons.forms[0]["reason"].value() == "shrinkage"
    # a page posted without the stock part (an older page) keeps it as stored
    assert MappingSection(conn, posted(MappingSection(conn))).save(request()) is True
    hanoi.refresh_from_db()
    assert Mapping.from_dict(hanoi.settings["mapping"]).stock.kinds == ("adjustment", "transfer")


def test_an_invalid_stock_value_is_refused_next_to_its_field(conn):
    hanoi = company(conn, "demo-hanoi")
    p = f"amis-{hanoi.pk}"
    section = MappingSection(
        conn, stock_posted(MappingSection(conn), **{f"{p}-stock-supplier_code": "KH{supplier_id}"})
    )
    assert section.save(request()) is False
    chosen = section.companies[0]
    assert "stock.supplier_code" in chosen.mapping_error
    assert "must start with a supplier prefix" in " ".join(chosen.stock_form.errors["supplier_code"])
    twice = stock_posted(
        MappingSection(conn),
        **{
            f"{p}-reason-0-reason": "damaged",
            f"{p}-reason-TOTAL_FORMS": "2",
            f"{p}-reason-1-reason": "damaged",
        },
    )
    assert MappingSection(conn, twice).save(request()) is False
