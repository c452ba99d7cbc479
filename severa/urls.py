from django.urls import path

from . import views

app_name = "severa"

urlpatterns = [
    path("connect/", views.connect, name="connect"),
    path("connections/<int:pk>/refresh/", views.refresh, name="refresh"),
]
