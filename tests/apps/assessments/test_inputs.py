"""The model's inputs for a second rechallenge come from the first rechallenge, the preceding course.

Read as model 1.0 reads the records (days / 30.4375, as these tests always checked) and as 1.1 does
(calendar months, progression observed or censored).
"""

from __future__ import annotations

import datetime as dt

import pytest

from apps.assessments.inputs import episode_decision_inputs
from apps.assessments.services import inputs_snapshot
from registry.decision import get_spec
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
)

DAYS_PER_MONTH = 30.4375
V1_0 = get_spec("1.0")
V1_1 = get_spec("1.1")


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
    inputs = episode_decision_inputs(second_episode, V1_0)
    assert inputs.pfs1_months == pytest.approx(
        (dt.date(2024, 6, 1) - dt.date(2024, 1, 1)).days / DAYS_PER_MONTH, abs=0.005
    )


def test_the_treatment_free_interval_runs_from_the_first_rechallenges_stop(second_episode):
    inputs = episode_decision_inputs(second_episode, V1_0)
    assert inputs.tfi_months == pytest.approx(
        (dt.date(2024, 12, 1) - dt.date(2024, 6, 10)).days / DAYS_PER_MONTH, abs=0.005
    )


def test_prior_iraes_stop_reason_and_progression_are_those_of_the_first_rechallenge(second_episode):
    inputs = episode_decision_inputs(second_episode, V1_0)
    assert [(irae.ctcae_term, irae.grade, irae.resolved_to_grade) for irae in inputs.prior_iraes] == [
        ("pneumonitis", 2, 1)
    ]
    assert inputs.stop_reason == "progression"
    assert inputs.progressed_on_ici1 is True  # progressed on 2024-06-01, before the 2024-06-10 stop
    assert inputs.strategy == "ici_chemotherapy"


def test_the_1_0_snapshot_of_a_second_rechallenge_is_the_one_1_0_always_locked(second_episode):
    # PFS of rechallenge 1: 1 Jan → progression 1 Jun 2024 = 152 days; 152 / 30.4375 = 4.994 → 4.99.
    # TFI: stopped 10 Jun → 1 Dec 2024 = 174 days; 174 / 30.4375 = 5.717 → 5.72.
    assert inputs_snapshot(episode_decision_inputs(second_episode, V1_0), V1_0) == {
        "pfs1_months": 4.99,
        "tfi_months": 5.72,
        "progressed_on_ici1": True,
        "ecog": 1,
        "prior_iraes": [
            {
                "ctcae_term": "pneumonitis",
                "grade": 2,
                "resolved_to_grade": 1,
                "steroid_refractory": False,
                "controlled_on_replacement": False,
            }
        ],
        "current_prednisone_mg_per_day": 0.0,
        "stop_reason": "progression",
        "strategy": "ici_chemotherapy",
    }


def test_under_1_1_the_first_rechallenges_pfs_is_in_calendar_months_with_its_event(second_episode):
    inputs = episode_decision_inputs(second_episode, V1_1)
    assert (inputs.pfs1_months, inputs.pfs1_event) == (5.0, True)  # 1 Jan → 1 Jun: 5 calendar months
    # 10 Jun → 10 Nov = 5 months, then 21 of the 30 days to 10 Dec: 5.7.
    assert inputs.tfi_months == 5.7
    assert (inputs.stop_reason, inputs.progressed_on_ici1) == ("progression", True)


def test_the_active_model_reads_by_default(second_episode, settings):
    assert episode_decision_inputs(second_episode) == episode_decision_inputs(second_episode, V1_1)
    settings.DECISION_MODEL_VERSION = "1.0"
    assert episode_decision_inputs(second_episode) == episode_decision_inputs(second_episode, V1_0)
