from django.core import mail
from django.utils import timezone

from haravan.services import intake_order
from syncjobs import alerts
from syncjobs.models import SyncDocument
from tests import factories


def test_one_digest_per_connection_then_only_news(db):
    t = factories.tenant()
    conn = factories.connection(t, factories.shop(t, org_id="200000001"), accounts=("0101243150",))
    conn.alert_email, conn.alert_language = "ketoan@example.com", "en"
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


def test_the_digest_is_written_in_the_language_chosen_for_the_address(db):
    """A Vietnamese accountant reads a Vietnamese digest, whatever language the worker runs in; the reason
    stored as a sentence is rendered in it too, and meInvoice's own words stay as they were."""
    from django.utils import translation

    from connectors.text import Text

    t = factories.tenant()
    conn = factories.connection(t, factories.shop(t, org_id="200000003"), accounts=("0101243150",))
    conn.alert_email, conn.alert_language = "ketoan@example.com", "vi"
    conn.save()
    intake_order("200000003", factories.order(9200, financial_status="paid"), trigger="test")
    doc = SyncDocument.objects.get()
    doc.state = "failed"
    doc.set_error(Text("meInvoice refused the invoice: %(detail)s", detail="InvalidTaxCode"))
    doc.save()
    with translation.override("en"):
        assert alerts.send_digests() == 1
    body = mail.outbox[0].body
    with translation.override("vi"):
        assert Text("meInvoice refused the invoice: %(detail)s", detail="InvalidTaxCode").render() in body
    assert "InvalidTaxCode" in body and "meInvoice refused the invoice" not in body
    assert "Hóa đơn" in body  # the kind, in Vietnamese
