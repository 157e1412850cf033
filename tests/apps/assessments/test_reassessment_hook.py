"""Re-assessment after a clinical change runs through the hook assessments registers with clinical.

Clinical does not import assessments; assessments registers ``episodes_reassess_for_patient`` with
``apps.clinical.hooks`` when it is ready, and the clinical services run it in the transaction of the
write, for patients with an enrolled episode.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from apps.assessments import services
from apps.assessments.models import Assessment
from apps.clinical import hooks
from apps.clinical.models import AdverseEvent
from apps.clinical.services import record_create, record_lock, record_update
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from tests.apps.clinical.api_support import fresh_client_for, if_match
from tests.factories import AdverseEventFactory, InitialCourseFactory, PatientFactory, RechallengeEpisodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def enrolled(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(patient=patient, stop_date=dt.date(2023, 10, 15), stop_reason="toxicity")
    AdverseEventFactory(patient=patient, grade=2, resolved_to_grade=0, steroid_refractory=False)
    episode = RechallengeEpisodeFactory(patient=patient, start_date=dt.date(2024, 5, 2))
    services.episode_enroll(episode=episode, user=data_entry_a)
    episode.refresh_from_db()
    return episode


def test_assessments_registers_its_reaction_with_clinical():
    assert services.episodes_reassess_for_patient in hooks.registered_reactions()


def test_an_api_correction_of_an_enrolled_patients_irae_is_reassessed(enrolled, data_entry_a):
    irae = enrolled.patient.adverse_events.get()
    client = fresh_client_for(data_entry_a)

    response = client.patch(
        f"/api/v1/adverse-events/{irae.pk}/", {"grade": 3, "resolved_to_grade": 1}, format="json", **if_match(irae)
    )

    assert response.status_code == 200, response.content
    latest = Assessment.objects.filter(episode=enrolled).latest("id")
    assert latest.is_reassessment
    assert latest.inputs["prior_iraes"][0]["grade"] == 3


def test_a_new_irae_of_an_enrolled_patient_is_reassessed(enrolled, data_entry_a):
    record_create(
        model=AdverseEvent,
        data={
            "patient": enrolled.patient,
            "ctcae_term": "hepatitis",
            "grade": 3,
            "onset_date": dt.date(2023, 9, 1),
            "resolution_date": dt.date(2023, 9, 20),
            "resolved_to_grade": 1,
            "management": "corticosteroids",
        },
        user=data_entry_a,
        channel="web",
    )

    assert Assessment.objects.filter(episode=enrolled, is_reassessment=True).count() == 1


def test_a_refused_reaction_takes_the_change_and_its_audit_entry_back_with_it(enrolled, data_entry_a, monkeypatch):
    def refuse(**kwargs):
        raise ApplicationError("The recorded data cannot be assessed.")

    monkeypatch.setattr(hooks, "_reactions", [refuse])
    irae = enrolled.patient.adverse_events.get()
    entries = AuditEntry.objects.count()

    with pytest.raises(ApplicationError):
        record_update(instance=irae, data={"grade": 3, "resolved_to_grade": 1}, user=data_entry_a, channel="web")

    irae.refresh_from_db()
    assert (irae.grade, irae.version) == (2, 1)
    assert AuditEntry.objects.count() == entries


def test_a_patient_without_an_enrolled_episode_is_not_handed_to_the_reaction(site_a, data_entry_a, monkeypatch):
    called = []
    monkeypatch.setattr(hooks, "_reactions", [lambda **kwargs: called.append(kwargs)])
    irae = AdverseEventFactory(patient=PatientFactory(site=site_a))

    record_update(instance=irae, data={"grade": 3}, user=data_entry_a, channel="web")

    assert called == []


@pytest.mark.django_db(transaction=True)  # real transactions: the lock of the first ends with it
def test_a_record_locked_in_an_earlier_transaction_is_read_and_locked_again(enrolled, data_entry_a):
    irae = enrolled.patient.adverse_events.get()
    with transaction.atomic():
        locked = record_lock(AdverseEvent.objects.all(), pk=irae.pk)
    AdverseEvent.objects.filter(pk=irae.pk).update(version=2)  # changed by someone else meanwhile

    updated = record_update(instance=locked, data={"grade": 3}, user=data_entry_a, channel="web", expected_version=2)

    assert updated.version == 3
