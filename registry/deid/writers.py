"""Write released tables as CSV, Parquet, Stata .dta, SPSS .sav and Excel .xlsx — the same bytes every time.

Every writer takes a released frame and its :class:`~registry.deid.fields.FieldMeta` (the codebook's
source) and returns bytes. Determinism, format by format:

- **CSV**: fully deterministic (UTF-8, ``\\n`` line ends, ISO dates, ``true``/``false``, shortest
  round-trip floats).
- **Parquet**: coded values are dictionary-encoded text (:data:`CODE_TYPE`, sorted); no timestamp is
  written; the footer's ``created_by`` names the pyarrow version, so the bytes are identical for the same
  pyarrow. The pandas schema metadata is left out; each field carries its label and unit, the schema the
  table title.
- **Stata .dta** (format 118, Stata 14+): the header's timestamp is set to ``timestamp`` (the data
  cut) instead of the time of writing.
- **SPSS .sav**: the header's creation date and time are set to ``timestamp``.
- **Excel .xlsx**: the core properties' created/modified dates are set to ``timestamp`` and the zip
  entries get fixed dates, in a fixed order.

In .dta and .sav, coded values are stored as numbers with value labels
(:func:`registry.deid.codebook.numeric_codes`), yes/no as 1/0, and names longer than 32 characters use
the codebook's short name; variable labels come from the metadata. Text cells starting with ``=``,
``+``, ``-``, ``@``, tab or carriage return are prefixed with ``'`` in CSV and Excel so that a
spreadsheet never runs them as formulas (after de-identification only codes are left, so this is a
second line of defence).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils.exceptions import IllegalCharacterError

from registry.deid.codebook import (
    CODEBOOK_COLUMNS,
    codebook_csv,
    codebook_entries,
    codebook_json,
    is_coded,
    numeric_codes,
    stata_names,
    value_labels,
)
from registry.deid.errors import WriterError
from registry.deid.fields import TABLE_TITLES, FieldKind, FieldMeta
from registry.deid.profiles import SUPPRESSED

FORMATS: dict[str, str] = {"csv": "csv", "parquet": "parquet", "dta": "dta", "sav": "sav", "xlsx": "xlsx"}
"""Format name → file extension."""

#: Excel's last row is 1,048,576; one row of each sheet is the header.
XLSX_MAX_ROWS = 1_048_575
STATA_LABEL_LENGTH = 80
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_BOLD = Font(bold=True)


def escape_formula(text: str) -> str:
    """``text`` prefixed with ``'`` when a spreadsheet would read it as a formula."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _check(frame: pd.DataFrame, fields: Sequence[FieldMeta]) -> None:
    if [meta.name for meta in fields] != list(frame.columns):
        raise WriterError("the frame's columns and the field metadata differ")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day_month(when: dt.datetime) -> str:
    """``"31 Jan"``: English month names whatever the locale (both formats expect them)."""
    return f"{when.day:02d} {_MONTHS[when.month - 1]}"


def _utc(timestamp: dt.datetime) -> dt.datetime:
    if timestamp.tzinfo is None:
        raise WriterError("timestamps must be timezone-aware")
    return timestamp.astimezone(dt.UTC)


# --- CSV ------------------------------------------------------------------------------------------------


def _csv_column(series: pd.Series, meta: FieldMeta) -> pd.Series:
    if meta.kind is FieldKind.BOOLEAN:
        return series.map({True: "true", False: "false"}).astype(object).where(series.notna(), "")
    if isinstance(series.dtype, pd.CategoricalDtype):  # each distinct text escaped once
        texts = np.array([escape_formula(str(value)) for value in series.cat.categories] + [""], dtype=object)
        return pd.Series(texts[series.cat.codes.to_numpy()], index=series.index)
    if series.dtype == object:
        return series.map(lambda value: "" if value is None else escape_formula(str(value)))
    return series


def write_csv(frame: pd.DataFrame, fields: Sequence[FieldMeta]) -> bytes:
    """UTF-8 CSV with a header row; empty cells are missing."""
    _check(frame, fields)
    out = pd.DataFrame({meta.name: _csv_column(frame[meta.name], meta) for meta in fields})
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n", na_rep="", quoting=csv.QUOTE_MINIMAL)
    return buffer.getvalue().encode("utf-8")


# --- Parquet --------------------------------------------------------------------------------------------

_ARROW_TYPES: dict[FieldKind, pa.DataType] = {
    FieldKind.TEXT: pa.string(),
    FieldKind.CODE: pa.string(),
    FieldKind.INTEGER: pa.int64(),
    FieldKind.INTEGER_CODE: pa.int64(),
    FieldKind.DECIMAL: pa.float64(),
    FieldKind.BOOLEAN: pa.bool_(),
    FieldKind.DATE: pa.date32(),
    FieldKind.DATETIME: pa.date32(),
}


#: Coded values in Parquet: dictionary-encoded text, each distinct code stored once and numbered in sorted order
#: (so the bytes do not depend on the order the rows arrived in). Readers that keep Arrow's types (pandas, R,
#: polars) get categorical (factor) columns; others read plain text.
CODE_TYPE = pa.dictionary(pa.int32(), pa.string())


def _coded_array(series: pd.Series) -> pa.DictionaryArray:
    """A code column as a dictionary array of its used values, sorted; missing is null."""
    if not isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object).where(series.notna(), None).astype("category")
    categories = series.cat.categories.to_numpy(dtype=object)
    codes = series.cat.codes.to_numpy()
    used = np.zeros(len(categories) + 1, dtype=bool)  # the last: code -1, missing
    used[codes] = True
    kept = np.flatnonzero(used[:-1])
    texts = np.array([str(value) for value in categories[kept]], dtype=object)
    order = np.argsort(texts.astype(str), kind="stable")
    renumbered = np.full(len(categories) + 1, -1, dtype=np.int32)
    renumbered[kept[order]] = np.arange(len(kept), dtype=np.int32)
    indices = renumbered[codes]
    return pa.DictionaryArray.from_arrays(
        pa.array(indices, type=pa.int32(), mask=indices < 0), pa.array(texts[order], type=pa.string())
    )


def write_parquet(
    frame: pd.DataFrame, fields: Sequence[FieldMeta], *, title: str = "", compression: str | None = "zstd"
) -> bytes:
    """Parquet with a typed schema (codes as :data:`CODE_TYPE`); field metadata hold each column's label and unit."""
    _check(frame, fields)
    arrays, schema_fields = [], []
    for meta in fields:
        kind = _ARROW_TYPES[meta.kind]
        series = frame[meta.name]
        if meta.kind is FieldKind.CODE:
            array = _coded_array(series)  # written as it is: no text per row to decode and encode again
            kind = CODE_TYPE
        elif meta.kind is FieldKind.TEXT and isinstance(series.dtype, pd.CategoricalDtype):
            # Decoded by arrow from the codes and the distinct texts: no Python string per row.
            dictionary = pa.array(series.cat.categories.to_numpy(dtype=object), type=kind, from_pandas=True)
            codes = pa.array(series.cat.codes.to_numpy(), mask=series.isna().to_numpy())
            array = pa.DictionaryArray.from_arrays(codes, dictionary).cast(kind)
        elif meta.kind is FieldKind.TEXT:
            array = pa.array(series.to_numpy(dtype=object), type=kind, from_pandas=True)  # None/NaN: null
        else:
            array = pa.array(series, type=kind, from_pandas=True)
        arrays.append(array)
        metadata = {"label": meta.label, "unit": meta.unit} if meta.unit else {"label": meta.label}
        schema_fields.append(pa.field(meta.name, kind, metadata={k: v.encode() for k, v in metadata.items()}))
    schema = pa.schema(schema_fields, metadata={"title": title.encode()} if title else None)
    table = pa.Table.from_arrays(arrays, schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=compression or "none", version="2.6", write_statistics=True)
    return sink.getvalue().to_pybytes()


# --- Stata and SPSS -----------------------------------------------------------------------------------------


def _statistical_frame(
    frame: pd.DataFrame, fields: Sequence[FieldMeta]
) -> tuple[pd.DataFrame, dict[str, str | None], dict[str, dict[int, str]], dict[str, list[int]]]:
    """The frame as Stata and SPSS hold it: short names, numbered codes, 1/0 yes/no, "" for missing text."""
    names = stata_names(fields)
    columns: dict[str, object] = {}
    labels: dict[str, str | None] = {}  # as pyreadstat takes them
    value_label_sets: dict[str, dict[int, str]] = {}
    user_missing: dict[str, list[int]] = {}
    for meta in fields:
        name, series = names[meta.name], frame[meta.name]
        label = f"{meta.label} ({meta.unit})" if meta.unit else meta.label
        labels[name] = label[:STATA_LABEL_LENGTH]
        if is_coded(meta):
            numbers = numeric_codes(meta)
            texts = series.astype(object).where(series.notna(), None)
            texts = texts.map(lambda value: None if value is None else str(value))
            coded = texts.map(numbers)
            if (coded.isna() & texts.notna()).any():
                raise WriterError(f"column {meta.name} holds a value outside its codebook")
            columns[name] = coded.astype("float64")
            value_label_sets[name] = value_labels(meta)
            if SUPPRESSED in numbers:
                user_missing[name] = [numbers[SUPPRESSED]]
        elif meta.kind is FieldKind.BOOLEAN:
            columns[name] = series.astype("float64")
            value_label_sets[name] = value_labels(meta)
        elif meta.kind in (FieldKind.INTEGER, FieldKind.DECIMAL):
            columns[name] = series.astype("float64")
        elif meta.kind in (FieldKind.DATE, FieldKind.DATETIME):
            columns[name] = series.astype(object).where(series.notna(), None)
        else:
            texts = series.astype(object).where(series.notna(), None)
            columns[name] = texts.map(lambda value: "" if value is None else str(value))
    return pd.DataFrame(columns), labels, value_label_sets, user_missing


def _via_file(suffix: str, write: Callable[[Path], object]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="deid-") as directory:
        path = Path(directory) / f"table{suffix}"
        write(path)
        return path.read_bytes()


def _patch(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def write_dta(frame: pd.DataFrame, fields: Sequence[FieldMeta], *, title: str, timestamp: dt.datetime) -> bytes:
    """Stata 14+ .dta (format 118) with variable and value labels; the header timestamp is ``timestamp``."""
    _check(frame, fields)
    data, labels, value_label_sets, _ = _statistical_frame(frame, fields)
    # pyreadstat annotates its dicts invariantly (codes `int | float`, missing values `int | float | str | …`);
    # ours hold ints, which it takes, but mypy cannot see that through a dict.
    content = _via_file(
        ".dta",
        lambda path: pyreadstat.write_dta(
            data,
            path,
            file_label=title[:STATA_LABEL_LENGTH],
            column_labels=labels,
            version=14,
            variable_value_labels=value_label_sets,  # type: ignore[arg-type]
        ),
    )
    marker = b"<timestamp>"
    at = content.find(marker)
    if at < 0 or content[at + len(marker)] != 17:
        raise WriterError("unexpected .dta header: no 17-character timestamp")
    when = _utc(timestamp)
    stamp = f"{_day_month(when)} {when.year:04d} {when.hour:02d}:{when.minute:02d}".encode("ascii")
    return _patch(content, at + len(marker) + 1, stamp)


#: Offsets of the creation date ("dd mmm yy") and time ("hh:mm:ss") in a .sav file header.
_SAV_DATE_AT, _SAV_TIME_AT = 92, 101


def write_sav(frame: pd.DataFrame, fields: Sequence[FieldMeta], *, title: str, timestamp: dt.datetime) -> bytes:
    """SPSS .sav with variable and value labels (the suppression code user-missing); creation time ``timestamp``."""
    _check(frame, fields)
    data, labels, value_label_sets, user_missing = _statistical_frame(frame, fields)
    content = _via_file(
        ".sav",
        lambda path: pyreadstat.write_sav(
            data,
            path,
            file_label=title[:64],
            column_labels=labels,
            variable_value_labels=value_label_sets,  # type: ignore[arg-type]  # invariant dicts, as in write_dta
            missing_ranges=user_missing or None,  # type: ignore[arg-type]
        ),
    )
    if not content.startswith(b"$FL2"):
        raise WriterError("unexpected .sav header")
    when = _utc(timestamp)
    content = _patch(content, _SAV_DATE_AT, f"{_day_month(when)} {when.year % 100:02d}".encode("ascii"))
    return _patch(content, _SAV_TIME_AT, f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}".encode("ascii"))


# --- Excel ----------------------------------------------------------------------------------------------


def _cell(value: object) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return escape_formula(_ILLEGAL_XML.sub("\ufffd", value))
    return value


def _rows(frame: pd.DataFrame) -> Iterable[list[object]]:
    columns = [frame[name].astype(object).to_numpy() for name in frame.columns]
    for values in zip(*columns, strict=True):
        yield [_cell(value) for value in values]


def write_xlsx(
    frame: pd.DataFrame, fields: Sequence[FieldMeta], *, title: str, timestamp: dt.datetime, table: str = ""
) -> bytes:
    """An .xlsx workbook: the data (split over sheets of Excel's row limit) and a "variables" sheet."""
    _check(frame, fields)
    when = _utc(timestamp).replace(tzinfo=None)
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "ICI Rechallenge Registry"
    workbook.properties.title = title
    workbook.properties.created = when
    header = [meta.name for meta in fields]
    chunks = max(1, -(-len(frame) // XLSX_MAX_ROWS))
    for number in range(chunks):
        sheet = workbook.create_sheet("data" if number == 0 else f"data_{number + 1}")
        bold = []
        for name in header:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = _BOLD
            bold.append(cell)
        sheet.append(bold)
        part = frame.iloc[number * XLSX_MAX_ROWS : (number + 1) * XLSX_MAX_ROWS]
        date_columns = [i for i, meta in enumerate(fields) if meta.kind in (FieldKind.DATE, FieldKind.DATETIME)]
        for row in _rows(part):
            if date_columns:
                for i in date_columns:
                    if row[i] is not None:
                        cell = WriteOnlyCell(sheet, value=row[i])
                        cell.number_format = "yyyy-mm-dd"
                        row[i] = cell
            try:
                sheet.append(row)
            except IllegalCharacterError:  # pragma: no cover - _cell removes them
                raise WriterError("a cell holds characters Excel cannot store") from None
    variables = workbook.create_sheet("variables")
    columns = [c for c in CODEBOOK_COLUMNS if c != "table"]
    variables.append(columns)
    for entry in codebook_entries({table or "table": fields}):
        variables.append([_flat(entry[column]) for column in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _normalise_xlsx(buffer.getvalue(), when)


def _flat(value: object) -> object:
    if isinstance(value, list):
        return escape_formula("; ".join(" = ".join(str(part) for part in pair) for pair in value))
    return escape_formula(value) if isinstance(value, str) else value


_CORE_DATES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def _normalise_xlsx(content: bytes, when: dt.datetime) -> bytes:
    """The workbook with fixed core-property dates and zip entry times (openpyxl stamps both with now)."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode("ascii")
    source = zipfile.ZipFile(io.BytesIO(content))
    entries = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    return _zip(
        {
            name: _CORE_DATES.sub(lambda m: m.group(1) + stamp + m.group(3), data)
            if name == "docProps/core.xml"
            else data
            for name, data in entries
        },
        date_time=_FIXED_ZIP_TIME,
    )


#: Files compressed already (Parquet pages, an .xlsx is itself a zip): stored in the bundle as they are, since
#: deflating them again gains under 1% and costs a second a million rows.
COMPRESSED_SUFFIXES = (".parquet", ".xlsx")


def _zip(
    files: Mapping[str, bytes], *, date_time: tuple[int, int, int, int, int, int], stored: tuple[str, ...] = ()
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            method = zipfile.ZIP_STORED if name.endswith(stored) else zipfile.ZIP_DEFLATED
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = method
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, compress_type=method, compresslevel=6)
    return buffer.getvalue()


# --- everything -------------------------------------------------------------------------------------------


def write_table(
    fmt: str,
    frame: pd.DataFrame,
    fields: Sequence[FieldMeta],
    *,
    title: str,
    timestamp: dt.datetime,
    table: str = "",
) -> bytes:
    """One table in one of :data:`FORMATS`."""
    match fmt:
        case "csv":
            return write_csv(frame, fields)
        case "parquet":
            return write_parquet(frame, fields, title=title)
        case "dta":
            return write_dta(frame, fields, title=title, timestamp=timestamp)
        case "sav":
            return write_sav(frame, fields, title=title, timestamp=timestamp)
        case "xlsx":
            return write_xlsx(frame, fields, title=title, timestamp=timestamp, table=table)
    raise WriterError(f"{fmt!r} is not an export format ({', '.join(FORMATS)})")


def export_files(
    tables: Mapping[str, pd.DataFrame],
    fields: Mapping[str, Sequence[FieldMeta]],
    *,
    formats: Sequence[str],
    timestamp: dt.datetime,
    titles: Mapping[str, str] = TABLE_TITLES,
) -> dict[str, bytes]:
    """``<table>.<ext>`` for every table and format, and ``codebook.csv`` / ``codebook.json``, in a fixed order."""
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown:
        raise WriterError(f"unknown format(s): {', '.join(unknown)}")
    files: dict[str, bytes] = {}
    for table, frame in tables.items():
        title = titles.get(table, table)
        for fmt in dict.fromkeys(formats):
            files[f"{table}.{FORMATS[fmt]}"] = write_table(
                fmt, frame, fields[table], title=title, timestamp=timestamp, table=table
            )
    files["codebook.csv"] = codebook_csv(fields)
    files["codebook.json"] = codebook_json(fields, tables=titles)
    return files


def zip_bundle(files: Mapping[str, bytes], *, timestamp: dt.datetime | None = None) -> bytes:
    """The files as one zip, entries in the given order with fixed times (``timestamp``, else 1980-01-01)."""
    when = _utc(timestamp).timetuple()[:6] if timestamp is not None else _FIXED_ZIP_TIME
    if when[0] < 1980:
        when = _FIXED_ZIP_TIME
    return _zip(files, date_time=when, stored=COMPRESSED_SUFFIXES)
