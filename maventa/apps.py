from django.apps import AppConfig


class MaventaConfig(AppConfig):
    """Visma Severa → Maventa: registers its source and target once they work (nothing until then)."""

    name = "maventa"
    verbose_name = "Visma Severa → Maventa"
