from django.apps import AppConfig


class MeinvoiceConfig(AppConfig):
    name = "meinvoice"
    verbose_name = "MISA meInvoice"

    def ready(self):
        from connectors import registry

        from .services import on_document_changed
        from .taxcode import tax_code_error

        registry.register(
            registry.TargetKind(
                name="meinvoice",
                label="MISA meInvoice",
                family="haravan_to_meinvoice",
                tag_label="MST",
                source_kind="haravan",
                order_document_kind="invoice",
                validate_external_id=tax_code_error,
                on_document_changed=on_document_changed,
            )
        )
