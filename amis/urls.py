from django.urls import path

from . import views

urlpatterns = [path("", views.callback, name="amis_callback")]
