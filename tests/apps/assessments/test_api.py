"""Decision-model API: versions with their specification and hash; evaluation with field-level errors."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from registry.decision import get_spec

CASE = {
    "pfs1_months": 14.0,
    "tfi_months": 4.2,
    "progressed_on_ici1": False,
    "ecog": 1,
    "prior_iraes": [{"ctcae_term": "colitis", "grade": 2, "resolved_to_grade": 0, "steroid_refractory": False}],
    "current_prednisone_mg_per_day": 0,
    "stop_reason": "toxicity",
    "strategy": "ici_chemotherapy",
}


@pytest.fixture
def api(data_entry_a):
    client = APIClient()
    client.force_authenticate(data_entry_a)
    return client


def test_versions_are_listed_with_specification_and_content_hash(api):
    response = api.get("/api/v1/decision-models/")
    assert response.status_code == 200
    old, new = response.json()
    assert (old["version"], old["hash"], old["active"]) == ("1.0", get_spec("1.0").hash, False)
    assert (new["version"], new["hash"], new["active"]) == ("1.1", get_spec("1.1").hash, True)
    assert old["specification"] == get_spec("1.0").to_dict()
    assert new["specification"] == get_spec("1.1").to_dict()


def test_evaluating_returns_category_score_factors_and_model(api):
    response = api.post("/api/v1/decision-models/evaluate/", CASE, format="json")
    assert response.status_code == 200
    body = response.json()
    # PFS1 14 (+2), TFI 4.2 (0), ECOG 1 (+1), colitis resolved (+1), toxicity stop (+1), chemotherapy (+1).
    assert (body["category"], body["score"]) == ("favourable", 6)
    assert body["model"] == {"version": "1.1", "hash": get_spec("1.1").hash}
    factors = {factor["factor"]: factor for factor in body["factors"]}
    assert factors["tfi"]["level"] == "intermediate"
    assert factors["tfi"]["reason"] == "Treatment-free interval 4.2 months: 3–6 months is intermediate"
    assert (factors["tfi"]["source"], factors["stop_reason"]["source"]) == ("inferred", "review")
    assert body["review_criteria_met"] is False  # TFI 4.2 < 6 months


def test_model_1_0_reports_no_provenance_and_no_review_criteria(api):
    response = api.post("/api/v1/decision-models/evaluate/", {**CASE, "model_version": "1.0"}, format="json")
    body = response.json()
    assert body["model"] == {"version": "1.0", "hash": get_spec("1.0").hash}
    assert {factor["source"] for factor in body["factors"]} == {"not recorded"}
    assert body["review_criteria_met"] is None


@pytest.mark.parametrize(
    ("event", "level", "points"),
    [
        pytest.param(True, "unfavourable", -2, id="progressed"),
        pytest.param(False, "intermediate", 0, id="censored"),
        pytest.param(None, "intermediate", 0, id="null"),
    ],
)
def test_pfs1_event_decides_a_short_pfs1(api, event, level, points):
    case = {**CASE, "pfs1_months": 5.0, "pfs1_event": event}
    [pfs1] = [
        f
        for f in api.post("/api/v1/decision-models/evaluate/", case, format="json").json()["factors"]
        if f["factor"] == "pfs1"
    ]
    assert (pfs1["level"], pfs1["points"]) == (level, points)


def test_pfs1_event_left_out_is_not_recorded(api):
    body = api.post("/api/v1/decision-models/evaluate/", {**CASE, "pfs1_months": 5.0}, format="json").json()
    [pfs1] = [f for f in body["factors"] if f["factor"] == "pfs1"]
    assert "whether it ended in progression is not recorded" in pfs1["reason"]


def test_unknown_steroid_refractoriness_leaves_a_grade_3_irae_missing(api):
    irae = {"ctcae_term": "colitis", "grade": 3, "resolved_to_grade": 1, "steroid_refractory": None}
    body = api.post("/api/v1/decision-models/evaluate/", {**CASE, "prior_iraes": [irae]}, format="json").json()
    [prior] = [f for f in body["factors"] if f["factor"] == "prior_irae"]
    assert prior["level"] == "missing"
    assert body["category"] == "insufficient_data"


def test_steroid_refractoriness_left_out_means_no(api):
    irae = {"ctcae_term": "colitis", "grade": 3, "resolved_to_grade": 1}
    body = api.post("/api/v1/decision-models/evaluate/", {**CASE, "prior_iraes": [irae]}, format="json").json()
    [prior] = [f for f in body["factors"] if f["factor"] == "prior_irae"]
    assert prior["level"] == "intermediate"


def test_grade_one_myocarditis_is_contraindicated_through_the_api(api):
    case = {**CASE, "prior_iraes": [{"ctcae_term": "myocarditis", "grade": 1, "resolved_to_grade": 0}]}
    response = api.post("/api/v1/decision-models/evaluate/", case, format="json")
    assert response.json()["category"] == "contraindicated"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ecog": 7}, "ecog"),
        ({"pfs1_months": -1}, "pfs1_months"),
        ({"stop_reason": "boredom"}, "stop_reason"),
        ({"strategy": "homeopathy"}, "strategy"),
        ({"model_version": "9.9"}, "model_version"),
        ({"pfs1_event": "maybe"}, "pfs1_event"),
        ({"pfs1_event": [True]}, "pfs1_event"),
    ],
)
def test_bad_input_answers_400_naming_the_field(api, change, field):
    response = api.post("/api/v1/decision-models/evaluate/", {**CASE, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_ecog_five_is_refused_by_the_model_with_its_reason(api):
    response = api.post("/api/v1/decision-models/evaluate/", {**CASE, "ecog": 5}, format="json")
    assert response.status_code == 400
    assert "died" in response.json()["ecog"][0]


def test_an_invalid_steroid_refractory_answer_is_a_nested_field_error(api):
    irae = {"ctcae_term": "colitis", "grade": 3, "resolved_to_grade": 1, "steroid_refractory": "perhaps"}
    response = api.post("/api/v1/decision-models/evaluate/", {**CASE, "prior_iraes": [irae]}, format="json")
    assert response.status_code == 400
    assert "steroid_refractory" in response.json()["prior_iraes"]["0"]


def test_an_irae_resolved_above_its_grade_is_a_nested_field_error(api):
    case = {**CASE, "prior_iraes": [{"ctcae_term": "colitis", "grade": 2, "resolved_to_grade": 3}]}
    response = api.post("/api/v1/decision-models/evaluate/", case, format="json")
    assert response.status_code == 400
    assert response.json()["prior_iraes"]["0"]["resolved_to_grade"] == ["Cannot be above the worst grade."]


def test_anonymous_callers_are_refused(db):
    assert APIClient().post("/api/v1/decision-models/evaluate/", CASE, format="json").status_code == 401


def test_both_operations_are_in_the_openapi_schema(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert "post" in schema["paths"]["/api/v1/decision-models/evaluate/"]
    assert "get" in schema["paths"]["/api/v1/decision-models/"]
    components = schema["components"]["schemas"]
    assert components["EvaluateRequestRequest"]["properties"]["pfs1_event"]["nullable"] is True
    assert components["PriorIraeRequest"]["properties"]["steroid_refractory"]["nullable"] is True
    assert "source" in components["Factor"]["properties"]
    assert components["EvaluateResponse"]["properties"]["review_criteria_met"]["nullable"] is True
