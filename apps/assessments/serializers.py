"""API shapes of the decision model: its versions and an evaluation request/response."""

from __future__ import annotations

from rest_framework import serializers

from registry import vocabularies as v
from registry.decision import CATEGORIES, LEVELS


class DecisionModelSerializer(serializers.Serializer):
    version = serializers.CharField()
    hash = serializers.CharField(help_text="SHA-256 of the canonical JSON specification.")
    active = serializers.BooleanField(help_text="Whether enrollment currently locks this version.")
    specification = serializers.JSONField()


class PriorIraeSerializer(serializers.Serializer):
    ctcae_term = serializers.ChoiceField(choices=v.CTCAE_TERMS.choices())
    grade = serializers.IntegerField(min_value=1, max_value=5)
    resolved_to_grade = serializers.IntegerField(min_value=0, max_value=5, required=False, allow_null=True)
    steroid_refractory = serializers.BooleanField(
        required=False,
        default=False,
        allow_null=True,
        help_text="true / false; null = not recorded (model 1.1 leaves a grade ≥ 3 irAE missing); omitted = false.",
    )
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
    pfs1_event = serializers.BooleanField(
        required=False,
        default=None,
        allow_null=True,
        help_text="true = PFS ended in progression; false = censored (no progression observed, a lower bound); "
        "null or omitted = not recorded. Model 1.0 ignores it.",
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
    level = serializers.ChoiceField(choices=list(LEVELS))
    reason = serializers.CharField()
    points = serializers.IntegerField()
    source = serializers.CharField(
        help_text="Provenance of the rule that fired: review (Lu & Xie 2026), guideline: <which>, inferred "
        "(several joined by '; '); 'not recorded' for model 1.0, whose specification records none."
    )


class ModelRefSerializer(serializers.Serializer):
    version = serializers.CharField()
    hash = serializers.CharField()


class EvaluateResponseSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=list(CATEGORIES))
    score = serializers.IntegerField()
    factors = FactorSerializer(many=True)
    review_criteria_met = serializers.BooleanField(
        allow_null=True,
        help_text="Whether all four favourable criteria of the review hold (PFS1 ≥ 6 months, TFI ≥ 6 months, "
        "ECOG ≤ 1, prior irAEs resolved to grade ≤ 1); null when undecided or the model version does not assess them.",
    )
    model = ModelRefSerializer()


# --- Locked assessments ---------------------------------------------------------------------------


class LockedFactorSerializer(serializers.Serializer):
    """One factor as it was locked (levels and wording of the model version that evaluated it)."""

    factor = serializers.CharField()
    level = serializers.CharField()
    reason = serializers.CharField()
    points = serializers.IntegerField()
    source = serializers.CharField(required=False, help_text="Provenance of the rule (model 1.1 onwards).")


#: The model's categories as the API names them (one ``DecisionCategoryEnum`` in the schema).
DECISION_CATEGORIES = list(CATEGORIES)
#: What blinding hides from center staff: the category and everything it can be read back from.
BLINDED_FIELDS = ("category", "score", "factors")


class AssessmentSerializer(serializers.Serializer):
    """A locked decision-model assessment; while blinded, center staff get it without category, score and factors."""

    id = serializers.IntegerField(read_only=True)
    episode = serializers.IntegerField(source="episode_id", read_only=True, help_text="Id of the rechallenge episode.")
    patient = serializers.CharField(source="episode.patient.registry_id", read_only=True, help_text="Registry ID.")
    site = serializers.CharField(source="episode.patient.site.code", read_only=True, help_text="Site code.")
    model_version = serializers.CharField(read_only=True)
    model_hash = serializers.CharField(read_only=True, help_text="SHA-256 of the model specification.")
    inputs = serializers.JSONField(read_only=True, help_text="The inputs the model was given, as locked.")
    category = serializers.ChoiceField(
        choices=DECISION_CATEGORIES,
        required=False,
        help_text="Left out for center staff while blinding is on.",
    )
    score = serializers.IntegerField(required=False, help_text="Left out for center staff while blinding is on.")
    factors = LockedFactorSerializer(
        many=True, required=False, help_text="Per-factor results; left out for center staff while blinding is on."
    )
    blinded = serializers.SerializerMethodField(help_text="Whether category, score and factors are hidden from you.")
    assessed_at = serializers.DateTimeField(read_only=True)
    is_reassessment = serializers.BooleanField(
        read_only=True, help_text="Made after the underlying data were corrected; the original stays beside it."
    )
    is_retrospective = serializers.BooleanField(
        read_only=True, help_text="Locked when outcome data were already recorded (not a prospective prediction)."
    )
    supersedes = serializers.IntegerField(
        source="supersedes_id", read_only=True, allow_null=True, help_text="The assessment this re-assessment replaces."
    )
    reason = serializers.CharField(read_only=True, help_text="Why a re-assessment was made.")

    def _blinded(self) -> bool:
        return not self.context.get("show_category", False)

    def get_blinded(self, instance) -> bool:
        return self._blinded()

    def to_representation(self, instance) -> dict:
        data = super().to_representation(instance)
        if self._blinded():
            for name in BLINDED_FIELDS:
                data.pop(name, None)
        return data
