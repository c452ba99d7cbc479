"""The alert digest names the checked days that do not match: once, again only when what differs changes,
with its counts per kind and a link to the day, in the address's language, to the digest's recipients."""

import datetime as dt
from decimal import Decimal

from django.core import mail
from django.utils import timezone, translation

from connectors.models import Connection, TargetAccount
from connectors.text import Text, stored
from syncjobs import alerts
from syncjobs.models import ReconciledDay, SyncDocument
from tests import factories

MST = "0101243150"
YESTERDAY = timezone.localdate() - dt.timedelta(days=1)


def differences(*kinds):
    return [
        {"kind": kind, "source": f"#{100 + i}", "target_document": None, "detail": f"{kind} detail {i}"}
        for i, kind in enumerate(kinds)
    ]


def check(account, day, found=(), **fields):
    """The day as the nightly check writes it: created, or replaced when checked again."""
    found = list(found)
    values = {
        "tenant": account.connection.tenant,
        "connection": account.connection,
        "differences": found,
        "differences_text": [stored(Text(d["detail"]))[1] for d in found],
        "matches": not found and not fields.get("stock_differences") and not fields.get("error"),
        "expected_count": 3,
        "expected_total": Decimal("648000"),
        "checked_at": timezone.now(),
        **fields,
    }
    day_row, _created = ReconciledDay.objects.update_or_create(account=account, day=day, defaults=values)
    return day_row


def meinvoice_connection(org="200000001", language="en"):
    t = factories.tenant()
    conn = factories.connection(t, factories.shop(t, org_id=org), accounts=(MST,))
    conn.alert_email, conn.alert_language = "ketoan@example.com", language
    conn.save()
    return conn


def test_an_unmatched_day_is_mailed_once_with_its_counts_and_link_then_again_only_when_it_changes(
    db, settings
):
    settings.PUBLIC_BASE_URL = "https://hoadon.example.vn"
    conn = meinvoice_connection()
    account = conn.accounts.get()
    check(account, YESTERDAY - dt.timedelta(days=1))  # matches: not news
    day = check(account, YESTERDAY, differences("missing", "missing", "amount"))
    assert alerts.send_digests() == 1
    message = mail.outbox[0]
    assert message.to == ["ketoan@example.com"]
    assert message.subject == f"[LedgerLink] 1 day does not match — [MST {MST}]"
    body = message.body
    assert "1 checked day of Shop → meInvoice does not match its target." in body
    assert f"{YESTERDAY.isoformat()}: Missing at the target: 2; Amount differs: 1" in body
    link = f"https://hoadon.example.vn/connections/{conn.pk}/reconciliation/accounts/{account.pk}/days/{YESTERDAY.isoformat()}/"
    assert link in body
    assert f"https://hoadon.example.vn/connections/{conn.pk}/reconciliation/?month={YESTERDAY:%Y-%m}" in body
    assert str(YESTERDAY - dt.timedelta(days=1)) not in body

    assert alerts.send_digests() == 0  # nothing new
    check(account, YESTERDAY, differences("missing", "missing", "amount"))  # checked again: the same
    assert alerts.send_digests() == 0 and len(mail.outbox) == 1
    check(account, YESTERDAY, differences("missing", "amount"))  # one fixed, one still missing: news
    assert alerts.send_digests() == 1 and "Missing at the target: 1; Amount differs: 1" in mail.outbox[1].body
    check(account, YESTERDAY)  # all fixed: nothing to say
    assert alerts.send_digests() == 0
    check(account, YESTERDAY, differences("missing", "amount"))  # the same differences back: news again
    assert alerts.send_digests() == 1 and len(mail.outbox) == 3
    day.refresh_from_db()
    assert day.reported


def test_failed_documents_and_unmatched_days_share_one_mail(db):
    from haravan.services import intake_order

    conn = meinvoice_connection(org="200000002")
    intake_order("200000002", factories.order(9300, financial_status="paid"), trigger="test")
    SyncDocument.objects.update(state="failed", last_error="meInvoice refused the invoice: InvalidTaxCode")
    check(conn.accounts.get(), YESTERDAY, stock_differences=[{"sku": "AT-01", "place": "Kho", "source": "2",
                                                            "target": "1"}], matches=False)  # fmt: skip
    assert alerts.send_digests() == 1 and len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == f"[LedgerLink] 1 document needs attention — [MST {MST}]"
    assert "InvalidTaxCode" in message.body and "Stock differs: 1" in message.body
    assert message.body.index("InvalidTaxCode") < message.body.index("Stock differs")


def test_a_day_that_could_not_be_checked_says_why_in_the_addresss_language(db):
    conn = meinvoice_connection(org="200000003", language="vi")
    words = Text("meInvoice refused the invoice: %(detail)s", detail="HTTP 503")
    check(conn.accounts.get(), YESTERDAY, error=words.english(), error_text=stored(words)[1])
    with translation.override("en"):
        assert alerts.send_digests() == 1
    with translation.override("vi"):
        assert words.render() in mail.outbox[0].body
    assert "meInvoice refused the invoice" not in mail.outbox[0].body


def test_old_days_and_connections_without_an_address_are_not_mailed(db):
    conn = meinvoice_connection(org="200000004")
    check(conn.accounts.get(), YESTERDAY - dt.timedelta(days=alerts.DAYS_BACK + 1), differences("missing"))
    assert alerts.send_digests() == 0
    conn.alert_email = ""
    conn.save()
    check(conn.accounts.get(), YESTERDAY, differences("missing"))
    assert alerts.send_digests() == 0 and not mail.outbox


def test_the_targets_own_alert_addresses_hear_of_unmatched_days_too(db):
    """A Maventa organisation's error addresses get the digest like they get failed invoices."""
    tenant = factories.tenant()
    conn = Connection.objects.create(
        tenant=tenant,
        name="Demokonsult",
        source_kind="severa",
        source_key="SE556677889901",
        target_kind="maventa",
        alert_language="en",
    )
    account = TargetAccount.objects.create(
        connection=conn,
        external_id="SE556677889901",
        is_default=True,
        settings={"error_emails": ["ekonomi@demokonsult.example"]},
    )
    check(account, YESTERDAY, differences("refused"), currency="SEK")
    assert alerts.send_digests() == 1
    message = mail.outbox[0]
    assert message.to == ["ekonomi@demokonsult.example"]
    assert account.tag in message.subject and "Refused by the target: 1" in message.body
