"""Admin for clinical records; every save and delete goes through the audited services.

Superusers may register patients here (the admin shows them every identifier anyway; everywhere else
only a site's staff register its patients). A patient's site is read-only here: it changes only by
a transfer, from the patient's page or the API; an enrolled episode's patient is read-only too.
"""

from django.contrib import admin

from apps.core.admin import AuditedModelAdmin

from .models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment


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
