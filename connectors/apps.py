from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Tenants and connections"

    def ready(self):
        from . import checks  # noqa: F401 - registers the deploy checks
