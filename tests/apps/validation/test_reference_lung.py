"""Published reference values of a real, public survival data set, fed through the registry's own records.

The NCCTG lung data (``lifelines.datasets.load_lung``, R ``survival::lung``) are entered as patients,
ICI-1 courses, first rechallenge episodes, follow-ups and locked assessments (female favourable, male
unfavourable; ``cohorts.lung_cohort``); the validation run then reads them back from the database,
derives the endpoints set-wise and computes its statistics. Population ``primary`` (every lock is
prospective, at the rechallenge start), endpoint OS — and PFS2, which equals OS here because lung
has no progression and a censored patient's last tumour assessment is on their last contact.

Published (R ``survfit``/``survdiff``/``coxph`` on ``Surv(time, status) ~ sex``): median survival
426 days (female) and 270 days (male), log-rank chi-squared 10.3 on 1 df (p = 0.0013), Cox
coefficient of female sex −0.531 (hazard ratio male vs female 1.70).
"""

from __future__ import annotations

import math

import pytest

from registry.dates import DAYS_PER_MONTH

from .cohorts import COX_COEF_FEMALE, LOGRANK_CHI2, MEDIAN_DAYS

pytestmark = pytest.mark.django_db


def test_lung_through_the_registry_reproduces_the_published_medians_log_rank_and_hazard_ratio(lung, lung_run):
    metrics = lung_run.metrics
    primary = metrics["populations"]["primary"]

    assert lung.patients == 228 and lung.deaths == 165
    assert primary["n"] == 228
    assert sum(primary["excluded"].values()) == 0
    categories = primary["categories"]
    assert (categories["favourable"]["n"], categories["unfavourable"]["n"], categories["intermediate"]["n"]) == (
        90,
        138,
        0,
    )
    assert categories["favourable"]["events"] + categories["unfavourable"]["events"] == 165
    for category, days in MEDIAN_DAYS.items():
        assert categories[category]["median_os_months"] == pytest.approx(days / DAYS_PER_MONTH, abs=1e-6)
        # PFS2 is OS here (no progression; censored patients assessed on their last contact).
        assert categories[category]["median_pfs2_months"] == pytest.approx(days / DAYS_PER_MONTH, abs=1e-6)

    assert primary["logrank"]["df"] == 1
    assert primary["logrank"]["chi2"] == pytest.approx(LOGRANK_CHI2, abs=0.05)
    assert primary["logrank"]["p"] == pytest.approx(0.0013, abs=0.0002)
    assert primary["cox"]["unfavourable"]["hr"] == pytest.approx(math.exp(-COX_COEF_FEMALE), rel=2e-3)
    assert primary["cox"]["intermediate"] is None

    # The sensitivity population holds the same episodes (every lock is prospective and on time).
    assert metrics["populations"]["all_locked"]["logrank"] == primary["logrank"]
    assert not lung_run.is_synthetic
