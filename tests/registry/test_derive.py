"""Derived clinical variables (registry/derive.py): pure functions, no database."""

from __future__ import annotations

from datetime import date

import pytest

from registry.dates import DAYS_PER_MONTH, PartialDate
from registry.derive import (
    PriorIrae,
    ResponseObservation,
    TimeToEvent,
    all_prior_iraes_resolved_to_grade1,
    best_overall_response,
    disease_control,
    irae_recurrence,
    objective_response,
    overall_survival_from_rechallenge,
    progression_date_from_responses,
    progression_free_survival_1,
    progression_free_survival_2,
    treatment_free_interval_months,
    worst_prior_irae_grade,
)

START = date(2021, 1, 1)


def months(days: int) -> float:
    return pytest.approx(days / DAYS_PER_MONTH)


def responses(*pairs: tuple[str, str]) -> list[ResponseObservation]:
    return [ResponseObservation(assessed_on=date.fromisoformat(day), category=cat) for day, cat in pairs]


def irae(term: str, organ: str, grade: int, **kwargs: object) -> PriorIrae:
    return PriorIrae(ctcae_term=term, organ_category=organ, grade=grade, **kwargs)  # type: ignore[arg-type]


def assert_missing(result: TimeToEvent, reason_part: str) -> None:
    assert result.months is None
    assert result.event is None
    assert result.end_date is None
    assert result.imputed is False
    assert result.missing_reason is not None
    assert reason_part in result.missing_reason


# --- PFS1 -------------------------------------------------------------------------------------------


def test_pfs1_progression_is_an_event_at_the_progression_date() -> None:
    result = progression_free_survival_1(
        start=START, progression=date(2021, 7, 2), stop=date(2021, 8, 1), last_contact=date(2022, 1, 1)
    )
    assert result == TimeToEvent(
        months=months(182), event=True, imputed=False, end_date=date(2021, 7, 2), missing_reason=None
    )


@pytest.mark.parametrize(
    ("stop", "last_contact", "censored_on"),
    [
        (date(2021, 6, 1), date(2021, 9, 1), date(2021, 9, 1)),
        (date(2021, 9, 1), date(2021, 6, 1), date(2021, 9, 1)),
        (date(2021, 6, 1), None, date(2021, 6, 1)),
        (None, date(2021, 9, 1), date(2021, 9, 1)),
    ],
)
def test_pfs1_without_progression_is_censored_at_the_later_of_stop_and_last_contact(
    stop: date | None, last_contact: date | None, censored_on: date
) -> None:
    result = progression_free_survival_1(start=START, progression=None, stop=stop, last_contact=last_contact)
    assert result.event is False
    assert result.end_date == censored_on
    assert result.months == months((censored_on - START).days)


def test_pfs1_without_a_start_date_is_missing() -> None:
    result = progression_free_survival_1(start=None, progression=date(2021, 7, 1), stop=None, last_contact=None)
    assert_missing(result, "start date is missing")


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
    assert result.months == months(91)
    assert result.imputed is True


def test_pfs1_a_month_precision_progression_propagates_imputed() -> None:
    result = progression_free_survival_1(
        start=START, progression=PartialDate.month(2021, 3), stop=None, last_contact=None
    )
    assert result.end_date == date(2021, 3, 15)
    assert result.months == months(73)
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


# --- Treatment-free interval -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous_stop", "rechallenge_start", "expected"),
    [
        (date(2021, 1, 1), date(2021, 1, 1), (0.0, False)),
        (date(2021, 1, 1), date(2022, 1, 1), (pytest.approx(365 / DAYS_PER_MONTH), False)),
        (PartialDate.month(2021, 1), date(2021, 7, 15), (pytest.approx(181 / DAYS_PER_MONTH), True)),
    ],
)
def test_tfi_is_months_from_previous_stop_to_rechallenge_start(
    previous_stop: PartialDate | date, rechallenge_start: date, expected: tuple[float, bool]
) -> None:
    assert treatment_free_interval_months(previous_stop=previous_stop, rechallenge_start=rechallenge_start) == expected


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


# --- Best overall response --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("categories", "best"),
    [
        (["SD", "PR", "PD"], "PR"),
        (["CR", "PR"], "CR"),
        (["PD", "SD"], "SD"),
        (["NE", "PD"], "PD"),
        (["NE", "NE"], "NE"),
    ],
)
def test_recist_best_overall_response_ranks_cr_pr_sd_pd_ne(categories: list[str], best: str) -> None:
    observations = [ResponseObservation(assessed_on=date(2021, 2, 1 + i), category=c) for i, c in enumerate(categories)]
    assert best_overall_response(observations) == best


def test_best_overall_response_without_assessments_is_none() -> None:
    assert best_overall_response([]) is None


@pytest.mark.parametrize(
    ("pairs", "best"),
    [
        pytest.param([("2021-02-01", "iSD"), ("2021-04-01", "iUPD")], "iSD", id="iSD beats iUPD"),
        pytest.param([("2021-02-01", "iUPD")], "iUPD", id="lone iUPD stays unconfirmed"),
        pytest.param([("2021-02-01", "iUPD"), ("2021-03-01", "iCPD")], "iCPD", id="confirmed iUPD"),
        pytest.param([("2021-02-01", "iUPD"), ("2021-03-01", "NE"), ("2021-04-01", "iCPD")], "iCPD", id="NE between"),
        pytest.param([("2021-02-01", "iUPD"), ("2021-03-01", "iSD")], "iSD", id="iUPD reset by iSD"),
        pytest.param([("2021-02-01", "iUPD"), ("2021-03-01", "iPR")], "iPR", id="iUPD reset by iPR"),
        pytest.param(
            [("2021-02-01", "iUPD"), ("2021-03-01", "iSD"), ("2021-04-01", "iUPD")],
            "iSD",
            id="reset then a new unconfirmed iUPD",
        ),
    ],
)
def test_irecist_best_overall_response(pairs: list[tuple[str, str]], best: str) -> None:
    assert best_overall_response(responses(*pairs)) == best


def test_irecist_confirmation_uses_assessment_dates_not_list_order() -> None:
    observations = responses(("2021-03-01", "iCPD"), ("2021-02-01", "iUPD"))
    assert best_overall_response(observations) == "iCPD"


def test_best_overall_response_uses_only_irecist_when_both_criteria_are_present() -> None:
    observations = responses(("2021-02-01", "PR"), ("2021-03-01", "iSD"))
    assert best_overall_response(observations) == "iSD"


def test_an_unknown_response_category_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a RECIST"):
        ResponseObservation(assessed_on=START, category="MR")


@pytest.mark.parametrize(
    ("best", "orr", "dcr"),
    [
        ("CR", True, True),
        ("PR", True, True),
        ("SD", False, True),
        ("PD", False, False),
        ("iCR", True, True),
        ("iPR", True, True),
        ("iSD", False, True),
        ("iUPD", False, False),
        ("iCPD", False, False),
        ("NE", None, None),
        (None, None, None),
    ],
)
def test_objective_response_and_disease_control_flags(best: str | None, orr: bool | None, dcr: bool | None) -> None:
    assert (objective_response(best), disease_control(best)) == (orr, dcr)


def test_response_flags_reject_an_unknown_category() -> None:
    with pytest.raises(ValueError, match="not a RECIST"):
        objective_response("ORR")


# --- Progression date from response assessments -----------------------------------------------------


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
            id="RECIST PD ignored under iRECIST",
        ),
    ],
)
def test_progression_date_from_responses(pairs: list[tuple[str, str]], progression: date | None) -> None:
    assert progression_date_from_responses(responses(*pairs)) == progression


# --- PFS2 -------------------------------------------------------------------------------------------


def test_pfs2_progression_is_an_event() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START, progression_dates=[date(2021, 4, 1)], death_date=None, last_contact=None
    )
    assert result == TimeToEvent(
        months=months(90), event=True, imputed=False, end_date=date(2021, 4, 1), missing_reason=None
    )


def test_pfs2_death_without_progression_is_an_event() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START, progression_dates=[], death_date=date(2021, 3, 1), last_contact=None
    )
    assert (result.months, result.event, result.end_date) == (months(59), True, date(2021, 3, 1))


def test_pfs2_uses_the_earliest_progression_and_ignores_none_entries() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START,
        progression_dates=[None, date(2021, 5, 1), date(2021, 3, 1), None],
        death_date=date(2021, 6, 1),
        last_contact=date(2021, 7, 1),
    )
    assert (result.end_date, result.event) == (date(2021, 3, 1), True)


def test_pfs2_progression_and_death_on_the_same_day_are_one_event() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START,
        progression_dates=[date(2021, 2, 1)],
        death_date=date(2021, 2, 1),
        last_contact=None,
    )
    assert (result.months, result.event, result.end_date) == (months(31), True, date(2021, 2, 1))


def test_pfs2_progression_on_the_rechallenge_start_day_is_zero_months_with_an_event() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START, progression_dates=[START], death_date=None, last_contact=None
    )
    assert (result.months, result.event) == (0.0, True)


def test_pfs2_death_after_the_last_contact_is_still_the_event() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START,
        progression_dates=[None],
        death_date=date(2021, 9, 1),
        last_contact=date(2021, 6, 1),
    )
    assert (result.end_date, result.event) == (date(2021, 9, 1), True)


def test_pfs2_without_progression_or_death_is_censored_at_last_contact() -> None:
    result = progression_free_survival_2(
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
def test_pfs2_without_a_usable_last_contact_is_missing_not_zero(last_contact: date | None, reason_part: str) -> None:
    result = progression_free_survival_2(
        rechallenge_start=START, progression_dates=[], death_date=None, last_contact=last_contact
    )
    assert_missing(result, reason_part)


def test_pfs2_without_a_rechallenge_start_is_missing() -> None:
    result = progression_free_survival_2(
        rechallenge_start=None, progression_dates=[date(2021, 4, 1)], death_date=None, last_contact=None
    )
    assert_missing(result, "rechallenge start date is missing")


def test_pfs2_progression_before_the_rechallenge_start_is_missing_with_a_reason() -> None:
    result = progression_free_survival_2(
        rechallenge_start=START,
        progression_dates=[date(2020, 11, 1), date(2021, 4, 1)],
        death_date=None,
        last_contact=None,
    )
    assert_missing(result, "progression date is before the rechallenge start date")


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


def test_no_irae_during_rechallenge_is_no_recurrence() -> None:
    result = irae_recurrence(prior=[PRIOR_COLITIS], during_rechallenge=[], rechallenge_start=START)
    assert (result.any_grade, result.grade3_or_higher, result.same_organ, result.same_term) == (
        False,
        False,
        False,
        False,
    )
    assert (result.months_to_first, result.imputed) == (None, False)


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
    result = irae_recurrence(prior=[PRIOR_COLITIS], during_rechallenge=[during], rechallenge_start=START)
    assert (result.any_grade, result.grade3_or_higher, result.same_organ, result.same_term) == (
        True,
        grade3,
        same_organ,
        same_term,
    )


def test_irae_recurrence_after_a_course_without_iraes_is_never_same_organ() -> None:
    result = irae_recurrence(
        prior=[], during_rechallenge=[irae("colitis", "gastrointestinal", 2)], rechallenge_start=START
    )
    assert (result.any_grade, result.same_organ, result.same_term) == (True, False, False)


def test_time_to_recurrence_runs_to_the_earliest_onset() -> None:
    during = [
        irae("pneumonitis", "pulmonary", 2, onset=PartialDate(date(2021, 4, 1))),
        irae("colitis", "gastrointestinal", 2, onset=PartialDate(date(2021, 3, 1))),
    ]
    result = irae_recurrence(prior=[PRIOR_COLITIS], during_rechallenge=during, rechallenge_start=START)
    assert (result.months_to_first, result.imputed) == (months(59), False)


def test_time_to_recurrence_from_a_month_precision_onset_is_imputed() -> None:
    during = [irae("colitis", "gastrointestinal", 2, onset=PartialDate.month(2021, 3))]
    result = irae_recurrence(prior=[PRIOR_COLITIS], during_rechallenge=during, rechallenge_start=START)
    assert (result.months_to_first, result.imputed) == (months(73), True)


def test_time_to_recurrence_with_an_onset_imputed_before_a_same_month_start_is_zero() -> None:
    during = [irae("colitis", "gastrointestinal", 2, onset=PartialDate.month(2021, 1))]
    result = irae_recurrence(prior=[PRIOR_COLITIS], during_rechallenge=during, rechallenge_start=date(2021, 1, 20))
    assert (result.months_to_first, result.imputed) == (0.0, True)


@pytest.mark.parametrize(
    ("onsets", "rechallenge_start"),
    [
        pytest.param([PartialDate(date(2021, 3, 1)), None], START, id="an onset is missing"),
        pytest.param([PartialDate(date(2021, 3, 1))], None, id="rechallenge start is missing"),
        pytest.param([PartialDate(date(2020, 12, 1))], START, id="onset before the rechallenge"),
    ],
)
def test_time_to_recurrence_is_none_when_it_cannot_be_known(
    onsets: list[PartialDate | None], rechallenge_start: date | None
) -> None:
    during = [irae("colitis", "gastrointestinal", 2, onset=onset) for onset in onsets]
    result = irae_recurrence(prior=[PRIOR_COLITIS], during_rechallenge=during, rechallenge_start=rechallenge_start)
    assert (result.months_to_first, result.imputed) == (None, False)
    assert result.any_grade is True
