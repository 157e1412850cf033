"""Reads of locked assessments and of what enrolling an episode would lock, always within the user's sites."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.clinical.models import AdverseEvent, FollowUp, RechallengeEpisode, ResponseAssessment
from apps.clinical.selectors import scoped_queryset

from .models import Assessment


def assessment_list_for_user(*, user) -> QuerySet[Assessment]:
    """Assessments of the episodes the user may read: empty for investigators and strangers."""
    episodes = scoped_queryset(RechallengeEpisode, user=user)
    return Assessment.objects.filter(episode__in=episodes.values("pk"))


def _dates(values) -> str:
    return ", ".join(sorted({str(value) for value in values}))


def episode_outcome_data(*, episode: RechallengeEpisode) -> tuple[str, ...]:
    """What is already known of the episode's outcome, one sentence per kind (empty: nothing yet).

    A model output locked after any of these could have been influenced by them, so such a lock is
    retrospective: response assessments, a progression, a death, a stop of the rechallenge, and an
    irAE during the rechallenge (irAE recurrence is one of the outcomes the validation measures).
    """
    found = []
    responses = list(ResponseAssessment.objects.filter(episode=episode).values_list("assessment_date", flat=True))
    if responses:
        found.append(f"{len(responses)} response assessment(s) recorded ({_dates(responses)})")
    follow_ups = list(
        FollowUp.objects.filter(episode=episode).values(
            "progression_date", "death_date", "vital_status", "rechallenge_stopped_date"
        )
    )
    progressions = [fu["progression_date"] for fu in follow_ups if fu["progression_date"]]
    if progressions:
        found.append(f"progression recorded ({_dates(progressions)})")
    deaths = [fu["death_date"] for fu in follow_ups if fu["death_date"]]
    if deaths or any(fu["vital_status"] == "dead" for fu in follow_ups):
        found.append(f"death recorded ({_dates(deaths)})" if deaths else "death recorded")
    stops = [fu["rechallenge_stopped_date"] for fu in follow_ups if fu["rechallenge_stopped_date"]]
    if stops:
        found.append(f"rechallenge stop date recorded ({_dates(stops)})")
    iraes = list(AdverseEvent.objects.filter(episode=episode).values_list("onset_date", flat=True))
    if iraes:
        found.append(f"{len(iraes)} irAE(s) during the rechallenge recorded ({_dates(iraes)})")
    return tuple(found)
