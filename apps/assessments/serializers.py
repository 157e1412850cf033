"""API shapes of the decision model: its versions and an evaluation request/response."""

from __future__ import annotations

from rest_framework import serializers

from registry import vocabularies as v


class DecisionModelSerializer(serializers.Serializer):
    version = serializers.CharField()
    hash = serializers.CharField(help_text="SHA-256 of the canonical JSON specification.")
    active = serializers.BooleanField(help_text="Whether enrollment currently locks this version.")
    specification = serializers.JSONField()


class PriorIraeSerializer(serializers.Serializer):
    ctcae_term = serializers.ChoiceField(choices=v.CTCAE_TERMS.choices())
    grade = serializers.IntegerField(min_value=1, max_value=5)
    resolved_to_grade = serializers.IntegerField(min_value=0, max_value=5, required=False, allow_null=True)
    steroid_refractory = serializers.BooleanField(required=False, default=False)
    controlled_on_replacement = serializers.BooleanField(
        required=False, default=False, help_text="Endocrinopathy controlled on hormone replacement."
    )

    def validate(self, attrs: dict) -> dict:
        resolved = attrs.get("resolved_to_grade")
        if resolved is not None and resolved > attrs["grade"]:
            raise serializers.ValidationError({"resolved_to_grade": "Cannot be above the worst grade."})
        return attrs


class EvaluateRequestSerializer(serializers.Serializer):
    pfs1_months = serializers.FloatField(
        min_value=0, max_value=600, allow_null=True, help_text="PFS on the preceding ICI course, months."
    )
    tfi_months = serializers.FloatField(
        min_value=0, max_value=600, allow_null=True, help_text="Treatment-free interval, months."
    )
    progressed_on_ici1 = serializers.BooleanField(allow_null=True)
    ecog = serializers.IntegerField(min_value=0, max_value=5, allow_null=True)
    # An explicit ListSerializer: `many=True, allow_null=True` would hand allow_null to each item too,
    # so `[null]` passed validation and failed in the service (500).
    prior_iraes = serializers.ListSerializer(
        child=PriorIraeSerializer(), allow_null=True, help_text="[] for no prior irAE; null when not recorded."
    )
    current_prednisone_mg_per_day = serializers.FloatField(
        min_value=0, max_value=2000, allow_null=True, required=False, default=None
    )
    stop_reason = serializers.ChoiceField(choices=v.STOP_REASONS.choices(), allow_null=True)
    strategy = serializers.ChoiceField(choices=v.REGIMEN_TYPES.choices(), allow_null=True)
    model_version = serializers.CharField(required=False, allow_null=True, default=None)


class FactorSerializer(serializers.Serializer):
    factor = serializers.CharField()
    level = serializers.ChoiceField(
        choices=["favourable", "intermediate", "unfavourable", "contraindicated", "missing"]
    )
    reason = serializers.CharField()
    points = serializers.IntegerField()


class ModelRefSerializer(serializers.Serializer):
    version = serializers.CharField()
    hash = serializers.CharField()


class EvaluateResponseSerializer(serializers.Serializer):
    category = serializers.ChoiceField(
        choices=["favourable", "intermediate", "unfavourable", "contraindicated", "insufficient_data"]
    )
    score = serializers.IntegerField()
    factors = FactorSerializer(many=True)
    model = ModelRefSerializer()
