from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("tenant/switch/", views.switch_tenant, name="switch_tenant"),
    path("connections/<int:pk>/", views.connection_detail, name="connection"),
    path("documents/<int:pk>/", views.document_detail, name="document"),
]
