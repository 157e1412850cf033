"""Edits made in the Django admin go through the clinical services, so they are validated and audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.clinical.models import Patient
from apps.core.models import AuditEntry
from tests.conftest import verify_second_factor
from tests.factories import PatientFactory


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    verify_second_factor(client, admin_user)
    return client


def _change_form_data(patient: Patient, **changes) -> dict:
    data = {
        "site": patient.site_id,
        "local_identifier": patient.local_identifier,
        "sex": patient.sex,
        "year_of_birth": patient.year_of_birth,
        "tumour_type": patient.tumour_type,
        "histology": patient.histology,
        "consent_status": patient.consent_status,
        "consent_date": patient.consent_date.isoformat(),
        "msi_status": patient.msi_status,
        "audit_reason": "",
    }
    return {**data, **changes}


def test_an_admin_edit_is_audited_with_the_admin_channel_and_old_and_new_values(admin_client, admin_user, site_a):
    patient = PatientFactory(site=site_a, tumour_type="MEL")
    url = reverse("admin:clinical_patient_change", args=[patient.pk])
    response = admin_client.post(url, _change_form_data(patient, tumour_type="SKCM", audit_reason="histology review"))
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(action="update")
    assert (entry.channel, entry.user, entry.reason) == ("admin", admin_user, "histology review")
    assert entry.changes["tumour_type"] == ["MEL", "SKCM"]
    patient.refresh_from_db()
    assert (patient.tumour_type, patient.version) == ("SKCM", 2)


def test_an_admin_edit_of_a_complete_record_without_a_reason_is_refused(admin_client, site_a):
    patient = PatientFactory(site=site_a, tumour_type="MEL", is_complete=True)
    url = reverse("admin:clinical_patient_change", args=[patient.pk])
    response = admin_client.post(url, _change_form_data(patient, tumour_type="SKCM", is_complete="on"))
    assert response.status_code == 200
    assert "A reason is required" in response.content.decode()
    patient.refresh_from_db()
    assert patient.tumour_type == "MEL"
    assert not AuditEntry.objects.exists()


def test_an_admin_delete_is_audited(admin_client, site_a):
    patient = PatientFactory(site=site_a)
    url = reverse("admin:clinical_patient_delete", args=[patient.pk])
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="delete")
    assert (entry.channel, entry.object_id) == ("admin", str(patient.pk))
    assert not Patient.objects.filter(pk=patient.pk).exists()


def test_the_audit_trail_offers_no_change_or_delete_in_the_admin(admin_client, site_a, data_entry_a):
    from apps.clinical.services import record_create

    record_create(
        model=Patient,
        data={
            "site": site_a,
            "local_identifier": "X1",
            "sex": "male",
            "year_of_birth": 1950,
            "tumour_type": "MEL",
            "consent_status": "consented",
            "consent_date": "2024-01-01",
        },
        user=data_entry_a,
        channel="web",
    )
    entry = AuditEntry.objects.get()
    assert admin_client.get(reverse("admin:core_auditentry_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:core_auditentry_change", args=[entry.pk]))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert (
        admin_client.post(reverse("admin:core_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    )
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
