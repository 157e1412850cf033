"""The validation metrics (registry/validation/report.py): shape, determinism, the data hash, and every
figure re-derived with lifelines / scikit-survival / statsmodels on the same rows.

The frame comes from the benchmark's seeded generator (``bench/validation_bench.py``), small; the
NCCTG lung data go through the whole function to land on their published values.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_lung
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import concordance_index, median_survival_times, restricted_mean_survival_time
from sksurv.metrics import concordance_index_ipcw, cumulative_dynamic_auc
from sksurv.nonparametric import cumulative_incidence_competing_risks
from sksurv.util import Surv
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.proportion import proportion_confint

from bench.validation_bench import DATA_CUT, MODEL_VERSION, generate_frame
from registry.dates import DAYS_PER_MONTH
from registry.derive import RECURRENCE_KINDS
from registry.validation import build_populations, data_hash, potential_follow_up, validation_metrics
from registry.validation.discrimination import harrell_concordance, uno_concordance
from registry.validation.populations import INPUT_COLUMNS

TIGHT = {"precision": 1e-12}
ROUNDING = 1.5e-6  # the metrics are rounded to 6 decimals


def metrics_of(frame: pd.DataFrame) -> dict:
    return validation_metrics(frame, data_cut=DATA_CUT, model_version=MODEL_VERSION, model_hash="abc")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_frame(4000, sites=6, seed=3)


@pytest.fixture(scope="module")
def metrics(frame) -> dict:
    return metrics_of(frame)


@pytest.fixture(scope="module")
def primary(frame) -> pd.DataFrame:
    return build_populations(frame, data_cut=DATA_CUT)["primary"]


def pfs2(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return rows["pfs2_months"].to_numpy(float), rows["pfs2_event"].astype(bool).to_numpy()


# --- shape and determinism -----------------------------------------------------------------------------


def test_metrics_have_the_documented_shape(metrics):
    assert set(metrics["run"]) >= {"model_version", "model_hash", "data_cut", "data_hash"}
    assert metrics["run"]["data_cut"] == "2026-10-31"
    assert set(metrics["populations"]) == {"primary", "all_locked"}
    for population in metrics["populations"].values():
        assert set(population) >= {
            "n", "excluded", "categories", "logrank", "logrank_trend", "cox", "ph_test", "c_index", "auc_6m",
            "incremental", "recurrence", "review_comparison", "heterogeneity",
        }  # fmt: skip
        assert set(population["categories"]) == {"favourable", "intermediate", "unfavourable"}
        for category in population["categories"].values():
            assert set(category) >= {
                "n", "events", "median_pfs2_months", "median_pfs2_ci", "pfs2_6m", "pfs2_12m", "median_os_months",
                "rmst_pfs2_12m", "median_follow_up_months", "orr", "orr_ci", "dcr", "dcr_ci", "orr_evaluable",
            }  # fmt: skip
        assert set(population["logrank"]) >= {"chi2", "df", "p"}
        assert set(population["cox"]) == {"intermediate", "unfavourable"}
        assert set(population["cox"]["unfavourable"]) >= {"hr", "ci", "p"}
        assert set(population["c_index"]) >= {"harrell", "uno", "harrell_ci", "uno_ci", "harrell_se", "uno_se"}
        for name in ("harrell", "uno"):
            low, high = population["c_index"][f"{name}_ci"]
            assert low < population["c_index"][name] < high


def test_metrics_are_plain_json_without_nan(metrics):
    json.dumps(metrics, allow_nan=False)


def test_notes_say_the_model_is_prognostic(metrics):
    assert any("prognostic" in note and "benefit of rechallenge" in note for note in metrics["notes"])
    assert metrics["populations"]["primary"]["review_comparison"]["label"] == "descriptive"


def test_the_same_frame_gives_byte_identical_json_whatever_the_row_order(frame, metrics):
    again = metrics_of(frame)
    shuffled = metrics_of(frame.sample(frac=1.0, random_state=7))
    assert json.dumps(again, sort_keys=True) == json.dumps(metrics, sort_keys=True)
    assert json.dumps(shuffled, sort_keys=True) == json.dumps(metrics, sort_keys=True)


def test_the_data_hash_does_not_depend_on_column_types(frame):
    plain = frame.copy()
    plain["pfs2_event"] = plain["pfs2_event"].astype(object).where(plain["pfs2_event"].notna(), None)
    plain["is_retrospective"] = plain["is_retrospective"].astype(object)
    plain["rechallenge_start"] = pd.to_datetime(plain["rechallenge_start"]).dt.date
    plain = plain[list(reversed(plain.columns))]
    assert data_hash(plain) == data_hash(frame)


def test_one_changed_outcome_changes_the_data_hash(frame, metrics):
    changed = frame.copy()
    changed.loc[changed.index[10], "pfs2_months"] += 1 / DAYS_PER_MONTH
    assert metrics_of(changed)["run"]["data_hash"] != metrics["run"]["data_hash"]
    flipped = frame.copy()
    flipped.loc[flipped.index[11], "objective_response"] = not flipped.loc[flipped.index[11], "objective_response"]
    assert data_hash(flipped) != data_hash(frame)


def test_rows_of_another_model_version_are_ignored_but_counted(frame, metrics):
    other = frame.head(50).assign(model_version="1.0", category="unfavourable")
    with_other = metrics_of(pd.concat([frame, other], ignore_index=True))
    assert with_other["run"]["rows_of_other_model_versions"] == 50
    assert with_other["run"]["data_hash"] == metrics["run"]["data_hash"]
    assert with_other["populations"] == metrics["populations"]


def test_exclusions_add_up_to_the_episodes(metrics, frame):
    for population in metrics["populations"].values():
        assert population["n"] + sum(population["excluded"].values()) == frame["episode_id"].nunique()
        assert population["n"] == sum(category["n"] for category in population["categories"].values())


# --- every figure against the libraries ------------------------------------------------------------


def test_category_figures_match_lifelines_and_statsmodels(metrics, primary):
    analysed = primary.analysed
    window6 = potential_follow_up(analysed, DATA_CUT, 6)
    window12 = potential_follow_up(analysed, DATA_CUT, 12)
    for name, figures in metrics["populations"]["primary"]["categories"].items():
        rows = (analysed["category"] == name).to_numpy()
        t, e = pfs2(analysed[rows])
        kmf = KaplanMeierFitter().fit(t, e)
        assert figures["n"] == rows.sum() and figures["events"] == e.sum()
        assert figures["median_pfs2_months"] == pytest.approx(kmf.median_survival_time_, abs=ROUNDING)
        ci = median_survival_times(kmf.confidence_interval_).iloc[0].tolist()
        assert figures["median_pfs2_ci"] == pytest.approx(ci, abs=ROUNDING)
        for months, window in ((6, window6), (12, window12)):
            landmark = KaplanMeierFitter().fit(*pfs2(analysed[rows & window]))
            assert figures[f"pfs2_{months}m"] == pytest.approx(
                float(landmark.survival_function_at_times(months).iloc[0]), abs=ROUNDING
            )
            bounds = landmark.confidence_interval_.loc[:months].iloc[-1].tolist()
            assert figures[f"pfs2_{months}m_ci"] == pytest.approx(bounds, abs=ROUNDING)
        rmst = restricted_mean_survival_time(KaplanMeierFitter().fit(*pfs2(analysed[rows & window12])), t=12)
        assert figures["rmst_pfs2_12m"] == pytest.approx(rmst, abs=ROUNDING)
        os_time = analysed.loc[rows, "os_months"].to_numpy(float)
        os_event = analysed.loc[rows, "os_event"].astype(bool).to_numpy()
        assert figures["median_os_months"] == pytest.approx(
            KaplanMeierFitter().fit(os_time, os_event).median_survival_time_, abs=ROUNDING
        )
        assert figures["median_follow_up_months"] == pytest.approx(
            KaplanMeierFitter().fit(os_time, ~os_event).median_survival_time_, abs=ROUNDING
        )
        responders = int(analysed.loc[rows, "objective_response"].sum())
        assert figures["orr"] == pytest.approx(responders / rows.sum(), abs=ROUNDING)
        assert figures["orr_ci"] == pytest.approx(
            list(proportion_confint(responders, rows.sum(), method="wilson")), abs=ROUNDING
        )
        evaluable = analysed.loc[rows, "response_evaluable"].to_numpy(bool)
        controlled = analysed.loc[rows, "disease_control"].to_numpy(bool)
        assert figures["dcr_evaluable"] == pytest.approx(controlled[evaluable].mean(), abs=ROUNDING)


def test_logrank_cox_and_concordance_match_the_libraries(metrics, primary):
    analysed = primary.analysed
    result = metrics["populations"]["primary"]
    t, e = pfs2(analysed)
    category = analysed["category"].to_numpy(object)
    theirs = multivariate_logrank_test(t, category, e)
    assert result["logrank"]["chi2"] == pytest.approx(theirs.test_statistic, abs=ROUNDING)
    assert result["logrank"]["df"] == 2

    design = pd.DataFrame(
        {"T": t, "E": e, "intermediate": category == "intermediate", "unfavourable": category == "unfavourable"}
    ).astype(float)
    cph = CoxPHFitter().fit(design, "T", "E", fit_options=TIGHT)
    for name in ("intermediate", "unfavourable"):
        assert result["cox"][name]["hr"] == pytest.approx(float(np.exp(cph.params_[name])), abs=ROUNDING)
        assert result["cox_model"]["model_based_se"][name] == pytest.approx(cph.standard_errors_[name], abs=ROUNDING)
    # Six sites are too few for a site-clustered sandwich: the model-based interval, as lifelines gives it.
    assert result["cox_model"]["n_sites"] == 6
    assert result["cox_model"]["variance"].startswith("model-based (6 sites")
    for name in ("intermediate", "unfavourable"):
        low, high = np.exp(cph.confidence_intervals_.loc[name]).to_numpy()
        assert result["cox"][name]["ci"] == pytest.approx([low, high], abs=1e-5)

    score = analysed["score"].to_numpy(float)
    assert result["c_index"]["harrell"] == pytest.approx(concordance_index(t, score, e), abs=ROUNDING)
    window12 = potential_follow_up(analysed, DATA_CUT, 12)
    survival = Surv.from_arrays(e[window12], t[window12])
    uno = concordance_index_ipcw(survival, survival, -score[window12], tau=12.0)[0]
    assert result["c_index"]["uno"] == pytest.approx(uno, abs=ROUNDING)
    # The intervals are those of the discrimination module (tested there) on these same episodes.
    harrell_ci = harrell_concordance(t, e, -score)
    uno_ci = uno_concordance(t[window12], e[window12], -score[window12], tau=12.0)
    assert result["c_index"]["harrell_ci"] == pytest.approx(list(harrell_ci.ci), abs=ROUNDING)
    assert result["c_index"]["harrell_se"] == pytest.approx(harrell_ci.se, abs=ROUNDING)
    assert result["c_index"]["uno_ci"] == pytest.approx(list(uno_ci.ci), abs=ROUNDING)
    assert result["c_index"]["uno_se"] == pytest.approx(uno_ci.se, abs=ROUNDING)
    window6 = potential_follow_up(analysed, DATA_CUT, 6)
    survival6 = Surv.from_arrays(e[window6], t[window6])
    auc = cumulative_dynamic_auc(survival6, survival6, -score[window6], [6.0])[0][0]
    assert result["auc_6m"] == pytest.approx(auc, abs=ROUNDING)


def test_incremental_value_is_the_likelihood_ratio_of_nested_lifelines_models(metrics, primary):
    analysed = primary.analysed
    t, e = pfs2(analysed)
    stop = pd.get_dummies(analysed["stop_reason"].fillna("not_recorded"), dtype=float)
    stop = stop.drop(columns="progression").reset_index(drop=True)
    base = pd.DataFrame({"T": t, "E": e.astype(float)})
    small = CoxPHFitter().fit(pd.concat([base, stop], axis=1), "T", "E", fit_options=TIGHT)
    category = analysed["category"].to_numpy(object)
    extra = pd.DataFrame({"i": category == "intermediate", "u": category == "unfavourable"}).astype(float)
    full = CoxPHFitter().fit(pd.concat([base, stop, extra], axis=1), "T", "E", fit_options=TIGHT)
    incremental = metrics["populations"]["primary"]["incremental"]
    assert incremental["stop_reason_reference"] == "progression"
    assert incremental["lr"]["chi2"] == pytest.approx(2 * (full.log_likelihood_ - small.log_likelihood_), abs=1e-5)
    assert incremental["lr"]["df"] == 2
    c_full = concordance_index(t, -full.predict_partial_hazard(pd.concat([stop, extra], axis=1)), e)
    assert incremental["c_with_category"] == pytest.approx(c_full, abs=ROUNDING)


def test_review_comparison_medians_match_lifelines_beside_the_published_figures(metrics, primary):
    eligible = primary.eligible
    eligible = eligible[eligible["pfs2_months"].notna()]
    comparison = metrics["populations"]["primary"]["review_comparison"]
    for reason, published in (("toxicity", 5.1), ("progression", 2.9)):
        rows = eligible[eligible["stop_reason"] == reason]
        kmf = KaplanMeierFitter().fit(*pfs2(rows))
        assert comparison[reason]["n"] == len(rows)
        assert comparison[reason]["median_pfs2_months"] == pytest.approx(kmf.median_survival_time_, abs=ROUNDING)
        assert comparison[reason]["published_median_pfs2_months"] == published


def test_recurrence_incidence_matches_scikit_survival(metrics, primary):
    eligible = primary.eligible
    window = potential_follow_up(eligible, DATA_CUT, 12)
    for kind in RECURRENCE_KINDS:
        time = eligible[f"recurrence_{kind}_months"].to_numpy(float)
        code = eligible[f"recurrence_{kind}_event_code"].to_numpy(float, na_value=np.nan)
        rows = window & ~np.isnan(time) & ~np.isnan(code)
        times, incidence = cumulative_incidence_competing_risks(code[rows].astype(int), time[rows])
        expected = incidence[1][np.searchsorted(times, 12.0, side="right") - 1]
        assert metrics["populations"]["primary"]["recurrence"][kind]["overall"]["cif_12m"] == pytest.approx(
            expected, abs=ROUNDING
        )
    by_prior = metrics["populations"]["primary"]["recurrence"]["any_grade"]["by_prior_irae"]
    assert set(by_prior) == {"yes", "no", "not_recorded"}


def test_heterogeneity_cells_are_per_site_cox_models_pooled_by_dersimonian_laird(metrics, primary):
    analysed = primary.analysed
    by_site = metrics["populations"]["primary"]["heterogeneity"]["by_site"]
    assert set(by_site["cells"]) == set(analysed["site"])
    rows = analysed[analysed["site"] == "S002"]
    t, e = pfs2(rows)
    category = rows["category"].to_numpy(object)
    design = pd.DataFrame({"T": t, "E": e, "i": category == "intermediate", "u": category == "unfavourable"})
    cph = CoxPHFitter().fit(design.astype(float), "T", "E", fit_options=TIGHT)
    assert by_site["cells"]["S002"]["unfavourable"]["hr"] == pytest.approx(np.exp(cph.params_["u"]), abs=ROUNDING)
    cells = [by_site["cells"][name]["unfavourable"] for name in sorted(by_site["cells"])]
    pooled = combine_effects(
        np.array([cell["log_hr"] for cell in cells]),
        np.array([cell["se_log_hr"] ** 2 for cell in cells]),
        method_re="dl",
    )
    summary = by_site["summary"]["unfavourable_vs_favourable"]
    assert summary["k"] == 6
    # From the rounded cell figures. statsmodels leaves I² and τ² negative when Q < df; DerSimonian &
    # Laird and Higgins & Thompson truncate them at 0, and then the random-effects summary is the fixed one.
    assert summary["q"] == pytest.approx(pooled.q, abs=1e-4)
    assert summary["i2"] == pytest.approx(max(0.0, pooled.i2), abs=1e-4)
    assert summary["tau2"] == pytest.approx(max(0.0, pooled.tau2), abs=1e-4)
    expected = pooled.mean_effect_re if pooled.tau2 > 0 else pooled.mean_effect_fe
    assert summary["random"]["hr"] == pytest.approx(np.exp(expected), abs=1e-4)


def test_small_and_incomplete_cells_are_flagged_not_hidden(frame):
    small = frame.copy()
    first = small[(small["sequence_number"] == 1) & ~small["is_reassessment"]].head(12).index
    small.loc[first, "site"] = "TINY"
    small.loc[first, "category"] = "favourable"
    cells = metrics_of(small)["populations"]["all_locked"]["heterogeneity"]["by_site"]
    tiny = cells["cells"]["TINY"]
    assert "fewer_than_10_events" in tiny["flags"]
    assert "missing_category:unfavourable" in tiny["flags"]
    assert tiny["unfavourable"] is None
    assert "TINY" in cells["summary"]["unfavourable_vs_favourable"]["cells_not_estimable"]


# --- the NCCTG lung data through the whole run --------------------------------------------------------


def lung_frame() -> pd.DataFrame:
    """R survival::lung as a validation frame: women 'favourable', men 'intermediate', one site, days as months."""
    data = load_lung()
    n = len(data)
    start = dt.date(2000, 1, 1)
    frame = pd.DataFrame(
        {
            "episode_id": np.arange(1, n + 1),
            "patient_id": np.arange(1, n + 1),
            "site": "NCCTG",
            "country": "US",
            "tumour_type": "NSCLC",
            "sequence_number": 1,
            "rechallenge_start": start,
            "locked_at": pd.Timestamp("2000-01-01 09:00", tz="UTC"),
            "is_retrospective": False,
            "is_reassessment": False,
            "model_version": "lung",
            "category": np.where(data["sex"] == 2, "favourable", "intermediate"),
            "score": np.where(data["sex"] == 2, 1.0, 0.0),
            "stop_reason": "progression",
            "strategy": "monotherapy",
            "prior_irae_any": False,
            "pfs2_months": data["time"].to_numpy(float) / DAYS_PER_MONTH,
            "pfs2_event": data["status"].to_numpy() == 1,
            "os_months": data["time"].to_numpy(float) / DAYS_PER_MONTH,
            "os_event": data["status"].to_numpy() == 1,
            "objective_response": False,
            "disease_control": False,
            "response_evaluable": False,
        }
    )
    return frame[[column for column in INPUT_COLUMNS if column in frame.columns]]


def test_lung_data_through_the_run_give_the_published_medians_logrank_and_hazard_ratio():
    metrics = validation_metrics(lung_frame(), data_cut=dt.date(2010, 1, 1), model_version="lung", model_hash="-")
    primary = metrics["populations"]["primary"]
    women, men = primary["categories"]["favourable"], primary["categories"]["intermediate"]
    assert round(women["median_pfs2_months"] * DAYS_PER_MONTH) == 426
    assert round(men["median_pfs2_months"] * DAYS_PER_MONTH) == 270
    assert round(primary["logrank"]["chi2"], 1) == 10.3 and primary["logrank"]["df"] == 1
    assert round(primary["logrank"]["p"], 4) == 0.0013
    # Published: women vs men HR 0.588 (0.424–0.816); the report gives men vs women, its inverse.
    cox = primary["cox"]["intermediate"]
    assert round(1 / cox["hr"], 3) == 0.588
    assert (round(1 / cox["ci"][1], 3), round(1 / cox["ci"][0], 3)) == (0.424, 0.816)
    assert primary["cox_model"]["variance"].startswith("model-based (1 site")
    assert primary["cox"]["unfavourable"] is None


def test_with_enough_sites_the_hazard_ratios_get_the_site_clustered_sandwich_variance():
    from registry.validation.survival import cox_ph

    clustered_frame = generate_frame(3000, sites=12, seed=5)
    result = metrics_of(clustered_frame)["populations"]["primary"]
    assert result["cox_model"]["n_sites"] == 12
    assert result["cox_model"]["variance"] == "robust, clustered by site"
    analysed = build_populations(clustered_frame, data_cut=DATA_CUT)["primary"].analysed
    t, e = pfs2(analysed)
    category = analysed["category"].to_numpy(object)
    x = np.column_stack([category == "intermediate", category == "unfavourable"]).astype(float)
    fit = cox_ph(t, e, x, names=["intermediate", "unfavourable"], clusters=analysed["site"].to_numpy(object))
    assert result["cox"]["unfavourable"]["ci"] == pytest.approx(list(fit.ci()[1]), abs=1e-5)
