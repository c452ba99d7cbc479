from django.apps import AppConfig


class MeinvoiceConfig(AppConfig):
    name = "meinvoice"
    verbose_name = "MISA meInvoice"

    def ready(self):
        from connectors import registry

        from .adapter import MeInvoiceTarget

        registry.register_target(MeInvoiceTarget())
