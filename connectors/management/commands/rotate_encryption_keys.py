"""Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS (after adding a new key)."""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from connectors.crypto import EncryptedJSONField


class Command(BaseCommand):
    help = "Re-encrypt stored credentials with the newest key; old keys may be removed afterwards."

    def handle(self, *args, **opts):
        total = 0
        for model in apps.get_models():
            fields = [f.name for f in model._meta.get_fields() if isinstance(f, EncryptedJSONField)]
            if not fields:
                continue
            with transaction.atomic():
                for obj in model._base_manager.select_for_update().only("pk", *fields):
                    obj.save(update_fields=fields)
                    total += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} rows with the first configured key."))
