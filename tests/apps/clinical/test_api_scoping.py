"""Center staff reach only their own sites' records; coordinators reach all, without identifiers."""

from __future__ import annotations

import pytest

from apps.accounts.models import Membership, Role
from registry.crf import HIDDEN_FROM_COORDINATORS
from tests.apps.clinical.api_support import (
    ADVERSE_EVENTS,
    EPISODES,
    FOLLOW_UPS,
    INITIAL_COURSES,
    PATIENTS,
    RECORD_TYPES,
    RESPONSES,
    client_for,
    episode_at,
    if_match,
)
from tests.factories import AdverseEventFactory, PatientFactory

pytestmark = pytest.mark.django_db

by_type = pytest.mark.parametrize("kind", RECORD_TYPES, ids=str)
IDENTIFIERS = HIDDEN_FROM_COORDINATORS["patient"]


@by_type
def test_a_record_of_another_site_is_not_found_when_read(kind, site_b, data_entry_a):
    record = kind.make(site_b)
    response = client_for(data_entry_a).get(kind.url(record))
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


@by_type
def test_a_record_of_another_site_is_not_found_when_changed_and_stays_unchanged(kind, site_b, data_entry_a):
    record = kind.make(site_b)
    response = client_for(data_entry_a).patch(kind.url(record), kind.change, format="json", **if_match(record))
    assert response.status_code == 404
    record.refresh_from_db()
    assert record.version == 1


@by_type
def test_a_record_of_another_site_is_not_found_when_replaced(kind, site_a, site_b, data_entry_a):
    record = kind.make(site_b)
    response = client_for(data_entry_a).put(kind.url(record), kind.payload(site_a), format="json", **if_match(record))
    assert response.status_code == 404


@by_type
def test_a_record_of_another_site_is_not_found_when_deleted_and_survives(kind, site_b, data_entry_a):
    record = kind.make(site_b)
    response = client_for(data_entry_a).delete(kind.url(record), **if_match(record))
    assert response.status_code == 404
    assert type(record).objects.filter(pk=record.pk).exists()


@by_type
def test_records_of_other_sites_never_appear_in_a_list(kind, site_a, site_b, data_entry_a):
    own = kind.make(site_a)
    kind.make(site_b)
    results = client_for(data_entry_a).get(kind.list_url()).json()["results"]
    assert [row[kind.lookup] for row in results] == [getattr(own, kind.lookup)]


@by_type
def test_a_coordinator_lists_records_of_every_site(kind, site_a, site_b, coordinator):
    kind.make(site_a)
    kind.make(site_b)
    results = client_for(coordinator).get(kind.list_url()).json()["results"]
    assert sorted(row["site"] for row in results) == ["AAA", "BBB"]


def test_a_coordinator_never_sees_local_identifiers_in_a_list(site_a, site_b, coordinator):
    PatientFactory(site=site_a, local_identifier="MRN-A")
    PatientFactory(site=site_b, local_identifier="MRN-B")
    response = client_for(coordinator).get(PATIENTS.list_url())
    assert all(IDENTIFIERS.isdisjoint(row) for row in response.json()["results"])
    assert "MRN-" not in response.content.decode()


def test_a_coordinator_never_sees_local_identifiers_of_one_patient(site_a, coordinator):
    patient = PatientFactory(site=site_a)
    body = client_for(coordinator).get(PATIENTS.url(patient)).json()
    assert IDENTIFIERS.isdisjoint(body)
    assert body["registry_id"] == patient.registry_id


def test_a_coordinator_cannot_register_a_patient_through_the_api(site_a, coordinator):
    response = client_for(coordinator).post(PATIENTS.list_url(), PATIENTS.payload(site_a), format="json")
    assert response.status_code == 403
    assert IDENTIFIERS.isdisjoint(response.json())
    assert not PATIENTS.model.objects.exists()


def test_a_coordinator_replaces_a_patient_without_sending_or_overwriting_its_identifiers(site_a, coordinator):
    patient = PatientFactory(site=site_a, local_identifier="MRN-KEEP")
    payload = {name: value for name, value in PATIENTS.payload(site_a).items() if name not in IDENTIFIERS}
    payload["year_of_birth"] = patient.year_of_birth  # tied to the hidden date of birth: the site changes it
    response = client_for(coordinator).put(PATIENTS.url(patient), payload, format="json", **if_match(patient))
    assert response.status_code == 200, response.json()
    patient.refresh_from_db()
    assert (patient.local_identifier, patient.tumour_type) == ("MRN-KEEP", "MEL")


def test_a_coordinator_cannot_overwrite_a_local_identifier_they_cannot_see(site_a, coordinator):
    patient = PatientFactory(site=site_a, local_identifier="MRN-KEEP")
    client_for(coordinator).patch(
        PATIENTS.url(patient), {"local_identifier": "GUESS"}, format="json", **if_match(patient)
    )
    patient.refresh_from_db()
    assert patient.local_identifier == "MRN-KEEP"


def test_center_staff_see_the_identifiers_of_their_own_patients(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, local_identifier="MRN-OWN")
    body = client_for(data_entry_a).get(PATIENTS.url(patient)).json()
    assert set(body) >= IDENTIFIERS
    assert body["local_identifier"] == "MRN-OWN"


def test_a_coordinator_who_is_also_center_staff_sees_identifiers_of_that_site_only(site_a, site_b, coordinator):
    Membership.objects.create(user=coordinator, site=site_a, role=Role.DATA_ENTRY)
    own = PatientFactory(site=site_a)
    other = PatientFactory(site=site_b)
    rows = {row["registry_id"]: row for row in client_for(coordinator).get(PATIENTS.list_url()).json()["results"]}
    assert "local_identifier" in rows[own.registry_id]
    assert "local_identifier" not in rows[other.registry_id]


# --- References to records out of reach ---------------------------------------------------------


@pytest.mark.parametrize("kind", [INITIAL_COURSES, EPISODES, ADVERSE_EVENTS], ids=str)
def test_referencing_a_patient_of_another_site_answers_as_if_it_did_not_exist(kind, site_a, site_b, data_entry_a):
    foreign = PatientFactory(site=site_b)
    client = client_for(data_entry_a)
    foreign_answer = client.post(
        kind.list_url(), {**kind.payload(site_a), "patient": foreign.registry_id}, format="json"
    )
    missing_answer = client.post(kind.list_url(), {**kind.payload(site_a), "patient": "ZZZ-000000-0"}, format="json")
    assert foreign_answer.status_code == missing_answer.status_code == 400
    assert foreign_answer.json()["patient"] == [
        missing_answer.json()["patient"][0].replace("ZZZ-000000-0", foreign.registry_id)
    ]
    assert "does not exist" in foreign_answer.json()["patient"][0]


@pytest.mark.parametrize("kind", [RESPONSES, FOLLOW_UPS, ADVERSE_EVENTS], ids=str)
def test_referencing_an_episode_of_another_site_answers_as_if_it_did_not_exist(kind, site_a, site_b, data_entry_a):
    foreign = episode_at(site_b)
    response = client_for(data_entry_a).post(
        kind.list_url(), {**kind.payload(site_a), "episode": foreign.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["episode"] == [f'Invalid pk "{foreign.pk}" - object does not exist.']


def test_creating_a_patient_in_a_site_one_does_not_belong_to_is_refused(site_a, site_b, data_entry_a):
    response = client_for(data_entry_a).post(PATIENTS.list_url(), PATIENTS.payload(site_b), format="json")
    assert response.status_code == 400
    assert response.json()["site"] == ["Object with code=BBB does not exist."]
    assert not PATIENTS.model.objects.exists()


def test_moving_a_patient_into_a_site_one_does_not_belong_to_is_refused_and_changes_nothing(
    site_a, site_b, data_entry_a
):
    patient = PatientFactory(site=site_a)
    response = client_for(data_entry_a).patch(
        PATIENTS.url(patient), {"site": "BBB"}, format="json", **if_match(patient)
    )
    assert response.status_code == 400
    assert "site" in response.json()
    patient.refresh_from_db()
    assert (patient.site_id, patient.version) == (site_a.pk, 1)


def test_moving_a_patient_between_two_own_sites_is_refused_a_coordinator_transfers_them(site_a, site_b, data_entry_a):
    Membership.objects.create(user=data_entry_a, site=site_b, role=Role.DATA_ENTRY)
    patient = PatientFactory(site=site_a)
    response = client_for(data_entry_a).patch(
        PATIENTS.url(patient), {"site": "BBB"}, format="json", **if_match(patient)
    )
    assert response.status_code == 400
    assert "only by a transfer" in response.json()["site"][0]
    patient.refresh_from_db()
    assert (patient.site_id, patient.version) == (site_a.pk, 1)


# --- Filters and search ---------------------------------------------------------------------------


def test_filtering_patients_by_another_sites_code_returns_nothing(site_a, site_b, data_entry_a):
    PatientFactory(site=site_b)
    response = client_for(data_entry_a).get(PATIENTS.list_url(), {"site": "BBB"})
    assert (response.status_code, response.json()["count"]) == (200, 0)


def test_filtering_patients_by_tumour_type_and_sex_narrows_the_list(site_a, data_entry_a):
    wanted = PatientFactory(site=site_a, tumour_type="MEL", sex="male")
    PatientFactory(site=site_a, tumour_type="MEL", sex="female")
    PatientFactory(site=site_a, tumour_type="LUAD", sex="male")
    results = client_for(data_entry_a).get(PATIENTS.list_url(), {"tumour_type": "MEL", "sex": "male"}).json()["results"]
    assert [row["registry_id"] for row in results] == [wanted.registry_id]


def test_an_unknown_filter_choice_answers_a_field_level_400(site_a, data_entry_a):
    response = client_for(data_entry_a).get(PATIENTS.list_url(), {"tumour_type": "NOPE"})
    assert response.status_code == 400
    assert list(response.json()) == ["tumour_type"]


def test_search_finds_a_patient_by_the_start_of_the_registry_id_in_any_case(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, registry_id="AAA-7KQ2XD-M")
    PatientFactory(site=site_a, registry_id="AAA-7KZZZZ-1")
    client = client_for(data_entry_a)
    results = client.get(PATIENTS.list_url(), {"search": "aaa-7kq"}).json()["results"]
    assert [row["registry_id"] for row in results] == [patient.registry_id]
    # the middle of a registry ID is not its start
    assert client.get(PATIENTS.list_url(), {"search": "7KQ2XD"}).json()["count"] == 0


def test_search_finds_an_own_patient_by_local_identifier(site_a, data_entry_a):
    patient = PatientFactory(site=site_a, local_identifier="H-12345")
    results = client_for(data_entry_a).get(PATIENTS.list_url(), {"search": "h-12345"}).json()["results"]
    assert [row["registry_id"] for row in results] == [patient.registry_id]


def test_a_coordinator_cannot_find_a_patient_by_local_identifier(site_a, coordinator):
    PatientFactory(site=site_a, local_identifier="H-12345")
    response = client_for(coordinator).get(PATIENTS.list_url(), {"search": "H-12345"})
    assert response.json()["count"] == 0


def test_filtering_episodes_by_patient_and_type_narrows_the_list(site_a, data_entry_a):
    episode = episode_at(site_a)
    episode_at(site_a)
    response = client_for(data_entry_a).get(
        EPISODES.list_url(), {"patient": episode.patient.registry_id, "rechallenge_type": "after_toxicity"}
    )
    assert [row["id"] for row in response.json()["results"]] == [episode.pk]


def test_filtering_adverse_events_by_course_separates_initial_from_rechallenge(site_a, data_entry_a):
    episode = episode_at(site_a)
    initial = AdverseEventFactory(patient=episode.patient)
    during = AdverseEventFactory(
        patient=episode.patient,
        episode=episode,
        onset_date=episode.start_date,
        resolution_date=None,
        resolved_to_grade=None,
        recurrence_status="recurrence",
    )
    client = client_for(data_entry_a)
    initial_ids = [row["id"] for row in client.get(ADVERSE_EVENTS.list_url(), {"course": "initial"}).json()["results"]]
    during_ids = [
        row["id"] for row in client.get(ADVERSE_EVENTS.list_url(), {"course": "rechallenge"}).json()["results"]
    ]
    assert (initial_ids, during_ids) == ([initial.pk], [during.pk])


@pytest.mark.parametrize("kind", [RESPONSES, FOLLOW_UPS], ids=str)
def test_filtering_by_episode_narrows_the_list(kind, site_a, data_entry_a):
    wanted = kind.make(site_a)
    kind.make(site_a)
    results = client_for(data_entry_a).get(kind.list_url(), {"episode": wanted.episode_id}).json()["results"]
    assert [row["id"] for row in results] == [wanted.pk]


def test_a_choice_filter_sent_empty_is_refused_rather_than_ignored(site_a, data_entry_a):
    response = client_for(data_entry_a).get(PATIENTS.list_url(), {"sex": ""})
    assert response.status_code == 400
    assert list(response.json()) == ["sex"]


def test_an_episode_filter_beyond_the_id_range_is_refused(site_a, data_entry_a):
    response = client_for(data_entry_a).get(RESPONSES.list_url(), {"episode": str(2**70)})
    assert response.status_code == 400
    assert list(response.json()) == ["episode"]


@by_type
def test_a_malformed_id_in_the_url_answers_a_json_404(kind, data_entry_a):
    response = client_for(data_entry_a).get(f"{kind.list_url()}0.5/")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
