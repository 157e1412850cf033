"""Derived clinical variables (registry/derive.py): pure functions, no database.

Expected values are worked out by hand in the comments: days / 30.4375 for outcomes, calendar months
(whole months by the calendar plus the fraction of the month under way) for PFS1 and TFI.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from registry.dates import DAYS_PER_MONTH, PartialDate
from registry.derive import (
    RESPONSE_CONFIRMATION_MIN_DAYS,
    STABLE_DISEASE_MIN_DAYS,
    CompetingTime,
    PriorIrae,
    ResponseObservation,
    TimeToEvent,
    all_prior_iraes_resolved_to_grade1,
    best_overall_response,
    derive_patient,
    disease_control,
    irae_recurrence,
    last_adequate_assessment,
    objective_response,
    overall_survival_from_rechallenge,
    progression_date_from_responses,
    progression_free_survival_1,
    progression_free_survival_2,
    progression_free_survival_2_last_contact,
    response_evaluable,
    time_to_irae,
    treatment_free_interval_months,
    worst_prior_irae_grade,
)
from registry.records import (
    CourseRecord,
    EpisodeRecord,
    FollowUpRecord,
    IraeRecord,
    PatientRecords,
    ResponseRecord,
)

START = date(2021, 1, 1)
EVERY_DAY_OF_2023 = [date(2023, 1, 1) + timedelta(days=offset) for offset in range(365)]


def months(days: int) -> float:
    return pytest.approx(days / DAYS_PER_MONTH)


def day(offset: int) -> date:
    """The date ``offset`` days after the rechallenge start."""
    return START + timedelta(days=offset)


def responses(*pairs: tuple[str, str]) -> list[ResponseObservation]:
    return [ResponseObservation(assessed_on=date.fromisoformat(on), category=cat) for on, cat in pairs]


def assessed(*pairs: tuple[int, str]) -> list[ResponseObservation]:
    """Assessments given as (days after START, category)."""
    return [ResponseObservation(assessed_on=day(offset), category=cat) for offset, cat in pairs]


def irae(term: str, organ: str, grade: int, **kwargs: object) -> PriorIrae:
    return PriorIrae(ctcae_term=term, organ_category=organ, grade=grade, **kwargs)  # type: ignore[arg-type]


def assert_missing(result: TimeToEvent | CompetingTime, reason_part: str) -> None:
    assert result.months is None
    assert result.end_date is None
    assert result.imputed is False
    assert result.missing_reason is not None
    assert reason_part in result.missing_reason


def test_the_response_time_windows_are_four_and_six_weeks() -> None:
    assert (RESPONSE_CONFIRMATION_MIN_DAYS, STABLE_DISEASE_MIN_DAYS) == (28, 42)


# --- PFS1 (calendar months) ---------------------------------------------------------------------------


def test_pfs1_progression_is_an_event_at_the_progression_date() -> None:
    result = progression_free_survival_1(
        start=START, progression=date(2021, 7, 2), stop=date(2021, 8, 1), last_contact=date(2022, 1, 1)
    )
    # 1 Jan → 1 Jul is 6 months, then 1 of the 31 days of 1 Jul → 1 Aug.
    assert result == TimeToEvent(
        months=pytest.approx(6 + 1 / 31), event=True, imputed=False, end_date=date(2021, 7, 2), missing_reason=None
    )


@pytest.mark.parametrize(
    ("stop", "last_contact", "censored_on", "expected_months"),
    [
        (date(2021, 6, 1), date(2021, 9, 1), date(2021, 9, 1), 8.0),
        (date(2021, 9, 1), date(2021, 6, 1), date(2021, 9, 1), 8.0),
        (date(2021, 6, 1), None, date(2021, 6, 1), 5.0),
        (None, date(2021, 9, 1), date(2021, 9, 1), 8.0),
    ],
)
def test_pfs1_without_progression_is_censored_at_the_later_of_stop_and_last_contact(
    stop: date | None, last_contact: date | None, censored_on: date, expected_months: float
) -> None:
    result = progression_free_survival_1(start=START, progression=None, stop=stop, last_contact=last_contact)
    assert (result.months, result.event, result.end_date) == (expected_months, False, censored_on)


def test_a_toxicity_stop_without_progression_gives_a_censored_pfs1_up_to_the_rechallenge() -> None:
    # The issue's example: stopped for toxicity at 2 months, no progression by rechallenge at 5 months.
    result = progression_free_survival_1(
        start=START, progression=None, stop=date(2021, 3, 1), last_contact=date(2021, 6, 1)
    )
    assert (result.months, result.event) == (5.0, False)


@pytest.mark.parametrize("start", EVERY_DAY_OF_2023, ids=str)
def test_an_exact_twelve_month_pfs1_is_twelve_months_on_every_start_day(start: date) -> None:
    anniversary = date(2024, start.month, start.day)
    result = progression_free_survival_1(start=start, progression=anniversary, stop=None, last_contact=None)
    assert (result.months, result.event) == (12.0, True)


def test_pfs1_one_day_short_of_a_year_is_below_twelve_months() -> None:
    # 2 Jan 2021 → 2 Dec 2021 is 11 months, then 30 of the 31 days of 2 Dec → 2 Jan.
    result = progression_free_survival_1(
        start=date(2021, 1, 2), progression=date(2022, 1, 1), stop=None, last_contact=None
    )
    assert result.months == pytest.approx(11 + 30 / 31)


def test_pfs1_without_a_start_date_is_missing() -> None:
    result = progression_free_survival_1(start=None, progression=date(2021, 7, 1), stop=None, last_contact=None)
    assert_missing(result, "start date is missing")
    assert result.event is None


def test_pfs1_without_progression_or_any_censoring_date_is_missing() -> None:
    result = progression_free_survival_1(start=START, progression=None, stop=None, last_contact=None)
    assert_missing(result, "no stop or last-contact date")


def test_pfs1_progression_before_start_is_missing_with_a_reason() -> None:
    result = progression_free_survival_1(start=START, progression=date(2020, 12, 1), stop=None, last_contact=None)
    assert_missing(result, "progression date is before the ICI-1 start date")


def test_pfs1_censoring_date_before_start_is_missing_with_a_reason() -> None:
    result = progression_free_survival_1(start=START, progression=None, stop=date(2020, 12, 1), last_contact=None)
    assert_missing(result, "censoring date")


def test_pfs1_progression_on_the_start_day_is_zero_months_with_an_event() -> None:
    result = progression_free_survival_1(start=START, progression=START, stop=None, last_contact=None)
    assert (result.months, result.event) == (0.0, True)


def test_pfs1_a_month_precision_start_propagates_imputed() -> None:
    result = progression_free_survival_1(
        start=PartialDate.month(2021, 1), progression=date(2021, 4, 16), stop=None, last_contact=None
    )
    # 15 Jan → 15 Apr is 3 months, then 1 of the 30 days of 15 Apr → 15 May.
    assert result.months == pytest.approx(3 + 1 / 30)
    assert result.imputed is True


def test_pfs1_a_month_precision_progression_propagates_imputed() -> None:
    result = progression_free_survival_1(
        start=START, progression=PartialDate.month(2021, 3), stop=None, last_contact=None
    )
    # 1 Jan → 1 Mar is 2 months, then 14 of the 31 days of 1 Mar → 1 Apr.
    assert result.end_date == date(2021, 3, 15)
    assert result.months == pytest.approx(2 + 14 / 31)
    assert result.imputed is True


def test_pfs1_an_imputed_stop_that_is_not_the_censoring_date_does_not_flag_imputed() -> None:
    result = progression_free_survival_1(
        start=START, progression=None, stop=PartialDate.month(2021, 3), last_contact=date(2021, 5, 1)
    )
    assert result.end_date == date(2021, 5, 1)
    assert result.imputed is False


def test_pfs1_end_before_start_only_through_mid_month_imputation_counts_as_zero_months() -> None:
    result = progression_free_survival_1(
        start=PartialDate.month(2021, 3), progression=date(2021, 3, 5), stop=None, last_contact=None
    )
    assert result == TimeToEvent(months=0.0, event=True, imputed=True, end_date=date(2021, 3, 15), missing_reason=None)


# --- Treatment-free interval (calendar months) ------------------------------------------------------


@pytest.mark.parametrize(
    ("previous_stop", "rechallenge_start", "expected"),
    [
        (date(2021, 1, 1), date(2021, 1, 1), (0.0, False)),
        # 365 days: exactly 12 calendar months (365 / 30.4375 would be 11.99).
        (date(2021, 1, 1), date(2022, 1, 1), (12.0, False)),
        (PartialDate.month(2021, 1), date(2021, 7, 15), (6.0, True)),
        # 10 Jul → 10 Dec is 5 months, then 22 of the 31 days of 10 Dec → 10 Jan.
        (date(2020, 7, 10), date(2021, 1, 1), (pytest.approx(5 + 22 / 31), False)),
    ],
)
def test_tfi_is_calendar_months_from_previous_stop_to_rechallenge_start(
    previous_stop: PartialDate | date, rechallenge_start: date, expected: tuple[float, bool]
) -> None:
    assert treatment_free_interval_months(previous_stop=previous_stop, rechallenge_start=rechallenge_start) == expected


def test_an_exact_twelve_month_tfi_is_twelve_months_on_every_stop_day() -> None:
    values = {
        treatment_free_interval_months(previous_stop=stop, rechallenge_start=date(2024, stop.month, stop.day))
        for stop in EVERY_DAY_OF_2023
    }
    assert values == {(12.0, False)}


def test_a_tfi_with_the_stop_imputed_after_a_same_month_rechallenge_is_zero_and_imputed() -> None:
    assert treatment_free_interval_months(
        previous_stop=PartialDate.month(2021, 3), rechallenge_start=date(2021, 3, 5)
    ) == (0.0, True)


@pytest.mark.parametrize(
    ("previous_stop", "rechallenge_start"),
    [(None, date(2021, 7, 1)), (date(2021, 1, 1), None), (None, None)],
)
def test_tfi_with_a_missing_date_is_none(previous_stop: date | None, rechallenge_start: date | None) -> None:
    assert treatment_free_interval_months(previous_stop=previous_stop, rechallenge_start=rechallenge_start) == (
        None,
        False,
    )


def test_tfi_with_rechallenge_before_the_stop_is_none() -> None:
    assert treatment_free_interval_months(previous_stop=date(2021, 7, 1), rechallenge_start=date(2021, 6, 1)) == (
        None,
        False,
    )


# --- Prior irAEs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grades", "worst"),
    [([], 0), ([1], 1), ([2, 4, 1], 4), ([3, 3], 3)],
)
def test_worst_prior_irae_grade_is_the_highest_grade_or_zero(grades: list[int], worst: int) -> None:
    iraes = [irae("colitis", "gastrointestinal", grade) for grade in grades]
    assert worst_prior_irae_grade(iraes) == worst


@pytest.mark.parametrize(
    ("iraes", "expected"),
    [
        pytest.param([], True, id="no irAE"),
        pytest.param([(3, 1), (2, 0)], True, id="all resolved to grade 1 or better"),
        pytest.param([(3, 1), (2, 2)], False, id="one known still at grade 2"),
        pytest.param([(3, None), (2, 2)], False, id="known unresolved beats unknown"),
        pytest.param([(3, 1), (2, None)], None, id="one unknown, none unresolved"),
        pytest.param([(5, None)], False, id="fatal irAE"),
        pytest.param([(1, None)], True, id="grade-1 irAE never exceeded grade 1"),
    ],
)
def test_all_prior_iraes_resolved_to_grade1(iraes: list[tuple[int, int | None]], expected: bool | None) -> None:
    records = [irae("colitis", "gastrointestinal", g, resolved_to_grade=r) for g, r in iraes]
    assert all_prior_iraes_resolved_to_grade1(records) is expected


@pytest.mark.parametrize(("grade", "resolved_to_grade"), [(0, None), (6, None), (3, 5), (3, -1)])
def test_an_irae_with_an_impossible_grade_is_rejected(grade: int, resolved_to_grade: int | None) -> None:
    with pytest.raises(ValueError, match="grade"):
        irae("colitis", "gastrointestinal", grade, resolved_to_grade=resolved_to_grade)


# --- Best overall response: RECIST 1.1 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "best"),
    [
        pytest.param([(56, "PR"), (112, "PR")], "PR", id="PR confirmed by PR 8 weeks later"),
        pytest.param([(56, "PR"), (112, "CR")], "PR", id="PR confirmed by CR; CR itself unconfirmed"),
        pytest.param([(56, "CR"), (84, "CR")], "CR", id="CR confirmed exactly 28 days later"),
        pytest.param([(56, "CR"), (83, "CR")], "SD", id="CR 27 days later is no confirmation: SD"),
        pytest.param([(56, "CR"), (112, "PR")], "PR", id="CR then PR reads as PR"),
        pytest.param([(56, "PR"), (112, "SD")], "SD", id="PR then SD: unconfirmed PR falls back to SD"),
        pytest.param([(56, "PR"), (112, "SD"), (168, "PR")], "PR", id="PR confirmed across an SD"),
        pytest.param([(56, "PD"), (112, "PR")], "PD", id="PD then PR: nothing after progression counts"),
        pytest.param([(56, "PR"), (84, "PD"), (112, "PR")], "SD", id="confirmation after PD does not count"),
        pytest.param([(21, "SD"), (56, "PD")], "PD", id="SD at 3 weeks then PD: SD too early"),
        pytest.param([(42, "SD")], "SD", id="SD exactly 6 weeks after start"),
        pytest.param([(41, "SD")], "NE", id="SD one day short of 6 weeks, nothing else"),
        pytest.param([(35, "PR")], "NE", id="a lone early PR"),
        pytest.param([(35, "PR"), (70, "PD")], "PD", id="early unconfirmed PR then PD"),
        pytest.param([(56, "PR"), (70, "PD")], "SD", id="unconfirmed PR after 6 weeks then PD"),
        pytest.param([(56, "NE"), (112, "NE")], "NE", id="nothing evaluable"),
        pytest.param([(56, "NE"), (112, "PD")], "PD", id="NE then PD"),
        pytest.param([(112, "PR"), (56, "PR")], "PR", id="date order, not list order"),
    ],
)
def test_recist_best_overall_response(pairs: list[tuple[int, str]], best: str) -> None:
    assert best_overall_response(assessed(*pairs), rechallenge_start=START) == best


def test_best_overall_response_without_assessments_is_none() -> None:
    assert best_overall_response([], rechallenge_start=START) is None


def test_best_overall_response_without_a_rechallenge_start_is_none() -> None:
    assert best_overall_response(assessed((56, "SD")), rechallenge_start=None) is None


# --- Best overall response: iRECIST ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "best"),
    [
        pytest.param([(56, "iUPD"), (84, "iCPD"), (140, "iPR")], "iCPD", id="iUPD → iCPD → iPR"),
        pytest.param([(56, "iSD"), (112, "iUPD")], "iSD", id="iSD beats a later iUPD"),
        pytest.param([(56, "iUPD")], "iUPD", id="lone iUPD stays unconfirmed"),
        pytest.param([(56, "iUPD"), (84, "iCPD")], "iCPD", id="confirmed iUPD"),
        pytest.param([(56, "iUPD"), (84, "NE"), (112, "iCPD")], "iCPD", id="NE between"),
        pytest.param([(56, "iUPD"), (112, "iSD")], "iSD", id="iUPD reset by iSD"),
        pytest.param([(56, "iUPD"), (112, "iPR")], "iSD", id="pseudoprogression then an unconfirmed iPR"),
        pytest.param([(56, "iUPD"), (112, "iPR"), (168, "iPR")], "iPR", id="pseudoprogression then confirmed iPR"),
        pytest.param([(56, "iCR"), (112, "iCR")], "iCR", id="confirmed iCR"),
        pytest.param([(21, "iSD"), (56, "iUPD"), (84, "iCPD")], "iCPD", id="iSD at 3 weeks then iCPD"),
        pytest.param([(56, "iUPD"), (112, "iSD"), (168, "iUPD")], "iSD", id="reset then a new unconfirmed iUPD"),
        pytest.param([(112, "iCPD"), (56, "iUPD")], "iCPD", id="date order, not list order"),
    ],
)
def test_irecist_best_overall_response(pairs: list[tuple[int, str]], best: str) -> None:
    assert best_overall_response(assessed(*pairs), rechallenge_start=START) == best


def test_recist_rows_of_an_irecist_episode_are_read_as_irecist_not_dropped() -> None:
    # PR, PR (confirmed) in RECIST, then an iUPD: the episode is iRECIST and its BOR is iPR.
    observations = assessed((56, "PR"), (112, "PR"), (168, "iUPD"))
    assert best_overall_response(observations, rechallenge_start=START) == "iPR"


def test_an_unknown_response_category_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a RECIST"):
        ResponseObservation(assessed_on=START, category="MR")


# --- ORR, DCR, evaluable -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("best", "orr", "dcr", "evaluable"),
    [
        ("CR", True, True, True),
        ("PR", True, True, True),
        ("SD", False, True, True),
        ("PD", False, False, True),
        ("iCR", True, True, True),
        ("iPR", True, True, True),
        ("iSD", False, True, True),
        ("iUPD", False, False, True),
        ("iCPD", False, False, True),
        # Over all treated episodes, NE and no assessment are non-responders (not missing).
        ("NE", False, False, False),
        (None, False, False, False),
    ],
)
def test_objective_response_disease_control_and_evaluable_flags(
    best: str | None, orr: bool, dcr: bool, evaluable: bool
) -> None:
    assert (objective_response(best), disease_control(best), response_evaluable(best)) == (orr, dcr, evaluable)


def test_response_flags_reject_an_unknown_category() -> None:
    with pytest.raises(ValueError, match="not a RECIST"):
        objective_response("ORR")


# --- Progression date and last adequate assessment from response assessments -------------------------


@pytest.mark.parametrize(
    ("pairs", "progression"),
    [
        pytest.param(
            [("2021-02-01", "SD"), ("2021-05-01", "PD"), ("2021-03-01", "PD")],
            date(2021, 3, 1),
            id="earliest PD",
        ),
        pytest.param([("2021-02-01", "SD"), ("2021-03-01", "PR")], None, id="RECIST without PD"),
        pytest.param([], None, id="no assessments"),
        pytest.param([("2021-02-01", "iUPD"), ("2021-03-10", "iCPD")], date(2021, 2, 1), id="iUPD confirmed by iCPD"),
        pytest.param([("2021-02-01", "iSD"), ("2021-03-01", "iCPD")], date(2021, 3, 1), id="iCPD without iUPD"),
        pytest.param([("2021-02-01", "iUPD"), ("2021-03-01", "iSD")], None, id="iUPD then iSD"),
        pytest.param([("2021-02-01", "iUPD")], None, id="iUPD with nothing after it"),
        pytest.param(
            [("2021-02-01", "iUPD"), ("2021-03-01", "NE"), ("2021-04-01", "iUPD"), ("2021-05-01", "iCPD")],
            date(2021, 2, 1),
            id="first iUPD of the confirmed run",
        ),
        pytest.param(
            [("2021-02-01", "iUPD"), ("2021-03-01", "iPR"), ("2021-05-01", "iUPD"), ("2021-06-01", "iCPD")],
            date(2021, 5, 1),
            id="iUPD after a reset",
        ),
        pytest.param(
            [("2021-02-01", "PD"), ("2021-03-01", "iUPD"), ("2021-04-01", "iSD")],
            None,
            id="RECIST PD read as iUPD, then reset by iSD",
        ),
        pytest.param(
            [("2021-02-01", "PD"), ("2021-03-01", "iCPD")],
            date(2021, 2, 1),
            id="RECIST PD then iCPD: progression dates back to the PD",
        ),
    ],
)
def test_progression_date_from_responses(pairs: list[tuple[str, str]], progression: date | None) -> None:
    assert progression_date_from_responses(responses(*pairs)) == progression


@pytest.mark.parametrize(
    ("pairs", "last"),
    [
        pytest.param([], None, id="no assessments"),
        pytest.param([("2021-03-01", "NE")], None, id="only NE"),
        pytest.param([("2021-03-01", "SD"), ("2021-05-01", "NE")], date(2021, 3, 1), id="NE is not adequate"),
        pytest.param(
            [("2021-03-01", "SD"), ("2021-05-01", "PR"), ("2021-07-01", "PD"), ("2021-09-01", "SD")],
            date(2021, 5, 1),
            id="the last before progression",
        ),
        pytest.param([("2021-03-01", "iSD"), ("2021-05-01", "iUPD")], date(2021, 5, 1), id="unconfirmed iUPD"),
    ],
)
def test_last_adequate_assessment(pairs: list[tuple[str, str]], last: date | None) -> None:
    assert last_adequate_assessment(responses(*pairs)) == last


# --- PFS2 -------------------------------------------------------------------------------------------


def test_pfs2_progression_is_an_event() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START, progression_dates=[date(2021, 4, 1)], death_date=None, last_adequate_assessment=None
    )
    assert result == TimeToEvent(
        months=months(90), event=True, imputed=False, end_date=date(2021, 4, 1), missing_reason=None
    )


def test_pfs2_death_without_progression_is_an_event() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START, progression_dates=[], death_date=date(2021, 3, 1), last_adequate_assessment=None
    )
    assert (result.months, result.event, result.end_date) == (months(59), True, date(2021, 3, 1))


def test_pfs2_uses_the_earliest_progression_and_ignores_none_entries() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START,
        progression_dates=[None, date(2021, 5, 1), date(2021, 3, 1), None],
        death_date=date(2021, 6, 1),
        last_adequate_assessment=date(2021, 2, 1),
    )
    assert (result.end_date, result.event) == (date(2021, 3, 1), True)


def test_pfs2_progression_and_death_on_the_same_day_are_one_event() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START,
        progression_dates=[date(2021, 2, 1)],
        death_date=date(2021, 2, 1),
        last_adequate_assessment=None,
    )
    assert (result.months, result.event, result.end_date) == (months(31), True, date(2021, 2, 1))


def test_pfs2_progression_on_the_rechallenge_start_day_is_zero_months_with_an_event() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START, progression_dates=[START], death_date=None, last_adequate_assessment=None
    )
    assert (result.months, result.event) == (0.0, True)


def test_pfs2_death_after_the_last_adequate_assessment_is_still_the_event() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START,
        progression_dates=[None],
        death_date=date(2021, 9, 1),
        last_adequate_assessment=date(2021, 6, 1),
    )
    assert (result.end_date, result.event) == (date(2021, 9, 1), True)


def test_pfs2_without_progression_or_death_is_censored_at_the_last_adequate_assessment() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START, progression_dates=[None], death_date=None, last_adequate_assessment=date(2021, 6, 1)
    )
    assert result == TimeToEvent(
        months=months(151), event=False, imputed=False, end_date=date(2021, 6, 1), missing_reason=None
    )


def test_pfs2_without_any_adequate_assessment_is_censored_at_the_rechallenge_start() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START, progression_dates=[], death_date=None, last_adequate_assessment=None
    )
    assert result == TimeToEvent(months=0.0, event=False, imputed=False, end_date=START, missing_reason=None)


def test_pfs2_with_the_last_assessment_before_the_start_is_missing_with_a_reason() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START, progression_dates=[], death_date=None, last_adequate_assessment=date(2020, 12, 1)
    )
    assert_missing(result, "last adequate tumour assessment is before the rechallenge start")


def test_pfs2_without_a_rechallenge_start_is_missing() -> None:
    result = progression_free_survival_2(
        rechallenge_start=None, progression_dates=[date(2021, 4, 1)], death_date=None, last_adequate_assessment=None
    )
    assert_missing(result, "rechallenge start date is missing")


def test_pfs2_progression_before_the_rechallenge_start_is_missing_with_a_reason() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START,
        progression_dates=[date(2020, 11, 1), date(2021, 4, 1)],
        death_date=None,
        last_adequate_assessment=None,
    )
    assert_missing(result, "progression date is before the rechallenge start date")


def test_the_last_contact_variant_of_pfs2_is_censored_at_last_contact() -> None:
    result = progression_free_survival_2_last_contact(
        rechallenge_start=START, progression_dates=[None], death_date=None, last_contact=date(2021, 6, 1)
    )
    assert result == TimeToEvent(
        months=months(151), event=False, imputed=False, end_date=date(2021, 6, 1), missing_reason=None
    )


@pytest.mark.parametrize(
    ("last_contact", "reason_part"),
    [
        (None, "no last-contact date"),
        (date(2020, 12, 31), "last-contact date is before the rechallenge start"),
    ],
)
def test_the_last_contact_variant_without_a_usable_last_contact_is_missing_not_zero(
    last_contact: date | None, reason_part: str
) -> None:
    result = progression_free_survival_2_last_contact(
        rechallenge_start=START, progression_dates=[], death_date=None, last_contact=last_contact
    )
    assert_missing(result, reason_part)


# --- OS ---------------------------------------------------------------------------------------------


def test_os_death_is_an_event() -> None:
    result = overall_survival_from_rechallenge(
        rechallenge_start=START, death_date=date(2022, 1, 1), last_contact=date(2021, 12, 1)
    )
    assert (result.months, result.event, result.end_date) == (months(365), True, date(2022, 1, 1))


def test_os_alive_is_censored_at_last_contact() -> None:
    result = overall_survival_from_rechallenge(rechallenge_start=START, death_date=None, last_contact=date(2021, 4, 1))
    assert (result.months, result.event, result.end_date) == (months(90), False, date(2021, 4, 1))


def test_os_death_before_the_rechallenge_start_is_missing_with_a_reason() -> None:
    result = overall_survival_from_rechallenge(rechallenge_start=START, death_date=date(2020, 6, 1), last_contact=None)
    assert_missing(result, "death date is before the rechallenge start date")


def test_os_without_death_or_last_contact_is_missing() -> None:
    result = overall_survival_from_rechallenge(rechallenge_start=START, death_date=None, last_contact=None)
    assert_missing(result, "no death")


# --- irAE recurrence --------------------------------------------------------------------------------

PRIOR_COLITIS = irae("colitis", "gastrointestinal", 3, onset=PartialDate.month(2020, 5), resolved_to_grade=1)
ALIVE_ON = date(2021, 12, 1)  # 334 days after START


def recurrence(during: list[PriorIrae], *, death: date | None = None, last_contact: date | None = ALIVE_ON):
    return irae_recurrence(
        prior=[PRIOR_COLITIS],
        during_rechallenge=during,
        rechallenge_start=START,
        death_date=death,
        last_contact=last_contact,
    )


def test_no_irae_during_rechallenge_is_no_recurrence_and_every_time_is_censored_at_last_contact() -> None:
    result = recurrence([])
    assert (result.any_grade, result.grade3_or_higher, result.same_organ, result.same_term) == (
        False,
        False,
        False,
        False,
    )
    censored = CompetingTime(
        months=months(334), event_type="censored", imputed=False, end_date=ALIVE_ON, missing_reason=None
    )
    assert result.time_to_any_grade == result.time_to_same_term == censored
    assert result.time_to_same_organ == result.time_to_grade3_or_higher == censored


@pytest.mark.parametrize(
    ("during", "grade3", "same_organ", "same_term"),
    [
        pytest.param(irae("colitis", "gastrointestinal", 2), False, True, True, id="same term"),
        pytest.param(irae("diarrhea", "gastrointestinal", 3), True, True, False, id="same organ, new term"),
        pytest.param(irae("pneumonitis", "pulmonary", 4), True, False, False, id="new organ"),
    ],
)
def test_irae_recurrence_classifies_grade_organ_and_term(
    during: PriorIrae, grade3: bool, same_organ: bool, same_term: bool
) -> None:
    result = recurrence([during])
    assert (result.any_grade, result.grade3_or_higher, result.same_organ, result.same_term) == (
        True,
        grade3,
        same_organ,
        same_term,
    )


def test_an_irae_outside_the_ctcae_list_is_never_the_same_term_as_another() -> None:
    result = irae_recurrence(
        prior=[irae("other", "other", 2, onset=PartialDate.month(2020, 5))],
        during_rechallenge=[irae("other", "other", 2, onset=PartialDate(date(2021, 3, 1)))],
        rechallenge_start=START,
        death_date=None,
        last_contact=ALIVE_ON,
    )
    assert (result.any_grade, result.same_organ, result.same_term) == (True, True, False)


def test_irae_recurrence_after_a_course_without_iraes_is_never_same_organ() -> None:
    result = irae_recurrence(
        prior=[],
        during_rechallenge=[irae("colitis", "gastrointestinal", 2, onset=PartialDate(date(2021, 3, 1)))],
        rechallenge_start=START,
        death_date=None,
        last_contact=ALIVE_ON,
    )
    assert (result.any_grade, result.same_organ, result.same_term) == (True, False, False)


def test_a_new_irae_before_a_same_term_recurrence_times_each_variable_to_its_own_irae() -> None:
    during = [
        irae("pneumonitis", "pulmonary", 2, onset=PartialDate(date(2021, 2, 1))),  # 31 days: new
        irae("colitis", "gastrointestinal", 3, onset=PartialDate(date(2021, 4, 1))),  # 90 days: recurrence
    ]
    result = recurrence(during)
    assert (result.time_to_any_grade.months, result.time_to_any_grade.event_type) == (months(31), "irae")
    assert (result.time_to_same_term.months, result.time_to_same_term.event_type) == (months(90), "irae")
    assert (result.time_to_same_organ.months, result.time_to_same_organ.event_type) == (months(90), "irae")
    assert (result.time_to_grade3_or_higher.months, result.time_to_grade3_or_higher.event_code) == (months(90), 1)


def test_death_before_any_recurrence_is_the_competing_event() -> None:
    during = [irae("pneumonitis", "pulmonary", 1, onset=PartialDate(date(2021, 2, 1)))]
    result = recurrence(during, death=date(2021, 5, 1))  # death 120 days after start
    assert result.time_to_any_grade.event_type == "irae"
    assert result.time_to_same_term == CompetingTime(
        months=months(120), event_type="death", imputed=False, end_date=date(2021, 5, 1), missing_reason=None
    )
    assert result.time_to_same_term.event_code == 2


def test_an_irae_on_the_day_of_death_counts_as_the_irae() -> None:
    time = time_to_irae(
        rechallenge_start=START, onsets=[PartialDate(date(2021, 5, 1))], death_date=date(2021, 5, 1), last_contact=None
    )
    assert (time.event_type, time.event_code) == ("irae", 1)


@pytest.mark.parametrize(("event_type", "code"), [("censored", 0), ("irae", 1), ("death", 2), (None, None)])
def test_competing_event_codes_are_those_aalen_johansen_reads(event_type: str | None, code: int | None) -> None:
    time = CompetingTime(months=1.0, event_type=event_type, imputed=False, end_date=START, missing_reason=None)
    assert time.event_code == code


def test_time_to_recurrence_from_a_month_precision_onset_is_imputed() -> None:
    result = recurrence([irae("colitis", "gastrointestinal", 2, onset=PartialDate.month(2021, 3))])
    assert (result.time_to_same_term.months, result.time_to_same_term.imputed) == (months(73), True)


def test_an_earliest_onset_tied_between_day_and_month_precision_is_not_imputed() -> None:
    time = time_to_irae(
        rechallenge_start=START,
        onsets=[PartialDate.month(2021, 3), PartialDate(date(2021, 3, 15))],
        death_date=None,
        last_contact=None,
    )
    assert (time.months, time.imputed) == (months(73), False)


def test_time_to_recurrence_with_an_onset_imputed_before_a_same_month_start_is_zero() -> None:
    time = time_to_irae(
        rechallenge_start=date(2021, 1, 20), onsets=[PartialDate.month(2021, 1)], death_date=None, last_contact=None
    )
    assert (time.months, time.event_type, time.imputed, time.end_date) == (0.0, "irae", True, date(2021, 1, 20))


@pytest.mark.parametrize(
    ("onsets", "rechallenge_start", "last_contact", "reason_part"),
    [
        pytest.param([PartialDate(date(2021, 3, 1)), None], START, ALIVE_ON, "onset date is missing", id="an onset"),
        pytest.param([PartialDate(date(2021, 3, 1))], None, ALIVE_ON, "start date is missing", id="start"),
        pytest.param([PartialDate(date(2020, 12, 1))], START, ALIVE_ON, "onset date is before", id="onset before"),
        pytest.param([], START, None, "no last-contact date", id="nothing to censor at"),
    ],
)
def test_time_to_recurrence_is_missing_when_it_cannot_be_known(
    onsets: list[PartialDate | None], rechallenge_start: date | None, last_contact: date | None, reason_part: str
) -> None:
    time = time_to_irae(rechallenge_start=rechallenge_start, onsets=onsets, death_date=None, last_contact=last_contact)
    assert_missing(time, reason_part)
    assert (time.event_type, time.event_code) == (None, None)


# --- One patient: each episode against its preceding course ------------------------------------------

EPISODE_1, EPISODE_2 = 11, 12


def two_rechallenges() -> PatientRecords:
    """ICI-1 (month-only start, toxicity stop), a first rechallenge with a confirmed PR, a second one."""
    return PatientRecords(
        course=CourseRecord(
            start=PartialDate.month(2020, 1),  # 2020-01-15
            stop=PartialDate(date(2020, 7, 10)),
            progression=None,
            stop_reason="toxicity",
            iraes_during_course="yes",
        ),
        episodes=(
            EpisodeRecord(id=EPISODE_2, sequence_number=2, start_date=date(2022, 1, 10)),
            EpisodeRecord(id=EPISODE_1, sequence_number=1, start_date=date(2021, 1, 1)),
        ),
        iraes=(
            IraeRecord(None, "colitis", "gastrointestinal", 3, PartialDate(date(2020, 4, 1)), resolved_to_grade=1),
            IraeRecord(EPISODE_1, "hepatitis", "hepatic", 2, PartialDate(date(2021, 2, 1)), resolved_to_grade=0),
            IraeRecord(EPISODE_2, "hepatitis", "hepatic", 3, PartialDate(date(2022, 2, 1))),
        ),
        responses=(
            ResponseRecord(EPISODE_1, date(2021, 3, 1), "SD"),
            ResponseRecord(EPISODE_1, date(2021, 5, 1), "PR"),
            ResponseRecord(EPISODE_1, date(2021, 7, 1), "PR"),
            ResponseRecord(EPISODE_1, date(2021, 9, 1), "PD"),
        ),
        follow_ups=(
            FollowUpRecord(EPISODE_1, date(2021, 6, 1), "alive", last_known_alive_date=date(2021, 6, 1)),
            FollowUpRecord(
                EPISODE_1,
                date(2021, 10, 1),
                "alive",
                progression_date=date(2021, 9, 1),
                rechallenge_stopped_date=date(2021, 9, 10),
                rechallenge_stop_reason="progression",
                last_known_alive_date=date(2021, 10, 1),
            ),
            FollowUpRecord(
                EPISODE_2,
                date(2022, 3, 10),
                "dead",
                death_date=date(2022, 3, 1),
                last_known_alive_date=date(2022, 2, 15),
            ),
        ),
    )


def test_a_first_rechallenge_is_read_against_ici1() -> None:
    derived = derive_patient(two_rechallenges())
    first = derived.episodes[EPISODE_1]
    assert first.preceding_course == "ICI-1"
    # PFS1: 2020-01-15 (imputed) → censored at the rechallenge start 2021-01-01 (later than the stop):
    # 15 Jan → 15 Dec is 11 months, then 17 of the 31 days of 15 Dec → 15 Jan.
    assert first.pfs1 == TimeToEvent(
        months=pytest.approx(11 + 17 / 31), event=False, imputed=True, end_date=date(2021, 1, 1), missing_reason=None
    )
    assert derived.pfs1 == first.pfs1
    # TFI: 2020-07-10 → 2021-01-01 = 5 months and 22 of 31 days.
    assert (first.tfi_months, first.tfi_imputed) == (pytest.approx(5 + 22 / 31), False)
    assert (first.worst_prior_grade, first.all_prior_resolved) == (3, True)
    # SD at day 59, PR at 120 confirmed by PR at 181, then PD: a confirmed PR.
    assert (first.best_response, first.objective_response, first.disease_control) == ("PR", True, True)
    # PFS2: progression 2021-09-01 = 243 days; OS censored at the last alive contact 2021-10-01 = 273 days.
    assert (first.pfs2.months, first.pfs2.event) == (months(243), True)
    assert (first.os.months, first.os.event) == (months(273), False)
    recurrence = first.recurrence
    assert (recurrence.any_grade, recurrence.same_term, recurrence.same_organ, recurrence.grade3_or_higher) == (
        True,
        False,
        False,
        False,
    )
    assert (recurrence.time_to_any_grade.months, recurrence.time_to_any_grade.event_type) == (months(31), "irae")
    assert (recurrence.time_to_same_term.months, recurrence.time_to_same_term.event_type) == (months(273), "censored")


def test_a_second_rechallenge_is_read_against_the_first() -> None:
    second = derive_patient(two_rechallenges()).episodes[EPISODE_2]
    assert second.preceding_course == "rechallenge 1"
    # PFS1 = the first rechallenge's PFS2 in calendar months: 2021-01-01 → 2021-09-01 = 8 months.
    assert (second.pfs1.months, second.pfs1.event, second.pfs1.imputed) == (8.0, True, False)
    # TFI: first rechallenge stopped 2021-09-10 → 2022-01-10 = 4 months.
    assert (second.tfi_months, second.tfi_imputed) == (4.0, False)
    # Prior irAEs are the first rechallenge's: hepatitis grade 2, resolved.
    assert (second.worst_prior_grade, second.all_prior_resolved) == (2, True)
    # No assessment: not a responder over all treated, and not evaluable.
    assert (second.best_response, second.objective_response, second.disease_control) == (None, False, False)
    assert second.response_evaluable is False
    # Death 2022-03-01, 50 days after the start: the event of PFS2 (both variants) and OS.
    assert (second.pfs2.months, second.pfs2.event) == (months(50), True)
    assert (second.pfs2_last_contact.months, second.pfs2_last_contact.event) == (months(50), True)
    assert (second.os.months, second.os.event) == (months(50), True)
    # Hepatitis again, grade 3, 22 days in: a recurrence of the same term and organ.
    for kind in ("any_grade", "same_term", "same_organ", "grade3_or_higher"):
        assert second.recurrence.occurred(kind) is True
        assert (second.recurrence.time_to(kind).months, second.recurrence.time_to(kind).event_code) == (months(22), 1)


def censoring_case(*, categories: tuple[str, str]) -> PatientRecords:
    """One rechallenge: assessments on 2021-03-01 and 2021-05-01, last known alive 2021-06-15, then lost."""
    return PatientRecords(
        course=None,
        episodes=(EpisodeRecord(id=1, sequence_number=1, start_date=START),),
        responses=(
            ResponseRecord(1, date(2021, 3, 1), categories[0]),
            ResponseRecord(1, date(2021, 5, 1), categories[1]),
        ),
        follow_ups=(
            FollowUpRecord(1, date(2021, 6, 15), "alive", last_known_alive_date=date(2021, 6, 15)),
            FollowUpRecord(1, date(2021, 9, 1), "unknown", last_known_alive_date=date(2021, 6, 15)),
        ),
    )


@pytest.mark.parametrize(
    "categories",
    [
        pytest.param(("SD", "SD"), id="RECIST, no progression"),
        pytest.param(("iSD", "iUPD"), id="unconfirmed iUPD, then lost to follow-up"),
    ],
)
def test_pfs2_is_censored_at_the_last_assessment_and_its_variant_at_the_last_contact(
    categories: tuple[str, str],
) -> None:
    episode = derive_patient(censoring_case(categories=categories)).episodes[1]
    # Last adequate assessment 2021-05-01 = 120 days; last contact 2021-06-15 = 165 days.
    assert (episode.pfs2.months, episode.pfs2.event, episode.pfs2.end_date) == (months(120), False, date(2021, 5, 1))
    assert (episode.pfs2_last_contact.months, episode.pfs2_last_contact.event) == (months(165), False)


def test_an_episode_without_an_ici1_record_has_a_missing_pfs1_and_tfi() -> None:
    episode = derive_patient(censoring_case(categories=("SD", "SD"))).episodes[1]
    assert_missing(episode.pfs1, "no ICI-1 course")
    assert (episode.tfi_months, episode.tfi_imputed) == (None, False)


def test_the_api_dict_carries_the_issue_keys_rounded_with_the_imputed_names() -> None:
    derived = derive_patient(two_rechallenges())
    first = derived.episodes[EPISODE_1].api_dict()
    assert {
        "pfs1_months",
        "pfs1_event",
        "tfi_months",
        "best_overall_response",
        "objective_response",
        "disease_control",
        "pfs2_months",
        "pfs2_event",
        "os_months",
        "os_event",
        "imputed",
        "response_evaluable",
        "pfs2_last_contact_months",
        "pfs2_last_contact_event",
    } <= set(first)
    # 11 + 17/31 = 11.548…; 5 + 22/31 = 5.709…; 243 / 30.4375 = 7.983…
    assert (first["pfs1_months"], first["tfi_months"], first["pfs2_months"]) == (11.55, 5.71, 7.98)
    assert (first["pfs1_event"], first["best_overall_response"], first["objective_response"]) == (False, "PR", True)
    assert first["imputed"] == ["pfs1_months"]  # the month-only ICI-1 start
    assert first["recurrence_any_grade_event"] == "irae"
    second = derived.episodes[EPISODE_2].api_dict()
    assert (second["pfs1_months"], second["tfi_months"], second["imputed"]) == (8.0, 4.0, [])
    assert second["best_overall_response"] is None
