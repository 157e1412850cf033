"""Shared builders and hypothesis strategies for the decision-model tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from registry.decision import DecisionInputs, ModelSpec, PriorIraeInput
from registry.vocabularies import CTCAE_TERMS, REGIMEN_TYPES, SEVERE_NEUROLOGICAL_TERMS, STOP_REASONS

#: Worst first; ``insufficient_data`` is deliberately absent (it is not on the same scale).
CATEGORY_RANK = {"contraindicated": 0, "unfavourable": 1, "intermediate": 2, "favourable": 3}

BASE = DecisionInputs(
    pfs1_months=8.0,
    tfi_months=8.0,
    progressed_on_ici1=False,
    ecog=1,
    prior_iraes=(),
    current_prednisone_mg_per_day=0.0,
    stop_reason="planned_completion",
    strategy="monotherapy",
)


def make(**changes: Any) -> DecisionInputs:
    """The reference case (score 5, favourable) with ``changes`` applied."""
    return dataclasses.replace(BASE, **changes)


def irae(term: str, grade: int, resolved: int | None = 0, **flags: bool | None) -> PriorIraeInput:
    return PriorIraeInput(term, grade, resolved, **flags)


def is_endocrine(code: str) -> bool:
    return CTCAE_TERMS.get(code).organ_category == "endocrine"


def complete(inputs: DecisionInputs, spec: ModelSpec) -> bool:
    """Every key input the spec needs is recorded.

    1.0 needs the current grade of every prior irAE. 1.1 also needs the prednisone dose and the
    steroid-refractoriness of every grade ≥ 3 non-endocrine irAE, but not the current grade of a grade 1
    irAE or of an endocrinopathy controlled on hormone replacement.
    """
    if (
        inputs.pfs1_months is None
        or inputs.tfi_months is None
        or inputs.progressed_on_ici1 is None
        or inputs.ecog is None
        or inputs.prior_iraes is None
    ):
        return False
    if spec.version == "1.0":
        return all(item.resolved_to_grade is not None for item in inputs.prior_iraes)
    return inputs.current_prednisone_mg_per_day is not None and all(
        _irae_complete_v1_1(item) for item in inputs.prior_iraes
    )


def _irae_complete_v1_1(item: PriorIraeInput) -> bool:
    endocrine = is_endocrine(item.ctcae_term)
    grade_known = (
        item.resolved_to_grade is not None or item.grade == 1 or (endocrine and item.controlled_on_replacement)
    )
    refractoriness_known = item.steroid_refractory is not None or item.grade < 3 or endocrine
    return grade_known and refractoriness_known


def optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """``strategy`` or, one time in five, None (not recorded): mostly complete cases."""
    return st.one_of(st.none(), strategy, strategy, strategy, strategy)


months = st.one_of(
    st.floats(min_value=0, max_value=120, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 2.99, 3.0, 5.99, 6.0, 11.99, 12.0]),
)
doses = st.one_of(
    st.floats(min_value=0, max_value=80, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 5.0, 9.9, 10.0, 20.0]),
)


@st.composite
def prior_iraes(draw: st.DrawFn) -> PriorIraeInput:
    term = draw(st.sampled_from(CTCAE_TERMS.codes()))
    grade = draw(st.integers(1, 5))
    resolved = draw(optional(st.integers(0, grade)))
    controlled = draw(st.booleans()) if is_endocrine(term) else False
    refractory = draw(st.sampled_from([False, False, True, None]))
    return PriorIraeInput(term, grade, resolved, refractory, controlled)


@st.composite
def decision_inputs(draw: st.DrawFn) -> DecisionInputs:
    return DecisionInputs(
        pfs1_months=draw(optional(months)),
        pfs1_event=draw(optional(st.booleans())),
        tfi_months=draw(optional(months)),
        progressed_on_ici1=draw(optional(st.booleans())),
        ecog=draw(optional(st.integers(0, 4))),
        prior_iraes=draw(optional(st.lists(prior_iraes(), max_size=3).map(tuple))),
        current_prednisone_mg_per_day=draw(optional(doses)),
        stop_reason=draw(optional(st.sampled_from(STOP_REASONS.codes()))),
        strategy=draw(optional(st.sampled_from(REGIMEN_TYPES.codes()))),
    )


#: Contraindications model 1.1 adds to 1.0's, with the lowest grade at which each applies (ASCO 2021).
NEW_CONTRAINDICATIONS_V1_1 = {
    "nephritis": 3,
    "acute_kidney_injury": 3,
    "myositis": 3,
    "uveitis": 3,
    "stevens_johnson_syndrome": 1,
    "toxic_epidermal_necrolysis": 1,
    "dress": 1,
    "myelitis": 1,
    "hemolysis": 3,
    "immune_thrombocytopenia": 4,
}


@st.composite
def contraindicated_iraes_v1_1(draw: st.DrawFn) -> PriorIraeInput:
    """An irAE that model 1.1 forbids: any of 1.0's, or one of the guideline contraindications 1.1 adds."""
    if draw(st.booleans()):
        return draw(contraindicated_iraes())
    term = draw(st.sampled_from(sorted(NEW_CONTRAINDICATIONS_V1_1)))
    grade = draw(st.integers(NEW_CONTRAINDICATIONS_V1_1[term], 5))
    resolved = draw(st.none() | st.integers(0, grade))
    return PriorIraeInput(term, grade, resolved, draw(st.sampled_from([False, None])), False)


@st.composite
def contraindicated_iraes(draw: st.DrawFn) -> PriorIraeInput:
    """An irAE that the v1 list forbids, whatever else is true of the patient."""
    kind = draw(st.sampled_from(["always", "pneumonitis", "grade4", "grade5", "refractory"]))
    if kind == "always":
        term = draw(st.sampled_from(sorted({"myocarditis", *SEVERE_NEUROLOGICAL_TERMS})))
        grade = draw(st.integers(1, 5))
    elif kind == "pneumonitis":
        term, grade = "pneumonitis", draw(st.integers(3, 5))
    elif kind == "grade4":
        term = draw(st.sampled_from([code for code in CTCAE_TERMS.codes() if not is_endocrine(code)]))
        grade = 4
    else:
        term = draw(st.sampled_from(CTCAE_TERMS.codes()))
        grade = 5 if kind == "grade5" else draw(st.integers(1, 5))
    resolved = draw(st.none() | st.integers(0, grade))
    controlled = draw(st.booleans()) if is_endocrine(term) else False
    return PriorIraeInput(term, grade, resolved, kind == "refractory", controlled)
