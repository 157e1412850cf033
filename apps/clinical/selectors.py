"""Reads of clinical records, always scoped to the sites the user may reach.

Every query a page or endpoint makes for clinical data starts here: a record outside the user's
reach is simply not in the queryset, so lookups answer 404 rather than 403.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.shortcuts import get_object_or_404

from apps.accounts.selectors import access_for_user
from apps.core.records import record_type_for
from registry.identifiers import local_identifiers_plan, normalise_local_identifier
from registry.quality.case_status import CaseStatus, RecordState, case_status

from .derived import timeline_derived
from .models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from .panels import patient_list_columns

M = TypeVar("M", bound=Model)


def scoped_queryset(model: type[M], *, user) -> QuerySet[M]:
    """All records of ``model`` the user may read; empty for investigators and strangers."""
    access = access_for_user(user)
    if not access.reaches_records:
        return model.objects.none()
    if access.sees_all_sites:
        return model.objects.all()
    return model.objects.filter(**{f"{record_type_for(model).site_path}__in": access.site_ids})


def patient_list_for_user(
    *, user, search: str = "", site_id: int | None = None, sort: str = "registry_id"
) -> QuerySet[Patient]:
    """The user's patients, searched, filtered by site and sorted by ``sort`` (a key of
    :func:`patient_list_sorts`, ``-`` for descending; an unknown key sorts by registry ID)."""
    qs = scoped_queryset(Patient, user=user).select_related("site")
    if search:
        access = access_for_user(user)
        term = search.strip()
        by_id = qs.filter(registry_id__icontains=term)
        identifier = normalise_local_identifier(term)
        if access.sees_identifiers and identifier:
            # The stored normal form; iexact also finds an identifier the normalising migration had to
            # leave as typed (it collided with another of its site).
            own = qs.filter(site_id__in=access.site_ids)
            by_local = own.filter(Q(local_identifier=identifier) | Q(local_identifier__iexact=term))
            qs = by_id | by_local
        else:
            qs = by_id
    if site_id:
        qs = qs.filter(site_id=site_id)
    return patient_list_sorted(qs, sort=sort, user=user)


# --- Patient list: sorting and status columns ---------------------------------------------------------


def _last_follow_up() -> Subquery:
    return Subquery(
        FollowUp.objects.filter(episode__patient_id=OuterRef("pk"))
        .order_by()
        .values("episode__patient_id")
        .annotate(last=Max("follow_up_date"))
        .values("last")[:1]
    )


def _enrolled() -> Exists:
    return Exists(RechallengeEpisode.objects.filter(patient_id=OuterRef("pk"), enrolled_at__isnull=False))


def _other_records(**condition: Any) -> list[Exists]:
    """One ``Exists`` per record type below the patient, over the patient row, each narrowed by ``condition``."""
    models = (InitialCourse, RechallengeEpisode, AdverseEvent, ResponseAssessment, FollowUp)
    paths = {model: "__".join(record_type_for(model).patient_path) + "_id" for model in models}
    return [Exists(model.objects.filter(**{paths[model]: OuterRef("pk")}, **condition)) for model in models]


def _any(expressions: list[Exists]) -> Q:
    combined = Q(expressions[0])
    for expression in expressions[1:]:
        combined |= Q(expression)
    return combined


def _case_status_rank() -> Case:
    """The case status as a number to sort by (draft 0, complete 1, signed 2): the rule of
    ``registry.quality.case_status`` read set-wise."""
    return Case(
        When(signed_at__isnull=False, then=Value(2)),
        When(Q(is_complete=True) & _any(_other_records()) & ~_any(_other_records(is_complete=False)), then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )


def _enrolled_rank() -> Case:
    """1 for a patient with an enrolled episode, else 0 (a hashed set, to sort the whole list)."""
    enrolled = RechallengeEpisode.objects.filter(enrolled_at__isnull=False).values("patient_id")
    return Case(When(pk__in=enrolled, then=Value(1)), default=Value(0), output_field=IntegerField())


def patient_list_sorts(*, user) -> dict[str, tuple[str, Any]]:
    """Sort key → (column label, expression or field to order by): the whitelist of the list's ``?sort=``.
    Registry ID and site read an index; the status columns are computed per patient."""
    sorts: dict[str, tuple[str, Any]] = {
        "registry_id": ("Registry ID", F("registry_id")),
        "site": ("Site", F("site__code")),
        "status": ("Case status", _case_status_rank()),
        "enrolled": ("Enrolled", _enrolled_rank()),
        "last_follow_up": ("Last follow-up", _last_follow_up()),
    }
    for column in patient_list_columns():
        sorts[column.key] = (column.label, column.annotation(user=user))
    return sorts


def patient_list_sorted(qs: QuerySet[Patient], *, sort: str, user) -> QuerySet[Patient]:
    """``qs`` in the order of ``sort`` (``-`` for descending, empty values last), then by registry ID."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key == "registry_id":  # the unique index
        return qs.order_by("-registry_id" if descending else "registry_id")
    sorts = patient_list_sorts(user=user)
    if key not in sorts:
        return qs.order_by("registry_id")
    expression = sorts[key][1]
    if isinstance(expression, F):
        ordered = expression.desc() if descending else expression.asc()
        return qs.order_by(ordered, "registry_id")
    qs = qs.alias(sort_value=expression)
    ordered = F("sort_value").desc(nulls_last=True) if descending else F("sort_value").asc(nulls_last=True)
    return qs.order_by(ordered, "registry_id")


@dataclass(frozen=True)
class PatientStatus:
    case_status: CaseStatus
    enrolled: bool
    last_follow_up: dt.date | None


def patient_list_statuses(*, patients: Iterable[Patient]) -> dict[int, PatientStatus]:
    """Case status, enrollment and last follow-up of one page of the patient list, in one query."""
    by_pk = {patient.pk: patient for patient in patients}
    if not by_pk:
        return {}
    rows = (
        Patient.objects.filter(pk__in=list(by_pk))
        .values_list("pk")
        .annotate(
            has_records=ExpressionWrapper(_any(_other_records()), output_field=BooleanField()),
            has_incomplete=ExpressionWrapper(_any(_other_records(is_complete=False)), output_field=BooleanField()),
            enrolled=_enrolled(),
            last_follow_up=_last_follow_up(),
        )
    )
    statuses = {}
    for pk, has_records, has_incomplete, enrolled, last_follow_up in rows:
        patient = by_pk[pk]
        # The rule of registry.quality.case_status, given one state standing for all of the case's other records.
        others = [RecordState("the other records", not has_incomplete)] if has_records else []
        status = case_status(signed=patient.signed_at is not None, patient_complete=patient.is_complete, records=others)
        statuses[pk] = PatientStatus(status, bool(enrolled), last_follow_up)
    return statuses


def local_identifier_collisions() -> list[tuple[str, list[str]]]:
    """Groups of patients of one site whose stored identifiers share one normal form, as (site code,
    registry IDs): left as stored by the normalising migration (clinical 0004) for the site to resolve."""
    stored = Patient.objects.values_list("registry_id", "site__code", "local_identifier").order_by("registry_id")
    plan = local_identifiers_plan(stored.iterator(chunk_size=2000))
    return sorted((str(site), sorted(str(key) for key in keys)) for site, _, keys in plan.collisions)


def patient_get_for_user(*, user, registry_id: str) -> Patient:
    return get_object_or_404(scoped_queryset(Patient, user=user).select_related("site"), registry_id=registry_id)


def record_get_for_user(model: type[M], *, user, pk: int) -> M:
    return get_object_or_404(scoped_queryset(model, user=user), pk=pk)


def episode_counts(*, patient_ids: Iterable[int]) -> dict[int, int]:
    """Number of rechallenge episodes of each patient (absent: none), in one query.

    For a page of the patient list: a per-row subquery in the page query would also run for every
    row skipped by OFFSET, which makes deep pages of a 100,000-patient list crawl.
    """
    return dict(
        RechallengeEpisode.objects.filter(patient__in=list(patient_ids))
        .order_by()
        .values_list("patient")
        .annotate(n=Count("pk"))
    )


def patient_episodes(*, patient: Patient) -> QuerySet[RechallengeEpisode]:
    """The patient's rechallenge episodes in order (the choices of an irAE's episode)."""
    return RechallengeEpisode.objects.filter(patient=patient).order_by("sequence_number")


def patient_last_episode(*, patient: Patient) -> RechallengeEpisode | None:
    return RechallengeEpisode.objects.filter(patient=patient).order_by("-sequence_number").first()


def patient_initial_course(*, patient: Patient, fields: tuple[str, ...] = ("pk",)) -> InitialCourse | None:
    """The patient's ICI-1 course, with only ``fields`` loaded; None before it is recorded."""
    return InitialCourse.objects.filter(patient=patient).only(*fields).first()


def patient_timeline(*, patient: Patient) -> dict:
    """The patient's whole case, loaded in a fixed number of queries for the patient page."""
    return patient_timelines(patient_ids=[patient.pk])[patient.pk]


def patient_timelines(*, patient_ids: Iterable[int], with_assessments: bool = True) -> dict[int, dict]:
    """``patient_timeline`` of many patients at once, in the same fixed number of queries (an API page).

    The caller has scoped the patients; each timeline has the shape ``apps.clinical.derived`` reads.
    """
    ids = sorted(set(patient_ids))
    courses = {course.patient_id: course for course in InitialCourse.objects.filter(patient_id__in=ids)}
    related = ("responses", "follow_ups", "assessments") if with_assessments else ("responses", "follow_ups")
    episodes = list(
        RechallengeEpisode.objects.filter(patient_id__in=ids)
        .prefetch_related(*related)
        .order_by("patient_id", "sequence_number")
    )
    adverse_events = list(AdverseEvent.objects.filter(patient_id__in=ids).order_by("onset_date", "pk"))
    timelines: dict[int, dict] = {
        pk: {
            "initial_course": courses.get(pk),
            "episodes": [],
            "initial_adverse_events": [],
            "adverse_events_by_episode": {},
        }
        for pk in ids
    }
    for episode in episodes:
        timelines[episode.patient_id]["episodes"].append(episode)
        timelines[episode.patient_id]["adverse_events_by_episode"][episode.pk] = []
    for ae in adverse_events:
        timeline = timelines[ae.patient_id]
        if ae.episode_id is None:
            timeline["initial_adverse_events"].append(ae)
        elif ae.episode_id in timeline["adverse_events_by_episode"]:
            timeline["adverse_events_by_episode"][ae.episode_id].append(ae)
    return timelines


def episodes_derived(*, episodes: Iterable[RechallengeEpisode]) -> dict[int, dict]:
    """The API's ``derived`` object of each episode, by pk: the page's derivation, run on every patient of
    ``episodes`` with all their records loaded at once (``patient_timelines``), so a page of episodes costs
    the same few queries whatever its size."""
    wanted = {episode.pk: episode.patient_id for episode in episodes}
    timelines = patient_timelines(patient_ids=wanted.values(), with_assessments=False)
    values: dict[int, dict] = {}
    for timeline in timelines.values():
        for pk, derived in timeline_derived(timeline)[1].items():
            if pk in wanted:
                values[pk] = derived.api_dict()
    return values
