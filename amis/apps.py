from django.apps import AppConfig


class AmisConfig(AppConfig):
    """MISA AMIS accounting: registers its target and the door its callbacks come through."""

    name = "amis"
    verbose_name = "MISA AMIS accounting"

    def ready(self):
        from connectors import registry
        from syncjobs import intake

        from .adapter import AmisTarget
        from .callbacks import companies_sql

        registry.register_target(AmisTarget())
        intake.register_source("amis", "amis.process_event", companies_sql)
