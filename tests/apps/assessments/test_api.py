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
    [model] = response.json()
    assert model["version"] == "1.0"
    assert model["hash"] == get_spec("1.0").hash
    assert model["active"] is True
    assert model["specification"] == get_spec("1.0").to_dict()


def test_evaluating_returns_category_score_factors_and_model(api):
    response = api.post("/api/v1/decision-models/evaluate/", CASE, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["category"], body["score"]) == ("favourable", 6)
    assert body["model"] == {"version": "1.0", "hash": get_spec("1.0").hash}
    factors = {factor["factor"]: factor for factor in body["factors"]}
    assert factors["tfi"]["level"] == "intermediate"
    assert factors["tfi"]["reason"] == "Treatment-free interval 4.2 months: 3–6 months is intermediate"


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
