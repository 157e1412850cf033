"""The set-wise derivation (registry/derive_frames.py) equals the per-record one, value by value.

Three ways in: the issue's hand-worked cases through both paths, generated records built to hit the
edge cases (month-only dates, ties, missing values, mixed criteria, deaths before irAEs), and every
episode of a 20,000-patient synthetic cohort.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.cohort_records import cohort_frames, cohort_records
from registry.dates import DAYS_PER_MONTH, DatePrecision, PartialDate
from registry.derive import RECURRENCE_KINDS, derive_patient
from registry.derive_frames import Frames, derive_episodes, frames_from_records
from registry.records import (
    CourseRecord,
    EpisodeRecord,
    FollowUpRecord,
    IraeRecord,
    PatientRecords,
    ResponseRecord,
)
from registry.synthetic import generate_cohort
from tests.generated import examples

START = date(2021, 1, 1)


def plain(value: object) -> object:
    """A frame cell as the Python value ``EpisodeDerived.as_row`` holds (NaN/NA → None)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def mismatches(expected_rows: Sequence[dict], frame: pd.DataFrame) -> list[tuple[int, str, object, object]]:
    """(episode, column, per-record value, set-wise value) for every cell that differs."""
    by_episode = {row["episode_id"]: row for row in frame.to_dict("records")}
    assert set(by_episode) == {row["episode_id"] for row in expected_rows}
    found = []
    for expected in expected_rows:
        actual = by_episode[expected["episode_id"]]
        for column, value in expected.items():
            got = plain(actual[column])
            same = (
                got is not None and abs(value - got) <= 1e-9
                if isinstance(value, float)
                else value == got and type(value) is type(got)
            )
            if not same:
                found.append((expected["episode_id"], column, value, got))
    return found


def per_record_rows(patients: Sequence[PatientRecords]) -> list[dict]:
    return [episode.as_row() for records in patients for episode in derive_patient(records).episodes.values()]


def assert_same(patients: Sequence[PatientRecords]) -> pd.DataFrame:
    frame = derive_episodes(frames_from_records(patients))
    assert mismatches(per_record_rows(patients), frame) == []
    return frame


# --- the cases, set-wise ------------------------------------------------------------------


def one_episode(
    responses: Sequence[tuple[int, str]] = (),
    *,
    follow_ups: Sequence[FollowUpRecord] = (),
    iraes: Sequence[IraeRecord] = (),
    course: CourseRecord | None = None,
) -> PatientRecords:
    return PatientRecords(
        course=course,
        episodes=(EpisodeRecord(id=1, sequence_number=1, start_date=START),),
        iraes=tuple(iraes),
        responses=tuple(ResponseRecord(1, START + timedelta(days=d), category) for d, category in responses),
        follow_ups=tuple(follow_ups),
    )


@pytest.mark.parametrize(
    ("responses", "best"),
    [
        pytest.param([(56, "PD"), (112, "PR")], "PD", id="PD then PR"),
        pytest.param([(56, "iUPD"), (84, "iCPD"), (140, "iPR")], "iCPD", id="iUPD → iCPD → iPR"),
        pytest.param([(56, "PR"), (112, "SD")], "SD", id="PR then SD: unconfirmed"),
        pytest.param([(21, "SD"), (56, "PD")], "PD", id="SD at 3 weeks then PD"),
        pytest.param([(56, "PR"), (112, "PR"), (168, "iUPD")], "iPR", id="RECIST rows read as iRECIST"),
        pytest.param([], None, id="no assessment"),
    ],
)
def test_the_best_overall_response_cases_are_the_same_set_wise(responses: list[tuple[int, str]], best: str) -> None:
    frame = assert_same([one_episode(responses)])
    assert plain(frame.loc[0, "best_overall_response"]) == best


def test_last_assessment_and_last_contact_censoring_are_the_same_set_wise() -> None:
    lost = [
        FollowUpRecord(1, date(2021, 6, 15), "alive", last_known_alive_date=date(2021, 6, 15)),
        FollowUpRecord(1, date(2021, 9, 1), "unknown", last_known_alive_date=date(2021, 6, 15)),
    ]
    frame = assert_same([one_episode([(59, "iSD"), (120, "iUPD")], follow_ups=lost)])
    # Censored at the unconfirmed iUPD of 2021-05-01 (120 days); at last contact 2021-06-15 (165 days).
    assert frame.loc[0, "pfs2_months"] == pytest.approx(120 / DAYS_PER_MONTH)
    assert frame.loc[0, "pfs2_last_contact_months"] == pytest.approx(165 / DAYS_PER_MONTH)
    assert (frame.loc[0, "pfs2_event"], frame.loc[0, "pfs2_last_contact_event"]) == (False, False)


def test_a_new_irae_before_a_same_term_recurrence_is_the_same_set_wise() -> None:
    course = CourseRecord(
        start=PartialDate(date(2020, 1, 1)),
        stop=PartialDate(date(2020, 6, 1)),
        progression=None,
        stop_reason="toxicity",
    )
    iraes = [
        IraeRecord(None, "colitis", "gastrointestinal", 3, PartialDate(date(2020, 5, 1)), resolved_to_grade=1),
        IraeRecord(1, "pneumonitis", "pulmonary", 2, PartialDate(date(2021, 2, 1))),
        IraeRecord(1, "colitis", "gastrointestinal", 3, PartialDate(date(2021, 4, 1))),
    ]
    alive = [FollowUpRecord(1, date(2021, 12, 1), "alive")]
    frame = assert_same([one_episode(iraes=iraes, follow_ups=alive, course=course)])
    assert frame.loc[0, "recurrence_any_grade_months"] == pytest.approx(31 / DAYS_PER_MONTH)
    assert frame.loc[0, "recurrence_same_term_months"] == pytest.approx(90 / DAYS_PER_MONTH)
    assert frame.loc[0, "recurrence_same_term_event_code"] == 1


def test_two_iraes_outside_the_ctcae_list_are_not_the_same_term_set_wise() -> None:
    course = CourseRecord(
        start=PartialDate(date(2020, 1, 1)),
        stop=PartialDate(date(2020, 6, 1)),
        progression=None,
        stop_reason="toxicity",
    )
    iraes = [
        IraeRecord(None, "other", "other", 3, PartialDate(date(2020, 5, 1)), resolved_to_grade=1),
        IraeRecord(1, "other", "other", 2, PartialDate(date(2021, 2, 1))),
    ]
    frame = assert_same(
        [one_episode(iraes=iraes, follow_ups=[FollowUpRecord(1, date(2021, 12, 1), "alive")], course=course)]
    )
    assert (bool(frame.loc[0, "recurrence_same_term"]), bool(frame.loc[0, "recurrence_same_organ"])) == (False, True)


def test_a_censored_pfs1_is_the_same_set_wise() -> None:
    # Toxicity stop at 2 months, no progression, rechallenge at 5 months: 5 months, censored.
    course = CourseRecord(
        start=PartialDate(date(2020, 8, 1)),
        stop=PartialDate(date(2020, 10, 1)),
        progression=None,
        stop_reason="toxicity",
    )
    frame = assert_same([one_episode(course=course)])
    assert (frame.loc[0, "pfs1_months"], frame.loc[0, "pfs1_event"]) == (5.0, False)


def test_a_month_only_stop_on_the_day_of_the_rechallenge_does_not_make_pfs1_imputed_set_wise() -> None:
    # Stop "2020-11" is stored as 2020-11-15, the rechallenge start: PFS1 is censored at the start (day precision).
    course = CourseRecord(
        start=PartialDate(date(2020, 8, 1)), stop=PartialDate.month(2020, 11), progression=None, stop_reason="toxicity"
    )
    patient = PatientRecords(
        course=course, episodes=(EpisodeRecord(id=1, sequence_number=1, start_date=date(2020, 11, 15)),)
    )
    frame = assert_same([patient])
    # 1 Aug → 1 Nov is 3 months, then 14 of the 30 days of 1 Nov → 1 Dec.
    assert frame.loc[0, "pfs1_months"] == pytest.approx(3 + 14 / 30)
    assert (frame.loc[0, "pfs1_imputed"], frame.loc[0, "tfi_imputed"]) == (False, True)


def test_an_exact_twelve_month_pfs1_and_tfi_are_twelve_months_set_wise_on_every_start_day() -> None:
    patients = []
    for offset in range(365):
        start = date(2022, 1, 1) + timedelta(days=offset)
        anniversary = date(2023, start.month, start.day)
        course = CourseRecord(
            start=PartialDate(start),
            stop=PartialDate(start),
            progression=PartialDate(anniversary),
            stop_reason="progression",
        )
        episode = EpisodeRecord(id=offset + 1, sequence_number=1, start_date=anniversary)
        patients.append(PatientRecords(course=course, episodes=(episode,)))
    frame = assert_same(patients)
    assert set(frame["pfs1_months"]) == {12.0}
    assert set(frame["tfi_months"]) == {12.0}


def test_the_result_has_the_as_row_columns_and_the_patient() -> None:
    patients = [one_episode([(56, "SD")])]
    frame = derive_episodes(frames_from_records(patients))
    assert list(frame.columns) == ["patient_id", *per_record_rows(patients)[0]]


def test_an_empty_registry_gives_an_empty_frame() -> None:
    frame = derive_episodes(frames_from_records([]))
    assert frame.empty
    assert "pfs2_months" in frame.columns


def test_a_frame_without_a_needed_column_is_refused() -> None:
    frames = frames_from_records([one_episode()])
    with pytest.raises(ValueError, match="follow_ups frame lacks the column"):
        Frames(
            courses=frames.courses,
            episodes=frames.episodes,
            adverse_events=frames.adverse_events,
            responses=frames.responses,
            follow_ups=frames.follow_ups.drop(columns="death_date"),
        )


def test_an_unknown_response_category_is_refused_set_wise_too() -> None:
    frames = frames_from_records([one_episode([(56, "SD")])])
    frames.responses.loc[0, "category"] = "MR"
    with pytest.raises(ValueError, match="not a RECIST"):
        derive_episodes(frames)


def test_frames_may_be_given_as_a_mapping_of_tables() -> None:
    frames = frames_from_records([one_episode([(56, "SD")])])
    by_name = {
        name: getattr(frames, name) for name in ("courses", "episodes", "adverse_events", "responses", "follow_ups")
    }
    assert derive_episodes(by_name).equals(derive_episodes(frames))


# --- generated edge cases -------------------------------------------------------------------------

DAY_ZERO = date(2021, 1, 1)
TERMS = [
    ("colitis", "gastrointestinal"),
    ("diarrhea", "gastrointestinal"),
    ("pneumonitis", "pulmonary"),
    ("hepatitis", "hepatic"),
    ("other", "other"),  # "Other (specify)": never the same term as another
]
CATEGORIES = ["CR", "PR", "SD", "PD", "NE", "iCR", "iPR", "iSD", "iUPD", "iCPD"]

# Any day in a short span, or one of a few dates that the mid-month rule and other draws land on
# often, so ties and same-month clamps are common.
COMMON_DAYS = [date(2021, month, day) for month in (1, 2, 3) for day in (1, 14, 15, 16)]
days = st.one_of(
    st.integers(min_value=-40, max_value=500).map(lambda offset: DAY_ZERO + timedelta(days=offset)),
    st.sampled_from(COMMON_DAYS),
)
maybe_day = st.none() | days


@st.composite
def partial_dates(draw: st.DrawFn) -> PartialDate:
    value = draw(days)
    if draw(st.booleans()):
        return PartialDate.month(value.year, value.month)
    return PartialDate(value, DatePrecision.DAY)


@st.composite
def iraes(draw: st.DrawFn, episode_id: int | None) -> IraeRecord:
    term, organ = draw(st.sampled_from(TERMS))
    return IraeRecord(
        episode_id=episode_id,
        ctcae_term=term,
        organ_category=organ,
        grade=draw(st.integers(1, 5)),
        onset=draw(st.none() | partial_dates()) if draw(st.integers(0, 9)) == 0 else draw(partial_dates()),
        resolved_to_grade=draw(st.none() | st.integers(0, 4)),
    )


@st.composite
def follow_ups(draw: st.DrawFn, episode_id: int) -> FollowUpRecord:
    return FollowUpRecord(
        episode_id=episode_id,
        follow_up_date=draw(days),
        vital_status=draw(st.sampled_from(["alive", "dead", "unknown"])),
        progression_date=draw(maybe_day),
        rechallenge_stopped_date=draw(maybe_day),
        death_date=draw(st.none() | st.none() | days),
        last_known_alive_date=draw(maybe_day),
    )


@st.composite
def patients(draw: st.DrawFn) -> PatientRecords:
    """One patient with ids 0..k-1 for its episodes (renumbered across the batch later)."""
    course = None
    if draw(st.integers(0, 9)) > 0:
        course = CourseRecord(
            start=draw(st.none() | partial_dates()) if draw(st.integers(0, 19)) == 0 else draw(partial_dates()),
            stop=draw(st.none() | partial_dates()),
            progression=draw(st.none() | partial_dates()),
            stop_reason=None,
        )
    count = draw(st.integers(1, 3))
    sequence = draw(st.permutations(range(1, count + 1)))
    episodes = tuple(
        EpisodeRecord(id=i, sequence_number=sequence[i], start_date=draw(days) if draw(st.integers(0, 19)) else None)
        for i in range(count)
    )
    owners: list[int | None] = [None, *range(count)]
    return PatientRecords(
        course=course,
        episodes=episodes,
        iraes=tuple(draw(iraes(owner)) for owner in owners for _ in range(draw(st.integers(0, 3)))),
        responses=tuple(
            ResponseRecord(i, draw(days), draw(st.sampled_from(CATEGORIES)))
            for i in range(count)
            for _ in range(draw(st.integers(0, 6)))
        ),
        follow_ups=tuple(draw(follow_ups(i)) for i in range(count) for _ in range(draw(st.integers(0, 3)))),
    )


def renumbered(batch: list[PatientRecords]) -> list[PatientRecords]:
    """Give every episode a batch-wide id (10, 11, …)."""
    result, next_id = [], 10
    for records in batch:
        ids = {episode.id: next_id + i for i, episode in enumerate(records.episodes)}
        next_id += len(ids)

        def moved(record, ids=ids):
            return replace(record, episode_id=ids[record.episode_id])

        result.append(
            PatientRecords(
                course=records.course,
                episodes=tuple(
                    EpisodeRecord(id=ids[e.id], sequence_number=e.sequence_number, start_date=e.start_date)
                    for e in records.episodes
                ),
                iraes=tuple(i if i.episode_id is None else moved(i) for i in records.iraes),
                responses=tuple(moved(r) for r in records.responses),
                follow_ups=tuple(moved(f) for f in records.follow_ups),
            )
        )
    return result


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(patients(), min_size=1, max_size=5))
def test_generated_edge_cases_are_derived_the_same_both_ways(batch: list[PatientRecords]) -> None:
    assert_same(renumbered(batch))


# --- the whole generated cohort -------------------------------------------------------------------


@pytest.mark.slow
def test_the_set_wise_derivation_equals_the_per_record_one_on_a_20000_patient_cohort() -> None:
    cohort = generate_cohort(sites=20, patients=20_000, seed=2026)
    frame = derive_episodes(cohort_frames(cohort.patients))
    expected = per_record_rows(cohort_records(cohort.patients))
    assert len(frame) == len(expected) > 20_000
    assert mismatches(expected, frame) == []
    # The cohort exercises the rules, not only their defaults.
    assert set(frame["best_overall_response"].dropna()) >= {"CR", "PR", "SD", "PD", "iCR", "iPR", "iSD", "iCPD"}
    assert frame["pfs1_imputed"].any() and frame["tfi_imputed"].any()
    for kind in RECURRENCE_KINDS:
        assert set(frame[f"recurrence_{kind}_event_code"].dropna()) == {0, 1, 2}
