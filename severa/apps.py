from django.apps import AppConfig


class SeveraConfig(AppConfig):
    """Visma Severa as a source of invoices: registers its adapter."""

    name = "severa"
    verbose_name = "Visma Severa"

    def ready(self):
        from connectors import registry

        from .adapter import SeveraSource

        registry.register_source(SeveraSource())
