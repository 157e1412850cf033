"""The survival statistics (registry/validation/survival.py) against hand calculation, libraries and published values.

Three kinds of reference: a six-patient table worked by hand (formulas written out below, not
numbers copied from the code), lifelines / statsmodels / scikit-survival on generated data with
ties and censoring (to 1e-6), and the published analyses of the NCCTG lung cancer data (R
``survival::lung``, shipped as ``lifelines.datasets.load_lung``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_lung
from lifelines.statistics import logrank_test as lifelines_logrank
from lifelines.statistics import multivariate_logrank_test, proportional_hazard_test
from lifelines.utils import median_survival_times, restricted_mean_survival_time
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.stats.meta_analysis import combine_effects

from registry.validation.survival import (
    _design,
    _score_residuals,
    _slot_terms,
    cox_ph,
    kaplan_meier,
    logrank_test,
    logrank_trend_test,
    proportional_hazards_test,
    random_effects_meta,
)

Z = stats.norm.ppf(0.975)
TIGHT = {"precision": 1e-12}  # lifelines' default Newton tolerance (1e-7) leaves ~1e-6 in the coefficients


def generated(seed: int, n: int = 1500, *, ties: bool = True, groups: int = 3):
    """Times with censoring (whole days as months if ``ties``), a category, a continuous covariate and clusters."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, groups, n)
    covariate = rng.normal(size=n)
    event_time = rng.exponential(8.0 * np.exp(-0.35 * group - 0.25 * covariate))
    censor_time = rng.uniform(0.0, 24.0, n)
    time = np.minimum(event_time, censor_time)
    # Weekly visits give many ties; otherwise a small jitter makes every time distinct.
    time = np.ceil(time * 30.4375 / 7) * 7 / 30.4375 if ties else time + rng.uniform(0, 1e-3, n)
    event = event_time <= censor_time
    clusters = rng.integers(0, 9, n)
    return time, event, group, covariate, clusters


# --- the six-patient table, by hand -----------------------------------------------------------------
#
#   id  time  event  group        distinct event times: 1 (6 at risk, 1 death, group B)
#    1    2     1      A                                2 (5 at risk, 1 death, group A)
#    2    3     0      A                                4 (3 at risk, 1 death, group B)
#    3    5     1      A                                5 (2 at risk, 2 deaths, one per group)
#    4    1     1      B
#    5    4     1      B
#    6    5     1      B

SIX_TIME = np.array([2, 3, 5, 1, 4, 5], dtype=float)
SIX_EVENT = np.array([1, 0, 1, 1, 1, 1], dtype=bool)
SIX_GROUP = np.array(["A", "A", "A", "B", "B", "B"])


def test_kaplan_meier_of_the_six_patient_table_is_the_product_limit_worked_by_hand():
    km = kaplan_meier(SIX_TIME, SIX_EVENT)
    survival = {1: 5 / 6, 2: 5 / 6 * 4 / 5, 4: 5 / 6 * 4 / 5 * 2 / 3, 5: 0.0}
    assert list(km.times) == [1, 2, 4, 5]
    assert km.survival == pytest.approx(list(survival.values()), abs=1e-12)
    assert km.at(3.0)[0] == pytest.approx(survival[2])  # a censoring does not step
    assert km.at(0.5)[0] == 1.0
    assert km.median == 4  # first time S ≤ 0.5: S(2) = 2/3, S(4) = 4/9

    # Exponential Greenwood interval at t = 4: Σ d/(n(n−d)) = 1/30 + 1/20 + 1/6 = 1/4.
    log_s = math.log(4 / 9)
    spread = Z * math.sqrt(1 / 4) / abs(log_s)
    lower, upper = math.exp(-math.exp(math.log(-log_s) + spread)), math.exp(-math.exp(math.log(-log_s) - spread))
    assert km.greenwood[2] == pytest.approx(1 / 4)
    assert km.at(4.0)[1:] == pytest.approx((lower, upper), abs=1e-12)


def test_restricted_mean_of_the_six_patient_table_is_the_area_under_the_steps():
    tau = 4.5
    area = 1 * 1 + 1 * (5 / 6) + 2 * (2 / 3) + 0.5 * (4 / 9)
    # Var = Σ A_i² d_i / (n_i (n_i − d_i)), A_i the area from event time i to tau.
    a1, a2, a4 = area - 1, area - 1 - 5 / 6, 0.5 * (4 / 9)
    variance = a1**2 / 30 + a2**2 / 20 + a4**2 / 6
    value, se = kaplan_meier(SIX_TIME, SIX_EVENT).rmst(tau)
    assert value == pytest.approx(area, abs=1e-12)
    assert se == pytest.approx(math.sqrt(variance), abs=1e-12)


def test_logrank_of_the_six_patient_table_is_observed_minus_expected_worked_by_hand():
    # Group A at each event time: E = n_A d / n, V = n_A n_B d (n − d) / (n² (n − 1)).
    expected_a = 3 / 6 + 3 / 5 + 1 / 3 + 2 * 1 / 2
    variance = 3 * 3 * 1 * 5 / (36 * 5) + 3 * 2 * 1 * 4 / (25 * 4) + 1 * 2 * 1 * 2 / (9 * 2) + 0
    chi2 = (2 - expected_a) ** 2 / variance
    result = logrank_test(SIX_TIME, SIX_EVENT, SIX_GROUP)
    assert result.groups == ("A", "B")
    assert result.observed == pytest.approx((2, 3))
    assert result.expected[0] == pytest.approx(expected_a)
    assert result.chi2 == pytest.approx(chi2, abs=1e-12)
    assert result.df == 1
    assert result.p == pytest.approx(stats.chi2.sf(chi2, 1))


# --- Kaplan–Meier against lifelines ------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kaplan_meier_matches_lifelines_median_interval_landmarks_and_rmst(seed):
    time, event, group, *_ = generated(seed, 800)
    for rows in (np.ones(time.size, dtype=bool), group == 0, group == 2):
        t, e = time[rows], event[rows]
        kmf = KaplanMeierFitter().fit(t, e)
        km = kaplan_meier(t, e)
        assert km.median == kmf.median_survival_time_
        assert km.median_ci() == tuple(median_survival_times(kmf.confidence_interval_).iloc[0])
        for at in (1.0, 6.0, 12.0, 23.9):
            bounds = kmf.confidence_interval_.loc[:at].iloc[-1].to_numpy()
            value, lower, upper = km.at(at)
            assert value == pytest.approx(float(kmf.survival_function_at_times(at).iloc[0]), abs=1e-12)
            assert (lower, upper) == pytest.approx(tuple(bounds), abs=1e-12)
        assert km.rmst(12.0)[0] == pytest.approx(restricted_mean_survival_time(kmf, t=12.0), abs=1e-9)
        reverse = KaplanMeierFitter().fit(t, ~e)
        assert kaplan_meier(t, ~e).median == reverse.median_survival_time_


def test_median_not_reached_is_infinite_like_lifelines():
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    event = np.array([1, 0, 0, 0, 0], dtype=bool)
    km = kaplan_meier(time, event)
    assert math.isinf(km.median)
    assert math.isinf(km.median_ci()[1])
    assert KaplanMeierFitter().fit(time, event).median_survival_time_ == km.median


def test_rmst_standard_error_matches_a_plain_loop_over_event_times():
    time, event, *_ = generated(4, 300)
    km = kaplan_meier(time, event)
    tau = 10.0
    steps = [(t, s) for t, s in zip(km.times, km.survival, strict=True) if t <= tau]
    variance = 0.0
    for i in range(len(steps)):
        area = sum(
            s * ((steps[j + 1][0] if j + 1 < len(steps) else tau) - steps[j][0])
            for j, (_, s) in enumerate(steps)
            if j >= i
        )
        n, d = km.at_risk[i], km.events[i]
        variance += area**2 * d / (n * (n - d)) if n > d else 0.0
    assert km.rmst(tau)[1] == pytest.approx(math.sqrt(variance), rel=1e-10)


# --- log-rank against lifelines ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_k_group_logrank_matches_lifelines(seed):
    time, event, group, *_ = generated(seed)
    ours = logrank_test(time, event, group)
    theirs = multivariate_logrank_test(time, group, event)
    assert ours.chi2 == pytest.approx(theirs.test_statistic, abs=1e-6)
    assert ours.df == theirs.degrees_of_freedom == 2
    assert ours.p == pytest.approx(theirs.p_value, abs=1e-9)


def test_trend_test_with_two_groups_is_the_logrank_test():
    time, event, group, *_ = generated(5, groups=2)
    trend = logrank_trend_test(time, event, group, scores={0: 0.0, 1: 1.0})
    two = lifelines_logrank(time[group == 0], time[group == 1], event[group == 0], event[group == 1])
    assert trend.chi2 == pytest.approx(two.test_statistic, abs=1e-6)


def test_trend_test_without_ties_is_the_cox_score_test_of_the_ordered_score():
    # Without tied times the hypergeometric variance is the Cox information at β = 0 (statsmodels PHReg).
    time, event, group, *_ = generated(6, ties=False)
    model = PHReg(time, group.astype(float)[:, None], status=event.astype(int), ties="breslow")
    score = model.score(np.zeros(1))[0]
    information = -model.hessian(np.zeros(1))[0, 0]
    trend = logrank_trend_test(time, event, group, scores={0: 0.0, 1: 1.0, 2: 2.0})
    assert trend.chi2 == pytest.approx(score**2 / information, rel=1e-9)
    assert trend.df == 1


# --- Cox against lifelines and statsmodels -----------------------------------------------------------


def _frame(time, event, group, covariate, clusters=None):
    frame = pd.DataFrame(
        {"T": time, "E": event, "g1": (group == 1).astype(float), "g2": (group == 2).astype(float), "x": covariate}
    )
    if clusters is not None:
        frame["site"] = clusters
    return frame


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_efron_cox_with_ties_matches_lifelines(seed):
    time, event, group, covariate, _ = generated(seed)
    frame = _frame(time, event, group, covariate)
    theirs = CoxPHFitter().fit(frame, "T", "E", fit_options=TIGHT)
    ours = cox_ph(time, event, frame[["g1", "g2", "x"]].to_numpy(), names=["g1", "g2", "x"])
    assert ours.converged
    assert ours.params == pytest.approx(theirs.params_.to_numpy(), abs=1e-6)
    assert ours.se == pytest.approx(theirs.standard_errors_.to_numpy(), abs=1e-6)
    assert ours.log_likelihood == pytest.approx(theirs.log_likelihood_, abs=1e-6)
    assert ours.ci() == pytest.approx(
        theirs.summary[["exp(coef) lower 95%", "exp(coef) upper 95%"]].to_numpy(), abs=1e-6
    )
    assert ours.p_values() == pytest.approx(theirs.summary["p"].to_numpy(), abs=1e-9)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_with_ties_matches_statsmodels_phreg(ties):
    time, event, group, covariate, _ = generated(7)
    x = _frame(time, event, group, covariate)[["g1", "g2", "x"]].to_numpy()
    theirs = PHReg(time, x, status=event.astype(int), ties=ties).fit()
    ours = cox_ph(time, event, x, ties=ties)
    assert ours.params == pytest.approx(theirs.params, abs=1e-6)
    assert ours.variance == pytest.approx(theirs.cov_params(), abs=1e-8)


@pytest.mark.parametrize("seed", [1, 2])
def test_breslow_cluster_robust_variance_with_ties_matches_statsmodels_groups(seed):
    time, event, group, covariate, clusters = generated(seed)
    # statsmodels leaves rows censored before the first death undefined (NaN): start with a death.
    event[np.argmin(time)] = True
    x = _frame(time, event, group, covariate)[["g1", "g2", "x"]].to_numpy()
    theirs = PHReg(time, x, status=event.astype(int), ties="breslow").fit(groups=clusters)
    ours = cox_ph(time, event, x, ties="breslow", clusters=clusters)
    assert ours.n_clusters == 9
    assert ours.robust_variance == pytest.approx(theirs.cov_params(), abs=1e-9)
    assert ours.se == pytest.approx(theirs.bse, abs=1e-6)


@pytest.mark.parametrize("seed", [1, 2])
def test_cluster_robust_variance_without_ties_matches_lifelines_cluster_col(seed):
    # lifelines' score residuals ignore ties (they depend on row order within a tie): compare untied data.
    time, event, group, covariate, clusters = generated(seed, 600, ties=False)
    frame = _frame(time, event, group, covariate, clusters)
    theirs = CoxPHFitter().fit(frame, "T", "E", cluster_col="site", fit_options=TIGHT)
    ours = cox_ph(time, event, frame[["g1", "g2", "x"]].to_numpy(), clusters=clusters)
    assert ours.params == pytest.approx(theirs.params_.to_numpy(), abs=1e-6)
    assert ours.se == pytest.approx(theirs.standard_errors_.to_numpy(), abs=1e-6)
    assert ours.p_values() == pytest.approx(theirs.summary["p"].to_numpy(), abs=1e-9)


def test_efron_cluster_influence_with_ties_approximates_leaving_each_cluster_out():
    # No library gives Efron score residuals with ties (R's coxph does). The sandwich is built from
    # per-cluster influences V·ΣU_i, first-order approximations of β̂ − β̂(without the cluster): check
    # them against refitting without each of 100 clusters (Breslow's, checked against statsmodels
    # above, are as close).
    time, event, group, covariate, _ = generated(13, 2000)
    clusters = np.arange(time.size) % 100
    x = np.c_[group == 1, group == 2, covariate]
    fit = cox_ph(time, event, x)
    design = _design(time, event, x - x.mean(axis=0), "efron")
    influence = (_score_residuals(design, _slot_terms(design, fit.params)[3]) @ fit.variance)[design.rows]
    per_cluster = np.stack([np.bincount(clusters, weights=influence[:, j]) for j in range(3)], axis=1)
    left_out = np.array(
        [cox_ph(time[clusters != c], event[clusters != c], x[clusters != c]).params for c in range(100)]
    )
    exact = fit.params - left_out
    assert np.corrcoef(per_cluster.ravel(), exact.ravel())[0, 1] > 0.9995
    assert np.abs(per_cluster - exact).max() < 0.06 * np.abs(exact).max()
    assert fit.robust_variance is None and cox_ph(time, event, x, clusters=clusters).robust_variance == pytest.approx(
        per_cluster.T @ per_cluster, rel=1e-9
    )


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_score_residuals_add_up_to_the_score_at_any_coefficients(ties):
    # The residuals decompose the gradient of the partial likelihood, not only at the maximum.
    time, event, group, covariate, _ = generated(8, 400)
    x = _frame(time, event, group, covariate)[["g1", "g2", "x"]].to_numpy()
    design = _design(time, event, x, ties)
    beta = np.array([0.3, -0.2, 0.5])
    _, gradient, _, pieces = _slot_terms(design, beta)
    residuals = _score_residuals(design, pieces)
    assert (design.count[:, None] * residuals).sum(axis=0) == pytest.approx(gradient, abs=1e-9)


def test_efron_and_breslow_score_residuals_agree_without_ties():
    time, event, group, covariate, _ = generated(9, 300, ties=False)
    x = _frame(time, event, group, covariate)[["g1", "g2", "x"]].to_numpy()
    beta = np.array([0.2, 0.4, -0.1])
    residuals = {}
    for ties in ("efron", "breslow"):
        design = _design(time, event, x, ties)
        residuals[ties] = _score_residuals(design, _slot_terms(design, beta)[3])[design.rows]
    assert residuals["efron"] == pytest.approx(residuals["breslow"], abs=1e-12)


def test_identical_rows_are_counted_not_dropped():
    # Category dummies and weekly times: most rows have a twin, which the fit folds into counts.
    time, event, group, covariate, _ = generated(10, 3000)
    frame = _frame(time, event, group, covariate)[["T", "E", "g1", "g2"]]
    assert len(frame.drop_duplicates()) < len(frame) / 5
    theirs = CoxPHFitter().fit(frame, "T", "E", fit_options=TIGHT)
    ours = cox_ph(time, event, frame[["g1", "g2"]].to_numpy())
    assert ours.params == pytest.approx(theirs.params_.to_numpy(), abs=1e-6)
    assert ours.log_likelihood == pytest.approx(theirs.log_likelihood_, abs=1e-6)


def test_a_group_without_events_is_reported_as_not_converged():
    time = np.arange(1.0, 21.0)
    event = np.r_[np.ones(10, dtype=bool), np.zeros(10, dtype=bool)]
    x = np.r_[np.zeros(10), np.ones(10)]  # the exposed group never has an event
    assert not cox_ph(time, event, x).converged


# --- proportional hazards ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_schoenfeld_test_with_ties_matches_lifelines_km_transform(seed):
    time, event, group, covariate, _ = generated(seed)
    frame = _frame(time, event, group, covariate)
    theirs = proportional_hazard_test(CoxPHFitter().fit(frame, "T", "E", fit_options=TIGHT), frame, time_transform="km")
    fit = cox_ph(time, event, frame[["g1", "g2", "x"]].to_numpy(), names=["g1", "g2", "x"])
    ours = proportional_hazards_test(fit, time, event, transform="km")
    statistics = [ours["covariates"][name]["chi2"] for name in ("g1", "g2", "x")]
    assert statistics == pytest.approx(list(theirs.test_statistic), abs=1e-6)
    assert [ours["covariates"][name]["p"] for name in ("g1", "g2", "x")] == pytest.approx(
        list(theirs.p_value), abs=1e-8
    )
    assert ours["global"]["df"] == 3


def test_global_schoenfeld_test_of_one_covariate_is_its_own_test():
    time, event, _, covariate, _ = generated(11)
    fit = cox_ph(time, event, covariate, names=["x"])
    result = proportional_hazards_test(fit, time, event)
    assert result["global"]["chi2"] == pytest.approx(result["covariates"]["x"]["chi2"], rel=1e-12)


def test_schoenfeld_test_finds_a_hazard_ratio_that_changes_over_time():
    rng = np.random.default_rng(12)
    n = 4000
    exposed = rng.integers(0, 2, n)
    early = rng.exponential(np.where(exposed == 1, 1.0, 4.0))  # exposed: high hazard early ...
    time = np.where(early < 2.0, early, 2.0 + rng.exponential(np.where(exposed == 1, 8.0, 4.0)))  # ... low later
    event = np.ones(n, dtype=bool)
    fit = cox_ph(time, event, exposed.astype(float))
    assert proportional_hazards_test(fit, time, event)["global"]["p"] < 1e-6


# --- random effects ----------------------------------------------------------------------------------


def test_dersimonian_laird_matches_statsmodels_combine_effects():
    estimates = np.array([0.10, 0.52, 0.31, 0.93, -0.05])
    variances = np.array([0.04, 0.02, 0.05, 0.03, 0.09])
    theirs = combine_effects(estimates, variances, method_re="dl")
    ours = random_effects_meta(estimates, variances)
    assert ours["q"] == pytest.approx(theirs.q, abs=1e-9)
    assert ours["i2"] == pytest.approx(theirs.i2, abs=1e-9)
    assert ours["tau2"] == pytest.approx(theirs.tau2, abs=1e-9)
    assert ours["random"]["estimate"] == pytest.approx(theirs.mean_effect_re, abs=1e-9)
    assert ours["random"]["se"] == pytest.approx(theirs.sd_eff_w_re, abs=1e-9)
    assert ours["fixed"]["estimate"] == pytest.approx(theirs.mean_effect_fe, abs=1e-9)
    fixed_ci, random_ci = theirs.conf_int()[0], theirs.conf_int()[1]
    assert ours["fixed"]["ci"] == pytest.approx(tuple(fixed_ci), abs=1e-9)
    assert ours["random"]["ci"] == pytest.approx(tuple(random_ci), abs=1e-9)
    assert ours["p_q"] == pytest.approx(stats.chi2.sf(theirs.q, 4))


def test_homogeneous_estimates_have_no_between_cell_variance():
    result = random_effects_meta([0.5, 0.5, 0.5], [0.1, 0.2, 0.3])
    assert result["q"] == 0 and result["i2"] == 0 and result["tau2"] == 0
    assert random_effects_meta([0.5], [0.1])["q"] is None


# --- NCCTG lung cancer data (R survival::lung), published values ------------------------------------


@pytest.fixture(scope="module")
def lung():
    data = load_lung()
    return data["time"].to_numpy(float), data["status"].to_numpy() == 1, data["sex"].to_numpy()


def test_lung_kaplan_meier_medians_are_the_published_310_270_and_426_days(lung):
    time, event, sex = lung
    assert kaplan_meier(time, event).median == 310
    assert kaplan_meier(time[sex == 1], event[sex == 1]).median == 270
    assert kaplan_meier(time[sex == 2], event[sex == 2]).median == 426


def test_lung_logrank_by_sex_is_the_published_chi2_of_10_3_on_1_df(lung):
    time, event, sex = lung
    result = logrank_test(time, event, sex)
    assert round(result.chi2, 1) == 10.3
    assert result.df == 1
    assert round(result.p, 4) == 0.0013


def test_lung_cox_hazard_ratio_for_sex_is_the_published_0_588(lung):
    time, event, sex = lung
    fit = cox_ph(time, event, (sex == 2).astype(float), names=["female"])
    summary = fit.summary()["female"]
    assert round(summary["hr"], 3) == 0.588
    assert (round(summary["ci"][0], 3), round(summary["ci"][1], 3)) == (0.424, 0.816)
