from django.contrib import admin

from .models import HaravanLocation, HaravanShop


@admin.register(HaravanShop)
class HaravanShopAdmin(admin.ModelAdmin):
    list_display = ("org_id", "name", "tenant", "token_kind", "installed_at", "uninstalled_at")
    search_fields = ("org_id", "name", "domain")


@admin.register(HaravanLocation)
class HaravanLocationAdmin(admin.ModelAdmin):
    list_display = ("location_id", "name", "shop", "is_primary")
