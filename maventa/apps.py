from django.apps import AppConfig


class MaventaConfig(AppConfig):
    """Maventa as a target of Severa invoices: registers its adapter."""

    name = "maventa"
    verbose_name = "Maventa"

    def ready(self):
        from connectors import registry

        from .adapter import MaventaTarget

        registry.register_target(MaventaTarget())
