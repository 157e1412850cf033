"""The bulk-import file format (registry/csv_import.py): column spec, cell and row parsing, rules across rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from registry import csv_import as spec
from registry.csv_import import Record
from tests.apps.imports.data import VALID_ROW, csv_bytes, row, three_rows

COURSE = (Record.INITIAL_COURSE, None)
EPISODE = (Record.EPISODE, None)


def messages(errors) -> list[tuple[int, str, str]]:
    return [(error.row, error.column, error.message) for error in errors]


# --- Column spec ------------------------------------------------------------------------------------------


def test_the_header_lists_every_column_once_starting_with_the_patient_key():
    assert spec.HEADER[0] == "local_identifier"
    assert len(spec.HEADER) == len(set(spec.HEADER))
    assert spec.template_csv().split("\r\n")[0] == ",".join(spec.HEADER)


def test_repeated_groups_are_numbered_up_to_their_maximum():
    assert {f"irae{n}_term" for n in (1, 2, 3)} <= set(spec.HEADER)
    assert "irae4_term" not in spec.HEADER
    assert {"response2_category", "followup2_vital_status"} <= set(spec.HEADER)
    assert "response3_date" not in spec.HEADER


def test_documented_columns_show_a_group_once_with_its_number_as_n():
    patterns = [column.pattern for column in spec.documented_columns()]
    assert "irae<n>_resolved_to_grade" in patterns
    assert not any(name.startswith(("irae2_", "irae3_")) for name in patterns)


def test_a_precision_field_maps_back_to_its_date_column():
    column = spec.column_for(Record.PRIOR_IRAE, "onset_date_precision", 2)
    assert column is not None and column.name == "irae2_onset"
    assert spec.column_for(Record.INITIAL_COURSE, "stop_date").name == "ici1_stop_date"


# --- Cells ------------------------------------------------------------------------------------------------


def test_a_month_only_date_is_parsed_with_month_precision_on_the_15th():
    parsed = spec.parse_row(2, VALID_ROW)
    course = parsed.records[COURSE]
    assert course["start_date"] == dt.date(2022, 3, 15)
    assert course["start_date_precision"] == "month"
    assert parsed.records[(Record.PRIOR_IRAE, 1)]["resolution_date_precision"] == "day"
    assert parsed.errors == []


@pytest.mark.parametrize("text", ["2022-13", "2022-02-30", "03/2022", "2022"])
def test_an_impossible_partial_date_is_a_cell_error_that_does_not_repeat_the_value(text):
    parsed = spec.parse_row(5, row(ici1_start_date=text))
    [error] = parsed.errors
    assert (error.row, error.column, error.value) == (5, "ici1_start_date", text)
    assert "YYYY-MM" in error.message and text not in error.message


def test_a_full_date_column_does_not_accept_a_month_only_date():
    [error] = spec.parse_row(2, row(episode_start_date="2023-04")).errors
    assert error.column == "episode_start_date"
    assert "YYYY-MM-DD" in error.message


def test_codes_are_matched_whatever_their_case():
    parsed = spec.parse_row(2, row(ici1_agent="Pembrolizumab", tumour_type="luad", response1_category="pr"))
    assert parsed.records[COURSE]["primary_agent"] == "pembrolizumab"
    assert parsed.records[(Record.PATIENT, None)]["tumour_type"] == "LUAD"
    assert parsed.records[(Record.RESPONSE, 1)]["category"] == "PR"


def test_an_unknown_code_names_its_vocabulary_and_the_allowed_codes():
    [error] = spec.parse_row(2, row(ici1_agent="pembro")).errors
    assert error.column == "ici1_agent"
    assert "ICI agent" in error.message and "nivolumab" in error.message


def test_integer_codes_become_numbers_and_out_of_range_grades_are_refused():
    parsed = spec.parse_row(2, row(irae1_grade="6"))
    assert parsed.records[EPISODE]["ecog_at_rechallenge"] == 1
    assert messages(parsed.errors)[0][:2] == (2, "irae1_grade")


def test_numbers_take_a_decimal_comma_and_booleans_take_yes_no():
    parsed = spec.parse_row(2, row(episode_albumin="38,5", episode_brain_metastases="No", irae1_hospitalised="YES"))
    assert parsed.records[EPISODE]["albumin_g_per_l"] == Decimal("38.5")
    assert parsed.records[EPISODE]["brain_metastases"] is False
    assert parsed.records[(Record.PRIOR_IRAE, 1)]["hospitalised"] is True
    assert parsed.records[(Record.PATIENT, None)]["pdl1_tps_percent"] == Decimal("55.5")


@pytest.mark.parametrize(
    ("column", "text"), [("year_of_birth", "1958.5"), ("episode_ldh", "1.200,5"), ("episode_liver_metastases", "maybe")]
)
def test_unreadable_numbers_and_booleans_are_cell_errors(column, text):
    [error] = spec.parse_row(2, row(**{column: text})).errors
    assert error.column == column


def test_empty_cells_are_left_out_and_unused_groups_are_absent():
    parsed = spec.parse_row(2, row(histology=""))
    assert "histology" not in parsed.records[(Record.PATIENT, None)]
    assert (Record.PRIOR_IRAE, 2) not in parsed.records
    assert (Record.FOLLOW_UP, 2) not in parsed.records
    assert (Record.PRIOR_IRAE, 1) in parsed.records


# --- Files ------------------------------------------------------------------------------------------------


def test_rows_are_numbered_as_in_a_spreadsheet_and_empty_rows_are_skipped():
    data = csv_bytes([row(), {}, row(local_identifier="MRN-2")])
    table = spec.read_table(data)
    assert [number for number, _ in table.rows] == [2, 4]
    assert table.errors == ()


def test_semicolons_and_a_byte_order_mark_are_accepted():
    data = b"\xef\xbb\xbf" + csv_bytes([row()], delimiter=";")
    parsed = spec.parse_file(data)
    assert parsed.errors == []
    assert parsed.rows[0].records[(Record.PATIENT, None)]["local_identifier"] == "MRN-1"


def test_unknown_and_repeated_columns_are_refused_so_no_data_is_dropped_silently():
    header = ("local_identifier", "irae1_grad", "sex", "sex")
    errors = spec.parse_file(csv_bytes([row()], header=header)).errors
    assert messages(errors) == [
        (1, "irae1_grad", "Unknown column; see the column documentation."),
        (1, "sex", "This column appears more than once."),
    ]


def test_a_file_without_local_identifier_or_not_in_utf8_is_refused():
    assert "no local_identifier" in spec.parse_file(b"sex,tumour_type\nmale,MEL\n").errors[0].message
    [error] = spec.parse_file("local_identifier,histology\nX,Adénocarcinome\n".encode("latin-1")).errors
    assert (error.row, "UTF-8" in error.message) == (spec.FILE_ROW, True)


def test_a_file_over_the_row_limit_is_refused():
    errors = spec.parse_file(csv_bytes([row(local_identifier=f"P{n}") for n in range(3)]), max_rows=2).errors
    assert any("at most 2" in error.message for error in errors)


def test_columns_may_be_left_out_and_read_as_empty():
    table = spec.read_table(csv_bytes([row()], header=("local_identifier", "sex")))
    assert table.errors == ()
    parsed = spec.parse_row(*table.rows[0])
    assert parsed.errors == []
    assert parsed.records[COURSE] == {}
    assert parsed.records[(Record.PATIENT, None)] == {"local_identifier": "MRN-1", "sex": "female"}


# --- Rules across records and rows ------------------------------------------------------------------------


def test_a_valid_three_row_file_has_no_errors_and_gets_sequence_numbers():
    parsed = spec.parse_file(csv_bytes(three_rows()))
    assert parsed.errors == []
    assert [r.records[EPISODE]["sequence_number"] for r in parsed.rows] == [1, 2, 1]


def test_rows_of_one_patient_must_repeat_the_same_patient_and_ici1_values():
    rows = three_rows()
    rows[1]["ici1_line"] = "2"
    rows[1]["irae1_grade"] = "2"
    errors = spec.parse_file(csv_bytes(rows)).errors
    assert [(e.row, e.column) for e in errors] == [(3, "ici1_line"), (3, "irae1_grade")]
    assert "row 2" in errors[0].message


def test_one_patient_cannot_have_the_same_rechallenge_twice_or_out_of_order():
    rows = three_rows()
    rows[1]["episode_sequence"] = "1"
    errors = spec.parse_file(csv_bytes(rows)).errors
    assert messages(errors) == [(3, "episode_sequence", "Rechallenge 1 of this patient is already in row 2.")]

    rows = three_rows()
    rows[1]["episode_start_date"] = "2023-03-01"
    rows[1]["response1_date"] = "2023-05-01"
    rows[1]["followup1_date"] = rows[1]["followup1_last_alive_date"] = "2023-05-02"
    errors = spec.parse_file(csv_bytes(rows)).errors
    assert messages(errors) == [(3, "episode_start_date", "Rechallenge 2 must start after rechallenge 1 (row 2).")]


def test_a_rechallenge_before_the_imputed_ici1_stop_date_says_the_date_was_imputed():
    errors = spec.parse_file(csv_bytes([row(episode_start_date="2022-11-03")])).errors
    assert (errors[0].row, errors[0].column) == (2, "episode_start_date")
    assert "2022-11-15, the mid-month date imputed for 2022-11" in errors[0].message


def test_a_rechallenge_needs_ici1_to_have_stopped():
    errors = spec.parse_file(csv_bytes([row(ici1_stop_date="", ici1_stop_reason="")])).errors
    assert messages(errors) == [
        (2, "ici1_stop_date", "ICI-1 has no stop date: a rechallenge needs it (YYYY-MM is fine).")
    ]


def test_responses_and_follow_ups_cannot_precede_the_rechallenge():
    errors = spec.parse_file(csv_bytes([row(response1_date="2023-01-01", followup1_date="2023-02-01")])).errors
    assert [(e.column, e.message) for e in errors] == [
        ("response1_date", "This date is before the rechallenge started."),
        ("followup1_date", "This date is before the rechallenge started."),
    ]


def test_errors_read_as_row_and_column():
    error = spec.CellError(7, "irae2_grade", "9", "Not a code.")
    assert str(error) == "row 7, column irae2_grade: Not a code."
    assert str(spec.CellError(0, "", "", "The file is empty.")) == "file: The file is empty."


# --- Missing stays missing ----------------------------------------------------------------------------


def test_yes_no_unknown_cells_read_unknown_as_none_and_blank_as_left_out():
    parsed = spec.parse_row(
        2, row(irae1_steroid_refractory="Unknown", irae1_hospitalised="no", irae1_led_to_discontinuation="")
    )
    irae = parsed.records[(Record.PRIOR_IRAE, 1)]
    assert irae["steroid_refractory"] is None
    assert irae["hospitalised"] is False
    assert "led_to_discontinuation" not in irae
    assert parsed.errors == []


def test_the_irae_history_answers_are_columns_of_ici1_and_of_the_episode():
    parsed = spec.parse_row(2, row(ici1_iraes="YES", episode_iraes="unknown"))
    assert parsed.records[COURSE]["iraes_during_course"] == "yes"
    assert parsed.records[EPISODE]["iraes_during_rechallenge"] == "unknown"
    [error] = spec.parse_row(2, row(ici1_iraes="none")).errors
    assert error.column == "ici1_iraes" and "yes, no, unknown" in error.message


def test_an_empty_prednisone_cell_is_left_out_not_read_as_zero():
    parsed = spec.parse_row(2, row(episode_prednisone=""))
    assert "current_prednisone_mg_per_day" not in parsed.records[EPISODE]


def test_ici1_answered_no_irae_with_an_irae_in_the_row_is_an_error_of_the_answer():
    errors = spec.parse_file(csv_bytes([row(ici1_iraes="no")])).errors
    assert messages(errors) == [(2, "ici1_iraes", "irAEs of ICI-1 are in this row: the answer cannot be 'no'.")]
    rows = three_rows()
    rows[2]["ici1_iraes"] = "no"  # MRN-2 has no irAE columns filled
    assert spec.parse_file(csv_bytes(rows)).errors == []


def test_the_template_and_documentation_carry_the_new_columns():
    assert {"ici1_iraes", "episode_iraes"} <= set(spec.HEADER)
    documented = {column.name: column for column in spec.documented_columns()}
    assert "0 if no corticosteroid" in documented["episode_prednisone"].note
    assert "unknown" in spec.KIND_FORMATS[spec.Kind.BOOLEAN]


# --- Template example row, update columns, irAEs during a rechallenge ---------------------------------------


def test_the_template_has_one_filled_example_row_that_is_refused_if_left_in():
    header, example, end = spec.template_csv().split("\r\n")

    assert (header, end) == (",".join(spec.HEADER), "")
    assert example.startswith("EXAMPLE-DELETE-ME,")
    assert messages(spec.parse_file(spec.template_csv().encode()).errors) == [
        (2, "local_identifier", spec.EXAMPLE_ROW_LEFT_IN)
    ]


def test_the_example_row_with_its_identifier_replaced_is_a_valid_row():
    data = spec.template_csv().replace("EXAMPLE-DELETE-ME", "MRN-77").encode()

    parsed = spec.parse_file(data)

    assert parsed.errors == []
    assert parsed.rows[0].records[(Record.RECHALLENGE_IRAE, 1)]["recurrence_status"] == "recurrence"


def test_registry_id_and_reason_for_change_fill_no_record_field():
    parsed = spec.parse_row(2, row(registry_id=" aaa-0007 ", reason_for_change="Source document corrected"))

    assert (parsed.registry_id, parsed.reason_for_change) == ("AAA-0007", "Source document corrected")
    assert "registry_id" not in parsed.records[(Record.PATIENT, None)]
    assert parsed.patient_key == "MRN-1"
    assert spec.parse_row(3, {"registry_id": "AAA-0007"}).patient_key == "registry:AAA-0007"


def test_irae_columns_during_a_rechallenge_are_a_repeated_group_of_three():
    assert {f"rirae{n}_recurrence" for n in (1, 2, 3)} <= set(spec.HEADER)
    assert "rirae4_term" not in spec.HEADER
    parsed = spec.parse_row(
        2,
        row(
            rirae1_term="hepatitis",
            rirae1_grade="2",
            rirae1_onset="2023-05",
            rirae1_resolution="2023-07-01",
            rirae1_resolved_to_grade="1",
            rirae1_recurrence="new",
        ),
    )
    assert parsed.records[(Record.RECHALLENGE_IRAE, 1)] == {
        "ctcae_term": "hepatitis",
        "grade": 2,
        "onset_date": dt.date(2023, 5, 15),
        "onset_date_precision": "month",
        "resolution_date": dt.date(2023, 7, 1),
        "resolution_date_precision": "day",
        "resolved_to_grade": 1,
        "recurrence_status": "new",
    }


def test_an_irae_during_the_rechallenge_needs_its_recurrence_status_and_cannot_precede_it():
    rows = [row(rirae2_term="colitis", rirae2_grade="2", rirae2_onset="2023-03-01")]

    errors = spec.parse_file(csv_bytes(rows)).errors

    assert messages(errors) == [
        (2, "rirae2_onset", "An irAE of the rechallenge cannot start before the rechallenge."),
        (2, "rirae2_recurrence", "Required when any rirae2_… column is filled."),
    ]


def test_a_rechallenge_answered_no_iraes_with_an_irae_in_the_row_is_an_error_of_the_answer():
    rows = [
        row(
            episode_iraes="no",
            rirae1_term="colitis",
            rirae1_grade="1",
            rirae1_onset="2023-05-01",
            rirae1_recurrence="new",
        )
    ]

    assert messages(spec.parse_file(csv_bytes(rows)).errors) == [
        (2, "episode_iraes", "irAEs of this rechallenge are in this row: the answer cannot be 'no'.")
    ]


def test_rows_of_a_registered_patient_need_not_repeat_ici1_and_get_no_default_sequence():
    rows = [{"local_identifier": "MRN-1", "followup1_date": "2024-01-01", "episode_start_date": "2023-04-02"}]

    parsed = spec.parse_file(csv_bytes(rows), registered=lambda parsed_rows: {"MRN-1"})

    assert parsed.errors == []
    assert "sequence_number" not in parsed.rows[0].records[EPISODE]


def test_a_stored_value_is_written_back_as_its_column_takes_it():
    column = spec.COLUMNS_BY_NAME
    assert spec.cell_text(column["ici1_stop_date"], dt.date(2022, 11, 15), "month") == "2022-11"
    assert spec.cell_text(column["episode_start_date"], dt.date(2023, 4, 2)) == "2023-04-02"
    assert spec.cell_text(column["irae1_hospitalised"], True) == "yes"
    assert spec.cell_text(column["pdl1_tps_percent"], Decimal("55.0")) == "55"
    assert spec.cell_text(column["pdl1_tps_percent"], Decimal("55.5")) == "55.5"
    assert spec.cell_text(column["sex"], None) == ""
