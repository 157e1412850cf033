"""Every derived variable of :mod:`registry.derive`, computed set-wise over whole tables.

The validation job and the exports derive outcomes for up to 1,000,000 episodes; one
:func:`registry.derive.derive_patient` call per patient cannot do that in time. Here the same rules
run as numpy/pandas column operations (sorts, group reductions, masks — no Python loop over
episodes), from five frames that one SQL query per table can load: their column names are the
Django model columns (:data:`FRAME_COLUMNS`). The result has one row per episode whose columns are
:meth:`registry.derive.EpisodeDerived.as_row` plus ``patient_id``; a test holds the two equal value by
value on a 20,000-patient generated cohort, so any rule changed in one place must change in both.

Dates are handled as day numbers (float, NaN = missing) internally; ``*_precision`` columns say
``"month"`` for a mid-month-imputed date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import count

import numpy as np
import pandas as pd

from registry.dates import DAYS_PER_MONTH, PartialDate
from registry.derive import (
    EVENT_CODES,
    RECIST_AS_IRECIST,
    RECURRENCE_KINDS,
    RESPONSE_CONFIRMATION_MIN_DAYS,
    STABLE_DISEASE_MIN_DAYS,
)
from registry.records import PatientRecords
from registry.vocabularies import CTCAE_OTHER_TERM

#: The columns each frame must have (extra columns are ignored).
FRAME_COLUMNS: dict[str, tuple[str, ...]] = {
    "courses": (
        "patient_id",
        "start_date",
        "start_date_precision",
        "stop_date",
        "stop_date_precision",
        "progression_date",
        "progression_date_precision",
        "stop_reason",
        "iraes_during_course",
    ),
    "episodes": (
        "id",
        "patient_id",
        "sequence_number",
        "start_date",
        "regimen_type",
        "ecog_at_rechallenge",
        "current_prednisone_mg_per_day",
        "iraes_during_rechallenge",
    ),
    "adverse_events": (
        "id",
        "patient_id",
        "episode_id",
        "ctcae_term",
        "organ_category",
        "grade",
        "onset_date",
        "onset_date_precision",
        "resolved_to_grade",
        "resolution_date",
        "resolution_date_precision",
        "management",
        "steroid_refractory",
    ),
    "responses": ("episode_id", "assessment_date", "category"),
    "follow_ups": (
        "episode_id",
        "follow_up_date",
        "vital_status",
        "progression_date",
        "rechallenge_stopped_date",
        "rechallenge_stop_reason",
        "death_date",
        "last_known_alive_date",
    ),
}

# Response categories as small integers; RECIST rows of an iRECIST episode are mapped to IRECIST_OF.
_CATEGORY_CODES = {"CR": 0, "PR": 1, "SD": 2, "PD": 3, "NE": 4, "iCR": 5, "iPR": 6, "iSD": 7, "iUPD": 8, "iCPD": 9}
_CODE_NAMES = np.array(list(_CATEGORY_CODES), dtype=object)
_IRECIST_OF = np.array([_CATEGORY_CODES[RECIST_AS_IRECIST.get(name, name)] for name in _CATEGORY_CODES])
_COMPLETE = [0, 5]
_OBJECTIVE = [0, 1, 5, 6]
_CONTROL = [0, 1, 2, 5, 6, 7]
_PROGRESSION = [3, 9]  # PD, iCPD: end the assessment window
_IRECIST_RESETS = [5, 6, 7]
_IUPD, _NE = 8, 4


def _member(codes: np.ndarray, members: list[int]) -> np.ndarray:
    """Whether each category code is one of ``members`` (a table lookup: faster than ``np.isin``)."""
    table = np.zeros(len(_CATEGORY_CODES), dtype=bool)
    table[members] = True
    return table[codes]


#: Derived names that a month-precision date can feed, in the order ``imputed`` lists them.
_IMPUTABLE = ("pfs1_months", "tfi_months", *(f"recurrence_{kind}_months" for kind in RECURRENCE_KINDS))


@dataclass(frozen=True)
class Frames:
    """The five input tables (see :data:`FRAME_COLUMNS`)."""

    courses: pd.DataFrame
    episodes: pd.DataFrame
    adverse_events: pd.DataFrame
    responses: pd.DataFrame
    follow_ups: pd.DataFrame

    def __post_init__(self) -> None:
        for name, columns in FRAME_COLUMNS.items():
            missing = set(columns) - set(getattr(self, name).columns)
            if missing:
                raise ValueError(f"the {name} frame lacks the column(s) {', '.join(sorted(missing))}")


# --- column tools ------------------------------------------------------------------------------------


def _days(column: pd.Series) -> np.ndarray:
    """Dates (date objects, datetime64 or ISO strings; missing = None/NaT) as float day numbers, NaN = missing."""
    values = column.to_numpy()
    if values.dtype.kind != "M":  # date objects or strings, as a database driver may return them
        values = pd.to_datetime(column, cache=False).to_numpy()
    dates = values.astype("datetime64[D]")
    days = dates.astype("int64").astype("float64")
    days[np.isnat(dates)] = np.nan
    return days


def _imputed(column: pd.Series) -> np.ndarray:
    return (column == "month").to_numpy(dtype=bool)


def _as_dates(days: np.ndarray) -> np.ndarray:
    """Float day numbers (no NaN) as datetime64[D]."""
    return days.astype("int64").astype("datetime64[D]")


def _add_months(months_index: np.ndarray, day: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Day numbers of (year-month ``months_index`` + ``shift``, day ``day``), the day clamped to the month's end."""
    target = months_index + shift
    first = target.astype("datetime64[M]").astype("datetime64[D]")
    following = (target + 1).astype("datetime64[M]").astype("datetime64[D]")
    month_length = (following - first).astype("int64")
    return (first + (np.minimum(day, month_length) - 1)).astype("int64")


def _calendar_months(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """:func:`registry.dates.calendar_months_between` for day numbers with ``end >= start``."""
    start_dates = _as_dates(start)
    start_month = start_dates.astype("datetime64[M]")
    day = (start_dates - start_month.astype("datetime64[D]")).astype("int64") + 1
    month_index = start_month.astype("int64")
    whole = _as_dates(end).astype("datetime64[M]").astype("int64") - month_index
    whole = whole - (_add_months(month_index, day, whole) > end)
    anchor = _add_months(month_index, day, whole)
    following = _add_months(month_index, day, whole + 1)
    return whole + (end - anchor) / (following - anchor)


def _same_month(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return _as_dates(first).astype("datetime64[M]") == _as_dates(second).astype("datetime64[M]")


def _elapsed(
    start: np.ndarray, start_imputed: np.ndarray, end: np.ndarray, end_imputed: np.ndarray, *, calendar: bool
) -> np.ndarray:
    """Months from start to end; 0 when only same-month imputation puts the end first; NaN otherwise missing."""
    months = np.full(len(start), np.nan)
    known = ~np.isnan(start) & ~np.isnan(end)
    forward = np.zeros(len(start), dtype=bool)
    forward[known] = end[known] >= start[known]
    if calendar:
        months[forward] = _calendar_months(start[forward], end[forward])
    else:
        months[forward] = (end[forward] - start[forward]) / DAYS_PER_MONTH
    backward = known & ~forward
    clamped = np.zeros(len(start), dtype=bool)
    clamped[backward] = _same_month(start[backward], end[backward]) & (start_imputed[backward] | end_imputed[backward])
    months[clamped] = 0.0
    return months


def _take(values: np.ndarray, at: np.ndarray, missing: object) -> np.ndarray:
    """``values[at]``, with ``missing`` where ``at`` is -1 (not found)."""
    found = at >= 0
    result = np.full(len(at), missing, dtype=np.result_type(values, np.asarray(missing)))
    result[found] = values[at[found]]
    return result


def _first_known(*columns: np.ndarray) -> np.ndarray:
    """Per row, the first non-NaN value among ``columns`` (NaN if none)."""
    result = columns[0].copy()
    for column in columns[1:]:
        result = np.where(np.isnan(result), column, result)
    return result


def _group_min(n: int, position: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per group 0..n-1, the minimum of ``values`` ignoring NaN (NaN for an empty group)."""
    out = np.full(n, np.nan)
    np.fmin.at(out, position, values)
    return out


def _group_max(n: int, position: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.full(n, np.nan)
    np.fmax.at(out, position, values)
    return out


def _group_any(n: int, position: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.bincount(position[mask], minlength=n) > 0


def _group_cumsum(sorted_position: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` within each run of equal ``sorted_position``."""
    total = np.cumsum(values)
    if not len(values):
        return total
    starts = np.r_[True, sorted_position[1:] != sorted_position[:-1]]
    before = (total - values)[starts]
    return total - before[np.cumsum(starts) - 1]


def _masked(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, values, np.nan)


def _nullable_bool(values: np.ndarray, known: np.ndarray) -> pd.Series:
    return pd.Series(pd.array(np.where(known, values, False), dtype="boolean")).mask(~known)


# --- the derivation ----------------------------------------------------------------------------------


def derive_episodes(frames: Frames | Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per episode (sorted by patient and sequence number) with every derived value.

    Columns: ``patient_id`` and the keys of :meth:`registry.derive.EpisodeDerived.as_row`. Months are
    floats (NaN = not computable), events nullable booleans, recurrence event codes nullable ints
    (0 censored, 1 irAE, 2 competing death), ``imputed`` a tuple of derived names.
    """
    frames = frames if isinstance(frames, Frames) else Frames(**frames)
    raw = frames.episodes
    order = np.lexsort((raw["sequence_number"].to_numpy(), raw["patient_id"].to_numpy()))
    episode_id = raw["id"].to_numpy()[order].astype("int64")
    patient_id = raw["patient_id"].to_numpy()[order].astype("int64")
    sequence = raw["sequence_number"].to_numpy()[order].astype("int64")
    start = _days(raw["start_date"])[order]
    n = len(order)
    no_imputation = np.zeros(n, dtype=bool)
    index = pd.Index(episode_id)

    # The preceding course: ICI-1 for a patient's first episode, else the previous episode.
    first = np.r_[True, patient_id[1:] != patient_id[:-1]] if n else np.zeros(0, dtype=bool)
    previous = np.where(first, 0, np.arange(n) - 1)
    # Named once per distinct preceding sequence number, then taken by row.
    preceding_numbers, preceding_at = np.unique(sequence[previous], return_inverse=True)
    preceding_names = np.array([f"rechallenge {number}" for number in preceding_numbers.tolist()], dtype=object)
    preceding_course = np.where(first, "ICI-1", preceding_names[preceding_at.reshape(-1)]).astype(object)
    patient_rows = np.cumsum(first) - 1
    first_start = _group_min(int(first.sum()), patient_rows, start)[patient_rows]

    fu = frames.follow_ups
    fu_at = index.get_indexer(fu["episode_id"].to_numpy())
    kept = fu_at >= 0
    fu_at = fu_at[kept]
    death = _group_min(n, fu_at, _days(fu["death_date"])[kept])
    follow_up_progression = _group_min(n, fu_at, _days(fu["progression_date"])[kept])
    stopped = _group_min(n, fu_at, _days(fu["rechallenge_stopped_date"])[kept])
    alive_on = _masked(_days(fu["follow_up_date"])[kept], (fu["vital_status"] == "alive").to_numpy()[kept])
    last_contact = _group_max(n, fu_at, np.fmax(_days(fu["last_known_alive_date"])[kept], alive_on))

    response = _responses(frames.responses, index, start)

    # PFS1 of ICI-1, for first episodes.
    courses = frames.courses.drop_duplicates("patient_id", keep="first")
    course_at = pd.Index(courses["patient_id"].to_numpy()).get_indexer(patient_id)

    def course_date(name: str) -> tuple[np.ndarray, np.ndarray]:
        days = _days(courses[name])
        imputed = _imputed(courses[f"{name}_precision"])
        return _take(days, course_at, np.nan), _take(imputed, course_at, False)

    course_start, course_start_imputed = course_date("start_date")
    course_progression, course_progression_imputed = course_date("progression_date")
    course_stop, course_stop_imputed = course_date("stop_date")
    progressed = ~np.isnan(course_progression)
    # Censored at the later of stop and first rechallenge start; on a tie the (day-precision) start.
    censor_at_start = ~np.isnan(first_start) & (np.isnan(course_stop) | (first_start >= course_stop))
    censor = np.where(censor_at_start, first_start, course_stop)
    censor_imputed = ~censor_at_start & course_stop_imputed
    ici1_end = np.where(progressed, course_progression, censor)
    ici1_end_imputed = np.where(progressed, course_progression_imputed, censor_imputed)
    ici1_months = _elapsed(course_start, course_start_imputed, ici1_end, ici1_end_imputed, calendar=True)
    ici1_known = ~np.isnan(ici1_months)

    # Outcomes.
    progression = np.fmin(follow_up_progression, response["progression"])
    event_on = np.fmin(progression, death)
    has_event = ~np.isnan(event_on)
    pfs2_end = np.where(has_event, event_on, _first_known(response["last_adequate"], start))
    pfs2_months = _elapsed(start, no_imputation, pfs2_end, no_imputation, calendar=False)
    pfs2_known = ~np.isnan(pfs2_months)
    pfs2_lc_months = _elapsed(
        start, no_imputation, np.where(has_event, event_on, last_contact), no_imputation, calendar=False
    )
    os_months = _elapsed(
        start, no_imputation, np.where(np.isnan(death), last_contact, death), no_imputation, calendar=False
    )

    # PFS1 of a later episode: the previous episode's PFS2, in calendar months.
    later_months = np.full(n, np.nan)
    later = ~first & pfs2_known[previous]
    later_months[later] = _calendar_months(start[previous][later], pfs2_end[previous][later])
    pfs1_months = np.where(first, ici1_months, later_months)
    pfs1_known = ~np.isnan(pfs1_months)
    pfs1_event = np.where(first, progressed, has_event[previous])
    pfs1_imputed = first & ici1_known & (course_start_imputed | ici1_end_imputed)

    # Treatment-free interval: preceding stop (ICI-1 stop, or the previous episode's) to this start.
    previous_stop = np.where(first, course_stop, stopped[previous])
    previous_stop_imputed = first & course_stop_imputed
    tfi_months = _elapsed(previous_stop, previous_stop_imputed, start, no_imputation, calendar=True)
    tfi_imputed = previous_stop_imputed & ~np.isnan(tfi_months)

    prior_key = np.where(first, -(patient_id + 1), episode_id[previous])
    prior = _prior_iraes(frames.adverse_events, prior_key)
    recurrence = _recurrence(
        frames.adverse_events, index, prior_key, start=start, death=death, last_contact=last_contact
    )

    best, best_code = response["best"], response["best_code"]
    best_known = best_code >= 0
    result = pd.DataFrame(
        {
            "patient_id": patient_id,
            "episode_id": episode_id,
            "sequence_number": sequence,
            "preceding_course": preceding_course,
            "pfs1_months": pfs1_months,
            "pfs1_event": _nullable_bool(pfs1_event, pfs1_known),
            "pfs1_imputed": pfs1_imputed,
            "tfi_months": tfi_months,
            "tfi_imputed": tfi_imputed,
            "worst_prior_grade": prior["worst_grade"],
            "all_prior_resolved": prior["all_resolved"],
            "best_overall_response": best,
            "objective_response": best_known & _member(np.maximum(best_code, 0), _OBJECTIVE),
            "disease_control": best_known & _member(np.maximum(best_code, 0), _CONTROL),
            "response_evaluable": best_known & (best_code != _NE),
            "pfs2_months": pfs2_months,
            "pfs2_event": _nullable_bool(has_event, pfs2_known),
            "pfs2_last_contact_months": pfs2_lc_months,
            "pfs2_last_contact_event": _nullable_bool(has_event, ~np.isnan(pfs2_lc_months)),
            "os_months": os_months,
            "os_event": _nullable_bool(~np.isnan(death), ~np.isnan(os_months)),
            **recurrence,
        }
    )
    flags = np.column_stack(
        [pfs1_imputed, tfi_imputed] + [recurrence[f"recurrence_{kind}_imputed"] for kind in RECURRENCE_KINDS]
    )
    bits = flags.astype("int64") @ (1 << np.arange(len(_IMPUTABLE)))
    names = {mask: tuple(name for i, name in enumerate(_IMPUTABLE) if mask >> i & 1) for mask in np.unique(bits)}
    result["imputed"] = pd.Series(bits).map(names) if n else pd.Series([], dtype=object)
    return result


def _responses(raw: pd.DataFrame, index: pd.Index, start: np.ndarray) -> dict[str, np.ndarray]:
    """Best overall response, progression date and last adequate assessment per episode."""
    n = len(index)
    at = index.get_indexer(raw["episode_id"].to_numpy())
    kept = at >= 0
    at, day = at[kept], _days(raw["assessment_date"])[kept]
    codes = raw["category"][kept].map(_CATEGORY_CODES)
    if codes.isna().any():
        unknown = raw["category"][kept][codes.isna()].iloc[0]
        raise ValueError(f"{unknown!r} is not a RECIST 1.1 or iRECIST response category")
    code = codes.to_numpy(dtype="int64")
    order = np.lexsort((day, at))  # date order within each episode, stable on ties
    at, day, code = at[order], day[order], code[order]

    irecist = _group_any(n, at, code >= _CATEGORY_CODES["iCR"])
    code = np.where(irecist[at], _IRECIST_OF[code], code)
    is_progression = _member(code, _PROGRESSION)
    window = (_group_cumsum(at, is_progression.astype("int64")) - is_progression) == 0

    def span_confirmed(categories: list[int]) -> np.ndarray:
        rows = window & _member(code, categories)
        first, last = _group_min(n, at, _masked(day, rows)), _group_max(n, at, _masked(day, rows))
        return (last - first) >= RESPONSE_CONFIRMATION_MIN_DAYS

    long_enough = window & _member(code, _CONTROL) & ((day - start[at]) >= STABLE_DISEASE_MIN_DAYS)
    ends_in_progression = _group_any(n, at, window & is_progression)
    has_assessment = np.bincount(at, minlength=n) > 0
    computable = has_assessment & ~np.isnan(start)
    conditions = [
        computable & span_confirmed(_COMPLETE),
        computable & span_confirmed(_OBJECTIVE),
        computable & _group_any(n, at, long_enough),
        computable & ends_in_progression & ~irecist,
        computable & ends_in_progression & irecist,
        computable & _group_any(n, at, window & (code == _IUPD)),
        computable,
    ]
    code_of = _CATEGORY_CODES
    choices = [
        np.where(irecist, code_of["iCR"], code_of["CR"]),
        np.where(irecist, code_of["iPR"], code_of["PR"]),
        np.where(irecist, code_of["iSD"], code_of["SD"]),
        np.full(n, code_of["PD"]),
        np.full(n, code_of["iCPD"]),
        np.full(n, code_of["iUPD"]),
        np.full(n, code_of["NE"]),
    ]
    best_code = np.select(conditions, choices, default=-1)  # -1: no best response

    # Progression: RECIST, the first PD. iRECIST, the first iUPD after the last iSD/iPR/iCR before
    # the first iCPD (the iUPD that iCPD confirmed), else that iCPD.
    progression_day = _group_min(n, at, _masked(day, window & is_progression))
    segment = _group_cumsum(at, _member(code, _IRECIST_RESETS).astype("int64")).astype("float64")
    last_segment = _group_max(n, at, _masked(segment, window))
    pending = _group_min(n, at, _masked(day, window & (code == _IUPD) & (segment == last_segment[at])))
    progression = np.where(irecist & ends_in_progression, _first_known(pending, progression_day), progression_day)
    adequate = window & (code != _NE) & ~is_progression
    return {
        "best_code": best_code,
        "best": np.r_[_CODE_NAMES, None][best_code],  # named from the table of names (the last, for -1: None)
        "progression": progression,
        "last_adequate": _group_max(n, at, _masked(day, adequate)),
    }


def _irae_keys(raw: pd.DataFrame) -> np.ndarray:
    """Which course an irAE belongs to: its episode id, or -(patient id + 1) for ICI-1."""
    episode = pd.to_numeric(raw["episode_id"]).to_numpy(dtype="float64")
    patient = raw["patient_id"].to_numpy().astype("int64")
    return np.where(np.isnan(episode), -(patient + 1), np.nan_to_num(episode)).astype("int64")


def _prior_iraes(raw: pd.DataFrame, prior_key: np.ndarray) -> dict[str, object]:
    """Worst grade and "all resolved to ≤ G1" of each episode's preceding course."""
    keys = pd.Index(np.unique(_irae_keys(raw)))
    at = keys.get_indexer(_irae_keys(raw))
    grade = raw["grade"].to_numpy(dtype="float64")
    resolved = pd.to_numeric(raw["resolved_to_grade"]).to_numpy(dtype="float64")
    # 2: known above grade 1 (or fatal); 1: resolution unknown; 0: at grade ≤ 1.
    status = np.select([grade == 5, grade <= 1, np.isnan(resolved), resolved > 1], [2.0, 0.0, 1.0, 2.0], default=0.0)
    worst = _group_max(len(keys), at, grade)
    worst_status = _group_max(len(keys), at, status)
    found = keys.get_indexer(prior_key)
    episode_worst = _take(worst, found, 0).astype("int64")
    episode_status = _take(worst_status, found, 0)
    all_resolved = pd.Series(pd.array(episode_status == 0, dtype="boolean")).mask(episode_status == 1)
    return {"worst_grade": episode_worst, "all_resolved": all_resolved}


def _recurrence(
    raw: pd.DataFrame,
    index: pd.Index,
    prior_key: np.ndarray,
    *,
    start: np.ndarray,
    death: np.ndarray,
    last_contact: np.ndarray,
) -> dict[str, object]:
    """The four recurrence flags and their competing-risk times (death competing, censored at last contact)."""
    n = len(index)
    keys = _irae_keys(raw)
    at = index.get_indexer(pd.to_numeric(raw["episode_id"]).to_numpy(dtype="float64"))
    during = at >= 0
    term_code, _ = pd.factorize(raw["ctcae_term"])
    # "Other (specify)" is never the same term (as ``irae_recurrence``): each such irAE gets a code of its own.
    other = np.asarray(raw["ctcae_term"], dtype=object) == CTCAE_OTHER_TERM
    if other.any():
        term_code[other] = term_code.max() + 1 + np.arange(int(other.sum()))
    organ_code, _ = pd.factorize(raw["organ_category"])

    def recurs(code: np.ndarray) -> np.ndarray:
        """Whether each irAE's term/organ also occurred in its episode's preceding course."""
        width = int(code.max()) + 1 if len(code) else 1
        seen = keys * width + code
        wanted = prior_key[at[during]] * width + code[during]
        result = np.zeros(len(code), dtype=bool)
        result[during] = pd.Index(pd.unique(seen)).get_indexer(wanted) >= 0  # hashed: faster than np.isin
        return result

    onset = _days(raw["onset_date"])
    onset_imputed = _imputed(raw["onset_date_precision"]).astype("float64")
    qualifying = {
        "any_grade": during,
        "same_term": during & recurs(term_code),
        "same_organ": during & recurs(organ_code),
        "grade3_or_higher": during & (raw["grade"].to_numpy(dtype="float64") >= 3),
    }
    columns: dict[str, object] = {}
    for kind, rows in qualifying.items():
        position = at[rows]
        occurred = np.bincount(position, minlength=n) > 0
        onset_missing = _group_any(n, position, np.isnan(onset[rows]))
        # Earliest onset; on a tie the day-precision one (key = 2 × day + imputed).
        first_key = _group_min(n, position, 2 * onset[rows] + onset_imputed[rows])
        first = np.floor_divide(first_key, 2)
        first_imputed = (first_key - 2 * first) == 1
        irae_first = occurred & ~(~np.isnan(death) & (death < first))
        end = np.select(
            [irae_first, ~np.isnan(death), ~np.isnan(last_contact)], [first, death, last_contact], default=np.nan
        )
        end_imputed = irae_first & first_imputed
        months = _elapsed(start, np.zeros(n, dtype=bool), end, end_imputed, calendar=False)
        months[occurred & onset_missing] = np.nan
        known = ~np.isnan(months)
        code = np.select(
            [irae_first, ~np.isnan(death)], [EVENT_CODES["irae"], EVENT_CODES["death"]], default=EVENT_CODES["censored"]
        )
        columns[f"recurrence_{kind}"] = occurred
        columns[f"recurrence_{kind}_months"] = months
        columns[f"recurrence_{kind}_event_code"] = pd.Series(pd.array(code, dtype="Int64")).mask(~known)
        columns[f"recurrence_{kind}_imputed"] = end_imputed & known
    return columns


# --- from records ------------------------------------------------------------------------------------


def _date_and_precision(value: PartialDate | None) -> tuple[dt.date | None, str]:
    if value is None:
        return None, "day"
    return value.value, str(value.precision)


def frames_from_records(patients: Sequence[PatientRecords]) -> Frames:
    """Per-patient records as the five frames; patients and adverse events numbered 1, 2, … in order.

    For tests and small exports: the set-wise path normally loads its frames straight from the database.
    """
    tables: dict[str, list[dict]] = {name: [] for name in FRAME_COLUMNS}
    event_ids = count(1)
    for patient_id, records in enumerate(patients, start=1):
        course = records.course
        if course is not None:
            row: dict = {"patient_id": patient_id, "stop_reason": course.stop_reason or ""}
            for name, value in (("start", course.start), ("stop", course.stop), ("progression", course.progression)):
                row[f"{name}_date"], row[f"{name}_date_precision"] = _date_and_precision(value)
            row["iraes_during_course"] = course.iraes_during_course or ""
            tables["courses"].append(row)
        for episode in records.episodes:
            row = {name: getattr(episode, name, None) for name in FRAME_COLUMNS["episodes"]}
            row["patient_id"] = patient_id
            row["iraes_during_rechallenge"] = episode.iraes_during_rechallenge or ""
            tables["episodes"].append(row)
        for irae in records.iraes:
            row = {name: getattr(irae, name, None) for name in FRAME_COLUMNS["adverse_events"]}
            row["id"], row["patient_id"] = next(event_ids), patient_id
            row["onset_date"], row["onset_date_precision"] = _date_and_precision(irae.onset)
            row["resolution_date"], row["resolution_date_precision"] = _date_and_precision(irae.resolution)
            tables["adverse_events"].append(row)
        tables["responses"] += [
            {"episode_id": r.episode_id, "assessment_date": r.assessed_on, "category": r.category}
            for r in records.responses
        ]
        tables["follow_ups"] += [
            {name: getattr(fu, name) for name in FRAME_COLUMNS["follow_ups"]} for fu in records.follow_ups
        ]
    frames = {name: pd.DataFrame(rows, columns=list(FRAME_COLUMNS[name])) for name, rows in tables.items()}
    frames["adverse_events"]["episode_id"] = frames["adverse_events"]["episode_id"].astype("Int64")
    frames["adverse_events"]["resolved_to_grade"] = frames["adverse_events"]["resolved_to_grade"].astype("Int64")
    return Frames(**frames)
