"""Admin of data quality: queries and their threads are read-only records here (every step goes through the
services, on the query pages or the API, so each one is in the thread and the audit trail)."""

from django.contrib import admin

from .models import DataQuery, QueryComment


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class QueryCommentInline(admin.TabularInline):
    model = QueryComment
    fields = ("created_at", "action", "author", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DataQuery)
class DataQueryAdmin(ReadOnlyAdmin):
    list_display = ("pk", "status", "rule_id", "site", "record_type", "record_id", "field", "opened_at", "closed_at")
    list_filter = ("status", "rule_id", "site", "record_type", "coordinators_only")
    list_select_related = ("site",)
    search_fields = ("message",)
    date_hierarchy = "opened_at"
    #: Not ``value_seen``: the value of a field hidden from coordinators is for its site's eyes only.
    fields = (
        "rule_id",
        "status",
        "resolution",
        "site",
        "patient",
        "record_type",
        "record_id",
        "field",
        "message",
        "coordinators_only",
        "opened_at",
        "opened_by",
        "answered_at",
        "answered_by",
        "closed_at",
        "closed_by",
        "reopened_count",
    )
    readonly_fields = fields
    inlines = [QueryCommentInline]
