"""Required fields are marked on every clinical form before anyone saves, with a legend, and a field
required only sometimes says when (the rendered HTML, as a browser receives it)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.clinical.forms import FollowUpForm, InitialCourseForm, PatientForm
from apps.clinical.models import FollowUp
from tests.apps.clinical.test_views_entry import edit_url
from tests.apps.clinical.test_views_pages import page, sign_in
from tests.factories import FollowUpFactory, InitialCourseFactory, PatientFactory, RechallengeEpisodeFactory

pytestmark = pytest.mark.django_db

MARK = '<abbr class="required-mark" title="required" aria-label="required">*</abbr>'
LEGEND = 'marks a required field; "(required when …)" says when a field is required.'


def label_of(html: str, name: str) -> str:
    """The rendered ``<label>`` of a field."""
    match = re.search(rf'<label for="id_{name}">(.*?)</label>', html, re.S)
    assert match, name
    return match.group(1)


def create_pages(patient, episode) -> dict[str, str]:
    without_course = PatientFactory(site=patient.site)
    return {
        "patient": reverse("clinical:patient-create"),
        "initial course": reverse("clinical:initial-course-create", kwargs={"registry_id": without_course.registry_id}),
        "episode": reverse("clinical:episode-create", kwargs={"registry_id": patient.registry_id}),
        "irAE": reverse("clinical:adverse-event-create", kwargs={"registry_id": patient.registry_id}),
        "response": reverse("clinical:response-create", kwargs={"episode_pk": episode.pk}),
        "follow-up": reverse("clinical:follow-up-create", kwargs={"episode_pk": episode.pk}),
    }


def test_every_new_record_form_has_the_legend_and_marks_some_fields(client, site_a, data_entry_a):
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient__site=site_a).patient)
    sign_in(client, data_entry_a)
    for form, url in create_pages(episode.patient, episode).items():
        html = page(client, url)
        assert LEGEND in html, form
        assert html.index(LEGEND) < html.index('<div class="form-row">'), form  # the legend comes first
        assert MARK in html, form


def test_the_follow_up_form_marks_database_required_and_conditionally_required_fields(client, site_a, data_entry_a):
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient__site=site_a).patient)
    sign_in(client, data_entry_a)
    html = page(client, reverse("clinical:follow-up-create", kwargs={"episode_pk": episode.pk}))
    assert label_of(html, "follow_up_date") == f"Date of follow-up {MARK}:"
    assert label_of(html, "vital_status") == f"Vital status {MARK}:"
    assert label_of(html, "death_date") == (
        f'Death date {MARK} <span class="required-when">(required when the patient died)</span>:'
    )
    assert label_of(html, "rechallenge_stop_reason") == (
        f'Rechallenge stop reason {MARK} <span class="required-when">(required when the rechallenge stopped)</span>:'
    )
    assert label_of(html, "progression_date") == "Progression since rechallenge:"  # optional: no mark
    assert 'name="death_date" ' in html and 'name="death_date__missing"' in html


def test_the_initial_course_form_marks_always_required_registry_fields_without_a_condition(
    client, site_a, data_entry_a
):
    patient = PatientFactory(site=site_a)
    sign_in(client, data_entry_a)
    html = page(client, reverse("clinical:initial-course-create", kwargs={"registry_id": patient.registry_id}))
    assert label_of(html, "best_overall_response") == f"Best overall response (RECIST 1.1) {MARK}:"
    assert label_of(html, "stop_reason") == (
        f'Reason stopped {MARK} <span class="required-when">(required when the course stopped)</span>:'
    )
    assert label_of(html, "primary_agent") == f"Primary agent {MARK}:"
    assert label_of(html, "second_agent") == "Second ICI:"
    # A date's precision companion has a default: chosen beside the date, never marked required.
    assert 'aria-label="Start date: precision"' in html
    assert "start_date_precision" not in InitialCourseForm().required_marks()


def test_the_patient_form_marks_pdl1_only_for_lung_cancer_and_not_optional_fields(site_a, data_entry_a):
    marks = PatientForm(user=data_entry_a).required_marks()
    assert marks["pdl1_tps_percent"] == "for non-small-cell lung cancer"
    assert marks["local_identifier"] == "" and marks["sex"] == "" and marks["site"] == ""
    assert {"histology", "pdl1_cps", "date_of_birth", "is_complete"}.isdisjoint(marks)


def test_an_edit_form_is_marked_too(client, site_a, data_entry_a):
    follow_up = FollowUpFactory(
        episode=RechallengeEpisodeFactory(patient=InitialCourseFactory(patient__site=site_a).patient)
    )
    sign_in(client, data_entry_a)
    html = page(client, edit_url("follow-up", follow_up.pk))
    assert LEGEND in html
    assert label_of(html, "follow_up_date") == f"Date of follow-up {MARK}:"


def test_the_marks_come_from_the_declarations_not_the_template():
    marks = FollowUpForm(instance=FollowUp()).required_marks()
    assert marks == {
        "follow_up_date": "",
        "vital_status": "",
        "death_date": "when the patient died",
        "last_known_alive_date": "while alive or unknown",
        "rechallenge_stop_reason": "when the rechallenge stopped",
    }


def test_a_question_label_keeps_its_question_mark_without_a_colon(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    sign_in(client, data_entry_a)
    html = page(client, reverse("clinical:initial-course-create", kwargs={"registry_id": patient.registry_id}))
    assert label_of(html, "iraes_during_course") == f"IrAEs during ICI-1? {MARK}"
