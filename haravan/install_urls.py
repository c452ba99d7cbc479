from django.urls import path

from . import views

app_name = "haravan"

urlpatterns = [
    path("install/", views.install_start, name="install"),
    path("install/callback/", views.install_callback, name="install_callback"),
    path("connect-private/", views.connect_private, name="connect_private"),
    path("webhook-secret/", views.private_webhook_secret, name="webhook_secret"),
]
