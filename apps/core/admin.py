"""Admin for the audit trail (read-only) and the base admin that routes clinical writes through services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from .errors import ApplicationError
from .forms import NulCheckedForm
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


class AuditedAdminForm(NulCheckedForm, forms.ModelForm):
    """Admin form with the reason that goes into the audit trail."""

    audit_reason = forms.CharField(
        label="Reason for change",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit trail; required when the record is marked complete.",
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        was_complete = (
            self.instance.pk is not None
            and type(self.instance).objects.filter(pk=self.instance.pk, is_complete=True).exists()
        )
        if was_complete and self.has_changed() and not cleaned.get("audit_reason", "").strip():
            self.add_error("audit_reason", "A reason is required to change a record that is marked complete.")
        return cleaned


class AuditedModelAdmin(admin.ModelAdmin):
    """Saves and deletes go through the clinical services, so admin edits are validated and audited."""

    form = AuditedAdminForm
    readonly_fields = ("version", "created_at", "updated_at")

    def save_model(self, request, obj, form, change) -> None:
        from apps.clinical import services  # clinical depends on core, not the reverse

        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        data.pop("audit_reason", None)
        reason = form.cleaned_data.get("audit_reason", "")
        try:
            if change:
                saved = services.record_update(
                    instance=obj, data=data, user=request.user, channel="admin", reason=reason
                )
            else:
                fields = {f.name: getattr(obj, f.name) for f in obj._meta.concrete_fields if not f.primary_key}
                fields = {k: v for k, v in fields.items() if k not in {"version", "created_at", "updated_at"}}
                saved = services.record_create(
                    model=type(obj), data=fields, user=request.user, channel="admin", reason=reason
                )
        except ApplicationError as error:
            raise ValidationError(error.field_errors or error.message) from None
        obj.pk = saved.pk
        obj.version = saved.version

    def delete_model(self, request, obj) -> None:
        from apps.clinical import services

        try:
            services.record_delete(instance=obj, user=request.user, channel="admin", reason="Deleted in admin")
        except ApplicationError as error:
            self.message_user(request, error.message, level=messages.ERROR)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)
