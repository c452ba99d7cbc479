"""Rates and flags against the meInvoice simulator: the 8 % reduction (IsTaxReduction43, its window), free
gifts, sales-invoice series, IsInvoiceSummary from the template, emoji and e-mails. Each test fails if the
product stops handling what the simulator (as MISA) rejects. The real client, services and database."""

import copy
import datetime as dt

import pytest
from django.utils import timezone

from meinvoice import services
from sandbox.meinvoice.accounts import build_template
from syncjobs.models import SyncAttempt
from tests.meinvoice.test_issuance import conn, gen, meinvoice, paid_order, take  # noqa: F401

MST = "0101243150"


def plain_order(g=None):
    """A paid order routed to MST 0101243150 (not shopee, not location 1002)."""
    g = g or gen()
    for _ in range(40):
        order = paid_order(g)
        if order.get("source_name") != "shopee" and str(order.get("location_id")) != "1002":
            return copy.deepcopy(order)
    pytest.skip("the generator routed every order elsewhere")


def issued(sandbox, doc):
    account = meinvoice(sandbox).accounts[doc.account.external_id]
    return next(inv.data for inv in account.invoices if inv.ref_id == doc.result["ref_id"])


def said(doc) -> str:
    """What the document's timeline told the merchant when it was evaluated."""
    return " ".join(
        SyncAttempt.objects.filter(document=doc, action="evaluate").values_list("message", flat=True)
    )


def publish(doc):
    services.sync_orders()
    doc.refresh_from_db()
    return doc


def set_mapping(conn, **mapping):  # noqa: F811
    conn.settings = {**(conn.settings or {}), "meinvoice": mapping}
    conn.save(update_fields=["settings"])


def later(monkeypatch, sandbox, day: dt.date):
    """Both sides of the wire on ``day``: our invoice date and the simulator's clock."""
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: day)
    sim = meinvoice(sandbox)
    sim.advance(max(0.0, (day - sim.today()).total_seconds() + 3600))


def test_goods_at_8_percent_are_published_with_the_reduction_flag(conn, sandbox, monkeypatch):  # noqa: F811
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: dt.date(2026, 6, 1))  # in the window
    doc = publish(take(plain_order()))
    assert doc.state == "done", doc.last_error  # the simulator refuses 8 % lines without the flag
    data = issued(sandbox, doc)
    assert data["IsTaxReduction43"] is True
    assert "8%" in {d["VATRateName"] for d in data["OriginalInvoiceDetail"]}


def test_a_mapped_8_percent_outside_the_window_is_refused_before_sending(conn, sandbox, monkeypatch):  # noqa: F811
    set_mapping(conn, default_vat_rate="8%")  # written so before the reduction rules: "10 %, reduced"
    later(monkeypatch, sandbox, dt.date(2027, 1, 5))
    doc = take(plain_order())
    assert doc.state == "blocked"
    assert "not in force on 05/01/2027" in doc.last_error and "Map these goods to 10%" in doc.last_error
    assert services.sync_orders() == 0 and not meinvoice(sandbox).invoices()


def test_the_merchants_window_is_honoured(conn, sandbox):  # noqa: F811
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    set_mapping(conn, default_vat_rate="8%", reduction={"rules": [], "valid_to": yesterday})
    doc = take(plain_order())
    assert doc.state == "blocked" and "VAT reduction is not in force" in doc.last_error


def test_by_default_invoices_go_out_at_10_percent_once_the_reduction_ends(conn, sandbox, monkeypatch):  # noqa: F811
    """No rate written: goods at the default rate are reduced while a decree allows it, then issued at
    10 % without the flag, never held (the simulator refuses a reduction out of its window)."""
    later(monkeypatch, sandbox, dt.date(2027, 1, 5))
    doc = publish(take(plain_order()))
    assert doc.state == "done", doc.last_error
    data = issued(sandbox, doc)
    assert data["IsTaxReduction43"] is False and "8%" not in {
        d["VATRateName"] for d in data["OriginalInvoiceDetail"]
    }


def test_explicit_reduction_rules_give_8_percent_in_the_window_and_10_after(conn, sandbox, monkeypatch):  # noqa: F811
    order = plain_order()
    types = sorted({li.get("type") or li.get("product_type") or "" for li in order["line_items"]} - {""})
    if not types:
        pytest.skip("the generated lines have no product type")
    rules = [{"match": "product_type", "value": t} for t in types]
    set_mapping(conn, default_vat_rate="10%", reduction={"rules": rules, "shipping": True})
    doc = publish(take(order))
    assert doc.state == "done", doc.last_error
    data = issued(sandbox, doc)
    goods = [d for d in data["OriginalInvoiceDetail"] if d["ItemType"] == 1]
    assert {d["VATRateName"] for d in goods} == {"8%"} and data["IsTaxReduction43"] is True

    later(monkeypatch, sandbox, dt.date(2027, 1, 5))
    second = plain_order()
    doc = publish(take(second))
    assert doc.state == "done", doc.last_error
    data = issued(sandbox, doc)
    goods = [d for d in data["OriginalInvoiceDetail"] if d["ItemType"] == 1]
    assert "8%" not in {d["VATRateName"] for d in goods} and data["IsTaxReduction43"] is False


def test_reduction_rule_on_goods_mapped_to_5_percent_is_refused(conn, sandbox):  # noqa: F811
    order = plain_order()
    kind = order["line_items"][0].get("type") or "Sách"
    order["line_items"][0]["type"] = kind
    set_mapping(
        conn,
        tax_rules=[{"match": "product_type", "value": kind, "rate": "5%"}],
        reduction={"rules": [{"match": "product_type", "value": kind}]},
    )
    doc = take(order)
    assert doc.state == "blocked" and "applies only to goods otherwise taxed at 10%" in doc.last_error


def test_free_gifts_are_promotion_lines(conn, sandbox):  # noqa: F811
    order = plain_order()
    gift = copy.deepcopy(order["line_items"][0])
    gift.update(id=987654321, title="Quà tặng móc khóa", variant_title="", price=0, total_discount=0)
    gift.update(quantity=1, sku="GIFT-1", applied_discounts=[])
    order["line_items"].append(gift)
    doc = publish(take(order))
    assert doc.state == "done", doc.last_error
    lines = issued(sandbox, doc)["OriginalInvoiceDetail"]
    promo = [d for d in lines if d["ItemCode"] == "GIFT-1"]
    assert len(promo) == 1 and promo[0]["ItemType"] == 2
    assert promo[0]["VATRateName"] != "8%" and promo[0]["Amount"] == promo[0]["VATAmount"] == 0


def test_is_invoice_summary_follows_the_template(conn, sandbox):  # noqa: F811
    account = conn.accounts.get(external_id=MST)
    series = account.settings["series"]
    for template in meinvoice(sandbox).accounts[MST].templates:
        if template["InvSeries"] == series:
            template["IsSendSummary"] = True
    services.sync_templates(account)
    doc = publish(take(plain_order()))
    assert doc.state == "done", doc.last_error  # the simulator refuses a flag the template does not have
    assert issued(sandbox, doc)["IsInvoiceSummary"] is True


def test_a_sales_invoice_series_carries_no_vat_and_the_reduction_note(conn, sandbox):  # noqa: F811
    account = conn.accounts.get(external_id=MST)
    yy = f"{timezone.localdate().year % 100:02d}"
    sim = meinvoice(sandbox)
    sim.accounts[MST].templates.append(build_template(sim, f"2C{yy}TSS"))
    services.sync_templates(account)
    account.settings = {**account.settings, "series": f"2C{yy}TSS"}
    account.save(update_fields=["settings"])
    doc = publish(take(plain_order()))
    assert doc.state == "done", doc.last_error  # the simulator refuses VAT on a sales invoice
    data = issued(sandbox, doc)
    goods = [d for d in data["OriginalInvoiceDetail"] if d["ItemType"] == 1]
    assert all(d["VATAmount"] == 0 and d["VATRateName"] is None for d in goods)
    assert data["TotalVATAmount"] == 0 and data["TaxRateInfo"] == []
    notes = [d["ItemName"] for d in data["OriginalInvoiceDetail"] if d["ItemType"] == 4]
    assert len(notes) == 1 and notes[0].startswith("Đã giảm ")
    assert "20% mức tỷ lệ % để tính thuế giá trị gia tăng theo Nghị quyết số 204/2025/QH15" in notes[0]
    assert data["IsTaxReduction43"] is True


def test_emoji_are_removed_from_item_names_and_said(conn, sandbox):  # noqa: F811
    order = plain_order()
    order["line_items"][0]["title"] = "Áo thun 👕 cotton ❤️"
    doc = publish(take(order))
    assert doc.state == "done", doc.last_error  # the simulator refuses emoji (InvalidXMLContainEmoji)
    names = [d["ItemName"] for d in issued(sandbox, doc)["OriginalInvoiceDetail"]]
    assert any(n.startswith("Áo thun cotton") for n in names)
    assert "Emoji removed from item names: Áo thun 👕 cotton ❤️" in said(doc)


def test_an_e_mail_outside_misa_format_is_dropped_and_said(conn, sandbox):  # noqa: F811
    order = plain_order()
    order["email"] = "an.nguyễn@gmail.com"
    order["note_attributes"] = [a for a in order.get("note_attributes") or [] if a.get("name") != "vat_email"]
    (order.get("customer") or {}).pop("email", None)
    order.pop("contact_email", None)
    doc = publish(take(order))
    assert doc.state == "done", doc.last_error  # the simulator refuses an address outside MISA's format
    data = issued(sandbox, doc)
    assert data["BuyerEmail"] == "" and data["ReceiverEmail"] == "" and data["IsSendEmail"] is False
    assert "an.nguyễn@gmail.com is not an address meInvoice accepts" in said(doc)
