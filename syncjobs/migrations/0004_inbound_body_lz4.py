"""Raw webhook bodies (a few KB of JSON each) compressed with lz4 instead of pglz on PostgreSQL.

Every webhook stores one; lz4 compresses them in a fraction of pglz's CPU time. Other databases, and a
PostgreSQL built without lz4, keep their default.
"""

from django.db import migrations


def compress_with_lz4(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        row = cursor.fetchone()
    if row and row[0]:
        schema_editor.execute("ALTER TABLE syncjobs_inboundevent ALTER COLUMN body SET COMPRESSION lz4")


class Migration(migrations.Migration):
    dependencies = [("syncjobs", "0003_document_payload")]

    operations = [migrations.RunPython(compress_with_lz4, migrations.RunPython.noop, elidable=True)]
