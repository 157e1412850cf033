"""Boundary tables for every factor of decision model 1.0, the category rules and the reason texts.

These tables pin model 1.0, which stays shipped because assessments locked under it must stay
reproducible; model 1.1 has its own tables in ``test_evaluate_v1_1.py``.
"""

from __future__ import annotations

import pytest

from registry.decision import (
    CATEGORIES,
    FACTOR_NAMES,
    DecisionInputs,
    DecisionResult,
    InvalidInput,
    PriorIraeInput,
    get_spec,
    validate,
)
from registry.decision import evaluate as evaluate_under
from registry.vocabularies import COMBINATION_REGIMENS, REGIMEN_TYPES
from tests.registry.decision.helpers import BASE, irae, make

V1 = get_spec("1.0")


def evaluate(inputs: DecisionInputs) -> DecisionResult:
    """Every table in this module is model 1.0's."""
    return evaluate_under(inputs, V1)


def factor(inputs: DecisionInputs, name: str) -> tuple[str, int]:
    result = evaluate(inputs).factor(name)
    return result.level, result.points


def test_reference_case_is_favourable() -> None:
    result = evaluate(BASE)
    assert (result.category, result.score) == ("favourable", 5)
    assert tuple(item.factor for item in result.factors) == FACTOR_NAMES


# --- PFS1 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("months", "level", "points"),
    [
        pytest.param(0.0, "unfavourable", -2, id="0-primary-resistance"),
        pytest.param(5.99, "unfavourable", -2, id="5.99-below-6"),
        pytest.param(6.0, "favourable", 1, id="6.0-exactly-favourable"),
        pytest.param(11.99, "favourable", 1, id="11.99-still-6-to-12"),
        pytest.param(12.0, "favourable", 2, id="12.0-exactly-strong"),
        pytest.param(60.0, "favourable", 2, id="60-strong"),
        pytest.param(None, "missing", 0, id="not-recorded"),
    ],
)
def test_pfs1_bands(months: float | None, level: str, points: int) -> None:
    assert factor(make(pfs1_months=months), "pfs1") == (level, points)


# --- TFI -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("months", "progressed", "level", "points"),
    [
        pytest.param(2.99, False, "unfavourable", -1, id="2.99-below-3"),
        pytest.param(3.0, False, "intermediate", 0, id="3.0-exactly-intermediate"),
        pytest.param(5.99, False, "intermediate", 0, id="5.99-still-3-to-6"),
        pytest.param(6.0, False, "favourable", 1, id="6.0-exactly-favourable"),
        pytest.param(24.0, True, "unfavourable", -1, id="long-tfi-but-progressed-on-ici1"),
        pytest.param(1.0, True, "unfavourable", -1, id="short-tfi-and-progressed"),
        pytest.param(8.0, None, "missing", 0, id="progression-not-recorded"),
        pytest.param(None, False, "missing", 0, id="tfi-not-recorded"),
        pytest.param(None, True, "missing", 0, id="tfi-not-recorded-progressed"),
    ],
)
def test_tfi_bands(months: float | None, progressed: bool | None, level: str, points: int) -> None:
    inputs = make(tfi_months=months, progressed_on_ici1=progressed)
    assert factor(inputs, "tfi") == (level, points)


# --- ECOG ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ecog", "level", "points"),
    [
        pytest.param(0, "favourable", 1, id="ecog0"),
        pytest.param(1, "favourable", 1, id="ecog1"),
        pytest.param(2, "intermediate", 0, id="ecog2"),
        pytest.param(3, "unfavourable", -2, id="ecog3"),
        pytest.param(4, "unfavourable", -2, id="ecog4"),
        pytest.param(None, "missing", 0, id="not-recorded"),
    ],
)
def test_ecog_bands(ecog: int | None, level: str, points: int) -> None:
    assert factor(make(ecog=ecog), "ecog") == (level, points)


def test_ecog_5_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate(make(ecog=5))
    assert caught.value.errors == {"ecog": "ECOG 5 means the patient has died; rechallenge cannot be assessed"}


# --- prior irAE ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iraes", "dose", "level", "points"),
    [
        pytest.param((), 0.0, "favourable", 1, id="no-irae"),
        pytest.param(None, 0.0, "missing", 0, id="iraes-not-recorded"),
        pytest.param((irae("colitis", 1, 0),), 0.0, "favourable", 1, id="g1-colitis-resolved"),
        pytest.param((irae("colitis", 2, 1),), 0.0, "favourable", 1, id="g2-colitis-resolved-to-g1"),
        pytest.param((irae("colitis", 3, 1),), 0.0, "intermediate", 0, id="g3-non-vital-resolved"),
        pytest.param((irae("colitis", 3, 2),), 0.0, "unfavourable", -2, id="g3-colitis-still-g2"),
        pytest.param((irae("colitis", 4, 0),), 0.0, "contraindicated", -3, id="g4-colitis-non-endocrine"),
        pytest.param(
            (irae("hypophysitis", 4, 2, controlled_on_replacement=True),),
            0.0,
            "intermediate",
            0,
            id="g4-hypophysitis-controlled",
        ),
        pytest.param((irae("hypophysitis", 4, 0),), 0.0, "intermediate", 0, id="g4-hypophysitis-resolved"),
        pytest.param((irae("hypophysitis", 4, 2),), 0.0, "unfavourable", -2, id="g4-hypophysitis-uncontrolled"),
        pytest.param(
            (irae("hypothyroidism", 2, 2, controlled_on_replacement=True),),
            0.0,
            "intermediate",
            0,
            id="g2-hypothyroidism-on-replacement",
        ),
        pytest.param((irae("hypothyroidism", 5, 5),), 0.0, "contraindicated", -3, id="g5-even-endocrine"),
        pytest.param((irae("myocarditis", 1, 0),), 0.0, "contraindicated", -3, id="g1-myocarditis"),
        pytest.param((irae("encephalitis", 1, 0),), 0.0, "contraindicated", -3, id="encephalitis"),
        pytest.param((irae("guillain_barre_syndrome", 2, 0),), 0.0, "contraindicated", -3, id="guillain-barre"),
        pytest.param((irae("myasthenia_gravis", 1, 0),), 0.0, "contraindicated", -3, id="myasthenia"),
        pytest.param((irae("pneumonitis", 2, 0),), 0.0, "favourable", 1, id="g2-pneumonitis-resolved"),
        pytest.param((irae("pneumonitis", 2, 2),), 0.0, "unfavourable", -2, id="g2-pneumonitis-unresolved"),
        pytest.param((irae("pneumonitis", 3, 0),), 0.0, "contraindicated", -3, id="g3-pneumonitis"),
        pytest.param((irae("pneumonitis", 4, 0),), 0.0, "contraindicated", -3, id="g4-pneumonitis"),
        pytest.param((irae("heart_failure", 3, 0),), 0.0, "unfavourable", -2, id="g3-vital-organ-resolved"),
        pytest.param(
            (irae("colitis", 2, 0, steroid_refractory=True),),
            0.0,
            "contraindicated",
            -3,
            id="steroid-refractory",
        ),
        pytest.param((irae("rash_maculo_papular", 2, 2),), 0.0, "unfavourable", -2, id="unresolved-g2-rash"),
        pytest.param((irae("rash_maculo_papular", 2, None),), 0.0, "missing", 0, id="rash-grade-now-unknown"),
        pytest.param((), 9.9, "favourable", 1, id="prednisone-9.9"),
        pytest.param((), 10.0, "unfavourable", -2, id="prednisone-exactly-10"),
        pytest.param((), None, "favourable", 1, id="prednisone-not-recorded-as-0"),
        pytest.param(
            (irae("colitis", 1, 0), irae("rash_maculo_papular", 2, 2)),
            0.0,
            "unfavourable",
            -2,
            id="worst-of-several",
        ),
        pytest.param(
            (irae("rash_maculo_papular", 2, None), irae("myocarditis", 1, 0)),
            0.0,
            "contraindicated",
            -3,
            id="contraindicated-beats-unknown-grade",
        ),
        pytest.param(
            (irae("rash_maculo_papular", 2, None),),
            20.0,
            "missing",
            -2,
            id="unknown-grade-keeps-known-penalty",
        ),
    ],
)
def test_prior_irae(iraes: tuple[PriorIraeInput, ...] | None, dose: float | None, level: str, points: int) -> None:
    inputs = make(prior_iraes=iraes, current_prednisone_mg_per_day=dose)
    assert factor(inputs, "prior_irae") == (level, points)


@pytest.mark.parametrize(
    "term",
    ["myocarditis", "encephalitis", "guillain_barre_syndrome", "myasthenia_gravis"],
)
@pytest.mark.parametrize("grade", [1, 2, 3, 4])
def test_always_contraindicated_terms_at_every_grade(term: str, grade: int) -> None:
    assert evaluate(make(prior_iraes=(irae(term, grade, 0),))).category == "contraindicated"


# --- stop reason and strategy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "level", "points"),
    [
        pytest.param("toxicity", "favourable", 1, id="toxicity"),
        pytest.param("planned_completion", "favourable", 1, id="planned-completion"),
        pytest.param("patient_choice", "intermediate", 0, id="patient-choice"),
        pytest.param("other", "intermediate", 0, id="other"),
        pytest.param("progression", "unfavourable", -1, id="progression"),
        pytest.param(None, "missing", 0, id="not-recorded"),
    ],
)
def test_stop_reason(code: str | None, level: str, points: int) -> None:
    assert factor(make(stop_reason=code), "stop_reason") == (level, points)


@pytest.mark.parametrize(
    ("code", "level", "points"),
    [
        pytest.param("ici_chemotherapy", "favourable", 1, id="chemo"),
        pytest.param("ici_antiangiogenic", "favourable", 1, id="anti-angiogenic"),
        pytest.param("ici_radiotherapy", "favourable", 1, id="radiotherapy"),
        pytest.param("monotherapy", "intermediate", 0, id="monotherapy"),
        pytest.param("ici_ici", "intermediate", 0, id="ici-ici"),
        pytest.param("ici_other", "intermediate", 0, id="ici-other"),
        pytest.param(None, "missing", 0, id="not-recorded"),
    ],
)
def test_strategy(code: str | None, level: str, points: int) -> None:
    assert factor(make(strategy=code), "strategy") == (level, points)


def test_every_regimen_is_scored_and_combinations_match_the_vocabulary() -> None:
    for code in REGIMEN_TYPES.codes():
        level, _ = factor(make(strategy=code), "strategy")
        assert (level == "favourable") == (code in COMBINATION_REGIMENS), code


# --- categories ------------------------------------------------------------------------------------

NEUTRAL = {
    "pfs1_months": 8.0,  # +1
    "tfi_months": 4.0,  # 0
    "ecog": 2,  # 0
    "prior_iraes": (irae("colitis", 3, 0),),  # 0
    "stop_reason": "patient_choice",  # 0
    "strategy": "monotherapy",  # 0
}


@pytest.mark.parametrize(
    ("changes", "score", "category"),
    [
        pytest.param({"pfs1_months": 12.0, "tfi_months": 6.0}, 3, "favourable", id="score-3-favourable"),
        pytest.param({"pfs1_months": 12.0}, 2, "intermediate", id="score-2-intermediate"),
        pytest.param({}, 1, "intermediate", id="score-1-intermediate"),
        pytest.param({"stop_reason": "progression"}, 0, "intermediate", id="score-0-intermediate"),
        pytest.param(
            {"stop_reason": "progression", "tfi_months": 2.0},
            -1,
            "unfavourable",
            id="score-minus-1-unfavourable",
        ),
        pytest.param(
            {
                "pfs1_months": 20.0,
                "tfi_months": 9.0,
                "ecog": 0,
                "prior_iraes": (),
                "stop_reason": "toxicity",
                "strategy": "ici_chemotherapy",
            },
            7,
            "favourable",
            id="best-case-7",
        ),
        pytest.param(
            {
                "pfs1_months": 2.0,
                "tfi_months": 1.0,
                "ecog": 4,
                "prior_iraes": (irae("colitis", 2, 2),),
                "stop_reason": "progression",
            },
            -8,
            "unfavourable",
            id="worst-non-contraindicated-case",
        ),
    ],
)
def test_score_to_category(changes: dict, score: int, category: str) -> None:
    result = evaluate(make(**{**NEUTRAL, **changes}))
    assert (result.score, result.category) == (score, category)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"pfs1_months": None}, id="pfs1"),
        pytest.param({"tfi_months": None}, id="tfi"),
        pytest.param({"progressed_on_ici1": None}, id="progression-on-ici1"),
        pytest.param({"ecog": None}, id="ecog"),
        pytest.param({"prior_iraes": None}, id="prior-iraes"),
        pytest.param({"prior_iraes": (irae("colitis", 2, None),)}, id="irae-grade-now"),
    ],
)
def test_missing_key_factor_gives_insufficient_data_with_a_score(changes: dict) -> None:
    result = evaluate(make(**changes))
    assert result.category == "insufficient_data"
    assert result.score == sum(item.points for item in result.factors)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"stop_reason": None}, id="stop-reason"),
        pytest.param({"strategy": None}, id="strategy"),
        pytest.param({"current_prednisone_mg_per_day": None}, id="prednisone"),
    ],
)
def test_missing_secondary_input_still_categorises(changes: dict) -> None:
    assert evaluate(make(**changes)).category == "favourable"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"pfs1_months": None}, id="pfs1-missing"),
        pytest.param({"ecog": None, "tfi_months": None}, id="ecog-and-tfi-missing"),
        pytest.param({"progressed_on_ici1": None}, id="progression-missing"),
    ],
)
def test_contraindication_beats_missing(changes: dict) -> None:
    inputs = make(prior_iraes=(irae("myocarditis", 1, 0),), **changes)
    assert evaluate(inputs).category == "contraindicated"


def test_contraindication_beats_a_high_score() -> None:
    inputs = make(pfs1_months=30.0, ecog=0, strategy="ici_chemotherapy", prior_iraes=(irae("pneumonitis", 3, 0),))
    result = evaluate(inputs)
    assert result.category == "contraindicated"
    assert result.score == 3


# --- reason texts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "name", "reason"),
    [
        pytest.param(
            {"tfi_months": 4.2},
            "tfi",
            "Treatment-free interval 4.2 months: 3–6 months is intermediate",
            id="tfi-intermediate",
        ),
        pytest.param(
            {"pfs1_months": 14.0},
            "pfs1",
            "Progression-free survival on the preceding course 14.0 months: ≥ 12 months is strongly favourable",
            id="pfs1-strong",
        ),
        pytest.param(
            {"pfs1_months": 5.99},
            "pfs1",
            "Progression-free survival on the preceding course 5.99 months: "
            "< 6 months is unfavourable (primary resistance)",
            id="pfs1-not-rounded-across-cut",
        ),
        pytest.param({"ecog": 2}, "ecog", "ECOG 2 at rechallenge: intermediate", id="ecog-2"),
        pytest.param(
            {"prior_iraes": (irae("pneumonitis", 3, 0),)},
            "prior_irae",
            "Grade 3 Pneumonitis: grade 3–4 pneumonitis contraindicates rechallenge",
            id="pneumonitis-g3",
        ),
        pytest.param(
            {"current_prednisone_mg_per_day": 10},
            "prior_irae",
            "Prednisone 10 mg/day now: ≥ 10 mg/day is unfavourable",
            id="prednisone-10",
        ),
        pytest.param(
            {"progressed_on_ici1": True},
            "tfi",
            "Progressed while on the preceding course: unfavourable",
            id="progressed-on-ici1",
        ),
        pytest.param(
            {"prior_iraes": (irae("hypophysitis", 4, 1, controlled_on_replacement=True),)},
            "prior_irae",
            "Grade 4 Hypophysitis controlled on hormone replacement: intermediate",
            id="hypophysitis-controlled",
        ),
        pytest.param(
            {"prior_iraes": (irae("rash_maculo_papular", 2, 2),)},
            "prior_irae",
            "Grade 2 Rash maculo-papular still grade 2: not resolved to grade ≤ 1 is unfavourable",
            id="unresolved-rash",
        ),
        pytest.param(
            {"prior_iraes": (), "current_prednisone_mg_per_day": None},
            "prior_irae",
            "No prior immune-related adverse event; prednisone now not recorded, taken as 0 mg/day",
            id="prednisone-not-recorded",
        ),
        pytest.param(
            {"stop_reason": "progression"},
            "stop_reason",
            "Preceding course stopped (Progression): a stop for progression is unfavourable",
            id="stop-progression",
        ),
        pytest.param(
            {"strategy": "ici_radiotherapy"},
            "strategy",
            "Planned strategy ICI + radiotherapy: combination with chemotherapy, an anti-angiogenic or "
            "radiotherapy is favourable",
            id="strategy-combination",
        ),
    ],
)
def test_reason_text(changes: dict, name: str, reason: str) -> None:
    assert evaluate(make(**changes)).factor(name).reason == reason


# --- invalid inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        pytest.param({"pfs1_months": -0.1}, "pfs1_months", "must not be negative", id="negative-pfs1"),
        pytest.param({"tfi_months": -1.0}, "tfi_months", "must not be negative", id="negative-tfi"),
        pytest.param({"tfi_months": float("nan")}, "tfi_months", "must be a number of months", id="nan-tfi"),
        pytest.param({"ecog": -1}, "ecog", "ECOG -1 does not exist; use 0 to 4", id="ecog-minus-1"),
        pytest.param({"ecog": 2.0}, "ecog", "must be a whole number from 0 to 4", id="ecog-float"),
        pytest.param({"ecog": True}, "ecog", "must be a whole number from 0 to 4", id="ecog-bool"),
        pytest.param(
            {"current_prednisone_mg_per_day": -5},
            "current_prednisone_mg_per_day",
            "must not be negative",
            id="negative-prednisone",
        ),
        pytest.param(
            {"stop_reason": "boredom"},
            "stop_reason",
            "'boredom' is not a code of Reason the ICI course stopped",
            id="unknown-stop-reason",
        ),
        pytest.param(
            {"strategy": "homeopathy"},
            "strategy",
            "'homeopathy' is not a code of Regimen type",
            id="unknown-strategy",
        ),
        pytest.param(
            {"prior_iraes": (irae("sunburn", 2, 0),)},
            "prior_iraes[0].ctcae_term",
            "'sunburn' is not a code of CTCAE irAE term",
            id="unknown-term",
        ),
        pytest.param(
            {"prior_iraes": (irae("colitis", 0, 0),)},
            "prior_iraes[0].grade",
            "CTCAE grade must be a whole number from 1 to 5",
            id="grade-0",
        ),
        pytest.param(
            {"prior_iraes": (irae("colitis", 6, 0),)},
            "prior_iraes[0].grade",
            "CTCAE grade must be a whole number from 1 to 5",
            id="grade-6",
        ),
        pytest.param(
            {"prior_iraes": (irae("colitis", 2, 0), irae("colitis", 2, 3))},
            "prior_iraes[1].resolved_to_grade",
            "grade now (3) cannot exceed the worst grade (2)",
            id="resolved-above-grade",
        ),
        pytest.param(
            {"prior_iraes": (irae("colitis", 2, -1),)},
            "prior_iraes[0].resolved_to_grade",
            "grade now must be a whole number from 0 to 5",
            id="resolved-negative",
        ),
        pytest.param(
            {"prior_iraes": (irae("colitis", 2, 0, controlled_on_replacement=True),)},
            "prior_iraes[0].controlled_on_replacement",
            "only an endocrine irAE can be controlled on hormone replacement",
            id="replacement-for-non-endocrine",
        ),
    ],
)
def test_invalid_inputs_are_rejected(changes: dict, field: str, message: str) -> None:
    inputs = make(**changes)
    assert validate(inputs) == {field: message}
    with pytest.raises(InvalidInput) as caught:
        evaluate(inputs)
    assert caught.value.errors == {field: message}
    assert isinstance(caught.value, ValueError)


def test_all_errors_are_reported_at_once() -> None:
    inputs = make(pfs1_months=-1.0, ecog=7, stop_reason="x")
    assert set(validate(inputs)) == {"pfs1_months", "ecog", "stop_reason"}


def test_valid_inputs_have_no_errors() -> None:
    assert validate(BASE) == {}


# --- serialisation ---------------------------------------------------------------------------------


def test_as_dict_shape() -> None:
    data = evaluate(BASE).as_dict()
    assert data["category"] == "favourable"
    assert data["score"] == 5
    assert data["model"] == {"version": "1.0", "hash": V1.hash}
    assert [item["factor"] for item in data["factors"]] == list(FACTOR_NAMES)
    assert set(data["factors"][0]) == {"factor", "level", "reason", "points", "source"}
    assert data["category"] in CATEGORIES


def test_model_1_0_records_no_provenance_and_no_review_criteria() -> None:
    data = evaluate(BASE).as_dict()
    assert {item["source"] for item in data["factors"]} == {"not recorded"}
    assert data["review_criteria_met"] is None


def test_inputs_round_trip_through_dict() -> None:
    inputs = make(prior_iraes=(irae("hypophysitis", 4, 1, controlled_on_replacement=True),))
    assert DecisionInputs.from_dict(inputs.as_dict()) == inputs
    with pytest.raises(InvalidInput):
        DecisionInputs.from_dict({**inputs.as_dict(), "colour": "blue"})


def test_result_factor_lookup_rejects_unknown_names() -> None:
    with pytest.raises(KeyError):
        evaluate(BASE).factor("age")
