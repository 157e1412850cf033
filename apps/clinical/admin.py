"""Admin for clinical records; every save and delete goes through the audited services.

Superusers may register patients here (the admin shows them every identifier anyway; everywhere else
only a site's staff register its patients). A patient's site is read-only here: it changes only by
a transfer, from the patient's page or the API; an enrolled episode's patient is read-only too. A record of a
signed case is refused (the form says why) until a coordinator unlocks the case.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from apps.core.errors import ApplicationError
from apps.core.forms import NulCheckedForm
from apps.core.records import record_type_for

from . import services
from .models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment


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
        if self.has_changed() or self.instance.pk is None:
            for patient in self._cases_written(cleaned):
                if patient.signed_at is not None:
                    self.add_error(None, services.case_signed_message(patient))
        return cleaned

    def _cases_written(self, cleaned: dict) -> list[Patient]:
        """The patients whose case this form writes (the record's own, and the one it moves into), as stored now:
        a signed case refuses the change here, with the services' message (the services refuse it again)."""
        record_type = record_type_for(type(self.instance))
        ids = {record_type.patient_id_of(self.instance)} if self.instance.pk is not None else set()
        parent = cleaned.get(record_type.parent_field)
        if isinstance(parent, Patient):
            ids.add(parent.pk)
        elif isinstance(parent, RechallengeEpisode):
            ids.add(parent.patient_id)
        ids.discard(None)
        if not ids:
            return []
        return list(Patient.objects.filter(pk__in=ids, signed_at__isnull=False).select_related("signed_by"))


class AuditedModelAdmin(admin.ModelAdmin):
    """Saves and deletes go through the clinical services, so admin edits are validated and audited."""

    form = AuditedAdminForm
    readonly_fields = ("version", "created_at", "updated_at")

    def save_model(self, request, obj, form, change) -> None:
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
        try:
            services.record_delete(instance=obj, user=request.user, channel="admin", reason="Deleted in admin")
        except ApplicationError as error:
            self.message_user(request, error.message, level=messages.ERROR)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Patient)
class PatientAdmin(AuditedModelAdmin):
    list_display = ("registry_id", "site", "tumour_type", "sex", "year_of_birth", "consent_status", "is_complete")
    list_filter = ("site", "tumour_type", "consent_status", "is_complete")
    search_fields = ("registry_id",)
    list_select_related = ("site",)
    readonly_fields = ("registry_id", *AuditedModelAdmin.readonly_fields)
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        return (*fields, "site") if obj is not None else fields


@admin.register(InitialCourse)
class InitialCourseAdmin(AuditedModelAdmin):
    list_display = ("patient", "primary_agent", "regimen_type", "start_date", "stop_date", "stop_reason")
    list_filter = ("stop_reason", "regimen_type", "primary_agent")
    search_fields = ("patient__registry_id",)
    raw_id_fields = ("patient",)
    list_select_related = ("patient",)
    show_full_result_count = False


@admin.register(RechallengeEpisode)
class RechallengeEpisodeAdmin(AuditedModelAdmin):
    list_display = ("patient", "sequence_number", "start_date", "rechallenge_type", "regimen_type", "enrolled_at")
    list_filter = ("rechallenge_type", "regimen_type", "agent_relation")
    search_fields = ("patient__registry_id",)
    raw_id_fields = ("patient",)
    list_select_related = ("patient",)
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        enrolled = obj is not None and (obj.enrolled_at is not None or obj.assessments.exists())
        return (*fields, "patient") if enrolled else fields


@admin.register(AdverseEvent)
class AdverseEventAdmin(AuditedModelAdmin):
    list_display = ("patient", "episode", "ctcae_term", "grade", "onset_date", "resolved_to_grade")
    list_filter = ("organ_category", "grade", "ctcae_term")
    search_fields = ("patient__registry_id",)
    raw_id_fields = ("patient", "episode")
    list_select_related = ("patient", "episode__patient")
    show_full_result_count = False


@admin.register(ResponseAssessment)
class ResponseAssessmentAdmin(AuditedModelAdmin):
    list_display = ("episode", "assessment_date", "criteria", "category")
    list_filter = ("criteria", "category")
    raw_id_fields = ("episode",)
    list_select_related = ("episode__patient",)
    show_full_result_count = False


@admin.register(FollowUp)
class FollowUpAdmin(AuditedModelAdmin):
    list_display = ("episode", "follow_up_date", "vital_status", "progression_date", "death_date")
    list_filter = ("vital_status",)
    raw_id_fields = ("episode",)
    list_select_related = ("episode__patient",)
    show_full_result_count = False
