"""Property-based checks: improving one factor never hurts, and a contraindication always wins.

Every property runs under each shipped model version (1.0 stays reproducible, 1.1 is active).
"""

from __future__ import annotations

import dataclasses
import itertools
from bisect import bisect_right
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from registry.decision import (
    CATEGORIES,
    DecisionInputs,
    ModelSpec,
    PriorIraeInput,
    available_versions,
    evaluate,
    format_number,
    get_spec,
    validate,
)
from registry.vocabularies import COMBINATION_REGIMENS, CTCAE_TERMS
from tests.generated import examples
from tests.registry.decision.helpers import (
    CATEGORY_RANK,
    complete,
    contraindicated_iraes,
    contraindicated_iraes_v1_1,
    decision_inputs,
    is_endocrine,
    make,
    prior_iraes,
)

pytestmark = pytest.mark.slow

# A loaded 2-core CI machine can make generation look slow, and each improvement applies only to some of
# the drawn cases (assume); neither is a finding about the model.
PROPERTY_SETTINGS = settings(
    max_examples=examples(300),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
_LEVEL_RANK = {"unfavourable": 0, "intermediate": 1, "favourable": 2}
VERSIONS = pytest.mark.parametrize("version", available_versions())

Pair = tuple[DecisionInputs, DecisionInputs]
Improvement = Callable[[st.DataObject, DecisionInputs], Pair | None]


def _replace(inputs: DecisionInputs, **changes: object) -> DecisionInputs:
    return dataclasses.replace(inputs, **changes)


def _larger_pfs1(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    if inputs.pfs1_months is None:
        return None
    return inputs, _replace(inputs, pfs1_months=inputs.pfs1_months + data.draw(st.floats(0.01, 60)))


def _larger_tfi(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    if inputs.tfi_months is None:
        return None
    return inputs, _replace(inputs, tfi_months=inputs.tfi_months + data.draw(st.floats(0.01, 60)))


def _lower_ecog(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    if not inputs.ecog:
        return None
    return inputs, _replace(inputs, ecog=data.draw(st.integers(0, inputs.ecog - 1)))


def _no_progression_on_ici1(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    return (inputs, _replace(inputs, progressed_on_ici1=False)) if inputs.progressed_on_ici1 else None


def _pfs1_no_progression_seen(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    """Censored (or not known to have progressed) instead of progression observed at the same time."""
    if inputs.pfs1_event is not True:
        return None
    return inputs, _replace(inputs, pfs1_event=data.draw(st.sampled_from([False, None])))


def _better_stop_reason(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    if inputs.stop_reason is None:
        return None
    levels = get_spec().factors["stop_reason"]["levels_by_code"]
    current = _LEVEL_RANK[levels[inputs.stop_reason]]
    better = sorted(code for code, level in levels.items() if _LEVEL_RANK[level] > current)
    return (inputs, _replace(inputs, stop_reason=data.draw(st.sampled_from(better)))) if better else None


def _combination_strategy(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    if inputs.strategy is None or inputs.strategy in COMBINATION_REGIMENS:
        return None
    return inputs, _replace(inputs, strategy=data.draw(st.sampled_from(sorted(COMBINATION_REGIMENS))))


def _lower_prednisone(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    dose = inputs.current_prednisone_mg_per_day
    if not dose:
        return None
    return inputs, _replace(inputs, current_prednisone_mg_per_day=data.draw(st.floats(0, dose, exclude_max=True)))


def _pick_irae(
    data: st.DataObject, inputs: DecisionInputs, usable: Callable[[PriorIraeInput], bool]
) -> tuple[DecisionInputs, int] | None:
    """An irAE the improvement can act on; when there is none, one is added to the starting case."""
    if inputs.prior_iraes is None:
        return None
    indices = [index for index, item in enumerate(inputs.prior_iraes) if usable(item)]
    if indices:
        return inputs, data.draw(st.sampled_from(indices))
    extra = data.draw(prior_iraes().filter(usable))
    position = data.draw(st.integers(0, len(inputs.prior_iraes)))
    iraes = list(inputs.prior_iraes)
    iraes.insert(position, extra)
    return _replace(inputs, prior_iraes=tuple(iraes)), position


def _change_irae(inputs: DecisionInputs, index: int, **changes: object) -> Pair:
    iraes = list(inputs.prior_iraes or ())
    iraes[index] = dataclasses.replace(iraes[index], **changes)
    return inputs, _replace(inputs, prior_iraes=tuple(iraes))


def _lower_irae_grade(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    picked = _pick_irae(data, inputs, lambda item: item.grade > 1)
    if picked is None:
        return None
    inputs, index = picked
    item = inputs.prior_iraes[index]
    grade = data.draw(st.integers(1, item.grade - 1))
    resolved = None if item.resolved_to_grade is None else min(item.resolved_to_grade, grade)
    return _change_irae(inputs, index, grade=grade, resolved_to_grade=resolved)


def _lower_resolved_grade(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    picked = _pick_irae(data, inputs, lambda item: bool(item.resolved_to_grade))
    if picked is None:
        return None
    inputs, index = picked
    resolved = data.draw(st.integers(0, inputs.prior_iraes[index].resolved_to_grade - 1))
    return _change_irae(inputs, index, resolved_to_grade=resolved)


def _not_steroid_refractory(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    picked = _pick_irae(data, inputs, lambda item: item.steroid_refractory is True)
    if picked is None:
        return None
    inputs, index = picked
    return _change_irae(inputs, index, steroid_refractory=data.draw(st.sampled_from([False, None])))


def _refractoriness_recorded_as_no(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    picked = _pick_irae(data, inputs, lambda item: item.steroid_refractory is None)
    if picked is None:
        return None
    inputs, index = picked
    return _change_irae(inputs, index, steroid_refractory=False)


def _remove_irae(data: st.DataObject, inputs: DecisionInputs) -> Pair | None:
    picked = _pick_irae(data, inputs, lambda item: True)
    if picked is None:
        return None
    inputs, index = picked
    iraes = inputs.prior_iraes
    return inputs, _replace(inputs, prior_iraes=iraes[:index] + iraes[index + 1 :])


IMPROVEMENTS: tuple[Improvement, ...] = (
    _larger_pfs1,
    _larger_tfi,
    _lower_ecog,
    _no_progression_on_ici1,
    _pfs1_no_progression_seen,
    _better_stop_reason,
    _combination_strategy,
    _lower_prednisone,
    _lower_irae_grade,
    _lower_resolved_grade,
    _not_steroid_refractory,
    _refractoriness_recorded_as_no,
    _remove_irae,
)


@VERSIONS
@pytest.mark.parametrize("improvement", IMPROVEMENTS, ids=lambda item: item.__name__.strip("_"))
@PROPERTY_SETTINGS
@given(inputs=decision_inputs(), data=st.data())
def test_improving_one_factor_never_hurts(version: str, improvement: Improvement, inputs: DecisionInputs, data) -> None:
    spec = get_spec(version)
    pair = improvement(data, inputs)
    assume(pair is not None)
    start, improved = pair
    assert validate(start) == validate(improved) == {}
    before, after = evaluate(start, spec), evaluate(improved, spec)

    assert after.score >= before.score, (improvement.__name__, before.as_dict(), after.as_dict())
    if "insufficient_data" not in (before.category, after.category):
        assert CATEGORY_RANK[after.category] >= CATEGORY_RANK[before.category], improvement.__name__
    # "Refractory" → "not recorded" lifts a contraindication but loses a recorded answer.
    if complete(start, spec) and complete(improved, spec):
        assert after.category != "insufficient_data", improvement.__name__
    if after.category == "insufficient_data":
        # Only a contraindication can hide a missing key factor; lifting it may reveal the gap.
        assert before.category in ("insufficient_data", "contraindicated"), improvement.__name__


def _contraindicated_under(version: str) -> st.SearchStrategy[PriorIraeInput]:
    return contraindicated_iraes() if version == "1.0" else contraindicated_iraes_v1_1()


@VERSIONS
@PROPERTY_SETTINGS
@given(inputs=decision_inputs(), data=st.data(), position=st.integers(0, 3))
def test_a_contraindication_always_wins(version: str, inputs: DecisionInputs, data, position: int) -> None:
    forbidden = data.draw(_contraindicated_under(version))
    iraes = list(inputs.prior_iraes or ())
    iraes.insert(min(position, len(iraes)), forbidden)
    result = evaluate(dataclasses.replace(inputs, prior_iraes=tuple(iraes)), get_spec(version))
    assert result.category == "contraindicated"
    assert result.factor("prior_irae").level == "contraindicated"


@VERSIONS
@PROPERTY_SETTINGS
@given(inputs=decision_inputs())
def test_results_are_well_formed(version: str, inputs: DecisionInputs) -> None:
    spec = get_spec(version)
    result = evaluate(inputs, spec)
    assert result.category in CATEGORIES
    assert result.score == sum(item.points for item in result.factors)
    assert all(item.reason and item.reason[0].isupper() for item in result.factors)
    assert all(item.source for item in result.factors)
    assert result == evaluate(inputs, spec)
    if result.category in ("favourable", "intermediate", "unfavourable"):
        thresholds = spec.data["category_thresholds"]
        expected = (
            "favourable"
            if result.score >= thresholds["favourable"]
            else "intermediate"
            if result.score >= thresholds["intermediate"]
            else "unfavourable"
        )
        assert result.category == expected


@PROPERTY_SETTINGS
@given(
    value=st.floats(min_value=0, max_value=200, allow_nan=False, allow_infinity=False),
    cuts=st.sampled_from([(6.0, 12.0), (3.0, 6.0), (10,)]),
    min_decimals=st.sampled_from([0, 1]),
)
def test_reason_numbers_never_round_across_a_cut_point(value: float, cuts: tuple, min_decimals: int) -> None:
    text = format_number(value, cuts, min_decimals)
    assert bisect_right(cuts, float(text)) == bisect_right(cuts, value)


def _irae_outcome(item: PriorIraeInput, spec: ModelSpec) -> tuple[int, int]:
    result = evaluate(make(prior_iraes=(item,)), spec).factor("prior_irae")
    return _IRAE_RANK[result.level], result.points


_IRAE_RANK = {"contraindicated": 0, "missing": 1, "unfavourable": 2, "intermediate": 3, "favourable": 4}


@VERSIONS
@pytest.mark.parametrize("term", CTCAE_TERMS.codes())
def test_every_irae_is_monotone_in_grade_and_grade_now(version: str, term: str) -> None:
    """Exhaustive over grades, grades now (or not recorded) and flags: a milder irAE never scores worse."""
    spec = get_spec(version)
    replacement = (False, True) if is_endocrine(term) else (False,)
    for refractory, controlled in itertools.product((False, True, None), replacement):
        for grade in range(1, 6):
            for resolved in (*range(grade + 1), None):
                item = PriorIraeInput(term, grade, resolved, refractory, controlled)
                outcome = _irae_outcome(item, spec)
                if grade > 1:
                    milder_now = None if resolved is None else min(resolved, grade - 1)
                    milder = dataclasses.replace(item, grade=grade - 1, resolved_to_grade=milder_now)
                    assert _irae_outcome(milder, spec) >= outcome, (item, milder)
                if resolved:
                    lower = dataclasses.replace(item, resolved_to_grade=resolved - 1)
                    assert _irae_outcome(lower, spec) >= outcome, item
                if refractory is not False:
                    not_refractory = dataclasses.replace(item, steroid_refractory=False)
                    assert _irae_outcome(not_refractory, spec) >= outcome, item
                if refractory is True:
                    unknown = dataclasses.replace(item, steroid_refractory=None)
                    assert _irae_outcome(unknown, spec) >= outcome, item
