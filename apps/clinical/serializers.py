"""Input and output shapes of the clinical record API, one pair per record type.

Input serializers check shape and type only (required, type, length, choice); every rule about
the record itself comes from the model's ``clean`` through the services, so the API and the web
form give the same messages. A related record is looked up within the user's reach only, so a
record of another site answers exactly like one that does not exist.

The fields a record type's declaration hides from coordinators (read from ``registry.crf``) are left
out of the output whenever the record is not of one of the user's own sites, and are not writable on
such a record either (a coordinator's PUT neither needs nor overwrites a local identifier they cannot
see).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import Site
from apps.accounts.selectors import access_for_user, writable_sites_for_user
from apps.core.records import record_type_for, site_of
from registry import rules
from registry import vocabularies as v

from .models import (
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
    crf_fields,
)
from .selectors import episodes_derived, scoped_queryset

TIMESTAMPS = ("is_complete", "version", "created_at", "updated_at")
COURSE_CHOICES = [("initial", "Initial ICI course (ICI-1)"), ("rechallenge", "Rechallenge episode")]


def _request_user(context: dict[str, Any]):
    request = context.get("request")
    return getattr(request, "user", None)


def _hidden_fields(model) -> frozenset[str]:
    return record_type_for(model).hidden_from_coordinators


def _sees_identifiers(context: dict[str, Any], instance) -> bool:
    return access_for_user(_request_user(context)).can_see_identifiers_of(site_of(instance))


# --- Related records within reach -----------------------------------------------------------------


class ScopedPatientField(serializers.SlugRelatedField):
    """A patient of the user's sites, by registry ID."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Registry ID of a patient of your sites.")
        super().__init__(slug_field="registry_id", queryset=Patient.objects.none(), **kwargs)

    def get_queryset(self):
        return scoped_queryset(Patient, user=_request_user(self.context))


class ScopedEpisodeField(serializers.PrimaryKeyRelatedField):
    """A rechallenge episode of the user's sites, by id."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Id of a rechallenge episode of your sites.")
        super().__init__(queryset=RechallengeEpisode.objects.none(), **kwargs)

    def get_queryset(self):
        return scoped_queryset(RechallengeEpisode, user=_request_user(self.context))


class WritableSiteField(serializers.SlugRelatedField):
    """A site the user may enter records for, by code (plus the record's current site on a change).

    An inactive site of the user's is found too, so that the service refuses the write with "Site CODE
    is closed to new data" rather than this field with "does not exist".
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Code of a site you enter records for, e.g. AMS1.")
        super().__init__(slug_field="code", queryset=Site.objects.none(), **kwargs)

    def get_queryset(self):
        sites = writable_sites_for_user(user=_request_user(self.context), include_closed=True)
        instance = getattr(self.parent, "instance", None)
        if isinstance(instance, Patient):
            sites = sites | Site.objects.filter(pk=instance.site_id)
        return sites


# --- Missing-data answers -------------------------------------------------------------------------

MISSING_ANSWERS_HELP = (
    "Fields answered with a missing-data code instead of a value: {{field name: code}}, code one of {codes}. "
    "Only the fields the registry requires can be answered so ({fields}), and never beside a value of the same "
    "field. A write replaces the whole object: send {{}} to clear every code, or leave a field out (or null) to "
    "clear its code."
)


class MissingAnswersField(serializers.DictField):
    """``missing_answers``: ``{field: code}`` for the declared answerable fields of one record type.

    Keys and codes are checked here (a field-level error under ``missing_answers`` naming the field); a
    code beside a value is refused by the record's validation, on the field that holds the value.
    """

    def __init__(self, *, record: str, **kwargs: Any) -> None:
        self.record = record
        codes = ", ".join(v.MISSING_DATA_CODES.codes())
        fields = ", ".join(rules.answerable_fields(record)) or "none on this record type"
        kwargs.setdefault("help_text", MISSING_ANSWERS_HELP.format(codes=codes, fields=fields))
        if not kwargs.get("read_only"):
            kwargs.setdefault("required", False)
        super().__init__(
            child=serializers.ChoiceField(choices=v.MISSING_DATA_CODES.choices(), allow_null=True), **kwargs
        )

    def to_internal_value(self, data: Any) -> dict[str, str]:
        """Checked by the registry's rule (``registry.rules.missing_answer_errors``): one list of messages
        under ``missing_answers``, each naming its field, as every other field error is a list."""
        errors = rules.missing_answer_errors(record=self.record, values={}, missing_answers=data)
        if errors:
            raise serializers.ValidationError(errors[rules.MISSING_ANSWERS])
        return rules.clean_missing_answers(data)


def missing_answers_field(record: str, **kwargs: Any) -> MissingAnswersField:
    """The field for ``record`` (``registry.crf`` name), its schema an object of the answerable fields."""
    code_schema = {"type": "string", "enum": list(v.MISSING_DATA_CODES.codes()), "nullable": True}
    schema = {
        "type": "object",
        "properties": dict.fromkeys(rules.answerable_fields(record), code_schema),
        "additionalProperties": False,
    }
    field_class = extend_schema_field(schema)(type(f"MissingAnswers_{record}", (MissingAnswersField,), {}))
    return field_class(record=record, **kwargs)


# --- Bases ----------------------------------------------------------------------------------------


class RecordInputSerializer(serializers.ModelSerializer):
    """Shape and type checks of a write; the service validates the record and audits it."""

    reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Why the record is changed; required once it is marked complete. Kept in the audit trail.",
    )

    def get_validators(self) -> list[Any]:
        return []  # uniqueness and the other model constraints are checked by the service (full_clean)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        instance = self.instance
        if isinstance(instance, self.Meta.model) and not _sees_identifiers(self.context, instance):
            for name in _hidden_fields(self.Meta.model):  # what one may not see, one may not overwrite
                fields.pop(name, None)
        return fields


class RecordOutputSerializer(serializers.ModelSerializer):
    """A record as the user may see it: identifiers only for records of the user's own sites."""

    def hidden_fields(self) -> frozenset[str]:
        return _hidden_fields(self.Meta.model)

    def get_extra_kwargs(self) -> dict[str, dict[str, Any]]:
        extra = super().get_extra_kwargs()
        hidden = self.hidden_fields()
        for name in self.Meta.fields:
            # Hidden fields stay optional (not read-only) so the schema does not promise them.
            extra.setdefault(name, {}).update({"required": False} if name in hidden else {"read_only": True})
        return extra

    def include_extra_kwargs(self, kwargs: dict[str, Any], extra_kwargs: dict[str, Any]) -> dict[str, Any]:
        allow_blank = kwargs.get("allow_blank", False)
        kwargs = super().include_extra_kwargs(kwargs, extra_kwargs)
        if allow_blank and "choices" in kwargs:
            kwargs["allow_blank"] = True  # read-only, but "" is a value it answers (schema: BlankEnum)
        return kwargs

    def to_representation(self, instance) -> dict[str, Any]:
        data = super().to_representation(instance)
        hidden = self.hidden_fields()
        if hidden and not _sees_identifiers(self.context, instance):
            for name in hidden:
                data.pop(name, None)
        return data


# --- Patient --------------------------------------------------------------------------------------

PATIENT_FIELDS = crf_fields(Patient)


class PatientInputSerializer(RecordInputSerializer):
    missing_answers = missing_answers_field("patient")
    site = WritableSiteField(
        help_text="Code of the site registering the patient, one of yours, e.g. AMS1. On a change it must stay "
        "the patient's site: a patient moves only by a transfer (POST …/patients/{registry_id}/transfer/)."
    )

    class Meta:
        model = Patient
        ref_name = "Patient"
        fields = (*PATIENT_FIELDS, "missing_answers", "is_complete", "reason")


class PatientTransferInputSerializer(serializers.Serializer):
    """A transfer of a patient, with all their records, to another site (coordinators)."""

    site = serializers.SlugRelatedField(
        slug_field="code", queryset=Site.objects.all(), help_text="Code of the site the patient moves to, e.g. AMS1."
    )
    reason = serializers.CharField(
        max_length=2000, help_text="Why the patient moves (required); kept in the audit trail."
    )

    class Meta:
        ref_name = "PatientTransfer"


class PatientSerializer(RecordOutputSerializer):
    """A patient; ``local_identifier`` and ``date_of_birth`` only for patients of your own sites."""

    site = serializers.SlugRelatedField(slug_field="code", read_only=True, help_text="Site code.")
    missing_answers = missing_answers_field("patient", read_only=True)

    class Meta:
        model = Patient
        fields = ("registry_id", *PATIENT_FIELDS, "missing_answers", *TIMESTAMPS)


# --- Initial ICI course ---------------------------------------------------------------------------

INITIAL_COURSE_FIELDS = crf_fields(InitialCourse, skip=("patient",))


class InitialCourseInputSerializer(RecordInputSerializer):
    patient = ScopedPatientField()
    missing_answers = missing_answers_field("initial_course")

    class Meta:
        model = InitialCourse
        ref_name = "InitialCourse"
        fields = ("patient", *INITIAL_COURSE_FIELDS, "missing_answers", "is_complete", "reason")


class InitialCourseSerializer(RecordOutputSerializer):
    """The first ICI course (ICI-1) of a patient."""

    patient = serializers.SlugRelatedField(slug_field="registry_id", read_only=True, help_text="Registry ID.")
    site = serializers.CharField(source="patient.site.code", read_only=True, help_text="Site code.")
    missing_answers = missing_answers_field("initial_course", read_only=True)

    class Meta:
        model = InitialCourse
        fields = ("id", "patient", "site", *INITIAL_COURSE_FIELDS, "missing_answers", *TIMESTAMPS)


# --- Rechallenge episode --------------------------------------------------------------------------

EPISODE_FIELDS = crf_fields(RechallengeEpisode, skip=("patient",))


class EpisodeInputSerializer(RecordInputSerializer):
    patient = ScopedPatientField()
    missing_answers = missing_answers_field("episode")

    class Meta:
        model = RechallengeEpisode
        ref_name = "Episode"
        fields = ("patient", *EPISODE_FIELDS, "missing_answers", "is_complete", "reason")


#: What ends a time to irAE recurrence (one ``RecurrenceEventEnum`` in the schema).
RECURRENCE_EVENTS = ["irae", "death", "censored"]
RECURRENCE_LABELS = {
    "any_grade": "any irAE",
    "same_term": "an irAE of the same term as one of the preceding course",
    "same_organ": "an irAE of the same organ as one of the preceding course",
    "grade3_or_higher": "a grade ≥3 irAE",
}


class EpisodeDerivedSerializer(serializers.Serializer):
    """Values derived from the recorded data by the same code as the patient page (``registry.derive``).

    PFS1 and the treatment-free interval are in calendar months, the other times in months of
    30.4375 days, all rounded to 2 decimals; a time that cannot be computed is null.
    """

    preceding_course = serializers.CharField(help_text='"ICI-1", or "rechallenge N" for a later rechallenge.')
    pfs1_months = serializers.FloatField(
        allow_null=True, help_text="PFS on the preceding course (ICI-1, or the previous rechallenge), calendar months."
    )
    pfs1_event = serializers.BooleanField(
        allow_null=True, help_text="True: progression observed on the preceding course; false: censored."
    )
    tfi_months = serializers.FloatField(
        allow_null=True, help_text="Treatment-free interval since the preceding course stopped, calendar months."
    )
    worst_prior_grade = serializers.IntegerField(help_text="Worst irAE grade of the preceding course; 0 for none.")
    all_prior_resolved = serializers.BooleanField(
        allow_null=True, help_text="Every irAE of the preceding course resolved to grade ≤1; null if unknown."
    )
    best_overall_response = serializers.CharField(
        allow_null=True, help_text="Confirmed RECIST 1.1 or iRECIST best overall response; null before any assessment."
    )
    objective_response = serializers.BooleanField(help_text="CR or PR (all treated: no assessment counts as no).")
    disease_control = serializers.BooleanField(help_text="CR, PR or SD (all treated: no assessment counts as no).")
    response_evaluable = serializers.BooleanField(help_text="An evaluable response exists (for evaluable-only rates).")
    pfs2_months = serializers.FloatField(
        allow_null=True, help_text="PFS from rechallenge start, censored at the last adequate tumour assessment."
    )
    pfs2_event = serializers.BooleanField(allow_null=True, help_text="True: progression or death; false: censored.")
    pfs2_last_contact_months = serializers.FloatField(
        allow_null=True, help_text="Sensitivity variant of PFS2, censored at the last contact."
    )
    pfs2_last_contact_event = serializers.BooleanField(allow_null=True)
    os_months = serializers.FloatField(allow_null=True, help_text="Overall survival from rechallenge start.")
    os_event = serializers.BooleanField(allow_null=True, help_text="True: death; false: censored.")
    imputed = serializers.ListField(
        child=serializers.CharField(), help_text="Names of the values above fed by a month-precision date."
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for kind, label in RECURRENCE_LABELS.items():
            fields[f"recurrence_{kind}"] = serializers.BooleanField(help_text=f"During the rechallenge: {label}.")
            fields[f"recurrence_{kind}_months"] = serializers.FloatField(
                allow_null=True, help_text=f"Time from rechallenge start to {label}, death or censoring."
            )
            fields[f"recurrence_{kind}_event"] = serializers.ChoiceField(
                choices=RECURRENCE_EVENTS,
                allow_null=True,
                help_text="What ended that time: the irAE, death (a competing event) or censoring.",
            )
        return fields


class EpisodeSerializer(RecordOutputSerializer):
    """A rechallenge episode, with the values derived from its patient's records."""

    patient = serializers.SlugRelatedField(slug_field="registry_id", read_only=True, help_text="Registry ID.")
    site = serializers.CharField(source="patient.site.code", read_only=True, help_text="Site code.")
    derived = serializers.SerializerMethodField(help_text="Read-only; computed from the recorded data.")
    missing_answers = missing_answers_field("episode", read_only=True)

    class Meta:
        model = RechallengeEpisode
        fields = ("id", "patient", "site", *EPISODE_FIELDS, "missing_answers", "enrolled_at", "derived", *TIMESTAMPS)

    @extend_schema_field(EpisodeDerivedSerializer)
    def get_derived(self, instance: RechallengeEpisode) -> dict[str, Any]:
        # A list hands the values of the whole page in the context (computed at once); a single record
        # computes its own.
        derived = self.context.get("derived")
        if derived is None or instance.pk not in derived:
            derived = episodes_derived(episodes=[instance])
        return EpisodeDerivedSerializer(derived[instance.pk]).data


# --- Adverse event --------------------------------------------------------------------------------

ADVERSE_EVENT_FIELDS = crf_fields(AdverseEvent, skip=("patient", "episode"))


class AdverseEventInputSerializer(RecordInputSerializer):
    patient = ScopedPatientField()
    episode = ScopedEpisodeField(
        required=False,
        allow_null=True,
        help_text="Id of the rechallenge episode it occurred in; null for an irAE of the initial ICI course.",
    )
    missing_answers = missing_answers_field("adverse_event")

    class Meta:
        model = AdverseEvent
        ref_name = "AdverseEvent"
        fields = ("patient", "episode", *ADVERSE_EVENT_FIELDS, "missing_answers", "is_complete", "reason")
        #: Yes / No / Unknown: left out or null is "unknown", never "no".
        extra_kwargs = {
            name: {"help_text": f"{label} true, false, or null when unknown (left out: unknown)."}
            for name, label in (
                ("steroid_refractory", "No improvement after 48–72 h of high-dose corticosteroids:"),
                ("hospitalised", "Hospitalised for this irAE:"),
                ("led_to_discontinuation", "Led to discontinuation of the ICI:"),
            )
        }


class AdverseEventSerializer(RecordOutputSerializer):
    """An immune-related adverse event of the initial course or of a rechallenge episode."""

    patient = serializers.SlugRelatedField(slug_field="registry_id", read_only=True, help_text="Registry ID.")
    site = serializers.CharField(source="patient.site.code", read_only=True, help_text="Site code.")
    course = serializers.SerializerMethodField(help_text="The course the irAE belongs to.")
    missing_answers = missing_answers_field("adverse_event", read_only=True)

    class Meta:
        model = AdverseEvent
        fields = (
            "id",
            "patient",
            "site",
            "episode",
            "course",
            *ADVERSE_EVENT_FIELDS,
            "missing_answers",
            "meddra_code",
            "organ_category",
            *TIMESTAMPS,
        )

    @extend_schema_field(serializers.ChoiceField(choices=COURSE_CHOICES))
    def get_course(self, instance: AdverseEvent) -> str:
        return "initial" if instance.episode_id is None else "rechallenge"


# --- Response assessment --------------------------------------------------------------------------

RESPONSE_FIELDS = crf_fields(ResponseAssessment, skip=("episode",))


class ResponseInputSerializer(RecordInputSerializer):
    episode = ScopedEpisodeField()
    missing_answers = missing_answers_field("response")

    class Meta:
        model = ResponseAssessment
        ref_name = "Response"
        fields = ("episode", *RESPONSE_FIELDS, "missing_answers", "is_complete", "reason")


class ResponseSerializer(RecordOutputSerializer):
    """A tumour response assessment during a rechallenge episode."""

    patient = serializers.CharField(source="episode.patient.registry_id", read_only=True, help_text="Registry ID.")
    site = serializers.CharField(source="episode.patient.site.code", read_only=True, help_text="Site code.")
    missing_answers = missing_answers_field("response", read_only=True)

    class Meta:
        model = ResponseAssessment
        fields = ("id", "episode", "patient", "site", *RESPONSE_FIELDS, "missing_answers", *TIMESTAMPS)


# --- Follow-up ------------------------------------------------------------------------------------

FOLLOW_UP_FIELDS = crf_fields(FollowUp, skip=("episode",))


class FollowUpInputSerializer(RecordInputSerializer):
    episode = ScopedEpisodeField()
    missing_answers = missing_answers_field("follow_up")

    class Meta:
        model = FollowUp
        ref_name = "FollowUp"
        fields = ("episode", *FOLLOW_UP_FIELDS, "missing_answers", "is_complete", "reason")


class FollowUpSerializer(RecordOutputSerializer):
    """A follow-up contact after rechallenge start."""

    patient = serializers.CharField(source="episode.patient.registry_id", read_only=True, help_text="Registry ID.")
    site = serializers.CharField(source="episode.patient.site.code", read_only=True, help_text="Site code.")
    missing_answers = missing_answers_field("follow_up", read_only=True)

    class Meta:
        model = FollowUp
        fields = ("id", "episode", "patient", "site", *FOLLOW_UP_FIELDS, "missing_answers", *TIMESTAMPS)


class DeleteInputSerializer(serializers.Serializer):
    """The reason for a deletion, from ``?reason=`` or the body."""

    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
