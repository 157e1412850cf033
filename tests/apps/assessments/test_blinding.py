"""What blinding hides from center staff: the category and everything it can be read back from.

While blinding is on, center staff see neither the category nor the factor levels, reasons, sources
and review criteria of a locked assessment, on any page or endpoint, and the calculator and the
evaluate API are closed to them (``BLINDING_CLOSES_CALCULATOR``). Coordinators and investigators
keep everything.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.assessments import services
from apps.assessments.models import Assessment
from apps.core.models import AuditChannel
from tests.apps.clinical.test_views_pages import sign_in
from tests.factories import (
    AdverseEventFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

from .test_api import CASE

#: Every level a factor can have, as the card and the API write them.
LEVELS = re.compile(r"\b(favourable|intermediate|unfavourable|contraindicated)\b", re.IGNORECASE)


@pytest.fixture(autouse=True)
def _no_second_factor(settings):
    settings.REQUIRE_OTP_FOR_REGISTRY_WIDE_ROLES = False


@pytest.fixture
def blinded(coordinator):
    services.blinding_set(blinded=True, user=coordinator, reason="validation period", channel=AuditChannel.SEED)


def _patient_with_contraindication(site):
    """ICI-1 stopped for a grade-4 myocarditis: the prior-irAE factor is contraindicated, and so the category."""
    patient = PatientFactory(site=site)
    InitialCourseFactory(
        patient=patient, start_date=dt.date(2023, 1, 15), stop_date=dt.date(2023, 10, 15), stop_reason="toxicity"
    )
    AdverseEventFactory(patient=patient, ctcae_term="myocarditis", grade=4, resolved_to_grade=0)
    return patient


@pytest.fixture
def locked(site_a):
    """An enrolled episode (active model, real factors) and a second, not yet enrolled, of the same patient."""
    patient = _patient_with_contraindication(site_a)
    episode = RechallengeEpisodeFactory(patient=patient, start_date=dt.date(2024, 5, 2), ecog_at_rechallenge=1)
    assessment = services.episode_enroll(episode=episode, user=None, channel=AuditChannel.SEED)
    assert assessment.category == "contraindicated"
    return assessment


def _reasons(assessment: Assessment) -> list[str]:
    return [factor["reason"] for factor in assessment.factors]


# --- pages ----------------------------------------------------------------------------------------------------


def test_site_staff_see_no_factor_level_reason_source_or_review_criteria_on_the_card(
    client, data_entry_a, locked, blinded
):
    html = sign_in(client, data_entry_a).get(locked.episode.patient.get_absolute_url()).content.decode()
    assert "Category hidden" in html
    assert not LEVELS.search(html), LEVELS.search(html)
    for reason in _reasons(locked):
        assert reason not in html
    assert '<td class="source">' not in html
    assert "All four review criteria met" not in html
    assert "hidden with the category until the" in html  # and the page says why the table is gone


def test_coordinators_see_the_whole_card_while_blinded(client, coordinator, locked, blinded):
    html = sign_in(client, coordinator).get(locked.episode.patient.get_absolute_url()).content.decode()
    assert "Contraindicated" in html
    for reason in _reasons(locked):
        assert reason.split("(")[0].strip() in html
    assert "All four review criteria met" in html


def test_site_staff_see_the_whole_card_when_blinding_is_off(client, data_entry_a, locked):
    html = sign_in(client, data_entry_a).get(locked.episode.patient.get_absolute_url()).content.decode()
    assert "Contraindicated" in html
    assert '<td class="level">contraindicated</td>' in html


def test_the_history_of_an_enrolled_episode_shows_no_level_to_site_staff(client, data_entry_a, locked, blinded):
    url = reverse("clinical:record-history", kwargs={"model": "episode", "pk": locked.episode_id})
    html = sign_in(client, data_entry_a).get(url).content.decode()
    assert "Enrolled prospectively" in html
    assert not LEVELS.search(html)


def test_the_enrollment_confirmation_shows_the_inputs_but_no_level(client, data_entry_a, locked, blinded):
    second = RechallengeEpisodeFactory(
        patient=locked.episode.patient, sequence_number=2, start_date=dt.date(2025, 3, 1), ecog_at_rechallenge=1
    )
    url = reverse("assessments:episode-enroll", kwargs={"pk": second.pk})
    html = sign_in(client, data_entry_a).get(url).content.decode()
    assert "Inputs the model will lock" in html and "ECOG 1" in html
    assert not LEVELS.search(html)
    response = client.post(url, {"inputs_digest": services.enrollment_preview(episode=second).digest}, follow=True)
    html = response.content.decode()
    assert "category hidden (blinded)" in html
    assert not LEVELS.search(html)


def test_the_api_leaves_out_category_score_and_factors_for_site_staff(data_entry_a, locked, blinded):
    api = APIClient()
    api.force_authenticate(data_entry_a)
    body = api.get(f"/api/v1/assessments/{locked.pk}/").json()
    assert body["blinded"] is True
    assert not {"category", "score", "factors"} & set(body)
    assert not LEVELS.search(str(body))


# --- calculator and evaluate API ------------------------------------------------------------------------------


def test_the_calculator_is_closed_to_site_staff_while_blinded_with_the_reason(client, data_entry_a, blinded):
    response = sign_in(client, data_entry_a).get(reverse("assessments:calculator"), {"evaluate": "1"})
    assert response.status_code == 403
    assert "closed to center staff while blinding is on" in response.content.decode()


def test_the_evaluate_api_is_closed_to_site_staff_while_blinded_with_the_reason(data_entry_a, blinded):
    api = APIClient()
    api.force_authenticate(data_entry_a)
    response = api.post("/api/v1/decision-models/evaluate/", CASE, format="json")
    assert response.status_code == 403
    assert "closed to center staff while blinding is on" in response.json()["detail"]
    assert "category" not in response.json()


@pytest.mark.parametrize("role", ["coordinator", "investigator"])
def test_coordinators_and_investigators_keep_the_calculator_and_the_api_while_blinded(client, role, request, blinded):
    user = request.getfixturevalue(role)
    assert sign_in(client, user).get(reverse("assessments:calculator")).status_code == 200
    api = APIClient()
    api.force_authenticate(user)
    assert api.post("/api/v1/decision-models/evaluate/", CASE, format="json").status_code == 200


def test_site_staff_keep_the_calculator_when_blinding_is_off(client, data_entry_a):
    assert sign_in(client, data_entry_a).get(reverse("assessments:calculator")).status_code == 200


def test_the_setting_can_leave_the_calculator_open_during_blinding(client, data_entry_a, blinded, settings):
    settings.BLINDING_CLOSES_CALCULATOR = False
    assert sign_in(client, data_entry_a).get(reverse("assessments:calculator")).status_code == 200
    api = APIClient()
    api.force_authenticate(data_entry_a)
    assert api.post("/api/v1/decision-models/evaluate/", CASE, format="json").status_code == 200


# --- the card's labels ----------------------------------------------------------------------------------------


def test_the_card_tells_a_late_enrollment_from_a_retrospective_evaluation_of_another_version(
    client, data_entry_a, site_a
):
    patient = _patient_with_contraindication(site_a)
    episode = RechallengeEpisodeFactory(patient=patient, start_date=dt.date(2024, 5, 2), ecog_at_rechallenge=1)
    ResponseAssessmentFactory(episode=episode, assessment_date=dt.date(2024, 7, 1), category="PR")
    lock = services.episode_enroll(episode=episode, user=None, channel=AuditChannel.SEED)
    assert lock.is_retrospective
    services.assessment_lock(episode=episode, user=None, version="1.0", is_retrospective=True)
    html = sign_in(client, data_entry_a).get(patient.get_absolute_url()).content.decode()
    assert "Locked at enrollment after outcome data were recorded (retrospective)" in html
    assert "Retrospective evaluation of model 1.0, made after outcomes could be known" in html
    assert html.count("Retrospective evaluation") == 1


def test_the_card_is_the_panel_assessments_registers_on_the_clinical_patient_page(
    client, data_entry_a, locked, monkeypatch
):
    from apps.assessments.panels import ASSESSMENT_PANEL
    from apps.clinical import panels

    assert ASSESSMENT_PANEL in panels._PANELS  # registered by AssessmentsConfig.ready()
    url = locked.episode.patient.get_absolute_url()
    sign_in(client, data_entry_a)
    assert "Contraindicated" in client.get(url).content.decode()
    monkeypatch.setattr(panels, "_PANELS", [])  # clinical alone: the page shows the episode, no card, no enroll link
    html = client.get(url).content.decode()
    assert f'id="episode-{locked.episode.pk}"' in html
    assert "Decision-model assessment" not in html
    assert "Enroll and lock" not in html
