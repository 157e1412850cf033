"""k-anonymity on the quasi-identifiers: generalise rare combinations first, suppress only what stays rare.

The quasi-identifiers (age band, sex, site, tumour type) are patient-level, so the work is done on one
row per patient and the result copied into every released table: a patient generalised in one table
is generalised in all of them (otherwise the pseudonym would link the coarse value to the fine one).

A *group* is the set of patients sharing one combination of released values in one table, counting
**distinct patients** (not rows: a patient with three episodes is one person). The rule, checked in
every released table that carries quasi-identifier columns: every group, the all-suppressed one
included, holds at least k patients.

1. **Generalisation**, in the profile's stated order (by default tumour type → OncoTree tissue, site →
   country, 10-year → 20-year age bands). At step *i* each patient in a group smaller than k is raised
   to the levels of steps 1..*i*; only rare patients change (local recoding), common combinations keep
   their detail. A step is repeated until its rare patients are all at its levels (a patient leaving a
   group can leave the rest of it rare in another table).
2. **Suppression** of patients still in a group smaller than k, one quasi-identifier at a time in the
   profile's order (by default site, age band, sex, tumour type): the cell becomes ``*`` in every row
   of the patient, and the rows stay (an episode's outcomes are not lost). If the group of patients
   with every quasi-identifier suppressed has fewer than k patients, patients of the largest groups
   join it (the check runs again, so no group is left below k). A table holding fewer than k
   patients cannot be released.

Generalised values are marked so they are never mistaken for codes: ``tissue:Lung``,
``country:NL``; widened age bands are ordinary band labels (``40-59``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from registry import vocabularies as v
from registry.deid.errors import KAnonymityError
from registry.deid.fields import QI
from registry.deid.profiles import SUPPRESSED, Profile, age_band_labels

TISSUE_PREFIX = "tissue:"
COUNTRY_PREFIX = "country:"

Level = Callable[[pd.Series], pd.Series]


@dataclass(frozen=True)
class Hierarchy:
    """A quasi-identifier's levels: level 0 is its released form, each further level coarser."""

    qi: QI
    levels: tuple[Level, ...]
    #: The rule applied when raising to level i (``rules[i - 1]``), as the manifest counts it.
    rules: tuple[str, ...]


def age_bands(bounds: tuple[int, ...]) -> Level:
    """Ages (whole years, NA allowed) to band labels; negative ages are treated as unknown."""
    labels = np.array(age_band_labels(bounds), dtype=object)

    def band(ages: pd.Series) -> pd.Series:
        numbers = pd.to_numeric(ages, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        known = ~np.isnan(numbers) & (numbers >= 0)
        out = np.full(len(numbers), None, dtype=object)
        out[known] = labels[np.searchsorted(bounds, numbers[known], side="right") - 1]
        return pd.Series(out, index=ages.index, dtype=object)

    return band


def _identity(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), None)


def _mapped(prefix: str, mapping: Mapping[str, str]) -> Level:
    table = {code: f"{prefix}{target}" for code, target in mapping.items()}

    def generalise(values: pd.Series) -> pd.Series:
        out = values.map(table).astype(object)
        # A code with no parent is suppressed rather than passed through.
        out[values.notna() & out.isna()] = SUPPRESSED
        return out.where(values.notna(), None)

    return generalise


def hierarchies(profile: Profile, *, site_countries: Mapping[str, str]) -> dict[QI, Hierarchy]:
    """The generalisation levels of each quasi-identifier under ``profile``."""
    tissues = {term.code: term.tissue for term in v.TUMOUR_TYPES}
    return {
        QI.AGE_BAND: Hierarchy(
            QI.AGE_BAND,
            tuple(age_bands(bounds) for bounds in profile.age_bands),
            tuple(
                f"age_band: widened to the level-{level} bands ({', '.join(age_band_labels(bounds))})"
                for level, bounds in enumerate(profile.age_bands[1:], start=1)
            ),
        ),
        QI.SEX: Hierarchy(QI.SEX, (_identity,), ()),
        QI.SITE: Hierarchy(QI.SITE, (_identity, _mapped(COUNTRY_PREFIX, site_countries)), ("site: site to country",)),
        QI.TUMOUR_TYPE: Hierarchy(
            QI.TUMOUR_TYPE,
            (_identity, _mapped(TISSUE_PREFIX, tissues)),
            ("tumour_type: OncoTree code to tissue",),
        ),
    }


@dataclass(frozen=True)
class TableQIs:
    """Which patients a released table holds (distinct, as positions of the patient frame) and its QI columns."""

    patients: np.ndarray
    qis: tuple[QI, ...]


@dataclass(frozen=True)
class KAnonymityResult:
    """Released quasi-identifier values per patient and what it took to get them."""

    #: One row per patient (the index of the input), one column per quasi-identifier.
    released: pd.DataFrame
    #: Generalisation level per patient and quasi-identifier (0 = as entered; suppressed cells keep theirs).
    levels: pd.DataFrame
    #: Whether each patient's quasi-identifier cell is suppressed.
    suppressed: pd.DataFrame
    #: Rule → patients whose released (unsuppressed) value is at that rule's level.
    generalised_patients: dict[str, int]
    #: Patients fully suppressed only so that the all-suppressed group reaches k.
    suppressed_to_fill: int

    @property
    def suppressed_patients(self) -> int:
        """Patients with at least one suppressed quasi-identifier."""
        return int(self.suppressed.any(axis=1).sum()) if len(self.suppressed.columns) else 0

    @property
    def fully_suppressed_patients(self) -> int:
        return int(self.suppressed.all(axis=1).sum()) if len(self.suppressed.columns) else 0


class _State:
    """Levels and suppression of every patient, and the released values they give."""

    def __init__(self, original: pd.DataFrame, chosen: Mapping[QI, Hierarchy]) -> None:
        self.qis = list(chosen)
        self.n = len(original)
        self.options: dict[QI, list[np.ndarray]] = {
            qi: [np.asarray(level(original[qi]), dtype=object) for level in chosen[qi].levels] for qi in self.qis
        }
        self.level = {qi: np.zeros(self.n, dtype="int64") for qi in self.qis}
        self.suppressed = {qi: np.zeros(self.n, dtype=bool) for qi in self.qis}
        # Every value a QI can take (at any level, or suppressed) numbered once, so the groups of each round
        # are found on integers: the same grouping as factorising the released values (missing is a value).
        self.option_codes: dict[QI, list[np.ndarray]] = {}
        self.suppressed_code: dict[QI, int] = {}
        for qi in self.qis:
            stacked = np.concatenate([*self.options[qi], np.array([SUPPRESSED], dtype=object)])
            numbered, _ = pd.factorize(pd.Series(stacked, dtype=object), use_na_sentinel=False)
            self.option_codes[qi] = [
                numbered[i * self.n : (i + 1) * self.n].astype("int64") for i in range(len(self.options[qi]))
            ]
            self.suppressed_code[qi] = int(numbered[-1])

    def max_level(self, qi: QI) -> int:
        return len(self.options[qi]) - 1

    def fully_suppressed(self) -> np.ndarray:
        result = np.ones(self.n, dtype=bool)
        for qi in self.qis:
            result &= self.suppressed[qi]
        return result

    def values(self, qi: QI) -> np.ndarray:
        options = self.options[qi]
        out = options[0].copy()
        for number in range(1, len(options)):
            at = self.level[qi] == number
            out[at] = options[number][at]
        out[self.suppressed[qi]] = SUPPRESSED
        return out

    def codes(self) -> dict[QI, np.ndarray]:
        """Each QI's current values as small integers (missing is a value of its own)."""
        result = {}
        for qi in self.qis:
            options = self.option_codes[qi]
            codes = options[0].copy()
            for number in range(1, len(options)):
                at = self.level[qi] == number
                codes[at] = options[number][at]
            codes[self.suppressed[qi]] = self.suppressed_code[qi]
            result[qi] = codes
        return result

    def group_sizes(self, table: TableQIs, codes: Mapping[QI, np.ndarray]) -> np.ndarray:
        """Distinct patients in each table patient's group."""
        key = np.zeros(len(table.patients), dtype="int64")
        for qi in table.qis:
            key = key * (int(codes[qi].max(initial=0)) + 1) + codes[qi][table.patients]
        groups, _ = pd.factorize(key)  # hashed, not sorted: each round looks at every patient
        return np.bincount(groups)[groups]

    def rare(self, tables: Sequence[TableQIs], k: int) -> np.ndarray:
        codes = self.codes()
        rare = np.zeros(self.n, dtype=bool)
        for table in tables:
            rare[table.patients[self.group_sizes(table, codes) < k]] = True
        return rare


@dataclass(frozen=True)
class _Step:
    qi: QI
    suppress: bool


def k_anonymise(
    original: pd.DataFrame,
    *,
    k: int,
    hierarchies: Mapping[QI, Hierarchy],
    generalisation: Sequence[QI],
    suppression: Sequence[QI],
    tables: Mapping[str, TableQIs],
) -> KAnonymityResult:
    """Generalise, then suppress, until every group of every table has at least ``k`` patients.

    ``original`` has one row per patient, in a deterministic order (the caller sorts by pseudonym),
    and one column per quasi-identifier present (ages as whole years for the age band). ``tables`` say
    which patients and quasi-identifier columns each released table holds. ``generalisation`` and
    ``suppression`` are the steps, in order; at each, patients in a group smaller than k take the
    levels of every step so far.
    """
    chosen = {qi: hierarchies[qi] for qi in original.columns}
    state = _State(original, chosen)
    checked = [table for _, table in sorted(tables.items()) if table.qis and len(table.patients)]
    for name, table in sorted(tables.items()):
        if table.qis and 0 < len(pd.unique(table.patients)) < k:
            raise KAnonymityError(f"the {name} table holds fewer than k = {k} patients")

    steps = [_Step(qi, False) for qi in generalisation if qi in chosen]
    steps += [_Step(qi, True) for qi in suppression if qi in chosen]
    for number in range(len(steps)):
        done = steps[: number + 1]
        target = {qi: min(sum(1 for s in done if s.qi is qi and not s.suppress), state.max_level(qi)) for qi in chosen}
        suppress = {qi: any(s.qi is qi and s.suppress for s in done) for qi in chosen}
        while True:
            rare = state.rare(checked, k)
            short = np.zeros(state.n, dtype=bool)
            for qi in chosen:
                short |= (state.level[qi] < target[qi]) | (suppress[qi] & ~state.suppressed[qi])
            now = rare & short
            if not now.any():
                break
            for qi in chosen:
                state.level[qi][now] = np.maximum(state.level[qi][now], target[qi])
                if suppress[qi]:
                    state.suppressed[qi][now] = True

    filled = 0
    while True:
        rare = state.rare(checked, k)
        fresh = rare & ~state.fully_suppressed()
        if fresh.any():  # quasi-identifiers left out of the suppression steps
            for qi in chosen:
                state.suppressed[qi][fresh] = True
            continue
        if not rare.any():
            break
        filled += _fill_suppressed_group(state, checked, k)

    released = pd.DataFrame({qi: state.values(qi) for qi in chosen}, index=original.index)
    levels = pd.DataFrame({qi: state.level[qi] for qi in chosen}, index=original.index)
    suppressed = pd.DataFrame({qi: state.suppressed[qi] for qi in chosen}, index=original.index)
    generalised: dict[str, int] = {}
    for qi in chosen:
        for number, rule in enumerate(chosen[qi].rules, start=1):
            count = int(((state.level[qi] == number) & ~state.suppressed[qi]).sum())
            if count:
                generalised[rule] = count
    return KAnonymityResult(
        released=released,
        levels=levels,
        suppressed=suppressed,
        generalised_patients=generalised,
        suppressed_to_fill=filled,
    )


def _fill_suppressed_group(state: _State, tables: Sequence[TableQIs], k: int) -> int:
    """Fully suppress patients of the largest groups of the first table whose all-suppressed group is below k."""
    codes = state.codes()
    full = state.fully_suppressed()
    for table in tables:
        in_table = full[table.patients]
        count = int(in_table.sum())
        if count == 0 or count >= k:
            continue
        sizes = state.group_sizes(table, codes)
        donors = np.flatnonzero(~in_table)
        # Largest groups first, then the caller's patient order (deterministic).
        order = donors[np.lexsort((donors, -sizes[donors]))]
        chosen = table.patients[order[: k - count]]
        for qi in state.qis:
            state.suppressed[qi][chosen] = True
        return len(chosen)
    raise AssertionError("a rare group remains but no all-suppressed group is below k")


def smallest_group(frame: pd.DataFrame, *, patient: str, columns: Sequence[str]) -> int | None:
    """Fewest distinct patients sharing one combination of ``columns`` (None without columns or rows).

    Counted on integer codes (missing is a value of its own): each column numbered once, then combined."""
    if not columns or frame.empty:
        return None
    combination = np.zeros(len(frame), dtype="int64")
    for column in columns:
        codes, _ = pd.factorize(frame[column], use_na_sentinel=False)
        combination, _ = pd.factorize(combination * (int(codes.max()) + 1) + codes)  # renumbered: stays small
    patients, _ = pd.factorize(frame[patient])
    width = int(patients.max()) + 1
    pairs = pd.unique(combination.astype("int64") * width + patients)  # each patient once in its group
    return int(np.bincount(pairs // width).min())
