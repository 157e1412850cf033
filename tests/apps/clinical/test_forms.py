"""The clinical forms check the input's shape with the model's own rules, and never save."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError

from apps.clinical.forms import (
    AdverseEventForm,
    FollowUpForm,
    InitialCourseForm,
    PatientForm,
    RechallengeEpisodeForm,
    ResponseAssessmentForm,
)
from apps.clinical.models import (
    AdverseEvent,
    FollowUp,
    InitialCourse,
    Patient,
    RechallengeEpisode,
    ResponseAssessment,
)
from apps.core.models import AuditEntry
from tests.factories import InitialCourseFactory, PatientFactory, RechallengeEpisodeFactory, SiteFactory

COURSE = {
    "primary_agent": "nivolumab",
    "regimen_type": "monotherapy",
    "line_of_therapy": "2",
    "start_date": "2023-02-01",
    "start_date_precision": "day",
    "stop_date": "2023-09-10",
    "stop_date_precision": "day",
    "ecog_at_start": "0",
    "stop_reason": "planned_completion",
}


def test_labels_help_text_and_choices_come_from_the_model(db):
    form = AdverseEventForm()
    assert form.fields["ctcae_term"].label == "CTCAE term"
    assert form.fields["grade"].help_text == AdverseEvent._meta.get_field("grade").help_text
    assert ("colitis", "Colitis") in form.fields["ctcae_term"].choices
    assert form.fields["resolved_to_grade"].help_text == "Empty while the irAE is ongoing."


def test_dates_are_html_date_inputs_paired_with_their_precision(db):
    form = InitialCourseForm()
    html = form.as_div()
    assert 'type="date" name="start_date"' in html
    rows = [[bound.name for bound in row] for row in form.rows]
    assert ["start_date", "start_date_precision"] in rows
    assert ["stop_date", "stop_date_precision"] in rows
    assert ["progression_date", "progression_date_precision"] in rows
    assert rows[-1] == ["reason"]  # the audit reason closes the form


def test_help_text_is_tied_to_its_input_for_screen_readers(db):
    html = str(InitialCourseForm()["stop_date"].as_field_group())
    assert '<label for="id_stop_date">' in html
    assert 'aria-describedby="id_stop_date_helptext"' in html
    assert "Empty while still on treatment." in html


def test_a_valid_form_saves_nothing(site_a):
    patient = PatientFactory(site=site_a)
    before = Patient.objects.count()
    form = InitialCourseForm(COURSE, instance=InitialCourse(patient=patient))
    assert form.is_valid(), form.errors
    assert form.record_data()["primary_agent"] == "nivolumab"
    assert "reason" not in form.record_data() and "version" not in form.record_data()
    assert not InitialCourse.objects.exists()
    assert Patient.objects.count() == before
    assert not AuditEntry.objects.exists()


def test_the_models_clean_rules_give_field_errors(site_a):
    patient = PatientFactory(site=site_a)
    form = InitialCourseForm({**COURSE, "stop_date": "2023-01-01"}, instance=InitialCourse(patient=patient))
    assert not form.is_valid()
    assert form.errors["stop_date"] == ["The stop date is before the start date."]


def test_an_error_about_a_field_the_form_lacks_becomes_a_form_wide_error(site_a):
    patient = PatientFactory(site=site_a)  # no ICI-1 yet
    data = {
        "sequence_number": "1",
        "start_date": "2024-05-02",
        "rechallenge_type": "after_progression",
        "agent_relation": "class_switch",
        "primary_agent": "atezolizumab",
        "regimen_type": "monotherapy",
        "ecog_at_rechallenge": "1",
    }
    form = RechallengeEpisodeForm(data, instance=RechallengeEpisode(patient=patient))
    assert not form.is_valid()
    assert form.non_field_errors() == ["Record the initial ICI course before a rechallenge episode."]
    form.add_error(None, ValidationError({"site": ["You are not a member of this site."]}))
    assert "You are not a member of this site." in form.non_field_errors()


def test_fields_with_a_model_default_may_be_left_out(site_a):
    patient = PatientFactory(site=site_a)
    data = {key: value for key, value in COURSE.items() if not key.endswith("_precision")}
    form = InitialCourseForm(data, instance=InitialCourse(patient=patient))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["start_date_precision"] == "day"


def test_a_month_only_date_is_moved_to_the_15th(site_a):
    patient = PatientFactory(site=site_a)
    form = InitialCourseForm(
        {**COURSE, "start_date": "2023-02-03", "start_date_precision": "month"}, instance=InitialCourse(patient=patient)
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["start_date"] == dt.date(2023, 2, 15)


def test_the_patient_form_offers_only_writable_sites(site_a, site_b, data_entry_a):
    SiteFactory(code="OFF", active=False)
    form = PatientForm(user=data_entry_a)
    assert list(form.fields["site"].queryset) == [site_a]
    assert form.fields["site"].empty_label is None


def test_the_patient_form_hides_identifiers_and_the_site_when_editing_for_a_coordinator(site_a, coordinator):
    patient = PatientFactory(site=site_a)
    form = PatientForm(instance=patient, user=coordinator, show_identifiers=False)
    assert "local_identifier" not in form.fields and "date_of_birth" not in form.fields
    assert "site" not in form.fields
    assert form.initial["version"] == 1 and form.fields["version"].required


def test_the_irae_form_offers_the_patients_episodes_with_ici1_as_the_empty_choice(site_a):
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient=PatientFactory(site=site_a)).patient)
    other = RechallengeEpisodeFactory()
    form = AdverseEventForm(episodes=RechallengeEpisode.objects.filter(patient=episode.patient))
    choices = [label for _, label in form.fields["episode"].choices]
    assert choices == ["Initial ICI course (ICI-1)", "Rechallenge 1 (from 2024-05-02)"]
    form = AdverseEventForm(
        {"episode": other.pk, "ctcae_term": "colitis", "grade": "1", "onset_date": "2024-06-01"},
        instance=AdverseEvent(patient=episode.patient),
        episodes=RechallengeEpisode.objects.filter(patient=episode.patient),
    )
    assert not form.is_valid()
    assert "episode" in form.errors


def test_a_response_category_must_match_its_criteria(site_a):
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient=PatientFactory(site=site_a)).patient)
    form = ResponseAssessmentForm(
        {"assessment_date": "2024-07-01", "criteria": "irecist", "category": "PR"},
        instance=ResponseAssessment(episode=episode),
    )
    assert not form.is_valid()
    assert form.errors["category"] == ["PR is not a iRECIST category."]


def test_a_follow_up_of_a_death_needs_the_death_date(site_a):
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient=PatientFactory(site=site_a)).patient)
    form = FollowUpForm({"follow_up_date": "2024-09-01", "vital_status": "dead"}, instance=FollowUp(episode=episode))
    assert not form.is_valid()
    assert form.errors["death_date"] == ["Give the date of death."]
    assert not FollowUp.objects.exists()
