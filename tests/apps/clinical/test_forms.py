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
    assert rows[-1] == ["is_complete"]


def test_only_an_edit_form_asks_for_the_reason_for_a_change_and_closes_with_it(site_a):
    assert "reason" not in InitialCourseForm().fields
    course = InitialCourseFactory(patient=PatientFactory(site=site_a))
    form = InitialCourseForm(instance=course)
    assert [[bound.name for bound in row] for row in form.rows][-1] == ["reason"]
    assert form.fields["reason"].label == "Reason for change"


def test_a_dates_precision_is_chosen_inside_the_dates_own_field(db):
    layout = InitialCourseForm().layout
    cell = next(cell for row in layout for cell in row if cell.field.name == "start_date")
    assert cell.precision is not None and cell.precision.name == "start_date_precision"
    assert all(cell.field.name != "start_date_precision" for row in layout for cell in row)
    html = str(cell.precision)
    assert 'class="date-precision"' in html and 'data-date-input="id_start_date"' in html


def test_a_month_only_date_is_a_month_input_showing_its_month(site_a):
    course = InitialCourseFactory(
        patient=PatientFactory(site=site_a), start_date=dt.date(2023, 2, 15), start_date_precision="month"
    )
    html = str(InitialCourseForm(instance=course)["start_date"])
    assert 'type="month"' in html and 'value="2023-02"' in html
    assert 'type="date"' in str(InitialCourseForm(instance=course)["stop_date"])


def test_a_month_typed_as_yyyy_mm_is_stored_on_the_15th(site_a):
    patient = PatientFactory(site=site_a)
    form = InitialCourseForm(
        {**COURSE, "start_date": "2023-02", "start_date_precision": "month"}, instance=InitialCourse(patient=patient)
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["start_date"] == dt.date(2023, 2, 15)


def test_a_month_without_its_day_is_refused_when_the_precision_says_exact_day(site_a):
    patient = PatientFactory(site=site_a)
    form = InitialCourseForm({**COURSE, "start_date": "2023-02"}, instance=InitialCourse(patient=patient))
    assert not form.is_valid()
    assert form.errors["start_date"] == [
        "Only a month was given: choose “month only” beside the date, or give the day."
    ]
    form = InitialCourseForm({**COURSE, "start_date": "2023-2-x"}, instance=InitialCourse(patient=patient))
    assert not form.is_valid()
    assert "YYYY-MM" in form.errors["start_date"][0]


def test_a_re_shown_month_only_date_keeps_the_month_typed_as_a_full_date(site_a):
    patient = PatientFactory(site=site_a)
    form = InitialCourseForm(
        {**COURSE, "start_date": "2023-02-03", "start_date_precision": "month", "line_of_therapy": "x"},
        instance=InitialCourse(patient=patient),
    )
    assert not form.is_valid()
    html = str(form["start_date"])
    assert 'type="month"' in html and 'value="2023-02"' in html


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


def test_tumour_types_are_offered_by_name_with_their_oncotree_code(db, data_entry_a):
    choices = dict(PatientForm(user=data_entry_a).fields["tumour_type"].choices)
    assert choices["NSCLC"] == "Non-small cell lung cancer (NSCLC)"
    assert choices["LUAD"] == "Lung adenocarcinoma (LUAD)"


def test_the_irae_form_names_its_course_ici1_or_a_rechallenge(db):
    field = AdverseEventForm().fields["episode"]
    assert field.label == "Course"
    assert "ICI-1" in field.help_text and "leave empty" not in field.help_text.lower()


def test_an_irae_outside_the_ctcae_list_is_other_with_its_term_typed(site_a):
    patient = InitialCourseFactory(patient=PatientFactory(site=site_a)).patient
    data = {
        "ctcae_term": "other",
        "grade": "2",
        "onset_date": "2023-05-01",
        "management": "none",
        "steroid_refractory": "no",
        "hospitalised": "no",
        "led_to_discontinuation": "no",
    }
    assert ("other", "Other (specify)") in AdverseEventForm().fields["ctcae_term"].choices
    form = AdverseEventForm(data, instance=AdverseEvent(patient=patient))
    assert not form.is_valid()
    assert form.errors["ctcae_term_other"] == ["Name the term: the CTCAE term is 'Other (specify)'."]
    form = AdverseEventForm(
        {**data, "ctcae_term_other": "Sarcoid-like reaction"}, instance=AdverseEvent(patient=patient)
    )
    assert form.is_valid(), form.errors
    form = AdverseEventForm(
        {**data, "ctcae_term": "colitis", "ctcae_term_other": "Sarcoid-like reaction"},
        instance=AdverseEvent(patient=patient),
    )
    assert not form.is_valid()
    assert form.errors["ctcae_term_other"] == [
        "Only for the CTCAE term 'Other (specify)': clear it, or choose that term."
    ]


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
