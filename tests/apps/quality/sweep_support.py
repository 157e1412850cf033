"""Seeded data for the sweep and on-save tests: complete patients that break no rule, and one plant per rule."""

from __future__ import annotations

import datetime as dt
from itertools import count

from django.utils import timezone

from apps.assessments.inputs import episode_decision_inputs
from apps.assessments.models import Assessment
from apps.assessments.services import inputs_snapshot
from apps.clinical.models import RechallengeEpisode
from apps.quality.models import DataQuery
from registry.decision import get_spec
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

_years = count(1930)


def days_ago(days: int) -> dt.date:
    return timezone.localdate() - dt.timedelta(days=days)


def complete_patient(site, *, year_of_birth: int | None = None, ici1_start: dt.date | None = None):
    """A patient whose records answer every required field and break no rule: melanoma, ICI-1 stopped for
    toxicity after an irAE that led to the stop, a rechallenge 400 days ago with a scan, a follow-up 30 days
    ago. Each gets a year of birth of its own (no two are probable duplicates). Returns the episode."""
    patient = PatientFactory(
        site=site, tumour_type="MEL", year_of_birth=year_of_birth or next(_years), consent_date=days_ago(900)
    )
    start = ici1_start or days_ago(800)
    InitialCourseFactory(
        patient=patient,
        start_date=start,
        stop_date=start + dt.timedelta(days=200),
        stop_reason="toxicity",
        best_overall_response="PR",
        iraes_during_course="yes",
    )
    AdverseEventFactory(
        patient=patient,
        onset_date=start + dt.timedelta(days=150),
        resolution_date=start + dt.timedelta(days=180),
        resolved_to_grade=0,
        grade=3,
        management="corticosteroids",
        peak_prednisone_mg_per_day=60,
        led_to_discontinuation=True,
        hospitalised=False,
    )
    episode = RechallengeEpisodeFactory(
        patient=patient,
        start_date=days_ago(400),
        ldh_u_per_l=250,
        ldh_above_uln=False,
        neutrophil_lymphocyte_ratio=3.2,
        albumin_g_per_l=39,
        brain_metastases=False,
        liver_metastases=False,
        current_prednisone_mg_per_day=0,
        iraes_during_rechallenge="no",
    )
    ResponseAssessmentFactory(episode=episode, assessment_date=days_ago(340))
    FollowUpFactory(episode=episode, follow_up_date=days_ago(30), last_known_alive_date=days_ago(30))
    return episode


def lock_assessment(episode, category: str) -> Assessment:
    """Enroll ``episode`` with a locked assessment of ``category`` (as enrollment would store it)."""
    episode.enrolled_at = timezone.now()
    episode.save(update_fields=["enrolled_at"])
    spec = get_spec()
    # The inputs as the model reads them now: a later write re-assesses only if it changes them.
    inputs = inputs_snapshot(episode_decision_inputs(RechallengeEpisode.objects.get(pk=episode.pk), spec), spec)
    return Assessment.objects.create(
        episode=episode,
        model_version=spec.version,
        model_hash="0" * 64,
        inputs=inputs,
        factors={},
        category=category,
        score=0,
    )


def open_keys() -> set[tuple]:
    """(rule, record type, record id, field) of every query not closed."""
    return set(
        DataQuery.objects.exclude(status=DataQuery.Status.CLOSED).values_list(
            "rule_id", "record_type", "record_id", "field"
        )
    )


def plant_every_rule(site) -> dict[str, set[tuple]]:
    """One problem per rule (two patients for a duplicate), each on a patient of its own; returns the query
    keys each plant should raise, by rule, and the records to fix under ``"_records"``."""
    planted: dict[str, set[tuple]] = {}
    records: dict[str, object] = {}

    episode = complete_patient(site)
    episode.albumin_g_per_l = None
    episode.save()
    planted["required_missing"] = {("required_missing", "episode", episode.pk, "albumin_g_per_l")}
    records["required_missing"] = episode

    episode = complete_patient(site)
    episode.albumin_g_per_l = 3.9
    episode.save()
    planted["implausible_value"] = {("implausible_value", "episode", episode.pk, "albumin_g_per_l")}
    records["implausible_value"] = episode

    episode = complete_patient(site)
    scan = ResponseAssessmentFactory(episode=episode, assessment_date=episode.start_date - dt.timedelta(days=3))
    planted["date_order"] = {("date_order", "response", scan.pk, "assessment_date")}
    records["date_order"] = scan

    episode = complete_patient(site)
    RechallengeEpisode.objects.filter(pk=episode.pk).update(iraes_during_rechallenge="yes")
    FollowUpFactory(
        episode=episode,
        follow_up_date=days_ago(20),
        vital_status="dead",
        death_date=days_ago(25),
        last_known_alive_date=None,
    )
    late = AdverseEventFactory(
        patient=episode.patient,
        episode=episode,
        recurrence_status="new",
        onset_date=days_ago(10),
        resolution_date=None,
        resolved_to_grade=None,
        grade=2,
        management="none",
        peak_prednisone_mg_per_day=None,
        led_to_discontinuation=False,
        hospitalised=False,
    )
    planted["after_death"] = {("after_death", "adverse-event", late.pk, "onset_date")}
    records["after_death"] = late

    episode = complete_patient(site)
    ici1_irae = episode.patient.adverse_events.get()
    ici1_irae.led_to_discontinuation = False
    ici1_irae.save()
    course = episode.patient.initial_course
    planted["toxicity_stop_without_irae"] = {("toxicity_stop_without_irae", "initial-course", course.pk, "stop_reason")}
    records["toxicity_stop_without_irae"] = ici1_irae

    episode = complete_patient(site)
    RechallengeEpisode.objects.filter(pk=episode.pk).update(iraes_during_rechallenge="yes")
    fatal = AdverseEventFactory(
        patient=episode.patient,
        episode=episode,
        recurrence_status="new",
        onset_date=days_ago(60),
        resolution_date=None,
        resolved_to_grade=None,
        grade=5,
        management="none",
        peak_prednisone_mg_per_day=None,
        led_to_discontinuation=True,
        hospitalised=True,
    )
    planted["grade5_without_death"] = {("grade5_without_death", "adverse-event", fatal.pk, "grade")}
    records["grade5_without_death"] = fatal

    episode = complete_patient(site)
    lock_assessment(episode, "contraindicated")
    planted["contraindicated_without_justification"] = {
        ("contraindicated_without_justification", "episode", episode.pk, "clinical_justification")
    }
    records["contraindicated_without_justification"] = episode

    episode = complete_patient(site)
    episode.follow_ups.update(follow_up_date=days_ago(200), last_known_alive_date=days_ago(200))
    planted["follow_up_overdue"] = {("follow_up_overdue", "episode", episode.pk, "")}
    records["follow_up_overdue"] = episode

    episode = complete_patient(site)
    episode.responses.all().delete()
    episode.start_date = days_ago(200)
    episode.save()
    planted["outcome_missing"] = {("outcome_missing", "episode", episode.pk, "")}
    records["outcome_missing"] = episode

    start = days_ago(700)
    first = complete_patient(site, year_of_birth=1920, ici1_start=start).patient
    second = complete_patient(site, year_of_birth=1920, ici1_start=start).patient
    planted["duplicate_patient"] = {
        ("duplicate_patient", "patient", first.pk, ""),
        ("duplicate_patient", "patient", second.pk, ""),
    }
    records["duplicate_patient"] = second
    planted["_records"] = records  # type: ignore[assignment]
    return planted
