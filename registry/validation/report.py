"""The validation run's metrics: one JSON-ready dictionary from the frame of locked assessments.

:func:`validation_metrics` computes, for the ``primary`` and the ``all_locked`` population, every
statistic of DESIGN §5 and returns them as plain dicts, lists, strings, ints and rounded floats —
never NaN or infinity (``None``: not estimable, or a median not reached). The same frame gives
byte-identical ``json.dumps(metrics, sort_keys=True)`` whatever its row order: the rows are put in a
canonical order first, and :func:`data_hash` fingerprints exactly those rows.

Choices a reader of the report should know (also listed under ``"definitions"`` in the output):

- Time zero is the rechallenge start; times beyond the data cut are censored at the cut.
- X-month endpoints (PFS2 at 6 and 12 months, restricted mean to 12 months, Uno's C truncated at 12,
  the AUC at 6, recurrence at 6 and 12) are estimated among episodes whose *potential* follow-up
  reaches X months (start ≤ cut − X calendar months); medians, log-rank and Cox use everyone.
- The score is read as "higher = more favourable": concordance uses −score as the risk.
- Cox: Efron ties; site-clustered robust variance when the population spans at least
  ``MIN_SITES_FOR_ROBUST_VARIANCE`` sites (model-based below that, said in ``cox_model.variance``).
- Heterogeneity cells use model-based variances; cells with fewer than
  :data:`SMALL_CELL_EVENTS` events or a missing category are flagged, never hidden.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from registry.derive import RECURRENCE_KINDS
from registry.validation.discrimination import (
    Concordance,
    aalen_johansen,
    cumulative_dynamic_auc,
    harrell_c,
    harrell_concordance,
    likelihood_ratio_test,
    uno_concordance,
    wilson_ci,
)
from registry.validation.populations import (
    ANALYSED_CATEGORIES,
    INPUT_COLUMNS,
    RECURRENCE_COLUMNS,
    REPORTED_CATEGORIES,
    STILL_ELIGIBLE,
    Population,
    build_populations,
    cut_moment,
    potential_follow_up,
)
from registry.validation.survival import (
    KaplanMeier,
    cox_ph,
    kaplan_meier,
    logrank_test,
    logrank_trend_test,
    proportional_hazards_test,
    random_effects_meta,
)
from registry.vocabularies import TUMOUR_TYPES

__all__ = ["DECIMALS", "METRICS_FORMAT", "data_hash", "validation_metrics"]

#: Bumped whenever the shape or the meaning of the metrics changes.
METRICS_FORMAT = "validation-metrics/2"
#: Floats are rounded to this many decimals; p-values to this many significant digits.
DECIMALS = 6
#: Fewest sites for a site-clustered (sandwich) variance of the Cox HRs; fewer clusters give intervals
#: that are far too narrow, so the model-based variance is used below it.
MIN_SITES_FOR_ROBUST_VARIANCE = 10
P_VALUE_DIGITS = 6
#: A heterogeneity cell with fewer events than this is flagged as small.
SMALL_CELL_EVENTS = 10
#: The review's figures beside which the stop-reason comparison is shown (VOCABULARIES.md).
PUBLISHED_MEDIAN_PFS2 = {"toxicity": 5.1, "progression": 2.9}
#: Trend-test scores: the categories' prognostic order.
TREND_SCORES = {category: float(rank) for rank, category in enumerate(ANALYSED_CATEGORIES)}
NOT_RECORDED = "not_recorded"
Z95 = 1.959963984540054

NOTES = (
    "The decision model is prognostic: these figures describe how outcomes after rechallenge differ "
    "between its categories. They do not measure the benefit of rechallenge, which would need a "
    "comparison with patients not rechallenged.",
    "The comparison of PFS2 after a toxicity stop and after a progression stop is descriptive: the "
    "groups differ in more than the stop reason.",
)

DEFINITIONS = {
    "time_zero": "rechallenge start; months of 30.4375 days; times beyond the data cut censored at the cut",
    "median_ci": "Kaplan–Meier median (first time S(t) ≤ 0.5); 95% CI where the pointwise exponential-Greenwood "
    "(log(−log)) bounds reach 0.5 (Brookmeyer–Crowley construction, as lifelines)",
    "survival_at": "Kaplan–Meier S(t) with the pointwise exponential-Greenwood 95% CI, among episodes whose "
    "potential follow-up reaches t (start ≤ cut − t months)",
    "rmst": "restricted mean PFS2 to 12 months (area under the Kaplan–Meier curve), SE by the Klein–Moeschberger "
    "formula, among episodes with 12 months of potential follow-up",
    "follow_up": "median follow-up by reverse Kaplan–Meier of overall survival (death censors, censoring is the event)",
    "response": "ORR = CR + PR, DCR = CR + PR + SD (confirmed best overall response); over all treated episodes "
    "with NE or no assessment counted as non-responders, and over evaluable episodes; Wilson 95% CIs",
    "logrank": "k-group log-rank test (hypergeometric variance); trend test with scores favourable 0, "
    "intermediate 1, unfavourable 2",
    "cox": "Cox model of PFS2 on category (favourable reference), Efron ties; robust sandwich variance clustered "
    "by site when there are at least 10 sites (model-based below: a sandwich from few clusters is too narrow); "
    "Wald p-values",
    "ph_test": "Grambsch–Therneau test on scaled Schoenfeld residuals against 1 − KM(t), model-based variance; "
    "per covariate (1 df) and global",
    "c_index": "Harrell's C of −score for PFS2 (higher score = more favourable); Uno's C truncated at 12 months "
    "(IPCW), among episodes with 12 months of potential follow-up; 95% Wald CIs from the asymptotic U-statistic "
    "variance (deterministic; for Uno's C with the censoring weights held fixed)",
    "auc_6m": "cumulative/dynamic time-dependent AUC of −score at 6 months, IPCW, among episodes with 6 months of "
    "potential follow-up",
    "incremental": "likelihood-ratio test of category added to a Cox model with stop reason alone; ΔC = Harrell's C "
    "of the larger model's linear predictor minus the smaller one's",
    "recurrence": "Aalen–Johansen cumulative incidence of irAE recurrence, death competing, at 6 and 12 months "
    "among episodes with that much potential follow-up; all eligible episodes whatever the category",
    "heterogeneity": "per site and per OncoTree tissue, Cox hazard ratios vs favourable (model-based variance); "
    "Cochran's Q, I², DerSimonian–Laird random-effects summary of the log hazard ratios over the estimable cells",
    "rounding": f"floats to {DECIMALS} decimals, p-values to {P_VALUE_DIGITS} significant digits; null where not "
    "estimable or not reached",
}


# --- canonical rows and the data hash -------------------------------------------------------------

_INTEGER_COLUMNS = ("episode_id", "patient_id", "sequence_number")
_NUMBER_COLUMNS = (
    "score",
    "pfs2_months",
    "os_months",
    *(f"recurrence_{kind}_months" for kind in RECURRENCE_KINDS),
    *(f"recurrence_{kind}_event_code" for kind in RECURRENCE_KINDS),
)
_BOOLEAN_COLUMNS = (
    "is_retrospective",
    "is_reassessment",
    "prior_irae_any",
    "pfs2_event",
    "os_event",
    "objective_response",
    "disease_control",
    "response_evaluable",
)
_TEXT_COLUMNS = ("site", "country", "tumour_type", "model_version", "category", "stop_reason", "strategy")
_HASH_FORMAT = b"validation-frame/1"


def _lock_nanoseconds(frame: pd.DataFrame) -> np.ndarray:
    """Lock times as UTC nanoseconds (the smallest int64 for a missing one)."""
    utc = pd.to_datetime(frame["locked_at"], utc=True).dt.tz_localize(None)
    return utc.to_numpy(dtype="datetime64[ns]").astype("int64")


def _as_float(series: pd.Series) -> np.ndarray:
    """Numbers, booleans (1/0) and nullable columns of either as float64, missing = NaN."""
    try:
        return series.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        try:
            return series.astype("boolean").to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError):
            return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _text_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes into the *sorted* distinct texts (−1 = missing) and those texts: canonical whatever the row order."""
    codes, uniques = pd.factorize(series.astype(object), sort=False)
    texts = [str(value) for value in uniques]
    order = sorted(range(len(texts)), key=texts.__getitem__)
    rank = np.empty(len(texts), dtype=np.int64)
    rank[order] = np.arange(len(texts))
    canonical = np.where(codes >= 0, rank[np.maximum(codes, 0)] if len(texts) else 0, -1)
    return canonical.astype(np.int64), [texts[i] for i in order]


def _encoded(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, bytes]:
    """A sortable integer code per row and the canonical bytes of ``column``."""
    series = frame[column]
    if column == "locked_at":
        values = _lock_nanoseconds(frame)
        return values, values.astype("<i8").tobytes()
    if column == "rechallenge_start":
        dates = pd.to_datetime(series).to_numpy().astype("datetime64[D]")
        values = np.where(np.isnat(dates), np.iinfo("int64").min, dates.astype("int64"))
        return values, values.astype("<i8").tobytes()
    if column in _TEXT_COLUMNS:
        codes, texts = _text_codes(series)
        table = "\x1f".join(texts).encode("utf-8")
        return codes, len(texts).to_bytes(8, "little") + table + b"\x1e" + codes.astype("<i8").tobytes()
    values = np.round(_as_float(series), 9)
    missing = np.isnan(values)
    values = np.where(missing, 0.0, values) + 0.0  # no -0.0
    return np.where(missing, -np.inf, values), missing.astype("u1").tobytes() + values.astype("<f8").tobytes()


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows in a canonical order: episode, lock time, then (only if still tied) every column."""
    keys = [frame["episode_id"].to_numpy(dtype="int64"), _lock_nanoseconds(frame)]
    order = np.lexsort(keys[::-1])
    ordered = frame.iloc[order].reset_index(drop=True)
    first_keys = np.column_stack([key[order] for key in keys])
    if len(ordered) > 1 and (first_keys[1:] == first_keys[:-1]).all(axis=1).any():
        columns = [column for column in INPUT_COLUMNS if column in ordered.columns]
        order = np.lexsort([_encoded(ordered, column)[0] for column in columns][::-1])
        ordered = ordered.iloc[order].reset_index(drop=True)
    return ordered


def _hash_of_canonical(ordered: pd.DataFrame) -> str:
    digest = hashlib.sha256(_HASH_FORMAT)
    digest.update(len(ordered).to_bytes(8, "little"))
    for column in INPUT_COLUMNS:
        if column not in ordered.columns:
            if column in RECURRENCE_COLUMNS:
                continue
            raise ValueError(f"the validation frame lacks the column {column}")
        digest.update(b"\x1d" + column.encode("ascii") + b"\x1d")
        digest.update(_encoded(ordered, column)[1])
    return digest.hexdigest()


def data_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of the rows used, independent of their order and of the frame's dtypes.

    :func:`validation_metrics` hashes the rows of the validated model version (the rows it uses);
    pass the same rows to reproduce its ``data_hash``.

    Rows in canonical order (episode, lock time, then every column); columns in
    :data:`~registry.validation.populations.INPUT_COLUMNS` order (the recurrence columns when present);
    numbers and booleans as little-endian float64 rounded to 9 decimals with a missing flag, dates as
    day numbers, lock times as UTC nanoseconds, text as the sorted table of its distinct values
    (UTF-8) and each row's index into it (−1 = missing).
    """
    return _hash_of_canonical(_canonical(frame))


# --- JSON ------------------------------------------------------------------------------------------


def _number(value: float, key: str) -> float | None:
    if not math.isfinite(value):
        return None
    if key == "p" or key.startswith("p_"):
        return float(f"{value:.{P_VALUE_DIGITS}g}")
    return round(value, DECIMALS) + 0.0  # no -0.0


def _json_ready(value: Any, key: str = "") -> Any:
    """Plain JSON types, floats rounded, NaN/inf as None, tuples as lists, keys as strings."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v, key) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _number(float(value), key)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{key}: {type(value).__name__} is not JSON-ready")


# --- the population's columns ---------------------------------------------------------------------

_CATEGORY_CODES = {category: code for code, category in enumerate((*ANALYSED_CATEGORIES, *REPORTED_CATEGORIES))}
FAVOURABLE, INTERMEDIATE, UNFAVOURABLE = (_CATEGORY_CODES[c] for c in ANALYSED_CATEGORIES)


class _Columns:
    """A population's episodes as numpy columns; ``subset`` slices lazily (only the columns read)."""

    def __init__(self, base: dict[str, np.ndarray], labels: dict[str, list[str]], rows: np.ndarray) -> None:
        self.base, self.labels, self.rows = base, labels, rows
        self._cache: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self.base[name][self.rows]
        return self._cache[name]

    def subset(self, mask: np.ndarray) -> _Columns:
        return _Columns(self.base, self.labels, self.rows[mask])


def _factor(values: pd.Series, *, mapping: Mapping[object, str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Integer codes into sorted labels; missing values are the label ``not_recorded``."""
    series = values.astype(object)
    if mapping is not None:
        series = series.map(mapping)
    series = series.where(series.notna(), NOT_RECORDED).astype(str)
    codes, uniques = pd.factorize(series, sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _tissue(code: object) -> str:
    if code is None or code is pd.NA or code != code:
        return NOT_RECORDED
    code = str(code)
    return TUMOUR_TYPES.get(code).tissue if code in TUMOUR_TYPES else f"unknown code {code}"


def _columns(population: Population, data_cut: dt.date | dt.datetime) -> _Columns:
    episodes = population.episodes
    base: dict[str, np.ndarray] = {}
    labels: dict[str, list[str]] = {}
    base["pfs2_time"] = _as_float(episodes["pfs2_months"])
    base["pfs2_event"] = _as_float(episodes["pfs2_event"]) == 1.0
    base["pfs2_known"] = ~np.isnan(base["pfs2_time"]) & ~np.isnan(_as_float(episodes["pfs2_event"]))
    base["os_time"] = _as_float(episodes["os_months"])
    os_event = _as_float(episodes["os_event"])
    base["os_event"] = os_event == 1.0
    base["os_known"] = ~np.isnan(base["os_time"]) & ~np.isnan(os_event)
    for name in ("objective_response", "disease_control", "response_evaluable"):
        base[name] = _as_float(episodes[name]) == 1.0
    base["category"] = episodes["category"].map(_CATEGORY_CODES).to_numpy(dtype="float64", na_value=-1).astype(int)
    base["score"] = _as_float(episodes["score"])
    base["site"], labels["site"] = _factor(episodes["site"])
    tumour = episodes["tumour_type"].astype(object)
    tissue_of = {code: _tissue(code) for code in pd.unique(tumour)}
    base["tissue"], labels["tissue"] = _factor(tumour.map(lambda code: tissue_of[code]))
    base["stop_reason"], labels["stop_reason"] = _factor(episodes["stop_reason"])
    base["strategy"], labels["strategy"] = _factor(episodes["strategy"])
    base["prior_irae"], labels["prior_irae"] = _factor(episodes["prior_irae_any"], mapping={True: "yes", False: "no"})
    for months in (6, 12):
        base[f"window_{months}"] = potential_follow_up(episodes, data_cut, months)
    for kind in RECURRENCE_KINDS:
        if f"recurrence_{kind}_months" in episodes.columns:
            base[f"{kind}_time"] = _as_float(episodes[f"recurrence_{kind}_months"])
            base[f"{kind}_code"] = _as_float(episodes[f"recurrence_{kind}_event_code"])
    reason = episodes["reason"].to_numpy(dtype=object)
    base["analysed"] = reason == ""
    base["eligible"] = np.isin(reason, ("", *STILL_ELIGIBLE))
    return _Columns(base, labels, np.arange(len(episodes)))


# --- helpers --------------------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _median(km: KaplanMeier) -> tuple[float | None, list[float | None] | None]:
    lower, upper = km.median_ci()
    return _finite(km.median), ([_finite(lower), _finite(upper)] if km.n else None)


def _survival_at(time: np.ndarray, event: np.ndarray, at: float) -> tuple[KaplanMeier | None, dict[str, Any]]:
    if time.size == 0:
        return None, {"n": 0, "estimate": None, "ci": None}
    km = kaplan_meier(time, event)
    if at > time.max():  # beyond the last observation the estimate is not defined
        return km, {"n": int(time.size), "estimate": None, "ci": None}
    value, lower, upper = km.at(at)
    return km, {"n": int(time.size), "estimate": value, "ci": [lower, upper]}


def _proportion(successes: int, n: int) -> tuple[float | None, list[float] | None]:
    ci = wilson_ci(successes, n)
    return (successes / n if n else None), (list(ci) if ci else None)


# --- per category ---------------------------------------------------------------------------------


def _describe(group: _Columns) -> dict[str, Any]:
    """n, events, medians, landmark survival, RMST, follow-up and response of one group of episodes."""
    time, event = group["pfs2_time"], group["pfs2_event"]
    median, median_ci = _median(kaplan_meier(time, event))
    six, twelve = group["window_6"], group["window_12"]
    _, at6 = _survival_at(time[six], event[six], 6.0)
    km12, at12 = _survival_at(time[twelve], event[twelve], 12.0)
    rmst = rmst_se = rmst_ci = None
    if km12 is not None:
        rmst, rmst_se = km12.rmst(12.0)
        rmst_ci = [rmst - Z95 * rmst_se, rmst + Z95 * rmst_se]
    os_known = group["os_known"]
    os_time, os_event = group["os_time"][os_known], group["os_event"][os_known]
    os_median, os_ci = _median(kaplan_meier(os_time, os_event))
    follow_up = kaplan_meier(os_time, ~os_event).median if os_known.any() else math.nan
    n = len(group)
    responders = int(group["objective_response"].sum())
    controlled = int(group["disease_control"].sum())
    evaluable = group["response_evaluable"]
    evaluable_n = int(evaluable.sum())
    orr, orr_ci = _proportion(responders, n)
    dcr, dcr_ci = _proportion(controlled, n)
    orr_evaluable, orr_evaluable_ci = _proportion(int(group["objective_response"][evaluable].sum()), evaluable_n)
    dcr_evaluable, dcr_evaluable_ci = _proportion(int(group["disease_control"][evaluable].sum()), evaluable_n)
    return {
        "n": n,
        "events": int(event.sum()),
        "median_pfs2_months": median,
        "median_pfs2_ci": median_ci,
        "pfs2_6m": at6["estimate"],
        "pfs2_6m_ci": at6["ci"],
        "n_6m": at6["n"],
        "pfs2_12m": at12["estimate"],
        "pfs2_12m_ci": at12["ci"],
        "n_12m": at12["n"],
        "rmst_pfs2_12m": rmst,
        "rmst_pfs2_12m_se": rmst_se,
        "rmst_pfs2_12m_ci": rmst_ci,
        "n_os": int(os_known.sum()),
        "os_events": int(os_event.sum()),
        "median_os_months": os_median,
        "median_os_ci": os_ci,
        "median_follow_up_months": _finite(follow_up),
        "responders": responders,
        "orr": orr,
        "orr_ci": orr_ci,
        "disease_controlled": controlled,
        "dcr": dcr,
        "dcr_ci": dcr_ci,
        "n_evaluable": evaluable_n,
        "orr_evaluable": orr_evaluable,
        "orr_evaluable_ci": orr_evaluable_ci,
        "dcr_evaluable": dcr_evaluable,
        "dcr_evaluable_ci": dcr_evaluable_ci,
    }


# --- across categories ----------------------------------------------------------------------------


def _dummies(codes: np.ndarray, levels: list[int]) -> np.ndarray:
    return np.column_stack([codes == level for level in levels]).astype(np.float64)


def _category_cox(analysed: _Columns) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(cox, cox_model, ph_test)`` of PFS2 on the category, favourable the reference."""
    time, event, category = analysed["pfs2_time"], analysed["pfs2_event"], analysed["category"]
    present = [c for c in (INTERMEDIATE, UNFAVOURABLE) if (category == c).any()]
    cox: dict[str, Any] = dict.fromkeys(ANALYSED_CATEGORIES[1:])
    if not (category == FAVOURABLE).any() or not present or not event.any():
        no_test: dict[str, Any] = {"transform": "km", "covariates": {}, "global": None}
        return cox, {"fitted": False, "reason": "a category or the events are missing"}, no_test
    names = [ANALYSED_CATEGORIES[c] for c in present]
    sites = analysed["site"]
    n_sites = int(np.unique(sites).size)
    # A sandwich estimate from a handful of clusters is far too narrow (2 sites gave p = 1e-68 on NCCTG
    # lung): below MIN_SITES_FOR_ROBUST_VARIANCE the model-based variance is reported, and says so.
    clustered = n_sites >= MIN_SITES_FOR_ROBUST_VARIANCE
    fit = cox_ph(time, event, _dummies(category, present), names=names, clusters=sites if clustered else None)
    if fit.converged:
        for name, s in fit.summary().items():
            cox[name] = {"hr": s["hr"], "ci": list(s["ci"]), "p": s["p"], "log_hr": s["coef"], "se_log_hr": s["se"]}
    model = {
        "fitted": True,
        "converged": fit.converged,
        "reference": ANALYSED_CATEGORIES[0],
        "ties": fit.ties,
        "variance": "robust, clustered by site"
        if fit.robust_variance is not None
        else f"model-based ({n_sites} site{'s' if n_sites != 1 else ''}: fewer than "
        f"{MIN_SITES_FOR_ROBUST_VARIANCE} for a site-clustered sandwich)",
        "n_sites": n_sites,
        "n": fit.n,
        "events": fit.n_events,
        "log_likelihood": fit.log_likelihood,
        "model_based_se": {name: math.sqrt(fit.variance[j, j]) for j, name in enumerate(fit.names)},
    }
    return cox, model, proportional_hazards_test(fit, time, event, transform="km")


def _incremental(analysed: _Columns) -> dict[str, Any]:
    """Does the category add to stop reason alone? LR test and ΔC (Efron Cox models of PFS2)."""
    time, event, category = analysed["pfs2_time"], analysed["pfs2_event"], analysed["category"]
    empty = {"lr": None, "converged": False, "c_stop_reason": None, "c_with_category": None, "delta_c": None}
    present = [c for c in (INTERMEDIATE, UNFAVOURABLE) if (category == c).any()]
    if not event.any() or not present or not (category == FAVOURABLE).any():
        return empty
    stop, labels = analysed["stop_reason"], analysed.labels["stop_reason"]
    counts = np.bincount(stop, minlength=len(labels))
    levels = [code for code in range(len(labels)) if counts[code]]
    reference = (
        labels.index("progression")
        if "progression" in labels and counts[labels.index("progression")]
        else (int(np.argmax(counts)))
    )
    others = [code for code in levels if code != reference]
    category_x = _dummies(category, present)
    category_names = [ANALYSED_CATEGORIES[c] for c in present]
    if others:
        stop_x = _dummies(stop, others)
        stop_names = [f"stop_reason={labels[code]}" for code in others]
        small = cox_ph(time, event, stop_x, names=stop_names)
        full_x = np.column_stack([stop_x, category_x])
        full = cox_ph(time, event, full_x, names=stop_names + category_names)
        small_loglik, small_score, converged = small.log_likelihood, stop_x @ small.params, small.converged
    else:  # one stop reason only: the smaller model is the empty one
        full_x = category_x
        full = cox_ph(time, event, full_x, names=category_names)
        small_loglik, small_score, converged = full.null_log_likelihood, np.zeros(time.size), True
    converged = converged and full.converged
    c_small = harrell_c(time, event, small_score)
    c_full = harrell_c(time, event, full_x @ full.params)
    return {
        "stop_reason_reference": labels[reference],
        "stop_reason_levels": [labels[code] for code in levels],
        "lr": likelihood_ratio_test(small_loglik, full.log_likelihood, len(present)) if converged else None,
        "converged": converged,
        "c_stop_reason": c_small,
        "c_with_category": c_full,
        "delta_c": c_full - c_small if c_full is not None and c_small is not None else None,
    }


def _discrimination(analysed: _Columns) -> tuple[dict[str, Any], float | None]:
    time, event = analysed["pfs2_time"], analysed["pfs2_event"]
    risk = -analysed["score"]
    known = ~np.isnan(risk)
    twelve, six = analysed["window_12"] & known, analysed["window_6"] & known
    none = Concordance(None, None, None, 0.0)
    harrell = harrell_concordance(time[known], event[known], risk[known]) if known.any() else none
    uno = uno_concordance(time[twelve], event[twelve], risk[twelve], tau=12.0) if twelve.any() else none
    auc = cumulative_dynamic_auc(time[six], event[six], risk[six], at=6.0) if six.any() else None
    return {
        "harrell": harrell.c,
        "harrell_ci": list(harrell.ci) if harrell.ci is not None else None,
        "harrell_se": harrell.se,
        "uno": uno.c,
        "uno_ci": list(uno.ci) if uno.ci is not None else None,
        "uno_se": uno.se,
        "uno_tau_months": 12.0,
        "n_harrell": int(known.sum()),
        "n_uno": int(twelve.sum()),
        "n_auc_6m": int(six.sum()),
    }, auc


# --- recurrence, the review's comparison, heterogeneity -------------------------------------------


def _incidence(time: np.ndarray, code: np.ndarray, six: np.ndarray, twelve: np.ndarray) -> dict[str, Any]:
    result: dict[str, Any] = {
        "n": int(time.size),
        "events": int((code == 1).sum()),
        "competing_deaths": int((code == 2).sum()),
    }
    for months, window in ((6, six), (12, twelve)):
        cif = ci = None
        if window.any():
            estimate = aalen_johansen(time[window], code[window], at=(float(months),))
            cif, ci = estimate["cif"][0], estimate["ci"][0]
        result[f"cif_{months}m"] = cif
        result[f"cif_{months}m_ci"] = list(ci) if ci is not None else None
        result[f"n_{months}m"] = int(window.sum())
    return result


def _recurrence(eligible: _Columns) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for kind in RECURRENCE_KINDS:
        if f"{kind}_time" not in eligible.base:
            continue
        time, code_values = eligible[f"{kind}_time"], eligible[f"{kind}_code"]
        known = ~np.isnan(time) & ~np.isnan(code_values)
        time, code = time[known], code_values[known].astype(np.int64)
        six, twelve = eligible["window_6"][known], eligible["window_12"][known]
        entry: dict[str, Any] = {
            "overall": _incidence(time, code, six, twelve),
            "not_computable": int((~known).sum()),
        }
        for name in ("prior_irae", "strategy"):
            groups, labels = eligible[name][known], eligible.labels[name]
            entry[f"by_{name}"] = {
                labels[level]: _incidence(time[rows], code[rows], six[rows], twelve[rows])
                for level in np.unique(groups)
                for rows in [groups == level]
            }
        result[kind] = entry
    return result


def _review_comparison(eligible: _Columns) -> dict[str, Any]:
    with_pfs2 = eligible.subset(eligible["pfs2_known"])
    stop, labels = with_pfs2["stop_reason"], with_pfs2.labels["stop_reason"]
    result: dict[str, Any] = {
        "label": "descriptive",
        "population": "every eligible episode whatever its category, by the locked stop reason of the preceding course",
        "source": "Lu & Xie 2026 review: median PFS after rechallenge 5.1 (toxicity stop) vs 2.9 months (progression)",
    }
    for reason, published in PUBLISHED_MEDIAN_PFS2.items():
        rows = stop == labels.index(reason) if reason in labels else np.zeros(stop.size, dtype=bool)
        time, event = with_pfs2["pfs2_time"][rows], with_pfs2["pfs2_event"][rows]
        median, median_ci = _median(kaplan_meier(time, event))
        result[reason] = {
            "n": int(time.size),
            "events": int(event.sum()),
            "median_pfs2_months": median,
            "median_pfs2_ci": median_ci,
            "published_median_pfs2_months": published,
        }
    return result


def _cell(time: np.ndarray, event: np.ndarray, category: np.ndarray) -> dict[str, Any]:
    """Hazard ratios vs favourable in one site or tissue, with its small-cell flags."""
    n_by = {name: int((category == code).sum()) for code, name in enumerate(ANALYSED_CATEGORIES)}
    events_by = {name: int(event[category == code].sum()) for code, name in enumerate(ANALYSED_CATEGORIES)}
    flags = []
    if event.sum() < SMALL_CELL_EVENTS:
        flags.append(f"fewer_than_{SMALL_CELL_EVENTS}_events")
    flags += [f"missing_category:{name}" for name in ANALYSED_CATEGORIES if not n_by[name]]
    flags += [f"no_events:{name}" for name in ANALYSED_CATEGORIES if n_by[name] and not events_by[name]]
    result: dict[str, Any] = dict.fromkeys(ANALYSED_CATEGORIES[1:])
    estimable = [c for c in (INTERMEDIATE, UNFAVOURABLE) if events_by[ANALYSED_CATEGORIES[c]]]
    if events_by[ANALYSED_CATEGORIES[FAVOURABLE]] and estimable:
        keep = np.isin(category, [FAVOURABLE, *estimable])
        names = [ANALYSED_CATEGORIES[c] for c in estimable]
        fit = cox_ph(time[keep], event[keep], _dummies(category[keep], estimable), names=names)
        if fit.converged:
            for name, s in fit.summary().items():
                result[name] = {"hr": s["hr"], "ci": list(s["ci"]), "log_hr": s["coef"], "se_log_hr": s["se"]}
        else:
            flags.append("not_converged")
    result.update(n=int(time.size), events=int(event.sum()), n_by_category=n_by, events_by_category=events_by)
    result["flags"] = flags
    return result


def _heterogeneity_by(analysed: _Columns, name: str) -> dict[str, Any]:
    codes, labels = analysed[name], analysed.labels[name]
    order = np.argsort(codes, kind="stable")
    boundaries = np.flatnonzero(np.diff(codes[order])) + 1
    time, event, category = analysed["pfs2_time"], analysed["pfs2_event"], analysed["category"]
    cells = {}
    for rows in np.split(order, boundaries) if order.size else []:
        cells[labels[codes[rows[0]]]] = _cell(time[rows], event[rows], category[rows])
    summaries = {}
    for comparison in ANALYSED_CATEGORIES[1:]:
        pooled = [label for label, cell in cells.items() if cell[comparison] is not None]
        meta = random_effects_meta(
            [cells[label][comparison]["log_hr"] for label in pooled],
            [cells[label][comparison]["se_log_hr"] ** 2 for label in pooled],
        )
        summary: dict[str, Any] = {key: meta[key] for key in ("k", "q", "df", "p_q", "i2", "tau2")}
        for model in ("fixed", "random"):
            part = meta[model]
            summary[model] = None
            if part is not None:
                summary[model] = {"hr": math.exp(part["estimate"]), "ci": [math.exp(x) for x in part["ci"]]}
                if "p" in part:
                    summary[model]["p"] = part["p"]
        summary["cells_pooled"] = pooled
        summary["cells_not_estimable"] = [label for label in cells if label not in pooled]
        small = f"fewer_than_{SMALL_CELL_EVENTS}_events"
        summary["small_cells_pooled"] = [label for label in pooled if small in cells[label]["flags"]]
        summaries[f"{comparison}_vs_{ANALYSED_CATEGORIES[0]}"] = summary
    return {"cells": cells, "summary": summaries}


# --- the run --------------------------------------------------------------------------------------


def _population_metrics(population: Population, data_cut: dt.date | dt.datetime) -> dict[str, Any]:
    columns = _columns(population, data_cut)
    analysed = columns.subset(columns["analysed"])
    eligible = columns.subset(columns["eligible"])
    category = analysed["category"]
    time, event = analysed["pfs2_time"], analysed["pfs2_event"]
    reported = eligible.subset(eligible["pfs2_known"])
    metrics: dict[str, Any] = {
        "n": len(analysed),
        "n_episodes": len(columns),
        "n_eligible": len(eligible),
        "excluded": population.excluded,
        "potential_follow_up": {"n_6m": int(analysed["window_6"].sum()), "n_12m": int(analysed["window_12"].sum())},
        "categories": {
            name: _describe(analysed.subset(category == code)) for code, name in enumerate(ANALYSED_CATEGORIES)
        },
        "reported_categories": {
            name: _describe(reported.subset(reported["category"] == _CATEGORY_CODES[name]))
            for name in REPORTED_CATEGORIES
        },
    }
    metrics["logrank"] = {"chi2": None, "df": 0, "p": None, "groups": {}}
    metrics["logrank_trend"] = {"chi2": None, "df": 1, "p": None, "scores": TREND_SCORES}
    if len(analysed):
        names = np.array(ANALYSED_CATEGORIES, dtype=object)[category]
        logrank = logrank_test(time, event, names)
        trend = logrank_trend_test(time, event, names, scores=TREND_SCORES)
        groups = {
            str(label): {"observed": o, "expected": e}
            for label, o, e in zip(logrank.groups, logrank.observed, logrank.expected, strict=True)
        }
        metrics["logrank"] = {"chi2": logrank.chi2, "df": logrank.df, "p": logrank.p, "groups": groups}
        metrics["logrank_trend"] = {"chi2": trend.chi2, "df": trend.df, "p": trend.p, "scores": TREND_SCORES}
    metrics["cox"], metrics["cox_model"], metrics["ph_test"] = _category_cox(analysed)
    metrics["c_index"], metrics["auc_6m"] = _discrimination(analysed)
    metrics["incremental"] = _incremental(analysed)
    metrics["recurrence"] = _recurrence(eligible)
    metrics["review_comparison"] = _review_comparison(eligible)
    metrics["heterogeneity"] = {
        "small_cell_events": SMALL_CELL_EVENTS,
        "by_site": _heterogeneity_by(analysed, "site"),
        "by_tissue": _heterogeneity_by(analysed, "tissue"),
    }
    return metrics


def validation_metrics(
    frame: pd.DataFrame, *, data_cut: dt.date | dt.datetime, model_version: str, model_hash: str
) -> dict[str, Any]:
    """Every metric of the validation run for ``model_version``, JSON-ready and deterministic.

    ``frame`` follows the input contract of :mod:`registry.validation`; rows of other model versions
    are ignored (and counted). ``data_cut`` is a date (the whole day counts) or an aware datetime.
    """
    versions = frame["model_version"].astype(str).to_numpy()
    rows = _canonical(frame[versions == model_version])
    cut_date, _ = cut_moment(data_cut)
    populations = build_populations(rows, data_cut=data_cut)
    metrics = {
        "format": METRICS_FORMAT,
        "run": {
            "model_version": model_version,
            "model_hash": model_hash,
            "data_cut": data_cut.isoformat() if isinstance(data_cut, dt.datetime) else cut_date.isoformat(),
            "data_hash": _hash_of_canonical(rows),
            "rows": len(rows),
            "episodes": int(rows["episode_id"].nunique()),
            "rows_of_other_model_versions": int(len(frame) - len(rows)),
        },
        "notes": list(NOTES),
        "definitions": DEFINITIONS,
        "populations": {name: _population_metrics(population, data_cut) for name, population in populations.items()},
    }
    result: dict[str, Any] = _json_ready(metrics)
    return result
