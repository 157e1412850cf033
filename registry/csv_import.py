"""Bulk-import CSV files: the column specification, and parsing rows into plain values.

One CSV row is one **rechallenge episode**. Each row repeats its patient's columns and the patient's
initial ICI course (ICI-1) with up to three prior irAEs of ICI-1; several rows with the same
``local_identifier`` are the same patient's 1st, 2nd… rechallenge, and their patient-level columns
must agree. Each row may also carry up to three irAEs during its rechallenge, two response
assessments and two follow-ups of its episode.

A row of a patient already registered at the site updates that patient (``apps.imports.updates``):
the row names the patient by ``local_identifier`` or ``registry_id``, an empty cell leaves the stored
value as it is, and ``reason_for_change`` says why a complete record changes. Those two columns fill
no record field; they say which patient and why. The template's example row is refused if left in.

``COLUMNS`` is the single source of the file format: the downloadable template, the column
documentation page and the parser all read it. A column names the clinical record and model field it
fills (labels, help text and requiredness are read from that model field by the Django side) and
the controlled vocabulary its codes come from. Parsing checks each cell's *type* and *code* only;
the clinical rules (required fields, date order inside a record, …) are the models' own ``clean()``
run by the importing app, so the import accepts exactly what the web forms accept. The rules that
span records or rows and so cannot run on unsaved model instances live here in ``check_rows``.

Pure Python: no Django.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, BinaryIO

from registry import rules
from registry import vocabularies as v
from registry.dates import DatePrecision, PartialDate
from registry.identifiers import normalise_local_identifier
from registry.text import NUL_MESSAGE, NUL_SHOWN, contains_nul, nul_shown

MAX_PRIOR_IRAES = 3
MAX_RESPONSES = 2
MAX_FOLLOW_UPS = 2
MAX_RECHALLENGE_IRAES = 3
#: Largest number of data rows one file may hold.
DEFAULT_MAX_ROWS = 10_000
#: Row number of file-level problems (the header is row 1, the first data row is row 2).
FILE_ROW = 0
HEADER_ROW = 1


class Record(StrEnum):
    """The clinical record a column fills; values match the record names of ``registry.crf``."""

    PATIENT = "patient"
    INITIAL_COURSE = "initial_course"
    PRIOR_IRAE = "prior_irae"
    EPISODE = "episode"
    RECHALLENGE_IRAE = "rechallenge_irae"
    RESPONSE = "response"
    FOLLOW_UP = "follow_up"


RECORD_TITLES: dict[Record, str] = {
    Record.PATIENT: "Patient",
    Record.INITIAL_COURSE: "Initial ICI course (ICI-1)",
    Record.PRIOR_IRAE: "Prior irAEs of ICI-1",
    Record.EPISODE: "Rechallenge episode",
    Record.RECHALLENGE_IRAE: "irAEs during the rechallenge",
    Record.RESPONSE: "Response assessments of the episode",
    Record.FOLLOW_UP: "Follow-ups of the episode",
}

#: Repeated column groups and how many of each a row may hold.
REPEATS: dict[Record, int] = {
    Record.PRIOR_IRAE: MAX_PRIOR_IRAES,
    Record.RECHALLENGE_IRAE: MAX_RECHALLENGE_IRAES,
    Record.RESPONSE: MAX_RESPONSES,
    Record.FOLLOW_UP: MAX_FOLLOW_UPS,
}

#: Records that belong to the patient rather than to the episode: identical on every row of a patient.
PATIENT_LEVEL = frozenset({Record.PATIENT, Record.INITIAL_COURSE, Record.PRIOR_IRAE})


class Kind(StrEnum):
    """How a cell's text is read."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    PARTIAL_DATE = "partial_date"
    BOOLEAN = "boolean"
    CODE = "code"
    INTEGER_CODE = "integer_code"


KIND_FORMATS: dict[Kind, str] = {
    Kind.TEXT: "Text",
    Kind.INTEGER: "Whole number",
    Kind.DECIMAL: "Number; '.' or ',' as the decimal mark, no thousands separator",
    Kind.DATE: "Date YYYY-MM-DD",
    Kind.PARTIAL_DATE: "Date YYYY-MM-DD, or YYYY-MM when only the month is known (stored as the 15th)",
    Kind.BOOLEAN: "yes / no / unknown (also true / false, 1 / 0); empty if not recorded",
    Kind.CODE: "One code from the list (case does not matter)",
    Kind.INTEGER_CODE: "One code from the list",
}

#: RECIST 1.1 and iRECIST categories together; the record checks the category fits the criteria.
RESPONSE_CATEGORIES: v.Vocabulary[v.Term] = v.Vocabulary(
    "Response category (RECIST 1.1 or iRECIST)",
    "RECIST 1.1; iRECIST",
    "1.1 / 2017",
    (*v.RECIST_CATEGORIES.terms, *(t for t in v.IRECIST_CATEGORIES.terms if t.code not in v.RECIST_CATEGORIES)),
)


@dataclass(frozen=True, slots=True)
class Column:
    """One CSV column: its header name, the record and field it fills, how it is read."""

    name: str
    record: Record
    field: str
    kind: Kind
    vocabulary: v.Vocabulary | None = None
    group: int | None = None
    note: str = ""
    #: Required by the import although the model field is optional (checked by ``check_rows``).
    required: bool = False
    #: False for a column that fills no record field: it says which patient, or why a record changes.
    in_record: bool = True

    @property
    def precision_field(self) -> str | None:
        """The ``*_precision`` field a partial date also fills."""
        return f"{self.field}_precision" if self.kind is Kind.PARTIAL_DATE else None

    @property
    def pattern(self) -> str:
        """The name with the group number as ``<n>`` (``irae<n>_term``), for documentation."""
        if self.group is None:
            return self.name
        return re.sub(rf"^([a-z]+){self.group}_", r"\1<n>_", self.name)

    @property
    def key(self) -> RecordKey:
        return (self.record, self.group)


RecordKey = tuple[Record, int | None]

_C = Kind.CODE
#: (column suffix, model field, kind, vocabulary, note for the data dictionary)
_ColumnSpec = tuple[str, str, Kind, v.Vocabulary | None, str]


def _irae_columns(*, onset_note: str = "", extra: tuple[_ColumnSpec, ...] = ()) -> tuple[_ColumnSpec, ...]:
    """The columns of one irAE: the same for an irAE of ICI-1 and for one during a rechallenge."""
    return (
        ("term", "ctcae_term", _C, v.CTCAE_TERMS, ""),
        (
            "term_other",
            "ctcae_term_other",
            Kind.TEXT,
            None,
            "Required when the term is 'other': the term as CTCAE names it. Kept at your site, never exported.",
        ),
        ("ctcae_version", "ctcae_version", _C, v.CTCAE_VERSIONS, ""),
        ("grade", "grade", Kind.INTEGER_CODE, v.CTCAE_GRADES, ""),
        ("onset", "onset_date", Kind.PARTIAL_DATE, None, onset_note),
        ("resolution", "resolution_date", Kind.PARTIAL_DATE, None, ""),
        (
            "resolved_to_grade",
            "resolved_to_grade",
            Kind.INTEGER_CODE,
            v.RESOLVED_GRADES,
            "Required when a resolution date is given.",
        ),
        ("management", "management", _C, v.IRAE_MANAGEMENT, ""),
        ("peak_prednisone", "peak_prednisone_mg_per_day", Kind.DECIMAL, None, ""),
        (
            "immunosuppressant",
            "second_line_immunosuppressant",
            _C,
            v.IMMUNOSUPPRESSANTS,
            "Required when management is second_line.",
        ),
        ("steroid_refractory", "steroid_refractory", Kind.BOOLEAN, None, ""),
        ("hospitalised", "hospitalised", Kind.BOOLEAN, None, ""),
        ("led_to_discontinuation", "led_to_discontinuation", Kind.BOOLEAN, None, ""),
        *extra,
    )


_SPEC: dict[Record, tuple[str, tuple[_ColumnSpec, ...]]] = {
    # record: (column prefix, ((suffix, model field, kind, vocabulary, note), ...))
    Record.PATIENT: (
        "",
        (
            (
                "local_identifier",
                "local_identifier",
                Kind.TEXT,
                None,
                "Rows with the same value are one patient; case, spaces and invisible characters do not count. "
                "A patient already registered at the site with this identifier is updated, not registered again.",
            ),
            (
                "registry_id",
                "registry_id",
                Kind.TEXT,
                None,
                "Leave empty for a new patient (the registry gives the ID). To update a registered patient, give "
                "their registry ID or their local identifier; if you give both, they must be the same patient.",
            ),
            (
                "reason_for_change",
                "",
                Kind.TEXT,
                None,
                "Why this row changes what is registered; kept in the audit trail. Required when the row changes a "
                "record marked complete. Empty: “Bulk import #<import number>”.",
            ),
            ("sex", "sex", _C, v.SEX, ""),
            ("year_of_birth", "year_of_birth", Kind.INTEGER, None, ""),
            ("date_of_birth", "date_of_birth", Kind.DATE, None, ""),
            ("tumour_type", "tumour_type", _C, v.TUMOUR_TYPES, ""),
            ("histology", "histology", Kind.TEXT, None, ""),
            ("consent_status", "consent_status", _C, v.CONSENT_STATUS, ""),
            (
                "consent_date",
                "consent_date",
                Kind.DATE,
                None,
                "Required when consent_status is consented (the default).",
            ),
            ("pdl1_tps_percent", "pdl1_tps_percent", Kind.DECIMAL, None, ""),
            ("pdl1_cps", "pdl1_cps", Kind.DECIMAL, None, ""),
            ("tmb_mut_per_mb", "tmb_mut_per_mb", Kind.DECIMAL, None, ""),
            ("msi_status", "msi_status", _C, v.MSI_STATUS, ""),
        ),
    ),
    Record.INITIAL_COURSE: (
        "ici1_",
        (
            ("agent", "primary_agent", _C, v.ICI_AGENTS, ""),
            ("second_agent", "second_agent", _C, v.ICI_AGENTS, ""),
            ("regimen", "regimen_type", _C, v.REGIMEN_TYPES, ""),
            ("line", "line_of_therapy", Kind.INTEGER, None, ""),
            ("start_date", "start_date", Kind.PARTIAL_DATE, None, ""),
            ("stop_date", "stop_date", Kind.PARTIAL_DATE, None, "A rechallenge needs ICI-1 to have stopped."),
            ("ecog", "ecog_at_start", Kind.INTEGER_CODE, v.ECOG, ""),
            ("best_response", "best_overall_response", _C, v.RECIST_CATEGORIES, ""),
            (
                "progression_date",
                "progression_date",
                Kind.PARTIAL_DATE,
                None,
                "Required when ici1_stop_reason is progression.",
            ),
            ("stop_reason", "stop_reason", _C, v.STOP_REASONS, "Required when ici1_stop_date is given."),
            (
                "iraes",
                "iraes_during_course",
                _C,
                v.IRAE_HISTORY,
                "Were there irAEs during ICI-1? 'no' only when none occurred (then no irae<n>_ columns); "
                "empty if not checked.",
            ),
        ),
    ),
    Record.PRIOR_IRAE: ("irae{n}_", _irae_columns()),
    Record.EPISODE: (
        "episode_",
        (
            (
                "sequence",
                "sequence_number",
                Kind.INTEGER,
                None,
                "Empty: the row's position among the rows of its patient (1, 2…).",
            ),
            ("start_date", "start_date", Kind.DATE, None, ""),
            ("type", "rechallenge_type", _C, v.RECHALLENGE_TYPES, ""),
            ("agent_relation", "agent_relation", _C, v.AGENT_RELATIONS, ""),
            ("agent", "primary_agent", _C, v.ICI_AGENTS, ""),
            ("second_agent", "second_agent", _C, v.ICI_AGENTS, ""),
            ("regimen", "regimen_type", _C, v.REGIMEN_TYPES, ""),
            ("ecog", "ecog_at_rechallenge", Kind.INTEGER_CODE, v.ECOG, ""),
            ("ldh", "ldh_u_per_l", Kind.DECIMAL, None, ""),
            ("ldh_above_uln", "ldh_above_uln", Kind.BOOLEAN, None, ""),
            ("nlr", "neutrophil_lymphocyte_ratio", Kind.DECIMAL, None, ""),
            ("albumin", "albumin_g_per_l", Kind.DECIMAL, None, ""),
            ("brain_metastases", "brain_metastases", Kind.BOOLEAN, None, ""),
            ("liver_metastases", "liver_metastases", Kind.BOOLEAN, None, ""),
            (
                "prednisone",
                "current_prednisone_mg_per_day",
                Kind.DECIMAL,
                None,
                "Empty if not recorded; 0 if no corticosteroid.",
            ),
            ("intervening_therapy", "intervening_therapy", _C, v.INTERVENING_THERAPIES, ""),
            ("intervening_lines", "intervening_therapy_lines", Kind.INTEGER, None, ""),
            (
                "iraes",
                "iraes_during_rechallenge",
                _C,
                v.IRAE_HISTORY,
                "Were there irAEs during this rechallenge? 'no' only when none occurred (then no rirae<n>_ "
                "columns); empty if not checked.",
            ),
        ),
    ),
    Record.RECHALLENGE_IRAE: (
        "rirae{n}_",
        _irae_columns(
            onset_note="Not before the rechallenge started.",
            extra=(("recurrence", "recurrence_status", _C, v.RECURRENCE_STATUS, ""),),
        ),
    ),
    Record.RESPONSE: (
        "response{n}_",
        (
            ("date", "assessment_date", Kind.DATE, None, ""),
            ("criteria", "criteria", _C, v.RESPONSE_CRITERIA, ""),
            ("category", "category", _C, RESPONSE_CATEGORIES, ""),
        ),
    ),
    Record.FOLLOW_UP: (
        "followup{n}_",
        (
            ("date", "follow_up_date", Kind.DATE, None, ""),
            ("vital_status", "vital_status", _C, v.VITAL_STATUS, ""),
            ("progression_date", "progression_date", Kind.DATE, None, ""),
            ("stopped_date", "rechallenge_stopped_date", Kind.DATE, None, ""),
            ("stop_reason", "rechallenge_stop_reason", _C, v.STOP_REASONS, "Required when a stopped date is given."),
            ("death_date", "death_date", Kind.DATE, None, "Required when vital_status is dead."),
            ("last_alive_date", "last_known_alive_date", Kind.DATE, None, ""),
        ),
    ),
}


#: Optional in the models, required here: every row is a rechallenge, which needs ICI-1 to have stopped;
#: an irAE during a rechallenge says whether it is a recurrence (the model requires it once linked).
_REQUIRED = frozenset({"ici1_stop_date", *(f"rirae{n}_recurrence" for n in range(1, MAX_RECHALLENGE_IRAES + 1))})
#: Columns that fill no record field: which registered patient a row updates, and why.
_NOT_IN_RECORD = frozenset({"registry_id", "reason_for_change"})
#: Labels of the columns that fill no model field (the others are labelled by their model field).
COLUMN_LABELS: dict[str, str] = {"reason_for_change": "Reason for change"}


def _build_columns() -> tuple[Column, ...]:
    columns: list[Column] = []
    for record, (prefix, specs) in _SPEC.items():
        groups: Iterable[int | None] = range(1, REPEATS[record] + 1) if record in REPEATS else (None,)
        for group in groups:
            start = prefix.format(n=group) if group is not None else prefix
            columns.extend(
                Column(
                    f"{start}{suffix}",
                    record,
                    name,
                    kind,
                    vocabulary,
                    group,
                    note,
                    required=f"{start}{suffix}" in _REQUIRED,
                    in_record=f"{start}{suffix}" not in _NOT_IN_RECORD,
                )
                for suffix, name, kind, vocabulary, note in specs
            )
    return tuple(columns)


COLUMNS: tuple[Column, ...] = _build_columns()
COLUMNS_BY_NAME: dict[str, Column] = {column.name: column for column in COLUMNS}
HEADER: tuple[str, ...] = tuple(column.name for column in COLUMNS)
KEY_COLUMN = "local_identifier"
REGISTRY_ID_COLUMN = "registry_id"
REASON_COLUMN = "reason_for_change"
#: The local identifier of the template's example row: a file still holding that row is refused.
EXAMPLE_IDENTIFIER = "EXAMPLE-DELETE-ME"

_BY_FIELD: dict[tuple[Record, int | None, str], Column] = {}
for _column in COLUMNS:
    if not _column.in_record:
        continue
    _BY_FIELD[(_column.record, _column.group, _column.field)] = _column
    if _column.precision_field:
        _BY_FIELD[(_column.record, _column.group, _column.precision_field)] = _column


_COLUMNS_BY_KEY: dict[RecordKey, tuple[Column, ...]] = {
    key: tuple(c for c in COLUMNS if c.key == key) for key in dict.fromkeys(c.key for c in COLUMNS)
}


def column_for(record: Record, field_name: str, group: int | None = None) -> Column | None:
    """The column that fills ``field_name`` of a record (a ``*_precision`` field maps to its date)."""
    return _BY_FIELD.get((record, group, field_name))


def first_column(record: Record, group: int | None = None) -> Column:
    return next(c for c in COLUMNS if c.record is record and c.group == group)


def documented_columns() -> tuple[Column, ...]:
    """Each column once, a repeated group by its first instance (shown as ``irae<n>_…``)."""
    return tuple(column for column in COLUMNS if column.group in (None, 1))


# --- Errors --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CellError:
    """A problem with one cell (``column`` empty: the whole row, or the file when ``row`` is 0)."""

    row: int
    column: str
    value: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "message": self.message}

    def __str__(self) -> str:
        where = "file" if self.row == FILE_ROW else f"row {self.row}"
        return f"{where}, column {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


_COLUMN_ORDER = {name: index for index, name in enumerate(HEADER)}


def sort_errors(errors: Iterable[CellError]) -> list[CellError]:
    """Errors by row, then in column order, each distinct problem once."""
    unique = dict.fromkeys(errors)
    return sorted(unique, key=lambda e: (e.row, _COLUMN_ORDER.get(e.column, -1), e.message))


# --- Cells -----------------------------------------------------------------------------------------------

_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = frozenset({"yes", "y", "true", "1"})
_FALSE = frozenset({"no", "n", "false", "0"})
_UNKNOWN = frozenset({"unknown", "unk"})


class CellValueError(ValueError):
    """A cell's text cannot be read as its column's type; the message never repeats the value."""


def _code(vocabulary: v.Vocabulary, text: str) -> str:
    if text in vocabulary:
        return text
    folded = {code.casefold(): code for code in vocabulary.codes()}
    try:
        return folded[text.casefold()]
    except KeyError:
        raise CellValueError(f"Not a code of '{vocabulary.name}'. Allowed: {', '.join(vocabulary.codes())}.") from None


def parse_cell(column: Column, text: str) -> Any:
    """The value of one non-empty cell, or ``CellValueError`` with a message for the person fixing it.

    A partial date gives a ``PartialDate``; the caller stores its date and precision.
    """
    text = text.strip()
    match column.kind:
        case Kind.TEXT:
            return text
        case Kind.INTEGER:
            if not _INTEGER.match(text):
                raise CellValueError("Not a whole number.")
            return int(text)
        case Kind.DECIMAL:
            if not _DECIMAL.match(text):
                raise CellValueError("Not a number (use 12.5 or 12,5; no thousands separator).")
            try:
                return Decimal(text.replace(",", "."))
            except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
                raise CellValueError("Not a number.") from None
        case Kind.DATE:
            return parse_date(text)
        case Kind.PARTIAL_DATE:
            return parse_partial_date(text)
        case Kind.BOOLEAN:
            folded = text.casefold()
            if folded in _TRUE:
                return True
            if folded in _FALSE:
                return False
            if folded in _UNKNOWN:
                return None
            raise CellValueError("Answer yes, no or unknown (or leave empty if not recorded).")
        case Kind.CODE:
            assert column.vocabulary is not None
            return _code(column.vocabulary, text)
        case Kind.INTEGER_CODE:
            assert column.vocabulary is not None
            return int(_code(column.vocabulary, text))
    raise AssertionError(f"unknown kind {column.kind}")  # pragma: no cover


def parse_date(text: str) -> dt.date:
    """A full date ``YYYY-MM-DD``."""
    text = text.strip()
    if not _DATE.match(text):
        raise CellValueError("Not a date: use YYYY-MM-DD.")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CellValueError("Not a valid calendar date (YYYY-MM-DD).") from None


def parse_partial_date(text: str) -> PartialDate:
    """``YYYY-MM-DD`` (day precision) or ``YYYY-MM`` (month precision, imputed to the 15th)."""
    try:
        return PartialDate.parse(text)
    except ValueError:
        raise CellValueError("Not a valid date: use YYYY-MM-DD, or YYYY-MM when only the month is known.") from None


# --- Rows ------------------------------------------------------------------------------------------------


@dataclass
class ParsedRow:
    """One data row: the cell texts, each record's field values, and the cells that could not be read.

    ``records`` holds the patient, ICI-1 and episode records always, and a repeated group (prior irAE,
    response, follow-up) only when one of its cells is filled. Empty cells are left out, so the model
    field's default applies.
    """

    number: int
    cells: dict[str, str]
    records: dict[RecordKey, dict[str, Any]] = field(default_factory=dict)
    errors: list[CellError] = field(default_factory=list)

    @functools.cached_property
    def local_identifier(self) -> str:
        """The row's patient key: the identifier in its normal form (``mrn 1`` and ``MRN1`` are one patient);
        worked out once (a 10,000-row import asks for it some 170,000 times)."""
        return normalise_local_identifier(self.cells.get(KEY_COLUMN, ""))

    @property
    def registry_id(self) -> str:
        """The registered patient the row names by registry ID (upper case), or ""."""
        return self.cells.get(REGISTRY_ID_COLUMN, "").strip().upper()

    @property
    def reason_for_change(self) -> str:
        return self.cells.get(REASON_COLUMN, "").strip()

    @property
    def patient_key(self) -> str:
        """Which patient the row is: its local identifier, or its registry ID when it gives no identifier."""
        if self.local_identifier:
            return self.local_identifier
        return f"registry:{self.registry_id}" if self.registry_id else ""

    def value(self, column: Column) -> Any:
        return self.records.get(column.key, {}).get(column.field)

    def error_columns(self) -> set[str]:
        return {error.column for error in self.errors}

    def error(self, column: Column | str, message: str) -> CellError:
        name = column.name if isinstance(column, Column) else column
        return CellError(self.number, name, self.cells.get(name, ""), message)


#: A cell holding a NUL character: refused before its text can reach a query or the stored report.
NUL_CELL = f"{NUL_MESSAGE} Remove it from this cell (shown here as {NUL_SHOWN})."


def parse_row(number: int, cells: Mapping[str, str]) -> ParsedRow:
    """Read every cell of a row by its column's type; unreadable cells become errors.

    A cell with a NUL character is an error and its text is kept with the NUL made visible, so neither
    the identifier lookups nor the stored report ever hold one.
    """
    texts = {name: (cells.get(name) or "").strip() for name in HEADER}
    with_nul = {name for name, text in texts.items() if contains_nul(text)}
    row = ParsedRow(number, {name: nul_shown(text) if name in with_nul else text for name, text in texts.items()})
    row.errors.extend(row.error(name, NUL_CELL) for name in HEADER if name in with_nul)
    for key, columns in _COLUMNS_BY_KEY.items():
        if key[1] is not None and not any(row.cells[column.name] for column in columns):
            continue  # an unused repeated group
        values = row.records.setdefault(key, {})
        for column in columns:
            text = row.cells[column.name]
            if not text or column.name in with_nul or not column.in_record:
                continue
            try:
                value = parse_cell(column, text)
            except CellValueError as error:
                row.errors.append(row.error(column, str(error)))
                continue
            if isinstance(value, PartialDate):
                assert column.precision_field is not None  # only a partial-date column parses to a PartialDate
                values[column.field] = value.value
                values[column.precision_field] = value.precision.value
            else:
                values[column.field] = value
    return row


# --- Files -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvTable:
    """A decoded CSV file: its data rows as ``(row number, {column: text})`` and file-level problems."""

    header: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]
    errors: tuple[CellError, ...]


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_table(data: bytes, *, max_rows: int = DEFAULT_MAX_ROWS) -> CsvTable:
    """Decode UTF-8 (with or without BOM), detect ``,`` ``;`` or tab, check the header, skip empty rows.

    Row numbers are as a spreadsheet shows them: the header is row 1, the first data row is row 2.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        message = "The file is not UTF-8 text. Save it as 'CSV UTF-8' and upload it again."
        return CsvTable((), (), (CellError(FILE_ROW, "", "", message),))
    if not text.strip():
        return CsvTable((), (), (CellError(FILE_ROW, "", "", "The file is empty."),))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text.splitlines()[0]))
    try:
        records = list(reader)
    except csv.Error as error:
        return CsvTable((), (), (CellError(FILE_ROW, "", "", f"The file is not valid CSV: {error}."),))
    header = tuple(name.strip() for name in records[0])
    errors: list[CellError] = []
    seen: set[str] = set()
    for name in header:
        if not name:
            errors.append(CellError(HEADER_ROW, "", "", "A column has no name in the header row."))
        elif name not in COLUMNS_BY_NAME:
            shown = nul_shown(name)  # an error report never holds a NUL
            errors.append(CellError(HEADER_ROW, shown, shown, "Unknown column; see the column documentation."))
        elif name in seen:
            errors.append(CellError(HEADER_ROW, name, name, "This column appears more than once."))
        seen.add(name)
    if KEY_COLUMN not in seen:
        errors.append(CellError(HEADER_ROW, KEY_COLUMN, "", "The header has no local_identifier column."))
    rows: list[tuple[int, dict[str, str]]] = []
    for index, cells in enumerate(records[1:], start=HEADER_ROW + 1):
        if not any(cell.strip() for cell in cells):
            continue  # empty lines spreadsheets leave at the end carry no data
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
            errors.append(CellError(index, "", "", "This row has more cells than the header has columns."))
        rows.append((index, {name: cell for name, cell in zip(header, cells, strict=False) if name}))
    if not rows and not errors:
        errors.append(CellError(FILE_ROW, "", "", "The file has a header but no data rows."))
    if len(rows) > max_rows:
        errors.append(
            CellError(FILE_ROW, "", "", f"The file has {len(rows)} rows; at most {max_rows} can be imported at once.")
        )
    return CsvTable(header, tuple(rows), tuple(errors))


def count_rows(data: bytes) -> int:
    """Data rows in a file (0 if it cannot be read); cheap enough to run while uploading."""
    return len(read_table(data, max_rows=10**9).rows)


def count_rows_up_to(stream: BinaryIO, *, cap: int) -> int:
    """Data rows of a binary CSV stream, counting no further than ``cap + 1``; constant memory.

    Used while a file is being uploaded, to decide between importing at once (a few rows) and
    leaving the file to a worker: a large file is not read past its first ``cap + 1`` rows, so its
    size costs the request neither time nor memory. Empty rows are not counted; the header is not
    a data row. The field separator does not matter for where rows end, quoted line breaks included.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    try:
        reader = csv.reader(text)
        count = -1  # the header
        for cells in reader:
            if count >= 0 and not any(cell.strip() for cell in cells):
                continue
            count += 1
            if count > cap:
                break
        return max(count, 0)
    except csv.Error:
        return 0  # unreadable: the worker's full read reports why
    finally:
        text.detach()  # leave the caller's stream open


@dataclass
class ParsedFile:
    rows: list[ParsedRow]
    errors: list[CellError]


def parse_file(
    data: bytes,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    registered: Callable[[list[ParsedRow]], Collection[str]] | None = None,
) -> ParsedFile:
    """Read, parse every row and check the rules across rows; ``errors`` holds every problem found.

    ``registered`` is given the parsed rows and answers the patient keys (``ParsedRow.patient_key``)
    already registered: their rows update the patient, so the rules that need the whole case in the
    file do not apply to them (the models check those against what is stored).
    """
    table = read_table(data, max_rows=max_rows)
    if any(error.row in (FILE_ROW, HEADER_ROW) for error in table.errors):
        return ParsedFile([], sort_errors(table.errors))
    rows = [parse_row(number, cells) for number, cells in table.rows]
    known = registered(rows) if registered is not None else ()
    errors = [*table.errors, *(error for row in rows for error in row.errors), *check_rows(rows, registered=known)]
    return ParsedFile(rows, sort_errors(errors))


# --- Rules across records and rows ------------------------------------------------------------------------


def _patient_level_columns() -> tuple[Column, ...]:
    """The columns every row of a patient repeats; the key column groups the rows (in its normal form)."""
    return tuple(c for c in COLUMNS if c.record in PATIENT_LEVEL and c.in_record and c.name != KEY_COLUMN)


EXAMPLE_ROW_LEFT_IN = (
    "This is the template's example row: delete it (it is there to show how a row is filled in) and upload the "
    "file again."
)


def check_rows(rows: Sequence[ParsedRow], *, registered: Collection[str] = ()) -> list[CellError]:
    """Rules the models cannot check on unsaved records: between a row's records and between rows.

    - the template's example row is not left in;
    - rows of one patient repeat the same patient, ICI-1 and prior-irAE values;
    - an empty ``episode_sequence`` becomes the row's position among its patient's rows, and one
      patient cannot have the same sequence twice;
    - ICI-1 answered "no irAEs" has no irAE columns filled, nor a rechallenge answered "no" its own;
    - a rechallenge starts after ICI-1 stopped, and after the patient's previous rechallenge;
    - responses, follow-ups and irAEs of the rechallenge are not dated before it started;
    - a column the import requires in a repeated group is filled when the group is used.

    Patients in ``registered`` (patient keys) are updated: their rows need not repeat the whole case,
    so ICI-1's stop date is not required of them and their sequence numbers are set by the update plan.
    Sets the defaulted sequence numbers on the other rows.
    """
    errors: list[CellError] = []
    by_patient: dict[str, list[ParsedRow]] = defaultdict(list)
    example = normalise_local_identifier(EXAMPLE_IDENTIFIER)
    for row in rows:
        if row.patient_key:
            by_patient[row.patient_key].append(row)
        if row.local_identifier == example:
            errors.append(row.error(KEY_COLUMN, EXAMPLE_ROW_LEFT_IN))
        errors.extend(_check_required_in_groups(row))
    sequence = COLUMNS_BY_NAME["episode_sequence"]
    episode_start = COLUMNS_BY_NAME["episode_start_date"]
    for key, patient_rows in by_patient.items():
        is_registered = key in registered
        first = patient_rows[0]
        for row in patient_rows[1:]:
            for column in _patient_level_columns():
                unreadable = column.name in row.error_columns() or column.name in first.error_columns()
                if not unreadable and (row.value(column), _precision(row, column)) != (
                    first.value(column),
                    _precision(first, column),
                ):
                    errors.append(
                        row.error(
                            column,
                            f"Differs from row {first.number}, the patient's first row: patient, ICI-1 and "
                            "prior-irAE columns must be the same on every row of a patient.",
                        )
                    )
        for position, row in enumerate(patient_rows, start=1):
            episode = row.records[(Record.EPISODE, None)]
            if sequence.name not in row.error_columns() and not is_registered:
                episode.setdefault(sequence.field, position)
        errors.extend(_check_first_row(first, registered=is_registered))
        errors.extend(_check_episode_order(patient_rows, sequence, episode_start))
    for row in rows:
        errors.extend(_check_episode_dates(row))
    return errors


def _precision(row: ParsedRow, column: Column) -> Any:
    return row.records.get(column.key, {}).get(column.precision_field) if column.precision_field else None


def _check_required_in_groups(row: ParsedRow) -> list[CellError]:
    """A column the import requires in a repeated group (``rirae<n>_recurrence``), when the group is used."""
    return [
        row.error(
            column,
            f"Required when any {column.pattern.split('_', 1)[0].replace('<n>', str(group))}_… column is filled.",
        )
        for (record, group), values in row.records.items()
        if group is not None
        for column in _COLUMNS_BY_KEY[(record, group)]
        if column.required and column.field not in values and column.name not in row.error_columns()
    ]


def _check_first_row(row: ParsedRow, *, registered: bool = False) -> list[CellError]:
    errors: list[CellError] = []
    course = row.records[(Record.INITIAL_COURSE, None)]
    stop = COLUMNS_BY_NAME["ici1_stop_date"]
    if not registered and "stop_date" not in course and stop.name not in row.error_columns():
        errors.append(row.error(stop, "ICI-1 has no stop date: a rechallenge needs it (YYYY-MM is fine)."))
    # The model's rule, once the course is saved; here the irAEs are in the same row.
    answer = rules.no_iraes_answer_errors(
        field="iraes_during_course",
        answer=course.get("iraes_during_course", ""),
        has_iraes=any(record is Record.PRIOR_IRAE for record, _ in row.records),
        course="ICI-1",
        where="in this row",
    )
    errors.extend(row.error("ici1_iraes", message) for message in answer.values())
    return errors


def _check_episode_order(rows: list[ParsedRow], sequence: Column, start: Column) -> list[CellError]:
    errors: list[CellError] = []
    seen: dict[int, ParsedRow] = {}
    for row in rows:
        number = row.value(sequence)
        if number is None:
            continue
        if number in seen:
            errors.append(
                row.error(sequence, f"Rechallenge {number} of this patient is already in row {seen[number].number}.")
            )
        else:
            seen[number] = row
    ordered = sorted(seen.items())
    for (previous_number, previous), (number, row) in itertools.pairwise(ordered):
        order = rules.rechallenge_order_errors(
            number=number,
            start=row.value(start),
            previous_number=previous_number,
            previous_start=previous.value(start),
            previous_where=f"row {previous.number}",
        )
        errors.extend(row.error(start, message) for message in order.values())
    return errors


def _check_episode_dates(row: ParsedRow) -> list[CellError]:
    errors: list[CellError] = []
    course = row.records[(Record.INITIAL_COURSE, None)]
    episode = row.records[(Record.EPISODE, None)]
    # The model's rule, once the episode is saved; here its irAEs are in the same row.
    answer = rules.no_iraes_answer_errors(
        field="iraes_during_rechallenge",
        answer=episode.get("iraes_during_rechallenge", ""),
        has_iraes=any(record is Record.RECHALLENGE_IRAE for record, _ in row.records),
        course="this rechallenge",
        where="in this row",
    )
    errors.extend(row.error("episode_iraes", message) for message in answer.values())
    start = episode.get("start_date")
    if start is None:
        return errors
    stop = course.get("stop_date")
    ici1_stop = PartialDate(stop, DatePrecision(course.get("stop_date_precision", DatePrecision.DAY))) if stop else None
    after_ici1 = rules.rechallenge_after_ici1_errors(start=start, ici1_stop=ici1_stop)
    errors.extend(row.error("episode_start_date", message) for message in after_ici1.values())
    for (record, group), values in row.records.items():
        if record not in (Record.RESPONSE, Record.FOLLOW_UP, Record.RECHALLENGE_IRAE):
            continue
        dates = {name: values.get(name) for name in rules.NOT_BEFORE_RECHALLENGE_FIELDS}
        for name, message in rules.not_before_rechallenge_errors(rechallenge_start=start, dates=dates).items():
            column = column_for(record, name, group)
            if column is not None:
                errors.append(row.error(column, message))
    return errors


#: The template's one filled row: how a row reads, marked by its identifier and refused if left in.
EXAMPLE_ROW: dict[str, str] = {
    "local_identifier": EXAMPLE_IDENTIFIER,
    "sex": "female",
    "year_of_birth": "1958",
    "tumour_type": "LUAD",
    "consent_status": "consented",
    "consent_date": "2024-01-10",
    "pdl1_tps_percent": "55",
    "ici1_agent": "pembrolizumab",
    "ici1_regimen": "monotherapy",
    "ici1_line": "1",
    "ici1_start_date": "2022-03",
    "ici1_stop_date": "2022-11",
    "ici1_ecog": "1",
    "ici1_best_response": "PR",
    "ici1_stop_reason": "toxicity",
    "ici1_iraes": "yes",
    "irae1_term": "colitis",
    "irae1_grade": "3",
    "irae1_onset": "2022-10",
    "irae1_resolution": "2022-12-01",
    "irae1_resolved_to_grade": "0",
    "irae1_management": "corticosteroids",
    "irae1_peak_prednisone": "60",
    "irae1_hospitalised": "yes",
    "irae1_led_to_discontinuation": "yes",
    "episode_start_date": "2023-04-02",
    "episode_type": "after_toxicity",
    "episode_agent_relation": "same_agent",
    "episode_agent": "pembrolizumab",
    "episode_regimen": "monotherapy",
    "episode_ecog": "1",
    "episode_ldh": "250",
    "episode_prednisone": "0",
    "episode_iraes": "yes",
    "rirae1_term": "colitis",
    "rirae1_grade": "2",
    "rirae1_onset": "2023-05-10",
    "rirae1_resolution": "2023-06-20",
    "rirae1_resolved_to_grade": "0",
    "rirae1_management": "corticosteroids",
    "rirae1_peak_prednisone": "40",
    "rirae1_recurrence": "recurrence",
    "response1_date": "2023-06-01",
    "response1_criteria": "recist_1_1",
    "response1_category": "PR",
    "followup1_date": "2023-12-01",
    "followup1_vital_status": "alive",
    "followup1_last_alive_date": "2023-12-01",
}


def template_csv() -> str:
    """The header row and the example row, which shows how a row is filled in (and is refused if left in)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerow([EXAMPLE_ROW.get(name, "") for name in HEADER])
    return buffer.getvalue()


def cell_text(column: Column, value: Any, precision: str | None = None) -> str:
    """A stored value written as the column takes it (``2022-10`` for a month-only date): the preview's words."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return f"{value:%Y-%m}" if precision == DatePrecision.MONTH else value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    return str(value)
