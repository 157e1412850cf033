"""The fast discrimination statistics (registry/validation/discrimination.py) equal the libraries.

Three kinds of evidence, never a value copied from the function's own output: small tables worked by
hand (the arithmetic is in the comments), published values (Newcombe 1998 for Wilson intervals), and
equality with lifelines 0.30.3, scikit-survival 0.28.0, statsmodels 0.15.0 and SciPy on generated
data with ties in time, ties in score and censoring (Hypothesis for the small, awkward cases; fixed
seeds for a few thousand rows, which exercise every bit level of the pair counting).

Timings on 1,000,000 generated episodes (``benchmark()``, best of 4, 2-core container, no timing
assertion here): harrell_c 1.16 s (1,000,000 distinct scores; 0.30 s for a three-level category),
uno_c 1.06 s, cumulative_dynamic_auc 0.27 s, aalen_johansen 0.08 s; with the standard error
(one run): harrell_concordance 2.04 s, uno_concordance 1.95 s.

The confidence intervals of the C-indices have no library to equal: their standard errors are held
to the pairwise definition written out (O(n²)) and to the hand-worked five-patient table, compared
with a seeded bootstrap of scikit-survival's estimators, and their coverage is counted.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import AalenJohansenFitter
from lifelines.utils import concordance_index
from scipy import stats
from sksurv.exceptions import NoComparablePairException
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw
from sksurv.metrics import cumulative_dynamic_auc as sksurv_cumulative_dynamic_auc
from sksurv.nonparametric import CensoringDistributionEstimator, cumulative_incidence_competing_risks
from sksurv.util import Surv
from statsmodels.stats.proportion import proportion_confint

from registry.validation.discrimination import (
    aalen_johansen,
    benchmark,
    cumulative_dynamic_auc,
    harrell_c,
    harrell_concordance,
    likelihood_ratio_test,
    uno_c,
    uno_concordance,
    wilson_ci,
)
from tests.generated import examples

PROPERTY = settings(deadline=None, max_examples=examples(50))
Z95 = stats.norm.isf(0.025)

# The five patients worked by hand below: an event and a censoring tied at 4, two events tied at 6,
# two scores tied at 0.7.
FIVE_TIME = np.array([2.0, 4.0, 4.0, 6.0, 6.0])
FIVE_EVENT = np.array([True, False, True, True, True])
FIVE_SCORE = np.array([0.9, 0.7, 0.7, 0.8, 0.2])


# --------------------------------------------------------------------------------------------------
# Generated data
# --------------------------------------------------------------------------------------------------


@st.composite
def survival_data(draw: st.DrawFn, max_n: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Small data sets with many ties: integer times on a short or long range, integer scores."""
    n = draw(st.integers(2, max_n))
    max_time = draw(st.sampled_from([3, 12, 1000]))
    time = draw(st.lists(st.integers(1, max_time), min_size=n, max_size=n))
    event = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    max_score = draw(st.sampled_from([1, 3, 50]))
    score = draw(st.lists(st.integers(-max_score, max_score), min_size=n, max_size=n))
    return np.array(time, dtype=float), np.array(event), np.array(score, dtype=float) / 2


def generated_cohort(n: int, seed: int, *, score_decimals: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A proportional-hazards cohort with administrative and random censoring, times rounded to 0.1."""
    rng = np.random.default_rng(seed)
    score = np.round(rng.normal(size=n), score_decimals)
    event_time = rng.exponential(10.0 * np.exp(-0.7 * score))
    censor_time = np.minimum(rng.uniform(0.0, 40.0, size=n), 30.0)
    time = np.round(np.minimum(event_time, censor_time), 1) + 0.1
    event = event_time <= censor_time
    # The longest follow-up alone and censored, so scikit-survival's censoring weights never hit 0.
    time[0], event[0] = time.max() + 1.0, False
    return time, event, score


def sksurv_harrell(time: np.ndarray, event: np.ndarray, score: np.ndarray) -> float | None:
    try:
        value = concordance_index_censored(event, time, score)[0]
    except (NoComparablePairException, ValueError):
        return None
    return None if math.isnan(value) else float(value)


def lifelines_harrell(time: np.ndarray, event: np.ndarray, score: np.ndarray) -> float | None:
    try:
        return float(concordance_index(time, -score, event))  # lifelines ranks predicted survival times
    except ZeroDivisionError:
        return None


# --------------------------------------------------------------------------------------------------
# Harrell's C
# --------------------------------------------------------------------------------------------------


def test_harrell_c_of_the_five_patient_table_is_eleven_fourteenths():
    # Comparable pairs (earlier event, later patient): A–B, A–C, A–D, A–E (A at 2 precedes everyone,
    # all concordant: 0.9 beats 0.7, 0.7, 0.8, 0.2), C–B (event and censoring tied at 4: comparable,
    # scores tied 0.7/0.7: ½), C–D (0.7 < 0.8: discordant), C–E (0.7 > 0.2: concordant). D and E are
    # events tied at 6: not comparable. 5.5 of 7.
    assert harrell_c(FIVE_TIME, FIVE_EVENT, FIVE_SCORE) == pytest.approx(11 / 14, abs=1e-15)


def test_harrell_c_of_the_five_patient_table_equals_both_libraries():
    assert harrell_c(FIVE_TIME, FIVE_EVENT, FIVE_SCORE) == pytest.approx(
        lifelines_harrell(FIVE_TIME, FIVE_EVENT, FIVE_SCORE), abs=1e-12
    )
    assert harrell_c(FIVE_TIME, FIVE_EVENT, FIVE_SCORE) == pytest.approx(
        sksurv_harrell(FIVE_TIME, FIVE_EVENT, FIVE_SCORE), abs=1e-12
    )


@PROPERTY
@given(survival_data())
def test_harrell_c_equals_lifelines_and_scikit_survival_with_ties_and_censoring(data):
    time, event, score = data
    ours = harrell_c(time, event, score)
    for reference in (sksurv_harrell(time, event, score), lifelines_harrell(time, event, score)):
        if reference is None:
            assert ours is None
        else:
            assert ours == pytest.approx(reference, abs=1e-9)


@pytest.mark.parametrize(("seed", "score_decimals"), [(1, 1), (2, 3), (3, 6)])
def test_harrell_c_equals_the_libraries_on_a_few_thousand_rows(seed, score_decimals):
    # Six decimals: about 4,000 distinct scores, twelve bit levels; distinct scores stay 1e-6 apart, so
    # scikit-survival's 1e-8 tie tolerance and exact equality agree.
    time, event, score = generated_cohort(4000, seed, score_decimals=score_decimals)
    ours = harrell_c(time, event, score)
    assert ours == pytest.approx(lifelines_harrell(time, event, score), abs=1e-9)
    assert ours == pytest.approx(sksurv_harrell(time, event, score), abs=1e-9)


def test_harrell_c_is_none_without_a_comparable_pair():
    assert harrell_c([1.0, 2.0], [False, False], [0.0, 1.0]) is None
    assert harrell_c([1.0, 2.0], [False, True], [0.0, 1.0]) is None  # the only event is the last time
    assert harrell_c([3.0, 3.0], [True, True], [0.0, 1.0]) is None  # events tied in time
    assert harrell_c([], [], []) is None


def test_harrell_c_of_a_constant_score_is_one_half():
    assert harrell_c([1.0, 2.0, 3.0, 4.0], [True, False, True, True], [7.0] * 4) == 0.5


def test_harrell_c_accepts_zero_one_events_and_refuses_bad_input():
    assert harrell_c(FIVE_TIME, FIVE_EVENT.astype(int), FIVE_SCORE) == pytest.approx(11 / 14, abs=1e-15)
    with pytest.raises(ValueError, match="NaN"):
        harrell_c([1.0, np.nan], [True, True], [0.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        harrell_c([1.0, 2.0], [True, True], [0.0, np.nan])
    with pytest.raises(ValueError, match="0/1"):
        harrell_c([1.0, 2.0], [1, 2], [0.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        harrell_c([1.0, 2.0], [True, True], [0.0])


# --------------------------------------------------------------------------------------------------
# Uno's C
# --------------------------------------------------------------------------------------------------


def sksurv_uno(time: np.ndarray, event: np.ndarray, score: np.ndarray, tau: float) -> float | None:
    y = Surv.from_arrays(event, time)
    try:
        value = concordance_index_ipcw(y, y, score, tau=tau)[0]
    except (NoComparablePairException, ValueError):
        return None
    return None if math.isnan(value) else float(value)


def test_uno_c_of_the_five_patient_table_at_tau_five_is_fifty_nine_eighty_sixths():
    # Censoring Kaplan–Meier (events leave first at a tie): at 2 no censoring, G = 1; at 4 three are
    # at risk of censoring after C's event and one (B) is censored, G = 2/3. Events before tau = 5:
    # A (weight 1/1² = 1) with 4 concordant of 4 pairs; C (weight 1/(2/3)² = 9/4) with 1.5 of 3.
    # (4 + 9/4 · 1.5) / (4 + 9/4 · 3) = (59/8) / (86/8).
    assert uno_c(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, tau=5.0) == pytest.approx(59 / 86, abs=1e-15)
    assert uno_c(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, tau=5.0) == pytest.approx(
        sksurv_uno(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, 5.0), abs=1e-12
    )


@PROPERTY
@given(survival_data(), st.integers(1, 14))
def test_uno_c_equals_scikit_survival_with_ties_and_censoring(data, tau):
    time, event, score = data
    tau = float(tau) if time.max() < 100 else float(tau) * 70
    ours = uno_c(time, event, score, tau=tau)
    reference = sksurv_uno(time, event, score, tau)
    if reference is None:
        assert ours is None
    else:
        assert ours == pytest.approx(reference, abs=1e-6)


@pytest.mark.parametrize(("seed", "score_decimals", "tau"), [(4, 1, 12.0), (5, 6, 6.0), (6, 3, 24.0)])
def test_uno_c_equals_scikit_survival_on_a_few_thousand_rows(seed, score_decimals, tau):
    time, event, score = generated_cohort(4000, seed, score_decimals=score_decimals)
    assert uno_c(time, event, score, tau=tau) == pytest.approx(sksurv_uno(time, event, score, tau), abs=1e-6)


def test_uno_c_without_truncation_weights_equals_harrell_c_when_nothing_is_censored():
    time, _, score = generated_cohort(500, 7, score_decimals=2)
    everyone = np.ones(time.shape[0], dtype=bool)
    assert uno_c(time, everyone, score, tau=math.inf) == pytest.approx(harrell_c(time, everyone, score), abs=1e-12)


def test_uno_c_is_none_when_no_event_precedes_tau():
    assert uno_c(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, tau=2.0) is None


# --------------------------------------------------------------------------------------------------
# Confidence intervals of the C-indices
# --------------------------------------------------------------------------------------------------


def pairwise_variance(time: np.ndarray, event: np.ndarray, score: np.ndarray, weight: np.ndarray) -> tuple:
    """C and its U-statistic SE by enumerating every pair (O(n²), the definition written out).

    Each comparable pair (i earlier event, j later) adds w_i to both members' comparable total and
    w_i · (1, ½ or 0) to both members' concordant total; h_s = concordant_s − C · comparable_s and
    SE = sqrt(Σ h_s²) / Σ_pairs w_i.
    """
    n = time.shape[0]
    concordant, comparable = np.zeros(n), np.zeros(n)
    numerator = denominator = 0.0
    for i in range(n):
        if not event[i] or weight[i] <= 0:
            continue
        for j in range(n):
            if time[i] < time[j] or (time[i] == time[j] and not event[j]):
                value = weight[i] * (1.0 if score[i] > score[j] else 0.5 if score[i] == score[j] else 0.0)
                numerator += value
                denominator += weight[i]
                concordant[[i, j]] += value
                comparable[[i, j]] += weight[i]
    if denominator == 0:
        return None, None
    c = numerator / denominator
    h = concordant - c * comparable
    return c, math.sqrt(float(h @ h)) / denominator


def test_harrell_concordance_of_the_five_patient_table_by_hand():
    # Pairs as in the Harrell's C table above: A–B 1, A–C 1, A–D 1, A–E 1, C–B ½, C–D 0, C–E 1; C = 11/14.
    # Per patient (concordant, comparable) over the pairs it belongs to, h = concordant − 11/14 · comparable:
    # A (4, 4): 12/14; B (1.5, 2): −1/14; C (2.5, 4): −9/14; D (1, 2): −8/14; E (2, 2): 6/14 (they sum to 0).
    # Σ h² = (144 + 1 + 81 + 64 + 36) / 196 = 326/196; SE = sqrt(326)/14 / 7 pairs = sqrt(326)/98.
    result = harrell_concordance(FIVE_TIME, FIVE_EVENT, FIVE_SCORE)
    se = math.sqrt(326) / 98
    assert result.c == pytest.approx(11 / 14, abs=1e-15)
    assert result.se == pytest.approx(se, abs=1e-15)
    assert result.pairs == 7
    assert result.ci == pytest.approx((11 / 14 - Z95 * se, min(1.0, 11 / 14 + Z95 * se)), abs=1e-15)
    assert result.ci[1] == 1.0  # 0.786 + 1.96 · 0.184 is clipped


def test_uno_concordance_of_the_five_patient_table_by_hand():
    # Weights as in the Uno's C table above: A 1, C 9/4 (tau = 5); C = 59/86, weighted pairs D = 86/8.
    # Per patient (concordant, comparable): A (4, 4); B (1 + 9/8, 1 + 9/4); C (1 + 9/8 + 0 + 9/4, 1 + 3 · 9/4);
    # D (1 + 0, 1 + 9/4); E (1 + 9/4, 1 + 9/4). In 344ths, h = 432, −36, −324, −423, 351 (sum 0), so
    # Σ h² = 595026 / 344² and SE = sqrt(595026) / 344 / (86/8) = sqrt(595026) / 3698.
    result = uno_concordance(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, tau=5.0)
    assert result.c == pytest.approx(59 / 86, abs=1e-15)
    assert result.se == pytest.approx(math.sqrt(595026) / 3698, abs=1e-15)
    assert result.pairs == pytest.approx(86 / 8, abs=1e-15)


@PROPERTY
@given(survival_data(), st.integers(1, 14))
def test_concordance_standard_errors_equal_the_pairwise_definition_with_ties_and_censoring(data, tau):
    time, event, score = data
    harrell = harrell_concordance(time, event, score)
    c, se = pairwise_variance(time, event, score, np.ones(time.shape[0]))
    if c is None:
        assert harrell.c is None and harrell.se is None and harrell.ci is None
    else:
        assert harrell.c == pytest.approx(c, abs=1e-12) and harrell.c == harrell_c(time, event, score)
        assert harrell.se == pytest.approx(se, abs=1e-12)
    tau = float(tau) if time.max() < 100 else float(tau) * 70
    uno = uno_concordance(time, event, score, tau=tau)
    reference = sksurv_uno(time, event, score, tau)
    if reference is None:
        assert uno.c is None
        return
    # Censoring weights as scikit-survival's (the Uno's C tests above), pairs enumerated here.
    y = Surv.from_arrays(event, time)
    g = CensoringDistributionEstimator().fit(y).predict_proba(time)
    weight = np.where(event & (time < tau), 1.0 / np.where(g > 0, g, np.inf) ** 2, 0.0)
    c, se = pairwise_variance(time, event, score, weight)
    assert uno.c == pytest.approx(reference, abs=1e-9)
    assert uno.se == pytest.approx(se, rel=1e-9, abs=1e-12)


def bootstrap_cohort(n: int, seed: int, *, categories: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proportional hazards, ~50% censored; a continuous score or three ordered levels (as the model's)."""
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    if categories:
        score = np.digitize(score, (-0.5, 0.5)).astype(float)
    event_time = rng.exponential(10.0 * np.exp(-0.7 * score))
    censor_time = rng.uniform(0.0, 15.0, size=n)
    time = np.round(np.minimum(event_time, censor_time), 1) + 0.1
    event = event_time <= censor_time
    time[0], event[0] = time.max() + 1.0, False  # kept in every resample: Ĝ never reaches 0
    return time, event, score


@pytest.mark.parametrize("categories", [False, True])
def test_concordance_standard_errors_agree_with_a_bootstrap_of_scikit_survival(categories):
    # 1000 seeded resamples of 400 patients; the bootstrap SD's own Monte Carlo error is about 2%.
    time, event, score = bootstrap_cohort(400, 21, categories=categories)
    rng = np.random.default_rng(22)
    harrell, uno = [], []
    for _ in range(1000):
        rows = rng.integers(0, time.shape[0], time.shape[0])
        rows[0] = 0
        harrell.append(concordance_index_censored(event[rows], time[rows], score[rows])[0])
        y = Surv.from_arrays(event[rows], time[rows])
        uno.append(concordance_index_ipcw(y, y, score[rows], tau=12.0)[0])
    ours_harrell = harrell_concordance(time, event, score)
    ours_uno = uno_concordance(time, event, score, tau=12.0)
    assert ours_harrell.se == pytest.approx(np.std(harrell, ddof=1), rel=0.1)
    # Uno's SE holds the censoring weights fixed; the bootstrap re-estimates them in every resample.
    assert ours_uno.se == pytest.approx(np.std(uno, ddof=1), rel=0.1)


def test_concordance_intervals_cover_the_true_value_about_95_percent_of_the_time():
    def cohort(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        score = np.round(rng.normal(size=n), 1)
        event_time = rng.exponential(10.0 * np.exp(-0.7 * score))
        censor_time = np.minimum(rng.uniform(0.0, 40.0, size=n), 30.0)
        return np.round(np.minimum(event_time, censor_time), 1) + 0.1, event_time <= censor_time, score

    # The true values: the same estimators on 400,000 patients of the same design (SE ≈ 0.001).
    truth_harrell = harrell_c(*cohort(400_000, np.random.default_rng(99)))
    truth_uno = uno_c(*cohort(400_000, np.random.default_rng(98)), tau=12.0)
    rng = np.random.default_rng(5)
    covered_harrell = covered_uno = 0
    repeats = 600
    for _ in range(repeats):
        time, event, score = cohort(200, rng)
        low, high = harrell_concordance(time, event, score).ci
        covered_harrell += low <= truth_harrell <= high
        low, high = uno_concordance(time, event, score, tau=12.0).ci
        covered_uno += low <= truth_uno <= high
    # 600 repeats: the binomial SD of a 95% coverage is 0.9 points.
    assert 0.92 <= covered_harrell / repeats <= 0.98
    assert 0.92 <= covered_uno / repeats <= 0.98


def test_concordance_intervals_are_deterministic_and_independent_of_row_order():
    time, event, score = generated_cohort(3000, 31, score_decimals=0)
    first = harrell_concordance(time, event, score)
    assert harrell_concordance(time, event, score) == first
    order = np.random.default_rng(1).permutation(time.shape[0])
    shuffled = harrell_concordance(time[order], event[order], score[order])
    assert shuffled.c == pytest.approx(first.c, abs=1e-12) and shuffled.se == pytest.approx(first.se, rel=1e-9)
    assert uno_concordance(time, event, score, tau=12.0) == uno_concordance(time, event, score, tau=12.0)


def test_concordance_without_a_comparable_pair_has_no_interval_and_the_level_is_checked():
    nothing = harrell_concordance([1.0, 2.0], [False, False], [0.1, 0.2])
    assert (nothing.c, nothing.se, nothing.ci, nothing.pairs) == (None, None, None, 0.0)
    assert uno_concordance(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, tau=2.0).ci is None
    wider = harrell_concordance(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, level=0.99)
    assert wider.ci[0] < harrell_concordance(FIVE_TIME, FIVE_EVENT, FIVE_SCORE).ci[0]
    with pytest.raises(ValueError):
        harrell_concordance(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, level=1.0)


# --------------------------------------------------------------------------------------------------
# Cumulative/dynamic AUC
# --------------------------------------------------------------------------------------------------


def sksurv_auc(time: np.ndarray, event: np.ndarray, score: np.ndarray, at: float) -> float | str | None:
    """scikit-survival's AUC, None where it is undefined, "skip" where it refuses for another reason."""
    y = Surv.from_arrays(event, time)
    try:
        value = sksurv_cumulative_dynamic_auc(y, y, score, at)[0][0]
    except ValueError as error:
        # It needs Ĝ > 0 at every event, even after `at`; ours only at the cases.
        return "skip" if "censoring survival function is zero" in str(error) else None
    return None if math.isnan(value) else float(value)


def test_cumulative_dynamic_auc_of_the_five_patient_table_at_five_is_seven_tenths():
    # Cases by 5: A (event at 2, weight 1/G(2) = 1) and C (event at 4, weight 1/G(4) = 3/2); B is
    # censored at 4, neither. Controls after 5: D (0.8) and E (0.2). A outranks both (2), C only E (1).
    # (1·2 + 3/2·1) / ((1 + 3/2) · 2) = 3.5 / 5.
    assert cumulative_dynamic_auc(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, at=5.0) == pytest.approx(0.7, abs=1e-15)
    assert cumulative_dynamic_auc(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, at=5.0) == pytest.approx(
        sksurv_auc(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, 5.0), abs=1e-12
    )


@PROPERTY
@given(survival_data(), st.floats(0.0, 1.0))
def test_cumulative_dynamic_auc_equals_scikit_survival_with_ties_and_censoring(data, fraction):
    time, event, score = data
    at = float(time.min() + fraction * (time.max() - time.min()))
    ours = cumulative_dynamic_auc(time, event, score, at=at)
    reference = sksurv_auc(time, event, score, at)
    if reference == "skip":
        return
    if reference is None:
        assert ours is None
    else:
        assert ours == pytest.approx(reference, abs=1e-6)


@pytest.mark.parametrize(("seed", "score_decimals", "at"), [(8, 1, 6.0), (9, 6, 6.0), (10, 3, 12.0)])
def test_cumulative_dynamic_auc_equals_scikit_survival_on_a_few_thousand_rows(seed, score_decimals, at):
    time, event, score = generated_cohort(4000, seed, score_decimals=score_decimals)
    assert cumulative_dynamic_auc(time, event, score, at=at) == pytest.approx(
        sksurv_auc(time, event, score, at), abs=1e-6
    )


def test_cumulative_dynamic_auc_is_none_without_cases_or_controls():
    assert cumulative_dynamic_auc(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, at=1.0) is None  # no case yet
    assert cumulative_dynamic_auc(FIVE_TIME, FIVE_EVENT, FIVE_SCORE, at=6.0) is None  # no control left


# --------------------------------------------------------------------------------------------------
# Wilson interval
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "published"),
    [
        # Newcombe RG, Stat Med 1998;17:857–872, Table II, method 3 (score interval without correction).
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
        (29, 29, (0.8830, 1.0)),
    ],
)
def test_wilson_ci_reproduces_newcombes_published_intervals(successes, n, published):
    lower, upper = wilson_ci(successes, n)
    assert lower == pytest.approx(published[0], abs=5e-5)
    assert upper == pytest.approx(published[1], abs=5e-5)


def test_wilson_ci_of_no_success_in_ten_has_the_closed_form_upper_bound():
    # With p = 0 the score interval is [0, z² / (n + z²)].
    assert wilson_ci(0, 10) == pytest.approx((0.0, Z95**2 / (10 + Z95**2)), abs=1e-15)


@PROPERTY
@given(st.integers(1, 100_000), st.floats(0.0, 1.0), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_ci_equals_statsmodels(n, fraction, level):
    successes = round(fraction * n)
    lower, upper = proportion_confint(successes, n, alpha=1 - level, method="wilson")
    assert wilson_ci(successes, n, level=level) == pytest.approx((lower, upper), abs=1e-12)


def test_wilson_ci_is_none_for_no_patients_and_refuses_impossible_counts():
    assert wilson_ci(0, 0) is None
    with pytest.raises(ValueError):
        wilson_ci(3, 2)
    with pytest.raises(ValueError):
        wilson_ci(-1, 2)
    with pytest.raises(ValueError):
        wilson_ci(1, 2, level=1.0)


# --------------------------------------------------------------------------------------------------
# Aalen–Johansen
# --------------------------------------------------------------------------------------------------

# Six patients: event 1 at 1, competing at 2, censored at 3, event 1 and competing tied at 4,
# censored at 5.
SIX_TIME = np.array([1.0, 2.0, 3.0, 4.0, 4.0, 5.0])
SIX_CODE = np.array([1, 2, 0, 1, 2, 0])


def log_log_interval(f: float, variance: float) -> tuple[float, float]:
    spread = Z95 * math.sqrt(variance) / (f * abs(math.log(f)))
    return f ** math.exp(spread), f ** math.exp(-spread)


def test_aalen_johansen_of_the_six_patient_table_by_hand():
    # t=1: 6 at risk, one event 1: F = 1/6, S = 5/6. t=2: 5 at risk, one competing: S = 2/3.
    # t=3: censored. t=4: 3 at risk, one event 1 and one competing: F = 1/6 + 2/3 · 1/3 = 7/18, S = 2/9.
    # Variance at 4 (Collett's formula, terms at 1, 2, 4):
    #   Σ (F(4) − F(u))² d/(Y(Y−d)) = (4/18)²/30 + (4/18)²/20 + 0                 = 1/243
    #   Σ S(u−)² d1 (Y−d1)/Y³        = 1·1·5/216 + 0 + (4/9)·1·2/27               = 109/1944
    #   −2 Σ (F(4) − F(u)) S(u−) d1/Y² = −2 · (4/18) · 1 · 1/36                   = −1/81
    #   total 93/1944 = 31/648. At 3 only the second sum is non-zero: 5/216.
    result = aalen_johansen(SIX_TIME, SIX_CODE, at=[0.5, 3.0, 4.0, 4.5, 5.0, 5.5])
    assert result["at"] == [0.5, 3.0, 4.0, 4.5, 5.0, 5.5]
    assert result["cif"][:5] == pytest.approx([0.0, 1 / 6, 7 / 18, 7 / 18, 7 / 18], abs=1e-15)
    assert result["cif"][5] is None  # after the last observed time, a censoring
    assert result["se"][1] == pytest.approx(math.sqrt(5 / 216), abs=1e-15)
    assert result["se"][2] == pytest.approx(math.sqrt(31 / 648), abs=1e-15)
    assert result["ci"][0] is None  # F = 0: no log(−log) interval
    assert result["ci"][1] == pytest.approx(log_log_interval(1 / 6, 5 / 216), abs=1e-12)
    assert result["ci"][2] == pytest.approx(log_log_interval(7 / 18, 31 / 648), abs=1e-12)
    assert (result["n"], result["events"], result["competing_events"]) == (6, 2, 2)


def test_aalen_johansen_of_the_six_patient_table_equals_scikit_survival_which_keeps_ties():
    times, incidence, interval = cumulative_incidence_competing_risks(
        SIX_CODE, SIX_TIME, conf_type="log-log", var_type="Dinse_Approx"
    )
    result = aalen_johansen(SIX_TIME, SIX_CODE, at=times)
    assert result["cif"] == pytest.approx(list(incidence[1]), abs=1e-12)
    for ours, lower, upper in zip(result["ci"], interval[1, 0], interval[1, 1], strict=True):
        assert ours == pytest.approx((lower, upper), abs=1e-9)


def lifelines_aalen_johansen(time: np.ndarray, code: np.ndarray, at: np.ndarray) -> tuple[list, list, list]:
    """lifelines' estimate, variance and interval at ``at`` (its last row at or before each time)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a jitter warning would mean the data were not tie-free
        fitter = AalenJohansenFitter(calculate_variance=True).fit(time, code, event_of_interest=1)
    rows = np.searchsorted(fitter.cumulative_density_.index.to_numpy(), at, side="right") - 1
    cif = fitter.cumulative_density_.iloc[rows, 0].to_list()
    variance = fitter.variance_.iloc[rows].to_list()
    # lifelines 0.30.3 names its columns the wrong way round ("upper" holds the lower bound).
    bounds = [tuple(sorted(pair)) for pair in fitter.confidence_interval_.iloc[rows].to_numpy()]
    return cif, variance, bounds


@st.composite
def competing_data(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Ties within a kind and with censorings, but not between kinds (lifelines would jitter those)."""
    n = draw(st.integers(1, 60))
    base = np.array(draw(st.lists(st.integers(1, draw(st.sampled_from([4, 15, 500]))), min_size=n, max_size=n)))
    code = np.array(draw(st.lists(st.sampled_from([0, 0, 1, 1, 2]), min_size=n, max_size=n)))
    half = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    time = base + np.where(code == 2, 0.5, np.where(code == 1, 0.0, 0.5 * half))
    return time.astype(float), code


def assert_equals_lifelines(time: np.ndarray, code: np.ndarray, at: np.ndarray) -> None:
    result = aalen_johansen(time, code, at=at)
    cif, variance, bounds = lifelines_aalen_johansen(time, code, at)
    assert result["cif"] == pytest.approx(cif, abs=1e-9)
    for ours_se, ours_ci, f, v, ci in zip(result["se"], result["ci"], cif, variance, bounds, strict=True):
        if not math.isfinite(v):  # lifelines gives NaN from a time where everyone at risk has an event
            continue
        assert ours_se**2 == pytest.approx(v, abs=1e-9)
        if 0 < f < 1:
            assert ours_ci == pytest.approx(ci, abs=1e-6)
        else:
            assert ours_ci is None


@PROPERTY
@given(competing_data(), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4))
def test_aalen_johansen_equals_lifelines_with_ties_and_censoring(data, fractions):
    time, code = data
    at = np.array([time.min() - 0.25 + f * (time.max() - time.min() + 0.25) for f in fractions])
    assert_equals_lifelines(time, code, at)


def test_aalen_johansen_equals_lifelines_on_a_few_thousand_rows():
    rng = np.random.default_rng(11)
    n = 3000
    time = np.round(rng.exponential(10.0, size=n), 1) + 0.1
    code = rng.choice([0, 1, 2], size=n, p=[0.5, 0.3, 0.2])
    time = np.where(code == 2, time + 0.05, time)  # competing events on their own grid
    assert_equals_lifelines(time, code, np.array([1.0, 6.0, 12.0, 24.0]))


@PROPERTY
@given(competing_data(), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4), st.data())
def test_aalen_johansen_equals_scikit_survival_when_both_kinds_tie(data, fractions, draw):
    time, code = data
    # Move some competing events onto the event-1 grid so that the two kinds tie.
    moved = np.array(draw.draw(st.lists(st.booleans(), min_size=time.shape[0], max_size=time.shape[0])))
    time = np.where((code == 2) & moved, time - 0.5, time)
    if not ((code == 1).any() and (code == 2).any()):
        return  # scikit-survival numbers the risks by the largest code present
    at = np.array([time.min() + f * (time.max() - time.min()) for f in fractions])
    with np.errstate(divide="ignore", invalid="ignore"):
        times, incidence, interval = cumulative_incidence_competing_risks(
            code, time, conf_type="log-log", var_type="Dinse_Approx"
        )
    rows = np.searchsorted(times, at, side="right") - 1
    result = aalen_johansen(time, code, at=at)
    assert result["cif"] == pytest.approx(list(incidence[1, rows]), abs=1e-9)
    if (code[time == time.max()] != 0).all():
        # Everyone at risk fails at the last time: scikit-survival's einsum then meets 0·∞ at every
        # time, its variance is NaN and it returns the degenerate interval (F, F) everywhere.
        return
    for ours, f, lower, upper in zip(
        result["ci"], incidence[1, rows], interval[1, 0, rows], interval[1, 1, rows], strict=True
    ):
        if 0 < f < 1 and math.isfinite(lower) and math.isfinite(upper):
            assert ours == pytest.approx((lower, upper), abs=1e-6)


def test_aalen_johansen_takes_a_time_where_everyone_at_risk_fails_as_a_zero_greenwood_term():
    # Competing at 1, then event 1 at 2 for both patients left (Y = d = 2, lifelines gives NaN).
    # t=1: 3 at risk, one competing: S = 2/3, F = 0. t=2: F = 2/3 · 2/2 = 2/3, S = 0.
    # Variance at 2: first sum (2/3 − 0)² · 1/(3·2) = 2/27 at u=1, and 0² · 2/(2·0) taken as 0 at u=2;
    # second sum 0 (u=1: no event 1; u=2: d1 (Y − d1) = 0); third sum 0 (d1 = 0, then F(2) − F(2) = 0).
    # Everyone has had an event by 2, so the estimate stays defined after the last time (at 12).
    result = aalen_johansen([1.0, 2.0, 2.0], [2, 1, 1], at=[2.0, 12.0])
    assert result["cif"] == pytest.approx([2 / 3, 2 / 3], abs=1e-15)
    assert result["se"] == pytest.approx([math.sqrt(2 / 27)] * 2, abs=1e-15)
    assert result["ci"][0] == pytest.approx(log_log_interval(2 / 3, 2 / 27), abs=1e-12)
    assert result["ci"][1] == result["ci"][0]


def test_aalen_johansen_refuses_unknown_codes_and_handles_no_patients():
    with pytest.raises(ValueError, match="event_code"):
        aalen_johansen([1.0, 2.0], [0, 3], at=[1.0])
    assert aalen_johansen([], [], at=[6.0, 12.0])["cif"] == [None, None]


# --------------------------------------------------------------------------------------------------
# Likelihood-ratio test
# --------------------------------------------------------------------------------------------------


def test_likelihood_ratio_test_by_hand():
    # chi2 = 2 (−97 − (−100)) = 6 on 2 df; the χ²₂ survival function is exp(−x/2) = e^−3.
    assert likelihood_ratio_test(-100.0, -97.0, 2) == {
        "chi2": 6.0,
        "df": 2,
        "p": pytest.approx(math.exp(-3), abs=1e-15),
    }


@PROPERTY
@given(st.floats(-1e5, 0.0), st.floats(0.0, 50.0), st.integers(1, 10))
def test_likelihood_ratio_test_equals_scipy(loglik_small, gain, df):
    result = likelihood_ratio_test(loglik_small, loglik_small + gain, df)
    chi2 = 2 * ((loglik_small + gain) - loglik_small)
    assert result["chi2"] == pytest.approx(chi2, abs=1e-9)
    assert result["df"] == df
    assert result["p"] == pytest.approx(stats.chi2.sf(chi2, df), abs=1e-12)


def test_likelihood_ratio_test_refuses_a_larger_model_that_fits_worse():
    assert likelihood_ratio_test(-10.0, -10.0 - 1e-12, 1)["chi2"] == 0.0  # rounding
    with pytest.raises(ValueError, match="fits worse"):
        likelihood_ratio_test(-10.0, -11.0, 1)
    with pytest.raises(ValueError):
        likelihood_ratio_test(-10.0, -9.0, 0)


# --------------------------------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------------------------------


def test_benchmark_times_every_function():
    timings = benchmark(2000)
    assert set(timings) == {
        "n",
        "harrell_c",
        "harrell_c_three_categories",
        "harrell_concordance",
        "uno_c",
        "uno_concordance",
        "cumulative_dynamic_auc",
        "aalen_johansen",
    }
    assert all(value >= 0 for value in timings.values())
