"""The model's inputs for a second rechallenge come from the first rechallenge, the preceding course."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.assessments.inputs import episode_decision_inputs
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
)

DAYS_PER_MONTH = 30.4375


@pytest.fixture
def second_episode(site_a):
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(patient=patient, stop_date=dt.date(2023, 10, 15), stop_reason="toxicity")
    AdverseEventFactory(patient=patient, ctcae_term="colitis", grade=2, resolved_to_grade=0)
    first = RechallengeEpisodeFactory(patient=patient, sequence_number=1, start_date=dt.date(2024, 1, 1))
    AdverseEventFactory(
        patient=patient,
        episode=first,
        ctcae_term="pneumonitis",
        grade=2,
        onset_date=dt.date(2024, 3, 1),
        resolution_date=dt.date(2024, 4, 1),
        resolved_to_grade=1,
        recurrence_status="new",
    )
    FollowUpFactory(
        episode=first,
        follow_up_date=dt.date(2024, 9, 1),
        progression_date=dt.date(2024, 6, 1),
        rechallenge_stopped_date=dt.date(2024, 6, 10),
        rechallenge_stop_reason="progression",
    )
    return RechallengeEpisodeFactory(
        patient=patient, sequence_number=2, start_date=dt.date(2024, 12, 1), regimen_type="ici_chemotherapy"
    )


def test_pfs_of_the_preceding_course_is_the_first_rechallenges_pfs(second_episode):
    inputs = episode_decision_inputs(second_episode)
    assert inputs.pfs1_months == pytest.approx(
        (dt.date(2024, 6, 1) - dt.date(2024, 1, 1)).days / DAYS_PER_MONTH, abs=0.005
    )


def test_the_treatment_free_interval_runs_from_the_first_rechallenges_stop(second_episode):
    inputs = episode_decision_inputs(second_episode)
    assert inputs.tfi_months == pytest.approx(
        (dt.date(2024, 12, 1) - dt.date(2024, 6, 10)).days / DAYS_PER_MONTH, abs=0.005
    )


def test_prior_iraes_stop_reason_and_progression_are_those_of_the_first_rechallenge(second_episode):
    inputs = episode_decision_inputs(second_episode)
    assert [(irae.ctcae_term, irae.grade, irae.resolved_to_grade) for irae in inputs.prior_iraes] == [
        ("pneumonitis", 2, 1)
    ]
    assert inputs.stop_reason == "progression"
    assert inputs.progressed_on_ici1 is True  # progressed on 2024-06-01, before the 2024-06-10 stop
    assert inputs.strategy == "ici_chemotherapy"
