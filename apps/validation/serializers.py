"""API shapes of validation runs: the run (list), the run with its metrics (detail), and a start request."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.decision import available_versions

from .models import ValidationRun
from .selectors import metrics_for_user


class ValidationRunSerializer(serializers.ModelSerializer):
    """A validation run without its metrics (as listed)."""

    started_by = serializers.SerializerMethodField(help_text="Username of who started it; null for the schedule.")

    class Meta:
        model = ValidationRun
        fields = (
            "id",
            "status",
            "trigger",
            "model_version",
            "model_hash",
            "data_cut",
            "data_hash",
            "code_version",
            "library_versions",
            "runtime_seconds",
            "started_by",
            "is_synthetic",
            "progress",
            "message",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields

    def get_started_by(self, run: ValidationRun) -> str | None:
        return run.started_by.get_username() if run.started_by_id else None


class ValidationRunDetailSerializer(ValidationRunSerializer):
    """A validation run with its metrics, as the requesting user may read them."""

    metrics = serializers.SerializerMethodField(
        help_text="The run's metrics JSON (null until it succeeded). Center staff get the registry-wide figures and "
        "their own sites' per-site rows only (`visibility` says so)."
    )

    class Meta(ValidationRunSerializer.Meta):
        fields = (*ValidationRunSerializer.Meta.fields, "metrics")
        read_only_fields = fields

    @extend_schema_field({"type": "object", "nullable": True, "additionalProperties": True})
    def get_metrics(self, run: ValidationRun) -> dict[str, Any] | None:
        request = self.context.get("request")
        return metrics_for_user(run, request.user if request is not None else None)


class ValidationRunStartSerializer(serializers.Serializer):
    """What to validate; by default the active model version on a data cut taken now."""

    model_version = serializers.ChoiceField(
        choices=available_versions(),  # the shipped specifications (files, not settings)
        required=False,
        allow_null=True,
        help_text="The decision model version to validate; default: the active one.",
    )
