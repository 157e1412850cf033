"""Discrimination and small-sample statistics of the validation run, fast enough for 1,000,000 episodes.

Provides Harrell's and Uno's concordance, the cumulative/dynamic time-dependent AUC, the Wilson
interval for a proportion, the Aalen–Johansen cumulative incidence with its confidence interval and
the likelihood-ratio test. Inputs are numpy arrays (anything ``np.asarray`` accepts); outputs are
plain Python floats, tuples and dicts, never NaN: ``None`` stands for "undefined" (no comparable
pair, nothing at risk, a bound that the transformation cannot give).

Every function is a vectorised O(n log n) (sorts, cumulative sums, binary searches; no Python loop
over patients), because the library versions are quadratic (scikit-survival's concordance) or loop in
Python (lifelines). The tests in ``tests/registry/validation/test_discrimination.py`` hold each one
equal to the library it replaces: lifelines 0.30.3, scikit-survival 0.28.0, statsmodels 0.15.0,
SciPy. The conventions below are the libraries' so the numbers can be reproduced with them.

Conventions shared by the concordance measures (those of lifelines and scikit-survival, which agree):
a higher score means a higher risk, i.e. a shorter time. A pair (i, j) is comparable when i had
the event and ``time[i] < time[j]``, or ``time[i] == time[j]`` and j was censored (an event is taken
to happen before a censoring at the same time); two events at the same time are not comparable. A
comparable pair is concordant when ``score[i] > score[j]`` and counts ½ when the scores are equal.
Equality is exact (lifelines); scikit-survival treats scores within 1e-8 as tied, which only
differs for scores that are distinct but closer than that.

Times are in whatever unit the caller uses (the validation uses months of 30.4375 days).
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = [
    "Concordance",
    "aalen_johansen",
    "benchmark",
    "cumulative_dynamic_auc",
    "harrell_c",
    "harrell_concordance",
    "likelihood_ratio_test",
    "uno_c",
    "uno_concordance",
    "wilson_ci",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.integer[Any]]
BoolArray = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------


def _as_float(name: str, values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _as_event(values: npt.ArrayLike, n: int) -> BoolArray:
    array = np.asarray(values)
    if array.shape != (n,):
        raise ValueError(f"event must have shape ({n},), got {array.shape}")
    if array.dtype != np.bool_:
        numeric = array.astype(np.float64)
        if not np.isin(numeric, (0.0, 1.0)).all():
            raise ValueError("event must be boolean or 0/1")
        array = numeric == 1.0
    return array


def _survival_inputs(
    time: npt.ArrayLike, event: npt.ArrayLike, score: npt.ArrayLike
) -> tuple[FloatArray, BoolArray, FloatArray]:
    t = _as_float("time", time)
    s = _as_float("score", score)
    if s.shape != t.shape:
        raise ValueError(f"score must have shape {t.shape}, got {s.shape}")
    return t, _as_event(event, t.shape[0]), s


# --------------------------------------------------------------------------------------------------
# The pair-counting core
# --------------------------------------------------------------------------------------------------


def _runs(keys: IntArray) -> tuple[IntArray, IntArray]:
    """Runs of equal values in a non-decreasing ``keys``: ``(starts, lengths)``."""
    size = keys.shape[0]
    new_run = np.empty(size, dtype=np.bool_)
    new_run[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new_run[1:])
    starts = np.flatnonzero(new_run).astype(keys.dtype)
    return starts, np.diff(np.r_[starts, size])


def _pair_sums(time: FloatArray, event: BoolArray, score: FloatArray, weight: FloatArray) -> tuple[float, float]:
    """Weighted concordance sums over the comparable pairs, in O(n log n).

    Returns ``(numerator, denominator)`` with ``denominator = Σ_i w_i · #{j : (i, j) comparable}`` and
    ``numerator = Σ_i w_i · Σ_j [score_i > score_j] + ½ [score_i == score_j]`` over the same pairs,
    ``w_i = weight[i]`` (only events with a positive weight take the role of i). See :func:`_pair_walk`.
    """
    numerator, denominator, _ = _pair_walk(time, event, score, weight, by_subject=False)
    return numerator, denominator


def _pair_walk(
    time: FloatArray, event: BoolArray, score: FloatArray, weight: FloatArray, *, by_subject: bool
) -> tuple[float, float, tuple[FloatArray, FloatArray] | None]:
    """The concordance sums of :func:`_pair_sums` and, with ``by_subject``, each patient's share of them.

    How: every event i becomes a *point* and every patient j a *query*, on one integer axis where a
    point lies before a query exactly when the pair is comparable (point key ``4·rank(t_i) + 1``,
    query key ``4·rank(t_j) + 2·censored_j``). Counting, for each query, the weight of the points
    before it with a higher score rank is a dominance count; it is done one bit of the score rank at a
    time, from the top (a wavelet-matrix walk): at bit b, inside each run of entries sharing the bits
    above b (kept in axis order), points with bit b set precede-and-outrank the queries with bit b
    clear; then each run is split stably by bit b. Each of the ⌈log2(distinct scores)⌉ levels is a
    handful of O(n) numpy passes; at the end the entries are in (score, axis) order and the points
    before a query in its score run are its score ties.

    ``by_subject`` also credits every pair to *both* its members, as an entry rides along the walk:
    a query is credited the weight of the points that outrank it, a point its weight times the number
    of queries it outranks (ties ½ each). Returned as ``(concordant, comparable)``, two arrays over the
    patients: patient s's weighted concordant and comparable pairs in either role (each pair counts
    once for each member, so each array sums to twice the total). These are the first-order
    projections of the U-statistic behind the variance in :func:`_concordance`.
    """
    time_rank = np.unique(time, return_inverse=True)[1].astype(np.int64).ravel()
    score_values, score_rank = np.unique(score, return_inverse=True)
    score_rank = score_rank.astype(np.int64).ravel()
    points = np.flatnonzero(event & (weight > 0))
    n = time.shape[0]
    if points.shape[0] == 0:
        return 0.0, 0.0, (np.zeros(n), np.zeros(n)) if by_subject else None
    n_points = points.shape[0]

    keys = np.concatenate((4 * time_rank[points] + 1, 4 * time_rank + 2 * (~event).astype(np.int64)))
    order = np.argsort(keys, kind="stable")
    # One integer per entry, score rank << 1 | is-query, and the weight (0 for queries) beside it;
    # int32 whenever everything fits halves the memory traffic of the level loop.
    index: type[np.signedinteger] = np.int32 if 2 * n < 2**30 else np.int64
    code = (np.concatenate((score_rank[points], score_rank)).astype(index) << 1)[order]
    code[order >= n_points] |= 1
    weights = np.concatenate((weight[points], np.zeros(n)))[order]
    size = code.shape[0]
    position = np.arange(size, dtype=index)

    # Queries carry no weight, so an inclusive cumulative sum read at a query is the weight before it.
    is_query = (code & 1).astype(np.bool_)
    weight_before = np.cumsum(weights)
    denominator = float(weight_before[is_query].sum())
    if by_subject:
        origin = order.astype(index)
        credit = np.zeros(size)
        # Comparable pairs: a query has every point before it; a point every query after it.
        queries_after = is_query.sum() - np.cumsum(is_query)
        comparable_by_entry = np.where(is_query, weight_before, weights * queries_after)
        comparable = _by_subject(comparable_by_entry[np.argsort(order)], points, n)

    numerator = 0.0
    levels = int(score_values.shape[0] - 1).bit_length()
    for b in range(levels - 1, -1, -1):
        starts, lengths = _runs(code >> (b + 2))
        bit = ((code >> (b + 1)) & 1).astype(np.bool_)
        # Pairs decided at this bit: a point with the bit set before a query with it clear, same run.
        high = np.where(bit, weights, 0.0)
        high_cumulative = np.cumsum(high)
        low_query = ((code & 1).astype(np.bool_) & ~bit).astype(np.float64)
        high_before_run = high_cumulative[starts] - high[starts]
        numerator += float(low_query @ high_cumulative) - float(np.add.reduceat(low_query, starts) @ high_before_run)
        if by_subject:
            low_cumulative = np.cumsum(low_query)
            low_in_run = np.add.reduceat(low_query, starts)
            low_after = np.repeat(low_in_run + low_cumulative[starts] - low_query[starts], lengths) - low_cumulative
            credit += low_query * (high_cumulative - np.repeat(high_before_run, lengths)) + high * low_after
        # Stable split of every run by this bit (zeros first), by scattering to the new positions.
        zeros = (~bit).astype(index)
        zeros_before = np.cumsum(zeros, dtype=index) - zeros
        zeros_before_run = zeros_before[starts]
        zeros_in_run = np.add.reduceat(zeros, starts)
        new_position = np.where(
            bit,
            position - zeros_before + np.repeat(zeros_before_run + zeros_in_run, lengths),
            zeros_before + np.repeat(starts - zeros_before_run, lengths),
        )
        moved_code = np.empty_like(code)
        moved_code[new_position] = code
        moved_weights = np.empty_like(weights)
        moved_weights[new_position] = weights
        code, weights = moved_code, moved_weights
        if by_subject:
            moved_origin, moved_credit = np.empty_like(origin), np.empty_like(credit)
            moved_origin[new_position], moved_credit[new_position] = origin, credit
            origin, credit = moved_origin, moved_credit

    # Now ordered by (score rank, axis): points before a query in its score run are the score ties.
    starts, lengths = _runs(code >> 1)
    cumulative = np.cumsum(weights)
    before_run = np.repeat(cumulative[starts] - weights[starts], lengths)
    is_query = (code & 1).astype(np.bool_)
    ties = float((cumulative[is_query] - before_run[is_query]).sum())
    if not by_subject:
        return numerator + 0.5 * ties, denominator, None
    query_flag = is_query.astype(np.float64)
    query_cumulative = np.cumsum(query_flag)
    queries_after_in_run = (
        np.repeat(np.add.reduceat(query_flag, starts) + query_cumulative[starts] - query_flag[starts], lengths)
        - query_cumulative
    )
    credit += 0.5 * np.where(is_query, cumulative - before_run, weights * queries_after_in_run)
    by_entry = np.empty(size)
    by_entry[origin] = credit
    return numerator + 0.5 * ties, denominator, (_by_subject(by_entry, points, n), comparable)


def _by_subject(by_entry: FloatArray, points: IntArray, n: int) -> FloatArray:
    """Entry values (the points first, then one query per patient) summed per patient."""
    total = by_entry[points.shape[0] :].copy()
    total[points] += by_entry[: points.shape[0]]  # the points are distinct patients
    return total


def _censoring_survival(time: FloatArray, event: BoolArray) -> FloatArray:
    """Kaplan–Meier of the censoring distribution, Ĝ(time[i]) for every i (scikit-survival's way).

    At a time with both events and censorings the events leave the risk set first, and Ĝ(t) includes
    the drop at t itself (Ĝ(t), not Ĝ(t−)), as ``sksurv.nonparametric.CensoringDistributionEstimator``.
    """
    unique, inverse = np.unique(time, return_inverse=True)
    inverse = inverse.ravel()
    count = np.bincount(inverse, minlength=unique.shape[0])
    events = np.bincount(inverse, weights=event.astype(np.float64), minlength=unique.shape[0])
    censored = count - events
    at_risk = time.shape[0] - (np.cumsum(count) - count) - events
    ratio = np.divide(censored, at_risk, out=np.zeros(unique.shape[0]), where=censored != 0)
    result: FloatArray = np.cumprod(1.0 - ratio)[inverse]
    return result


# --------------------------------------------------------------------------------------------------
# Concordance and AUC
# --------------------------------------------------------------------------------------------------


def harrell_c(time: npt.ArrayLike, event: npt.ArrayLike, score: npt.ArrayLike) -> float | None:
    """Harrell's concordance index of a risk score (higher score = higher risk = shorter time).

    Pairs, time ties and score ties as in the module docstring (equal to
    ``lifelines.utils.concordance_index(time, -score, event)`` and to
    ``sksurv.metrics.concordance_index_censored(event, time, score)[0]``).

    Returns:
        The C-index as a float in [0, 1], or ``None`` when there is no comparable pair (no event, or
        only events at the last time).
    """
    t, e, s = _survival_inputs(time, event, score)
    numerator, denominator = _pair_sums(t, e, s, np.ones(t.shape[0]))
    return numerator / denominator if denominator > 0 else None


def _uno_weights(t: FloatArray, e: BoolArray, tau: float) -> FloatArray | None:
    """``1 / Ĝ(time_i)²`` for the events before ``tau``, 0 for everyone else; None when Ĝ is 0 at one."""
    g = _censoring_survival(t, e)
    weighted = e & (t < tau)
    if (g[weighted] == 0.0).any():
        return None
    weight = np.zeros(t.shape[0])
    weight[weighted] = 1.0 / np.square(g[weighted])
    return weight


def uno_c(time: npt.ArrayLike, event: npt.ArrayLike, score: npt.ArrayLike, *, tau: float) -> float | None:
    """Uno's concordance truncated at ``tau``, inverse-probability-of-censoring weighted.

    Harrell's pairs (module docstring), each weighted by ``1 / Ĝ(time_i)²`` of its earlier member i
    when ``time_i < tau`` and by 0 otherwise; Ĝ is the Kaplan–Meier of the censoring distribution
    estimated on the same data (see :func:`_censoring_survival`). Equal to
    ``sksurv.metrics.concordance_index_ipcw(y, y, score, tau=tau)[0]`` with ``y`` these data.

    Returns:
        The C-index as a float in [0, 1], or ``None`` when no event happens before ``tau`` with a
        comparable partner, or when Ĝ is 0 at such an event (scikit-survival raises there).
    """
    t, e, s = _survival_inputs(time, event, score)
    weight = _uno_weights(t, e, tau)
    if weight is None:
        return None
    numerator, denominator = _pair_sums(t, e, s, weight)
    return numerator / denominator if denominator > 0 else None


@dataclass(frozen=True)
class Concordance:
    """A concordance index with its standard error and Wald confidence interval (see :func:`_concordance`)."""

    c: float | None
    se: float | None
    ci: tuple[float, float] | None
    #: Comparable pairs (weighted for Uno's C): 0 when the index is undefined.
    pairs: float


def _concordance(t: FloatArray, e: BoolArray, s: FloatArray, weight: FloatArray, level: float) -> Concordance:
    """The C-index of ``_pair_walk``'s pairs, its U-statistic standard error and its Wald interval.

    The variance is the asymptotic one of a ratio of two U-statistics of degree 2 (Hoeffding 1948; for
    Harrell's C, Noether's and the one of Pencina & D'Agostino 2004, Stat Med 23:2109): with
    ``D = Σ_pairs w_i`` the weighted comparable pairs, ``Ĉ`` the index and, for every patient s,
    ``h_s = (weighted concordant pairs s belongs to) − Ĉ · (weighted comparable pairs s belongs to)``
    (each pair counted for both its members, ties ½), ``Var(Ĉ) = Σ_s h_s² / D²`` — the delta method
    applied to the first-order (Hájek) projection of ``Σ_pairs w_i (c_ij − Ĉ p_ij)``. The interval is
    ``Ĉ ± z · se`` clipped to [0, 1].

    Why this and not a bootstrap or a jackknife: the runs must be reproducible byte for byte (no
    random resampling, so no seed to carry), and the run over 1,000,000 episodes has a one-minute
    budget — ``h_s`` comes out of the same O(n log n) walk as the index itself, whereas a bootstrap
    or a jackknife (even grouped) repeats the whole computation tens to hundreds of times. The tests
    hold it to a seeded bootstrap of scikit-survival's estimators and check its coverage.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    numerator, denominator, shares = _pair_walk(t, e, s, weight, by_subject=True)
    if denominator <= 0 or shares is None:
        return Concordance(None, None, None, 0.0)
    c = numerator / denominator
    concordant, comparable = shares
    h = concordant - c * comparable
    se = math.sqrt(float(np.sum(np.square(h)))) / denominator
    z = float(stats.norm.isf((1.0 - level) / 2.0))
    return Concordance(c, se, (max(0.0, c - z * se), min(1.0, c + z * se)), denominator)


def harrell_concordance(
    time: npt.ArrayLike, event: npt.ArrayLike, score: npt.ArrayLike, *, level: float = 0.95
) -> Concordance:
    """Harrell's C (as :func:`harrell_c`) with its asymptotic standard error and ``level`` Wald interval.

    The variance is the U-statistic one of :func:`_concordance`: deterministic, O(n log n).
    """
    t, e, s = _survival_inputs(time, event, score)
    return _concordance(t, e, s, np.ones(t.shape[0]), level)


def uno_concordance(
    time: npt.ArrayLike, event: npt.ArrayLike, score: npt.ArrayLike, *, tau: float, level: float = 0.95
) -> Concordance:
    """Uno's C truncated at ``tau`` (as :func:`uno_c`) with its standard error and ``level`` Wald interval.

    The variance is the one of :func:`_concordance` with the pair weights ``1 / Ĝ(time_i)²`` held
    fixed: it leaves out the variability of the censoring estimate Ĝ (Uno et al. 2011 add it by
    perturbation resampling, which is random and repeats the computation). The tests compare it with a
    bootstrap that re-estimates Ĝ in every resample.
    """
    t, e, s = _survival_inputs(time, event, score)
    weight = _uno_weights(t, e, tau)
    if weight is None:
        return Concordance(None, None, None, 0.0)
    return _concordance(t, e, s, weight, level)


def cumulative_dynamic_auc(
    time: npt.ArrayLike, event: npt.ArrayLike, score: npt.ArrayLike, *, at: float
) -> float | None:
    """Time-dependent AUC at ``at``: cumulative cases, dynamic controls, IPCW (Uno 2007, Hung & Chiang 2010).

    Cases are the events with ``time <= at``, each weighted by ``1 / Ĝ(time_i)`` (Kaplan–Meier of the
    censoring distribution on the same data, see :func:`_censoring_survival`); controls are everyone
    with ``time > at``, unweighted; patients censored at or before ``at`` are neither but still count
    in Ĝ. AUC = Σ_cases w_i (#controls with a lower score + ½ #tied) / (Σ_cases w_i · #controls).
    Equal to ``sksurv.metrics.cumulative_dynamic_auc(y, y, score, at)[0][0]``.

    Returns:
        The AUC as a float in [0, 1], or ``None`` when there is no case or no control at ``at``.
    """
    t, e, s = _survival_inputs(time, event, score)
    case = e & (t <= at)
    control = t > at
    if not case.any() or not control.any():
        return None
    g = _censoring_survival(t, e)[case]
    if (g == 0.0).any():  # cannot happen with a control left, kept as a guard
        return None
    weight = 1.0 / g
    controls = np.sort(s[control])
    below = np.searchsorted(controls, s[case], side="left")
    tied = np.searchsorted(controls, s[case], side="right") - below
    numerator = float(np.sum(weight * (below + 0.5 * tied)))
    return numerator / (float(weight.sum()) * controls.shape[0])


# --------------------------------------------------------------------------------------------------
# Proportions and tests
# --------------------------------------------------------------------------------------------------


def wilson_ci(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for ``successes`` out of ``n``.

    The same arithmetic as ``statsmodels.stats.proportion.proportion_confint(method="wilson")``
    (bounds clipped to [0, 1]).

    Returns:
        ``(lower, upper)`` as floats, or ``None`` when ``n == 0``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return None
    p = successes / n
    crit = float(stats.norm.isf((1.0 - level) / 2.0))
    crit2 = crit**2
    denominator = 1 + crit2 / n
    center = (p + crit2 / (2 * n)) / denominator
    half = crit * math.sqrt(p * (1.0 - p) / n + crit2 / (4.0 * n**2)) / denominator
    return float(min(max(center - half, 0.0), 1.0)), float(min(max(center + half, 0.0), 1.0))


def likelihood_ratio_test(loglik_small: float, loglik_large: float, df_difference: int) -> dict[str, float | int]:
    """Likelihood-ratio test of a nested model (``small``) against the model containing it (``large``).

    ``chi2 = 2 (loglik_large − loglik_small)``, referred to χ² with ``df_difference`` degrees of
    freedom. A negative statistic within 1e-9 of zero (rounding, identical fits) is taken as 0; a
    clearly negative one means the models are not nested or a fit did not converge, and raises.

    Returns:
        ``{"chi2": float, "df": int, "p": float}``.
    """
    if not (math.isfinite(loglik_small) and math.isfinite(loglik_large)):
        raise ValueError("log-likelihoods must be finite")
    df = int(df_difference)
    if df != df_difference or df < 1:
        raise ValueError(f"df_difference must be a positive integer, got {df_difference}")
    chi2 = 2.0 * (float(loglik_large) - float(loglik_small))
    if chi2 < 0:
        if chi2 < -1e-9 * max(1.0, abs(loglik_large)):
            raise ValueError(
                f"the larger model fits worse (chi2 = {chi2}): the models are not nested or a fit did not converge"
            )
        chi2 = 0.0
    return {"chi2": chi2, "df": df, "p": float(stats.chi2.sf(chi2, df))}


# --------------------------------------------------------------------------------------------------
# Competing risks
# --------------------------------------------------------------------------------------------------


def aalen_johansen(
    time: npt.ArrayLike, event_code: npt.ArrayLike, *, at: Sequence[float], level: float = 0.95
) -> dict[str, Any]:
    """Aalen–Johansen cumulative incidence of event 1, event 2 competing, 0 censored, at given times.

    At each distinct time u with ``Y`` at risk, ``d1``/``d2`` events of each kind and ``d = d1 + d2``:
    ``F(u) = F(u−) + S(u−) d1 / Y`` with ``S`` the all-cause Kaplan–Meier; tied events of both kinds
    are handled as they are (no jittering; censorings at u leave after the events). The variance is
    the delta-method/Greenwood one of Dinse & Larson (1986) as given by Collett (*Modelling Survival
    Data in Medical Research*, 3rd ed., p. 411) and implemented by lifelines'
    ``AalenJohansenFitter(calculate_variance=True)`` and scikit-survival's
    ``cumulative_incidence_competing_risks(var_type="Dinse_Approx")``::

        Var F(t) = Σ_{u ≤ t} (F(t) − F(u))² d / (Y (Y − d)) + S(u−)² d1 (Y − d1) / Y³
                   − 2 (F(t) − F(u)) S(u−) d1 / Y²

    and the interval is the log(−log) one: ``F ** exp(± z · se / (F |log F|))``. One divergence from
    both libraries: a time where everyone at risk has an event (``Y == d``) contributes 0·∞ to the
    first sum; the factor ``F(t) − F(u)`` is exactly 0 there (nobody is left to have an event), so the
    term is taken as 0 instead of giving NaN.

    Returns:
        ``{"at": [float, ...], "cif": [float | None, ...], "se": [float | None, ...],
        "ci": [(lower, upper) | None, ...], "n": int, "events": int, "competing_events": int}`` with
        the lists in the order of ``at``. ``cif`` (and ``se``, ``ci``) is ``None`` after the last
        observed time when someone was still event-free there (the estimate is not defined beyond a
        last censoring; after everyone has had an event of either kind it stays at its final value);
        ``ci`` is ``None`` where the log(−log) interval does not exist (``cif`` 0 or 1).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    t = _as_float("time", time)
    codes = np.asarray(event_code)
    if codes.shape != t.shape:
        raise ValueError(f"event_code must have shape {t.shape}, got {codes.shape}")
    if not np.isin(codes, (0, 1, 2)).all():
        raise ValueError("event_code must be 0 (censored), 1 (event of interest) or 2 (competing event)")
    query = _as_float("at", np.atleast_1d(np.asarray(at, dtype=np.float64)))
    result: dict[str, Any] = {
        "at": [float(x) for x in query],
        "cif": [],
        "se": [],
        "ci": [],
        "n": int(t.shape[0]),
        "events": int((codes == 1).sum()),
        "competing_events": int((codes == 2).sum()),
    }
    if t.shape[0] == 0:
        result["cif"] = result["se"] = result["ci"] = [None] * query.shape[0]
        return result

    unique, inverse = np.unique(t, return_inverse=True)
    inverse = inverse.ravel()
    size = unique.shape[0]
    count = np.bincount(inverse, minlength=size).astype(np.float64)
    d1 = np.bincount(inverse, weights=(codes == 1).astype(np.float64), minlength=size)
    d = np.bincount(inverse, weights=(codes != 0).astype(np.float64), minlength=size)
    at_risk = t.shape[0] - (np.cumsum(count) - count)
    survival = np.cumprod(1.0 - d / at_risk)
    survival_before = np.r_[1.0, survival[:-1]]
    cif = np.cumsum(survival_before * d1 / at_risk)

    remaining = at_risk - d
    greenwood = np.divide(d, at_risk * remaining, out=np.zeros(size), where=remaining > 0)
    binomial = survival_before**2 * d1 * (at_risk - d1) / at_risk**3
    cross = survival_before * d1 / at_risk**2
    z = float(stats.norm.isf((1.0 - level) / 2.0))

    for x in query:
        if x > unique[-1] and survival[-1] > 0.0:
            result["cif"].append(None)
            result["se"].append(None)
            result["ci"].append(None)
            continue
        k = int(np.searchsorted(unique, x, side="right"))  # rows 0..k-1 are at or before x
        f = float(cif[k - 1]) if k > 0 else 0.0
        gap = f - cif[:k]
        variance = float(np.sum(gap**2 * greenwood[:k] + binomial[:k] - 2.0 * gap * cross[:k]))
        se = math.sqrt(max(variance, 0.0))
        result["cif"].append(f)
        result["se"].append(se)
        if 0.0 < f < 1.0:
            log_f = math.log(f)
            spread = z * se / (f * abs(log_f))
            result["ci"].append((f ** math.exp(spread), f ** math.exp(-spread)))
        else:
            result["ci"].append(None)
    return result


# --------------------------------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------------------------------


def benchmark(n: int = 1_000_000, *, seed: int = 0) -> dict[str, float]:
    """Seconds each function takes on ``n`` generated episodes (continuous scores, ties in time).

    Run: ``.venv/bin/python -c "from registry.validation.discrimination import benchmark; print(benchmark())"``.

    Returns:
        ``{"n": n, "harrell_c": s, "harrell_concordance": s, "uno_c": s, "uno_concordance": s,
        "cumulative_dynamic_auc": s, "aalen_johansen": s,
        "harrell_c_three_categories": s}`` in seconds.
    """
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    event_time = rng.exponential(12.0 * np.exp(-0.5 * score))
    censor_time = rng.uniform(0.0, 36.0, size=n)
    time = np.round(np.minimum(event_time, censor_time), 1) + 0.1
    event = event_time <= censor_time
    code = np.where(event, np.where(rng.random(n) < 0.7, 1, 2), 0)
    category = np.digitize(score, (-0.5, 0.5)).astype(np.float64)

    def timed(call: Callable[[], object]) -> float:
        began = _time.perf_counter()
        call()
        return _time.perf_counter() - began

    return {
        "n": float(n),
        "harrell_c": timed(lambda: harrell_c(time, event, score)),
        "harrell_c_three_categories": timed(lambda: harrell_c(time, event, category)),
        "harrell_concordance": timed(lambda: harrell_concordance(time, event, score)),
        "uno_c": timed(lambda: uno_c(time, event, score, tau=12.0)),
        "uno_concordance": timed(lambda: uno_concordance(time, event, score, tau=12.0)),
        "cumulative_dynamic_auc": timed(lambda: cumulative_dynamic_auc(time, event, score, at=6.0)),
        "aalen_johansen": timed(lambda: aalen_johansen(time, code, at=(6.0, 12.0))),
    }
