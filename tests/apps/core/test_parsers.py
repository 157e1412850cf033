"""Text with NUL characters is refused as a 400 before it can reach PostgreSQL."""

from __future__ import annotations

from rest_framework.test import APIClient

from tests.factories import PatientFactory


def test_a_nul_character_in_a_json_body_is_a_400_not_a_server_error(site_a, data_entry_a):
    client = APIClient()
    client.force_authenticate(data_entry_a)
    body = {"site": "A\x00A", "local_identifier": "X", "sex": "male", "year_of_birth": 1950, "tumour_type": "MEL"}
    response = client.post("/api/v1/patients/", body, format="json")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


def test_a_nul_character_deep_in_a_nested_body_is_refused(data_entry_a):
    client = APIClient()
    client.force_authenticate(data_entry_a)
    body = {"prior_iraes": [{"ctcae_term": "coli\x00tis", "grade": 2}]}
    assert client.post("/api/v1/decision-models/evaluate/", body, format="json").status_code == 400


def test_a_nul_character_in_a_site_code_url_answers_404(site_a, data_entry_a):
    PatientFactory(site=site_a)
    client = APIClient()
    client.force_authenticate(data_entry_a)
    assert client.get("/api/v1/sites/A%00A/").status_code == 404
