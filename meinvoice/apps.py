from django.apps import AppConfig


class MeinvoiceConfig(AppConfig):
    name = "meinvoice"
    verbose_name = "MISA meInvoice"

    def ready(self):
        from connectors import registry

        from . import checks, services  # noqa: F401 - checks registers the deploy checks
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
                on_document_changed=services.on_document_changed,
                credential_fields=(
                    ("app_id", "App ID (from MISA)", False),
                    ("username", "meInvoice user name", False),
                    ("password", "meInvoice password", True),
                ),
                test_connection=services.test_connection,
                sync_templates=services.sync_templates,
                series_choices=services.series_choices,
                retry=services.retry,
                publish_drafts=services.publish_drafts,
                draft_view_link=services.draft_view_link,
                lookup_link=services.lookup_link,
            )
        )
