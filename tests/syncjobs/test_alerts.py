from django.core import mail
from django.utils import timezone

from haravan.services import intake_order
from syncjobs import alerts
from syncjobs.models import SyncDocument
from tests import factories


def test_one_digest_per_connection_then_only_news(db):
    t = factories.tenant()
    conn = factories.connection(t, factories.shop(t, org_id="200000001"), accounts=("0101243150",))
    conn.alert_email = "ketoan@example.com"
    conn.save()
    for i in range(3):
        intake_order("200000001", factories.order(9000 + i, financial_status="paid"), trigger="test")
    SyncDocument.objects.update(state="failed", last_error="meInvoice refused the invoice: InvalidTaxCode")
    assert alerts.send_digests() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ketoan@example.com"] and "[MST 0101243150]" in message.subject
    assert message.body.count("InvalidTaxCode") == 3 and "retry them" in message.body
    assert alerts.send_digests() == 0 and len(mail.outbox) == 1  # nothing new: no mail
    SyncDocument.objects.filter(source_id="9000").update(last_error="again", updated_at=timezone.now())
    assert (
        alerts.send_digests() == 1
        and "again" in mail.outbox[1].body
        and mail.outbox[1].body.count("Order") == 1
    )


def test_no_alert_address_no_mail(db):
    t = factories.tenant()
    factories.connection(t, factories.shop(t, org_id="200000002"))
    intake_order("200000002", factories.order(9100), trigger="test")
    SyncDocument.objects.update(state="failed")
    assert alerts.send_digests() == 0 and not mail.outbox
