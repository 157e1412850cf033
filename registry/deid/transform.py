"""De-identify an export's tables under a profile: :func:`deidentify`.

Input: the analysis table (one row per rechallenge episode; the *anchor*, which carries each patient's
key, rechallenge starts, year of birth and quasi-identifiers) and long tables (irAEs, responses,
follow-ups) keyed by patient and/or episode, with :class:`~registry.deid.fields.FieldMeta` for every
column. A column without metadata is refused, so nothing unknown is released by accident.

What happens, in order:

1. fields flagged as the profile drops (identifiers, free text) are removed, and so are the keys and
   the year of birth once used;
2. patient keys become keyed-hash pseudonyms (:mod:`registry.deid.pseudonyms`); long-table rows get
   their episode's sequence number instead of its key; rows that do not belong to a patient or
   episode of the anchor are dropped and counted;
3. dates become whole days from the patient's first rechallenge start (``*_date``/``*_at`` → ``*_day``) or are
   shifted by the patient's offset, as the profile says; date-times are read as UTC dates;
4. the age at the first rechallenge start (its year minus the year of birth) becomes an age band;
5. the quasi-identifiers are made k-anonymous (:mod:`registry.deid.kanon`);
6. every coded value is checked against its declared values (an undeclared value stops the export:
   a code column cannot smuggle text out), and rows are sorted by pseudonym, episode and values.

The same inputs give identical output, whatever order the input rows come in. Error messages name
tables and columns, never a cell's value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from registry.deid import pseudonyms
from registry.deid.errors import DeidError
from registry.deid.fields import ANALYSIS, MISSING_SUFFIX, QI, FieldKind, FieldMeta, Role, Values
from registry.deid.kanon import (
    COUNTRY_PREFIX,
    TISSUE_PREFIX,
    KAnonymityResult,
    TableQIs,
    hierarchies,
    k_anonymise,
    smallest_group,
)
from registry.deid.profiles import SUPPRESSED, DateRule, Profile, age_band_labels

PSEUDONYM_COLUMN = "patient_pseudonym"
AGE_BAND_COLUMN = QI.AGE_BAND.value
SUPPRESSED_MEANING = "Suppressed for k-anonymity"


@dataclass(frozen=True)
class DeidCounts:
    """What the de-identification did, for the manifest."""

    patients: int
    rows: dict[str, int]
    #: Table → {column: why it was not released}.
    dropped_columns: dict[str, dict[str, str]]
    unlinked_rows_dropped: dict[str, int]
    #: Rule → cells (over every released table) whose released value is at that rule's level.
    generalised_cells: dict[str, int]
    generalised_patients: dict[str, int]
    suppressed_cells: int
    #: Column name → suppressed cells (over every released table).
    suppressed_cells_by_column: dict[str, int]
    #: Patients with at least one suppressed quasi-identifier, and with all of them suppressed.
    suppressed_patients: int
    fully_suppressed_patients: int
    #: Of the fully suppressed patients, those added only to bring that group up to k.
    suppressed_to_fill: int
    #: Table → fewest distinct patients sharing one quasi-identifier combination (None: no QI columns).
    smallest_group: dict[str, int | None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "patients": self.patients,
            "rows": dict(sorted(self.rows.items())),
            "dropped_columns": {t: dict(sorted(c.items())) for t, c in sorted(self.dropped_columns.items())},
            "unlinked_rows_dropped": dict(sorted(self.unlinked_rows_dropped.items())),
            "generalised_cells": dict(sorted(self.generalised_cells.items())),
            "generalised_patients": dict(sorted(self.generalised_patients.items())),
            "suppressed_cells": self.suppressed_cells,
            "suppressed_cells_by_column": dict(sorted(self.suppressed_cells_by_column.items())),
            "suppressed_patients": self.suppressed_patients,
            "fully_suppressed_patients": self.fully_suppressed_patients,
            "suppressed_to_fill": self.suppressed_to_fill,
            "smallest_group": dict(sorted(self.smallest_group.items())),
        }


@dataclass(frozen=True)
class DeidResult:
    """The released tables, their released metadata (the codebook's source) and the counts."""

    tables: dict[str, pd.DataFrame]
    fields: dict[str, tuple[FieldMeta, ...]]
    counts: DeidCounts
    profile: Profile
    project_id: str
    kanon: KAnonymityResult | None = field(default=None, repr=False, compare=False)


# --- reading values ------------------------------------------------------------------------------------


def _fail(table: str, column: str, problem: str) -> DeidError:
    return DeidError(f"table {table}, column {column}: {problem}")


def _present(series: pd.Series) -> np.ndarray:
    """Which cells hold a value (None, NaN, NA, NaT and "" are missing)."""
    if isinstance(series.dtype, pd.CategoricalDtype):  # each distinct value judged once
        codes = series.cat.codes.to_numpy()
        categories = series.cat.categories.to_numpy(dtype=object)
        filled = np.zeros(len(categories) + 1, dtype=bool)  # the last: code -1, missing
        filled[:-1] = pd.notna(categories) & (categories != "")
        return filled[codes]
    mask = series.notna().to_numpy()
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        mask &= series.to_numpy(dtype=object) != ""
    return mask


def _days(series: pd.Series, *, table: str, meta: FieldMeta) -> np.ndarray:
    """Dates (date objects, datetime64, ISO text; date-times read in UTC) as float day numbers, NaN = missing."""
    present = _present(series)
    if series.dtype.kind == "M" and getattr(series.dtype, "tz", None) is None:
        stamps = series
    else:
        try:
            stamps = pd.to_datetime(series.where(present, None), errors="coerce", utc=meta.kind is FieldKind.DATETIME)
        except (TypeError, ValueError):
            raise _fail(table, meta.name, "holds values that are not dates") from None
        if getattr(stamps.dtype, "tz", None) is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    dates = stamps.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    missing = np.isnat(dates)
    if (missing & present).any():
        raise _fail(table, meta.name, f"{int((missing & present).sum())} value(s) are not dates")
    days = dates.astype("int64").astype("float64")
    days[missing] = np.nan
    return days


def _numbers(series: pd.Series, *, table: str, meta: FieldMeta) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)  # already numbers (int, Int64, float)
    present = _present(series)
    try:
        numbers = pd.to_numeric(series.where(present, None).astype(object), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
    except (TypeError, ValueError):
        raise _fail(table, meta.name, "holds values that are not numbers") from None
    bad = np.isnan(numbers) & present
    if bad.any():
        raise _fail(table, meta.name, f"{int(bad.sum())} value(s) are not numbers")
    return numbers


def _integers(series: pd.Series, *, table: str, meta: FieldMeta) -> pd.Series:
    numbers = _numbers(series, table=table, meta=meta)
    known = ~np.isnan(numbers)
    if (numbers[known] != np.round(numbers[known])).any():
        raise _fail(table, meta.name, "holds values that are not whole numbers")
    return pd.Series(pd.array(np.where(known, numbers, 0).astype("int64"), dtype="Int64")).mask(~known)


_BOOLEANS: dict[object, bool] = {True: True, False: False, "true": True, "false": False, "yes": True, "no": False}


def _booleans(series: pd.Series, *, table: str, meta: FieldMeta) -> pd.Series:
    if isinstance(series.dtype, pd.BooleanDtype):
        return pd.Series(series.array.copy())  # already yes/no/missing: not through a million Python objects
    if pd.api.types.is_bool_dtype(series.dtype):
        return pd.Series(pd.array(series.to_numpy(dtype=bool), dtype="boolean"))
    present = _present(series)
    mapped = series.astype(object).map(_BOOLEANS)
    if (mapped.isna().to_numpy() & present).any():
        raise _fail(table, meta.name, "holds values that are not yes/no")
    truth = mapped.eq(True).to_numpy(dtype=bool)
    return pd.Series(pd.array(truth, dtype="boolean")).mask(~present)


def _texts(series: pd.Series) -> pd.Series:
    """Text as a categorical column of ``str`` (missing and "" are missing); a list or tuple (the derived
    ``imputed``) joined with ';'.

    Released codes repeat, so each distinct text is held, checked and written once: a million-row column is
    an array of small integers, not a million Python strings."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = series.cat.categories.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(categories, skipna=True) in ("string", "empty"):
            kept = pd.notna(categories) & (categories != "")
            renumbered = np.full(len(categories) + 1, -1, dtype="int64")  # the last: code -1, missing
            renumbered[:-1][kept] = np.arange(int(kept.sum()))
            codes = renumbered[series.cat.codes.to_numpy()]
            return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(categories[kept], dtype=object)))
    present = _present(series)
    values = series.astype(object).where(present, None).reset_index(drop=True)
    try:
        codes, distinct = pd.factorize(values)
    except TypeError:  # unhashable values (lists): each one joined
        codes, distinct = pd.factorize(values.map(lambda value: None if value is None else _joined(value)))
    texts = np.array([_joined(value) for value in distinct], dtype=object)  # each distinct value once
    renumbered, categories = pd.factorize(texts)  # two values may read the same: ("a",) and "a"
    codes = np.append(renumbered, -1)[codes]  # the last: code -1, missing, stays missing
    return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(np.asarray(categories, dtype=object))))


def _joined(value: object) -> str:
    return ";".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _codes(series: pd.Series, *, table: str, meta: FieldMeta) -> pd.Series:
    if meta.kind is FieldKind.INTEGER_CODE:
        values = _integers(series, table=table, meta=meta)
        allowed: list[object] = [int(code) for code in meta.codes]
    else:
        values = _texts(series)
        allowed = list(meta.codes)
    if meta.choices:
        unknown = values.notna() & ~values.isin(allowed)
        if unknown.any():
            raise _fail(table, meta.name, f"{int(unknown.sum())} value(s) are not among its declared codes")
    return values


def _convert(series: pd.Series, *, table: str, meta: FieldMeta) -> pd.Series:
    match meta.kind:
        case FieldKind.INTEGER:
            return _integers(series, table=table, meta=meta)
        case FieldKind.DECIMAL:
            return pd.Series(_numbers(series, table=table, meta=meta), dtype="float64")
        case FieldKind.BOOLEAN:
            return _booleans(series, table=table, meta=meta)
        case FieldKind.CODE | FieldKind.INTEGER_CODE:
            return _codes(series, table=table, meta=meta)
        case FieldKind.TEXT:
            return _texts(series)
    raise _fail(table, meta.name, f"kind {meta.kind} is not converted here")


def _keys(series: pd.Series) -> pd.Series:
    """Keys as text (``7``, ``7.0`` and ``"7"`` are one key); missing stays missing."""
    present = _present(series)
    if pd.api.types.is_integer_dtype(series.dtype):
        return pd.Series(series.astype("string").to_numpy(dtype=object), dtype=object).where(present, None)
    if pd.api.types.is_float_dtype(series.dtype):
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        if (numbers[present] == np.round(numbers[present])).all():
            text = pd.Series(np.where(present, numbers, 0).astype("int64").astype(str), dtype=object)
            return text.where(present, None)
    return _texts(series).astype(object).where(present, None)


# --- the anchor: patients, first rechallenge start, age, quasi-identifiers ----------------------------------


class _KeyIndex:
    """Keys in a fixed order, and the position of a column's keys among them (-1: not a key, or missing).

    Keys compare as text (``7``, ``7.0`` and ``"7"`` are one key, see :func:`_keys`). Keys that came from an
    integer column are also held as integers, so an integer column is looked up without a string per row."""

    def __init__(self, *, texts: Sequence[str] | None = None, numbers: np.ndarray | None = None) -> None:
        self._numbers = None if numbers is None else pd.Index(np.asarray(numbers, dtype="int64"))
        self._texts = None if texts is None else pd.Index(np.asarray(texts, dtype=object), dtype=object)

    def __len__(self) -> int:
        return len(self._numbers if self._numbers is not None else self.texts)

    @property
    def texts(self) -> pd.Index:
        if self._texts is None:
            assert self._numbers is not None
            self._texts = pd.Index([str(number) for number in self._numbers.tolist()], dtype=object)
        return self._texts

    def get_indexer(self, column: pd.Series) -> np.ndarray:
        if self._numbers is not None and pd.api.types.is_integer_dtype(column.dtype):
            present = column.notna().to_numpy()
            at = np.full(len(column), -1, dtype=np.intp)
            at[present] = self._numbers.get_indexer(column.to_numpy(dtype="int64", na_value=0)[present])
            return at
        return self.texts.get_indexer(_keys(column))


@dataclass
class _Patients:
    """The anchor's patients (sorted by pseudonym) and episodes."""

    keys: _KeyIndex  # patient keys
    pseudonyms: np.ndarray
    anchor_day: np.ndarray  # float day number of the first rechallenge start
    offset: np.ndarray  # int days of the date shift (0 when not shifting)
    episode_keys: _KeyIndex  # episode keys
    episode_patient: np.ndarray  # patient position of each episode
    episode_sequence: pd.Series  # Int64 sequence number of each episode (NA without a sequence column)

    @property
    def pseudonym_dtype(self) -> pd.CategoricalDtype:
        """The pseudonyms as categories, in patient (pseudonym) order: a column of them is its positions."""
        if self._pseudonym_dtype is None:
            self._pseudonym_dtype = pd.CategoricalDtype(pd.Index(self.pseudonyms, dtype=object))
        return self._pseudonym_dtype

    _pseudonym_dtype: pd.CategoricalDtype | None = None

    def patient_of_episodes(self, keys: pd.Series) -> tuple[np.ndarray, pd.Series]:
        """Patient positions (-1: unknown or no episode) and sequence numbers of a column of episode keys."""
        at = self.episode_keys.get_indexer(keys) if len(self.episode_keys) else np.full(len(keys), -1)
        found = at >= 0
        patient = np.full(len(at), -1, dtype="int64")
        patient[found] = self.episode_patient[at[found]]
        sequence = pd.Series(pd.array([pd.NA] * len(at), dtype="Int64"))
        if found.any():
            sequence[found] = self.episode_sequence.to_numpy(dtype=object)[at[found]]
        return patient, sequence


def _one(meta: Sequence[FieldMeta], role: Role, frame: pd.DataFrame) -> FieldMeta | None:
    found = [m for m in meta if m.role is role and m.name in frame.columns]
    if len(found) > 1:
        raise DeidError(f"more than one column has the role {role}")
    return found[0] if found else None


def _per_patient(positions: np.ndarray, values: pd.Series, *, count: int, table: str, column: str) -> pd.Series:
    """One value per patient (position), checked to be the same on every row of the patient."""
    codes, distinct = pd.factorize(values.reset_index(drop=True))  # missing: -1, a value of its own here
    taken = np.full(count, -2, dtype=np.intp)  # -2: no row
    taken[positions] = codes
    if (taken[positions] != codes).any():
        raise _fail(table, column, "differs between rows of one patient")
    result = np.full(count, None, dtype=object)
    known = taken >= 0
    result[known] = np.asarray(distinct, dtype=object)[taken[known]]
    return pd.Series(result, dtype=object)


# --- the transform ------------------------------------------------------------------------------------------


def deidentify(
    tables: Mapping[str, pd.DataFrame],
    *,
    profile: Profile,
    key: bytes,
    project_id: str,
    field_meta: Mapping[str, Sequence[FieldMeta]],
    site_countries: Mapping[str, str] | None = None,
    anchor: str = ANALYSIS,
    release: Collection[str] | None = None,
) -> DeidResult:
    """The tables de-identified under ``profile`` (see the module docstring), with counts for the manifest.

    ``key`` is the pseudonym key (bytes kept outside the database), ``project_id`` the project the
    pseudonyms and date offsets belong to. ``field_meta`` maps each table to its columns' metadata.
    ``site_countries`` maps site codes to ISO country codes (needed when a site column is released).
    ``anchor`` names the table with the patients' rechallenge starts; ``release`` the tables to return
    (default: all; the anchor is read even when it is not released).
    """
    released = list(tables) if release is None else [name for name in tables if name in set(release)]
    if anchor not in tables:
        raise DeidError(f"the anchor table {anchor} is missing")
    metas = _check_metadata(tables, field_meta)
    patients = _patients(tables[anchor], metas[anchor], key=key, project_id=project_id, profile=profile, table=anchor)
    n = len(patients.keys)
    builders = {
        name: _TableBuilder(name, tables[name], metas[name], patients=patients, profile=profile, anchor=anchor)
        for name in tables
    }
    sequence_meta = _one(metas[anchor], Role.EPISODE_SEQUENCE, tables[anchor])
    for builder in builders.values():
        builder.build(sequence_meta)

    # Quasi-identifiers: one row per patient from the anchor, made k-anonymous over the released tables.
    anchor_builder = builders[anchor]
    for name, builder in builders.items():
        lacking = sorted(builder.qi_columns[qi] for qi in builder.qi_columns if qi not in anchor_builder.qi_columns)
        if lacking:
            raise DeidError(f"table {name} has quasi-identifier column(s) the anchor table lacks: {', '.join(lacking)}")
    original = pd.DataFrame(
        {qi: anchor_builder.qi_original[qi] for qi in profile.quasi_identifiers if qi in anchor_builder.qi_original},
        index=range(n),
    )
    countries = dict(site_countries or {})
    if QI.SITE in original.columns:
        unknown = sorted(set(original[QI.SITE].dropna()) - set(countries))
        if unknown:
            raise DeidError(f"site(s) {', '.join(unknown)} have no country for the site-to-country generalisation")
    rules = hierarchies(profile, site_countries=countries)
    result = None
    if len(original.columns):
        result = k_anonymise(
            original,
            k=profile.k,
            hierarchies=rules,
            generalisation=profile.generalisation,
            suppression=profile.suppression,
            tables={
                name: TableQIs(_distinct(builders[name].positions, n), tuple(builders[name].qi_columns))
                for name in released
            },
        )

    generalised_cells: dict[str, int] = {}
    suppressed_cells: dict[str, int] = {}
    out_tables: dict[str, pd.DataFrame] = {}
    out_fields: dict[str, tuple[FieldMeta, ...]] = {}
    smallest: dict[str, int | None] = {}
    released_values = {}  # per patient, as a categorical: each table takes its rows' codes
    if result is not None:
        for qi in result.released.columns:
            codes, values = pd.factorize(result.released[qi].to_numpy(dtype=object))
            released_values[qi] = (codes, pd.CategoricalDtype(pd.Index(np.asarray(values, dtype=object), dtype=object)))
    for name in released:
        builder = builders[name]
        for qi, column in builder.qi_columns.items():
            assert result is not None
            codes, dtype = released_values[qi]
            builder.columns[column] = pd.Series(pd.Categorical.from_codes(codes[builder.positions], dtype=dtype))
            levels = result.levels[qi].to_numpy()[builder.positions]
            suppressed = result.suppressed[qi].to_numpy()[builder.positions]
            for level, rule in enumerate(rules[qi].rules, start=1):
                cells = int(((levels == level) & ~suppressed).sum())
                if cells:
                    generalised_cells[rule] = generalised_cells.get(rule, 0) + cells
            if suppressed.any():
                suppressed_cells[column] = suppressed_cells.get(column, 0) + int(suppressed.sum())
        frame = builder.frame()
        out_tables[name] = frame
        out_fields[name] = builder.released_fields(countries=countries)
        smallest[name] = smallest_group(frame, patient=PSEUDONYM_COLUMN, columns=list(builder.qi_columns.values()))

    counts = DeidCounts(
        patients=n,
        rows={name: len(out_tables[name]) for name in released},
        dropped_columns={name: builders[name].dropped for name in released},
        unlinked_rows_dropped={name: builders[name].unlinked for name in released},
        generalised_cells=generalised_cells,
        generalised_patients=result.generalised_patients if result is not None else {},
        suppressed_cells=sum(suppressed_cells.values()),
        suppressed_cells_by_column=suppressed_cells,
        suppressed_patients=result.suppressed_patients if result is not None else 0,
        fully_suppressed_patients=result.fully_suppressed_patients if result is not None else 0,
        suppressed_to_fill=result.suppressed_to_fill if result is not None else 0,
        smallest_group=smallest,
    )
    return DeidResult(out_tables, out_fields, counts, profile, project_id, result)


def _distinct(positions: np.ndarray, count: int) -> np.ndarray:
    """The distinct patient positions, in order (``np.unique`` without sorting a million rows)."""
    return np.flatnonzero(np.bincount(positions, minlength=count))


def _check_metadata(
    tables: Mapping[str, pd.DataFrame], field_meta: Mapping[str, Sequence[FieldMeta]]
) -> dict[str, tuple[FieldMeta, ...]]:
    metas: dict[str, tuple[FieldMeta, ...]] = {}
    for name, frame in tables.items():
        if name not in field_meta:
            raise DeidError(f"table {name} has no field metadata")
        if frame.columns.duplicated().any():
            raise DeidError(f"table {name} has a column twice")
        meta = tuple(field_meta[name])
        names = [m.name for m in meta]
        if len(set(names)) != len(names):
            raise DeidError(f"table {name} declares a column twice")
        undeclared = sorted(str(c) for c in frame.columns if c not in set(names))
        if undeclared:
            raise DeidError(f"table {name} has columns without metadata (nothing released): {', '.join(undeclared)}")
        metas[name] = meta
    return metas


def _patients(
    frame: pd.DataFrame, meta: Sequence[FieldMeta], *, key: bytes, project_id: str, profile: Profile, table: str
) -> _Patients:
    key_meta = _one(meta, Role.PATIENT_KEY, frame)
    start_meta = _one(meta, Role.ANCHOR_DATE, frame)
    if key_meta is None or start_meta is None:
        raise DeidError(f"the anchor table {table} needs a patient key and a rechallenge start date column")
    column = frame[key_meta.name]
    if pd.api.types.is_integer_dtype(column.dtype) and not column.isna().any():  # numbered once, as integers
        codes, numbers = pd.factorize(column.to_numpy(dtype="int64"))
        texts = [str(number) for number in numbers.tolist()]
    else:
        row_keys = _keys(column)
        if row_keys.isna().any():
            raise _fail(table, key_meta.name, "a row has no patient key")
        codes, distinct = pd.factorize(row_keys)
        numbers, texts = None, list(distinct)
    names = np.array(pseudonyms.pseudonym_list(key, project_id, texts))
    order = np.argsort(names, kind="stable")  # patients in pseudonym order
    rank = np.empty(len(order), dtype="int64")
    rank[order] = np.arange(len(order))
    ordered_texts = [texts[i] for i in order.tolist()]
    keys = _KeyIndex(texts=ordered_texts, numbers=None if numbers is None else numbers[order])
    positions = rank[codes]
    starts = _days(frame[start_meta.name], table=table, meta=start_meta)
    anchor_day = np.full(len(keys), np.nan)
    np.fmin.at(anchor_day, positions, starts)
    if np.isnan(anchor_day).any():
        raise _fail(table, start_meta.name, f"{int(np.isnan(anchor_day).sum())} patient(s) have no rechallenge start")
    offset = np.zeros(len(keys), dtype="int64")
    if profile.dates is DateRule.SHIFT:
        offsets = pseudonyms.date_offsets(key, project_id, ordered_texts, window_days=profile.shift_window_days)
        offset = np.array([offsets[k] for k in ordered_texts], dtype="int64")
    episode_meta = _one(meta, Role.EPISODE_KEY, frame)
    sequence_meta = _one(meta, Role.EPISODE_SEQUENCE, frame)
    if sequence_meta is not None:
        sequence = _integers(frame[sequence_meta.name], table=table, meta=sequence_meta)
    else:
        sequence = pd.Series(pd.array([pd.NA] * len(frame), dtype="Int64"))
    if episode_meta is not None:
        column = frame[episode_meta.name]
        if pd.api.types.is_integer_dtype(column.dtype) and not column.isna().any():
            episode_numbers = column.to_numpy(dtype="int64")
            unique = pd.Index(episode_numbers).is_unique
            episode_keys = _KeyIndex(numbers=episode_numbers)
        else:
            texts_of_episodes = _keys(column)
            unique = not texts_of_episodes.isna().any() and not texts_of_episodes.duplicated().any()
            episode_keys = _KeyIndex(texts=texts_of_episodes.to_numpy(dtype=object))
        if not unique:
            raise _fail(table, episode_meta.name, "episode keys must be present and unique")
        episode_patient = positions
    else:
        episode_keys, episode_patient, sequence = _KeyIndex(texts=[]), np.zeros(0, dtype="int64"), sequence[:0]
    return _Patients(
        keys=keys,
        pseudonyms=names[order].astype(object),
        anchor_day=anchor_day,
        offset=offset,
        episode_keys=episode_keys,
        episode_patient=episode_patient.astype("int64"),
        episode_sequence=sequence,
    )


class _TableBuilder:
    """One table's released columns, built column by column."""

    def __init__(
        self,
        name: str,
        frame: pd.DataFrame,
        meta: tuple[FieldMeta, ...],
        *,
        patients: _Patients,
        profile: Profile,
        anchor: str,
    ) -> None:
        self.name, self.source, self.meta = name, frame, meta
        self.patients, self.profile, self.is_anchor = patients, profile, name == anchor
        self.columns: dict[str, pd.Series] = {}
        self.out_meta: dict[str, FieldMeta] = {}
        self.dropped: dict[str, str] = {}
        self.unlinked = 0
        self.positions = np.zeros(0, dtype="int64")
        self.qi_columns: dict[QI, str] = {}
        self.qi_original: dict[QI, pd.Series] = {}
        self.sequence_name: str | None = None
        #: The released columns' names, in order, once :meth:`frame` has taken the columns.
        self.names: list[str] | None = None

    def _link(self) -> tuple[np.ndarray, np.ndarray, pd.Series | None]:
        """Rows kept, their patient positions, and (long tables) their episodes' sequence numbers.

        A row is kept when its patient is in the anchor and, if it names an episode, that episode is in
        the anchor and belongs to the same patient.
        """
        frame, table = self.source, self.name
        key_meta = _one(self.meta, Role.PATIENT_KEY, frame)
        episode_meta = None if self.is_anchor else _one(self.meta, Role.EPISODE_KEY, frame)
        if key_meta is None and episode_meta is None:
            raise DeidError(f"table {table} has neither a patient key nor an episode key column")
        n = len(frame)
        sequence = None
        episode_ok = np.ones(n, dtype=bool)
        if episode_meta is not None:
            from_episode, sequence = self.patients.patient_of_episodes(frame[episode_meta.name])
            named = _present(frame[episode_meta.name])  # where _keys finds a key
            episode_ok = ~named | (from_episode >= 0)
        if key_meta is not None:
            positions = self.patients.keys.get_indexer(frame[key_meta.name])
            if episode_meta is not None:
                episode_ok &= ~named | (from_episode == positions)
        else:
            positions = from_episode
        keep = (positions >= 0) & episode_ok
        self.unlinked = int((~keep).sum())
        rows = np.flatnonzero(keep)
        return rows, positions[rows].astype("int64"), None if sequence is None else sequence.iloc[rows]

    def build(self, sequence_meta: FieldMeta | None) -> None:
        frame, profile, table = self.source, self.profile, self.name
        rows, self.positions, linked_sequence = self._link()
        if len(rows) == len(frame) and isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0:
            source = frame  # every row kept, in order: read in place (a copy of a million rows costs gigabytes)
        else:
            source = frame.iloc[rows].reset_index(drop=True)
        self.columns[PSEUDONYM_COLUMN] = pd.Series(
            pd.Categorical.from_codes(self.positions, dtype=self.patients.pseudonym_dtype)
        )
        self.out_meta[PSEUDONYM_COLUMN] = PSEUDONYM_META
        for meta in self.meta:
            if meta.name in frame.columns and meta.role is Role.PATIENT_KEY:
                self.dropped[meta.name] = "patient key (replaced by the pseudonym)"
            elif meta.name in frame.columns and meta.role is Role.EPISODE_KEY:
                replaced = "" if self.is_anchor else " (replaced by the rechallenge number)"
                self.dropped[meta.name] = f"episode key{replaced}"

        if sequence_meta is not None:
            if self.is_anchor:
                self.sequence_name = sequence_meta.name
                sequence = _integers(source[sequence_meta.name], table=table, meta=sequence_meta)
                self._add(sequence_meta.name, sequence, sequence_meta)
            elif linked_sequence is not None:
                self.sequence_name = sequence_meta.name
                self._add(
                    sequence_meta.name,
                    linked_sequence.reset_index(drop=True),
                    replace(
                        sequence_meta,
                        missing=(("", "Not during a rechallenge (ICI-1)"),),
                        description="The rechallenge (episode) this row belongs to; with "
                        f"{PSEUDONYM_COLUMN} it joins the analysis table.",
                    ),
                )

        renamed: dict[str, str] = {}
        for meta in self.meta:
            if meta.name not in frame.columns or meta.role in (Role.PATIENT_KEY, Role.EPISODE_KEY):
                continue
            if meta.role is Role.EPISODE_SEQUENCE:
                if not self.is_anchor:
                    self.dropped[meta.name] = "rechallenge number (replaced by the analysis table's)"
                continue
            dropped_for = sorted(meta.flags & profile.drop)
            if dropped_for:
                self.dropped[meta.name] = ", ".join(flag.value.replace("_", " ") for flag in dropped_for)
                continue
            if meta.role is Role.BIRTH_YEAR:
                self.dropped[meta.name] = "year of birth (released as the age band)"
                if self.is_anchor and QI.AGE_BAND in profile.quasi_identifiers:
                    self._age(meta, source)
                continue
            if meta.is_date:
                self._date(meta, source, renamed)
                continue
            if meta.missing_of:
                if meta.missing_of not in frame.columns or meta.missing_of in self.dropped:
                    self.dropped[meta.name] = "missing-data code of a column not released"
                    continue
                new_name = f"{renamed.get(meta.missing_of, meta.missing_of)}{MISSING_SUFFIX}"
                values = _convert(source[meta.name], table=table, meta=meta)
                self._add(new_name, values, replace(meta, name=new_name, short_name=""))
                continue
            if meta.precision_of and meta.precision_of in renamed:
                new_name = f"{renamed[meta.precision_of]}_precision"
                self._add(new_name, _convert(source[meta.name], table=table, meta=meta), replace(meta, name=new_name))
                continue
            values = _convert(source[meta.name], table=table, meta=meta)
            self._add(meta.name, values, meta)
            if meta.qi is not None and meta.qi in profile.quasi_identifiers:
                self.qi_columns[meta.qi] = meta.name
                if self.is_anchor:
                    self.qi_original[meta.qi] = _per_patient(
                        self.positions, values, count=len(self.patients.keys), table=table, column=meta.name
                    )

    def _age(self, meta: FieldMeta, source: pd.DataFrame) -> None:
        """Age at the first rechallenge start, per patient, for the age band (filled after k-anonymity)."""
        years = pd.Series(_numbers(source[meta.name], table=self.name, meta=meta))
        per_patient = _per_patient(
            self.positions, years, count=len(self.patients.keys), table=self.name, column=meta.name
        )
        birth = pd.to_numeric(per_patient, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        start = self.patients.anchor_day.astype("int64").astype("datetime64[D]")
        start_year = start.astype("datetime64[Y]").astype("int64") + 1970
        self.qi_original[QI.AGE_BAND] = pd.Series(start_year - birth)
        self.qi_columns[QI.AGE_BAND] = AGE_BAND_COLUMN
        self.columns[AGE_BAND_COLUMN] = pd.Series(dtype=object)

    def _add(self, name: str, values: pd.Series, meta: FieldMeta) -> None:
        if name in self.columns:
            raise DeidError(f"table {self.name}: two released columns would be named {name}")
        self.columns[name] = values
        self.out_meta[name] = meta

    def _date(self, meta: FieldMeta, source: pd.DataFrame, renamed: dict[str, str]) -> None:
        days = _days(source[meta.name], table=self.name, meta=meta)
        known = ~np.isnan(days)
        if self.profile.dates is DateRule.RELATIVE_DAYS:
            relative = days - self.patients.anchor_day[self.positions]
            values = pd.Series(pd.array(np.where(known, relative, 0).astype("int64"), dtype="Int64")).mask(~known)
            stem = next((meta.name.removesuffix(end) for end in ("_date", "_at") if meta.name.endswith(end)), meta.name)
            name = f"{stem}_day"
            renamed[meta.name] = name
            out = replace(
                meta,
                name=name,
                label=f"{meta.label} (day)",
                kind=FieldKind.INTEGER,
                unit="days from the patient's first rechallenge start",
                short_name="",
                missing=tuple(
                    (code, meaning.replace(f"{meta.name}{MISSING_SUFFIX}", f"{name}{MISSING_SUFFIX}"))
                    for code, meaning in meta.missing
                ),
                deid_note=f"Date {meta.name} released as whole days from the patient's first rechallenge start "
                "(day 0); negative = before it.",
            )
        else:
            shifted = (np.where(known, days, 0) + self.patients.offset[self.positions]).astype("int64")
            dates = shifted.astype("datetime64[D]").astype(object)
            dates[~known] = None
            values = pd.Series(dates, dtype=object)
            name = meta.name
            out = replace(
                meta,
                kind=FieldKind.DATE,
                deid_note=f"Shifted by the patient's date offset (±{self.profile.shift_window_days} days, never 0, "
                "the same for all of the patient's dates).",
            )
        self._add(name, values, out)

    def frame(self) -> pd.DataFrame:
        """The released table, sorted by pseudonym (and rechallenge number); the built columns are handed over.

        The order is found on the key columns alone and each column is moved into the table one at a time, so
        the table and its built columns never both exist whole (at a million rows each is gigabytes)."""
        self.names = list(self.columns)
        keys = [PSEUDONYM_COLUMN] + ([self.sequence_name] if self.sequence_name in self.columns else [])
        # The patients are numbered in pseudonym order, so the pseudonym sorts as its patient's position does:
        # the order is found on integers (rechallenge number second, missing first).
        sequence = (
            self.columns[keys[1]].to_numpy(dtype="float64", na_value=-np.inf)
            if len(keys) > 1
            else np.zeros(len(self.positions))
        )
        order = np.lexsort((sequence, self.positions))
        ordered_positions, ordered_sequence = self.positions[order], sequence[order]
        if ((ordered_positions[1:] == ordered_positions[:-1]) & (ordered_sequence[1:] == ordered_sequence[:-1])).any():
            frame = pd.DataFrame(self.columns)
            keys = keys + [c for c in frame.columns if c not in keys]
            ordered = frame.sort_values(keys, kind="mergesort", na_position="first", key=_sortable)
            self.columns = {}
            return ordered.reset_index(drop=True)
        out: dict[str, pd.Series] = {}
        for name in self.names:
            column = self.columns.pop(name)
            out[name] = column.take(order).reset_index(drop=True) if len(column) else column
        return pd.DataFrame(out, copy=False)

    def released_fields(self, *, countries: Mapping[str, str]) -> tuple[FieldMeta, ...]:
        out = []
        for name in self.names if self.names is not None else self.columns:
            meta = self.out_meta.get(name)
            if name == AGE_BAND_COLUMN and meta is None:
                meta = age_band_meta(self.profile)
            assert meta is not None
            if meta.qi is not None and meta.qi in self.qi_columns:
                meta = _generalised_meta(meta, countries=countries)
            out.append(meta)
        return tuple(out)


def _sortable(column: pd.Series) -> pd.Series:
    """Columns as sort keys: mixed objects (dates, None) compare by their text, categories by their values (their
    codes follow the input's order)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object).where(column.notna(), None)
    if column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) not in ("string", "empty"):
        return column.map(lambda value: None if value is None else str(value))
    return column


PSEUDONYM_META = FieldMeta(
    PSEUDONYM_COLUMN,
    "Patient pseudonym",
    FieldKind.TEXT,
    missing=(),
    free_text=False,
    description="Keyed-hash pseudonym of the patient: the same patient has the same pseudonym in every export of "
    "this project, and an unrelated one in any other project. It does not encode the registry ID.",
    deid_note="Replaces the patient key (HMAC-SHA-256 with a key held outside the registry database).",
)


def age_band_meta(profile: Profile) -> FieldMeta:
    """The released age band: the finest bands first, then the wider ones used for rare combinations."""
    labels = list(dict.fromkeys(label for bands in profile.age_bands for label in age_band_labels(bands)))
    return FieldMeta(
        AGE_BAND_COLUMN,
        "Age at the first rechallenge start (band)",
        FieldKind.CODE,
        unit="years",
        choices=tuple((label, f"{label} years") for label in labels),
        missing=(("", "Year of birth not recorded"),),
        derivation="Year of the patient's first rechallenge start minus the year of birth, in bands; "
        f"{profile.age_top_code} or more is '{profile.age_top_code}+'.",
        qi=QI.AGE_BAND,
        deid_note="Quasi-identifier: wider bands where a combination was rare.",
    )


def _generalised_meta(meta: FieldMeta, *, countries: Mapping[str, str]) -> FieldMeta:
    """A quasi-identifier's values with the generalised ones it may take, and the suppression code."""
    extra: Values = ()
    if meta.qi is QI.TUMOUR_TYPE:
        from registry import vocabularies as v

        tissues = dict.fromkeys(term.tissue for term in v.TUMOUR_TYPES)
        extra = tuple((f"{TISSUE_PREFIX}{t}", f"{t} (tumour type generalised to its OncoTree tissue)") for t in tissues)
    elif meta.qi is QI.SITE:
        extra = tuple(
            (f"{COUNTRY_PREFIX}{c}", f"A site in {c} (site generalised to its country)")
            for c in sorted(set(countries.values()))
        )
    known = set(meta.codes)
    values = meta.choices + tuple(pair for pair in extra if pair[0] not in known)
    missing = (*(pair for pair in meta.missing if pair[0] != SUPPRESSED), (SUPPRESSED, SUPPRESSED_MEANING))
    note = meta.deid_note or "Quasi-identifier: generalised where a combination was rare, suppressed where still rare."
    return replace(meta, choices=values, missing=missing, deid_note=note)
