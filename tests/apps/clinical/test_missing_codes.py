"""Missing-data codes: a required field a site could not fill is answered "not done", "unknown" or "not
applicable" — on the web form, through the API, audited, and shown as such on the patient page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from apps.clinical.forms import AdverseEventForm, InitialCourseForm, RechallengeEpisodeForm
from apps.clinical.models import AdverseEvent, FollowUp, InitialCourse, RechallengeEpisode
from apps.clinical.presenters import history_rows, record_values
from apps.clinical.services import record_create, record_update
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from tests.apps.clinical.api_support import (
    ADVERSE_EVENTS,
    EPISODES,
    FOLLOW_UPS,
    INITIAL_COURSES,
    PATIENTS,
    RESPONSES,
    client_for,
    episode_at,
    if_match,
)
from tests.apps.clinical.test_views_entry import EPISODE, INITIAL_COURSE, edit_url, form_values
from tests.apps.clinical.test_views_pages import page, patient_url, sign_in
from tests.factories import InitialCourseFactory, PatientFactory, RechallengeEpisodeFactory

pytestmark = pytest.mark.django_db

BOTH = "Give either a value or a missing-data answer ('{}'), not both: clear one of them."


# --- web form ---------------------------------------------------------------------------------------------


def test_the_form_offers_the_missing_data_select_beside_each_required_field_only(site_a):
    form = InitialCourseForm(instance=InitialCourse(patient=PatientFactory(site=site_a)))
    offered = {name.removesuffix("__missing") for name in form.fields if name.endswith("__missing")}
    assert offered == {"stop_date", "stop_reason", "progression_date", "best_overall_response", "iraes_during_course"}
    html = str(form["stop_date__missing"])
    assert '<option value="not_done">not done</option>' in html
    assert '<option value="unknown">unknown</option>' in html
    assert '<option value="not_applicable">not applicable</option>' in html
    # Laid out beside its field, after the date's precision (chosen inside the date's own field).
    [row] = [row for row in form.layout if row[0].field.name == "stop_date"]
    assert [cell.field.name for cell in row] == ["stop_date"]
    assert row[0].precision.name == "stop_date_precision"
    assert row[0].missing.name == "stop_date__missing"


def test_a_code_chosen_on_the_web_form_is_stored_and_audited(client, site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    sign_in(client, data_entry_a)
    url = reverse("clinical:initial-course-create", kwargs={"registry_id": patient.registry_id})
    response = client.post(
        url, {**INITIAL_COURSE, "best_overall_response": "", "best_overall_response__missing": "not_done"}
    )
    assert response.status_code == 302, response.context["form"].errors
    course = InitialCourse.objects.get(patient=patient)
    assert course.missing_answers == {"best_overall_response": "not_done"}
    assert course.best_overall_response == ""
    entry = AuditEntry.objects.get(model_label="clinical.initialcourse", action="create")
    assert entry.changes["missing_answers"] == [None, {"best_overall_response": "not_done"}]


def test_a_value_and_a_code_for_the_same_field_are_refused_on_the_field_and_nothing_is_saved(
    client, site_a, data_entry_a
):
    patient = PatientFactory(site=site_a)
    sign_in(client, data_entry_a)
    url = reverse("clinical:initial-course-create", kwargs={"registry_id": patient.registry_id})
    response = client.post(url, {**INITIAL_COURSE, "best_overall_response__missing": "unknown"})
    assert response.status_code == 200
    assert response.context["form"].errors["best_overall_response"] == [BOTH.format("unknown")]
    assert not InitialCourse.objects.exists()


def test_an_unknown_code_is_refused_by_the_form(site_a):
    form = InitialCourseForm(
        {**INITIAL_COURSE, "best_overall_response": "", "best_overall_response__missing": "skipped"},
        instance=InitialCourse(patient=PatientFactory(site=site_a)),
    )
    assert not form.is_valid()
    assert form.errors["best_overall_response__missing"] == [
        "Select a valid choice. skipped is not one of the available choices."
    ]


def test_editing_keeps_a_code_clears_it_when_the_select_is_emptied_and_the_history_shows_both(
    client, site_a, data_entry_a
):
    course = InitialCourseFactory(patient__site=site_a, best_overall_response="", missing_answers={})
    sign_in(client, data_entry_a)
    form = client.get(edit_url("initial-course", course.pk))
    values = form_values(form)
    assert values["best_overall_response__missing"] == ""
    assert client.post(edit_url("initial-course", course.pk), {**values, "best_overall_response__missing": "unknown"})
    course.refresh_from_db()
    assert course.missing_answers == {"best_overall_response": "unknown"}
    values = form_values(client.get(edit_url("initial-course", course.pk)))
    assert values["best_overall_response__missing"] == "unknown"  # the stored answer is shown again
    client.post(
        edit_url("initial-course", course.pk),
        {**values, "best_overall_response__missing": "", "best_overall_response": "SD"},
    )
    course.refresh_from_db()
    assert (course.best_overall_response, course.missing_answers) == ("SD", {})
    changes = [change for row in history_rows(course) for change in row.changes if change[0] == "Missing-data answers"]
    assert sorted(changes) == [
        ("Missing-data answers", "Best overall response (RECIST 1.1): Unknown", "–"),
        ("Missing-data answers", "–", "Best overall response (RECIST 1.1): Unknown"),
    ]


def test_a_required_yes_no_question_answered_unknown_records_the_unknown_code(site_a):
    form = AdverseEventForm(
        {
            "ctcae_term": "colitis",
            "grade": "2",
            "onset_date": "2023-06-01",
            "management": "none",
            "steroid_refractory": "unknown",
            "hospitalised": "unknown",
            "led_to_discontinuation": "no",
        },
        instance=AdverseEvent(patient=PatientFactory(site=site_a)),
    )
    assert form.is_valid(), form.errors
    data = form.record_data()
    # hospitalised is required by the registry: "Unknown" is its answer; steroid_refractory is not.
    assert data["missing_answers"] == {"hospitalised": "unknown"}
    assert (data["hospitalised"], data["led_to_discontinuation"]) == (None, False)
    assert "hospitalised__missing" not in form.fields  # its own choices already say "Unknown"


def test_an_unknown_yes_no_baseline_fact_is_answered_with_the_code_not_by_the_blank(site_a):
    patient = InitialCourseFactory(patient__site=site_a).patient
    form = RechallengeEpisodeForm(
        {**EPISODE, "brain_metastases": "unknown", "brain_metastases__missing": "unknown"},
        instance=RechallengeEpisode(patient=patient),
    )
    assert '<option value="unknown" selected>—</option>' in str(form["liver_metastases"])  # the blank is not "Unknown"
    assert form.is_valid(), form.errors
    assert form.record_data()["missing_answers"] == {"brain_metastases": "unknown"}


# --- the patient page ---------------------------------------------------------------------------------------


def test_the_patient_page_shows_a_missing_data_answer_in_italics_instead_of_a_blank(client, site_a, data_entry_a):
    course = InitialCourseFactory(
        patient__site=site_a, best_overall_response="", missing_answers={"best_overall_response": "not_done"}
    )
    assert ("Best overall response (RECIST 1.1)", '<em class="missing-answer-value">Not done</em>') in [
        (label, str(value)) for label, value in record_values(course)
    ]
    sign_in(client, data_entry_a)
    html = page(client, patient_url(course.patient))
    assert '<dt>Best overall response (RECIST 1.1)</dt><dd><em class="missing-answer-value">Not done</em></dd>' in html


def test_a_value_is_shown_as_the_value_and_an_unanswered_field_not_at_all(site_a):
    course = InitialCourseFactory(patient__site=site_a, best_overall_response="", iraes_during_course="")
    labels = [label for label, _ in record_values(course)]
    assert "Best overall response (RECIST 1.1)" not in labels
    assert "Missing-data answers" not in labels


# --- services (admin, import) and the API --------------------------------------------------------------------


def test_the_services_refuse_a_code_beside_a_value_and_a_code_for_an_undeclared_field(site_a, admin_user):
    course = InitialCourseFactory(patient__site=site_a)
    with pytest.raises(ApplicationError) as refused:
        record_update(
            instance=course, data={"missing_answers": {"stop_date": "unknown"}}, user=admin_user, channel="admin"
        )
    assert refused.value.field_errors == {"stop_date": [BOTH.format("unknown")]}
    with pytest.raises(ApplicationError) as refused:
        record_update(
            instance=course, data={"missing_answers": {"ecog_at_start": "unknown"}}, user=admin_user, channel="admin"
        )
    assert refused.value.field_errors["missing_answers"][0].startswith("ecog_at_start cannot be answered")


@pytest.mark.parametrize("kind", [PATIENTS, INITIAL_COURSES, EPISODES, ADVERSE_EVENTS, RESPONSES, FOLLOW_UPS], ids=str)
def test_every_record_type_answers_its_missing_data_answers_in_the_api(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    response = client_for(data_entry_a).get(kind.url(record))
    assert response.json()["missing_answers"] == {}


def test_the_api_stores_a_code_and_returns_it(site_a, data_entry_a):
    payload = {
        **FOLLOW_UPS.payload(site_a),
        "last_known_alive_date": None,
        "missing_answers": {"last_known_alive_date": "unknown"},
    }
    response = client_for(data_entry_a).post(FOLLOW_UPS.list_url(), payload, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["missing_answers"] == {"last_known_alive_date": "unknown"}
    assert FollowUp.objects.get().missing_answers == {"last_known_alive_date": "unknown"}


def test_the_api_refuses_an_undeclared_field_and_an_unknown_code_with_field_level_errors(site_a, data_entry_a):
    episode = episode_at(site_a)
    client = client_for(data_entry_a)
    response = client.patch(
        EPISODES.url(episode),
        {"missing_answers": {"ecog_at_rechallenge": "unknown"}},
        format="json",
        **if_match(episode),
    )
    assert response.status_code == 400
    assert response.json()["missing_answers"] == [
        "ecog_at_rechallenge cannot be answered 'not done', 'unknown' or 'not applicable': on this form only "
        "ldh_above_uln, neutrophil_lymphocyte_ratio, albumin_g_per_l, brain_metastases, liver_metastases, "
        "current_prednisone_mg_per_day, iraes_during_rechallenge can."
    ]
    response = client.patch(
        EPISODES.url(episode), {"missing_answers": {"albumin_g_per_l": "later"}}, format="json", **if_match(episode)
    )
    assert response.status_code == 400
    assert response.json()["missing_answers"] == [
        "'later' is not a missing-data code for albumin_g_per_l: use one of not_done, unknown, not_applicable."
    ]
    response = client.patch(
        EPISODES.url(episode), {"missing_answers": ["albumin_g_per_l"]}, format="json", **if_match(episode)
    )
    assert response.json()["missing_answers"] == ["Give the missing-data answers as an object: {field name: code}."]


def test_the_api_refuses_a_code_beside_a_value_on_the_field(site_a, data_entry_a):
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient__site=site_a).patient, albumin_g_per_l=38)
    response = client_for(data_entry_a).patch(
        EPISODES.url(episode), {"missing_answers": {"albumin_g_per_l": "not_done"}}, format="json", **if_match(episode)
    )
    assert response.status_code == 400
    assert response.json()["albumin_g_per_l"] == [BOTH.format("not done")]
    episode.refresh_from_db()
    assert episode.missing_answers == {}


def test_a_null_code_in_the_api_clears_it(site_a, data_entry_a):
    episode = RechallengeEpisodeFactory(
        patient=InitialCourseFactory(patient__site=site_a).patient,
        albumin_g_per_l=None,
        missing_answers={"albumin_g_per_l": "not_done"},
    )
    response = client_for(data_entry_a).patch(
        EPISODES.url(episode),
        {"albumin_g_per_l": "39.0", "missing_answers": {"albumin_g_per_l": None}},
        format="json",
        **if_match(episode),
    )
    assert response.status_code == 200, response.json()
    assert response.json()["missing_answers"] == {}
    changes = AuditEntry.objects.get(action="update").changes
    assert changes["missing_answers"] == [{"albumin_g_per_l": "not_done"}, {}]


def test_the_schema_documents_the_answerable_fields_and_codes():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    field = schema["components"]["schemas"]["FollowUpRequest"]["properties"]["missing_answers"]
    assert set(field["properties"]) == {"death_date", "last_known_alive_date", "rechallenge_stop_reason"}
    assert field["additionalProperties"] is False
    assert field["properties"]["death_date"]["enum"] == ["not_done", "unknown", "not_applicable"]
    assert "not beside a value" in field["description"] or "never beside a value" in field["description"]


def test_a_record_created_by_a_system_job_keeps_a_valid_code(site_a):
    patient = PatientFactory(site=site_a)
    course = record_create(
        model=InitialCourse,
        data={
            "patient": patient,
            "primary_agent": "nivolumab",
            "regimen_type": "monotherapy",
            "line_of_therapy": 1,
            "start_date": dt.date(2023, 1, 2),
            "ecog_at_start": 0,
            "missing_answers": {"stop_date": "unknown"},
        },
        user=None,
        channel="task",
    )
    assert InitialCourse.objects.get(pk=course.pk).missing_answers == {"stop_date": "unknown"}
