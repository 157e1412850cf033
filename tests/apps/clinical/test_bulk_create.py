"""``records_create_bulk``: new patients with their records, validated set-wise and inserted a table at a time."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.clinical import hooks
from apps.clinical.models import FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from apps.clinical.services import BulkRefused, records_create_bulk
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

D = dt.date


JUNE = D(2023, 6, 1)


def a_case(site, identifier: str, *, died: bool = False, assessed: D = JUNE) -> list:
    """A new patient with ICI-1, a rechallenge, a follow-up and then a response, in the order they are written."""
    patient = Patient(
        site=site,
        local_identifier=identifier,
        sex="female",
        year_of_birth=1958,
        tumour_type="LUAD",
        consent_status="consented",
        consent_date=D(2024, 1, 10),
    )
    course = InitialCourse(
        patient=patient,
        primary_agent="pembrolizumab",
        regimen_type="monotherapy",
        line_of_therapy=1,
        start_date=D(2022, 3, 1),
        start_date_precision="month",
        stop_date=D(2022, 11, 1),
        stop_date_precision="month",
        ecog_at_start=1,
        stop_reason="toxicity",
    )
    episode = RechallengeEpisode(
        patient=patient,
        start_date=D(2023, 4, 2),
        rechallenge_type="after_toxicity",
        agent_relation="same_agent",
        primary_agent="pembrolizumab",
        regimen_type="monotherapy",
        ecog_at_rechallenge=1,
    )
    follow_up = FollowUp(
        episode=episode,
        follow_up_date=D(2023, 5, 1),
        vital_status="dead" if died else "alive",
        death_date=D(2023, 5, 1) if died else None,
    )
    response = ResponseAssessment(episode=episode, assessment_date=assessed, criteria="recist_1_1", category="PR")
    return [patient, course, episode, follow_up, response]


def create(site, user, records) -> list:
    return records_create_bulk(site=site, user=user, channel="import", reason="Bulk import #1", records=records)


def test_new_patients_are_written_with_their_records_and_one_audit_entry_each(site_a, data_entry_a):
    records = [*a_case(site_a, "mrn 1"), *a_case(site_a, "MRN-2")]

    create(site_a, data_entry_a, records)

    first, second = Patient.objects.order_by("pk")
    assert (first.local_identifier, second.local_identifier) == ("MRN1", "MRN-2")  # stored in the normal form
    assert first.registry_id.startswith("AAA-") and first.registry_id != second.registry_id
    assert first.initial_course.start_date == D(2022, 3, 15)  # a month-only date is stored on the 15th
    assert first.episodes.get().follow_ups.get().vital_status == "alive"
    assert AuditEntry.objects.filter(channel="import", reason="Bulk import #1", action="create").count() == 10
    entry = AuditEntry.objects.get(model_label="clinical.responseassessment", object_id=str(records[4].pk))
    assert entry.changes["category"] == [None, "PR"] and entry.user == data_entry_a


def test_the_write_costs_the_same_few_queries_for_any_number_of_patients(site_a, data_entry_a, monkeypatch):
    monkeypatch.setattr(hooks, "_written_reactions", [])  # the receivers pin their own queries
    create(site_a, data_entry_a, a_case(site_a, "MRN-0"))  # the site's audit chain has begun
    costs = []
    for count in (1, 4):
        records = [record for n in range(count) for record in a_case(site_a, f"MRN-{count}-{n}")]
        with CaptureQueriesContext(connection) as queries:
            create(site_a, data_entry_a, records)
        costs.append(len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]))

    # The site read afresh; the new registry IDs checked unused and the local identifiers unregistered (one
    # query each per 1,000 patients); one INSERT per table (5); the audit chain's head read, the entries
    # inserted, the head moved. On PostgreSQL the ids are reserved from each table's sequence (one query a
    # table) and the rows copied with COPY, which Django's query log does not list: one fewer.
    assert costs == ([11, 11] if connection.vendor == "sqlite" else [10, 10])


def test_every_written_record_is_told_to_the_receivers_once(site_a, data_entry_a, monkeypatch):
    calls = []
    monkeypatch.setattr(hooks, "_written_reactions", [lambda **kwargs: calls.append(kwargs["writes"])])

    records = create(site_a, data_entry_a, a_case(site_a, "MRN-1"))

    [writes] = calls
    assert [(write.record_type, write.record_id) for write in writes] == [
        ("patient", records[0].pk),
        ("initial-course", records[1].pk),
        ("episode", records[2].pk),
        ("follow-up", records[3].pk),
        ("response", records[4].pk),
    ]
    assert {write.patient_id for write in writes} == {records[0].pk}


def test_a_response_after_a_death_recorded_before_it_is_refused_as_record_create_refuses_it(site_a, data_entry_a):
    records = [*a_case(site_a, "MRN-1"), *a_case(site_a, "MRN-2", died=True, assessed=D(2023, 6, 1))]

    with pytest.raises(BulkRefused) as refused:
        create(site_a, data_entry_a, records)

    assert refused.value.errors == {
        9: {"assessment_date": ["Assessment date (2023-06-01) is after the recorded date of death (2023-05-01)."]}
    }
    assert not Patient.objects.exists() and not AuditEntry.objects.exists()


def test_a_local_identifier_registered_at_the_site_or_twice_in_the_batch_is_refused(site_a, data_entry_a):
    PatientFactory(site=site_a, local_identifier="MRN-1")
    records = [*a_case(site_a, "mrn-1"), *a_case(site_a, "MRN-2"), *a_case(site_a, "MRN-2")]

    with pytest.raises(BulkRefused) as refused:
        create(site_a, data_entry_a, records)

    message = ["Patient with this Site and Local identifier already exists."]
    assert refused.value.errors == {0: {NON_FIELD_ERRORS: message}, 10: {NON_FIELD_ERRORS: message}}
    assert Patient.objects.count() == 1


def test_records_of_a_patient_registered_before_take_the_one_by_one_path(site_a, data_entry_a):
    registered = PatientFactory(site=site_a)
    follow_up = FollowUp(episode=RechallengeEpisode(patient=registered), follow_up_date=D(2024, 1, 1))

    with pytest.raises(ApplicationError) as refused:
        create(site_a, data_entry_a, [follow_up])

    assert refused.value.status == 403
    assert not FollowUp.objects.exists()


def test_a_closed_site_takes_no_bulk_write(site_a, data_entry_a):
    site_a.active = False
    site_a.save()

    with pytest.raises(ApplicationError) as refused:
        create(site_a, data_entry_a, a_case(site_a, "MRN-1"))

    assert refused.value.status == 409
    assert not Patient.objects.exists()
