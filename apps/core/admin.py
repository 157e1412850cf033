"""Admin for the audit trail: read here, never changed.

The admin that routes clinical writes through the audited services lives with them, in ``apps.clinical.admin``.
"""

from __future__ import annotations

from django.contrib import admin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit trail can be read here, never changed."""

    list_display = ("timestamp", "user", "channel", "action", "model_label", "object_repr", "site")
    list_filter = ("channel", "action", "model_label")
    search_fields = ("object_id", "object_repr", "reason")
    date_hierarchy = "timestamp"
    list_select_related = ("user", "site")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
