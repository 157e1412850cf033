"""Admin for import jobs: read-only, for operators looking at stuck or failed jobs.

The error report is left out: its cell values may hold a site's identifiers.
"""

from django.contrib import admin

from .models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("pk", "site", "uploaded_by", "status", "total_rows", "processed_rows", "error_count", "created_at")
    list_filter = ("status", "site")
    list_select_related = ("site", "uploaded_by")
    exclude = ("errors",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
