from django.apps import AppConfig


class MaventaConfig(AppConfig):
    name = "maventa"
    verbose_name = "Visma Severa → Maventa"

    def ready(self):
        from connectors import registry

        registry.register(
            registry.TargetKind(
                name="maventa",
                label="Maventa",
                family="severa_to_maventa",
                tag_label="Maventa",
                source_kind="severa",
                order_document_kind="einvoice",
            )
        )
