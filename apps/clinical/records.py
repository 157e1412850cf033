"""The clinical record types, each declared once (``apps.core.records.RecordType``).

Registered from ``ClinicalConfig.ready()``. The pages, the API viewsets, scoping, the audit trail
and imports read these declarations; a new app that handles every record type (data quality,
exports) iterates ``apps.core.records.record_types()`` rather than keeping a table of its own.
"""

from __future__ import annotations

from apps.core.records import RecordType

from . import filters, forms, serializers
from .models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment

PATIENT = RecordType(
    model=Patient,
    slug="patient",
    api_route="patients",
    noun="patient",
    plural="patients",
    crf_name="patient",
    site_path="site_id",
    parent_field="site",
    label="Patient",
    title=lambda patient: patient.registry_id,
    date_field=None,
    describe=lambda patient: f"patient {patient.registry_id}",
    form=forms.PatientForm,
    input_serializer=serializers.PatientInputSerializer,
    output_serializer=serializers.PatientSerializer,
    filterset=filters.PatientFilter,
    ordering=("registry_id",),
    related=("site",),
    lookup_field="registry_id",
)

INITIAL_COURSE = RecordType(
    model=InitialCourse,
    slug="initial-course",
    api_route="initial-courses",
    noun="initial ICI course",
    plural="initial ICI courses",
    crf_name="initial_course",
    site_path="patient__site_id",
    parent_field="patient",
    label="ICI-1",
    title=lambda course: "Initial ICI course (ICI-1)",
    date_field="start_date",
    describe=lambda course: "the ICI-1 course",
    form=forms.InitialCourseForm,
    input_serializer=serializers.InitialCourseInputSerializer,
    output_serializer=serializers.InitialCourseSerializer,
    filterset=filters.InitialCourseFilter,
    ordering=("patient__registry_id", "pk"),
    related=("patient__site",),
)

EPISODE = RecordType(
    model=RechallengeEpisode,
    slug="episode",
    api_route="episodes",
    noun="rechallenge episode",
    plural="rechallenge episodes",
    crf_name="episode",
    site_path="patient__site_id",
    parent_field="patient",
    label="Rechallenge",
    title=lambda episode: f"Rechallenge {episode.sequence_number}: {episode.get_rechallenge_type_display()}",
    date_field="start_date",
    describe=lambda episode: f"rechallenge {episode.sequence_number}",
    form=forms.RechallengeEpisodeForm,
    input_serializer=serializers.EpisodeInputSerializer,
    output_serializer=serializers.EpisodeSerializer,
    filterset=filters.EpisodeFilter,
    ordering=("patient__registry_id", "sequence_number", "pk"),
    related=("patient__site",),
)

ADVERSE_EVENT = RecordType(
    model=AdverseEvent,
    slug="adverse-event",
    api_route="adverse-events",
    noun="adverse event",
    plural="adverse events",
    crf_name="adverse_event",
    site_path="patient__site_id",
    parent_field="patient",
    label="irAE",
    title=lambda ae: f"irAE: {ae.term_label}, grade {ae.grade}",
    date_field="onset_date",
    describe=lambda ae: f"irAE {ae}",
    form=forms.AdverseEventForm,
    input_serializer=serializers.AdverseEventInputSerializer,
    output_serializer=serializers.AdverseEventSerializer,
    filterset=filters.AdverseEventFilter,
    ordering=("patient__registry_id", "onset_date", "pk"),
    related=("patient__site",),
)

RESPONSE = RecordType(
    model=ResponseAssessment,
    slug="response",
    api_route="responses",
    noun="response assessment",
    plural="response assessments",
    crf_name="response",
    site_path="episode__patient__site_id",
    parent_field="episode",
    label="Response",
    title=lambda response: f"Response: {response.get_category_display()} ({response.get_criteria_display()})",
    date_field="assessment_date",
    describe=lambda response: f"response assessment of {response.assessment_date}",
    form=forms.ResponseAssessmentForm,
    input_serializer=serializers.ResponseInputSerializer,
    output_serializer=serializers.ResponseSerializer,
    filterset=filters.ResponseFilter,
    ordering=("episode_id", "assessment_date", "pk"),
    related=("episode__patient__site",),
)

FOLLOW_UP = RecordType(
    model=FollowUp,
    slug="follow-up",
    api_route="follow-ups",
    noun="follow-up",
    plural="follow-ups",
    crf_name="follow_up",
    site_path="episode__patient__site_id",
    parent_field="episode",
    label="Follow-up",
    title=lambda follow_up: f"Follow-up: {follow_up.get_vital_status_display().lower()}",
    date_field="follow_up_date",
    describe=lambda follow_up: f"follow-up of {follow_up.follow_up_date}",
    form=forms.FollowUpForm,
    input_serializer=serializers.FollowUpInputSerializer,
    output_serializer=serializers.FollowUpSerializer,
    filterset=filters.FollowUpFilter,
    ordering=("episode_id", "follow_up_date", "pk"),
    related=("episode__patient__site",),
)

#: In the order of the case report form.
RECORD_TYPES: tuple[RecordType, ...] = (PATIENT, INITIAL_COURSE, EPISODE, ADVERSE_EVENT, RESPONSE, FOLLOW_UP)
