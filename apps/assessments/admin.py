"""Locked assessments are visible in the admin but can be neither changed nor deleted."""

from django.contrib import admin

from .models import Assessment, BlindingSetting


@admin.register(Assessment)
class AssessmentAdmin(admin.ModelAdmin):
    list_display = ("episode", "model_version", "category", "score", "assessed_at", "is_reassessment")
    list_filter = ("model_version", "category", "is_reassessment", "is_retrospective")
    list_select_related = ("episode__patient",)
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BlindingSetting)
class BlindingSettingAdmin(admin.ModelAdmin):
    """Shown for reference; switching happens on the audited blinding page."""

    list_display = ("blind_category_to_site_staff", "changed_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
