"""Admin of exports: projects and their members are managed here; requests and downloads are read-only records."""

from django.contrib import admin

from .models import ExportDownload, ExportProject, ExportRequest


@admin.register(ExportProject)
class ExportProjectAdmin(admin.ModelAdmin):
    list_display = ("title", "approval_reference", "allows_limited_dataset", "k", "created_at")
    search_fields = ("title", "approval_reference")
    filter_horizontal = ("members",)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ExportRequest)
class ExportRequestAdmin(ReadOnlyAdmin):
    list_display = ("pk", "project", "requested_by", "status", "profile", "progress", "created_at", "expires_at")
    list_filter = ("status", "profile")
    list_select_related = ("project", "requested_by")
    readonly_fields = [field.name for field in ExportRequest._meta.fields]


@admin.register(ExportDownload)
class ExportDownloadAdmin(ReadOnlyAdmin):
    list_display = ("request", "user", "downloaded_at", "channel", "sha256")
    list_select_related = ("request", "user")
    readonly_fields = [field.name for field in ExportDownload._meta.fields]
