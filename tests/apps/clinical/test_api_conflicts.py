"""Optimistic locking over HTTP: ETag out, If-Match in; 428 when missing, 412 when stale."""

from __future__ import annotations

import pytest

from apps.core.models import AuditEntry
from tests.apps.clinical.api_support import PATIENTS, RECORD_TYPES, client_for, if_match
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

by_type = pytest.mark.parametrize("kind", RECORD_TYPES, ids=str)


def test_the_etag_is_the_version_as_a_strong_entity_tag(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, version=7)
    response = client_for(data_entry_a).get(PATIENTS.url(patient))
    assert response.headers["ETag"] == '"7"'
    assert response.json()["version"] == 7


@by_type
def test_a_change_without_if_match_answers_428_and_changes_nothing(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    response = client_for(data_entry_a).patch(kind.url(record), kind.change, format="json")
    assert response.status_code == 428
    assert "If-Match" in response.json()["detail"]
    record.refresh_from_db()
    assert record.version == 1


@by_type
def test_a_replacement_without_if_match_answers_428(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    response = client_for(data_entry_a).put(kind.url(record), kind.payload(site_a), format="json")
    assert response.status_code == 428


@by_type
def test_a_deletion_without_if_match_answers_428_and_keeps_the_record(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    response = client_for(data_entry_a).delete(kind.url(record))
    assert response.status_code == 428
    assert type(record).objects.filter(pk=record.pk).exists()


@by_type
def test_a_change_with_a_stale_etag_answers_412_and_changes_nothing(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    type(record).objects.filter(pk=record.pk).update(version=2)
    response = client_for(data_entry_a).patch(kind.url(record), kind.change, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 412
    assert response.json() == {"detail": "This record was changed by someone else since you opened it."}
    assert not AuditEntry.objects.exists()


@by_type
def test_a_deletion_with_a_stale_etag_answers_412_and_keeps_the_record(kind, site_a, data_entry_a):
    record = kind.make(site_a)
    type(record).objects.filter(pk=record.pk).update(version=2)
    response = client_for(data_entry_a).delete(kind.url(record), HTTP_IF_MATCH='"1"')
    assert response.status_code == 412
    assert type(record).objects.filter(pk=record.pk).exists()


def test_the_second_of_two_edits_from_the_same_etag_is_refused(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    client = client_for(data_entry_a)
    first = client.patch(PATIENTS.url(patient), {"sex": "male"}, format="json", HTTP_IF_MATCH='"1"')
    second = client.patch(PATIENTS.url(patient), {"sex": "other"}, format="json", HTTP_IF_MATCH='"1"')
    assert (first.status_code, second.status_code) == (200, 412)
    patient.refresh_from_db()
    assert patient.sex == "male"


def test_the_etag_returned_by_a_change_allows_the_next_change(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    client = client_for(data_entry_a)
    etag = client.patch(PATIENTS.url(patient), {"sex": "male"}, format="json", **if_match(patient)).headers["ETag"]
    response = client.patch(PATIENTS.url(patient), {"sex": "other"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response.headers["ETag"] == '"3"'


def test_a_weak_form_of_the_current_etag_is_accepted(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    response = client_for(data_entry_a).patch(
        PATIENTS.url(patient), {"sex": "male"}, format="json", HTTP_IF_MATCH='W/"1"'
    )
    assert response.status_code == 200


def test_a_wildcard_if_match_does_not_bypass_the_version_check(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    response = client_for(data_entry_a).patch(PATIENTS.url(patient), {"sex": "male"}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 428


def test_an_if_match_that_is_no_entity_tag_answers_428_naming_the_expected_form(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    response = client_for(data_entry_a).patch(
        PATIENTS.url(patient), {"sex": "male"}, format="json", HTTP_IF_MATCH="banana"
    )
    assert response.status_code == 428
    assert "entity tag" in response.json()["detail"]


def test_a_record_of_another_site_answers_404_before_any_precondition(site_b, data_entry_a):
    patient = PatientFactory(site=site_b)
    response = client_for(data_entry_a).patch(PATIENTS.url(patient), {"sex": "male"}, format="json")
    assert response.status_code == 404


def test_invalid_input_is_reported_before_a_stale_etag(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, version=2)
    response = client_for(data_entry_a).patch(
        PATIENTS.url(patient), {"sex": "robot"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 400
    assert list(response.json()) == ["sex"]
