"""Happy paths of every clinical endpoint: list, read, create, replace, change and delete."""

from __future__ import annotations

import pytest

from tests.apps.clinical.api_support import PATIENTS, RECORD_TYPES, client_for, episode_at, if_match
from tests.factories import AdverseEventFactory

pytestmark = pytest.mark.django_db

by_type = pytest.mark.parametrize("kind", RECORD_TYPES, ids=str)


@by_type
def test_listing_answers_a_page_of_own_site_records(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    response = client_for(data_entry_a).get(kind.list_url())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 1
    assert body["results"][0][kind.lookup] == getattr(record, kind.lookup)


@by_type
def test_reading_a_record_answers_its_fields_version_and_etag(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    response = client_for(data_entry_a).get(kind.url(record))
    assert response.status_code == 200
    body = response.json()
    assert kind.shape <= set(body)
    assert "reason" not in body
    assert (body["version"], body["site"]) == (1, "AAA")
    assert response.headers["ETag"] == '"1"'


@by_type
def test_creating_a_record_answers_201_with_the_record_and_its_etag(kind, site_a, data_entry_a):
    response = client_for(data_entry_a).post(kind.list_url(), kind.payload(site_a), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert kind.shape <= set(body)
    assert body["version"] == 1
    assert response.headers["ETag"] == '"1"'
    assert kind.model.objects.filter(**{kind.lookup: body[kind.lookup]}).exists()


@by_type
def test_patching_with_the_current_etag_changes_the_record_and_bumps_its_version(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    response = client_for(data_entry_a).patch(kind.url(record), kind.change, format="json", **if_match(record))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert {name: body[name] for name in kind.change} == kind.change
    assert body["version"] == 2
    assert response.headers["ETag"] == '"2"'


@by_type
def test_putting_a_whole_record_replaces_its_fields(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    payload = kind.payload(site_a)
    response = client_for(data_entry_a).put(kind.url(record), payload, format="json", **if_match(record))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert {name: body[name] for name in payload} == payload


@by_type
def test_deleting_with_the_current_etag_removes_the_record(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    response = client_for(data_entry_a).delete(kind.url(record), **if_match(record))
    assert response.status_code == 204
    assert not type(record).objects.filter(pk=record.pk).exists()


def test_a_created_patient_gets_a_registry_id_prefixed_with_its_site_code(site_a, data_entry_a):
    response = client_for(data_entry_a).post(PATIENTS.list_url(), PATIENTS.payload(site_a), format="json")
    assert response.json()["registry_id"].startswith("AAA-")


def test_an_adverse_event_of_a_rechallenge_reports_its_course(site_a, data_entry_a):
    episode = episode_at(site_a)
    event = AdverseEventFactory(
        patient=episode.patient,
        episode=episode,
        onset_date=episode.start_date,
        resolution_date=None,
        resolved_to_grade=None,
        recurrence_status="new",
    )
    body = client_for(data_entry_a).get(f"/api/v1/adverse-events/{event.pk}/").json()
    assert (body["course"], body["episode"], body["patient"]) == (
        "rechallenge",
        episode.pk,
        episode.patient.registry_id,
    )
