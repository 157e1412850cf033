"""Survival statistics of the validation run, vectorised for 1,000,000 episodes.

Kaplan–Meier (median with its confidence interval, survival at a time, restricted mean), the
k-group log-rank test and its test for trend, the Cox proportional-hazards model (Efron or Breslow
ties, Newton–Raphson) with the model-based and the cluster-robust (sandwich) variance, the
Grambsch–Therneau test of proportional hazards on Schoenfeld residuals, and the DerSimonian–Laird
random-effects summary used for heterogeneity.

Every function is sorts, ``np.bincount`` and cumulative sums — no Python loop over patients — because
lifelines' versions are too slow at this size (its cluster-robust Cox variance is quadratic in n).
The conventions are those of the libraries, so any number can be reproduced with them; the tests in
``tests/registry/validation/test_survival.py`` hold each one equal to them to 1e-6:

- Kaplan–Meier: ``lifelines.KaplanMeierFitter`` — pointwise 95% interval by the exponential
  Greenwood formula (log(−log) transform); the median is the first time at which S(t) ≤ 0.5 and its
  interval is where the pointwise bounds cross 0.5 (the Brookmeyer–Crowley construction on log(−log)
  bands, lifelines' ``median_survival_times(kmf.confidence_interval_)``); "not reached" is ``inf``.
- Log-rank: ``lifelines.statistics.multivariate_logrank_test`` (hypergeometric variance).
- Cox: ``lifelines.CoxPHFitter`` (Efron ties) and ``statsmodels`` ``PHReg`` (Breslow ties); the
  robust variance is the Lin–Wei sandwich ``V (Σ_c U_c U_cᵀ) V`` of score residuals summed by
  cluster, without a small-sample factor (lifelines' ``cluster_col``, statsmodels' ``groups``, R's
  ``cluster()``). With ties, the score residuals spread each tied death over Efron's sub-steps as R's
  ``coxph`` does (lifelines' own residuals ignore ties; statsmodels' are Breslow's).
- Proportional hazards: the per-covariate test is lifelines' ``proportional_hazard_test`` (scaled
  Schoenfeld residuals against a transform of time, model-based variance); the global test is the
  Grambsch–Therneau (1994) statistic that R's ``cox.zph`` gave before survival 3.0.

Times are in whatever unit the caller uses (the validation uses months of 30.4375 days).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

__all__ = [
    "CoxFit",
    "KaplanMeier",
    "LogRank",
    "cox_ph",
    "kaplan_meier",
    "logrank_test",
    "logrank_trend_test",
    "proportional_hazards_test",
    "random_effects_meta",
]

FloatArray = npt.NDArray[np.float64]


def _weighted_counts(bins: npt.NDArray[np.int64], weights: FloatArray, minlength: int) -> FloatArray:
    """``np.bincount`` with weights, which sums them as float64 (numpy's stubs type every bincount as counts)."""
    return np.bincount(bins, weights=weights, minlength=minlength)  # type: ignore[return-value]


#: Iterations and step size at which Newton–Raphson stops.
MAX_ITERATIONS = 50
TOLERANCE = 1e-10
#: A |log hazard ratio| above this means the estimate runs off to infinity (no events in a group).
DIVERGED_LOG_HR = 15.0


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(stats.norm.ppf(1 - (1 - level) / 2))


def _times_events(time: npt.ArrayLike, event: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event)
    if t.ndim != 1 or e.shape != t.shape:
        raise ValueError("time and event must be one-dimensional arrays of the same length")
    if not np.isfinite(t).all():
        raise ValueError("time contains NaN or infinite values")
    e = e.astype(np.float64)
    if not np.isin(e, (0.0, 1.0)).all():
        raise ValueError("event must be boolean or 0/1")
    return t, e == 1.0


# --- Kaplan–Meier ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier estimate: its steps at the distinct event times, with pointwise log(−log) bounds."""

    n: int
    n_events: int
    times: FloatArray  # distinct times with at least one event, ascending
    at_risk: FloatArray
    events: FloatArray
    survival: FloatArray  # S(t) just after each time
    greenwood: FloatArray  # cumulative Σ d / (n (n − d))
    lower: FloatArray
    upper: FloatArray

    def _step(self, values: FloatArray, t: float, before: float) -> float:
        k = int(np.searchsorted(self.times, t, side="right"))
        return before if k == 0 else float(values[k - 1])

    def at(self, t: float) -> tuple[float, float, float]:
        """``(S(t), lower, upper)``, right-continuous: an event at ``t`` counts; NaN when n is 0."""
        if self.n == 0:
            return math.nan, math.nan, math.nan
        return self._step(self.survival, t, 1.0), self._step(self.lower, t, 1.0), self._step(self.upper, t, 1.0)

    @staticmethod
    def _first_at_or_below(times: FloatArray, values: FloatArray, q: float) -> float:
        below = np.flatnonzero(values <= q)
        return float(times[below[0]]) if below.size else math.inf

    def quantile(self, q: float = 0.5) -> float:
        """The first time at which S(t) ≤ q (``inf`` if never; NaN when n is 0)."""
        if self.n == 0:
            return math.nan
        return self._first_at_or_below(self.times, self.survival, q)

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    def median_ci(self) -> tuple[float, float]:
        """Where the lower and the upper pointwise bound first reach 0.5 (``inf`` if never)."""
        if self.n == 0:
            return math.nan, math.nan
        return (
            self._first_at_or_below(self.times, self.lower, 0.5),
            self._first_at_or_below(self.times, self.upper, 0.5),
        )

    def rmst(self, tau: float) -> tuple[float, float]:
        """Restricted mean ∫₀^τ S(t) dt and its standard error.

        The variance is Σ_{t_i ≤ τ} A_i² d_i / (n_i (n_i − d_i)), A_i = ∫_{t_i}^τ S(u) du (Klein &
        Moeschberger §4.5; R ``survRM2``), terms with n_i = d_i taken as 0 (there A_i = 0).
        """
        if self.n == 0:
            return math.nan, math.nan
        inside = self.times <= tau
        times = self.times[inside]
        survival = self.survival[inside]
        edges = np.r_[0.0, times, tau]
        heights = np.r_[1.0, survival]
        pieces = np.diff(edges) * heights
        total = float(pieces.sum())
        tail = np.cumsum(pieces[::-1])[::-1][1:]  # A_i: area from the i-th event time to tau
        d, n = self.events[inside], self.at_risk[inside]
        term = np.divide(d, n * (n - d), out=np.zeros_like(d), where=n > d)
        return total, math.sqrt(float(np.sum(tail**2 * term)))


def kaplan_meier(time: npt.ArrayLike, event: npt.ArrayLike, *, level: float = 0.95) -> KaplanMeier:
    """Kaplan–Meier estimate of right-censored ``time`` (``event`` True = observed) with log(−log) bounds."""
    t, e = _times_events(time, event)
    z = _z(level)
    unique, inverse = np.unique(t, return_inverse=True)
    inverse = inverse.ravel()
    count = np.bincount(inverse, minlength=unique.size).astype(np.float64)
    deaths = _weighted_counts(inverse, e.astype(np.float64), unique.size).astype(np.float64)
    at_risk = t.size - (np.cumsum(count) - count)
    keep = deaths > 0
    unique, deaths, at_risk = unique[keep], deaths[keep], at_risk[keep]
    # lifelines' arithmetic (a sum of logs), so that a survival of exactly one half compares the same.
    with np.errstate(divide="ignore"):
        log_survival = np.cumsum(np.log(at_risk - deaths) - np.log(at_risk))
    survival = np.exp(log_survival)
    remaining = at_risk - deaths
    greenwood = np.cumsum(np.divide(deaths, at_risk * remaining, out=np.zeros_like(deaths), where=remaining > 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = z * np.sqrt(greenwood) / log_survival
        log_minus_log = np.log(-log_survival)
        lower = np.exp(-np.exp(log_minus_log - spread))
        upper = np.exp(-np.exp(log_minus_log + spread))
    lower = np.where(np.isnan(lower), 1.0, lower)
    upper = np.where(np.isnan(upper), 1.0, upper)
    return KaplanMeier(
        n=int(t.size),
        n_events=int(e.sum()),
        times=unique,
        at_risk=at_risk,
        events=deaths,
        survival=survival,
        greenwood=greenwood,
        lower=lower,
        upper=upper,
    )


# --- log-rank -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRank:
    """A log-rank test: statistic, degrees of freedom, p-value and the per-group tallies."""

    chi2: float
    df: int
    p: float
    groups: tuple[Any, ...]
    observed: tuple[float, ...]
    expected: tuple[float, ...]
    variance: FloatArray = field(repr=False)


def _logrank_parts(
    time: npt.ArrayLike, event: npt.ArrayLike, group: npt.ArrayLike
) -> tuple[tuple[Any, ...], FloatArray, FloatArray, FloatArray]:
    """Groups present, observed and expected events per group, and the hypergeometric covariance."""
    t, e = _times_events(time, event)
    labels, codes = np.unique(np.asarray(group), return_inverse=True)
    codes = codes.ravel()
    k = labels.size
    unique, inverse = np.unique(t, return_inverse=True)
    inverse = inverse.ravel()
    cell = inverse * k + codes
    total = np.bincount(cell, minlength=unique.size * k).reshape(unique.size, k).astype(np.float64)
    deaths = _weighted_counts(cell, e.astype(np.float64), unique.size * k).reshape(unique.size, k)
    at_risk = total[::-1].cumsum(axis=0)[::-1]
    keep = deaths.sum(axis=1) > 0
    at_risk, deaths = at_risk[keep], deaths[keep]
    n = at_risk.sum(axis=1)
    d = deaths.sum(axis=1)
    expected = (at_risk * (d / n)[:, None]).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        correction = np.where(n > 1, (n - d) / (n - 1), 1.0)
    factor = correction * d / n**2
    variance = np.diag((at_risk * (factor * n)[:, None]).sum(axis=0)) - (at_risk * factor[:, None]).T @ at_risk
    return tuple(labels.tolist()), deaths.sum(axis=0), expected, variance


def logrank_test(time: npt.ArrayLike, event: npt.ArrayLike, group: npt.ArrayLike) -> LogRank:
    """The k-group log-rank test (k − 1 df); groups are the distinct values of ``group``, sorted."""
    labels, observed, expected, variance = _logrank_parts(time, event, group)
    k = len(labels)
    if k < 2:
        return LogRank(math.nan, 0, math.nan, labels, tuple(observed), tuple(expected), variance)
    z = (observed - expected)[:-1]
    chi2 = float(z @ np.linalg.pinv(variance[:-1, :-1]) @ z)
    return LogRank(chi2, k - 1, float(stats.chi2.sf(chi2, k - 1)), labels, tuple(observed), tuple(expected), variance)


def logrank_trend_test(
    time: npt.ArrayLike, event: npt.ArrayLike, group: npt.ArrayLike, *, scores: dict[Any, float]
) -> LogRank:
    """Log-rank test for trend across ordered groups: (wᵀ(O − E))² / (wᵀ V w) on 1 df, w = ``scores[group]``."""
    labels, observed, expected, variance = _logrank_parts(time, event, group)
    w = np.array([scores[label] for label in labels], dtype=np.float64)
    denominator = float(w @ variance @ w)
    if len(labels) < 2 or denominator <= 0:
        return LogRank(math.nan, 1, math.nan, labels, tuple(observed), tuple(expected), variance)
    chi2 = float(w @ (observed - expected)) ** 2 / denominator
    return LogRank(chi2, 1, float(stats.chi2.sf(chi2, 1)), labels, tuple(observed), tuple(expected), variance)


# --- Cox proportional hazards ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Design:
    """Distinct rows (time, event, covariates) sorted by time, their counts, and Efron's sub-steps.

    Identical rows contribute identically to the partial likelihood (Efron's included: its d tied
    deaths are counted with multiplicity), so the Newton–Raphson iterations run over distinct rows
    with frequency weights — with categorical covariates a million episodes shrink to a few thousand
    rows. ``rows`` maps every original row to its distinct row.
    """

    x: FloatArray  # m × p distinct rows, sorted by time
    event: npt.NDArray[np.bool_]
    time: FloatArray
    count: FloatArray  # how many original rows each distinct row stands for
    rows: npt.NDArray[np.int64]  # original row -> distinct row
    time_index: npt.NDArray[np.int64]  # distinct row -> index of its distinct time
    n_times: int
    deaths: FloatArray  # deaths per distinct time
    death_x: FloatArray  # Σ x over the deaths at each distinct time
    slot_time: npt.NDArray[np.int64]  # distinct-time index of each sub-step (one per death)
    slot_fraction: FloatArray  # l / d of each sub-step (0 for Breslow)


def _distinct_rows(columns: list[FloatArray]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(first, inverse)``: the first row of each distinct combination of ``columns``, and the map back.

    Hash-based (``pd.factorize``, O(n)); the distinct rows come in order of first appearance.
    """
    n = columns[0].size
    key = np.zeros(n, dtype=np.int64)
    capacity = 1
    for column in columns:
        codes, uniques = pd.factorize(column)
        size = max(len(uniques), 1)
        if capacity > (2**62) // size:  # too many combinations for one integer key: factorize again
            key = pd.factorize(key)[0].astype(np.int64)
            capacity = int(key.max()) + 1 if n else 1
            if capacity > (2**62) // size:
                raise ValueError("too many distinct covariate rows")
        key = key * size + codes
        capacity *= size
    inverse, uniques = pd.factorize(key)
    first = np.empty(len(uniques), dtype=np.int64)
    first[inverse[::-1]] = np.arange(n - 1, -1, -1)
    return first, inverse.astype(np.int64)


def _design(time: FloatArray, event: npt.NDArray[np.bool_], x: FloatArray, ties: str) -> _Design:
    first, inverse = _distinct_rows([time, event.astype(np.float64), *x.T])
    count = np.bincount(inverse, minlength=first.size).astype(np.float64)
    order = np.argsort(time[first], kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    first, count, rows = first[order], count[order], rank[inverse]
    t, e, xs = time[first], event[first], x[first]
    unique, at = np.unique(t, return_inverse=True)
    at = at.ravel().astype(np.int64)
    died = count * e
    deaths = _weighted_counts(at, died, unique.size)
    death_x = np.stack(
        [_weighted_counts(at, xs[:, j] * died, unique.size) for j in range(xs.shape[1])], axis=1
    ).reshape(unique.size, xs.shape[1])
    with_deaths = np.flatnonzero(deaths > 0)
    per = np.rint(deaths[with_deaths]).astype(np.int64)
    slot_time = np.repeat(with_deaths, per)
    starts = np.cumsum(per) - per
    within = np.arange(slot_time.size) - np.repeat(starts, per)
    fraction = within / np.repeat(per, per) if ties == "efron" else np.zeros(slot_time.size)
    return _Design(xs, e, t, count, rows, at, unique.size, deaths, death_x, slot_time, fraction)


def _sums(design: _Design, weights: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per distinct time: Σ w, Σ w x and Σ w x xᵀ."""
    at, x, m = design.time_index, design.x, design.n_times
    p = x.shape[1]
    s0 = _weighted_counts(at, weights, m)
    wx = x * weights[:, None]
    s1 = np.stack([_weighted_counts(at, wx[:, j], m) for j in range(p)], axis=1).reshape(m, p)
    s2 = np.empty((m, p, p))
    for a in range(p):
        for b in range(a, p):
            s2[:, a, b] = s2[:, b, a] = _weighted_counts(at, wx[:, a] * x[:, b], m)
    return s0, s1, s2


def _reverse_cumsum(values: FloatArray) -> FloatArray:
    return values[::-1].cumsum(axis=0)[::-1]


def _slot_terms(design: _Design, beta: FloatArray) -> tuple[float, FloatArray, FloatArray, dict[str, Any]]:
    """Log partial likelihood, its gradient and information at ``beta``, and the per-sub-step pieces.

    Sub-step s at distinct time k has S0 = R0_k − φ_s D0_k (R: the risk set, D: the deaths at k,
    φ = l/d for Efron, 0 for Breslow) and likewise S1, S2; the information's Σ_s S2_s / S0_s is
    gathered per time as R2_k Σ_s 1/S0_s − D2_k Σ_s φ_s/S0_s, so no p × p array per death is formed.
    """
    eta = design.x @ beta
    shift = float(eta.max()) if eta.size else 0.0
    weight = np.exp(eta - shift) * design.count
    total0, total1, total2 = _sums(design, weight)
    dead0, dead1, dead2 = _sums(design, weight * design.event)
    risk0, risk1, risk2 = _reverse_cumsum(total0), _reverse_cumsum(total1), _reverse_cumsum(total2)
    k, phi = design.slot_time, design.slot_fraction
    s0 = risk0[k] - phi * dead0[k]
    mean = (risk1[k] - phi[:, None] * dead1[k]) / s0[:, None]
    inverse = 1.0 / s0
    per_time = _weighted_counts(k, inverse, design.n_times)
    per_time_tied = _weighted_counts(k, phi * inverse, design.n_times)
    # S0 is computed from exp(eta − shift): the shift comes back once per death.
    loglik = float(np.sum(design.death_x @ beta) - np.sum(np.log(s0)) - shift * s0.size)
    gradient = design.death_x.sum(axis=0) - mean.sum(axis=0)
    information = np.tensordot(per_time, risk2, axes=1) - np.tensordot(per_time_tied, dead2, axes=1) - mean.T @ mean
    return loglik, gradient, information, {"risk": np.exp(eta - shift), "s0": s0, "mean": mean}


@dataclass(frozen=True)
class CoxFit:
    """A fitted Cox model: coefficients, variances and what the report needs to read them."""

    names: tuple[str, ...]
    params: FloatArray
    variance: FloatArray  # model-based: inverse information
    robust_variance: FloatArray | None  # cluster-robust sandwich, when clusters were given
    log_likelihood: float
    null_log_likelihood: float
    iterations: int
    converged: bool
    ties: str
    n: int
    n_events: int
    n_clusters: int | None
    level: float = 0.95
    # Schoenfeld residuals per distinct death row (time order), with their death times and counts.
    schoenfeld: FloatArray | None = field(default=None, repr=False)
    death_times: FloatArray | None = field(default=None, repr=False)
    death_counts: FloatArray | None = field(default=None, repr=False)

    @property
    def used_variance(self) -> FloatArray:
        return self.robust_variance if self.robust_variance is not None else self.variance

    @property
    def se(self) -> FloatArray:
        return np.sqrt(np.diag(self.used_variance))

    @property
    def hazard_ratios(self) -> FloatArray:
        return np.exp(self.params)

    def ci(self) -> FloatArray:
        """Hazard-ratio confidence limits, one row (lower, upper) per covariate."""
        z = _z(self.level)
        return np.exp(np.c_[self.params - z * self.se, self.params + z * self.se])

    def p_values(self) -> FloatArray:
        """Wald tests, χ² on 1 df with the variance in use (robust when clustered)."""
        return stats.chi2.sf((self.params / self.se) ** 2, 1)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per covariate: coef, se, hr, ci (of the HR) and p, with the variance in use."""
        ci, p = self.ci(), self.p_values()
        return {
            name: {
                "coef": float(self.params[j]),
                "se": float(self.se[j]),
                "hr": float(self.hazard_ratios[j]),
                "ci": (float(ci[j, 0]), float(ci[j, 1])),
                "p": float(p[j]),
            }
            for j, name in enumerate(self.names)
        }


def cox_ph(
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    covariates: npt.ArrayLike,
    *,
    names: Sequence[str] | None = None,
    ties: str = "efron",
    clusters: npt.ArrayLike | None = None,
    level: float = 0.95,
    max_iterations: int = MAX_ITERATIONS,
    tolerance: float = TOLERANCE,
) -> CoxFit:
    """Fit a Cox model by Newton–Raphson (step halving when the likelihood would fall), started at 0.

    ``ties`` is ``"efron"`` (lifelines, R) or ``"breslow"`` (statsmodels' default). With ``clusters``
    (one label per row) the robust variance is computed too and used for the intervals and p-values.
    ``converged`` is False when the steps did not settle or a coefficient ran off towards infinity
    (a group without events): the estimates are then not to be reported.
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    t, e = _times_events(time, event)
    x = np.asarray(covariates, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[0] != t.size or x.shape[1] == 0:
        raise ValueError("covariates must have one row per time and at least one column")
    if not np.isfinite(x).all():
        raise ValueError("covariates contain NaN or infinite values")
    p = x.shape[1]
    names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(p))
    if len(names) != p:
        raise ValueError("one name per covariate column")
    # Centre the columns (lifelines does too): the same estimates, better conditioned sums.
    design = _design(t, e, x - x.mean(axis=0) if t.size else x, ties)

    beta = np.zeros(p)
    loglik, gradient, information, pieces = _slot_terms(design, beta)
    null_loglik = loglik
    converged, iterations = False, 0
    if design.slot_time.size:
        for iterations in range(1, max_iterations + 1):  # noqa: B007 - the count is reported
            try:
                step = np.linalg.solve(information, gradient)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(information, gradient, rcond=None)[0]
            candidate = beta + step
            new = _slot_terms(design, candidate)
            halvings = 0
            while (not np.isfinite(new[0]) or new[0] < loglik - 1e-12 * abs(loglik)) and halvings < 30:
                step = step / 2
                candidate = beta + step
                new = _slot_terms(design, candidate)
                halvings += 1
            settled = new[0] == loglik and np.max(np.abs(step)) < 1e-7  # at the floating-point floor
            beta = candidate
            loglik, gradient, information, pieces = new
            if np.max(np.abs(step)) < tolerance or settled:
                converged = True
                break
    if np.any(np.abs(beta) > DIVERGED_LOG_HR):
        converged = False
    try:
        # float64 in, float64 out; numpy's stubs only promise some floating type.
        variance: FloatArray = np.linalg.inv(information)  # type: ignore[assignment]
    except np.linalg.LinAlgError:
        variance = np.full((p, p), np.nan)
        converged = False

    robust, n_clusters = None, None
    schoenfeld = death_times = death_counts = None
    if design.slot_time.size:
        schoenfeld, death_times, death_counts = _schoenfeld(design, pieces)
        if clusters is not None:
            labels = np.asarray(clusters)
            if labels.shape != (t.size,):
                raise ValueError("clusters must have one label per row")
            dfbeta = (_score_residuals(design, pieces) @ variance)[design.rows]
            codes = np.unique(labels, return_inverse=True)[1].ravel()
            n_clusters = int(codes.max()) + 1
            summed = np.stack([_weighted_counts(codes, dfbeta[:, j], n_clusters) for j in range(p)], axis=1)
            robust = summed.T @ summed
    return CoxFit(
        names=names,
        params=beta,
        variance=variance,
        robust_variance=robust,
        log_likelihood=loglik,
        null_log_likelihood=null_loglik,
        iterations=iterations,
        converged=converged,
        ties=ties,
        n=int(t.size),
        n_events=int(e.sum()),
        n_clusters=n_clusters,
        level=level,
        schoenfeld=schoenfeld,
        death_times=death_times,
        death_counts=death_counts,
    )


def _per_time(design: _Design, values: FloatArray) -> FloatArray:
    """Sum per distinct time of per-sub-step ``values`` (1-D or 2-D)."""
    m = design.n_times
    if values.ndim == 1:
        return _weighted_counts(design.slot_time, values, m)
    return np.stack(
        [_weighted_counts(design.slot_time, values[:, j], m) for j in range(values.shape[1])], axis=1
    ).reshape(m, values.shape[1])


def _death_means(design: _Design, pieces: dict[str, Any]) -> FloatArray:
    """Per distinct time, the weighted covariate mean averaged over its deaths' sub-steps."""
    return _per_time(design, pieces["mean"]) / np.maximum(design.deaths, 1)[:, None]


def _schoenfeld(design: _Design, pieces: dict[str, Any]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Schoenfeld residuals x_i − (mean over the sub-steps of x̄) of the distinct death rows."""
    rows = design.event
    residuals = design.x[rows] - _death_means(design, pieces)[design.time_index[rows]]
    return residuals, design.time[rows], design.count[rows]


def _score_residuals(design: _Design, pieces: dict[str, Any]) -> FloatArray:
    """Score residuals U_i of the distinct rows (time order); Σ_i count_i U_i is the score.

    U_i = Σ over the sub-steps s at or before T_i of (dN_is − c_is r_i / S0_s)(x_i − x̄_s): each death
    takes 1/d of each of its time's d sub-steps, and in Efron's sub-step l a death at that time is
    still at risk with weight c = 1 − l/d (1 for everyone else; Breslow: l = 0 throughout).
    """
    s0, mean, risk = pieces["s0"], pieces["mean"], pieces["risk"]
    phi = design.slot_fraction
    a = _per_time(design, 1.0 / s0)
    b = _per_time(design, mean / s0[:, None])
    a_tied = _per_time(design, (1.0 - phi) / s0)
    b_tied = _per_time(design, mean * ((1.0 - phi) / s0)[:, None])
    cum_a, cum_b = np.cumsum(a), np.cumsum(b, axis=0)
    k, x, dead = design.time_index, design.x, design.event
    own_a = np.where(dead, cum_a[k] - a[k] + a_tied[k], cum_a[k])
    own_b = np.where(dead[:, None], cum_b[k] - b[k] + b_tied[k], cum_b[k])
    hazard = risk[:, None] * (x * own_a[:, None] - own_b)
    return np.where(dead[:, None], x - _death_means(design, pieces)[k], 0.0) - hazard


# --- proportional hazards -------------------------------------------------------------------------


def proportional_hazards_test(
    fit: CoxFit, time: npt.ArrayLike, event: npt.ArrayLike, *, transform: str = "km"
) -> dict[str, Any]:
    """Grambsch–Therneau test on Schoenfeld residuals: per covariate (1 df each) and global (p df).

    ``transform`` of the death times: ``"km"`` (1 − Kaplan–Meier, R's default), ``"identity"`` or
    ``"log"`` (lifelines' default ``"rank"`` is left out: it orders tied deaths by their row position).
    The model-based variance is used even when the fit is clustered. Per covariate j with g the
    transformed times, centred:
    ``(Σ g s*_j)² / (d V_jj Σ g²)`` with s* = d · s V the scaled residuals; global
    ``(Σ g s)ᵀ V (Σ g s) · d / Σ g²``.
    """
    if fit.schoenfeld is None or fit.death_times is None or not fit.converged:
        return {"transform": transform, "covariates": {}, "global": None}
    t, e = _times_events(time, event)
    death_times = fit.death_times
    counts = fit.death_counts if fit.death_counts is not None else np.ones(death_times.size)
    if transform == "km":
        km = kaplan_meier(t, e)
        g = 1.0 - km.survival[np.searchsorted(km.times, death_times)]
    elif transform == "identity":
        g = death_times.copy()
    elif transform == "log":
        g = np.log(death_times)
    else:
        raise ValueError(f"unknown transform {transform!r} (km, identity or log)")
    d = float(counts.sum())
    centred = g - float(counts @ g) / d
    spread = float(counts @ centred**2)
    if spread <= 0:
        return {"transform": transform, "covariates": {}, "global": None}
    variance = fit.variance
    weighted = (counts * centred) @ fit.schoenfeld
    scaled = d * weighted @ variance
    per = scaled**2 / (d * np.diag(variance) * spread)
    p = len(fit.names)
    global_chi2 = float(weighted @ variance @ weighted * d / spread)
    return {
        "transform": transform,
        "covariates": {
            name: {"chi2": float(per[j]), "df": 1, "p": float(stats.chi2.sf(per[j], 1))}
            for j, name in enumerate(fit.names)
        },
        "global": {"chi2": global_chi2, "df": p, "p": float(stats.chi2.sf(global_chi2, p))},
    }


# --- random-effects meta-analysis -----------------------------------------------------------------


def random_effects_meta(
    estimates: Sequence[float], variances: Sequence[float], *, level: float = 0.95
) -> dict[str, Any]:
    """DerSimonian–Laird random-effects summary of ``estimates`` (e.g. log hazard ratios).

    Returns Cochran's Q (k − 1 df) with its p-value, I² = max(0, (Q − df) / Q), τ², the fixed-effect
    and the random-effects estimate with standard error and confidence interval (as
    ``statsmodels.stats.meta_analysis.combine_effects(method_re="dl")``). Fewer than two estimates
    give no heterogeneity statistics.
    """
    y = np.asarray(estimates, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    k = y.size
    result: dict[str, Any] = {
        "k": int(k),
        "q": None,
        "df": None,
        "p_q": None,
        "i2": None,
        "tau2": None,
        "fixed": None,
        "random": None,
    }
    if k == 0:
        return result
    z = _z(level)
    w = 1.0 / v
    fixed = float(np.sum(w * y) / np.sum(w))
    fixed_se = math.sqrt(1.0 / float(np.sum(w)))
    result["fixed"] = {"estimate": fixed, "se": fixed_se, "ci": (fixed - z * fixed_se, fixed + z * fixed_se)}
    if k < 2:
        return result
    q = float(np.sum(w * (y - fixed) ** 2))
    df = k - 1
    tau2 = max(0.0, (q - df) / float(np.sum(w) - np.sum(w**2) / np.sum(w)))
    w_star = 1.0 / (v + tau2)
    random = float(np.sum(w_star * y) / np.sum(w_star))
    random_se = math.sqrt(1.0 / float(np.sum(w_star)))
    result.update(
        q=q,
        df=df,
        p_q=float(stats.chi2.sf(q, df)),
        i2=max(0.0, (q - df) / q) if q > 0 else 0.0,
        tau2=tau2,
        random={
            "estimate": random,
            "se": random_se,
            "ci": (random - z * random_se, random + z * random_se),
            "p": float(stats.chi2.sf((random / random_se) ** 2, 1)),
        },
    )
    return result
