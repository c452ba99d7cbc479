"""Operator views (staff only). Credentials are write-only fields: never shown here either."""

from django.contrib import admin

from .models import Connection, License, Membership, RoutingRule, TargetAccount, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


class LicenseInline(admin.TabularInline):
    model = License
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    inlines = [MembershipInline, LicenseInline]


class TargetAccountInline(admin.TabularInline):
    model = TargetAccount
    extra = 0
    fields = ("external_id", "name", "is_default")


class RoutingRuleInline(admin.TabularInline):
    model = RoutingRule
    extra = 0


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "source_kind", "source_key", "target_kind", "enabled")
    list_filter = ("target_kind", "enabled")
    inlines = [TargetAccountInline, RoutingRuleInline]


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = ("tenant", "family", "expires_at")
    list_filter = ("family",)
