"""Patients are registered by their site's staff only, on every channel, and no answer to a user who
cannot see a site's identifiers tells them whether an identifier (or another hidden value) exists there."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from apps.clinical.models import Patient
from apps.clinical.services import HIDDEN_FIELD_PROBLEM, REGISTERED_BY_SITE, TIED_BY_SITE, record_create
from apps.core.errors import ApplicationError
from apps.core.models import AuditChannel, AuditEntry
from tests.apps.clinical.api_support import PATIENTS, client_for, fresh_client_for, if_match
from tests.apps.clinical.test_views_entry import PATIENT, edit_url, form_values
from tests.apps.clinical.test_views_pages import sign_in
from tests.factories import PatientFactory

DOB_MESSAGE = "The date of birth does not fall in the year of birth."


# --- Registration -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["coordinator", "admin_user"])
def test_registry_wide_roles_cannot_register_a_patient_through_the_api(request, role, site_a):
    user = request.getfixturevalue(role)
    response = fresh_client_for(user).post(PATIENTS.list_url(), PATIENTS.payload(site_a), format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": REGISTERED_BY_SITE}
    assert not Patient.objects.exists()


def test_a_coordinator_gets_the_same_answer_for_a_known_and_an_unknown_identifier(site_a, coordinator):
    """The API's uniqueness error was an oracle: any number at any site could be tested."""
    PatientFactory(site=site_a, local_identifier="MRN1498824")
    client = client_for(coordinator)
    known = client.post(
        PATIENTS.list_url(), {**PATIENTS.payload(site_a), "local_identifier": "MRN1498824"}, format="json"
    )
    unknown = client.post(
        PATIENTS.list_url(), {**PATIENTS.payload(site_a), "local_identifier": "MRN0000000"}, format="json"
    )
    assert (
        (known.status_code, known.json())
        == (unknown.status_code, unknown.json())
        == (403, {"detail": REGISTERED_BY_SITE})
    )
    assert Patient.objects.count() == 1


def test_center_staff_still_learn_that_their_own_site_has_the_identifier(site_a, data_entry_a):
    PatientFactory(site=site_a, local_identifier="MRN1498824")
    response = client_for(data_entry_a).post(
        PATIENTS.list_url(), {**PATIENTS.payload(site_a), "local_identifier": "MRN1498824"}, format="json"
    )
    assert response.status_code == 400
    assert "already exists" in response.json()["non_field_errors"][0]


def test_a_coordinator_who_is_also_staff_of_a_site_registers_there_and_only_there(site_a, site_b, coordinator):
    from apps.accounts.models import Membership, Role

    Membership.objects.create(user=coordinator, site=site_a, role=Role.DATA_ENTRY)
    client = client_for(coordinator)
    assert client.post(PATIENTS.list_url(), PATIENTS.payload(site_a), format="json").status_code == 201
    assert client.post(PATIENTS.list_url(), PATIENTS.payload(site_b), format="json").status_code == 403


@pytest.mark.parametrize("channel", [AuditChannel.API, AuditChannel.IMPORT, AuditChannel.WEB, AuditChannel.TASK])
def test_the_service_refuses_a_coordinators_registration_on_every_channel(site_a, coordinator, channel):
    data = {**PATIENTS.payload(site_a), "site": site_a, "consent_date": dt.date(2024, 2, 1)}
    with pytest.raises(ApplicationError) as refused:
        record_create(model=Patient, data=data, user=coordinator, channel=channel)
    assert (refused.value.status, refused.value.message) == (403, REGISTERED_BY_SITE)
    assert not AuditEntry.objects.exists()


def test_a_superuser_still_registers_patients_in_the_admin_which_shows_them_every_identifier(
    client, site_a, admin_user
):
    from apps.clinical.admin import PatientAdmin  # noqa: F401 - the admin is where this channel comes from

    data = {**PATIENTS.payload(site_a), "site": site_a, "consent_date": dt.date(2024, 2, 1)}
    patient = record_create(model=Patient, data=data, user=admin_user, channel=AuditChannel.ADMIN)
    assert patient.registry_id.startswith("AAA-")
    assert AuditEntry.objects.get().channel == AuditChannel.ADMIN


def test_the_web_registration_page_refuses_coordinators_with_the_reason(client, site_a, coordinator):
    sign_in(client, coordinator)
    response = client.post(reverse("clinical:patient-create"), {**PATIENT, "site": site_a.pk})
    assert response.status_code == 403
    assert "coordinators cannot register patients" in response.content.decode()
    assert not Patient.objects.exists()


# --- Hidden fields: the year of birth is checked against the hidden date of birth ------------------------------


def _patch_year(user, patient, year: int):
    return client_for(user).patch(PATIENTS.url(patient), {"year_of_birth": year}, format="json", **if_match(patient))


def test_a_coordinator_learns_nothing_about_a_hidden_date_of_birth_from_a_year_of_birth_change(site_a, coordinator):
    """Before: with a date of birth "does not fall in the year of birth" (400), without one 200."""
    with_dob = PatientFactory(site=site_a, year_of_birth=1958, date_of_birth=dt.date(1958, 4, 2))
    without_dob = PatientFactory(site=site_a, year_of_birth=1958, date_of_birth=None)
    answers = [_patch_year(coordinator, patient, 1959) for patient in (with_dob, without_dob)]
    assert [answer.status_code for answer in answers] == [400, 400]
    assert (
        answers[0].json()
        == answers[1].json()
        == {"year_of_birth": [TIED_BY_SITE], "detail": answers[0].json()["detail"]}
    )
    assert DOB_MESSAGE not in str(answers[0].json())
    for patient in (with_dob, without_dob):
        patient.refresh_from_db()
        assert (patient.year_of_birth, patient.version) == (1958, 1)


def test_center_staff_get_the_precise_date_of_birth_message(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, year_of_birth=1958, date_of_birth=dt.date(1958, 4, 2))
    response = _patch_year(data_entry_a, patient, 1959)
    assert response.status_code == 400
    assert response.json()["date_of_birth"] == [DOB_MESSAGE]


def test_a_coordinator_keeps_changing_other_fields_of_a_patient_with_a_date_of_birth(site_a, coordinator):
    patient = PatientFactory(site=site_a, year_of_birth=1958, date_of_birth=dt.date(1958, 4, 2))
    response = client_for(coordinator).patch(
        PATIENTS.url(patient), {"tumour_type": "SKCM", "year_of_birth": 1958}, format="json", **if_match(patient)
    )
    assert response.status_code == 200, response.json()


def test_an_inconsistent_stored_date_of_birth_is_not_named_to_a_coordinator(site_a, coordinator, data_entry_a):
    """Data written before the rule (or behind the application's back) fail validation on any change: a
    coordinator is told the site must correct the record, not which hidden value is wrong."""
    patient = PatientFactory(site=site_a, year_of_birth=1958)
    Patient.objects.filter(pk=patient.pk).update(date_of_birth=dt.date(1960, 1, 1))
    body = client_for(coordinator).patch(
        PATIENTS.url(patient), {"tumour_type": "SKCM"}, format="json", **if_match(patient)
    )
    assert body.status_code == 400
    assert body.json() == {"non_field_errors": [HIDDEN_FIELD_PROBLEM], "detail": body.json()["detail"]}
    staff = client_for(data_entry_a).patch(
        PATIENTS.url(patient), {"tumour_type": "SKCM"}, format="json", **if_match(patient)
    )
    assert staff.json()["date_of_birth"] == [DOB_MESSAGE]


def test_the_coordinators_edit_form_shows_the_year_of_birth_read_only_and_ignores_a_posted_change(
    client, site_a, coordinator
):
    patient = PatientFactory(site=site_a, year_of_birth=1958, date_of_birth=dt.date(1958, 4, 2))
    sign_in(client, coordinator)
    form = client.get(edit_url("patient", patient.pk))
    assert form.context["form"].fields["year_of_birth"].disabled
    response = client.post(edit_url("patient", patient.pk), {**form_values(form), "year_of_birth": "1959"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.year_of_birth == 1958
