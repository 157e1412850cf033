"""One NUL check for every channel: the JSON API, the web forms and the bulk import refuse text holding a
NUL character (PostgreSQL text cannot store one) with the same words, through ``registry.text``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from apps.clinical.models import Patient
from apps.imports import services as import_services
from apps.imports.models import ImportJob
from registry import csv_import
from registry.text import NUL_MESSAGE, contains_nul, nul_shown
from tests.apps.clinical.test_views_pages import sign_in
from tests.apps.imports.data import csv_bytes, row
from tests.factories import PatientFactory

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_the_check_finds_nul_in_text_lists_and_mappings_keys_included():
    assert contains_nul("a\x00b") and not contains_nul("ab")
    assert contains_nul({"k": ["x", {"y": "z\x00"}]}) and contains_nul({"k\x00": 1}) and contains_nul(("a\x00",))
    assert not contains_nul({"k": [1, 2.5, None, True]})
    assert nul_shown("MRN\x001") == "MRN\u24001"


def test_there_is_one_nul_check_in_the_code():
    """Every place that looks for a NUL calls ``registry.text``; no copy of the test is left."""
    copies = []
    for folder in ("apps", "registry", "config"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "registry" / "text.py":
                continue
            text = path.read_text()
            if re.search(r"""["']\\x00["']|["']\\0["']|chr\(0\)""", text):
                copies.append(str(path.relative_to(ROOT)))
    assert copies == []


# --- the import ---------------------------------------------------------------------------------------------


def test_a_nul_in_a_cell_is_a_cell_error_and_the_text_is_kept_without_it():
    parsed = csv_import.parse_row(2, row(histology="adeno\x00carcinoma", episode_start_date="2023-04-02\x00"))
    by_column = {error.column: error for error in parsed.errors}
    assert set(by_column) == {"histology", "episode_start_date"}
    assert by_column["histology"].message.startswith(NUL_MESSAGE)
    assert by_column["histology"].value == "adeno\u2400carcinoma"
    assert not contains_nul(parsed.cells)
    assert "histology" not in parsed.records[csv_import.Record.PATIENT.value, None]


@pytest.mark.parametrize(
    "changes",
    [
        {"local_identifier": "MRN\x001"},
        {"histology": "adeno\x00carcinoma"},
        {"ici1_start_date": "2022-03\x00"},
    ],
    ids=["identifier", "text", "date"],
)
def test_an_import_with_a_nul_in_a_cell_fails_with_that_cell_and_imports_nothing(site_a, data_entry_a, changes):
    upload = SimpleUploadedFile("episodes.csv", csv_bytes([row(**changes)]), content_type="text/csv")
    job = import_services.import_job_create(user=data_entry_a, site=site_a, upload=upload, run_inline=True)
    assert job.status == ImportJob.Status.FAILED
    (column,) = changes
    assert [(e["row"], e["column"]) for e in job.errors if e["message"].startswith(NUL_MESSAGE)] == [(2, column)]
    assert not contains_nul(job.errors)
    assert not Patient.objects.exists()


def test_a_nul_in_a_header_name_is_reported_without_it(site_a, data_entry_a):
    data = csv_bytes([row()]).replace(b"histology", b"histo\x00logy", 1)
    table = csv_import.read_table(data)
    assert [e.value for e in table.errors] == ["histo\u2400logy"]


# --- the API and the forms say the same ---------------------------------------------------------------------


def test_the_api_refuses_nul_with_the_shared_message(site_a, data_entry_a):
    api = APIClient()
    api.force_authenticate(data_entry_a)
    body = {"site": site_a.code, "local_identifier": "MRN\x00", "sex": "male", "year_of_birth": 1950}
    response = api.post("/api/v1/patients/", body, format="json")
    assert (response.status_code, response.json()["detail"]) == (400, NUL_MESSAGE)


def test_the_web_forms_refuse_nul_with_the_shared_message(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    url = reverse("clinical:record-edit", kwargs={"model": "patient", "pk": patient.pk})
    response = sign_in(client, data_entry_a).post(
        url,
        {
            "local_identifier": patient.local_identifier,
            "sex": "female",
            "year_of_birth": "1958",
            "tumour_type": "LUAD",
            "histology": "adeno\x00carcinoma",
            "consent_status": "consented",
            "consent_date": "2024-01-10",
            "version": "1",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["histology"] == [NUL_MESSAGE]
    patient.refresh_from_db()
    assert patient.histology == ""


def test_the_delete_form_refuses_a_nul_in_the_reason(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    url = reverse("clinical:record-delete", kwargs={"model": "patient", "pk": patient.pk})
    response = sign_in(client, data_entry_a).post(url, {"reason": "dup\x00", "version": "1"})
    assert response.context["form"].errors["reason"] == [NUL_MESSAGE]
    assert Patient.objects.filter(pk=patient.pk).exists()
