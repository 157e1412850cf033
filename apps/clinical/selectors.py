"""Reads of clinical records, always scoped to the sites the user may reach.

Every query a page or endpoint makes for clinical data starts here: a record outside the user's
reach is simply not in the queryset, so lookups answer 404 rather than 403.
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404

from apps.accounts.selectors import access_for_user

from .models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment

#: How each clinical model reaches its site; the one place scoping paths are written.
SITE_PATH: dict[type[Model], str] = {
    Patient: "site_id",
    InitialCourse: "patient__site_id",
    AdverseEvent: "patient__site_id",
    RechallengeEpisode: "patient__site_id",
    ResponseAssessment: "episode__patient__site_id",
    FollowUp: "episode__patient__site_id",
}

M = TypeVar("M", bound=Model)


def scoped_queryset(model: type[M], *, user) -> QuerySet[M]:
    """All records of ``model`` the user may read; empty for investigators and strangers."""
    access = access_for_user(user)
    if not access.reaches_records:
        return model.objects.none()
    if access.sees_all_sites:
        return model.objects.all()
    return model.objects.filter(**{f"{SITE_PATH[model]}__in": access.site_ids})


def patient_list_for_user(*, user, search: str = "", site_id: int | None = None) -> QuerySet[Patient]:
    qs = scoped_queryset(Patient, user=user).select_related("site")
    if search:
        access = access_for_user(user)
        term = search.strip()
        by_id = qs.filter(registry_id__icontains=term)
        if access.sees_identifiers:
            by_local = qs.filter(site_id__in=access.site_ids, local_identifier__iexact=term)
            qs = by_id | by_local
        else:
            qs = by_id
    if site_id:
        qs = qs.filter(site_id=site_id)
    return qs.order_by("registry_id")


def patient_get_for_user(*, user, registry_id: str) -> Patient:
    return get_object_or_404(scoped_queryset(Patient, user=user).select_related("site"), registry_id=registry_id)


def record_get_for_user(model: type[M], *, user, pk: int) -> M:
    return get_object_or_404(scoped_queryset(model, user=user), pk=pk)


def patient_timeline(*, patient: Patient) -> dict:
    """The patient's whole case, loaded in a fixed number of queries for the patient page."""
    course = InitialCourse.objects.filter(patient=patient).first()
    episodes = list(
        RechallengeEpisode.objects.filter(patient=patient)
        .prefetch_related("responses", "follow_ups", "assessments")
        .order_by("sequence_number")
    )
    adverse_events = list(AdverseEvent.objects.filter(patient=patient).order_by("onset_date", "pk"))
    return {
        "initial_course": course,
        "episodes": episodes,
        "initial_adverse_events": [ae for ae in adverse_events if ae.episode_id is None],
        "adverse_events_by_episode": {
            episode.pk: [ae for ae in adverse_events if ae.episode_id == episode.pk] for episode in episodes
        },
    }
