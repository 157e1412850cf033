"""The rules across records (``registry.rules``): plain values in, field messages out."""

from __future__ import annotations

import datetime as dt

from registry import rules
from registry.dates import PartialDate

D = dt.date


def test_a_rechallenge_starting_before_ici1_stopped_is_refused_on_its_start_date():
    stop = PartialDate(D(2023, 10, 15))
    assert rules.rechallenge_after_ici1_errors(start=D(2023, 10, 14), ici1_stop=stop) == {
        "start_date": "The rechallenge starts before ICI-1 stopped (2023-10-15)."
    }
    assert rules.rechallenge_after_ici1_errors(start=D(2023, 10, 15), ici1_stop=stop) == {}
    assert rules.rechallenge_after_ici1_errors(start=None, ici1_stop=stop) == {}
    assert rules.rechallenge_after_ici1_errors(start=D(2020, 1, 1), ici1_stop=None) == {}


def test_a_month_only_stop_date_is_quoted_as_the_imputed_mid_month_day():
    stop = PartialDate.parse("2022-11")
    [message] = rules.rechallenge_after_ici1_errors(start=D(2022, 11, 3), ici1_stop=stop).values()
    assert (
        message == "The rechallenge starts before ICI-1 stopped (2022-11-15, the mid-month date imputed for 2022-11)."
    )


def test_a_rechallenge_needs_ici1_recorded_and_stopped():
    assert rules.rechallenge_needs_stopped_ici1_errors(ici1_recorded=False, ici1_stop=None) == {
        "patient": "Record the initial ICI course before a rechallenge episode."
    }
    assert rules.rechallenge_needs_stopped_ici1_errors(ici1_recorded=True, ici1_stop=None) == {
        "start_date": "ICI-1 has no stop date yet: record when it stopped before a rechallenge."
    }
    assert rules.rechallenge_needs_stopped_ici1_errors(ici1_recorded=True, ici1_stop=PartialDate(D(2023, 1, 1))) == {}


def test_a_rechallenge_starts_strictly_after_the_previous_one_and_may_say_where_that_one_is():
    same_day = {"number": 2, "start": D(2023, 5, 1), "previous_number": 1, "previous_start": D(2023, 5, 1)}
    assert rules.rechallenge_order_errors(**same_day) == {"start_date": "Rechallenge 2 must start after rechallenge 1."}
    assert rules.rechallenge_order_errors(**same_day, previous_where="row 2") == {
        "start_date": "Rechallenge 2 must start after rechallenge 1 (row 2)."
    }
    assert rules.rechallenge_order_errors(**{**same_day, "start": D(2023, 5, 2)}) == {}
    assert rules.rechallenge_order_errors(**{**same_day, "previous_start": None}) == {}


def test_dates_of_a_rechallenges_records_cannot_precede_its_start():
    start = D(2023, 4, 2)
    errors = rules.not_before_rechallenge_errors(
        rechallenge_start=start,
        dates={
            "follow_up_date": D(2023, 4, 1),
            "death_date": D(2023, 4, 2),
            "progression_date": None,
            "onset_date": D(2023, 3, 1),
            "last_known_alive_date": D(2020, 1, 1),  # not a date the rule is about
        },
    )
    assert errors == {
        "follow_up_date": "This date is before the rechallenge started.",
        "onset_date": "An irAE of the rechallenge cannot start before the rechallenge.",
    }
    assert rules.not_before_rechallenge_errors(rechallenge_start=None, dates={"follow_up_date": D(2000, 1, 1)}) == {}


def test_a_no_irae_answer_with_iraes_is_refused_on_the_answer():
    assert rules.no_iraes_answer_errors(field="iraes_during_course", answer="no", has_iraes=True, course="ICI-1") == {
        "iraes_during_course": "irAEs of ICI-1 are recorded: the answer cannot be 'no'."
    }
    assert rules.no_iraes_answer_errors(
        field="ici1_iraes", answer="no", has_iraes=True, course="ICI-1", where="in this row"
    ) == {"ici1_iraes": "irAEs of ICI-1 are in this row: the answer cannot be 'no'."}
    assert rules.no_iraes_answer_errors(field="x", answer="no", has_iraes=False, course="ICI-1") == {}
    assert rules.no_iraes_answer_errors(field="x", answer="yes", has_iraes=True, course="ICI-1") == {}
    assert rules.no_iraes_answer_errors(field="x", answer="", has_iraes=True, course="ICI-1") == {}


def test_an_irae_cannot_join_a_course_answered_no_iraes():
    assert rules.irae_in_no_irae_course_errors(course_answer="no", during_rechallenge=False) == {
        "episode": "ICI-1 is recorded as having had no irAEs: change that answer before adding an irAE to it."
    }
    assert rules.irae_in_no_irae_course_errors(course_answer="no", during_rechallenge=True) == {
        "episode": "This rechallenge is recorded as having had no irAEs: change that answer before adding an irAE "
        "to it."
    }
    assert rules.irae_in_no_irae_course_errors(course_answer="unknown", during_rechallenge=True) == {}
