from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class HaravanConfig(AppConfig):
    name = "haravan"
    verbose_name = "Haravan"

    def ready(self):
        from connectors import registry
        from connectors.models import Connection
        from syncjobs import intake

        from . import checks, schedules, services  # noqa: F401 - checks registers the deploy checks
        from .models import HaravanShop

        registry.register_source(registry.SourceKind(name="haravan", write_back=services.write_back))
        intake.register_source("haravan", "haravan.process_event", HaravanShop.installed_tenant_sql)
        post_save.connect(schedules.on_connection_saved, sender=Connection, dispatch_uid="haravan_schedule")
        post_delete.connect(
            schedules.on_connection_deleted, sender=Connection, dispatch_uid="haravan_unschedule"
        )
