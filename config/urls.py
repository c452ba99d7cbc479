from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path


def healthz(request):
    """Liveness for load balancers: answers without touching the database or the broker."""
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("webhooks/haravan/", include("haravan.urls")),
    path("haravan/", include("haravan.install_urls")),
    path("severa/", include("severa.urls")),
    path("callbacks/amis/", include("amis.urls")),
    path("", include("dashboard.urls")),
]
