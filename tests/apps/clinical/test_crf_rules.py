"""Rules every channel shares: the mid-month rule, no dates after today, and missing stays missing.

The rules live once, in the models' ``full_clean``; each test checks that a channel (web form, API,
the services the admin uses) actually passes through them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.clinical.forms import AdverseEventForm, InitialCourseForm, PatientForm, RechallengeEpisodeForm
from apps.clinical.models import AdverseEvent, InitialCourse, RechallengeEpisode
from apps.clinical.services import record_update
from apps.core.models import AuditEntry
from tests.apps.clinical.api_support import (
    ADVERSE_EVENTS,
    EPISODES,
    FOLLOW_UPS,
    INITIAL_COURSES,
    client_for,
    episode_at,
    if_match,
)
from tests.factories import AdverseEventFactory, InitialCourseFactory, PatientFactory, RechallengeEpisodeFactory

pytestmark = pytest.mark.django_db

FUTURE_DATE = "This date is after today."
FUTURE_MONTH = "This month is after the current month."
NO_IRAES_OF_ICI1 = "irAEs of ICI-1 are recorded: the answer cannot be 'no'."


def today() -> dt.date:
    return timezone.localdate()


def tomorrow() -> dt.date:
    return today() + dt.timedelta(days=1)


def next_month() -> dt.date:
    first = today().replace(day=1)
    return (first + dt.timedelta(days=32)).replace(day=1)


COURSE_FORM = {
    "primary_agent": "nivolumab",
    "regimen_type": "monotherapy",
    "line_of_therapy": "1",
    "start_date": "2023-02-01",
    "start_date_precision": "day",
    "stop_date": "2023-09-10",
    "stop_date_precision": "day",
    "ecog_at_start": "0",
    "stop_reason": "planned_completion",
}
IRAE_FORM = {
    "ctcae_term": "colitis",
    "grade": "2",
    "onset_date": "2023-06-01",
    "management": "none",
    "steroid_refractory": "no",
    "hospitalised": "yes",
    "led_to_discontinuation": "unknown",
}


# --- Month precision: the 15th, on every channel --------------------------------------------------


def test_a_month_only_date_sent_to_the_api_is_stored_on_the_15th(site_a, data_entry_a):
    payload = {**INITIAL_COURSES.payload(site_a), "start_date": "2023-01-03", "start_date_precision": "month"}
    response = client_for(data_entry_a).post(INITIAL_COURSES.list_url(), payload, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["start_date"] == "2023-01-15"
    assert InitialCourse.objects.get().start_date == dt.date(2023, 1, 15)


def test_an_api_change_to_month_precision_moves_the_date_to_the_15th_and_audits_the_stored_date(site_a, data_entry_a):
    course = InitialCourseFactory(patient__site=site_a, start_date=dt.date(2023, 1, 20))
    response = client_for(data_entry_a).patch(
        INITIAL_COURSES.url(course), {"start_date_precision": "month"}, format="json", **if_match(course)
    )
    assert response.status_code == 200, response.json()
    course.refresh_from_db()
    assert (course.start_date, course.start_date_precision) == (dt.date(2023, 1, 15), "month")
    changes = AuditEntry.objects.get(action="update").changes
    assert changes["start_date"] == ["2023-01-20", "2023-01-15"]


def test_an_api_date_already_on_the_15th_with_month_precision_is_not_a_change(site_a, data_entry_a):
    course = InitialCourseFactory(patient__site=site_a, start_date=dt.date(2023, 1, 15), start_date_precision="month")
    response = client_for(data_entry_a).patch(
        INITIAL_COURSES.url(course), {"start_date": "2023-01-28"}, format="json", **if_match(course)
    )
    assert response.status_code == 200
    course.refresh_from_db()
    assert (course.start_date, course.version) == (dt.date(2023, 1, 15), 1)
    assert not AuditEntry.objects.exists()


def test_the_web_form_shows_the_date_it_will_store(site_a):
    form = InitialCourseForm(
        {**COURSE_FORM, "stop_date": "2023-09-02", "stop_date_precision": "month"},
        instance=InitialCourse(patient=PatientFactory(site=site_a)),
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["stop_date"] == dt.date(2023, 9, 15)


def test_the_services_the_admin_saves_through_apply_the_mid_month_rule(site_a, admin_user):
    event = AdverseEventFactory(patient__site=site_a, onset_date=dt.date(2023, 6, 3))
    record_update(instance=event, data={"onset_date_precision": "month"}, user=admin_user, channel="admin")
    event.refresh_from_db()
    assert (event.onset_date, event.onset_date_precision) == (dt.date(2023, 6, 15), "month")


# --- No date after today ---------------------------------------------------------------------------


def test_the_web_form_refuses_a_birth_or_consent_date_after_today(site_a, data_entry_a):
    data = {
        "site": site_a.pk,
        "local_identifier": "MRN-9",
        "sex": "female",
        "year_of_birth": str(tomorrow().year),
        "date_of_birth": tomorrow().isoformat(),
        "tumour_type": "LUAD",
        "consent_status": "consented",
        "consent_date": tomorrow().isoformat(),
        "msi_status": "unknown",
    }
    form = PatientForm(data, user=data_entry_a)
    assert not form.is_valid()
    assert form.errors["date_of_birth"] == [FUTURE_DATE]
    assert form.errors["consent_date"] == [FUTURE_DATE]


def test_the_web_form_refuses_a_clinical_date_after_today_but_accepts_today(site_a):
    patient = PatientFactory(site=site_a)
    form = InitialCourseForm(
        {**COURSE_FORM, "stop_date": tomorrow().isoformat()}, instance=InitialCourse(patient=patient)
    )
    assert not form.is_valid()
    assert form.errors["stop_date"] == [FUTURE_DATE]
    form = InitialCourseForm({**COURSE_FORM, "stop_date": today().isoformat()}, instance=InitialCourse(patient=patient))
    assert form.is_valid(), form.errors


def test_a_month_only_date_is_refused_only_when_its_month_is_after_this_month(site_a):
    patient = PatientFactory(site=site_a)
    this_month = {**COURSE_FORM, "stop_date": today().replace(day=1).isoformat(), "stop_date_precision": "month"}
    form = InitialCourseForm(this_month, instance=InitialCourse(patient=patient))
    assert form.is_valid(), form.errors  # stored on the 15th of this month, which may be days ahead
    later = {**COURSE_FORM, "stop_date": next_month().isoformat(), "stop_date_precision": "month"}
    form = InitialCourseForm(later, instance=InitialCourse(patient=patient))
    assert form.errors["stop_date"] == [FUTURE_MONTH]


def test_the_api_refuses_a_follow_up_date_after_today_with_a_field_error_and_stores_nothing(site_a, data_entry_a):
    payload = {**FOLLOW_UPS.payload(site_a), "follow_up_date": tomorrow().isoformat(), "last_known_alive_date": None}
    response = client_for(data_entry_a).post(FOLLOW_UPS.list_url(), payload, format="json")
    assert response.status_code == 400
    assert response.json()["follow_up_date"] == [FUTURE_DATE]
    assert not FOLLOW_UPS.model.objects.exists()
    assert not AuditEntry.objects.filter(model_label="clinical.followup").exists()


def test_the_api_refuses_changing_an_episode_start_to_after_today(site_a, data_entry_a):
    episode = episode_at(site_a)
    response = client_for(data_entry_a).patch(
        EPISODES.url(episode), {"start_date": tomorrow().isoformat()}, format="json", **if_match(episode)
    )
    assert response.status_code == 400
    assert response.json()["start_date"] == [FUTURE_DATE]
    episode.refresh_from_db()
    assert episode.start_date == dt.date(2024, 5, 2)


# --- Yes / No / Unknown instead of checkboxes ------------------------------------------------------


def test_the_irae_form_asks_each_yes_no_unknown_question_without_a_preselected_answer(site_a):
    patient = PatientFactory(site=site_a)
    form = AdverseEventForm(
        {key: value for key, value in IRAE_FORM.items() if key not in AdverseEventForm.YES_NO_UNKNOWN},
        instance=AdverseEvent(patient=patient),
    )
    assert not form.is_valid()
    for name in AdverseEventForm.YES_NO_UNKNOWN:
        assert form.errors[name] == ["This field is required."]
    html = str(AdverseEventForm(instance=AdverseEvent(patient=patient))["hospitalised"])
    assert '<option value="" selected>Choose…</option>' in html
    assert '<option value="unknown">Unknown</option>' in html


def test_the_irae_form_stores_yes_as_true_no_as_false_and_unknown_as_none(site_a):
    form = AdverseEventForm(IRAE_FORM, instance=AdverseEvent(patient=PatientFactory(site=site_a)))
    assert form.is_valid(), form.errors
    data = form.record_data()
    assert (data["steroid_refractory"], data["hospitalised"], data["led_to_discontinuation"]) == (False, True, None)


def test_editing_an_irae_shows_the_stored_answers_and_a_stored_unknown_as_unknown(site_a):
    event = AdverseEventFactory(patient__site=site_a, steroid_refractory=None, hospitalised=True)
    form = AdverseEventForm(instance=event)
    assert '<option value="unknown" selected>' in str(form["steroid_refractory"])
    assert '<option value="yes" selected>' in str(form["hospitalised"])
    assert form.fields["steroid_refractory"].help_text == "No improvement after 48–72 h of high-dose corticosteroids."


def test_the_api_records_an_irae_flag_left_out_or_null_as_unknown(site_a, data_entry_a):
    payload = {**ADVERSE_EVENTS.payload(site_a), "hospitalised": None, "led_to_discontinuation": True}
    response = client_for(data_entry_a).post(ADVERSE_EVENTS.list_url(), payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["steroid_refractory"], body["hospitalised"], body["led_to_discontinuation"]) == (None, None, True)


# --- A prednisone dose not recorded is not 0 --------------------------------------------------------


def test_an_episode_without_a_prednisone_dose_stores_none_not_zero(site_a, data_entry_a):
    response = client_for(data_entry_a).post(EPISODES.list_url(), EPISODES.payload(site_a), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["current_prednisone_mg_per_day"] is None
    assert RechallengeEpisode.objects.get().current_prednisone_mg_per_day is None


def test_the_episode_form_leaves_an_empty_dose_empty_and_explains_zero(site_a):
    patient = InitialCourseFactory(patient=PatientFactory(site=site_a)).patient
    data = {
        "sequence_number": "1",
        "start_date": "2024-05-02",
        "rechallenge_type": "after_toxicity",
        "agent_relation": "same_agent",
        "primary_agent": "pembrolizumab",
        "regimen_type": "monotherapy",
        "ecog_at_rechallenge": "1",
        "current_prednisone_mg_per_day": "",
    }
    form = RechallengeEpisodeForm(data, instance=RechallengeEpisode(patient=patient))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["current_prednisone_mg_per_day"] is None
    assert "Leave empty if not recorded; 0 if none." in form.fields["current_prednisone_mg_per_day"].help_text


# --- "No irAEs during this course" is an answer that recorded irAEs contradict -----------------------


def test_answering_no_irae_during_ici1_is_refused_while_an_ici1_irae_is_recorded(site_a, data_entry_a):
    course = InitialCourseFactory(patient__site=site_a)
    AdverseEventFactory(patient=course.patient)
    form = InitialCourseForm({**COURSE_FORM, "iraes_during_course": "no"}, instance=course)
    assert form.errors["iraes_during_course"] == [NO_IRAES_OF_ICI1]
    response = client_for(data_entry_a).patch(
        INITIAL_COURSES.url(course), {"iraes_during_course": "no"}, format="json", **if_match(course)
    )
    assert response.status_code == 400
    assert response.json()["iraes_during_course"] == [NO_IRAES_OF_ICI1]
    for answer in ("yes", "unknown", ""):
        form = InitialCourseForm({**COURSE_FORM, "iraes_during_course": answer, "version": "1"}, instance=course)
        assert form.is_valid(), (answer, form.errors)


def test_an_irae_cannot_be_added_to_ici1_answered_no_irae(site_a, data_entry_a):
    course = InitialCourseFactory(patient__site=site_a, iraes_during_course="no")
    payload = {**ADVERSE_EVENTS.payload(site_a), "patient": course.patient.registry_id}
    response = client_for(data_entry_a).post(ADVERSE_EVENTS.list_url(), payload, format="json")
    assert response.status_code == 400
    assert response.json()["episode"] == [
        "ICI-1 is recorded as having had no irAEs: change that answer before adding an irAE to it."
    ]
    assert not AdverseEvent.objects.exists()


def test_an_irae_of_a_rechallenge_answered_no_is_refused_but_ici1_answered_no_does_not_block_it(site_a):
    course = InitialCourseFactory(patient__site=site_a, iraes_during_course="no")
    episode = RechallengeEpisodeFactory(patient=course.patient, iraes_during_rechallenge="no")
    form = AdverseEventForm(
        {**IRAE_FORM, "episode": episode.pk, "onset_date": "2024-06-01", "recurrence_status": "new"},
        instance=AdverseEvent(patient=course.patient),
        episodes=RechallengeEpisode.objects.filter(pk=episode.pk),
    )
    assert form.errors["episode"] == [
        "This rechallenge is recorded as having had no irAEs: change that answer before adding an irAE to it."
    ]
    record_update(instance=episode, data={"iraes_during_rechallenge": "yes"}, user=None, channel="task")
    form = AdverseEventForm(
        {**IRAE_FORM, "episode": episode.pk, "onset_date": "2024-06-01", "recurrence_status": "new"},
        instance=AdverseEvent(patient=course.patient),
        episodes=RechallengeEpisode.objects.filter(pk=episode.pk),
    )
    assert form.is_valid(), form.errors


def test_answering_no_irae_during_a_rechallenge_is_refused_while_one_of_its_iraes_is_recorded(site_a, data_entry_a):
    episode = episode_at(site_a)
    AdverseEventFactory(
        patient=episode.patient,
        episode=episode,
        onset_date=dt.date(2024, 6, 1),
        resolution_date=None,
        resolved_to_grade=None,
        recurrence_status="new",
    )
    response = client_for(data_entry_a).patch(
        EPISODES.url(episode), {"iraes_during_rechallenge": "no"}, format="json", **if_match(episode)
    )
    assert response.status_code == 400
    assert response.json()["iraes_during_rechallenge"] == [
        "irAEs of this rechallenge are recorded: the answer cannot be 'no'."
    ]
