"""Each locked assessment reads the records the way its model version reads them, and says which code made it.

Model 1.1 is active for new enrollments; an assessment locked under 1.0 keeps 1.0's reading of the
records, so its re-assessments compare like with like and fire only when recorded data change.
"""

from __future__ import annotations

import datetime as dt

import pytest

from apps.assessments import services
from apps.assessments.inputs import episode_decision_inputs
from apps.assessments.models import Assessment
from apps.clinical.services import record_update
from config.version import code_version
from registry.decision import get_spec
from tests.factories import AdverseEventFactory, InitialCourseFactory, PatientFactory, RechallengeEpisodeFactory

#: What 1.0 locked for the episode below, worked out by hand:
#: PFS1 15 Jan 2023 → 2 May 2024 (censored at the rechallenge) = 473 days; 473 / 30.4375 = 15.540 → 15.54;
#: TFI 15 Oct 2023 → 2 May 2024 = 200 days; 200 / 30.4375 = 6.571 → 6.57.
LEGACY_SNAPSHOT = {
    "pfs1_months": 15.54,
    "tfi_months": 6.57,
    "progressed_on_ici1": False,
    "ecog": 1,
    "prior_iraes": [
        {
            "ctcae_term": "colitis",
            "grade": 2,
            "resolved_to_grade": 0,
            "steroid_refractory": False,
            "controlled_on_replacement": False,
        }
    ],
    "current_prednisone_mg_per_day": 0.0,
    "stop_reason": "toxicity",
    "strategy": "monotherapy",
}


@pytest.fixture
def episode(site_a):
    """ICI-1 from 15 Jan 2023 stopped 15 Oct 2023 for a grade-2 colitis that resolved; rechallenge 2 May 2024."""
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(
        patient=patient, start_date=dt.date(2023, 1, 15), stop_date=dt.date(2023, 10, 15), stop_reason="toxicity"
    )
    AdverseEventFactory(patient=patient, ctcae_term="colitis", grade=2, resolved_to_grade=0, steroid_refractory=None)
    return RechallengeEpisodeFactory(patient=patient, start_date=dt.date(2024, 5, 2), ecog_at_rechallenge=1)


def test_enrolling_under_1_1_locks_calendar_months_the_pfs1_event_and_the_code_version(episode, data_entry_a):
    assessment = services.episode_enroll(episode=episode, user=data_entry_a)
    assert (assessment.model_version, assessment.model_hash) == ("1.1", get_spec("1.1").hash)
    assert assessment.code_version == code_version() != ""
    # 15 Jan 2023 → 15 Apr 2024 = 15 calendar months, then 17 of the 30 days to 15 May: 15.567 → 15.57.
    # 15 Oct 2023 → 15 Apr 2024 = 6 months, then 17/30: 6.567 → 6.57. No progression: censored.
    assert (assessment.inputs["pfs1_months"], assessment.inputs["pfs1_event"]) == (15.57, False)
    assert assessment.inputs["tfi_months"] == 6.57
    assert assessment.inputs["prior_iraes"][0]["steroid_refractory"] is None  # unknown stays unknown


def test_the_1_0_reading_of_the_fixture_is_exactly_what_1_0_locked_before(episode):
    spec = get_spec("1.0")
    assert services.inputs_snapshot(episode_decision_inputs(episode, spec), spec) == LEGACY_SNAPSHOT


def test_enrolling_under_1_0_locks_the_legacy_snapshot(episode, data_entry_a, settings):
    settings.DECISION_MODEL_VERSION = "1.0"
    assessment = services.episode_enroll(episode=episode, user=data_entry_a)
    assert assessment.inputs == LEGACY_SNAPSHOT
    assert assessment.model_version == "1.0"


def test_a_1_0_lock_is_not_reassessed_by_changes_1_0_does_not_read(episode, data_entry_a, settings):
    settings.DECISION_MODEL_VERSION = "1.0"
    services.episode_enroll(episode=episode, user=data_entry_a)
    settings.DECISION_MODEL_VERSION = "1.1"
    episode.refresh_from_db()
    # 1.0 read a dose not recorded as 0 and an unknown refractoriness as "no": neither changes its inputs.
    record_update(instance=episode, data={"current_prednisone_mg_per_day": None}, user=data_entry_a, channel="web")
    course = episode.patient.initial_course
    record_update(instance=course, data={"iraes_during_course": "yes"}, user=data_entry_a, channel="web")
    assert Assessment.objects.filter(episode=episode).count() == 1


def test_a_correction_of_a_1_0_lock_is_reassessed_under_1_0_with_1_0_keys(episode, data_entry_a, settings):
    settings.DECISION_MODEL_VERSION = "1.0"
    original = services.episode_enroll(episode=episode, user=data_entry_a)
    settings.DECISION_MODEL_VERSION = "1.1"
    episode.refresh_from_db()
    record_update(instance=episode, data={"ecog_at_rechallenge": 2}, user=data_entry_a, channel="web", reason="typo")
    latest = Assessment.objects.filter(episode=episode).latest("id")
    assert (latest.model_version, latest.is_reassessment, latest.supersedes_id) == ("1.0", True, original.pk)
    assert latest.inputs == {**LEGACY_SNAPSHOT, "ecog": 2}


def test_under_1_1_a_dose_that_is_no_longer_recorded_is_a_change_of_the_inputs(episode, data_entry_a):
    services.episode_enroll(episode=episode, user=data_entry_a)
    episode.refresh_from_db()
    record_update(instance=episode, data={"current_prednisone_mg_per_day": None}, user=data_entry_a, channel="web")
    latest = Assessment.objects.filter(episode=episode).latest("id")
    assert (latest.model_version, latest.is_reassessment) == ("1.1", True)
    assert latest.inputs["current_prednisone_mg_per_day"] is None
