"""Bad input gets the model's own field-level message and changes nothing; good input is audited."""

from __future__ import annotations

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from apps.assessments.models import Assessment
from apps.clinical.models import AdverseEvent, Patient, RechallengeEpisode
from apps.clinical.services import REASON_REQUIRED
from apps.core.models import AuditEntry
from tests.apps.clinical.api_support import ADVERSE_EVENTS, PATIENTS, RECORD_TYPES, client_for, episode_at, if_match
from tests.factories import AdverseEventFactory, PatientFactory

pytestmark = pytest.mark.django_db

by_type = pytest.mark.parametrize("kind", RECORD_TYPES, ids=str)


def model_message(instance, field: str) -> list[str]:
    """The message ``model.clean`` gives for ``field`` — what the web form shows."""
    with pytest.raises(ValidationError) as error:
        instance.full_clean()
    return error.value.message_dict[field]


def _fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_an_irae_resolving_above_its_grade_gets_the_same_message_as_the_web_form(site_a, data_entry_a):
    event = AdverseEventFactory(patient__site=site_a, grade=2, resolved_to_grade=0)
    response = client_for(data_entry_a).patch(
        ADVERSE_EVENTS.url(event), {"resolved_to_grade": 3}, format="json", **if_match(event)
    )
    expected = model_message(AdverseEvent(**{**_fields(event), "resolved_to_grade": 3}), "resolved_to_grade")
    assert response.status_code == 400
    assert response.json()["resolved_to_grade"] == expected


def test_a_refused_change_leaves_the_record_and_the_audit_trail_untouched(site_a, data_entry_a):
    event = AdverseEventFactory(patient__site=site_a, grade=2, resolved_to_grade=0)
    client_for(data_entry_a).patch(
        ADVERSE_EVENTS.url(event), {"resolved_to_grade": 3}, format="json", **if_match(event)
    )
    event.refresh_from_db()
    assert (event.resolved_to_grade, event.version) == (0, 1)
    assert not AuditEntry.objects.exists()


def test_a_refused_creation_answers_field_errors_and_a_detail(site_a, data_entry_a):
    payload = {**PATIENTS.payload(site_a), "consent_date": None}
    response = client_for(data_entry_a).post(PATIENTS.list_url(), payload, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "consent_date": ["Give the date consent was signed."],
        "detail": "Please correct the errors below.",
    }
    assert not PATIENTS.model.objects.exists()


def test_a_wrongly_typed_value_is_refused_by_the_serializer_with_a_field_error(site_a, data_entry_a):
    payload = {**PATIENTS.payload(site_a), "year_of_birth": "nineteen-sixty", "sex": "robot"}
    response = client_for(data_entry_a).post(PATIENTS.list_url(), payload, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"year_of_birth", "sex"}


def test_a_missing_required_field_is_named(site_a, data_entry_a):
    payload = PATIENTS.payload(site_a)
    del payload["tumour_type"]
    response = client_for(data_entry_a).post(PATIENTS.list_url(), payload, format="json")
    assert response.json() == {"tumour_type": ["This field is required."]}


def test_a_duplicate_local_identifier_is_refused_with_the_models_message_as_a_non_field_error(site_a, data_entry_a):
    existing = PatientFactory(site=site_a, local_identifier="MRN-NEW-1")
    response = client_for(data_entry_a).post(PATIENTS.list_url(), PATIENTS.payload(site_a), format="json")
    duplicate = Patient(**{**_fields(existing), "id": None, "registry_id": "AAA-000000-0"})
    assert response.status_code == 400
    assert response.json()["non_field_errors"] == model_message(duplicate, NON_FIELD_ERRORS)
    assert Patient.objects.count() == 1


# --- Reasons and the audit trail ------------------------------------------------------------------


@by_type
def test_creating_through_the_api_writes_an_audit_entry_on_the_api_channel(kind, site_a, data_entry_a):
    response = client_for(data_entry_a).post(kind.list_url(), kind.payload(site_a), format="json")
    entry = AuditEntry.objects.get(action="create", model_label=kind.model._meta.label_lower)
    assert (entry.channel, entry.user, entry.site_id) == ("api", data_entry_a, site_a.pk)
    assert response.status_code == 201


@by_type
def test_changing_through_the_api_writes_an_audit_entry_with_old_and_new_values(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    client_for(data_entry_a).patch(
        kind.url(record), {**kind.change, "reason": "source check"}, format="json", **if_match(record)
    )
    entry = AuditEntry.objects.get(action="update")
    assert (entry.channel, entry.user, entry.reason) == ("api", data_entry_a, "source check")
    assert entry.changes["version"] == [1, 2]


@by_type
def test_deleting_through_the_api_writes_an_audit_entry_with_the_reason_from_the_query(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    client_for(data_entry_a).delete(f"{kind.url(record)}?reason=duplicate", **if_match(record))
    entry = AuditEntry.objects.get(action="delete", model_label=kind.model._meta.label_lower)
    assert (entry.channel, entry.reason) == ("api", "duplicate")


def test_a_deletion_reason_may_come_in_the_body(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    client_for(data_entry_a).delete(
        PATIENTS.url(patient), {"reason": "entered twice"}, format="json", **if_match(patient)
    )
    assert AuditEntry.objects.get(action="delete").reason == "entered twice"


def test_changing_a_complete_record_without_a_reason_is_refused(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, is_complete=True)
    response = client_for(data_entry_a).patch(
        PATIENTS.url(patient), PATIENTS.change, format="json", **if_match(patient)
    )
    assert response.status_code == 400
    assert response.json()["reason"] == [REASON_REQUIRED]


def test_changing_a_complete_record_with_a_reason_is_accepted(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, is_complete=True)
    response = client_for(data_entry_a).patch(
        PATIENTS.url(patient), {**PATIENTS.change, "reason": "typo in source"}, format="json", **if_match(patient)
    )
    assert response.status_code == 200
    assert "reason" not in response.json()


def test_deleting_a_complete_record_without_a_reason_is_refused_and_keeps_it(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, is_complete=True)
    response = client_for(data_entry_a).delete(PATIENTS.url(patient), **if_match(patient))
    assert response.status_code == 400
    assert response.json()["reason"] == [REASON_REQUIRED]
    assert PATIENTS.model.objects.filter(pk=patient.pk).exists()


# --- Paging ---------------------------------------------------------------------------------------


def test_a_page_holds_fifty_records_by_default(site_a, data_entry_a):
    PatientFactory.create_batch(51, site=site_a)
    body = client_for(data_entry_a).get(PATIENTS.list_url()).json()
    assert (body["count"], len(body["results"])) == (51, 50)
    assert body["next"].endswith("page=2")


def test_a_page_size_above_two_hundred_is_capped(site_a, data_entry_a):
    PatientFactory.create_batch(201, site=site_a)
    body = client_for(data_entry_a).get(PATIENTS.list_url(), {"page_size": 500}).json()
    assert len(body["results"]) == 200


def test_a_page_size_that_is_not_a_positive_number_is_refused(site_a, data_entry_a):
    response = client_for(data_entry_a).get(PATIENTS.list_url(), {"page_size": "0"})
    assert response.status_code == 400
    assert "page_size" in response.json()


def test_a_body_that_is_not_json_is_refused_with_415(site_a, data_entry_a):
    response = client_for(data_entry_a).post(PATIENTS.list_url(), PATIENTS.payload(site_a))  # multipart
    assert response.status_code == 415
    assert not Patient.objects.exists()


def test_deleting_an_episode_a_locked_assessment_refers_to_answers_409_and_keeps_it(site_a, data_entry_a):
    episode = episode_at(site_a)
    Assessment.objects.create(
        episode=episode, model_version="1.0", model_hash="0" * 64, inputs={}, factors={}, category="favourable", score=3
    )
    response = client_for(data_entry_a).delete(f"/api/v1/episodes/{episode.pk}/?reason=test", **if_match(episode))
    assert response.status_code == 409
    assert RechallengeEpisode.objects.filter(pk=episode.pk).exists()
    assert not AuditEntry.objects.filter(action="delete").exists()
