"""Records move between sites and patients only on purpose: a patient changes site only by an audited
transfer (coordinators, with a reason), an enrolled episode keeps its patient, and a record that changes
patient re-assesses the enrolled episodes of both the patient it leaves and the one it joins."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from apps.accounts.models import Membership, Role
from apps.assessments import services as assessment_services
from apps.assessments.models import Assessment
from apps.clinical.models import AdverseEvent, Patient, RechallengeEpisode
from apps.clinical.services import (
    SITE_CHANGE_REFUSED,
    TRANSFER_BY_COORDINATORS,
    patient_transfer,
    record_update,
)
from apps.core.errors import ApplicationError, ConflictError
from apps.core.models import AuditChannel, AuditEntry
from tests.apps.clinical.api_support import EPISODES, PATIENTS, client_for, episode_at, if_match
from tests.apps.clinical.test_views_pages import page, patient_url, sign_in
from tests.factories import (
    AdverseEventFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)


def _transfer_url(patient: Patient) -> str:
    return f"{PATIENTS.url(patient)}transfer/"


def _close(site) -> None:
    site.active = False
    site.save(update_fields=["active"])


# --- A patient's site changes only by a transfer ----------------------------------------------------------


def test_a_coordinator_cannot_patch_a_patients_site(site_a, site_b, coordinator):
    """Before: 200, and the patient's identifiers showed to site B's staff from then on."""
    patient = PatientFactory(site=site_a)
    response = client_for(coordinator).patch(PATIENTS.url(patient), {"site": "BBB"}, format="json", **if_match(patient))
    assert response.status_code == 400
    assert response.json()["site"] == [SITE_CHANGE_REFUSED]
    patient.refresh_from_db()
    assert (patient.site_id, patient.version) == (site_a.pk, 1)
    assert not AuditEntry.objects.exists()


def test_a_put_naming_the_patients_own_site_is_still_accepted(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    body = {**PATIENTS.payload(site_a), "local_identifier": patient.local_identifier}
    response = client_for(data_entry_a).put(PATIENTS.url(patient), body, format="json", **if_match(patient))
    assert response.status_code == 200, response.json()


def test_the_edit_form_has_no_site_and_a_posted_site_is_ignored(client, site_a, site_b, data_entry_a):
    Membership.objects.create(user=data_entry_a, site=site_b, role=Role.DATA_ENTRY)
    patient = PatientFactory(site=site_a)
    sign_in(client, data_entry_a)
    url = reverse("clinical:record-edit", kwargs={"model": "patient", "pk": patient.pk})
    form = client.get(url).context["form"]
    assert "site" not in form.fields
    values = {name: "" if value is None else str(value) for name, value in form.initial.items() if name in form.fields}
    client.post(url, {**values, "site": str(site_b.pk), "histology": "Acinar", "version": "1"})
    patient.refresh_from_db()
    assert (patient.site_id, patient.histology) == (site_a.pk, "Acinar")


# --- patient_transfer -----------------------------------------------------------------------------------


@pytest.fixture
def case_at_a(site_a):
    """A patient of site A with ICI-1, an irAE, an enrolled episode and a response."""
    patient = PatientFactory(site=site_a, local_identifier="MRN-MOVE")
    InitialCourseFactory(patient=patient)
    AdverseEventFactory(patient=patient)
    episode = RechallengeEpisodeFactory(patient=patient)
    ResponseAssessmentFactory(episode=episode)
    assessment_services.episode_enroll(episode=episode, user=None, channel=AuditChannel.SEED)
    return patient


def test_a_transfer_moves_the_patient_and_every_record_with_one_audit_entry(
    case_at_a, site_a, site_b, coordinator, data_entry_a, data_entry_b
):
    before = AuditEntry.objects.count()
    moved = patient_transfer(
        patient=case_at_a, to_site=site_b, user=coordinator, reason="Followed up at B", channel=AuditChannel.API
    )
    assert (moved.site_id, moved.version, moved.registry_id) == (site_b.pk, 2, case_at_a.registry_id)
    (entry,) = AuditEntry.objects.order_by("-id")[: AuditEntry.objects.count() - before]
    assert (entry.model_label, entry.object_id, entry.action, entry.user, entry.reason) == (
        "clinical.patient",
        str(case_at_a.pk),
        "update",
        coordinator,
        "Followed up at B",
    )
    assert entry.changes == {"site": [site_a.pk, site_b.pk], "version": [1, 2]}
    # The children follow: site B's staff reach them (with the identifier), site A's no longer.
    episode = RechallengeEpisode.objects.get(patient=case_at_a)
    assert client_for(data_entry_b).get(f"{EPISODES.list_url()}{episode.pk}/").json()["site"] == "BBB"
    assert client_for(data_entry_b).get(PATIENTS.url(moved)).json()["local_identifier"] == "MRN-MOVE"
    assert client_for(data_entry_a).get(f"{EPISODES.list_url()}{episode.pk}/").status_code == 404
    assert Assessment.objects.filter(episode=episode).count() == 1  # the lock travels, unchanged


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"reason": "  "}, 400, "reason"),
        ({"to_site": "same"}, 400, "site"),
    ],
)
def test_a_transfer_needs_a_reason_and_another_site(case_at_a, site_b, coordinator, change, status, field):
    to_site = case_at_a.site if change.get("to_site") == "same" else site_b
    with pytest.raises(ApplicationError) as refused:
        patient_transfer(patient=case_at_a, to_site=to_site, user=coordinator, reason=change.get("reason", "x"))
    assert refused.value.status == status and field in refused.value.field_errors
    case_at_a.refresh_from_db()
    assert case_at_a.version == 1


def test_center_staff_cannot_transfer_even_between_their_own_sites(case_at_a, site_b, data_entry_a):
    Membership.objects.create(user=data_entry_a, site=site_b, role=Role.DATA_ENTRY)
    with pytest.raises(ApplicationError) as refused:
        patient_transfer(patient=case_at_a, to_site=site_b, user=data_entry_a, reason="moved")
    assert (refused.value.status, refused.value.message) == (403, TRANSFER_BY_COORDINATORS)


def test_a_closed_site_receives_no_patient_but_a_closed_sites_patient_may_leave(case_at_a, site_a, site_b, coordinator):
    _close(site_b)
    with pytest.raises(ApplicationError) as refused:
        patient_transfer(patient=case_at_a, to_site=site_b, user=coordinator, reason="moved")
    assert (refused.value.status, refused.value.message) == (409, "Site BBB is closed to new data.")
    site_b.active = True
    site_b.save()
    _close(site_a)
    assert patient_transfer(patient=case_at_a, to_site=site_b, user=coordinator, reason="A closes").site == site_b


def test_an_identifier_already_used_at_the_new_site_refuses_the_transfer_without_naming_it(
    case_at_a, site_a, site_b, coordinator
):
    PatientFactory(site=site_b, local_identifier="MRN-MOVE")
    with pytest.raises(ApplicationError) as refused:
        patient_transfer(patient=case_at_a, to_site=site_b, user=coordinator, reason="moved")
    assert refused.value.status == 409
    assert "MRN-MOVE" not in refused.value.message and "identifier" not in refused.value.message
    case_at_a.refresh_from_db()
    assert (case_at_a.site_id, case_at_a.version) == (site_a.pk, 1)


def test_a_stale_transfer_is_a_conflict(case_at_a, site_b, coordinator):
    with pytest.raises(ConflictError):
        patient_transfer(patient=case_at_a, to_site=site_b, user=coordinator, reason="moved", expected_version=7)


# --- The API action and the page -----------------------------------------------------------------------------


def test_the_api_transfers_with_if_match_and_answers_the_patient_and_its_etag(case_at_a, site_b, coordinator):
    client = client_for(coordinator)
    body = {"site": "BBB", "reason": "Followed up at B"}
    assert client.post(_transfer_url(case_at_a), body, format="json").status_code == 428
    response = client.post(_transfer_url(case_at_a), body, format="json", **if_match(case_at_a))
    assert response.status_code == 200, response.json()
    assert (response.json()["site"], response["ETag"]) == ("BBB", '"2"')
    assert "local_identifier" not in response.json()
    assert client.post(_transfer_url(case_at_a), body, format="json", HTTP_IF_MATCH='"1"').status_code == 412


def test_the_api_refuses_a_transfer_by_center_staff_and_hides_other_sites_patients(
    case_at_a, site_b, data_entry_a, data_entry_b
):
    body = {"site": "BBB", "reason": "moved"}
    own = client_for(data_entry_a).post(_transfer_url(case_at_a), body, format="json", **if_match(case_at_a))
    foreign = client_for(data_entry_b).post(_transfer_url(case_at_a), body, format="json", **if_match(case_at_a))
    assert (own.status_code, own.json()) == (403, {"detail": TRANSFER_BY_COORDINATORS})
    assert foreign.status_code == 404


def test_the_api_answers_a_missing_reason_and_an_unknown_site_field_by_field(case_at_a, coordinator):
    response = client_for(coordinator).post(
        _transfer_url(case_at_a), {"site": "NOPE"}, format="json", **if_match(case_at_a)
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"site", "reason"}


def test_the_patient_page_offers_the_transfer_to_coordinators_only(client, case_at_a, coordinator, data_entry_a):
    url = reverse("clinical:patient-transfer", kwargs={"registry_id": case_at_a.registry_id})
    assert url in page(sign_in(client, coordinator), patient_url(case_at_a))
    client.logout()
    html = page(sign_in(client, data_entry_a), patient_url(case_at_a))
    assert url not in html
    assert client.get(url).status_code == 403


def test_the_transfer_page_moves_the_patient_and_returns_to_its_page(client, case_at_a, site_a, site_b, coordinator):
    url = reverse("clinical:patient-transfer", kwargs={"registry_id": case_at_a.registry_id})
    sign_in(client, coordinator)
    form = client.get(url).context["form"]
    assert list(form.fields["site"].queryset) == [site_b]  # active sites other than the patient's
    missing = client.post(url, {"site": site_b.pk, "reason": "", "version": 1})
    assert "Give the reason for the transfer" in missing.content.decode()
    response = client.post(url, {"site": site_b.pk, "reason": "Followed up at B", "version": 1})
    assert response.status_code == 302 and response["Location"] == patient_url(case_at_a)
    case_at_a.refresh_from_db()
    assert case_at_a.site == site_b
    assert AuditEntry.objects.filter(object_id=str(case_at_a.pk), channel="web").get().changes["site"] == [
        site_a.pk,
        site_b.pk,
    ]


# --- Parents of enrolled episodes and of child records ------------------------------------------------------------


def test_an_enrolled_episode_cannot_move_to_another_patient(case_at_a, site_a, coordinator):
    """Before: 200, and the locked assessment moved along with the episode to a patient it was not made for."""
    episode = RechallengeEpisode.objects.get(patient=case_at_a)
    other = InitialCourseFactory(patient__site=site_a).patient
    response = client_for(coordinator).patch(
        f"{EPISODES.list_url()}{episode.pk}/", {"patient": other.registry_id}, format="json", **if_match(episode)
    )
    assert response.status_code == 400
    assert "enrolled" in response.json()["patient"][0]
    episode.refresh_from_db()
    assert episode.patient_id == case_at_a.pk


def test_an_episode_not_enrolled_may_still_be_attached_to_the_right_patient(site_a, data_entry_a):
    episode = episode_at(site_a)
    other = InitialCourseFactory(patient__site=site_a).patient
    moved = record_update(instance=episode, data={"patient": other}, user=data_entry_a, channel="api")
    assert moved.patient_id == other.pk


def _enrolled_patient(site, start: dt.date):
    patient = PatientFactory(site=site)
    InitialCourseFactory(patient=patient)
    episode = RechallengeEpisodeFactory(patient=patient, start_date=start)
    assessment_services.episode_enroll(episode=episode, user=None, channel=AuditChannel.SEED)
    return patient, episode


def test_an_irae_moved_to_another_patient_reassesses_both_patients_enrolled_episodes(site_a, data_entry_a):
    """Before: only the patient it joined was re-assessed; the one it left kept a lock counting an irAE it no
    longer has, and no re-assessment said so."""
    left, left_episode = _enrolled_patient(site_a, dt.date(2024, 5, 2))
    joined, joined_episode = _enrolled_patient(site_a, dt.date(2024, 6, 2))
    irae = AdverseEventFactory(patient=left, ctcae_term="colitis", grade=3, resolved_to_grade=1)
    assessment_services.episodes_reassess_for_patient(patient_id=left.pk, user=None)  # the irAE is counted
    counted = Assessment.objects.filter(episode=left_episode).latest("id")
    assert [prior["grade"] for prior in counted.inputs["prior_iraes"]] == [3]

    record_update(
        instance=AdverseEvent.objects.get(pk=irae.pk),
        data={"patient": joined},
        user=data_entry_a,
        channel="api",
        reason="entered on the wrong patient",
    )

    left_latest = Assessment.objects.filter(episode=left_episode).latest("id")
    joined_latest = Assessment.objects.filter(episode=joined_episode).latest("id")
    assert left_latest.is_reassessment and not left_latest.inputs["prior_iraes"]
    assert joined_latest.is_reassessment and [p["grade"] for p in joined_latest.inputs["prior_iraes"]] == [3]
    assert left_latest.reason == joined_latest.reason == "entered on the wrong patient"


def test_the_admin_shows_a_patients_site_and_an_enrolled_episodes_patient_read_only(
    client, case_at_a, site_b, admin_user
):
    from tests.conftest import verify_second_factor

    client.force_login(admin_user)
    verify_second_factor(client, admin_user)
    patient_form = client.get(reverse("admin:clinical_patient_change", args=[case_at_a.pk])).context["adminform"]
    episode = RechallengeEpisode.objects.get(patient=case_at_a)
    episode_form = client.get(reverse("admin:clinical_rechallengeepisode_change", args=[episode.pk])).context[
        "adminform"
    ]
    assert "site" not in patient_form.form.fields and "site" in patient_form.readonly_fields
    assert "patient" not in episode_form.form.fields and "patient" in episode_form.readonly_fields
    assert "site" in client.get(reverse("admin:clinical_patient_add")).context["adminform"].form.fields
