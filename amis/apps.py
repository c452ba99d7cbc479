from django.apps import AppConfig


class AmisConfig(AppConfig):
    name = "amis"
    verbose_name = "MISA AMIS accounting"

    def ready(self):
        from connectors import registry

        registry.register(
            registry.TargetKind(
                name="amis",
                label="MISA AMIS accounting",
                family="haravan_to_amis",
                tag_label="AMIS",
                source_kind="haravan",
                order_document_kind="sales_voucher",
            )
        )
