"""Bulk retry and the logs.

A run remembers the one-time token of the form that started it (unique: a second submission finds the
first run); a connection's recent runs of one kind come from an index; and the logs' kind filter ("refund"
matches "refund:77") reads an index on the kind's family in list order instead of every row.
"""

from django.db import migrations, models
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import StrIndex, Substr
from django.db.models.lookups import GreaterThan


class Migration(migrations.Migration):
    dependencies = [("syncjobs", "0004_inbound_body_lz4")]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="request_token",
            field=models.UUIDField(blank=True, editable=False, null=True, unique=True),
        ),
        migrations.AddIndex(
            model_name="syncrun",
            index=models.Index(fields=["connection", "kind", "-created_at"], name="run_conn_kind_recent"),
        ),
        migrations.AddIndex(
            model_name="syncdocument",
            index=models.Index(
                models.F("connection"),
                models.Case(
                    models.When(
                        GreaterThan(StrIndex("kind", models.Value(":")), 0),
                        then=Substr(
                            "kind",
                            1,
                            CombinedExpression(StrIndex("kind", models.Value(":")), "-", models.Value(1)),
                        ),
                    ),
                    default=models.F("kind"),
                    output_field=models.CharField(),
                ),
                models.OrderBy(models.F("updated_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                name="doc_conn_kind_recent",
            ),
        ),
    ]
