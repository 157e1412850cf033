"""Deleting a record: every record removed by cascade is audited, a reason is asked when any of them is
complete, an enrolled episode (and a patient with one) is kept, and a stale or missing version deletes
nothing — from the page and from the API."""

from __future__ import annotations

import itertools
from unittest import mock

import pytest
from django.db.models import QuerySet
from django.urls import reverse

from apps.assessments import services as assessment_services
from apps.clinical.models import AdverseEvent, FollowUp, InitialCourse, Patient, RechallengeEpisode, ResponseAssessment
from apps.clinical.services import record_delete
from apps.core.audit import snapshot
from apps.core.errors import ApplicationError, ConflictError
from apps.core.models import AuditChannel, AuditEntry
from tests.apps.clinical.api_support import client_for, if_match
from tests.apps.clinical.test_views_pages import full_case, page, patient_url, sign_in

pytestmark = pytest.mark.django_db


def _delete_url(slug: str, pk: int) -> str:
    return reverse("clinical:record-delete", kwargs={"model": slug, "pk": pk})


def _label(record) -> str:
    return record._meta.label_lower


def _everything_of(patient: Patient) -> dict[tuple[str, str], dict]:
    """(model label, id) → stored values of the patient and of every record under it."""
    records = [
        patient,
        *InitialCourse.objects.filter(patient=patient),
        *AdverseEvent.objects.filter(patient=patient),
        *RechallengeEpisode.objects.filter(patient=patient),
        *ResponseAssessment.objects.filter(episode__patient=patient),
        *FollowUp.objects.filter(episode__patient=patient),
    ]
    return {(_label(record), str(record.pk)): snapshot(record) for record in records}


def _delete_entries() -> dict[tuple[str, str], AuditEntry]:
    entries = AuditEntry.objects.filter(action="delete")
    keyed = {(entry.model_label, entry.object_id): entry for entry in entries}
    assert len(keyed) == entries.count(), "one entry per removed record, not more"
    return keyed


# --- one audit entry per removed record -----------------------------------------------------------------


def test_deleting_a_patient_audits_every_record_removed_with_its_old_values(site_a, data_entry_a):
    patient = full_case(site_a, episodes=2, per_episode=2)
    before, patient_id = _everything_of(patient), patient.pk
    assert len(before) == 1 + 1 + 2 + 2 + 4 + 4 + 4  # patient, ICI-1, irAEs of ICI-1, episodes, their children
    record_delete(instance=patient, user=data_entry_a, channel=AuditChannel.WEB, reason="registered twice")
    entries = _delete_entries()
    assert set(entries) == set(before)
    for key, values in before.items():
        stored = {name: value for name, value in values.items() if value not in (None, "")}
        assert {name: old for name, (old, new) in entries[key].changes.items()} == stored
        assert all(new is None for old, new in entries[key].changes.values())
        assert entries[key].site_id == site_a.pk and entries[key].user == data_entry_a
    assert entries[("clinical.patient", str(patient_id))].reason == "registered twice"
    for key, entry in entries.items():
        if key[0] != "clinical.patient":
            assert entry.reason == f"Deleted with patient {patient.registry_id}: registered twice"
    assert not Patient.objects.exists() and not AdverseEvent.objects.exists() and not FollowUp.objects.exists()


def test_deleting_an_episode_audits_its_irAEs_responses_and_follow_ups_and_nothing_else(site_a, data_entry_a):
    patient = full_case(site_a, episodes=2, per_episode=1)
    episode = patient.episodes.get(sequence_number=2)
    removed = {
        ("clinical.rechallengeepisode", str(episode.pk)),
        *((_label(ae), str(ae.pk)) for ae in episode.adverse_events.all()),
        *((_label(r), str(r.pk)) for r in episode.responses.all()),
        *((_label(f), str(f.pk)) for f in episode.follow_ups.all()),
    }
    assert len(removed) == 4
    record_delete(instance=episode, user=data_entry_a, channel=AuditChannel.API)
    assert set(_delete_entries()) == removed
    assert patient.episodes.count() == 1 and AdverseEvent.objects.filter(patient=patient).count() == 3


def test_the_audit_entries_and_the_deletion_are_one_transaction(site_a, data_entry_a):
    patient = full_case(site_a)
    with mock.patch.object(Patient, "delete", side_effect=RuntimeError("disk full")), pytest.raises(RuntimeError):
        record_delete(instance=patient, user=data_entry_a, channel=AuditChannel.WEB, reason="x")
    assert not AuditEntry.objects.filter(action="delete").exists()
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_the_audit_chain_holds_after_a_cascade(site_a, data_entry_a):
    from apps.core.models import AuditChainHead

    patient = full_case(site_a, episodes=2)
    record_delete(instance=patient, user=data_entry_a, channel=AuditChannel.WEB, reason="x")
    entries = list(AuditEntry.objects.filter(chain=AuditEntry.objects.latest("id").chain).order_by("sequence"))
    for previous, entry in itertools.pairwise(entries):
        assert entry.previous_hash == previous.entry_hash and entry.sequence == previous.sequence + 1
    assert AuditChainHead.objects.get(chain=entries[-1].chain).last_hash == entries[-1].entry_hash


# --- a reason when any removed record is complete --------------------------------------------------------


def test_a_complete_child_requires_a_reason_naming_how_many_complete_records_would_go(site_a, data_entry_a):
    patient = full_case(site_a)
    ResponseAssessment.objects.filter(episode__patient=patient).update(is_complete=True)
    FollowUp.objects.filter(episode__patient=patient).update(is_complete=True)
    with pytest.raises(ApplicationError) as refused:
        record_delete(instance=patient, user=data_entry_a, channel=AuditChannel.WEB)
    assert refused.value.field_errors["reason"] == [
        "A reason is required: this deletion removes 11 records, and 4 of them are marked complete."
    ]
    assert Patient.objects.filter(pk=patient.pk).exists() and not AuditEntry.objects.filter(action="delete").exists()


def test_the_api_answers_400_on_the_reason_when_a_child_is_complete(site_a, data_entry_a):
    patient = full_case(site_a)
    episode = patient.episodes.get()
    FollowUp.objects.filter(episode=episode).update(is_complete=True)
    response = client_for(data_entry_a).delete(f"/api/v1/episodes/{episode.pk}/", **if_match(episode))
    assert response.status_code == 400
    assert response.json()["reason"] == [
        "A reason is required: this deletion removes 7 records, and 2 of them are marked complete."
    ]
    assert RechallengeEpisode.objects.filter(pk=episode.pk).exists()
    url = f"/api/v1/episodes/{episode.pk}/?reason=wrong+patient"
    response = client_for(data_entry_a).delete(url, **if_match(episode))
    assert response.status_code == 204
    assert AuditEntry.objects.filter(action="delete").count() == 7


def test_the_delete_form_shows_the_reason_error_on_its_field_and_what_would_go(client, site_a, data_entry_a):
    patient = full_case(site_a)
    ResponseAssessment.objects.filter(episode__patient=patient).update(is_complete=True)
    sign_in(client, data_entry_a)
    url = _delete_url("patient", patient.pk)
    html = page(client, url)
    assert "2 response assessments" in html and "2 of the 11 records are marked complete" in html
    response = client.post(url, {"reason": "", "version": str(patient.version)})
    assert response.status_code == 200
    assert "2 of them are marked complete" in response.context["form"].errors["reason"][0]
    assert Patient.objects.filter(pk=patient.pk).exists()


# --- enrolled episodes are kept --------------------------------------------------------------------------


@pytest.fixture
def enrolled(site_a):
    patient = full_case(site_a, episodes=2)
    episode = patient.episodes.get(sequence_number=2)
    assessment_services.episode_enroll(episode=episode, user=None, channel=AuditChannel.SEED)
    episode.refresh_from_db()
    return episode


def test_the_patient_page_offers_no_delete_for_an_enrolled_episode_or_its_patient_and_says_why(
    client, data_entry_a, enrolled
):
    html = page(sign_in(client, data_entry_a), patient_url(enrolled.patient))
    assert _delete_url("episode", enrolled.pk) not in html
    assert _delete_url("patient", enrolled.patient.pk) not in html
    assert "Enrolled: cannot be deleted, its locked decision-model assessment is kept" in html
    assert "Cannot be deleted: an enrolled rechallenge" in html
    other = enrolled.patient.episodes.get(sequence_number=1)
    assert _delete_url("episode", other.pk) in html  # a rechallenge not enrolled can still go


def test_the_delete_page_of_an_enrolled_episode_explains_and_has_no_button(client, data_entry_a, enrolled):
    html = page(sign_in(client, data_entry_a), _delete_url("episode", enrolled.pk))
    assert "Rechallenge 2 is enrolled" in html
    assert 'type="submit"' not in html.split("<main>")[1]
    response = client.post(_delete_url("episode", enrolled.pk), {"reason": "x", "version": str(enrolled.version)})
    assert response.status_code == 200
    assert RechallengeEpisode.objects.filter(pk=enrolled.pk).exists()


@pytest.mark.parametrize("target", ["episode", "patient"])
def test_the_api_refuses_an_enrolled_episode_and_its_patient_with_409_and_a_clear_message(
    data_entry_a, enrolled, target
):
    record = enrolled if target == "episode" else enrolled.patient
    url = f"/api/v1/episodes/{record.pk}/" if target == "episode" else f"/api/v1/patients/{record.registry_id}/"
    response = client_for(data_entry_a).delete(f"{url}?reason=test", **if_match(record))
    assert response.status_code == 409
    assert "rechallenge 2 is enrolled" in response.json()["detail"].lower()
    assert RechallengeEpisode.objects.filter(pk=enrolled.pk).exists() and Patient.objects.exists()
    assert not AuditEntry.objects.filter(action="delete").exists()


def test_deleting_a_patient_with_an_enrolled_episode_from_the_page_is_a_message_not_a_500(
    client, data_entry_a, enrolled
):
    patient = enrolled.patient
    sign_in(client, data_entry_a)
    html = page(client, _delete_url("patient", patient.pk))
    assert "This patient cannot be deleted: rechallenge 2 is enrolled" in html
    response = client.post(_delete_url("patient", patient.pk), {"reason": "x", "version": str(patient.version)})
    assert response.status_code == 200
    assert Patient.objects.filter(pk=patient.pk).exists()


# --- the version, compared under a row lock --------------------------------------------------------------


def test_the_delete_form_without_a_version_deletes_nothing_and_shows_the_conflict(client, site_a, data_entry_a):
    patient = full_case(site_a)
    ae = AdverseEvent.objects.filter(patient=patient).first()
    response = sign_in(client, data_entry_a).post(_delete_url("adverse-event", ae.pk), {"reason": "dup"})
    assert response.status_code == 200
    assert "was changed by" in response.context["conflict"]
    assert AdverseEvent.objects.filter(pk=ae.pk).exists()


def test_the_delete_form_with_a_stale_version_deletes_nothing_and_shows_the_conflict(client, site_a, data_entry_a):
    patient = full_case(site_a)
    ae = AdverseEvent.objects.filter(patient=patient).first()
    AdverseEvent.objects.filter(pk=ae.pk).update(version=2)  # someone saved it after the page was loaded
    url = _delete_url("adverse-event", ae.pk)
    response = sign_in(client, data_entry_a).post(url, {"reason": "dup", "version": "1"})
    assert response.status_code == 200
    assert "your changes were not saved" in response.content.decode()
    assert AdverseEvent.objects.filter(pk=ae.pk).exists()


def test_the_service_compares_the_stored_version_not_the_callers_copy(site_a, data_entry_a):
    patient = full_case(site_a)
    loaded = Patient.objects.get(pk=patient.pk)  # version 1, in the caller's hands
    Patient.objects.filter(pk=patient.pk).update(version=2)  # changed meanwhile
    with pytest.raises(ConflictError):
        record_delete(instance=loaded, user=data_entry_a, channel=AuditChannel.API, reason="x", expected_version=1)
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_the_service_reads_the_version_under_a_row_lock(site_a, data_entry_a):
    patient = full_case(site_a)
    locked_models = []
    original = QuerySet.select_for_update

    def spy(queryset, *args, **kwargs):
        locked_models.append(queryset.model)
        return original(queryset, *args, **kwargs)

    with mock.patch.object(QuerySet, "select_for_update", spy):
        record_delete(instance=patient, user=data_entry_a, channel=AuditChannel.API, reason="x", expected_version=1)
    assert locked_models[0] is Patient
    assert {RechallengeEpisode, ResponseAssessment, FollowUp} <= set(locked_models)


def test_a_record_deleted_meanwhile_is_a_conflict(site_a, data_entry_a):
    patient = full_case(site_a)
    ae = AdverseEvent.objects.filter(patient=patient).first()
    AdverseEvent.objects.filter(pk=ae.pk).delete()
    with pytest.raises(ConflictError):
        record_delete(instance=ae, user=data_entry_a, channel=AuditChannel.API, expected_version=1)


def test_deleting_an_irae_of_the_preceding_course_reassesses_the_enrolled_episode(data_entry_a, enrolled):
    """The irAEs of rechallenge 1 are an input of rechallenge 2's lock: the lock stays, a re-assessment joins it."""
    ae = AdverseEvent.objects.filter(episode__sequence_number=1, episode__patient=enrolled.patient).first()
    record_delete(instance=ae, user=data_entry_a, channel=AuditChannel.WEB, reason="not an irAE")
    assert enrolled.assessments.filter(is_reassessment=True).exists()
    assert enrolled.assessments.filter(is_reassessment=False).count() == 1
