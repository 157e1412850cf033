"""Local identifiers are stored, compared and searched in one normal form on every channel:
``MRN1498824``, ``mrn1498824`` and ``MRN1498824\\u200b`` are one patient of a site."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from apps.clinical.models import Patient, RechallengeEpisode
from apps.clinical.services import record_create, record_update
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from apps.core.selectors import audit_chains_verify
from apps.imports import services as import_services
from tests.apps.clinical.api_support import PATIENTS, client_for
from tests.apps.clinical.test_views_entry import PATIENT
from tests.apps.clinical.test_views_pages import page, sign_in
from tests.apps.imports.data import csv_bytes, row
from tests.factories import PatientFactory

SPELLINGS = ["mrn1498824", "MRN1498824\u200b", " MRN 1498824 ", "ＭＲＮ１４９８８２４"]


def _register(site, user, identifier: str) -> Patient:
    data = {**PATIENTS.payload(site), "site": site, "local_identifier": identifier}
    return record_create(model=Patient, data={**data, "consent_date": dt.date(2024, 2, 1)}, user=user, channel="api")


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_another_spelling_of_a_registered_identifier_is_the_same_patient(site_a, data_entry_a, spelling):
    """Before: three (or more) patients of one site with one hospital number."""
    _register(site_a, data_entry_a, "MRN1498824")
    with pytest.raises(ApplicationError) as refused:
        _register(site_a, data_entry_a, spelling)
    assert "already exists" in str(refused.value.field_errors)
    assert Patient.objects.count() == 1


def test_an_identifier_is_stored_and_audited_in_its_normal_form(site_a, data_entry_a):
    patient = _register(site_a, data_entry_a, " mrn-14\u200b98824 ")
    assert Patient.objects.get(pk=patient.pk).local_identifier == "MRN-1498824"
    assert AuditEntry.objects.get().changes["local_identifier"] == [None, "MRN-1498824"]


def test_a_correction_of_the_identifier_is_normalised_too(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, local_identifier="MRN1")
    record_update(instance=patient, data={"local_identifier": "mrn2\u00a0"}, user=data_entry_a, channel="web")
    assert AuditEntry.objects.get().changes["local_identifier"] == ["MRN1", "MRN2"]


def test_the_same_number_at_another_site_is_another_patient(site_a, site_b, data_entry_a, data_entry_b):
    _register(site_a, data_entry_a, "MRN1498824")
    _register(site_b, data_entry_b, "mrn1498824")
    assert Patient.objects.count() == 2


def test_the_api_refuses_another_spelling_and_finds_the_patient_by_any_spelling(site_a, data_entry_a):
    client = client_for(data_entry_a)
    created = client.post(
        PATIENTS.list_url(), {**PATIENTS.payload(site_a), "local_identifier": "MRN1498824"}, format="json"
    )
    again = client.post(
        PATIENTS.list_url(), {**PATIENTS.payload(site_a), "local_identifier": "mrn1498824\u200b"}, format="json"
    )
    assert (created.status_code, again.status_code) == (201, 400)
    for spelling in SPELLINGS:
        results = client.get(PATIENTS.list_url(), {"search": spelling}).json()["results"]
        assert [r["registry_id"] for r in results] == [created.json()["registry_id"]], spelling


def test_the_patient_list_finds_the_patient_by_any_spelling(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a, local_identifier="MRN1498824")
    sign_in(client, data_entry_a)
    for spelling in SPELLINGS:
        assert patient.registry_id in page(client, f"{reverse('clinical:patient-list')}?q={spelling}"), spelling


def test_the_registration_form_refuses_another_spelling(client, site_a, data_entry_a):
    PatientFactory(site=site_a, local_identifier="MRN-NEW-1")
    sign_in(client, data_entry_a)
    response = client.post(
        reverse("clinical:patient-create"), {**PATIENT, "site": site_a.pk, "local_identifier": "mrn-new-1\u200b"}
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Patient.objects.count() == 1


# --- Import ---------------------------------------------------------------------------------------------------


def _import(user, site, rows, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("ids.csv", csv_bytes(rows), content_type="text/csv")
    return import_services.import_job_create(user=user, site=site, upload=upload)


def test_rows_whose_identifiers_differ_only_in_spelling_are_one_patient(site_a, data_entry_a, settings, tmp_path):
    rows = [
        row(local_identifier="MRN-7"),
        row(
            local_identifier="mrn-7\u200b",
            episode_sequence="2",
            episode_start_date="2023-10-01",
            response1_date="2023-12-01",
            followup1_date="2024-02-01",
            followup1_last_alive_date="2024-02-01",
        ),
    ]
    job = _import(data_entry_a, site_a, rows, settings, tmp_path)
    assert job.status == job.Status.SUCCEEDED, job.errors
    (patient,) = Patient.objects.all()
    assert patient.local_identifier == "MRN-7"
    assert RechallengeEpisode.objects.filter(patient=patient).count() == 2


def test_an_import_row_naming_a_registered_patient_in_another_spelling_updates_that_patient(
    site_a, data_entry_a, settings, tmp_path
):
    registered = PatientFactory(site=site_a, local_identifier="MRN-7")
    job = _import(data_entry_a, site_a, [row(local_identifier=" mrn-7 ")], settings, tmp_path)
    assert job.status == job.Status.SUCCEEDED, job.errors
    assert job.created_registry_ids == []
    assert list(Patient.objects.values_list("pk", flat=True)) == [registered.pk]
    assert registered.episodes.count() == 1


# --- The migration that normalised the identifiers stored before ------------------------------------------------

BEFORE = [("clinical", "0003_irae_terms_of_model_1_1")]
AFTER = [("clinical", "0004_normalise_local_identifiers")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_migration_normalises_stored_identifiers_audits_them_and_reports_collisions_unchanged(capsys):
    old = _migrate(BEFORE)
    try:
        sites = old.get_model("accounts.Site")
        a, b = sites.objects.create(code="AAA", name="A", country="NL"), sites.objects.create(code="BBB", name="B")
        patients = old.get_model("clinical.Patient")
        made = {}
        for key, site, identifier in [
            ("plain", a, "mrn-1"),
            ("done", a, "MRN-2"),
            ("twin1", a, "MRN1498824"),
            ("twin2", a, "mrn1498824"),
            ("twin3", a, "MRN1498824\u200b"),
            ("other_site", b, "mrn1498824"),
        ]:
            made[key] = patients.objects.create(
                registry_id=f"{site.code}-{key.upper()[:6]:0<6}-0",
                site=site,
                local_identifier=identifier,
                sex="female",
                year_of_birth=1950,
                tumour_type="LUAD",
                consent_date=dt.date(2023, 1, 1),
            )

        new = _migrate(AFTER)

        stored = dict(new.get_model("clinical.Patient").objects.values_list("registry_id", "local_identifier"))
        versions = dict(new.get_model("clinical.Patient").objects.values_list("registry_id", "version"))
        ids = {key: patient.registry_id for key, patient in made.items()}
        assert stored[ids["plain"]] == "MRN-1" and versions[ids["plain"]] == 2
        assert stored[ids["other_site"]] == "MRN1498824"
        assert (stored[ids["done"]], versions[ids["done"]]) == ("MRN-2", 1)
        # The three of site A would become one: none is touched, and the group is reported by registry ID.
        assert [stored[ids[k]] for k in ("twin1", "twin2", "twin3")] == [
            "MRN1498824",
            "mrn1498824",
            "MRN1498824\u200b",
        ]
        printed = capsys.readouterr().out
        assert f"site AAA: {ids['twin1']}, {ids['twin2']}, {ids['twin3']}" in printed
        assert "1498824" not in printed  # registry IDs only: the identifiers are for the site
        entries = new.get_model("core.AuditEntry").objects.filter(channel="system", model_label="clinical.patient")
        assert {(e.object_repr, tuple(e.changes["local_identifier"])) for e in entries} == {
            (ids["plain"], ("mrn-1", "MRN-1")),
            (ids["other_site"], ("mrn1498824", "MRN1498824")),
        }
        assert not audit_chains_verify()["broken"]
        out = io.StringIO()
        with pytest.raises(CommandError, match="1 group"):
            call_command("local_identifier_collisions", stdout=out)
        assert out.getvalue().strip() == f"site AAA: {ids['twin1']}, {ids['twin2']}, {ids['twin3']}"
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_collisions_command_is_quiet_when_nothing_collides(site_a):
    PatientFactory(site=site_a, local_identifier="MRN-1")
    out = io.StringIO()
    call_command("local_identifier_collisions", stdout=out)
    assert "No local identifiers collide" in out.getvalue()
