"""The patient page's derived values (apps/clinical/derived.py): stored records → plain records → derive_patient."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.clinical.derived import episode_lines, patient_records, rechallenge_stop, timeline_derived
from apps.clinical.selectors import patient_timeline
from registry.dates import DAYS_PER_MONTH, DatePrecision, PartialDate
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_rechallenges():
    """ICI-1 with a month-only start; rechallenge 1 stopped 2021-09-10; rechallenge 2 from 2022-01-10."""
    patient = PatientFactory()
    InitialCourseFactory(
        patient=patient,
        start_date=dt.date(2020, 1, 15),
        start_date_precision="month",
        stop_date=dt.date(2020, 7, 10),
        stop_reason="toxicity",
        iraes_during_course="yes",
    )
    AdverseEventFactory(
        patient=patient, ctcae_term="colitis", grade=3, onset_date=dt.date(2020, 4, 1), resolved_to_grade=1
    )
    first = RechallengeEpisodeFactory(
        patient=patient, sequence_number=1, start_date=dt.date(2021, 1, 1), current_prednisone_mg_per_day=None
    )
    second = RechallengeEpisodeFactory(
        patient=patient,
        sequence_number=2,
        start_date=dt.date(2022, 1, 10),
        current_prednisone_mg_per_day=Decimal("5.0"),
    )
    AdverseEventFactory(
        patient=patient,
        episode=first,
        ctcae_term="hepatitis",
        grade=2,
        onset_date=dt.date(2021, 2, 1),
        resolution_date=dt.date(2021, 3, 1),
        resolved_to_grade=0,
        recurrence_status="new",
    )
    for on, category in ((dt.date(2021, 3, 1), "SD"), (dt.date(2021, 5, 1), "PR"), (dt.date(2021, 7, 1), "PR")):
        ResponseAssessmentFactory(episode=first, assessment_date=on, category=category)
    FollowUpFactory(
        episode=first,
        follow_up_date=dt.date(2021, 10, 1),
        vital_status="alive",
        progression_date=dt.date(2021, 9, 1),
        rechallenge_stopped_date=dt.date(2021, 9, 10),
        rechallenge_stop_reason="progression",
        last_known_alive_date=dt.date(2021, 10, 1),
    )
    return patient, first, second


def test_patient_records_carry_the_stored_values_without_another_query(two_rechallenges, django_assert_num_queries):
    patient, first, second = two_rechallenges
    timeline = patient_timeline(patient=patient)
    with django_assert_num_queries(0):
        records = patient_records(timeline)
    assert records.course.start == PartialDate(dt.date(2020, 1, 15), DatePrecision.MONTH)
    assert records.course.iraes_during_course == "yes"
    assert [(e.id, e.sequence_number) for e in records.episodes] == [(first.pk, 1), (second.pk, 2)]
    assert [e.current_prednisone_mg_per_day for e in records.episodes] == [None, 5.0]  # not recorded stays None
    assert [(i.episode_id, i.ctcae_term) for i in records.iraes] == [(None, "colitis"), (first.pk, "hepatitis")]
    assert [(r.episode_id, r.category) for r in records.responses] == [
        (first.pk, "SD"),
        (first.pk, "PR"),
        (first.pk, "PR"),
    ]
    assert [fu.rechallenge_stop_reason for fu in records.follow_ups] == ["progression"]


def test_timeline_derived_gives_the_course_and_each_episode_by_pk(two_rechallenges, django_assert_num_queries):
    patient, first, second = two_rechallenges
    timeline = patient_timeline(patient=patient)
    with django_assert_num_queries(0):
        course_values, episode_values = timeline_derived(timeline)
    # ICI-1 PFS: 2020-01-15 → censored at 2021-01-01: 11 calendar months and 17 of 31 days.
    assert (course_values.pfs1.months, course_values.pfs1.event) == (pytest.approx(11 + 17 / 31), False)
    assert set(episode_values) == {first.pk, second.pk}
    assert episode_values[first.pk].best_response == "PR"  # PR confirmed 61 days later
    later = episode_values[second.pk]
    assert later.preceding_course == "rechallenge 1"
    assert later.tfi_months == 4.0  # 2021-09-10 → 2022-01-10
    assert later.pfs1.months == 8.0  # rechallenge 1: 2021-01-01 → progression 2021-09-01
    assert rechallenge_stop(timeline["episodes"][0]) == PartialDate(dt.date(2021, 9, 10))


def lines_of(values) -> dict[str, tuple[str, str]]:
    return {line.label: (line.value, line.note) for line in episode_lines(values)}


def test_the_page_labels_orr_and_dcr_over_all_treated_and_says_when_an_episode_is_not_evaluable(two_rechallenges):
    patient, first, second = two_rechallenges
    _, episode_values = timeline_derived(patient_timeline(patient=patient))
    assessed, unassessed = lines_of(episode_values[first.pk]), lines_of(episode_values[second.pk])
    assert assessed["Best overall response"][0] == "PR – Partial response"
    assert assessed["Objective response (ORR, all treated)"][0] == "Yes"
    assert assessed["Evaluable for response (ORR/DCR among evaluable)"][0] == "Yes"
    assert unassessed["Best overall response"][0] == "Not assessed yet"
    assert unassessed["Objective response (ORR, all treated)"] == ("No", "NE or no assessment counts as no response.")
    assert unassessed["Disease control (DCR, all treated)"][0] == "No"
    evaluable = unassessed["Evaluable for response (ORR/DCR among evaluable)"]
    assert evaluable == ("No", "Left out of the evaluable-only ORR and DCR.")


def test_the_page_shows_both_pfs2_censorings_and_the_competing_irae_times():
    patient = PatientFactory()
    InitialCourseFactory(patient=patient, start_date=dt.date(2020, 1, 1), stop_date=dt.date(2020, 12, 1))
    AdverseEventFactory(patient=patient, ctcae_term="colitis", grade=2, onset_date=dt.date(2020, 6, 1))
    episode = RechallengeEpisodeFactory(patient=patient, start_date=dt.date(2021, 1, 1))
    ResponseAssessmentFactory(episode=episode, assessment_date=dt.date(2021, 3, 1), category="SD")
    ResponseAssessmentFactory(episode=episode, assessment_date=dt.date(2021, 5, 1), category="SD")
    AdverseEventFactory(
        patient=patient, episode=episode, ctcae_term="pneumonitis", grade=2, onset_date=dt.date(2021, 2, 1)
    )
    FollowUpFactory(
        episode=episode,
        follow_up_date=dt.date(2021, 6, 15),
        vital_status="alive",
        last_known_alive_date=dt.date(2021, 6, 15),
    )
    lines = lines_of(timeline_derived(patient_timeline(patient=patient))[1][episode.pk])
    # Censored at the last adequate assessment 2021-05-01 (120 days), or at last contact 2021-06-15 (165 days).
    assert lines["PFS2 (rechallenge start → progression or death)"] == (
        f"{120 / DAYS_PER_MONTH:.1f} months (censored)",
        "Censored at the last adequate tumour assessment.",
    )
    assert lines["PFS2, censored at last contact (sensitivity)"][0] == f"{165 / DAYS_PER_MONTH:.1f} months (censored)"
    # A new irAE (pneumonitis, 31 days in); no colitis again by the last contact (165 days).
    assert lines["Time to first irAE on rechallenge"][0] == f"{31 / DAYS_PER_MONTH:.1f} months (irAE)"
    assert lines["Time to recurrence of an irAE term of ICI-1"][0] == f"{165 / DAYS_PER_MONTH:.1f} months (censored)"
