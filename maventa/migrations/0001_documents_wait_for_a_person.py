"""Documents made for a Maventa connection before it could send anything waited as "pending"
for ever: they now wait for a person, with the reason, counted and alerted like any other."""

from django.db import migrations

TARGET = "maventa"
REASON = {
    "id": "No processor for %(target)s documents yet: this connection's documents wait here until the "
    "integration can send them.",
    "params": {"target": "Maventa"},
}
WAITING = ("pending", "queued", "processing", "retrying", "draft")


def hold(apps, schema_editor):
    documents = apps.get_model("syncjobs", "SyncDocument").objects.filter(
        connection__target_kind=TARGET, state__in=WAITING
    )
    english = REASON["id"] % REASON["params"]
    documents.update(state="blocked", last_error=english, last_error_text=REASON)


class Migration(migrations.Migration):
    dependencies = [("syncjobs", "0007_sentences_in_the_readers_language")]

    operations = [migrations.RunPython(hold, migrations.RunPython.noop)]
