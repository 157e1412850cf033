"""The error rules of issue #10 refuse the save on every channel, with a field message naming both dates.

``date_order`` (ICI-1 start ≤ stop ≤ rechallenge start ≤ its records) seen from the earlier record when
it is the one changed, and ``after_death`` (nothing dated after the patient's recorded death). The
messages are the templates of ``registry.quality.RULES``, which the nightly sweep fills too.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.clinical.models import AdverseEvent, FollowUp, ResponseAssessment
from apps.clinical.services import record_create, record_update, records_create_batch
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from tests.apps.clinical.api_support import (
    ADVERSE_EVENTS,
    EPISODES,
    FOLLOW_UPS,
    RESPONSES,
    client_for,
    if_match,
)
from tests.apps.clinical.test_views_entry import edit_url, form_values
from tests.apps.clinical.test_views_pages import sign_in
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

pytestmark = pytest.mark.django_db

D = dt.date
START = D(2024, 5, 2)  # the factory's rechallenge start
DEATH = D(2024, 9, 1)


def episode_of_a_patient_who_died(site, *, death: dt.date = DEATH):
    """A rechallenge whose patient's death is recorded by a follow-up (reported a week later)."""
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient__site=site).patient)
    FollowUpFactory(
        episode=episode,
        follow_up_date=death + dt.timedelta(days=7),
        vital_status="dead",
        death_date=death,
        last_known_alive_date=None,
    )
    return episode


# --- after_death ------------------------------------------------------------------------------------------


def test_the_api_refuses_a_response_assessment_dated_after_the_death(site_a, data_entry_a):
    episode = episode_of_a_patient_who_died(site_a)
    payload = {**RESPONSES.payload(site_a), "episode": episode.pk, "assessment_date": "2024-09-03"}
    response = client_for(data_entry_a).post(RESPONSES.list_url(), payload, format="json")
    assert response.status_code == 400
    assert response.json()["assessment_date"] == [
        "Assessment date (2024-09-03) is after the recorded date of death (2024-09-01)."
    ]
    assert not ResponseAssessment.objects.exists()


def test_a_response_on_the_day_of_death_is_accepted(site_a, data_entry_a):
    episode = episode_of_a_patient_who_died(site_a)
    payload = {**RESPONSES.payload(site_a), "episode": episode.pk, "assessment_date": "2024-09-01"}
    assert client_for(data_entry_a).post(RESPONSES.list_url(), payload, format="json").status_code == 201


def test_the_api_refuses_an_irae_of_ici1_with_onset_after_the_death_recorded_in_a_rechallenge(site_a, data_entry_a):
    episode = episode_of_a_patient_who_died(site_a)
    payload = {
        **ADVERSE_EVENTS.payload(site_a),
        "patient": episode.patient.registry_id,
        "episode": None,
        "onset_date": "2024-10-01",
    }
    payload.pop("recurrence_status", None)
    response = client_for(data_entry_a).post(ADVERSE_EVENTS.list_url(), payload, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["onset_date"] == [
        "Onset date (2024-10-01) is after the recorded date of death (2024-09-01)."
    ]
    assert not AdverseEvent.objects.exists()


def test_the_web_form_refuses_a_follow_up_of_a_living_patient_dated_after_the_death(client, site_a, data_entry_a):
    episode = episode_of_a_patient_who_died(site_a)
    sign_in(client, data_entry_a)
    url = reverse("clinical:follow-up-create", kwargs={"episode_pk": episode.pk})
    response = client.post(
        url, {"follow_up_date": "2024-10-01", "vital_status": "alive", "last_known_alive_date": "2024-10-01"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["follow_up_date"] == [
        "Date of follow-up (2024-10-01) is after the recorded date of death (2024-09-01)."
    ]
    assert "is after the recorded date of death (2024-09-01)." in response.content.decode()
    assert FollowUp.objects.count() == 1


def test_a_second_follow_up_recording_the_death_may_be_dated_after_it(site_a, data_entry_a):
    episode = episode_of_a_patient_who_died(site_a)
    payload = {
        "episode": episode.pk,
        "follow_up_date": "2024-12-01",
        "vital_status": "dead",
        "death_date": "2024-09-01",
    }
    response = client_for(data_entry_a).post(FOLLOW_UPS.list_url(), payload, format="json")
    assert response.status_code == 201, response.json()


def test_a_death_date_before_the_patients_last_response_is_refused_on_the_death_date_in_the_admin(site_a, admin_user):
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient__site=site_a).patient)
    ResponseAssessmentFactory(episode=episode, assessment_date=D(2024, 9, 20))
    follow_up = FollowUpFactory(episode=episode, follow_up_date=D(2024, 10, 1))
    with pytest.raises(ApplicationError) as refused:
        record_update(
            instance=follow_up,
            data={"vital_status": "dead", "death_date": DEATH, "last_known_alive_date": None},
            user=admin_user,
            channel="admin",
        )
    assert refused.value.field_errors == {
        "death_date": [
            "The patient's last response assessment (2024-09-20) is after the recorded date of death (2024-09-01)."
        ]
    }
    follow_up.refresh_from_db()
    assert follow_up.vital_status == "alive"


def test_a_death_date_before_another_follow_up_or_an_irae_of_the_patient_is_refused(site_a, data_entry_a):
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient__site=site_a).patient)
    FollowUpFactory(episode=episode, follow_up_date=D(2024, 9, 10))
    AdverseEventFactory(
        patient=episode.patient,
        episode=episode,
        onset_date=D(2024, 9, 5),
        resolution_date=None,
        resolved_to_grade=None,
        recurrence_status="new",
    )
    payload = {
        "episode": episode.pk,
        "follow_up_date": "2024-09-12",
        "vital_status": "dead",
        "death_date": "2024-09-01",
    }
    response = client_for(data_entry_a).post(FOLLOW_UPS.list_url(), payload, format="json")
    assert response.status_code == 400
    assert response.json()["death_date"] == [
        "The patient's last other follow-up (2024-09-10) is after the recorded date of death (2024-09-01)."
    ]


def test_the_import_refuses_a_record_dated_after_the_death_through_the_same_validation(site_a, data_entry_a):
    episode = episode_of_a_patient_who_died(site_a)
    row = {"episode": episode, "assessment_date": D(2024, 9, 15), "criteria": "recist_1_1", "category": "PD"}
    batch = records_create_batch(site=site_a, user=data_entry_a, channel="import", reason="file.csv")
    with pytest.raises(ApplicationError) as refused, batch as records:
        records.create(model=ResponseAssessment, data=row)
    assert refused.value.field_errors == {
        "assessment_date": ["Assessment date (2024-09-15) is after the recorded date of death (2024-09-01)."]
    }
    assert not ResponseAssessment.objects.exists()


# --- date_order, from the earlier record ----------------------------------------------------------------


def test_the_api_refuses_moving_a_rechallenge_start_past_its_first_response(site_a, data_entry_a):
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient__site=site_a).patient)
    ResponseAssessmentFactory(episode=episode, assessment_date=D(2024, 6, 20))
    FollowUpFactory(episode=episode, follow_up_date=D(2024, 7, 1))
    response = client_for(data_entry_a).patch(
        EPISODES.url(episode), {"start_date": "2024-06-25"}, format="json", **if_match(episode)
    )
    assert response.status_code == 400
    assert response.json()["start_date"] == [
        "The first response assessment of this rechallenge (2024-06-20) must not be before the rechallenge start "
        "date (2024-06-25)."
    ]
    episode.refresh_from_db()
    assert episode.start_date == START


def test_moving_a_rechallenge_start_past_its_first_irae_is_refused_and_within_its_records_accepted(site_a, admin_user):
    episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient__site=site_a).patient)
    AdverseEventFactory(
        patient=episode.patient,
        episode=episode,
        onset_date=D(2024, 5, 10),
        resolution_date=None,
        resolved_to_grade=None,
        recurrence_status="new",
    )
    with pytest.raises(ApplicationError) as refused:
        record_update(instance=episode, data={"start_date": D(2024, 5, 11)}, user=admin_user, channel="admin")
    assert refused.value.field_errors["start_date"] == [
        "The first irAE onset of this rechallenge (2024-05-10) must not be before the rechallenge start date "
        "(2024-05-11)."
    ]
    record_update(instance=episode, data={"start_date": D(2024, 5, 10)}, user=admin_user, channel="admin")
    episode.refresh_from_db()
    assert episode.start_date == D(2024, 5, 10)


def test_the_web_form_refuses_moving_the_ici1_stop_past_the_rechallenge_start(client, site_a, data_entry_a):
    course = InitialCourseFactory(patient__site=site_a)
    RechallengeEpisodeFactory(patient=course.patient)
    sign_in(client, data_entry_a)
    values = form_values(client.get(edit_url("initial-course", course.pk)))
    response = client.post(edit_url("initial-course", course.pk), {**values, "stop_date": "2024-05-10"})
    assert response.status_code == 200
    assert response.context["form"].errors["stop_date"] == [
        "Rechallenge 1 start (2024-05-02) must not be before ICI-1 stop date (2024-05-10)."
    ]
    course.refresh_from_db()
    assert course.stop_date == D(2023, 10, 15)
    assert not AuditEntry.objects.filter(model_label="clinical.initialcourse").exists()


def test_an_unchanged_date_is_not_checked_again_and_a_new_record_reads_the_death_once(site_a):
    episode = episode_of_a_patient_who_died(site_a)
    response = ResponseAssessment(episode=episode, assessment_date=D(2024, 8, 1), criteria="recist_1_1", category="SD")
    with CaptureQueriesContext(connection) as queries:
        response.clean()
    assert len(queries) == 1  # the patient's recorded death
    saved = record_create(
        model=ResponseAssessment,
        data={"episode": episode, "assessment_date": D(2024, 8, 1), "criteria": "recist_1_1", "category": "SD"},
        user=None,
        channel="task",
    )
    stored = ResponseAssessment.objects.select_related("episode").get(pk=saved.pk)
    stored.category = "PR"
    with CaptureQueriesContext(connection) as queries:
        stored.clean()
    assert len(queries) == 0
