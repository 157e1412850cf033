"""Who reaches the record endpoints at all: investigators and anonymous callers do not."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.apps.clinical.api_support import (
    PATIENTS,
    RECORD_TYPES,
    client_for,
    if_match,
    token_client_for,
)

pytestmark = pytest.mark.django_db

by_type = pytest.mark.parametrize("kind", RECORD_TYPES, ids=str)


@by_type
def test_an_investigator_is_forbidden_to_list_records(kind, site_a, investigator):
    kind.make(site_a)
    response = client_for(investigator).get(kind.list_url())
    assert response.status_code == 403
    assert response.json() == {"detail": "Your role does not give access to record-level data."}


@by_type
def test_an_investigator_is_forbidden_to_create_records(kind, site_a, investigator):
    payload = kind.payload(site_a)
    before = kind.model.objects.count()
    response = client_for(investigator).post(kind.list_url(), payload, format="json")
    assert response.status_code == 403
    assert kind.model.objects.count() == before


@by_type
def test_an_investigator_finds_no_single_record(kind, site_a, investigator):
    record = kind.make(site_a)
    client = client_for(investigator)
    assert client.get(kind.url(record)).status_code == 404
    assert client.patch(kind.url(record), kind.change, format="json", **if_match(record)).status_code == 404
    assert client.delete(kind.url(record), **if_match(record)).status_code == 404


@by_type
def test_an_anonymous_caller_is_asked_to_authenticate_for_a_list(kind):
    response = client_for(None).get(kind.list_url())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


@by_type
def test_an_anonymous_caller_is_asked_to_authenticate_for_a_record(kind, site_a):
    record = kind.make(site_a)
    assert client_for(None).get(kind.url(record)).status_code == 401


def test_an_anonymous_caller_cannot_create_a_patient(site_a):
    response = client_for(None).post(PATIENTS.list_url(), PATIENTS.payload(site_a), format="json")
    assert response.status_code == 401
    assert not PATIENTS.model.objects.exists()


def test_a_token_authenticates_a_caller(site_a, data_entry_a):
    patient = PATIENTS.make(site_a)
    response = token_client_for(data_entry_a).get(PATIENTS.url(patient))
    assert response.status_code == 200
    assert response.json()["registry_id"] == patient.registry_id


def test_a_wrong_token_is_refused(site_a):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get(PATIENTS.list_url()).status_code == 401


def test_a_session_authenticates_a_caller(client, site_a, data_entry_a):
    client.force_login(data_entry_a)
    assert client.get(PATIENTS.list_url()).status_code == 200


def test_an_inactive_user_is_refused_even_with_a_valid_token(site_a, data_entry_a):
    client = token_client_for(data_entry_a)
    data_entry_a.is_active = False
    data_entry_a.save()
    assert client.get(PATIENTS.list_url()).status_code == 401
