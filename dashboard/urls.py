from django.urls import path

from . import accounts, connection, logs, mapping, retry, runs, views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("tenant/switch/", views.switch_tenant, name="switch_tenant"),
    *runs.urlpatterns,
    *connection.urlpatterns,
    *accounts.urlpatterns,
    *mapping.urlpatterns,
    *logs.urlpatterns,
    *retry.urlpatterns,
]
