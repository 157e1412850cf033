"""The calculator page works without JavaScript and stores nothing; the blinding page is for coordinators."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.assessments.models import Assessment, BlindingSetting
from apps.core.models import AuditEntry

FORM = {
    "evaluate": "1",
    "model_version": "1.0",
    "pfs1_months": "14",
    "tfi_months": "4.2",
    "progressed_on_ici1": "no",
    "ecog": "1",
    "prior_irae_status": "listed",
    "current_prednisone_mg_per_day": "0",
    "stop_reason": "toxicity",
    "strategy": "monotherapy",
    "irae-TOTAL_FORMS": "3",
    "irae-INITIAL_FORMS": "0",
    "irae-0-ctcae_term": "pneumonitis",
    "irae-0-grade": "3",
    "irae-0-resolved_to_grade": "0",
}


@pytest.fixture
def staff_client(client, data_entry_a):
    client.force_login(data_entry_a)
    return client


def test_the_empty_calculator_shows_the_form_and_no_result(staff_client):
    response = staff_client.get(reverse("assessments:calculator"))
    assert response.status_code == 200
    assert response.context["result"] is None
    assert 'name="pfs1_months"' in response.content.decode()


def test_submitting_the_form_shows_the_category_and_every_reason(staff_client):
    response = staff_client.get(reverse("assessments:calculator"), FORM)
    result = response.context["result"]
    assert result.category == "contraindicated"
    page = response.content.decode()
    assert "Grade 3 Pneumonitis: grade 3–4 pneumonitis contraindicates rechallenge" in page
    assert len(result.factors) == 6
    assert all(factor.reason in page for factor in result.factors)
    assert not Assessment.objects.exists()


def test_a_listed_status_with_no_rows_is_a_field_error(staff_client):
    form = {**FORM, "irae-0-ctcae_term": "", "irae-0-grade": "", "irae-0-resolved_to_grade": ""}
    response = staff_client.get(reverse("assessments:calculator"), form)
    assert response.context["result"] is None
    assert "List at least one irAE" in response.content.decode()


def test_a_term_without_a_grade_is_refused_on_its_row(staff_client):
    response = staff_client.get(reverse("assessments:calculator"), {**FORM, "irae-0-grade": ""})
    assert response.context["result"] is None
    assert "Give the worst grade of this irAE." in response.content.decode()


def test_the_calculator_needs_a_signed_in_user(client, db):
    response = client.get(reverse("assessments:calculator"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_center_staff_cannot_open_the_blinding_page(staff_client):
    assert staff_client.get(reverse("assessments:blinding")).status_code == 403


def test_a_coordinator_switches_blinding_with_a_reason(client, coordinator):
    client.force_login(coordinator)
    session = client.session
    # the second factor is tested in tests/apps/accounts; here the coordinator is already verified
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
    session["otp_device_id"] = device.persistent_id
    session.save()
    response = client.post(reverse("assessments:blinding"), {"blinded": "on", "reason": "validation period"})
    assert response.status_code == 302
    assert BlindingSetting.objects.get().blind_category_to_site_staff is True
    assert AuditEntry.objects.get(model_label="assessments.blindingsetting").reason == "validation period"
