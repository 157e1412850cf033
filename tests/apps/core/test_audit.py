"""The audit trail records every change with old and new values, and cannot be edited."""

from __future__ import annotations

import pytest

from apps.clinical.models import Patient
from apps.clinical.services import record_create, record_delete, record_update
from apps.core.errors import ApplicationError, ConflictError
from apps.core.models import AuditEntry
from tests.factories import PatientFactory

PATIENT_DATA = {
    "local_identifier": "MRN-1",
    "sex": "male",
    "year_of_birth": 1960,
    "tumour_type": "MEL",
    "consent_status": "consented",
    "consent_date": "2024-02-01",
}


def test_creating_a_patient_writes_a_create_entry_with_new_values(site_a, data_entry_a):
    patient = record_create(model=Patient, data={**PATIENT_DATA, "site": site_a}, user=data_entry_a, channel="web")
    entry = AuditEntry.objects.get(object_id=str(patient.pk), model_label="clinical.patient")
    assert (entry.action, entry.channel, entry.user, entry.site_id) == ("create", "web", data_entry_a, site_a.pk)
    assert entry.changes["tumour_type"] == [None, "MEL"]
    assert patient.registry_id.startswith("AAA-")


def test_updating_records_old_and_new_value_per_field_and_bumps_version(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, tumour_type="MEL")
    updated = record_update(instance=patient, data={"tumour_type": "SKCM"}, user=data_entry_a, channel="api")
    entry = AuditEntry.objects.filter(action="update").get()
    assert entry.changes["tumour_type"] == ["MEL", "SKCM"]
    assert entry.changes["version"] == [1, 2]
    assert updated.version == 2


def test_changing_a_complete_record_without_a_reason_is_refused_and_changes_nothing(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, tumour_type="MEL", is_complete=True)
    with pytest.raises(ApplicationError) as error:
        record_update(instance=patient, data={"tumour_type": "SKCM"}, user=data_entry_a, channel="web")
    assert "reason" in error.value.field_errors
    patient.refresh_from_db()
    assert patient.tumour_type == "MEL"
    assert not AuditEntry.objects.exists()


def test_a_stale_version_is_refused_as_a_conflict(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    record_update(instance=patient, data={"sex": "male"}, user=data_entry_a, channel="web", expected_version=1)
    with pytest.raises(ConflictError):
        record_update(instance=patient, data={"sex": "other"}, user=data_entry_a, channel="web", expected_version=1)


def test_a_user_cannot_create_a_record_in_a_site_they_do_not_belong_to(site_b, data_entry_a):
    with pytest.raises(ApplicationError) as error:
        record_create(model=Patient, data={**PATIENT_DATA, "site": site_b}, user=data_entry_a, channel="api")
    assert error.value.status == 403
    assert not Patient.objects.exists()


def test_deleting_keeps_the_removed_values_in_the_trail(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    record_delete(instance=patient, user=data_entry_a, channel="web", reason="duplicate entry")
    entry = AuditEntry.objects.get(action="delete")
    assert entry.changes["local_identifier"][0] == patient.local_identifier
    assert entry.reason == "duplicate entry"


def test_audit_entries_cannot_be_changed_or_deleted(site_a, data_entry_a):
    patient = record_create(model=Patient, data={**PATIENT_DATA, "site": site_a}, user=data_entry_a, channel="web")
    entry = AuditEntry.objects.get(object_id=str(patient.pk))
    entry.reason = "rewritten"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().update(reason="x")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
