"""A site closed to new data (``Site.active`` off) keeps its records readable and refuses every write to
them — create, change, delete, from the API, the pages, the import and enrollment — with one clear
message: "Site CODE is closed to new data." (never "code=CODE does not exist")."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.accounts.selectors import site_closed_message
from apps.assessments.services import episode_enroll
from apps.clinical.models import AdverseEvent, Patient
from apps.clinical.services import record_update
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from apps.imports import services as import_services
from tests.apps.clinical.api_support import ADVERSE_EVENTS, PATIENTS, RECORD_TYPES, client_for, episode_at, if_match
from tests.apps.clinical.test_views_entry import ADVERSE_EVENT, PATIENT, edit_url, form_values
from tests.apps.clinical.test_views_pages import full_case, patient_url, sign_in
from tests.apps.imports.data import csv_bytes, row
from tests.factories import PatientFactory

CLOSED = "Site AAA is closed to new data."


def _close(site) -> None:
    site.active = False
    site.save(update_fields=["active"])


def _versions(*records) -> list[int]:
    return [type(record).objects.get(pk=record.pk).version for record in records]


def test_the_message_is_the_one_enrollment_uses():
    assert site_closed_message("AAA") == CLOSED


# --- API ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", RECORD_TYPES, ids=str)
def test_creating_a_record_at_a_closed_site_is_refused_with_the_closed_message(kind, site_a, data_entry_a):
    """Before: 201 for every record under a patient, and "Object with code=AAA does not exist." for a patient."""
    payload = kind.payload(site_a)
    before = kind.model.objects.count()
    _close(site_a)
    response = client_for(data_entry_a).post(kind.list_url(), payload, format="json")
    assert (response.status_code, response.json()) == (409, {"detail": CLOSED})
    assert kind.model.objects.count() == before


@pytest.mark.parametrize("kind", RECORD_TYPES, ids=str)
@pytest.mark.parametrize("role", ["data_entry_a", "coordinator"])
def test_changing_or_deleting_a_record_of_a_closed_site_is_refused(kind, role, request, site_a):
    user = request.getfixturevalue(role)
    record = kind.make(site_a)
    _close(site_a)
    client = client_for(user)
    changed = client.patch(kind.url(record), kind.change, format="json", **if_match(record))
    deleted = client.delete(kind.url(record), **if_match(record))
    assert (changed.status_code, changed.json()) == (409, {"detail": CLOSED})
    assert (deleted.status_code, deleted.json()) == (409, {"detail": CLOSED})
    assert _versions(record) == [1]
    assert not AuditEntry.objects.filter(site=site_a).exists()


def test_records_of_a_closed_site_stay_readable(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    _close(site_a)
    assert client_for(data_entry_a).get(PATIENTS.url(patient)).status_code == 200


def test_a_coordinator_cannot_move_a_record_onto_a_patient_of_a_closed_site(site_a, site_b, coordinator):
    irae = ADVERSE_EVENTS.make(site_b)
    closed_patient = PatientFactory(site=site_a)
    _close(site_a)
    response = client_for(coordinator).patch(
        ADVERSE_EVENTS.url(irae), {"patient": closed_patient.registry_id}, format="json", **if_match(irae)
    )
    assert (response.status_code, response.json()) == (409, {"detail": CLOSED})
    assert AdverseEvent.objects.get(pk=irae.pk).patient_id == irae.patient_id


def test_system_jobs_write_nothing_to_a_closed_site_either(site_a):
    patient = PatientFactory(site=site_a)
    _close(site_a)
    with pytest.raises(ApplicationError, match=CLOSED):
        record_update(instance=patient, data={"tumour_type": "SKCM"}, user=None, channel="task")


def test_enrollment_at_a_closed_site_is_refused_with_the_same_message(site_a, data_entry_a):
    episode = episode_at(site_a)
    _close(site_a)
    with pytest.raises(ApplicationError, match=CLOSED):
        episode_enroll(episode=episode, user=data_entry_a)


# --- Pages ----------------------------------------------------------------------------------------------------


def test_the_pages_refuse_writes_at_a_closed_site_and_say_why(client, site_a, data_entry_a):
    patient = full_case(site_a)
    irae = AdverseEvent.objects.filter(patient=patient).first()
    sign_in(client, data_entry_a)
    edit_form = client.get(edit_url("patient", patient.pk))
    _close(site_a)

    created = client.post(
        reverse("clinical:adverse-event-create", kwargs={"registry_id": patient.registry_id}), ADVERSE_EVENT
    )
    edited = client.post(edit_url("patient", patient.pk), {**form_values(edit_form), "histology": "Acinar"})
    deleted = client.post(
        reverse("clinical:record-delete", kwargs={"model": "adverse-event", "pk": irae.pk}),
        {"reason": "duplicate", "version": "1"},
    )
    for response in (created, edited, deleted):
        assert response.status_code == 200
        assert CLOSED in response.content.decode()
    assert AdverseEvent.objects.filter(pk=irae.pk).exists()
    assert _versions(patient) == [1]
    assert client.get(patient_url(patient)).status_code == 200


def test_registering_is_refused_to_staff_whose_only_site_is_closed(client, site_a, data_entry_a):
    _close(site_a)
    sign_in(client, data_entry_a)
    response = client.post(reverse("clinical:patient-create"), {**PATIENT, "site": site_a.pk})
    assert response.status_code == 403
    assert CLOSED in response.content.decode()
    assert not Patient.objects.exists()


# --- Import -----------------------------------------------------------------------------------------------------


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("closed.csv", csv_bytes([row()]), content_type="text/csv")


def test_an_import_into_a_closed_site_is_refused_with_the_closed_message(site_a, data_entry_a, settings, tmp_path):
    """Before: "You cannot import records into this site." with "…or it does not enrol any more"."""
    settings.MEDIA_ROOT = tmp_path
    _close(site_a)
    with pytest.raises(ApplicationError) as refused:
        import_services.import_job_create(user=data_entry_a, site=site_a, upload=_upload())
    assert (refused.value.status, refused.value.message, refused.value.field_errors) == (
        409,
        CLOSED,
        {"site": [CLOSED]},
    )


def test_a_queued_import_of_a_site_closed_meanwhile_imports_nothing(site_a, data_entry_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    job = import_services.import_job_create(user=data_entry_a, site=site_a, upload=_upload(), run_inline=False)
    _close(site_a)
    import_services.import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == job.Status.FAILED
    assert job.message == f"{CLOSED} Nothing was imported."
    assert not Patient.objects.exists()
