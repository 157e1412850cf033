"""Benchmark: the validation statistics (registry/validation) against plain lifelines on the same frame.

Why: the nightly validation run must handle 1,000,000 episodes in under 60 s on 2 cores, and be no
slower than computing the same statistics with lifelines. Both are timed in the same run on the same
seeded frame, so the ratio — not the absolute time on a noisy 2-core machine — is what to compare.

The frame is built by :func:`generate_frame`, a seeded vectorised generator of the validation input
contract (``registry/validation/__init__.py``) — not ``registry.synthetic`` + ``derive_frames``, whose
per-patient generation and decision-model locking take minutes at this size. It has realistic
effects: PFS2 hazard ratios by category (favourable 0.6, intermediate 1, unfavourable 1.7) and stop
reason (progression 1.3), a site frailty, deaths after progression, accrual growing towards the
cut, late and retrospective locks, re-assessments, ties (times in whole days), follow-up recorded
past the cut, and irAE recurrence with death competing.

The lifelines baseline per population: ``KaplanMeierFitter`` per category (median and its CI,
PFS2 at 6 and 12 months, RMST, OS, reverse-KM follow-up), ``multivariate_logrank_test``,
``CoxPHFitter`` with ``cluster_col="site"``, its ``proportional_hazard_test``, the stop-reason and
stop-reason + category models, ``concordance_index``, and ``AalenJohansenFitter`` for recurrence.
lifelines' cluster-robust variance loops over rows with an O(n) step each (quadratic): above
``--lifelines-cluster-max`` episodes it is timed on two subsamples and extrapolated (printed as
"projected"), everything else runs on the full frame.

    .venv/bin/python bench/validation_bench.py [--episodes 100000] [--sites 40] [--seed 1]

No database needed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd

from registry.dates import DAYS_PER_MONTH
from registry.derive import RECURRENCE_KINDS

DATA_CUT = dt.date(2026, 10, 31)
FIRST_START = dt.date(2018, 1, 1)
MODEL_VERSION = "1.1"
TARGET_EPISODES = 1_000_000
BUDGET_SECONDS = 60.0

_TUMOURS = (
    ("NSCLC", 0.22),
    ("LUAD", 0.14),
    ("LUSC", 0.06),
    ("MEL", 0.12),
    ("SKCM", 0.06),
    ("RCC", 0.08),
    ("CCRCC", 0.04),
    ("BLCA", 0.05),
    ("HNSC", 0.05),
    ("HCC", 0.04),
    ("STAD", 0.03),
    ("ESCC", 0.03),
    ("MCC", 0.02),
    ("CESC", 0.02),
    ("UCEC", 0.02),
    ("CUP", 0.02),
)
_CATEGORIES = (
    ("favourable", 0.34, 0.6),
    ("intermediate", 0.34, 1.0),
    ("unfavourable", 0.22, 1.7),
    ("contraindicated", 0.04, 1.3),
    ("insufficient_data", 0.06, 1.1),
)
_STOP = ("toxicity", "progression", "planned_completion", "patient_choice", "other")
#: P(stop reason | category), rows in _CATEGORIES order.
_STOP_GIVEN_CATEGORY = np.array(
    [
        [0.50, 0.15, 0.25, 0.05, 0.05],
        [0.35, 0.45, 0.10, 0.05, 0.05],
        [0.15, 0.75, 0.02, 0.04, 0.04],
        [0.70, 0.20, 0.02, 0.04, 0.04],
        [0.35, 0.40, 0.15, 0.05, 0.05],
    ]
)
_STRATEGIES = (
    ("monotherapy", 0.50),
    ("ici_chemotherapy", 0.22),
    ("ici_antiangiogenic", 0.10),
    ("ici_radiotherapy", 0.10),
    ("ici_ici", 0.06),
    ("ici_other", 0.02),
)
_COUNTRIES = ("FR", "DE", "IT", "ES", "NL", "BE", "GB", "CH")


def _choice(rng: np.random.Generator, options: tuple, n: int) -> np.ndarray:
    codes = [option[0] for option in options]
    weights = np.array([option[1] for option in options], dtype=float)
    return np.array(codes, dtype=object)[rng.choice(len(codes), size=n, p=weights / weights.sum())]


def generate_frame(episodes: int, *, sites: int = 40, seed: int = 1, data_cut: dt.date = DATA_CUT) -> pd.DataFrame:
    """A seeded validation frame of ``episodes`` episodes (plus ~5% re-assessment rows), the input contract."""
    rng = np.random.default_rng(seed)
    n = episodes
    episode_id = np.arange(1, n + 1, dtype=np.int64)
    second = rng.random(n) < 0.08
    patient_id = np.where(second, np.maximum(episode_id - 1, 1), episode_id)
    site_index = rng.integers(0, sites, n)
    site = np.array([f"S{i:03d}" for i in range(sites)], dtype=object)[site_index]
    country = np.array(_COUNTRIES, dtype=object)[site_index % len(_COUNTRIES)]
    tumour = _choice(rng, _TUMOURS, n)
    cut_day = (data_cut - FIRST_START).days
    start_offset = np.floor(np.sqrt(rng.random(n)) * cut_day).astype(np.int64)  # accrual grows
    start = np.datetime64(FIRST_START, "D") + start_offset

    weights = np.array([c[1] for c in _CATEGORIES])
    category_index = rng.choice(len(_CATEGORIES), size=n, p=weights / weights.sum())
    category = np.array([c[0] for c in _CATEGORIES], dtype=object)[category_index]
    score_base = np.array([9, 5, 1, 4, 5])[category_index]
    score = (score_base + rng.integers(0, 4, n)).astype(np.float64)
    cumulative = _STOP_GIVEN_CATEGORY[category_index].cumsum(axis=1)
    stop_index = (rng.random(n)[:, None] > cumulative).sum(axis=1)
    stop = np.array(_STOP, dtype=object)[np.minimum(stop_index, len(_STOP) - 1)]
    stop[rng.random(n) < 0.02] = None
    strategy = _choice(rng, _STRATEGIES, n)
    prior_draw = rng.random(n)
    prior = pd.array(np.where(prior_draw < 0.55, True, False), dtype="boolean")
    prior[prior_draw > 0.95] = pd.NA

    # Locks: mostly around the start; some late, some retrospective.
    lock_days = rng.integers(-10, 11, n)
    late = rng.random(n) < 0.08
    lock_days[late] = rng.integers(15, 200, late.sum())
    lock_seconds = rng.integers(0, 86_400, n)
    locked_at = (
        pd.to_datetime(start + lock_days).tz_localize("UTC") + pd.to_timedelta(lock_seconds, unit="s")
    ).to_numpy()
    retrospective = rng.random(n) < 0.03

    # Outcomes (days): PFS2 by category, stop reason and site frailty; death after progression.
    hazard_ratio = np.array([c[2] for c in _CATEGORIES])[category_index] * np.where(stop == "progression", 1.3, 1.0)
    frailty = np.exp(rng.normal(0, 0.15, sites))[site_index]
    median_days = 4.0 * DAYS_PER_MONTH
    progression_days = rng.exponential(median_days / math.log(2) / (hazard_ratio * frailty))
    death_days = progression_days + rng.exponential(8.0 * DAYS_PER_MONTH / math.log(2), n)
    early_death = rng.random(n) < 0.05
    death_days[early_death] = progression_days[early_death]
    lost = rng.exponential(60 * DAYS_PER_MONTH, n)
    # Follow-up is recorded up to the cut, and for 2% of episodes up to 90 days past it.
    observed_until = np.minimum(lost, cut_day - start_offset + np.where(rng.random(n) < 0.02, 90, 0))
    pfs2_days = np.ceil(np.minimum(np.minimum(progression_days, death_days), observed_until))
    pfs2_event = np.minimum(progression_days, death_days) <= observed_until
    os_days = np.ceil(np.minimum(death_days, observed_until))
    os_event = death_days <= observed_until
    no_follow_up = rng.random(n) < 0.005

    response_p = np.array([0.35, 0.20, 0.10, 0.15, 0.20])[category_index]
    evaluable = rng.random(n) < 0.85
    draw = rng.random(n)
    objective = evaluable & (draw < response_p)
    control = evaluable & (draw < response_p + 0.35)

    columns: dict[str, object] = {
        "episode_id": episode_id,
        "patient_id": patient_id,
        "site": site,
        "country": country,
        "tumour_type": tumour,
        "sequence_number": np.where(second, 2, 1),
        "rechallenge_start": start.astype("datetime64[D]"),
        "locked_at": locked_at,
        "is_retrospective": retrospective,
        "is_reassessment": np.zeros(n, dtype=bool),
        "model_version": np.full(n, MODEL_VERSION, dtype=object),
        "category": category,
        "score": score,
        "stop_reason": stop,
        "strategy": strategy,
        "prior_irae_any": prior,
        "pfs2_months": np.where(no_follow_up, np.nan, pfs2_days / DAYS_PER_MONTH),
        "pfs2_event": pd.array(pfs2_event, dtype="boolean"),
        "os_months": np.where(no_follow_up, np.nan, os_days / DAYS_PER_MONTH),
        "os_event": pd.array(os_event, dtype="boolean"),
        "objective_response": objective,
        "disease_control": control,
        "response_evaluable": evaluable,
    }
    columns["pfs2_event"][no_follow_up] = pd.NA  # type: ignore[index]
    columns["os_event"][no_follow_up] = pd.NA  # type: ignore[index]

    # irAE recurrence, death competing, censored with overall survival.
    prior_yes = prior_draw < 0.55
    base = np.where(prior_yes, 0.035, 0.018) * np.where(category == "contraindicated", 2.0, 1.0)
    any_days = rng.exponential(DAYS_PER_MONTH / base)
    kinds = {
        "any_grade": any_days,
        "same_term": np.where(prior_yes & (rng.random(n) < 0.6), any_days, np.inf),
        "same_organ": np.where(prior_yes & (rng.random(n) < 0.7), any_days, np.inf),
        "grade3_or_higher": np.where(rng.random(n) < 0.3, any_days, np.inf),
    }
    for kind in RECURRENCE_KINDS:
        irae = kinds[kind]
        end = np.ceil(np.minimum(np.minimum(irae, death_days), observed_until))
        code = np.where(irae <= np.minimum(death_days, observed_until), 1, np.where(os_event, 2, 0))
        columns[f"recurrence_{kind}_months"] = np.where(no_follow_up, np.nan, end / DAYS_PER_MONTH)
        codes = pd.array(code, dtype="Int64")
        codes[no_follow_up] = pd.NA
        columns[f"recurrence_{kind}_event_code"] = codes
    frame = pd.DataFrame(columns)

    # Re-assessments: 5% of episodes get a later lock after a data correction, sometimes re-categorised.
    again = np.flatnonzero(rng.random(n) < 0.05)
    extra = frame.iloc[again].copy()
    extra["is_reassessment"] = True
    extra["locked_at"] = extra["locked_at"] + pd.to_timedelta(rng.integers(20, 400, again.size), unit="D")
    shifted = rng.random(again.size) < 0.3
    extra.loc[shifted, "category"] = rng.choice([c[0] for c in _CATEGORIES[:3]], shifted.sum())
    return pd.concat([frame, extra], ignore_index=True)


# --- the lifelines baseline -----------------------------------------------------------------------


def _lifelines_population(analysed: pd.DataFrame, eligible: pd.DataFrame, windows: dict, cluster_max: int) -> dict:
    from lifelines import AalenJohansenFitter, CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test, proportional_hazard_test
    from lifelines.utils import concordance_index, median_survival_times, restricted_mean_survival_time

    timings: dict[str, float] = {}

    def timed(name: str, call: Callable[[], object]) -> object:
        started = time.perf_counter()
        result = call()
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - started
        return result

    t = analysed["pfs2_months"].to_numpy(float)
    e = analysed["pfs2_event"].astype(bool).to_numpy()
    category = analysed["category"].to_numpy(object)

    def kaplan_meier_all() -> None:
        for c in ("favourable", "intermediate", "unfavourable"):
            rows = category == c
            kmf = KaplanMeierFitter().fit(t[rows], e[rows])
            median_survival_times(kmf.confidence_interval_)
            for months in (6, 12):
                window = rows & windows[months]
                landmark = KaplanMeierFitter().fit(t[window], e[window])
                landmark.survival_function_at_times(months)
                landmark.confidence_interval_.loc[:months].iloc[-1]
                if months == 12:
                    restricted_mean_survival_time(landmark, t=12)
            os_time = analysed["os_months"].to_numpy(float)[rows]
            os_event = analysed["os_event"].astype(bool).to_numpy()[rows]
            median_survival_times(KaplanMeierFitter().fit(os_time, os_event).confidence_interval_)
            _ = KaplanMeierFitter().fit(os_time, ~os_event).median_survival_time_

    timed("kaplan_meier", kaplan_meier_all)
    timed("logrank", lambda: multivariate_logrank_test(t, category, e))

    design = pd.DataFrame(
        {
            "T": t,
            "E": e,
            "intermediate": (category == "intermediate").astype(float),
            "unfavourable": (category == "unfavourable").astype(float),
            "site": analysed["site"].to_numpy(object),
        }
    )
    fit = timed("cox_fit", lambda: CoxPHFitter().fit(design.drop(columns="site"), "T", "E"))
    timed("ph_test", lambda: proportional_hazard_test(fit, design.drop(columns="site"), time_transform="km"))

    def cluster_fit(rows: pd.DataFrame) -> float:
        started = time.perf_counter()
        CoxPHFitter().fit(rows, "T", "E", cluster_col="site")
        return time.perf_counter() - started

    if len(design) <= cluster_max:
        timings["cox_cluster"] = cluster_fit(design)
        projected = False
    else:
        small, large = cluster_max // 2, cluster_max
        sample = design.sample(n=large, random_state=1)
        t_small, t_large = cluster_fit(sample.iloc[:small]), cluster_fit(sample)
        exponent = max(1.0, math.log(t_large / t_small) / math.log(large / small))
        timings["cox_cluster"] = t_large * (len(design) / large) ** exponent
        projected = True

    stop = analysed["stop_reason"].fillna("not_recorded").to_numpy(object)
    stop_dummies = pd.get_dummies(pd.Series(stop), prefix="stop", dtype=float).drop(
        columns="stop_progression", errors="ignore"
    )

    def incremental() -> None:
        small = pd.concat([design[["T", "E"]], stop_dummies.set_index(design.index)], axis=1)
        small_fit = CoxPHFitter().fit(small, "T", "E")
        full = pd.concat([small, design[["intermediate", "unfavourable"]]], axis=1)
        full_fit = CoxPHFitter().fit(full, "T", "E")
        concordance_index(t, -small_fit.predict_partial_hazard(small), e)
        concordance_index(t, -full_fit.predict_partial_hazard(full), e)

    timed("incremental", incremental)
    score = analysed["score"].to_numpy(float)
    timed("concordance", lambda: concordance_index(t, score, e))

    def recurrence() -> None:
        for kind in RECURRENCE_KINDS:
            months = eligible[f"recurrence_{kind}_months"].to_numpy(float)
            code = eligible[f"recurrence_{kind}_event_code"].to_numpy(float, na_value=np.nan)
            known = ~np.isnan(months) & ~np.isnan(code)
            groups = {
                "prior": eligible["prior_irae_any"].astype(object).fillna("nr").astype(str).to_numpy(),
                "strategy": eligible["strategy"].astype(object).fillna("nr").astype(str).to_numpy(),
            }
            for labels in groups.values():
                for level in np.unique(labels):
                    rows = known & (labels == level)
                    if (code[rows] == 1).any():
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            AalenJohansenFitter(calculate_variance=True, seed=1).fit(
                                months[rows], code[rows].astype(int), event_of_interest=1
                            )

    timed("recurrence", recurrence)
    timings["_projected_cluster"] = float(projected)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--lifelines-cluster-max",
        type=int,
        default=100_000,
        help="Above this many analysed episodes, lifelines' cluster-robust Cox is timed on subsamples and projected.",
    )
    parser.add_argument("--skip-lifelines", action="store_true")
    parser.add_argument("--json", type=Path, help="Write the metrics JSON here.")
    args = parser.parse_args()

    from registry.validation import build_populations, potential_follow_up, validation_metrics

    started = time.perf_counter()
    frame = generate_frame(args.episodes, sites=args.sites, seed=args.seed)
    print(
        f"validation bench: {args.episodes:,} episodes ({len(frame):,} assessment rows), {args.sites} sites, "
        f"seed {args.seed}, data cut {DATA_CUT} (frame built in {time.perf_counter() - started:.1f} s)"
    )

    started = time.perf_counter()
    metrics = validation_metrics(frame, data_cut=DATA_CUT, model_version=MODEL_VERSION, model_hash="bench")
    ours = time.perf_counter() - started
    text = json.dumps(metrics, sort_keys=True)
    if args.json:
        args.json.write_text(text)
    primary = metrics["populations"]["primary"]
    print(f"validation_metrics (both populations, every statistic): {ours:.2f} s — {len(text):,} bytes of JSON")
    print(
        f"  primary: n {primary['n']:,}, Harrell C {primary['c_index']['harrell']}, "
        f"HR unfavourable {primary['cox']['unfavourable']['hr'] if primary['cox']['unfavourable'] else None}, "
        f"log-rank chi2 {primary['logrank']['chi2']}"
    )
    status = 0
    if args.episodes >= TARGET_EPISODES and ours > BUDGET_SECONDS:
        print(f"  over the {BUDGET_SECONDS:.0f} s budget for {TARGET_EPISODES:,} episodes")
        status = 1
    if args.skip_lifelines:
        return status

    populations = build_populations(frame[frame["model_version"] == MODEL_VERSION], data_cut=DATA_CUT)
    total, projected = 0.0, False
    parts: dict[str, float] = {}
    for population in populations.values():
        analysed, eligible = population.analysed, population.eligible
        windows = {months: potential_follow_up(analysed, DATA_CUT, months) for months in (6, 12)}
        timings = _lifelines_population(analysed, eligible, windows, args.lifelines_cluster_max)
        projected |= bool(timings.pop("_projected_cluster"))
        for name, seconds in timings.items():
            parts[name] = parts.get(name, 0.0) + seconds
        total += sum(timings.values())
    detail = ", ".join(f"{name} {seconds:.1f}" for name, seconds in parts.items())
    print(f"plain lifelines, same statistics, both populations: {total:.2f} s{' (projected)' if projected else ''}")
    print(f"  ({detail} s{'; cox_cluster projected from two subsamples' if projected else ''})")
    print(f"ratio lifelines / validation_metrics: {total / ours:.1f}x")
    # lifelines' Aalen–Johansen jitters tied times and dominates its total: show the ratio without it too.
    print(f"ratio without the recurrence incidence: {(total - parts.get('recurrence', 0.0)) / ours:.1f}x")
    if total < ours:
        print("  validation_metrics is slower than the lifelines baseline")
        status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
