"""The calculator page works without JavaScript and stores nothing; the blinding page is for coordinators."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.assessments import services
from apps.assessments.models import Assessment, BlindingSetting
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from tests.apps.clinical.test_views_pages import sign_in

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


# --- provenance and the review criteria on the calculator and the assessment card --------------------

CASE_1_1 = {
    **FORM,
    "model_version": "1.1",
    "pfs1_event": "yes",
    "tfi_months": "7",
    "irae-0-ctcae_term": "colitis",
    "irae-0-grade": "2",
    "irae-0-resolved_to_grade": "1",
}


def test_the_calculator_shows_each_factors_source_and_the_review_criteria(staff_client):
    response = staff_client.get(reverse("assessments:calculator"), CASE_1_1)
    result = response.context["result"]
    # PFS1 14 (+2), TFI 7 (+1), ECOG 1 (+1), colitis resolved to 1 (+1), toxicity (+1), monotherapy (0).
    assert (result.category, result.score, result.review_criteria_met) == ("favourable", 6, True)
    page = response.content.decode()
    assert '<td class="source">review</td>' in page
    assert "All four review criteria met" in page
    assert response.context["review_criteria"] == "yes"


def test_the_calculator_reads_a_censored_pfs1_and_unknown_refractoriness(staff_client):
    case = {**CASE_1_1, "pfs1_months": "5", "pfs1_event": "no", "irae-0-grade": "3", "irae-0-steroid_refractory": ""}
    result = staff_client.get(reverse("assessments:calculator"), case).context["result"]
    assert result.factor("pfs1").level == "intermediate"
    assert "censored" in result.factor("pfs1").reason
    assert result.factor("prior_irae").level == "missing"
    assert result.category == "insufficient_data"


def test_the_calculator_under_model_1_0_says_it_does_not_assess_the_review_criteria(staff_client):
    response = staff_client.get(reverse("assessments:calculator"), {**CASE_1_1, "model_version": "1.0"})
    assert response.context["review_criteria"] == "not assessed by model 1.0"
    assert '<td class="source">not recorded</td>' in response.content.decode()


def test_an_invalid_pfs1_event_is_a_field_error(staff_client):
    response = staff_client.get(reverse("assessments:calculator"), {**CASE_1_1, "pfs1_event": "perhaps"})
    assert response.context["result"] is None
    assert "pfs1_event" in response.context["form"].errors


def _locked(episode, version: str, factors: list[dict], inputs: dict) -> Assessment:
    from registry.decision import get_spec

    return Assessment.objects.create(
        episode=episode,
        model_version=version,
        model_hash=get_spec(version).hash,
        inputs=inputs,
        factors=factors,
        category="favourable",
        score=5,
    )


LOCKED_INPUTS_1_1 = {
    "pfs1_months": 14.0,
    "pfs1_event": True,
    "tfi_months": 7.0,
    "progressed_on_ici1": False,
    "ecog": 1,
    "prior_iraes": [],
    "current_prednisone_mg_per_day": 0.0,
    "stop_reason": "toxicity",
    "strategy": "monotherapy",
}


def test_the_card_shows_the_source_of_a_1_1_assessment_and_its_review_criteria(client, site_a, data_entry_a):
    from tests.apps.clinical.api_support import episode_at

    episode = episode_at(site_a)
    factor = {"factor": "tfi", "level": "favourable", "reason": "TFI 7.0 months", "points": 1, "source": "review"}
    _locked(episode, "1.1", [factor], LOCKED_INPUTS_1_1)
    client.force_login(data_entry_a)
    page = client.get(episode.patient.get_absolute_url()).content.decode()
    assert '<td class="source">review</td>' in page
    assert "All four review criteria met: <strong>yes</strong>" in page


def test_the_card_copes_with_a_1_0_assessment_stored_without_sources(client, site_a, data_entry_a):
    from tests.apps.clinical.api_support import episode_at

    episode = episode_at(site_a)
    factor = {"factor": "tfi", "level": "favourable", "reason": "TFI 7.0 months", "points": 1}
    _locked(episode, "1.0", [factor], {"pfs1_months": 14.0})
    client.force_login(data_entry_a)
    page = client.get(episode.patient.get_absolute_url()).content.decode()
    assert '<td class="source">not recorded</td>' in page
    assert "All four review criteria met: <strong>not assessed by model 1.0</strong>" in page


def test_the_review_criteria_are_hidden_with_the_category_while_blinded(client, site_a, data_entry_a):
    from tests.apps.clinical.api_support import episode_at

    episode = episode_at(site_a)
    _locked(episode, "1.1", [], LOCKED_INPUTS_1_1)
    BlindingSetting.objects.create(pk=1, blind_category_to_site_staff=True)
    client.force_login(data_entry_a)
    page = client.get(episode.patient.get_absolute_url()).content.decode()
    assert "All four review criteria met" not in page


# --- a refusal that names no field still reads on the page -----------------------------------------------


def test_a_calculator_refusal_naming_no_field_shows_its_message(staff_client, monkeypatch):
    def refuse(**kwargs):
        raise ApplicationError("The decision model cannot be evaluated right now.")

    monkeypatch.setattr(services, "decision_evaluate", refuse)
    response = staff_client.get(reverse("assessments:calculator"), FORM)
    assert response.context["result"] is None
    assert response.context["form"].non_field_errors() == ["The decision model cannot be evaluated right now."]
    assert "The decision model cannot be evaluated right now." in response.content.decode()


def test_a_blinding_refusal_naming_no_field_shows_its_message_and_stores_nothing(client, coordinator, monkeypatch):
    def refuse(**kwargs):
        raise ApplicationError("Only coordinators can change blinding.", status=403)

    monkeypatch.setattr(services, "blinding_set", refuse)
    sign_in(client, coordinator)
    response = client.post(reverse("assessments:blinding"), {"blinded": "on", "reason": "validation period"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["Only coordinators can change blinding."]
    assert "Only coordinators can change blinding." in response.content.decode()
    assert not AuditEntry.objects.filter(model_label="assessments.blindingsetting").exists()
