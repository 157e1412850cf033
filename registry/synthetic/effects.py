"""Prognostic effects built into the synthetic cohort: hazard ratios on PFS and OS after rechallenge.

So a validation run on demo data has something to find, each episode's outcome hazards are scaled
by the baseline factors it has (ECOG, PFS on the preceding course, treatment-free interval, prior
irAE severity), each with its source or "assumed"; :func:`proportional_hazards_time` moves a
baseline time to the same quantile under the scaled hazard.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PrognosticEffect:
    """A baseline factor of a rechallenge and its hazard ratios on PFS and OS after rechallenge.

    The hazard ratios are those a Cox model stratified by rechallenge type and combination regimen
    recovers from the generated cohort (``tests/registry/test_synthetic.py`` checks it on 20,000
    patients). ``source`` says where the value comes from, or that it is assumed.
    """

    name: str
    exposed: str
    reference: str
    hr_pfs2: float
    hr_os: float
    source: str


#: The prognostic effects built into the cohort, so a validation run on demo data has something to find.
PROGNOSTIC_EFFECTS: tuple[PrognosticEffect, ...] = (
    PrognosticEffect(
        name="ecog_2_or_more",
        exposed="ECOG ≥ 2 at rechallenge",
        reference="ECOG 0–1",
        hr_pfs2=1.8,
        hr_os=2.0,
        source=(
            "Dall'Olio et al., Lung Cancer 2020;145:95–104 (meta-analysis, 19 real-world ICI cohorts, NSCLC): "
            "pooled unadjusted HR 2.72 for OS and 2.39 for PFS; in ICI rechallenge, J Clin Med 2020;9(1):102 "
            "(35 NSCLC patients, multivariable): HR 2.38 for PFS. Set lower than the pooled unadjusted HRs, "
            "as an adjusted effect; the exact values are our choice."
        ),
    ),
    PrognosticEffect(
        name="pfs1_under_6_months",
        exposed="progression within 6 calendar months of the preceding course's start (primary resistance)",
        reference="no progression within 6 months",
        hr_pfs2=1.6,
        hr_os=1.4,
        source=(
            "assumed. Direction: the review's PFS1 ≥ 6 months criterion (Lu & Xie 2026) and longer initial ICI "
            "benefit going with better rechallenge outcomes (Plazy et al., Curr Oncol Rep 2022); no pooled HR."
        ),
    ),
    PrognosticEffect(
        name="tfi_under_6_months",
        exposed="treatment-free interval < 6 calendar months",
        reference="TFI ≥ 6 months",
        hr_pfs2=1.3,
        hr_os=1.2,
        source="assumed. Direction: the review names a long treatment-free interval as a predictor (Lu & Xie 2026).",
    ),
    PrognosticEffect(
        name="prior_irae_grade_3_or_more",
        exposed="a grade ≥ 3 irAE during the preceding course",
        reference="prior irAEs of grade ≤ 2 or none",
        hr_pfs2=1.15,
        hr_os=1.3,
        source=(
            "assumed. Severe irAEs need high-dose or long immunosuppression and leave sequelae; the literature "
            "is mixed (any irAE goes with better ICI outcomes: meta-analysis, BMC Med 2020, "
            "doi:10.1186/s12916-020-01549-2), so both values are ours."
        ),
    ),
)
_EFFECTS = {effect.name: effect for effect in PROGNOSTIC_EFFECTS}
#: Hazard ratios on survival *after progression*, calibrated (with the HR on progression, which OS
#: inherits) so that the Cox HR of OS in the cohort is ``hr_os``; death without progression takes ``hr_os``.
_POST_PROGRESSION_HR = {
    "ecog_2_or_more": 1.55,
    "pfs1_under_6_months": 1.13,
    "tfi_under_6_months": 1.05,
    "prior_irae_grade_3_or_more": 1.22,
}


@dataclass(frozen=True, slots=True)
class Hazards:
    """Hazard multipliers of one episode: on progression, on death after progression, on death without it."""

    progression: float = 1.0
    after_progression: float = 1.0
    death: float = 1.0

    @classmethod
    def of(cls, exposures: Collection[str]) -> Hazards:
        return cls(
            progression=math.prod(_EFFECTS[name].hr_pfs2 for name in exposures),
            after_progression=math.prod(_POST_PROGRESSION_HR[name] for name in exposures),
            death=math.prod(_EFFECTS[name].hr_os for name in exposures),
        )


def proportional_hazards_time(days: float, hazard_ratio: float, survival: Callable[[float], float]) -> float:
    """The time with survival ``S0(days) ** (1 / hr)`` under ``S0``: the same quantile with hazards × ``hr``.

    Drawing a baseline time and moving it so gives exactly ``S(t) = S0(t) ** hr``, proportional hazards,
    whatever the shape of ``S0`` (here a mixture of responders and non-responders), without a random draw.
    """
    if hazard_ratio == 1.0:
        return days
    target = survival(days) ** (1 / hazard_ratio)
    if target >= 1.0:
        return days
    # The baseline is progression-free for a day (S0 = 1 up to day 1), so no time moves below it.
    low, high = (1.0, days) if hazard_ratio > 1.0 else (days, days * 2)
    while hazard_ratio < 1.0 and survival(high) > target:
        low, high = high, high * 2
    while high - low > 0.25:
        middle = (low + high) / 2
        if survival(middle) > target:
            low = middle
        else:
            high = middle
    return (low + high) / 2
