from django.contrib import admin

from .models import InboundEvent, SyncAttempt, SyncDocument, SyncRun


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "source_kind",
        "source_key",
        "topic",
        "status",
        "http_status",
        "deliveries",
        "received_at",
    )
    list_filter = ("status", "source_kind", "topic")
    search_fields = ("source_key", "error")
    readonly_fields = [f.name for f in InboundEvent._meta.fields]


@admin.register(SyncDocument)
class SyncDocumentAdmin(admin.ModelAdmin):
    list_display = ("id", "connection", "account", "kind", "source_label", "state", "attempts", "updated_at")
    list_filter = ("state", "kind")
    search_fields = ("source_id", "source_label")
    raw_id_fields = ("connection", "account")


@admin.register(SyncAttempt)
class SyncAttemptAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "action", "outcome", "message")
    list_filter = ("outcome", "action")
    raw_id_fields = ("tenant", "connection", "document", "account")


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ("id", "connection", "kind", "status", "processed", "total", "created_at")
    list_filter = ("kind", "status")
