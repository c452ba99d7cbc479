from django.urls import path

from . import account_setup, accounts, connection, logs, mapping, reconciliation, retry, runs, views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("tenant/switch/", views.switch_tenant, name="switch_tenant"),
    *runs.urlpatterns,
    *connection.urlpatterns,
    *accounts.urlpatterns,
    *account_setup.urlpatterns,
    *mapping.urlpatterns,
    *logs.urlpatterns,
    *retry.urlpatterns,
    *reconciliation.urlpatterns,
]
