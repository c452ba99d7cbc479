from django.apps import AppConfig


class AmisConfig(AppConfig):
    """MISA AMIS accounting: registers its target once it can post documents (nothing until then)."""

    name = "amis"
    verbose_name = "MISA AMIS accounting"
