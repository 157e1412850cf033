"""Field metadata come from the declarations the forms and the import already use."""

from __future__ import annotations

import pytest

from registry import crf
from registry import csv_import as ci
from registry.deid.codebook import stata_names
from registry.deid.fields import (
    ANALYSIS,
    IRAES,
    QI,
    STATA_NAME_LENGTH,
    FieldKind,
    FieldMeta,
    Flag,
    Role,
    default_field_meta,
    derived_fields,
    fields_from_import_columns,
)
from registry.derive_frames import derive_episodes
from tests.registry.deid.helpers import cohort, demo_tables


def by_name(fields):
    return {meta.name: meta for meta in fields}


def test_every_import_column_of_a_patient_course_and_episode_is_in_the_analysis_table():
    analysis = by_name(default_field_meta()[ANALYSIS])
    for column in ci.COLUMNS:
        if not column.field:  # about the import itself (a reason for change), not a field of a record
            assert column.name not in analysis
        elif column.record in (ci.Record.PATIENT, ci.Record.INITIAL_COURSE, ci.Record.EPISODE):
            assert column.name in analysis
            meta = analysis[column.name]
            if column.vocabulary is not None:
                assert meta.codes == column.vocabulary.codes()


def test_long_tables_use_model_field_names_of_the_repeated_import_groups():
    irae = by_name(default_field_meta()[IRAES])
    for column in ci.COLUMNS:
        if column.record is ci.Record.PRIOR_IRAE and column.group == 1:
            assert column.field in irae


def test_identifier_and_free_text_flags_come_from_the_crf_declarations():
    analysis = by_name(default_field_meta()[ANALYSIS])
    for record, names in crf.IDENTIFIER_FIELDS.items():
        assert record == "patient"
        for name in names:
            assert analysis[name].identifier
    for name in crf.FREE_TEXT_FIELDS["patient"]:
        assert Flag.FREE_TEXT in analysis[name].flags
    assert analysis["year_of_birth"].role is Role.BIRTH_YEAR
    assert analysis["episode_start_date"].role is Role.ANCHOR_DATE
    assert analysis["sex"].qi is QI.SEX and analysis["tumour_type"].qi is QI.TUMOUR_TYPE
    assert analysis["site"].qi is QI.SITE
    assert analysis["assessment_reason"].is_free_text


def test_text_without_allowed_values_counts_as_free_text_unless_declared_otherwise():
    assert FieldMeta("comment", "Comment", FieldKind.TEXT).is_free_text
    assert not FieldMeta("imputed", "Imputed", FieldKind.TEXT, free_text=False).is_free_text
    assert not FieldMeta("code", "Code", FieldKind.CODE).is_free_text


def test_derived_fields_describe_every_column_of_the_set_wise_derivation():
    from registry.cohort_records import cohort_frames

    derived = derive_episodes(cohort_frames(cohort().patients[:10]))
    assert [meta.name for meta in derived_fields()] == ["patient_id", "episode_id", *derived.columns[2:]]
    for meta in derived_fields():
        if meta.role is Role.DATA:
            assert meta.derivation, meta.name


def test_the_demo_tables_have_exactly_the_declared_columns():
    meta = default_field_meta()
    for name, frame in demo_tables().items():
        declared = [m.name for m in meta[name]]
        assert set(frame.columns) <= set(declared), name


def test_partial_dates_bring_their_precision_column():
    fields = by_name(fields_from_import_columns(c for c in ci.COLUMNS if c.name == "ici1_start_date"))
    assert fields["ici1_start_date_precision"].precision_of == "ici1_start_date"
    assert fields["ici1_start_date"].kind is FieldKind.DATE


def test_labels_and_descriptions_from_the_models_are_used():
    columns = [c for c in ci.COLUMNS if c.name == "ldh_u_per_l" or c.field == "ldh_u_per_l"]
    (meta,) = fields_from_import_columns(
        columns, labels={("episode", "ldh_u_per_l"): "LDH (U/L)"}, descriptions={("episode", "ldh_u_per_l"): "Serum"}
    )
    assert meta.label == "Rechallenge: LDH (U/L)" and meta.description == "Serum" and meta.unit == "U/L"


def test_every_column_has_a_unique_stata_name():
    for fields in default_field_meta().values():
        names = stata_names(fields)
        assert len(set(names.values())) == len(names)
        assert all(len(name) <= STATA_NAME_LENGTH for name in names.values())


def test_a_column_name_must_be_an_identifier():
    with pytest.raises(ValueError):
        FieldMeta("not a name", "x", FieldKind.TEXT)


def test_fields_that_take_a_missing_data_code_have_a_code_column_right_after_them():
    from registry import vocabularies as v
    from registry.deid.fields import ANALYSIS, FOLLOW_UPS, IRAES, default_field_meta
    from registry.quality import REQUIRED_FIELDS

    tables = default_field_meta()
    for table, record, name, field in [
        (ANALYSIS, "episode", "episode_ldh_above_uln", "ldh_above_uln"),
        (ANALYSIS, "initial_course", "ici1_stop_date", "stop_date"),
        (IRAES, "adverse_event", "hospitalised", "hospitalised"),
        (FOLLOW_UPS, "follow_up", "death_date", "death_date"),
    ]:
        assert field in {item.field for item in REQUIRED_FIELDS[record]}
        names = [meta.name for meta in tables[table]]
        code = by_name(tables[table])[f"{name}_missing"]
        after = names.index(name) + (2 if f"{name}_precision" in names else 1)
        assert names[after] == code.name and code.missing_of == name
        assert code.choices == tuple((term.code, term.label) for term in v.MISSING_DATA_CODES)
        assert not code.is_free_text and f"{name}_missing" in by_name(tables[table])[name].missing[0][1]
    assert not any(meta.missing_of for meta in tables["responses"])  # no response field is required
