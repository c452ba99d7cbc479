from django.apps import AppConfig


class SeveraConfig(AppConfig):
    """Visma Severa as a source of invoices (issue 14): its REST API client; it registers its source once
    the integration works (nothing until then)."""

    name = "severa"
    verbose_name = "Visma Severa"
