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


# --- Missing-data codes ------------------------------------------------------------------------------


def test_only_the_fields_the_registry_requires_can_be_answered_with_a_missing_data_code():
    assert rules.answerable_fields("follow_up") == ("death_date", "last_known_alive_date", "rechallenge_stop_reason")
    assert rules.answerable_fields("response") == ()
    assert rules.answerable_fields("no such record") == ()


def test_a_declared_field_answered_with_a_known_code_and_no_value_is_accepted():
    errors = rules.missing_answer_errors(
        record="initial_course",
        values={"stop_date": None, "best_overall_response": ""},
        missing_answers={"stop_date": "unknown", "best_overall_response": "not_done"},
    )
    assert errors == {}


def test_a_code_beside_a_value_is_refused_on_the_field_that_holds_the_value():
    errors = rules.missing_answer_errors(
        record="episode", values={"albumin_g_per_l": 38}, missing_answers={"albumin_g_per_l": "not_done"}
    )
    assert errors == {
        "albumin_g_per_l": "Give either a value or a missing-data answer ('not done'), not both: clear one of them."
    }


def test_a_code_for_an_undeclared_field_or_an_unknown_code_is_refused_on_missing_answers():
    errors = rules.missing_answer_errors(record="response", values={}, missing_answers={"category": "unknown"})
    assert errors == {
        "missing_answers": "category cannot be answered 'not done', 'unknown' or 'not applicable': no field of this "
        "form can."
    }
    errors = rules.missing_answer_errors(record="patient", values={}, missing_answers={"tmb_mut_per_mb": "unknown"})
    assert errors == {
        "missing_answers": "tmb_mut_per_mb cannot be answered 'not done', 'unknown' or 'not applicable': on this "
        "form only pdl1_tps_percent can."
    }
    errors = rules.missing_answer_errors(record="patient", values={}, missing_answers={"pdl1_tps_percent": "n/a"})
    assert errors == {
        "missing_answers": "'n/a' is not a missing-data code for pdl1_tps_percent: use one of not_done, unknown, "
        "not_applicable."
    }
    assert rules.missing_answer_errors(record="patient", values={}, missing_answers=["pdl1_tps_percent"]) == {
        "missing_answers": "Give the missing-data answers as an object: {field name: code}."
    }


def test_a_cleared_code_null_or_empty_is_dropped_from_the_stored_answers():
    assert rules.clean_missing_answers({"stop_date": None, "stop_reason": "", "best_overall_response": "unknown"}) == {
        "best_overall_response": "unknown"
    }
    assert (
        rules.missing_answer_errors(
            record="initial_course", values={"stop_date": D(2023, 1, 1)}, missing_answers={"stop_date": None}
        )
        == {}
    )


# --- date_order and after_death on save -----------------------------------------------------------------


def test_a_date_before_an_earlier_step_names_both_dates_with_the_date_order_template():
    errors = rules.not_before_errors(
        field="follow_up_date",
        label="Date of follow-up",
        value=D(2024, 3, 1),
        earlier=[("The rechallenge start", D(2024, 2, 1)), ("The last scan", D(2024, 4, 2)), ("None", None)],
    )
    assert errors == {"follow_up_date": "Date of follow-up (2024-03-01) must not be before The last scan (2024-04-02)."}
    assert rules.not_before_errors(field="x", label="X", value=D(2024, 4, 2), earlier=[("Y", D(2024, 4, 2))]) == {}
    assert rules.not_before_errors(field="x", label="X", value=None, earlier=[("Y", D(2024, 4, 2))]) == {}


def test_an_earlier_step_moved_past_a_later_one_is_refused_on_the_changed_date_naming_the_first_it_passes():
    errors = rules.not_after_errors(
        field="start_date",
        label="the rechallenge start date",
        value=D(2024, 6, 1),
        later=[("The first follow-up of this rechallenge", D(2024, 5, 20)), ("The first scan", D(2024, 5, 1))],
    )
    assert errors == {
        "start_date": "The first scan (2024-05-01) must not be before the rechallenge start date (2024-06-01)."
    }
    assert rules.not_after_errors(field="x", label="X", value=D(2024, 5, 1), later=[("Y", D(2024, 5, 1))]) == {}


def test_a_month_only_ici1_stop_is_quoted_as_its_imputed_day_in_the_date_order_message():
    errors = rules.not_after_errors(
        field="stop_date",
        label="ICI-1 stop date",
        value=PartialDate.parse("2024-03"),
        later=[("Rechallenge 1 start", D(2024, 3, 2))],
    )
    assert errors == {
        "stop_date": "Rechallenge 1 start (2024-03-02) must not be before ICI-1 stop date (2024-03-15, the "
        "mid-month date imputed for 2024-03)."
    }


def test_a_date_after_the_recorded_death_is_refused_with_the_after_death_template():
    assert rules.after_death_errors(
        field="assessment_date", label="Assessment date", value=D(2024, 9, 2), death=D(2024, 9, 1)
    ) == {"assessment_date": "Assessment date (2024-09-02) is after the recorded date of death (2024-09-01)."}
    assert rules.after_death_errors(field="x", label="X", value=D(2024, 9, 1), death=D(2024, 9, 1)) == {}
    assert rules.after_death_errors(field="x", label="X", value=D(2024, 9, 2), death=None) == {}


def test_a_death_date_before_the_patients_other_records_is_refused_naming_the_latest_of_them():
    errors = rules.death_before_records_errors(
        death=D(2024, 9, 1),
        records=[("The last scan", D(2024, 9, 3)), ("The last irAE onset", D(2024, 9, 10)), ("None", None)],
    )
    assert errors == {
        "death_date": "The last irAE onset (2024-09-10) is after the recorded date of death (2024-09-01)."
    }
    assert rules.death_before_records_errors(death=D(2024, 9, 10), records=[("The last scan", D(2024, 9, 10))]) == {}
    assert rules.death_before_records_errors(death=None, records=[("The last scan", D(2024, 9, 10))]) == {}


def test_the_on_save_messages_are_the_templates_the_sweep_fills():
    from registry.quality import rule

    assert rule("date_order").message == "{label} ({value}) must not be before {other_label} ({other_value})."
    assert rule("after_death").message == "{label} ({value}) is after the recorded date of death ({death})."
