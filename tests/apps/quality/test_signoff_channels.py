"""A signed case refuses changes on every channel — web, API, import, admin — and shows its signature; the
sign, unlock and case-status pages and endpoints answer each role as documented."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib import admin as django_admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django.test import Client, RequestFactory
from django.urls import reverse

from apps.clinical.models import AdverseEvent, Patient
from apps.imports import services as imports
from apps.imports.models import ImportJob
from apps.quality import signoff
from registry.quality.case_status import DEFAULT_SIGNATURE_MEANING, SIGNATURE_MEANINGS
from tests.apps.clinical.api_support import client_for, token_client_for, verified_session_client_for
from tests.apps.imports.data import csv_bytes, row
from tests.apps.quality.signoff_support import complete_case, signed_case
from tests.conftest import verify_second_factor
from tests.factories import PASSWORD
from tests.permission_matrix_support import web_edit_body

pytestmark = pytest.mark.django_db

LOCKED = "a coordinator must unlock it before any change."


def _page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    verify_second_factor(client, user)
    return client


# --- Web ----------------------------------------------------------------------------------------------------


def test_the_web_edit_form_of_a_signed_case_saves_nothing_and_says_why(site_a, site_pi_a, data_entry_a):
    case = signed_case(site_a, site_pi_a)
    body = web_edit_body(case.irae, data_entry_a)
    response = _page_client(data_entry_a).post(
        reverse("clinical:record-edit", args=["adverse-event", case.irae.pk]), body
    )
    assert response.status_code == 200
    assert LOCKED in response.content.decode()
    assert AdverseEvent.objects.get(pk=case.irae.pk).version == case.irae.version


def test_the_web_delete_of_a_record_of_a_signed_case_deletes_nothing(site_a, site_pi_a, data_entry_a):
    case = signed_case(site_a, site_pi_a)
    url = reverse("clinical:record-delete", args=["adverse-event", case.irae.pk])
    response = _page_client(data_entry_a).post(url, {"reason": "dup", "version": str(case.irae.version)})
    assert response.status_code == 200
    assert LOCKED in response.content.decode()
    assert AdverseEvent.objects.filter(pk=case.irae.pk).exists()


def test_the_patient_page_shows_the_signature_and_offers_no_change(site_a, site_pi_a, data_entry_a):
    site_pi_a.first_name, site_pi_a.last_name = "Grace", "Hopper"
    site_pi_a.save()
    case = signed_case(site_a, site_pi_a)
    page = _page_client(data_entry_a).get(case.patient.get_absolute_url()).content.decode()
    assert 'data-case-status="signed"' in page
    assert "Signed by <strong>Grace Hopper</strong>" in page
    assert f"{case.patient.signed_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC" in page
    assert DEFAULT_SIGNATURE_MEANING in page
    assert reverse("clinical:record-edit", args=["adverse-event", case.irae.pk]) not in page
    assert "Sign this case" not in page


def test_the_patient_page_offers_the_site_pi_to_sign_and_the_coordinator_to_unlock(site_a, site_pi_a, coordinator):
    case = complete_case(site_a)
    sign_url = reverse("quality:case-sign", args=[case.patient.registry_id])
    page = _page_client(site_pi_a).get(case.patient.get_absolute_url()).content.decode()
    assert 'data-case-status="complete"' in page
    assert sign_url in page
    signoff.case_sign(patient=case.patient, user=site_pi_a, password=PASSWORD)
    page = _page_client(coordinator).get(case.patient.get_absolute_url()).content.decode()
    assert reverse("quality:case-unlock", args=[case.patient.registry_id]) in page
    assert reverse("quality:case-verify", args=[case.patient.registry_id]) in page
    assert sign_url not in page


def test_a_draft_case_is_shown_with_what_is_not_complete(site_a, data_entry_a):
    case = complete_case(site_a, complete=False)
    page = _page_client(data_entry_a).get(case.patient.get_absolute_url()).content.decode()
    assert 'data-case-status="draft"' in page
    assert "0 of 6 records marked complete" in page


def test_the_site_pi_signs_on_the_sign_page(site_a, site_pi_a):
    case = complete_case(site_a)
    url = reverse("quality:case-sign", args=[case.patient.registry_id])
    client = _page_client(site_pi_a)
    assert "Sign the case" in client.get(url).content.decode()
    response = client.post(url, {"password": PASSWORD, "meaning": SIGNATURE_MEANINGS[1]})
    assert response.status_code == 302
    assert response["Location"] == case.patient.get_absolute_url()
    assert Patient.objects.get(pk=case.patient.pk).signature_meaning == SIGNATURE_MEANINGS[1]


def test_a_wrong_password_on_the_sign_page_signs_nothing(site_a, site_pi_a):
    case = complete_case(site_a)
    url = reverse("quality:case-sign", args=[case.patient.registry_id])
    response = _page_client(site_pi_a).post(url, {"password": "guess", "meaning": DEFAULT_SIGNATURE_MEANING})
    assert response.status_code == 200
    assert "The password is not correct. Nothing was signed." in response.content.decode()
    assert Patient.objects.get(pk=case.patient.pk).signed_at is None


def test_the_sign_page_of_an_incomplete_case_says_why_and_offers_no_form(site_a, site_pi_a):
    case = complete_case(site_a, complete=False)
    page = _page_client(site_pi_a).get(reverse("quality:case-sign", args=[case.patient.registry_id])).content.decode()
    assert "This case cannot be signed yet" in page
    assert 'name="password"' not in page


@pytest.mark.parametrize("who", ["data_entry_a", "coordinator"])
def test_the_sign_page_is_refused_to_all_but_the_site_pi(request, site_a, who):
    case = complete_case(site_a)
    response = _page_client(request.getfixturevalue(who)).get(
        reverse("quality:case-sign", args=[case.patient.registry_id])
    )
    assert response.status_code == 403


def test_the_unlock_page_needs_a_reason(site_a, site_pi_a, coordinator):
    case = signed_case(site_a, site_pi_a)
    url = reverse("quality:case-unlock", args=[case.patient.registry_id])
    client = _page_client(coordinator)
    response = client.post(url, {"reason": ""})
    assert response.status_code == 200
    assert "Give the reason for unlocking; it is kept in the audit trail." in response.content.decode()
    assert Patient.objects.get(pk=case.patient.pk).signed_at is not None
    response = client.post(url, {"reason": "Dose to be corrected"})
    assert response.status_code == 302
    assert Patient.objects.get(pk=case.patient.pk).signed_at is None


# --- API ----------------------------------------------------------------------------------------------------


def test_the_api_refuses_changes_to_a_signed_case_with_409(site_a, site_pi_a, data_entry_a):
    case = signed_case(site_a, site_pi_a)
    client = token_client_for(data_entry_a)
    url = f"/api/v1/adverse-events/{case.irae.pk}/"
    etag = {"HTTP_IF_MATCH": f'"{case.irae.version}"'}
    patched = client.patch(url, {"grade": 4, "reason": "typo"}, format="json", **etag)
    assert patched.status_code == 409
    assert patched.json()["detail"].endswith(LOCKED)
    deleted = client.delete(url + "?reason=dup", **etag)
    assert deleted.status_code == 409
    created = client.post(
        "/api/v1/adverse-events/",
        {
            "patient": case.patient.registry_id,
            "ctcae_term": "hepatitis",
            "grade": 2,
            "onset_date": "2023-06-01",
            "management": "corticosteroids",
        },
        format="json",
    )
    assert created.status_code == 409
    assert AdverseEvent.objects.filter(patient=case.patient).count() == 1
    assert AdverseEvent.objects.get(pk=case.irae.pk).grade == case.irae.grade


def test_the_api_signs_and_shows_the_signature(site_a, site_pi_a):
    case = complete_case(site_a)
    client = client_for(site_pi_a)
    url = f"/api/v1/patients/{case.patient.registry_id}/sign/"
    wrong = client.post(url, {"password": "guess"}, format="json")
    assert wrong.status_code == 400
    assert wrong.json()["password"] == ["The password is not correct. Nothing was signed."]
    signed = client.post(url, {"password": PASSWORD}, format="json")
    assert signed.status_code == 200, signed.json()
    body = signed.json()
    assert body["status"] == "signed"
    assert body["signed_by"] == site_pi_a.username
    assert body["signature_meaning"] == DEFAULT_SIGNATURE_MEANING
    assert body["signed_at"].endswith("Z")
    status = client.get(f"/api/v1/patients/{case.patient.registry_id}/case-status/").json()
    assert status == body


def test_the_api_case_status_of_a_draft(site_a, data_entry_a):
    case = complete_case(site_a, complete=False)
    body = client_for(data_entry_a).get(f"/api/v1/patients/{case.patient.registry_id}/case-status/").json()
    assert body["status"] == "draft"
    assert body["records_total"] == 6
    assert body["records_complete"] == 0
    assert body["incomplete"][0] == "the patient record"
    assert body["can_be_signed"] is False
    assert body["signed_at"] is None


def test_the_api_unlock_needs_a_reason(site_a, site_pi_a, coordinator):
    case = signed_case(site_a, site_pi_a)
    client = verified_session_client_for(coordinator)
    url = f"/api/v1/patients/{case.patient.registry_id}/unlock/"
    refused = client.post(url, {"reason": " "}, format="json")
    assert refused.status_code == 400
    assert refused.json()["reason"] == ["Give the reason for unlocking; it is kept in the audit trail."]
    unlocked = client.post(url, {"reason": "Correction asked by the monitor"}, format="json")
    assert unlocked.status_code == 200
    assert unlocked.json()["status"] == "complete"


@pytest.mark.parametrize(
    ("who", "status"), [("data_entry_a", 403), ("coordinator", 403), ("data_entry_b", 404), ("investigator", 404)]
)
def test_the_api_sign_answers_other_roles(request, site_a, site_b, who, status):
    case = complete_case(site_a)
    user = request.getfixturevalue(who)
    client = verified_session_client_for(user) if who in ("coordinator", "investigator") else client_for(user)
    response = client.post(f"/api/v1/patients/{case.patient.registry_id}/sign/", {"password": PASSWORD}, format="json")
    assert response.status_code == status
    assert Patient.objects.get(pk=case.patient.pk).signed_at is None


# --- Import -------------------------------------------------------------------------------------------------


def test_an_import_never_writes_into_a_signed_case(site_a, site_pi_a, data_entry_a):
    """An import registers new patients only: a row naming a signed patient's local identifier is refused."""
    case = signed_case(site_a, site_pi_a)
    upload = SimpleUploadedFile(
        "rows.csv", csv_bytes([row(local_identifier=case.patient.local_identifier)]), content_type="text/csv"
    )
    job = imports.import_job_create(user=data_entry_a, site=site_a, upload=upload, run_inline=True)
    assert job.status == ImportJob.Status.FAILED
    assert AdverseEvent.objects.filter(patient=case.patient).count() == 1


# --- Admin --------------------------------------------------------------------------------------------------


def test_the_admin_refuses_a_change_to_a_record_of_a_signed_case(site_a, site_pi_a, admin_user):
    case = signed_case(site_a, site_pi_a)
    grade = case.irae.grade
    model_admin = django_admin.site._registry[AdverseEvent]
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    form_class = model_admin.get_form(request, case.irae, change=True)
    data = {name: value for name, value in model_to_dict(case.irae).items() if value is not None}
    data.update(missing_answers=json.dumps(case.irae.missing_answers), grade=4, audit_reason="typo")
    form = form_class(data, instance=case.irae)
    assert not form.is_valid()
    assert any(message.endswith(LOCKED) for message in form.non_field_errors())
    assert AdverseEvent.objects.get(pk=case.irae.pk).grade == grade == 2


def test_the_admin_refuses_to_delete_a_record_of_a_signed_case(site_a, site_pi_a, admin_user):
    case = signed_case(site_a, site_pi_a)
    client = _page_client(admin_user)
    response = client.post(f"/admin/clinical/adverseevent/{case.irae.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert LOCKED in response.content.decode()
    assert AdverseEvent.objects.filter(pk=case.irae.pk).exists()


def test_repeated_wrong_passwords_lock_signing_out_like_sign_in(site_a, site_pi_a, settings):
    settings.AXES_FAILURE_LIMIT = 3
    case = complete_case(site_a)
    url = reverse("quality:case-sign", args=[case.patient.registry_id])
    client = _page_client(site_pi_a)
    for _ in range(3):
        client.post(url, {"password": "guess", "meaning": DEFAULT_SIGNATURE_MEANING})
    response = client.post(url, {"password": PASSWORD, "meaning": DEFAULT_SIGNATURE_MEANING})
    assert "Too many wrong passwords" in response.content.decode()
    assert Patient.objects.get(pk=case.patient.pk).signed_at is None
