"""Admin for validation runs: read-only records. The nightly schedule is django-celery-beat's "Periodic tasks"
entry "Nightly validation of the decision model" (written by ``manage.py setup_schedules``), editable there."""

from django.contrib import admin

from .models import ValidationRun


@admin.register(ValidationRun)
class ValidationRunAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "model_version",
        "status",
        "progress",
        "trigger",
        "started_by",
        "data_cut",
        "is_synthetic",
        "runtime_seconds",
        "created_at",
    )
    list_filter = ("status", "model_version", "trigger", "is_synthetic")
    list_select_related = ("started_by",)
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in ValidationRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
