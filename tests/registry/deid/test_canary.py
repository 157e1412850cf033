"""The canary test: identifying values planted in every identifier and free-text field never leave.

Names, hospital numbers, phone numbers, e-mail addresses, exact dates of birth, exact event dates and
free text are planted in every field the metadata flag as identifier or free text (including
"other (specify)" and comment fields added for the test), and in the keys. The ``safe_harbor``
bundle is built in every format and searched: the bytes of every file (zip members and xlsx parts
decompressed, Parquet also written uncompressed), and the values read back from Parquet, .dta,
.sav and .xlsx. A negative control shows the search finds a canary that is let through.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Iterator

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest

from registry.deid.fields import ANALYSIS, FOLLOW_UPS, IRAES, RESPONSES, FieldKind, FieldMeta
from registry.deid.manifest import bundle_files
from registry.deid.profiles import SAFE_HARBOR
from registry.deid.transform import deidentify
from registry.deid.writers import export_files, write_parquet, zip_bundle
from tests.registry.deid.helpers import DATA_CUT, FORMATS, KEY, PROJECT, demo_countries, demo_meta, demo_tables

PATIENTS = 120
#: Keys become ten-digit numbers no float or count in the output could contain by chance.
KEY_BASE = {"patient_id": 7_531_864_209_000, "episode_id": 6_420_975_318_000, "id": 5_319_742_086_000}
EXTRA_FREE_TEXT = {
    ANALYSIS: ("intervening_therapy_other", "comments"),
    IRAES: ("irae_other_specify", "comments"),
    RESPONSES: ("comments",),
    FOLLOW_UPS: ("stop_reason_other",),
}


def canary_text(row: int) -> dict[str, str]:
    return {
        "name": f"Zephyrine Quackenbush-{row}",
        "hospital_number": f"MRN-CNRY-{row:06d}",
        "phone": f"+44 20 7946 {row:04d}",
        "email": f"zephyrine.q{row}@canary-hospital.example",
    }


def free_text(row: int) -> str:
    c = canary_text(row)
    return f"Seen with {c['name']} ({c['hospital_number']}); call {c['phone']} or {c['email']}. Born 13/07/1951."


def planted() -> tuple[dict[str, pd.DataFrame], dict[str, tuple[FieldMeta, ...]], set[str], set[dt.date]]:
    """The demo tables with canaries planted; the metadata; the canary strings; the exact dates."""
    tables = demo_tables(PATIENTS)
    meta = dict(demo_meta(PATIENTS))
    for table, names in EXTRA_FREE_TEXT.items():
        meta[table] = (*meta[table], *(FieldMeta(name, name.replace("_", " "), FieldKind.TEXT) for name in names))
    meta[ANALYSIS] = (*meta[ANALYSIS], FieldMeta("patient_name", "Name", FieldKind.TEXT, identifier=True))
    canaries: set[str] = set()
    for table, frame in tables.items():
        for key, base in KEY_BASE.items():
            if key in frame.columns:
                frame[key] = frame[key].astype("Int64") + base
                canaries |= {str(value) for value in frame[key].dropna()}
        for field in meta[table]:
            if not field.flags or field.name in KEY_BASE:
                continue
            if field.kind is FieldKind.DATE:  # dates of birth: exact, one per patient
                births = {p: dt.date(1951, 7, 13) + dt.timedelta(days=int(p) % 500) for p in frame["patient_id"]}
                frame[field.name] = frame["patient_id"].map(births)
            elif field.name == "registry_id":
                frame[field.name] = [f"CNRYREG-{int(p) % 10**6:06d}-X" for p in frame["patient_id"]]
            elif field.name == "local_identifier":
                frame[field.name] = [canary_text(int(p) % 10**6)["hospital_number"] for p in frame["patient_id"]]
            elif field.name == "patient_name":
                frame[field.name] = [canary_text(int(p) % 10**6)["name"] for p in frame["patient_id"]]
            else:
                frame[field.name] = [free_text(row) for row in range(len(frame))]
            canaries |= {str(value) for value in frame[field.name]}
    for row in range(len(tables[ANALYSIS])):
        canaries |= set(canary_text(row).values())
    canaries.add("Zephyrine")
    canaries.add("canary-hospital")
    # Exact event dates: every date in every date column (births included), as entered.
    dates = {
        value
        for table, frame in tables.items()
        for field in meta[table]
        if field.kind is FieldKind.DATE and field.name in frame.columns
        for value in frame[field.name].dropna()
    }
    return tables, meta, canaries, {value if isinstance(value, dt.date) else value.date() for value in dates}


def date_spellings(day: dt.date, *, birth: bool) -> list[str]:
    spellings = [day.isoformat(), day.strftime("%d/%m/%Y"), day.strftime("%m/%d/%Y"), day.strftime("%d.%m.%Y")]
    return [*spellings, day.strftime("%Y%m%d")] if birth else spellings


def build_bundle(tables, meta) -> tuple[bytes, dict[str, bytes]]:
    result = deidentify(
        tables, profile=SAFE_HARBOR, key=KEY, project_id=PROJECT, field_meta=meta, site_countries=demo_countries()
    )
    data = export_files(result.tables, result.fields, formats=FORMATS, timestamp=DATA_CUT)
    files = bundle_files(
        data,
        export_id="EXP-1",
        project={"id": PROJECT, "title": "Canary project", "approval_reference": "EC-1"},
        requester="investigator",
        approver="coordinator",
        data_cut=DATA_CUT,
        filters={"tumour_types": []},
        model_versions=["1.1"],
        formats=FORMATS,
        result=result,
    )
    uncompressed = {
        f"{name}.uncompressed.parquet": write_parquet(frame, result.fields[name], compression=None)
        for name, frame in result.tables.items()
    }
    return zip_bundle(files, timestamp=DATA_CUT), uncompressed


def searchable_bytes(bundle: bytes, extra: dict[str, bytes]) -> Iterator[tuple[str, bytes]]:
    """Every file of the bundle decompressed (xlsx parts too), and the uncompressed Parquet files."""
    archive = zipfile.ZipFile(io.BytesIO(bundle))
    for name in archive.namelist():
        data = archive.read(name)
        yield name, data
        if name.endswith(".xlsx"):
            workbook = zipfile.ZipFile(io.BytesIO(data))
            for part in workbook.namelist():
                yield f"{name}/{part}", workbook.read(part)
    yield from extra.items()


def read_back_values(bundle: bytes, tmp_path) -> Iterator[tuple[str, object]]:
    """Every value, label and metadata string read back from the Parquet, .dta, .sav and .xlsx files."""
    archive = zipfile.ZipFile(io.BytesIO(bundle))
    for name in archive.namelist():
        data = archive.read(name)
        if name.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
            for column in table.column_names:
                yield from ((name, value) for value in table.column(column).to_pylist())
            yield name, str(table.schema)
            yield name, str(table.schema.metadata)
        elif name.endswith((".dta", ".sav")):
            path = tmp_path / name
            path.write_bytes(data)
            reader = pyreadstat.read_dta if name.endswith(".dta") else pyreadstat.read_sav
            frame, meta = reader(str(path))
            for column in frame.columns:
                yield from ((name, value) for value in frame[column])
            yield name, meta.file_label
            yield from ((name, label) for label in meta.column_labels)
            yield name, str(meta.variable_value_labels)
        elif name.endswith(".xlsx"):
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
            for sheet in workbook.worksheets:
                for row in sheet.iter_rows(values_only=True):
                    yield from ((f"{name}/{sheet.title}", value) for value in row)


def leaks(haystacks: Iterable[tuple[str, bytes]], needles: Iterable[str]) -> list[tuple[str, str]]:
    lowered = [(name, data.lower()) for name, data in haystacks]
    return [
        (name, needle)
        for needle in sorted(set(needles))
        for name, data in lowered
        if needle.lower().encode("utf-8") in data
    ]


@pytest.fixture(scope="module")
def canary_bundle():
    tables, meta, canaries, dates = planted()
    bundle, extra = build_bundle(tables, meta)
    return tables, meta, canaries, dates, bundle, extra


def test_the_canaries_are_planted_in_every_identifier_and_free_text_field(canary_bundle):
    tables, meta, canaries, _, _, _ = canary_bundle
    flagged = {(table, field.name) for table in meta for field in meta[table] if field.flags}
    present = {(table, name) for table, name in flagged if name in tables[table].columns}
    assert ("analysis", "local_identifier") in present and ("analysis", "histology") in present
    assert ("analysis", "assessment_reason") in present and ("iraes", "irae_other_specify") in present
    assert len(present) >= 15
    for table, name in present:
        values = {str(value) for value in tables[table][name].dropna()}
        assert (values and values <= canaries) or name in KEY_BASE or name == "date_of_birth", (table, name)


def test_no_canary_string_is_in_any_file_of_the_bundle(canary_bundle):
    _, _, canaries, _, bundle, extra = canary_bundle
    assert leaks(searchable_bytes(bundle, extra), canaries) == []


def test_no_exact_date_is_in_any_file_of_the_bundle(canary_bundle):
    _, _, _, dates, bundle, extra = canary_bundle
    births = {dt.date(1951, 7, 13) + dt.timedelta(days=n) for n in range(500)}
    spellings = {s for day in dates for s in date_spellings(day, birth=day in births)}
    spellings -= {DATA_CUT.date().isoformat()}  # the manifest and README state the data cut
    assert leaks(searchable_bytes(bundle, extra), spellings) == []


def test_no_canary_and_no_date_is_read_back_from_parquet_stata_spss_or_excel(canary_bundle, tmp_path):
    _, _, canaries, _, bundle, _ = canary_bundle
    lowered = [canary.lower() for canary in canaries]
    archive = zipfile.ZipFile(io.BytesIO(bundle))
    cells = sum(
        pd.read_csv(io.BytesIO(archive.read(f"{t}.csv"))).size for t in (ANALYSIS, IRAES, RESPONSES, FOLLOW_UPS)
    )
    found, date_values, count = [], [], 0
    for name, value in read_back_values(bundle, tmp_path):
        count += 1
        if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
            date_values.append((name, value))
        text = str(value).lower()
        found += [(name, canary) for canary in lowered if canary in text]
    assert count > 4 * cells  # every cell of the four formats was read
    assert found == []
    assert date_values == []  # safe_harbor releases days, never dates


def test_pseudonyms_do_not_carry_the_registry_ids(canary_bundle):
    tables, _, _, _, bundle, _ = canary_bundle
    archive = zipfile.ZipFile(io.BytesIO(bundle))
    released = pd.read_csv(io.BytesIO(archive.read("analysis.csv")))
    registry_ids = set(tables[ANALYSIS]["registry_id"])
    assert not set(released["patient_pseudonym"]) & registry_ids
    assert all(value.startswith("P-") for value in released["patient_pseudonym"])


def test_the_search_finds_a_canary_that_is_let_through():
    tables, meta, canaries, _ = planted()
    histology = next(field for field in meta[ANALYSIS] if field.name == "histology")
    leaky = dataclasses.replace(histology, free_text=False)
    meta[ANALYSIS] = tuple(leaky if field.name == "histology" else field for field in meta[ANALYSIS])
    bundle, extra = build_bundle(tables, meta)
    found = leaks(searchable_bytes(bundle, extra), canaries)
    assert {name for name, _ in found} >= {
        "analysis.csv",
        "analysis.dta",
        "analysis.sav",
        "analysis.xlsx/xl/sharedStrings.xml",
        "analysis.uncompressed.parquet",
    } or {name for name, _ in found} >= {
        "analysis.csv",
        "analysis.dta",
        "analysis.sav",
        "analysis.uncompressed.parquet",
    }
