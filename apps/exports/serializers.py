"""API shapes of export requests: the request as read, a new request, and a coordinator's decision."""

from __future__ import annotations

from rest_framework import serializers

from registry import vocabularies as v
from registry.decision import available_versions
from registry.deid import FORMATS, PROFILES

from .models import ExportRequest
from .selectors import DATASETS


class ExportRequestSerializer(serializers.ModelSerializer):
    """An export request: what was asked, its decision, its progress and, when ready, its file."""

    export_id = serializers.CharField(read_only=True, help_text="EXP-000001: the id the manifest and README carry.")
    project_title = serializers.CharField(source="project.title", read_only=True)
    requested_by = serializers.SerializerMethodField(help_text="Username of the investigator who asked.")
    decided_by = serializers.SerializerMethodField(help_text="Username of the coordinator who decided; null before.")
    download_url = serializers.SerializerMethodField(help_text="Where to download the bundle once ready; else null.")

    class Meta:
        model = ExportRequest
        fields = (
            "id",
            "export_id",
            "project",
            "project_title",
            "requested_by",
            "datasets",
            "filters",
            "formats",
            "profile",
            "k",
            "purpose",
            "status",
            "decided_by",
            "decided_at",
            "reason",
            "progress",
            "message",
            "data_cut",
            "sha256",
            "file_size",
            "expires_at",
            "manifest",
            "download_url",
            "created_at",
            "finished_at",
        )
        read_only_fields = fields

    def get_requested_by(self, request: ExportRequest) -> str:
        return request.requested_by.get_username()

    def get_decided_by(self, request: ExportRequest) -> str | None:
        return request.decided_by.get_username() if request.decided_by_id else None

    def get_download_url(self, request: ExportRequest) -> str | None:
        if request.status != ExportRequest.Status.READY:
            return None
        return f"/api/v1/exports/{request.pk}/download/"


class ExportFiltersSerializer(serializers.Serializer):
    """Which episodes to take (all by default)."""

    tumour_types = serializers.ListField(
        child=serializers.ChoiceField(choices=[term.code for term in v.TUMOUR_TYPES]), required=False
    )
    sites = serializers.ListField(child=serializers.CharField(max_length=20), required=False)
    enrolled_from = serializers.DateField(required=False, allow_null=True)
    enrolled_to = serializers.DateField(required=False, allow_null=True)
    model_version = serializers.ChoiceField(choices=available_versions(), required=False, allow_blank=True)


class ExportRequestCreateSerializer(serializers.Serializer):
    """A new request, by an investigator who is a member of the project."""

    project = serializers.IntegerField(help_text="The export project's id.")
    datasets = serializers.ListField(child=serializers.ChoiceField(choices=DATASETS), min_length=1)
    formats = serializers.ListField(child=serializers.ChoiceField(choices=list(FORMATS)), min_length=1)
    profile = serializers.ChoiceField(choices=list(PROFILES), default="safe_harbor")
    filters = ExportFiltersSerializer(required=False)
    purpose = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ExportDecisionSerializer(serializers.Serializer):
    """A coordinator's reason (required to refuse)."""

    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
