"""Orders an AMIS connection received before AMIS could post anything were held as "no processor yet",
under the kind an unknown target gives ("document"). AMIS posts now: each becomes the order's sales voucher
document, still held, with a reason that says a retry posts it."""

from django.db import migrations
from django.utils.translation import gettext_noop

TARGET = "amis"
OLD_KIND, NEW_KIND = "document", "sales_voucher"
REASON = gettext_noop("AMIS can post this order now: retry it to post its vouchers.")


def rename(apps, schema_editor):
    documents = apps.get_model("syncjobs", "SyncDocument").objects
    for doc in documents.filter(connection__target_kind=TARGET, kind=OLD_KIND):
        taken = documents.filter(
            connection_id=doc.connection_id,
            account_id=doc.account_id,
            source_type=doc.source_type,
            source_id=doc.source_id,
            kind=NEW_KIND,
        ).exists()
        if taken:
            continue
        doc.kind = NEW_KIND
        if doc.state in ("blocked", "pending"):
            doc.state = "blocked"
            doc.last_error, doc.last_error_text = REASON, {"id": REASON, "params": {}}
        doc.save(update_fields=["kind", "state", "last_error", "last_error_text"])


class Migration(migrations.Migration):
    dependencies = [("amis", "0003_amis_posting"), ("syncjobs", "0009_amis_posting")]

    operations = [migrations.RunPython(rename, migrations.RunPython.noop)]
