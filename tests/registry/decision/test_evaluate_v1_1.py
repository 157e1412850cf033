"""Decision model 1.1: censored PFS, blank current grades, calendar months, missing stays missing,
guideline contraindications, provenance and the review's four criteria.

Expected values are worked out by hand from the rules in ``specs/v1_1.json`` (points: PFS1 -2/+1/+2,
TFI -1/0/+1, ECOG +1/0/-2, prior irAE +1/0/-2/-3, stop reason and strategy +1/0/-1; favourable ≥ 3,
intermediate ≥ 0).
"""

from __future__ import annotations

import datetime as dt

import pytest

from registry.dates import add_months, calendar_months_between, months_between
from registry.decision import DecisionInputs, DecisionResult, InvalidInput, evaluate, get_spec, validate
from tests.registry.decision.helpers import irae, make

V1 = get_spec("1.0")
V1_1 = get_spec("1.1")

#: The reference case with progression observed on the preceding course: 1+1+1+1+1+0 = 5, favourable.
BASE = make(pfs1_event=True)


def under_1_1(inputs: DecisionInputs) -> DecisionResult:
    return evaluate(inputs, V1_1)


def factor(inputs: DecisionInputs, name: str, spec=V1_1) -> tuple[str, int]:
    result = evaluate(inputs, spec).factor(name)
    return result.level, result.points


def test_reference_case_is_favourable_and_meets_the_review_criteria() -> None:
    result = under_1_1(BASE)
    assert (result.category, result.score, result.review_criteria_met) == ("favourable", 5, True)
    assert (result.model_version, result.model_hash) == ("1.1", V1_1.hash)


def test_the_default_model_is_1_1() -> None:
    assert evaluate(BASE).model_version == "1.1"


# --- 1. censored PFS on the preceding course -------------------------------------------------------


@pytest.mark.parametrize(
    ("months", "event", "level", "points"),
    [
        pytest.param(5.0, True, "unfavourable", -2, id="5-progressed-primary-resistance"),
        pytest.param(5.0, False, "intermediate", 0, id="5-censored-not-yet-known"),
        pytest.param(5.0, None, "intermediate", 0, id="5-event-not-recorded"),
        pytest.param(0.0, False, "intermediate", 0, id="0-censored"),
        pytest.param(5.99, False, "intermediate", 0, id="5.99-censored"),
        pytest.param(6.0, False, "favourable", 1, id="6-censored-reaches-6"),
        pytest.param(6.0, None, "favourable", 1, id="6-event-not-recorded-reaches-6"),
        pytest.param(11.99, False, "favourable", 1, id="11.99-censored-6-to-12"),
        pytest.param(12.0, False, "favourable", 2, id="12-censored-reaches-12"),
        pytest.param(6.0, True, "favourable", 1, id="6-progressed"),
        pytest.param(None, False, "missing", 0, id="value-not-recorded"),
        pytest.param(None, None, "missing", 0, id="nothing-recorded"),
    ],
)
def test_pfs1_censoring(months: float | None, event: bool | None, level: str, points: int) -> None:
    assert factor(make(pfs1_months=months, pfs1_event=event), "pfs1") == (level, points)


@pytest.mark.parametrize(
    ("months", "event", "reason"),
    [
        pytest.param(
            5.0,
            False,
            "Progression-free survival on the preceding course at least 5.0 months (censored: no progression "
            "observed) — whether it reaches 6 months is not yet known",
            id="censored-below-6",
        ),
        pytest.param(
            5.0,
            None,
            "Progression-free survival on the preceding course 5.0 months, but whether it ended in progression "
            "is not recorded — whether it reaches 6 months is not known",
            id="event-not-recorded-below-6",
        ),
        pytest.param(
            8.0,
            False,
            "Progression-free survival on the preceding course 8.0 months: 6–12 months is favourable; "
            "censored (no progression observed), so at least 8.0 months",
            id="censored-above-6",
        ),
        pytest.param(
            5.0,
            True,
            "Progression-free survival on the preceding course 5.0 months: < 6 months is unfavourable "
            "(primary resistance)",
            id="progressed-below-6",
        ),
    ],
)
def test_pfs1_reason_says_when_the_value_is_censored(months: float, event: bool | None, reason: str) -> None:
    assert under_1_1(make(pfs1_months=months, pfs1_event=event)).factor("pfs1").reason == reason


def _toxicity_stop_case(strategy: str) -> DecisionInputs:
    """ICI-1 10 Jan – 10 Mar 2024, stopped for a grade 3 colitis (now grade 1), no progression,
    rechallenge 10 Jun 2024: PFS1 censored at 5 months, TFI 3 months."""
    start, stop, rechallenge = dt.date(2024, 1, 10), dt.date(2024, 3, 10), dt.date(2024, 6, 10)
    return DecisionInputs(
        pfs1_months=calendar_months_between(start, rechallenge),
        pfs1_event=False,
        tfi_months=calendar_months_between(stop, rechallenge),
        progressed_on_ici1=False,
        ecog=1,
        prior_iraes=(irae("colitis", 3, 1),),
        current_prednisone_mg_per_day=0.0,
        stop_reason="toxicity",
        strategy=strategy,
    )


def test_a_toxicity_stop_without_progression_is_not_primary_resistance() -> None:
    inputs = _toxicity_stop_case("monotherapy")
    assert (inputs.pfs1_months, inputs.tfi_months) == (5.0, 3.0)
    # 1.1: PFS1 0 + TFI 0 + ECOG 1 + grade 3 colitis resolved 0 + toxicity stop 1 + monotherapy 0 = 2.
    result = under_1_1(inputs)
    assert result.factor("pfs1").level == "intermediate"
    assert "censored" in result.factor("pfs1").reason
    assert "primary resistance" not in result.factor("pfs1").reason
    assert (result.score, result.category) == (2, "intermediate")
    # 1.0 read the same 5 months as observed: -2 for primary resistance, score 0.
    legacy = evaluate(inputs, V1)
    assert legacy.factor("pfs1").level == "unfavourable"
    assert (legacy.score, legacy.category) == (0, "intermediate")


def test_the_censored_toxicity_stop_with_chemotherapy_changes_category() -> None:
    inputs = _toxicity_stop_case("ici_chemotherapy")
    assert (under_1_1(inputs).score, under_1_1(inputs).category) == (3, "favourable")  # 0+0+1+0+1+1
    assert (evaluate(inputs, V1).score, evaluate(inputs, V1).category) == (1, "intermediate")  # -2+0+1+0+1+1


def test_model_1_0_ignores_pfs1_event() -> None:
    for event in (True, False, None):
        assert factor(make(pfs1_months=5.0, pfs1_event=event), "pfs1", V1) == ("unfavourable", -2)


def test_pfs1_event_must_be_a_boolean() -> None:
    inputs = make(pfs1_event="no")
    assert validate(inputs) == {"pfs1_event": "must be true, false or not recorded"}
    with pytest.raises(InvalidInput):
        under_1_1(inputs)


# --- 2. blank current grade ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "level", "points", "category"),
    [
        pytest.param(irae("rash_maculo_papular", 1, None), "favourable", 1, "favourable", id="grade-1-blank"),
        pytest.param(irae("colitis", 1, None), "favourable", 1, "favourable", id="grade-1-colitis-blank"),
        pytest.param(irae("rash_maculo_papular", 2, None), "missing", 0, "insufficient_data", id="grade-2-blank"),
        pytest.param(
            irae("hypothyroidism", 2, None, controlled_on_replacement=True),
            "intermediate",
            0,
            "favourable",
            id="controlled-hypothyroidism-blank",
        ),
        pytest.param(
            irae("hypophysitis", 4, None, controlled_on_replacement=True),
            "intermediate",
            0,
            "favourable",
            id="controlled-grade-4-hypophysitis-blank",
        ),
        pytest.param(
            irae("hypothyroidism", 2, 2, controlled_on_replacement=True),
            "intermediate",
            0,
            "favourable",
            id="controlled-hypothyroidism-grade-typed",
        ),
        pytest.param(irae("hypothyroidism", 2, None), "missing", 0, "insufficient_data", id="uncontrolled-blank"),
    ],
)
def test_blank_current_grade(item, level: str, points: int, category: str) -> None:
    # BASE scores 4 without its prior-irAE point: +1 favourable → 5, 0 intermediate → 4 (both ≥ 3).
    result = under_1_1(make(pfs1_event=True, prior_iraes=(item,)))
    assert (result.factor("prior_irae").level, result.factor("prior_irae").points) == (level, points)
    assert result.category == category


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(irae("rash_maculo_papular", 1, None), id="grade-1-blank"),
        pytest.param(irae("hypothyroidism", 2, None, controlled_on_replacement=True), id="controlled-blank"),
    ],
)
def test_model_1_0_still_reads_a_blank_current_grade_as_missing(item) -> None:
    result = evaluate(make(prior_iraes=(item,)), V1)
    assert result.factor("prior_irae").level == "missing"
    assert result.category == "insufficient_data"


def test_grade_1_blank_reason() -> None:
    reason = under_1_1(make(prior_iraes=(irae("rash_maculo_papular", 1, None),))).factor("prior_irae").reason
    assert reason == (
        "Grade 1 Rash maculo-papular: current grade not recorded, but a grade 1 irAE is at most grade 1 now: "
        "favourable; prednisone 0 mg/day now: below 10 mg/day"
    )


# --- 3. calendar months at the cut-points ----------------------------------------------------------


def _start_days(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    return [first + dt.timedelta(days=offset) for offset in range((dt.date(year + 1, 1, 1) - first).days)]


@pytest.mark.parametrize("year", [2023, 2024])
def test_an_exact_12_calendar_month_pfs1_is_strongly_favourable_from_every_start_day(year: int) -> None:
    for start in _start_days(year):
        months = calendar_months_between(start, add_months(start, 12))
        assert factor(make(pfs1_months=months, pfs1_event=True), "pfs1") == ("favourable", 2), start
        day_before = calendar_months_between(start, add_months(start, 12) - dt.timedelta(days=1))
        assert factor(make(pfs1_months=day_before, pfs1_event=True), "pfs1") == ("favourable", 1), start


@pytest.mark.parametrize("year", [2023, 2024])
def test_an_exact_6_calendar_month_pfs1_and_tfi_are_favourable_from_every_start_day(year: int) -> None:
    for start in _start_days(year):
        months = calendar_months_between(start, add_months(start, 6))
        assert factor(make(pfs1_months=months, pfs1_event=True), "pfs1") == ("favourable", 1), start
        assert factor(make(tfi_months=months), "tfi") == ("favourable", 1), start
        day_before = calendar_months_between(start, add_months(start, 6) - dt.timedelta(days=1))
        assert factor(make(pfs1_months=day_before, pfs1_event=True), "pfs1") == ("unfavourable", -2), start
        assert factor(make(tfi_months=day_before), "tfi") == ("intermediate", 0), start


def test_why_calendar_months_one_year_of_365_days_is_below_12_average_months() -> None:
    start, end = dt.date(2025, 3, 1), dt.date(2026, 3, 1)
    assert round(months_between(start, end), 4) == 11.9918  # 365 / 30.4375
    assert calendar_months_between(start, end) == 12.0


def test_the_spec_declares_its_month_basis() -> None:
    assert V1_1.inputs["months"] == "calendar"
    assert V1_1.inputs["missing"] == "missing"
    assert V1.inputs == {"months": "days", "missing": "legacy"}


# --- 4. missing stays missing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "level", "points", "score", "category"),
    [
        pytest.param(V1, "favourable", 1, 5, "favourable", id="1.0-taken-as-0"),
        pytest.param(V1_1, "missing", 0, 4, "insufficient_data", id="1.1-missing"),
    ],
)
def test_prednisone_not_recorded(spec, level: str, points: int, score: int, category: str) -> None:
    result = evaluate(make(pfs1_event=True, current_prednisone_mg_per_day=None), spec)
    assert (result.factor("prior_irae").level, result.factor("prior_irae").points) == (level, points)
    assert (result.score, result.category) == (score, category)


@pytest.mark.parametrize(
    ("iraes", "level", "points", "reason"),
    [
        pytest.param(
            (),
            "missing",
            0,
            "Prednisone dose now not recorded (not taken as 0 mg/day)",
            id="no-irae",
        ),
        pytest.param(
            (irae("colitis", 2, 2),),
            "missing",
            -2,
            "Prednisone dose now not recorded (not taken as 0 mg/day); grade 2 Colitis still grade 2: "
            "not resolved to grade ≤ 1 is unfavourable",
            id="known-penalty-still-counts",
        ),
        pytest.param(
            None,
            "missing",
            0,
            "Prior immune-related adverse events not recorded; prednisone dose now not recorded "
            "(not taken as 0 mg/day)",
            id="nothing-recorded",
        ),
        pytest.param(
            (irae("myocarditis", 1, 0),),
            "contraindicated",
            -3,
            "Grade 1 Myocarditis: myocarditis of any grade contraindicates rechallenge",
            id="contraindication-still-wins",
        ),
    ],
)
def test_prednisone_not_recorded_under_1_1(iraes, level: str, points: int, reason: str) -> None:
    result = under_1_1(make(prior_iraes=iraes, current_prednisone_mg_per_day=None)).factor("prior_irae")
    assert (result.level, result.points, result.reason) == (level, points, reason)


def test_prior_iraes_not_recorded_stay_missing() -> None:
    result = under_1_1(make(pfs1_event=True, prior_iraes=None))
    assert result.factor("prior_irae").level == "missing"
    assert result.category == "insufficient_data"


@pytest.mark.parametrize(
    ("item", "level", "points"),
    [
        pytest.param(irae("colitis", 3, 1, steroid_refractory=None), "missing", 0, id="grade-3-unknown"),
        pytest.param(irae("colitis", 3, 2, steroid_refractory=None), "missing", -2, id="grade-3-unknown-unresolved"),
        pytest.param(irae("colitis", 3, 1, steroid_refractory=False), "intermediate", 0, id="grade-3-known-no"),
        pytest.param(irae("colitis", 3, 1, steroid_refractory=True), "contraindicated", -3, id="grade-3-refractory"),
        pytest.param(irae("colitis", 2, 0, steroid_refractory=None), "favourable", 1, id="grade-2-unknown-ignored"),
        pytest.param(
            irae("hypophysitis", 3, 0, steroid_refractory=None),
            "intermediate",
            0,
            id="endocrine-grade-3-unknown-ignored",
        ),
        pytest.param(
            irae("pneumonitis", 3, 0, steroid_refractory=None),
            "contraindicated",
            -3,
            id="contraindicated-anyway",
        ),
    ],
)
def test_unknown_steroid_refractoriness_under_1_1(item, level: str, points: int) -> None:
    assert factor(make(prior_iraes=(item,)), "prior_irae") == (level, points)


def test_unknown_steroid_refractoriness_reason() -> None:
    result = under_1_1(make(prior_iraes=(irae("colitis", 3, 1, steroid_refractory=None),)))
    assert result.factor("prior_irae").reason == "Grade 3 Colitis: whether it was steroid-refractory is not recorded"
    assert result.category == "insufficient_data"


def test_model_1_0_reads_unknown_refractoriness_as_the_unticked_box() -> None:
    item = irae("colitis", 3, 1, steroid_refractory=None)
    assert factor(make(prior_iraes=(item,)), "prior_irae", V1) == ("intermediate", 0)


def test_steroid_refractory_must_be_a_boolean_or_none() -> None:
    inputs = make(prior_iraes=(irae("colitis", 2, 0, steroid_refractory="yes"),))
    assert validate(inputs) == {"prior_iraes[0].steroid_refractory": "must be true, false or not recorded"}


# --- 5. guideline contraindications ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "grade", "level_1_1", "level_1_0"),
    [
        pytest.param("nephritis", 3, "contraindicated", "intermediate", id="nephritis-g3"),
        pytest.param("nephritis", 2, "favourable", "favourable", id="nephritis-g2"),
        pytest.param("acute_kidney_injury", 3, "contraindicated", "intermediate", id="aki-g3"),
        pytest.param("acute_kidney_injury", 2, "favourable", "favourable", id="aki-g2"),
        pytest.param("myositis", 3, "contraindicated", "intermediate", id="myositis-g3"),
        pytest.param("myositis", 2, "favourable", "favourable", id="myositis-g2"),
        pytest.param("uveitis", 3, "contraindicated", "intermediate", id="uveitis-g3"),
        pytest.param("uveitis", 2, "favourable", "favourable", id="uveitis-g2"),
        pytest.param("stevens_johnson_syndrome", 3, "contraindicated", "intermediate", id="sjs-g3"),
        pytest.param("toxic_epidermal_necrolysis", 4, "contraindicated", "contraindicated", id="ten-g4"),
        pytest.param("dress", 2, "contraindicated", "favourable", id="dress-g2"),
        pytest.param("dress", 1, "contraindicated", "favourable", id="dress-g1"),
        pytest.param("myelitis", 1, "contraindicated", "favourable", id="myelitis-g1"),
        pytest.param("myelitis", 3, "contraindicated", "unfavourable", id="myelitis-g3-vital"),
        pytest.param("hemolysis", 3, "contraindicated", "intermediate", id="haemolysis-g3"),
        pytest.param("hemolysis", 2, "favourable", "favourable", id="haemolysis-g2"),
        pytest.param("immune_thrombocytopenia", 4, "contraindicated", "contraindicated", id="itp-g4"),
        pytest.param("immune_thrombocytopenia", 3, "intermediate", "intermediate", id="itp-g3"),
    ],
)
def test_guideline_contraindications_at_and_below_their_grade(
    term: str, grade: int, level_1_1: str, level_1_0: str
) -> None:
    """Resolved to grade 0 and not steroid-refractory, so only the term and grade decide."""
    inputs = make(pfs1_event=True, prior_iraes=(irae(term, grade, 0),))
    assert factor(inputs, "prior_irae")[0] == level_1_1
    assert factor(inputs, "prior_irae", V1)[0] == level_1_0


@pytest.mark.parametrize(
    ("term", "grade", "source"),
    [
        pytest.param("nephritis", 3, "guideline: ASCO 2021; guideline: SITC 2021; guideline: NCCN", id="nephritis"),
        pytest.param("uveitis", 3, "guideline: ASCO 2021", id="uveitis"),
        pytest.param("encephalitis", 1, "inferred", id="encephalitis"),
        pytest.param("colitis", 4, "guideline: ASCO 2021", id="grade-4-non-endocrine"),
        pytest.param("colitis", 5, "inferred", id="fatal"),
    ],
)
def test_contraindications_name_their_source(term: str, grade: int, source: str) -> None:
    assert under_1_1(make(prior_iraes=(irae(term, grade, 0),))).factor("prior_irae").source == source


def test_stricter_than_guideline_rules_say_so_in_the_spec() -> None:
    terms = V1_1.factors["prior_irae"]["contraindications"]["terms"]
    stricter = {code for code, rule in terms.items() if "stricter" in rule.get("note", "").lower()}
    assert stricter == {
        "myocarditis",
        "guillain_barre_syndrome",
        "myasthenia_gravis",
        "myelitis",
        "myositis",
        "stevens_johnson_syndrome",
        "dress",
    }


# --- 6. provenance and the review criteria ---------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "name", "source"),
    [
        pytest.param({"pfs1_months": 12.0}, "pfs1", "review", id="pfs1-12-review"),
        pytest.param({"pfs1_months": 3.0}, "pfs1", "inferred", id="pfs1-below-6-inferred"),
        pytest.param({"pfs1_months": 3.0, "pfs1_event": False}, "pfs1", "inferred", id="pfs1-censored-inferred"),
        pytest.param({"pfs1_months": None}, "pfs1", "inferred", id="pfs1-missing-inferred"),
        pytest.param({"tfi_months": 6.0}, "tfi", "review", id="tfi-6-review"),
        pytest.param({"tfi_months": 4.0}, "tfi", "inferred", id="tfi-4-inferred"),
        pytest.param({"progressed_on_ici1": True}, "tfi", "inferred", id="tfi-progressed-inferred"),
        pytest.param({"ecog": 1}, "ecog", "review", id="ecog-1-review"),
        pytest.param({"ecog": 2}, "ecog", "inferred", id="ecog-2-inferred"),
        pytest.param({"stop_reason": "toxicity"}, "stop_reason", "review", id="toxicity-stop-review"),
        pytest.param({"stop_reason": "planned_completion"}, "stop_reason", "inferred", id="planned-stop-inferred"),
        pytest.param({"strategy": "ici_chemotherapy"}, "strategy", "review", id="combination-review"),
        pytest.param({"strategy": "monotherapy"}, "strategy", "inferred", id="monotherapy-inferred"),
        pytest.param({"prior_iraes": (irae("colitis", 2, 1),)}, "prior_irae", "review; inferred", id="resolved"),
        pytest.param({"current_prednisone_mg_per_day": 20.0}, "prior_irae", "inferred", id="prednisone-20"),
    ],
)
def test_each_factor_reports_the_source_of_the_rule_that_fired(changes: dict, name: str, source: str) -> None:
    result = under_1_1(make(**{"pfs1_event": True, **changes}))
    assert result.factor(name).source == source
    assert result.as_dict()["factors"][list(result.factors).index(result.factor(name))]["source"] == source


@pytest.mark.parametrize(
    ("changes", "met"),
    [
        pytest.param({}, True, id="all-four-met"),
        pytest.param({"pfs1_months": 5.0}, False, id="pfs1-5-progressed"),
        pytest.param({"pfs1_months": 5.0, "pfs1_event": False}, None, id="pfs1-5-censored-unknown"),
        pytest.param({"pfs1_months": 5.0, "pfs1_event": None}, None, id="pfs1-5-event-unknown"),
        pytest.param({"pfs1_months": 6.0, "pfs1_event": False}, True, id="pfs1-6-censored-met"),
        pytest.param({"pfs1_months": None}, None, id="pfs1-missing"),
        pytest.param({"pfs1_months": 5.0, "pfs1_event": False, "tfi_months": 4.0}, False, id="known-failure-decides"),
        pytest.param({"tfi_months": 5.99}, False, id="tfi-below-6"),
        pytest.param({"tfi_months": None}, None, id="tfi-missing"),
        pytest.param({"ecog": 2}, False, id="ecog-2"),
        pytest.param({"ecog": None}, None, id="ecog-missing"),
        pytest.param({"prior_iraes": None}, None, id="iraes-not-recorded"),
        pytest.param({"prior_iraes": (irae("colitis", 2, 1),)}, True, id="irae-resolved-to-1"),
        pytest.param({"prior_iraes": (irae("colitis", 2, 2),)}, False, id="irae-still-2"),
        pytest.param({"prior_iraes": (irae("rash_maculo_papular", 1, None),)}, True, id="grade-1-blank"),
        pytest.param({"prior_iraes": (irae("colitis", 2, None),)}, None, id="grade-2-blank"),
        pytest.param(
            {"prior_iraes": (irae("hypothyroidism", 2, None, controlled_on_replacement=True),)},
            False,
            id="still-on-replacement",
        ),
        pytest.param({"current_prednisone_mg_per_day": 20.0}, True, id="prednisone-not-a-criterion"),
    ],
)
def test_review_criteria_met(changes: dict, met: bool | None) -> None:
    result = under_1_1(make(**{"pfs1_event": True, **changes}))
    assert result.review_criteria_met is met
    assert result.as_dict()["review_criteria_met"] is met


def test_model_1_0_does_not_assess_the_review_criteria() -> None:
    assert evaluate(BASE, V1).review_criteria_met is None
