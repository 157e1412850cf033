"""Admin for import jobs: read-only, for operators looking at stuck or failed jobs.

The error report and the preview are left out: their cell values may hold a site's identifiers. So is the original
filename, which can hold a patient's name ("smith_john_MRN123.csv"): the admin names the upload
"upload #12 (.csv)", as the pages do for everyone but the site's staff.
"""

from django.contrib import admin

from .models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "site",
        "upload",
        "uploaded_by",
        "status",
        "total_rows",
        "processed_rows",
        "error_count",
        "created_at",
    )
    list_filter = ("status", "site")
    list_select_related = ("site", "uploaded_by")
    exclude = ("errors", "original_filename", "preview")
    readonly_fields = ("upload",)

    @admin.display(description="File")
    def upload(self, obj: ImportJob) -> str:
        return obj.masked_filename

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
