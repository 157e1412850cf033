"""Who is analysed: the primary and the all-locked population, exclusions by reason, censoring at the cut.

DESIGN §5: the primary population is first rechallenges whose assessment was locked no later than
14 days after the rechallenge start and is not retrospective; every first rechallenge with a locked
assessment of the model version forms the sensitivity population ``all_locked``. Nobody is dropped
silently: every episode of the frame gets exactly one reason, checked in the order of
:data:`EXCLUSION_REASONS` (the first that applies is counted), or none when it is analysed.

Which assessment an episode is analysed with (a statistician should confirm these choices):

- ``primary``: the **original** lock — the earliest assessment of the version that is not a
  re-assessment, locked by the data cut. Its timing and retrospective flag decide eligibility; a
  later re-assessment (after a data correction) never replaces it. An episode with only
  re-assessments under this version is ``reassessment_only``.
- ``all_locked``: the earliest assessment of the version locked by the data cut, whatever its kind.

``contraindicated`` (rechallenged anyway) and ``insufficient_data`` episodes meet the population's
criteria but are outside the three-category comparison: they are counted as excluded from it, and
still described (:attr:`Population.eligible`), and they stay in the analyses that do not compare
categories (the review's stop-reason comparison, irAE recurrence).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from registry.dates import DAYS_PER_MONTH, add_months
from registry.decision.spec import CATEGORIES
from registry.derive import RECURRENCE_KINDS

__all__ = [
    "ANALYSED_CATEGORIES",
    "EXCLUSION_REASONS",
    "INPUT_COLUMNS",
    "LOCK_WINDOW_DAYS",
    "OUTCOME_COLUMNS",
    "REPORTED_CATEGORIES",
    "STILL_ELIGIBLE",
    "Population",
    "build_populations",
    "censor_at_cut",
    "cut_moment",
    "potential_follow_up",
]

#: The three categories compared, in their prognostic order (the trend test's order).
ANALYSED_CATEGORIES: tuple[str, ...] = CATEGORIES[:3]
#: Categories that are described but not compared.
REPORTED_CATEGORIES: tuple[str, ...] = CATEGORIES[3:]
#: The primary population's lock window: locked no later than this many days after the start.
LOCK_WINDOW_DAYS = 14

#: Reasons an episode is not analysed, in the order they are checked (one reason per episode).
EXCLUSION_REASONS: tuple[str, ...] = (
    "not_first_rechallenge",
    "no_rechallenge_start",
    "started_after_cut",
    "reassessment_only",  # primary only: no original lock under this version
    "locked_after_cut",
    "retrospective",  # primary only
    "locked_late",  # primary only
    "contraindicated",
    "insufficient_data",
    "unknown_category",
    "no_follow_up",  # PFS2 not computable
)
#: Reasons after which an episode still belongs to the population (described, not compared).
STILL_ELIGIBLE = ("contraindicated", "insufficient_data", "unknown_category", "no_follow_up")

RECURRENCE_COLUMNS: tuple[str, ...] = tuple(
    column for kind in RECURRENCE_KINDS for column in (f"recurrence_{kind}_months", f"recurrence_{kind}_event_code")
)
#: Derived endpoint columns (from ``registry.derive_frames``).
OUTCOME_COLUMNS: tuple[str, ...] = (
    "pfs2_months",
    "pfs2_event",
    "os_months",
    "os_event",
    "objective_response",
    "disease_control",
    "response_evaluable",
    *RECURRENCE_COLUMNS,
)
#: Every column of the input contract, in the order the data hash reads them.
INPUT_COLUMNS: tuple[str, ...] = (
    "episode_id",
    "patient_id",
    "site",
    "country",
    "tumour_type",
    "sequence_number",
    "rechallenge_start",
    "locked_at",
    "is_retrospective",
    "is_reassessment",
    "model_version",
    "category",
    "score",
    "stop_reason",
    "strategy",
    "prior_irae_any",
    *OUTCOME_COLUMNS,
)


@dataclass(frozen=True)
class Population:
    """One population: every episode of the frame with the assessment it is read with and its reason.

    ``episodes`` has one row per episode (sorted by ``episode_id``) with the chosen assessment's
    columns and ``reason`` ("" when analysed).
    """

    name: str
    episodes: pd.DataFrame

    @property
    def analysed(self) -> pd.DataFrame:
        """The three-category comparison: favourable / intermediate / unfavourable with PFS2 follow-up."""
        return self.episodes[self.episodes["reason"] == ""]

    @property
    def eligible(self) -> pd.DataFrame:
        """Everyone meeting the population's criteria, whatever the category (rechallenged episodes)."""
        return self.episodes[self.episodes["reason"].isin(("", *STILL_ELIGIBLE))]

    @property
    def excluded(self) -> dict[str, int]:
        """Episodes not analysed, by reason; every reason listed (0 when none)."""
        counts = self.episodes["reason"].value_counts()
        return {reason: int(counts.get(reason, 0)) for reason in EXCLUSION_REASONS}


def cut_moment(data_cut: dt.date | dt.datetime) -> tuple[dt.date, pd.Timestamp]:
    """The cut's calendar date (UTC) and the last instant a lock may have: the end of that day for a date."""
    if isinstance(data_cut, dt.datetime):
        if data_cut.tzinfo is None:
            raise ValueError("data_cut must be a timezone-aware datetime (UTC) or a date")
        moment = pd.Timestamp(data_cut).tz_convert("UTC")
        return moment.date(), moment
    return data_cut, pd.Timestamp(data_cut + dt.timedelta(days=1), tz="UTC") - pd.Timedelta(1, "ns")


def _start_days(frame: pd.DataFrame) -> np.ndarray:
    """Rechallenge start as float day numbers (NaN = missing)."""
    dates = pd.to_datetime(frame["rechallenge_start"]).to_numpy().astype("datetime64[D]")
    days = dates.astype("int64").astype("float64")
    days[np.isnat(dates)] = np.nan
    return days


def _day_number(day: dt.date) -> float:
    return float(np.datetime64(day, "D").astype("int64"))


def censor_at_cut(frame: pd.DataFrame, data_cut: dt.date | dt.datetime) -> pd.DataFrame:
    """A copy with every time beyond the data cut censored at the cut (months from the rechallenge start).

    PFS2 and OS: the time becomes the cut and the event False; recurrence: the time becomes the cut
    and the event code 0. An event exactly at the cut is kept. Rows starting after the cut (or
    without a start) are left as they are; the populations exclude them.
    """
    cut_date, _ = cut_moment(data_cut)
    cut_months = (_day_number(cut_date) - _start_days(frame)) / DAYS_PER_MONTH
    valid = ~np.isnan(cut_months) & (cut_months >= 0)
    result = frame.copy()
    for time_column, event_column, censored in (
        ("pfs2_months", "pfs2_event", False),
        ("os_months", "os_event", False),
        *((f"recurrence_{kind}_months", f"recurrence_{kind}_event_code", 0) for kind in RECURRENCE_KINDS),
    ):
        if time_column not in result.columns:
            continue
        months = result[time_column].to_numpy(dtype="float64", na_value=np.nan)
        beyond = valid & ~np.isnan(months) & (months > cut_months + 1e-9)
        if not beyond.any():
            continue
        result[time_column] = np.where(beyond, cut_months, months)
        events = result[event_column].copy()
        events[beyond] = censored
        result[event_column] = events
    return result


def potential_follow_up(episodes: pd.DataFrame, data_cut: dt.date | dt.datetime, months: int) -> np.ndarray:
    """Whether each episode started at least ``months`` calendar months before the cut (start ≤ cut − months).

    Selection for an X-month endpoint is by this *potential* follow-up, not by observed follow-up.
    """
    cut_date, _ = cut_moment(data_cut)
    limit = _day_number(add_months(cut_date, -months))
    start = _start_days(episodes)
    return ~np.isnan(start) & (start <= limit)


def _flag(column: pd.Series) -> np.ndarray:
    """A yes/no column (bool, nullable boolean or objects) as booleans, missing = False."""
    return column.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _chosen(rows: pd.DataFrame, candidate: np.ndarray) -> pd.DataFrame:
    """Per episode, its first candidate row (rows sorted by episode, then lock time), else its first row.

    ``has_lock`` says whether a candidate existed; episode-level columns are the same on every row.
    """
    episode = rows["episode_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1]]) if len(rows) else np.zeros(0, dtype=np.int64)
    group = np.cumsum(np.r_[True, episode[1:] != episode[:-1]]) - 1 if len(rows) else np.zeros(0, dtype=np.int64)
    first_candidate = np.full(starts.size, -1, dtype=np.int64)
    positions = np.flatnonzero(candidate)
    first_candidate[group[positions][::-1]] = positions[::-1]
    has_lock = first_candidate >= 0
    chosen = rows.iloc[np.where(has_lock, first_candidate, starts)].reset_index(drop=True)
    chosen["has_lock"] = has_lock
    return chosen


def _population(name: str, rows: pd.DataFrame, *, cut_date: dt.date, lock_limit: pd.Timestamp) -> Population:
    locked_at = pd.to_datetime(rows["locked_at"], utc=True)
    by_cut = (locked_at <= lock_limit).to_numpy()
    reassessment = _flag(rows["is_reassessment"])
    primary = name == "primary"
    candidate = by_cut & ~reassessment if primary else by_cut
    episodes = _chosen(rows, candidate)
    if primary:
        original = pd.Series(~reassessment).groupby(rows["episode_id"].to_numpy()).any()
        has_original = original.reindex(episodes["episode_id"]).to_numpy(dtype=bool)
    else:
        has_original = np.ones(len(episodes), dtype=bool)

    start = _start_days(episodes)
    cut_day = _day_number(cut_date)
    lock_day = (
        pd.to_datetime(episodes["locked_at"], utc=True)
        .dt.floor("D")
        .dt.tz_localize(None)
        .to_numpy()
        .astype("datetime64[D]")
    )
    lock_days = lock_day.astype("int64").astype("float64")
    lock_days[np.isnat(lock_day)] = np.nan
    category = episodes["category"].astype(object).to_numpy()
    known = np.isin(category, (*ANALYSED_CATEGORIES, *REPORTED_CATEGORIES))
    pfs2 = episodes["pfs2_months"].to_numpy(dtype="float64", na_value=np.nan)
    pfs2_event_known = episodes["pfs2_event"].notna().to_numpy()
    retrospective = _flag(episodes["is_retrospective"])
    has_lock = episodes["has_lock"].to_numpy(dtype=bool)
    checks = [
        episodes["sequence_number"].to_numpy() != 1,
        np.isnan(start),
        start > cut_day,
        primary & ~has_original,
        ~has_lock,
        primary & retrospective,
        primary & (lock_days - start > LOCK_WINDOW_DAYS),
        category == "contraindicated",
        category == "insufficient_data",
        ~known,
        np.isnan(pfs2) | ~pfs2_event_known,
    ]
    episodes["reason"] = np.select(checks, list(EXCLUSION_REASONS), default="")
    return Population(name, episodes.drop(columns=["has_lock"]))


def build_populations(frame: pd.DataFrame, *, data_cut: dt.date | dt.datetime) -> dict[str, Population]:
    """``{"primary": …, "all_locked": …}`` from the rows of one model version (censored at the cut first)."""
    missing = sorted(set(INPUT_COLUMNS) - set(frame.columns) - set(RECURRENCE_COLUMNS))
    if missing:
        raise ValueError(f"the validation frame lacks the column(s) {', '.join(missing)}")
    cut_date, lock_limit = cut_moment(data_cut)
    rows = censor_at_cut(frame, data_cut)
    rows = rows.assign(_lock=pd.to_datetime(rows["locked_at"], utc=True)).sort_values(
        ["episode_id", "_lock", "is_reassessment"], kind="stable"
    )
    rows = rows.drop(columns="_lock").reset_index(drop=True)
    return {
        name: _population(name, rows, cut_date=cut_date, lock_limit=lock_limit) for name in ("primary", "all_locked")
    }
