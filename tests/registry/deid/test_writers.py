"""Writers: the same input gives the same bytes; labels, codes and types survive a round trip."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
import pytest

from registry.deid import writers
from registry.deid.codebook import SUPPRESSED_NUMBER, numeric_codes
from registry.deid.errors import WriterError
from registry.deid.fields import FieldKind, FieldMeta
from registry.deid.profiles import LIMITED_DATASET, SAFE_HARBOR
from registry.deid.transform import deidentify
from registry.deid.writers import export_files, write_table, zip_bundle
from tests.registry.deid.helpers import DATA_CUT, FORMATS, KEY, PROJECT, demo_countries, demo_meta, demo_tables


def build(profile=SAFE_HARBOR, tables=None):
    return deidentify(
        tables or demo_tables(),
        profile=profile,
        key=KEY,
        project_id=PROJECT,
        field_meta=demo_meta(),
        site_countries=demo_countries(),
    )


@pytest.fixture(scope="module")
def safe_harbor():
    return build()


@pytest.fixture(scope="module")
def files(safe_harbor):
    return export_files(safe_harbor.tables, safe_harbor.fields, formats=FORMATS, timestamp=DATA_CUT)


def read_back(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("profile", [SAFE_HARBOR, LIMITED_DATASET], ids=lambda p: p.name)
def test_the_same_input_gives_byte_identical_files_in_every_format(profile):
    result = build(profile)
    first = export_files(result.tables, result.fields, formats=FORMATS, timestamp=DATA_CUT)
    tables = {name: frame.sample(frac=1, random_state=5) for name, frame in demo_tables().items()}
    again = build(profile, tables)
    second = export_files(again.tables, again.fields, formats=FORMATS, timestamp=DATA_CUT)
    assert list(first) == list(second)
    assert [name for name in first if first[name] != second[name]] == []
    assert zip_bundle(first, timestamp=DATA_CUT) == zip_bundle(second, timestamp=DATA_CUT)


def test_writing_time_does_not_reach_the_files(files):
    assert b"31 Jan 2026 18:00" in files["analysis.dta"][:400]
    sav = files["analysis.sav"]
    assert sav[92:101] == b"31 Jan 26" and sav[101:109] == b"18:00:00"
    workbook = zipfile.ZipFile(io.BytesIO(files["analysis.xlsx"]))
    assert {info.date_time for info in workbook.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    core = workbook.read("docProps/core.xml")
    assert core.count(b"2026-01-31T18:00:00Z") == 2
    metadata = pq.ParquetFile(io.BytesIO(files["analysis.parquet"])).metadata
    assert metadata.created_by.startswith("parquet-cpp-arrow")


def test_parquet_is_typed_and_labelled(files, safe_harbor):
    table = pq.read_table(io.BytesIO(files["analysis.parquet"]))
    schema = table.schema
    assert str(schema.field("episode_start_day").type) == "int64"
    assert str(schema.field("pfs2_event").type) == "bool"
    assert schema.field("tumour_type").type == pa.dictionary(pa.int32(), pa.string())  # a code: categorical
    assert str(schema.field("patient_pseudonym").type) == "string"  # text
    assert schema.field("pfs2_months").metadata[b"unit"] == b"months"
    assert schema.metadata == {b"title": b"Analysis table: one row per rechallenge episode"}
    frame = table.to_pandas()
    assert frame["patient_pseudonym"].tolist() == safe_harbor.tables["analysis"]["patient_pseudonym"].tolist()


def test_parquet_of_shifted_dates_holds_dates():
    result = build(LIMITED_DATASET)
    data = write_table("parquet", result.tables["analysis"], result.fields["analysis"], title="", timestamp=DATA_CUT)
    assert str(pq.read_schema(io.BytesIO(data)).field("episode_start_date").type) == "date32[day]"


@pytest.mark.parametrize("fmt", ["dta", "sav"])
def test_stata_and_spss_files_have_variable_and_value_labels(tmp_path, files, safe_harbor, fmt):
    path = read_back(tmp_path, f"analysis.{fmt}", files[f"analysis.{fmt}"])
    if fmt == "dta":
        frame, meta = pyreadstat.read_dta(str(path))
    else:
        frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["pfs2_months"] == "PFS2 (months)"
    assert labels["age_band"].startswith("Age at the first rechallenge start")
    fields = {m.name: m for m in safe_harbor.fields["analysis"]}
    sex = meta.variable_value_labels["sex"]
    assert sex[numeric_codes(fields["sex"])["female"]] == "female: Female"
    assert sex[SUPPRESSED_NUMBER] == "*: Suppressed for k-anonymity"
    assert meta.variable_value_labels["pfs2_event"] == {0: "No", 1: "Yes"}
    assert "rec_g3plus_months" in frame.columns  # a name too long for Stata uses the codebook's short name
    released = safe_harbor.tables["analysis"]
    codes = numeric_codes(fields["tumour_type"])
    assert frame["tumour_type"].tolist() == [codes[value] for value in released["tumour_type"]]


def test_spss_declares_the_suppression_code_user_missing(tmp_path, files):
    path = read_back(tmp_path, "analysis.sav", files["analysis.sav"])
    _, meta = pyreadstat.read_sav(str(path), user_missing=True)
    assert meta.missing_ranges["site"] == [{"lo": SUPPRESSED_NUMBER, "hi": SUPPRESSED_NUMBER}]


def test_xlsx_has_the_data_and_the_variables(files, safe_harbor):
    workbook = openpyxl.load_workbook(io.BytesIO(files["analysis.xlsx"]), read_only=True)
    assert workbook.sheetnames == ["data", "variables"]
    rows = list(workbook["data"].iter_rows(values_only=True))
    assert list(rows[0]) == list(safe_harbor.tables["analysis"].columns)
    assert len(rows) == len(safe_harbor.tables["analysis"]) + 1
    variables = list(workbook["variables"].iter_rows(values_only=True))
    assert variables[0][0] == "column" and variables[1][0] == "patient_pseudonym"


def test_a_large_table_is_split_over_sheets(monkeypatch, safe_harbor):
    monkeypatch.setattr(writers, "XLSX_MAX_ROWS", 40)
    frame = safe_harbor.tables["responses"].head(100)
    data = write_table("xlsx", frame, safe_harbor.fields["responses"], title="", timestamp=DATA_CUT)
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    assert workbook.sheetnames == ["data", "data_2", "data_3", "variables"]
    rows = [len(list(workbook[sheet].iter_rows(values_only=True))) - 1 for sheet in ("data", "data_2", "data_3")]
    assert rows == [40, 40, 20]


def formula_table():
    fields = (
        FieldMeta("formula", "Formula", FieldKind.TEXT, free_text=False),
        FieldMeta("number", "Number", FieldKind.DECIMAL),
    )
    frame = pd.DataFrame({"formula": ['=HYPERLINK("http://x")', "+1", "@SUM(A1)", "plain"], "number": [-1.5, 2, 3, 4]})
    return frame, fields


def test_formula_leading_text_is_escaped_in_csv_and_xlsx():
    frame, fields = formula_table()
    csv_text = write_table("csv", frame, fields, title="", timestamp=DATA_CUT).decode()
    assert "'=HYPERLINK" in csv_text and "\n'+1," in csv_text and "'@SUM" in csv_text and "-1.5" in csv_text
    data = write_table("xlsx", frame, fields, title="", timestamp=DATA_CUT)
    sheet = openpyxl.load_workbook(io.BytesIO(data))["data"]
    assert [sheet.cell(row, 1).value for row in range(2, 6)] == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'@SUM(A1)",
        "plain",
    ]
    assert all(sheet.cell(row, 1).data_type == "s" for row in range(2, 6))
    assert sheet.cell(2, 2).value == -1.5


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_categorical_text_column_is_written_as_the_same_texts_would_be(fmt):
    """De-identification hands the writers codes and texts as categories; every format writes them as it writes
    the same texts held as Python strings (formula escaping and missing cells included)."""
    fields = (
        FieldMeta("formula", "Formula", FieldKind.TEXT, free_text=False),
        FieldMeta("sex", "Sex", FieldKind.CODE, choices=(("female", "Female"), ("male", "Male"))),
    )
    texts = pd.DataFrame(
        {"formula": ["=1+1", None, "plain", "=1+1", "@x"], "sex": ["male", "female", None, "male", "female"]},
        dtype=object,
    )
    categories = texts.astype("category")
    assert write_table(fmt, categories, fields, title="t", timestamp=DATA_CUT) == write_table(
        fmt, texts, fields, title="t", timestamp=DATA_CUT
    )


def test_a_code_column_is_dictionary_encoded_in_parquet_with_only_its_used_values_sorted():
    fields = (FieldMeta("sex", "Sex", FieldKind.CODE, choices=(("female", "Female"), ("male", "Male"))),)
    frame = pd.DataFrame({"sex": pd.Categorical(["male", None, "male"], categories=["male", "other", "female"])})
    table = pq.read_table(io.BytesIO(write_table("parquet", frame, fields, title="", timestamp=DATA_CUT)))
    column = table.column("sex").combine_chunks()
    assert column.type == pa.dictionary(pa.int32(), pa.string())
    assert column.dictionary.to_pylist() == ["male"]
    assert column.to_pylist() == ["male", None, "male"]
    assert table.to_pandas()["sex"].dtype == "category"


def test_the_bundle_stores_compressed_formats_as_they_are_and_deflates_the_rest(files):
    with zipfile.ZipFile(io.BytesIO(zip_bundle(files, timestamp=DATA_CUT))) as archive:
        methods = {info.filename: info.compress_type for info in archive.infolist()}
        assert archive.read("analysis.parquet") == files["analysis.parquet"]
    assert methods["analysis.parquet"] == methods["analysis.xlsx"] == zipfile.ZIP_STORED
    assert methods["analysis.csv"] == methods["analysis.dta"] == methods["codebook.json"] == zipfile.ZIP_DEFLATED


def test_a_value_outside_the_codebook_is_not_written():
    fields = (FieldMeta("sex", "Sex", FieldKind.CODE, choices=(("female", "Female"),)),)
    with pytest.raises(WriterError, match="sex"):
        write_table("dta", pd.DataFrame({"sex": ["Jane Doe"]}), fields, title="", timestamp=DATA_CUT)


def test_unknown_formats_and_naive_timestamps_are_refused(safe_harbor):
    with pytest.raises(WriterError, match="sas7bdat"):
        export_files(safe_harbor.tables, safe_harbor.fields, formats=["sas7bdat"], timestamp=DATA_CUT)
    with pytest.raises(WriterError, match="timezone"):
        export_files(safe_harbor.tables, safe_harbor.fields, formats=["dta"], timestamp=dt.datetime(2026, 1, 1))


def test_the_bundle_lists_files_in_the_given_order(files):
    archive = zipfile.ZipFile(io.BytesIO(zip_bundle(files, timestamp=DATA_CUT)))
    assert archive.namelist() == list(files)
    assert archive.read("analysis.csv") == files["analysis.csv"]
