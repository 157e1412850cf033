"""The model's inputs read from plain records: spec 1.1 reads them as they are, spec 1.0 as it always did.

Expected values are worked out by hand in the comments: calendar months for 1.1 (an exact N-month
interval is N.0), elapsed days / 30.4375 for 1.0, both rounded to 2 decimals.
"""

from __future__ import annotations

import datetime as dt

import pytest

from registry.dates import PartialDate
from registry.decision import PriorIraeInput, get_spec
from registry.decision.inputs import (
    CURRENT_READING,
    LEGACY_READING,
    decision_inputs,
    input_reading,
    inputs_snapshot,
)
from registry.records import (
    CourseRecord,
    EpisodeRecord,
    FollowUpRecord,
    IraeRecord,
    PatientRecords,
    ResponseRecord,
)

V1_0 = get_spec("1.0")
V1_1 = get_spec("1.1")

#: The keys every 1.0 assessment was locked with, in order.
LEGACY_KEYS = [
    "pfs1_months",
    "tfi_months",
    "progressed_on_ici1",
    "ecog",
    "prior_iraes",
    "current_prednisone_mg_per_day",
    "stop_reason",
    "strategy",
]


def course(start: dt.date = dt.date(2023, 1, 10), stop: dt.date = dt.date(2023, 3, 10), **fields) -> CourseRecord:
    values = {"progression": None, "stop_reason": "toxicity", "iraes_during_course": None, **fields}
    return CourseRecord(start=PartialDate(start), stop=PartialDate(stop), **values)


def episode(id: int = 1, start: dt.date = dt.date(2023, 6, 10), **fields) -> EpisodeRecord:
    values = {"regimen_type": "monotherapy", "ecog_at_rechallenge": 1, "current_prednisone_mg_per_day": 0.0, **fields}
    return EpisodeRecord(id=id, sequence_number=id, start_date=start, **values)


def colitis(episode_id: int | None = None, **fields) -> IraeRecord:
    values = {"resolved_to_grade": 0, "management": "corticosteroids", "steroid_refractory": False, **fields}
    return IraeRecord(episode_id, "colitis", "gastrointestinal", 2, PartialDate(dt.date(2023, 2, 20)), **values)


def patient(*, course_record: CourseRecord | None = None, **parts) -> PatientRecords:
    return PatientRecords(
        course=course_record if course_record is not None else course(),
        episodes=parts.pop("episodes", (episode(),)),
        **parts,
    )


# --- Which reading a spec asks for -----------------------------------------------------------------


def test_spec_1_0_has_no_inputs_section_and_is_read_the_legacy_way():
    assert "inputs" not in V1_0.data
    assert input_reading(V1_0) == LEGACY_READING


def test_spec_1_1_asks_for_calendar_months_and_missing_values_kept_missing():
    assert input_reading(V1_1) == CURRENT_READING


# --- PFS on the preceding course -------------------------------------------------------------------


def test_a_toxicity_stop_at_2_months_without_progression_is_a_censored_pfs1_up_to_the_rechallenge():
    # ICI-1 10 Jan → stopped for toxicity 10 Mar 2023, no progression; rechallenge 10 Jun 2023.
    records = patient()
    inputs = decision_inputs(records, 1, V1_1)
    # Censored at the rechallenge: 10 Jan → 10 Jun is exactly 5 calendar months.
    assert (inputs.pfs1_months, inputs.pfs1_event) == (5.0, False)
    # 10 Mar → 10 Jun: exactly 3 calendar months off treatment.
    assert inputs.tfi_months == 3.0
    assert (inputs.stop_reason, inputs.progressed_on_ici1) == ("toxicity", False)


def test_the_same_case_under_1_0_is_read_in_days_over_30_4375_without_an_event_flag():
    inputs = decision_inputs(patient(), 1, V1_0)
    # 10 Jan → 10 Jun 2023 = 31 + 28 + 31 + 30 + 31 = 151 days; 151 / 30.4375 = 4.961 → 4.96.
    assert inputs.pfs1_months == 4.96
    # 10 Mar → 10 Jun = 31 + 30 + 31 = 92 days; 92 / 30.4375 = 3.023 → 3.02.
    assert inputs.tfi_months == 3.02
    assert inputs.pfs1_event is None
    assert list(inputs_snapshot(inputs, V1_0)) == LEGACY_KEYS


def test_an_exact_twelve_month_pfs1_is_12_under_1_1_and_11_99_under_1_0():
    # ICI-1 1 Mar 2022, progression and stop 1 Mar 2023 (365 days), rechallenge 1 Jun 2023.
    records = patient(
        course_record=course(
            dt.date(2022, 3, 1),
            dt.date(2023, 3, 1),
            progression=PartialDate(dt.date(2023, 3, 1)),
            stop_reason="progression",
        ),
        episodes=(episode(start=dt.date(2023, 6, 1)),),
    )
    current = decision_inputs(records, 1, V1_1)
    assert (current.pfs1_months, current.pfs1_event, current.progressed_on_ici1) == (12.0, True, True)
    assert decision_inputs(records, 1, V1_0).pfs1_months == 11.99  # 365 / 30.4375 = 11.9918


def test_a_month_precision_stop_counts_from_its_imputed_15th():
    # Stop known as "2023-03" → 15 Mar; rechallenge 15 Jun: exactly 3 calendar months.
    records = patient(
        course_record=CourseRecord(
            start=PartialDate(dt.date(2023, 1, 10)),
            stop=PartialDate.month(2023, 3),
            progression=None,
            stop_reason="toxicity",
        ),
        episodes=(episode(start=dt.date(2023, 6, 15)),),
    )
    assert decision_inputs(records, 1, V1_1).tfi_months == 3.0
    # 15 Mar → 15 Jun = 16 + 30 + 31 + 15 = 92 days → 3.02.
    assert decision_inputs(records, 1, V1_0).tfi_months == 3.02


# --- Missing stays missing (1.1) and reads as before (1.0) -------------------------------------------


def test_a_prednisone_dose_not_recorded_is_none_under_1_1_and_zero_under_1_0():
    records = patient(episodes=(episode(current_prednisone_mg_per_day=None),))
    assert decision_inputs(records, 1, V1_1).current_prednisone_mg_per_day is None
    assert decision_inputs(records, 1, V1_0).current_prednisone_mg_per_day == 0.0


def test_a_recorded_prednisone_dose_is_read_as_recorded_by_both():
    records = patient(episodes=(episode(current_prednisone_mg_per_day=7.5),))
    assert decision_inputs(records, 1, V1_1).current_prednisone_mg_per_day == 7.5
    assert decision_inputs(records, 1, V1_0).current_prednisone_mg_per_day == 7.5


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param("no", (), id="answered no: none"),
        pytest.param("yes", None, id="answered yes but none recorded: not recorded"),
        pytest.param("unknown", None, id="unknown: not recorded"),
        pytest.param(None, None, id="not answered: not recorded"),
    ],
)
def test_without_a_recorded_irae_the_history_is_none_only_when_answered_no(answer, expected):
    records = patient(course_record=course(iraes_during_course=answer))
    assert decision_inputs(records, 1, V1_1).prior_iraes == expected
    assert decision_inputs(records, 1, V1_0).prior_iraes == ()  # 1.0 read "nothing recorded" as none


@pytest.mark.parametrize("answer", ["yes", "unknown", None])
def test_recorded_iraes_are_the_history_whatever_the_answer(answer):
    records = patient(course_record=course(iraes_during_course=answer), iraes=(colitis(),))
    expected = (PriorIraeInput("colitis", 2, 0, steroid_refractory=False, controlled_on_replacement=False),)
    assert decision_inputs(records, 1, V1_1).prior_iraes == expected
    assert decision_inputs(records, 1, V1_0).prior_iraes == expected


def test_an_unknown_steroid_refractoriness_is_none_under_1_1_and_no_under_1_0():
    records = patient(iraes=(colitis(steroid_refractory=None),))
    assert decision_inputs(records, 1, V1_1).prior_iraes[0].steroid_refractory is None
    assert decision_inputs(records, 1, V1_0).prior_iraes[0].steroid_refractory is False


def test_an_endocrinopathy_on_hormone_replacement_is_controlled_on_replacement():
    thyroiditis = IraeRecord(
        None, "hypothyroidism", "endocrine", 2, PartialDate(dt.date(2023, 2, 1)), management="hormone_replacement"
    )
    [irae] = decision_inputs(patient(iraes=(thyroiditis,)), 1, V1_1).prior_iraes
    assert (irae.resolved_to_grade, irae.controlled_on_replacement) == (None, True)


def test_without_an_ici1_record_the_first_rechallenges_predictors_are_not_recorded():
    records = PatientRecords(course=None, episodes=(episode(),))
    inputs = decision_inputs(records, 1, V1_1)
    assert (inputs.pfs1_months, inputs.pfs1_event, inputs.tfi_months) == (None, None, None)
    assert (inputs.stop_reason, inputs.progressed_on_ici1, inputs.prior_iraes) == (None, None, None)


# --- A second rechallenge reads the first one --------------------------------------------------------


def second_rechallenge() -> PatientRecords:
    """Rechallenge 1 from 1 Jan 2024: PR on 1 Mar and 1 Apr, stopped 1 Jun (planned), alive on 1 Jul;
    rechallenge 2 from 1 Oct 2024 with prednisone not recorded."""
    first = episode(1, dt.date(2024, 1, 1), iraes_during_rechallenge="no")
    second = episode(2, dt.date(2024, 10, 1), current_prednisone_mg_per_day=None, regimen_type="ici_chemotherapy")
    return PatientRecords(
        course=course(dt.date(2022, 1, 10), dt.date(2023, 3, 10)),
        episodes=(first, second),
        iraes=(colitis(),),  # of ICI-1: not the second rechallenge's history
        responses=(ResponseRecord(1, dt.date(2024, 3, 1), "PR"), ResponseRecord(1, dt.date(2024, 4, 1), "PR")),
        follow_ups=(
            FollowUpRecord(
                1,
                dt.date(2024, 7, 1),
                "alive",
                rechallenge_stopped_date=dt.date(2024, 6, 1),
                rechallenge_stop_reason="planned_completion",
                last_known_alive_date=dt.date(2024, 7, 1),
            ),
        ),
    )


def test_a_second_rechallenge_under_1_1_reads_the_first_ones_pfs_censored_at_its_last_assessment():
    inputs = decision_inputs(second_rechallenge(), 2, V1_1)
    # No progression: censored at the last adequate assessment, 1 Jan → 1 Apr = 3 calendar months.
    assert (inputs.pfs1_months, inputs.pfs1_event) == (3.0, False)
    assert inputs.tfi_months == 4.0  # stopped 1 Jun → 1 Oct
    assert (inputs.stop_reason, inputs.progressed_on_ici1) == ("planned_completion", False)
    assert inputs.prior_iraes == ()  # rechallenge 1 answered "no irAEs"
    assert inputs.current_prednisone_mg_per_day is None
    assert inputs.strategy == "ici_chemotherapy"


def test_a_second_rechallenge_under_1_0_keeps_the_last_contact_censoring_it_was_locked_with():
    inputs = decision_inputs(second_rechallenge(), 2, V1_0)
    # 1 Jan → 1 Jul 2024 (last contact) = 31 + 29 + 31 + 30 + 31 + 30 = 182 days; 182 / 30.4375 = 5.98.
    assert inputs.pfs1_months == 5.98
    # 1 Jun → 1 Oct = 30 + 31 + 31 + 30 = 122 days; 122 / 30.4375 = 4.008 → 4.01.
    assert inputs.tfi_months == 4.01
    assert inputs_snapshot(inputs, V1_0) == {
        "pfs1_months": 5.98,
        "tfi_months": 4.01,
        "progressed_on_ici1": False,
        "ecog": 1,
        "prior_iraes": [],
        "current_prednisone_mg_per_day": 0.0,
        "stop_reason": "planned_completion",
        "strategy": "ici_chemotherapy",
    }


def test_a_recist_pd_before_an_icpd_dates_progression_under_1_1_but_not_under_1_0():
    """1.1 reads the PD as an iUPD the iCPD confirms (progression on 1 Mar); 1.0 ignored RECIST rows
    of an iRECIST episode and dated progression at the iCPD (1 Apr), from follow-ups only for
    "progressed while on"."""
    records = second_rechallenge()
    records = PatientRecords(
        course=records.course,
        episodes=records.episodes,
        responses=(ResponseRecord(1, dt.date(2024, 3, 1), "PD"), ResponseRecord(1, dt.date(2024, 4, 1), "iCPD")),
        follow_ups=(
            FollowUpRecord(
                1,
                dt.date(2024, 7, 1),
                "alive",
                rechallenge_stopped_date=dt.date(2024, 4, 15),
                rechallenge_stop_reason="progression",
            ),
        ),
    )
    current = decision_inputs(records, 2, V1_1)
    assert (current.pfs1_months, current.pfs1_event, current.progressed_on_ici1) == (2.0, True, True)
    legacy = decision_inputs(records, 2, V1_0)
    # 1 Jan → 1 Apr 2024 = 31 + 29 + 31 = 91 days; 91 / 30.4375 = 2.9897 → 2.99.
    assert (legacy.pfs1_months, legacy.progressed_on_ici1) == (2.99, False)


# --- The locked snapshot ----------------------------------------------------------------------------


def test_a_1_1_snapshot_adds_pfs1_event_after_pfs1_months_and_keeps_unknowns_as_null():
    records = patient(
        episodes=(episode(current_prednisone_mg_per_day=None),), iraes=(colitis(steroid_refractory=None),)
    )
    snapshot = inputs_snapshot(decision_inputs(records, 1, V1_1), V1_1)
    assert list(snapshot) == ["pfs1_months", "pfs1_event", *LEGACY_KEYS[1:]]
    assert (snapshot["pfs1_event"], snapshot["current_prednisone_mg_per_day"]) == (False, None)
    assert snapshot["prior_iraes"] == [
        {
            "ctcae_term": "colitis",
            "grade": 2,
            "resolved_to_grade": 0,
            "steroid_refractory": None,
            "controlled_on_replacement": False,
        }
    ]


def test_episodes_are_read_in_sequence_order_whatever_order_they_come_in():
    records = second_rechallenge()
    shuffled = PatientRecords(
        course=records.course,
        episodes=tuple(reversed(records.episodes)),
        iraes=records.iraes,
        responses=records.responses,
        follow_ups=records.follow_ups,
    )
    assert decision_inputs(shuffled, 2, V1_1) == decision_inputs(records, 2, V1_1)
