"""Query filters of the clinical record API (django-filter).

Filters run on the already scoped queryset, and every filter naming another record (patient,
episode, site) compares plain values rather than looking the record up: a record of another site
then gives an empty list, exactly like one that does not exist.
"""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field

from .models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from .selectors import patient_search
from .serializers import COURSE_CHOICES

REGISTRY_ID_HELP = "Registry ID of the patient."
SITE_HELP = "Site code, e.g. AMS1."
EPISODE_HELP = "Id of the rechallenge episode."


MAX_ID = 2**63 - 1


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(filters.NumberFilter):
    """A record id: a whole number within the database's range (``NumberFilter`` would take decimals)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class RecordFilterSet(filters.FilterSet):
    """Refuses a choice filter sent empty (``?sex=``): the schema lists its values, and "" is not one."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name, filter_ in self.filters.items():
            if isinstance(filter_, filters.ChoiceFilter) and name in self.data and self.data[name] == "":
                self.form.add_error(name, "Choose one of the listed values, or leave the filter out.")
                valid = False
        return valid


class PatientFilter(RecordFilterSet):
    site = filters.CharFilter(field_name="site__code", label=SITE_HELP)
    search = filters.CharFilter(
        method="filter_search",
        label="The start of a registry ID (any case), or of a local identifier of a patient of your own sites.",
    )

    class Meta:
        model = Patient
        fields = ("site", "tumour_type", "sex", "search")

    def filter_search(self, queryset: QuerySet[Patient], name: str, value: str) -> QuerySet[Patient]:
        return patient_search(queryset, user=self.request.user, search=value)


class InitialCourseFilter(RecordFilterSet):
    patient = filters.CharFilter(field_name="patient__registry_id", label=REGISTRY_ID_HELP)
    site = filters.CharFilter(field_name="patient__site__code", label=SITE_HELP)

    class Meta:
        model = InitialCourse
        fields = ("patient", "site")


class EpisodeFilter(RecordFilterSet):
    patient = filters.CharFilter(field_name="patient__registry_id", label=REGISTRY_ID_HELP)
    site = filters.CharFilter(field_name="patient__site__code", label=SITE_HELP)

    class Meta:
        model = RechallengeEpisode
        fields = ("patient", "rechallenge_type", "site")


class AdverseEventFilter(RecordFilterSet):
    patient = filters.CharFilter(field_name="patient__registry_id", label=REGISTRY_ID_HELP)
    episode = IdFilter(field_name="episode_id", label=EPISODE_HELP)
    course = filters.ChoiceFilter(
        choices=COURSE_CHOICES, method="filter_course", label="initial (ICI-1) or rechallenge."
    )

    class Meta:
        model = AdverseEvent
        fields = ("patient", "episode", "ctcae_term", "grade", "course")

    def filter_course(self, queryset: QuerySet[AdverseEvent], name: str, value: str) -> QuerySet[AdverseEvent]:
        return queryset.filter(episode__isnull=value == "initial")


class ResponseFilter(RecordFilterSet):
    episode = IdFilter(field_name="episode_id", label=EPISODE_HELP)

    class Meta:
        model = ResponseAssessment
        fields = ("episode",)


class FollowUpFilter(RecordFilterSet):
    episode = IdFilter(field_name="episode_id", label=EPISODE_HELP)

    class Meta:
        model = FollowUp
        fields = ("episode",)
