"""Signing, unlocking, and the lock every clinical write of a signed case meets (the services)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.accounts.models import Role
from apps.assessments.services import episode_enroll
from apps.clinical import services
from apps.clinical.models import AdverseEvent, FollowUp, Patient
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from apps.quality import signoff
from apps.quality.models import DataQuery
from apps.quality.signoff_selectors import case_summary, signature_manifestation
from registry.quality.case_status import DEFAULT_SIGNATURE_MEANING, SIGNATURE_MEANINGS, CaseStatus
from tests.apps.quality.signoff_support import complete_case, signed_case
from tests.factories import PASSWORD, RechallengeEpisodeFactory, user_with_role

pytestmark = pytest.mark.django_db


def _signature(patient: Patient) -> tuple:
    return Patient.objects.values_list("signed_at", "signed_by", "signature_meaning").get(pk=patient.pk)


# --- Signing ------------------------------------------------------------------------------------------------------


def test_the_site_pi_signs_a_complete_case_with_name_time_and_meaning(site_a, site_pi_a):
    site_pi_a.first_name, site_pi_a.last_name = "Ada", "Lovelace"
    site_pi_a.save()
    case = complete_case(site_a)
    before = timezone.now()

    signoff.case_sign(patient=case.patient, user=site_pi_a, password=PASSWORD, meaning=SIGNATURE_MEANINGS[1])

    signed_at, signed_by, meaning = _signature(case.patient)
    assert signed_by == site_pi_a.pk
    assert meaning == SIGNATURE_MEANINGS[1]
    assert before <= signed_at <= timezone.now()
    case.patient.refresh_from_db()
    assert case_summary(patient=case.patient).status is CaseStatus.SIGNED
    assert signature_manifestation(case.patient) == (
        f"Signed by Ada Lovelace on {signed_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"meaning: “{SIGNATURE_MEANINGS[1]}”"
    )
    entry = AuditEntry.objects.get(model_label="clinical.patient", object_id=str(case.patient.pk), action="update")
    assert entry.reason == f"Signed: {SIGNATURE_MEANINGS[1]}"
    assert entry.user_id == site_pi_a.pk
    assert entry.changes["signed_by"] == [None, site_pi_a.pk]


def test_without_a_chosen_meaning_the_default_meaning_is_signed(site_a, site_pi_a):
    case = signed_case(site_a, site_pi_a)
    assert case.patient.signature_meaning == DEFAULT_SIGNATURE_MEANING


def test_a_wrong_password_signs_nothing_and_says_only_that(site_a, site_pi_a):
    case = complete_case(site_a)
    with pytest.raises(ApplicationError) as refused:
        signoff.case_sign(patient=case.patient, user=site_pi_a, password="not-my-password")
    assert refused.value.status == 400
    assert refused.value.field_errors == {"password": ["The password is not correct. Nothing was signed."]}
    assert _signature(case.patient) == (None, None, "")
    assert not AuditEntry.objects.filter(reason__startswith="Signed").exists()


def test_an_empty_password_is_asked_for(site_a, site_pi_a):
    case = complete_case(site_a)
    with pytest.raises(ApplicationError) as refused:
        signoff.case_sign(patient=case.patient, user=site_pi_a, password="")
    assert refused.value.field_errors == {"password": ["Enter your password to sign."]}


def test_an_unknown_meaning_is_refused_on_its_field(site_a, site_pi_a):
    case = complete_case(site_a)
    with pytest.raises(ApplicationError) as refused:
        signoff.case_sign(patient=case.patient, user=site_pi_a, password=PASSWORD, meaning="I like it")
    assert list(refused.value.field_errors) == ["meaning"]
    assert _signature(case.patient) == (None, None, "")


@pytest.mark.parametrize("who", ["data_entry_a", "coordinator", "admin_user", "other_site_pi"])
def test_only_the_site_pi_of_the_patients_site_signs(request, site_a, site_b, who):
    signer = (
        user_with_role(Role.SITE_PI, site_b, username="pi_b")
        if who == "other_site_pi"
        else request.getfixturevalue(who)
    )
    case = complete_case(site_a)
    with pytest.raises(ApplicationError) as refused:
        signoff.case_sign(patient=case.patient, user=signer, password=PASSWORD)
    assert refused.value.status == 403
    assert refused.value.message == "Only the site PI of the patient's site signs its cases."
    assert _signature(case.patient) == (None, None, "")


def test_a_data_entry_member_of_the_site_who_is_site_pi_elsewhere_does_not_sign(site_a, site_b):
    user = user_with_role(Role.SITE_PI, site_b, username="pi_b_entry_a")
    user.memberships.create(site=site_a, role=Role.DATA_ENTRY)
    case = complete_case(site_a)
    with pytest.raises(ApplicationError) as refused:
        signoff.case_sign(patient=case.patient, user=user, password=PASSWORD)
    assert refused.value.status == 403


def test_a_case_with_a_record_not_marked_complete_is_not_signed(site_a, site_pi_a):
    case = complete_case(site_a)
    FollowUp.objects.filter(pk=case.follow_up.pk).update(is_complete=False)
    with pytest.raises(ApplicationError) as refused:
        signoff.case_sign(patient=case.patient, user=site_pi_a, password=PASSWORD)
    assert refused.value.status == 409
    assert "Every record must be marked complete first: follow-up of 2024-08-30 is not." in refused.value.message
    assert _signature(case.patient) == (None, None, "")


def test_a_patient_with_nothing_beyond_the_patient_record_is_not_signed(site_a, site_pi_a):
    patient = Patient.objects.create(
        site=site_a,
        registry_id="AAA-EMPTY1",
        local_identifier="E1",
        sex="male",
        year_of_birth=1950,
        tumour_type="LUAD",
        consent_status="consented",
        consent_date=dt.date(2024, 1, 1),
        is_complete=True,
    )
    with pytest.raises(ApplicationError) as refused:
        signoff.case_sign(patient=patient, user=site_pi_a, password=PASSWORD)
    assert "there is no case to sign" in refused.value.message


@pytest.mark.parametrize("state", [DataQuery.Status.OPEN, DataQuery.Status.ANSWERED])
def test_an_open_or_answered_query_blocks_signing(site_a, site_pi_a, state):
    case = complete_case(site_a)
    DataQuery.objects.create(
        site=site_a,
        patient=case.patient,
        record_type="episode",
        record_id=case.episode.pk,
        field="start_date",
        message="Check the date.",
        status=state,
        opened_at=timezone.now(),
    )
    with pytest.raises(ApplicationError) as refused:
        signoff.case_sign(patient=case.patient, user=site_pi_a, password=PASSWORD)
    assert refused.value.status == 409
    assert "1 data query is still open or awaiting a coordinator's review" in refused.value.message


def test_closed_queries_and_those_kept_for_coordinators_do_not_block_signing(site_a, site_pi_a):
    case = complete_case(site_a)
    common = {"site": site_a, "patient": case.patient, "record_type": "episode", "record_id": case.episode.pk}
    DataQuery.objects.create(**common, message="a", status="closed", opened_at=timezone.now(), closed_at=timezone.now())
    DataQuery.objects.create(**common, message="b", coordinators_only=True, opened_at=timezone.now())
    signoff.case_sign(patient=case.patient, user=site_pi_a, password=PASSWORD)
    assert _signature(case.patient)[1] == site_pi_a.pk


def test_a_signed_case_is_not_signed_again(site_a, site_pi_a):
    case = signed_case(site_a, site_pi_a)
    with pytest.raises(ApplicationError) as refused:
        signoff.case_sign(patient=case.patient, user=site_pi_a, password=PASSWORD)
    assert refused.value.status == 409


# --- Unlocking ------------------------------------------------------------------------------------------------------


def test_a_coordinator_unlocks_with_a_reason_kept_in_the_audit_trail(site_a, site_pi_a, coordinator):
    case = signed_case(site_a, site_pi_a)
    signed_at = case.patient.signed_at
    signoff.case_unlock(patient=case.patient, user=coordinator, reason="  The site found a wrong dose.  ")
    assert _signature(case.patient) == (None, None, "")
    entry = AuditEntry.objects.filter(model_label="clinical.patient", object_id=str(case.patient.pk)).first()
    assert entry.reason == "Unlocked: The site found a wrong dose."
    assert entry.user_id == coordinator.pk
    assert entry.changes["signed_at"] == [signed_at.isoformat(), None]
    assert entry.changes["signature_meaning"] == [DEFAULT_SIGNATURE_MEANING, ""]


@pytest.mark.parametrize("reason", ["", "   "])
def test_unlocking_needs_a_reason(site_a, site_pi_a, coordinator, reason):
    case = signed_case(site_a, site_pi_a)
    with pytest.raises(ApplicationError) as refused:
        signoff.case_unlock(patient=case.patient, user=coordinator, reason=reason)
    assert refused.value.field_errors == {"reason": ["Give the reason for unlocking; it is kept in the audit trail."]}
    assert _signature(case.patient)[1] == site_pi_a.pk


@pytest.mark.parametrize("who", ["data_entry_a", "site_pi_a", "investigator"])
def test_only_coordinators_unlock(request, site_a, site_pi_a, who):
    case = signed_case(site_a, site_pi_a)
    with pytest.raises(ApplicationError) as refused:
        signoff.case_unlock(patient=case.patient, user=request.getfixturevalue(who), reason="please")
    assert refused.value.status == 403
    assert _signature(case.patient)[1] == site_pi_a.pk


def test_an_unsigned_case_has_nothing_to_unlock(site_a, coordinator):
    case = complete_case(site_a)
    with pytest.raises(ApplicationError) as refused:
        signoff.case_unlock(patient=case.patient, user=coordinator, reason="why not")
    assert refused.value.status == 409


def test_an_unlocked_case_accepts_changes_and_is_signed_anew(site_a, site_pi_a, coordinator, data_entry_a):
    case = signed_case(site_a, site_pi_a)
    signoff.case_unlock(patient=case.patient, user=coordinator, reason="correction")
    services.record_update(
        instance=case.irae, data={"grade": 3}, user=data_entry_a, channel="web", reason="grade was 3"
    )
    assert AdverseEvent.objects.get(pk=case.irae.pk).grade == 3
    # The rules may have raised queries on the change: settled before the case is signed again.
    DataQuery.objects.filter(patient=case.patient).update(status="closed", closed_at=timezone.now())
    signoff.case_sign(patient=case.patient, user=site_pi_a, password=PASSWORD)
    assert _signature(case.patient)[1] == site_pi_a.pk


# --- The lock on every clinical write ----------------------------------------------------------------------------


def _assert_signed_refusal(refused, case, signer) -> None:
    assert refused.value.status == 409
    when = case.patient.signed_at.astimezone(dt.UTC)
    assert refused.value.message == (
        f"Patient {case.patient.registry_id}'s case is signed by {signer.username} on {when:%Y-%m-%d %H:%M} UTC: "
        "a coordinator must unlock it before any change."
    )


@pytest.mark.parametrize("record", ["patient", "course", "irae", "episode", "response", "follow_up"])
def test_a_signed_case_refuses_a_change_to_any_of_its_records(site_a, site_pi_a, data_entry_a, record):
    case = signed_case(site_a, site_pi_a)
    instance = getattr(case, record)
    with pytest.raises(ApplicationError) as refused:
        services.record_update(
            instance=instance, data={"is_complete": False}, user=data_entry_a, channel="web", reason="reopen"
        )
    _assert_signed_refusal(refused, case, site_pi_a)
    instance.refresh_from_db()
    assert instance.is_complete is True


@pytest.mark.parametrize("record", ["patient", "irae", "episode", "follow_up"])
def test_a_signed_case_refuses_deletions(site_a, site_pi_a, coordinator, record):
    case = signed_case(site_a, site_pi_a)
    instance = getattr(case, record)
    with pytest.raises(ApplicationError) as refused:
        services.record_delete(instance=instance, user=coordinator, channel="api", reason="duplicate")
    _assert_signed_refusal(refused, case, site_pi_a)
    assert type(instance).objects.filter(pk=instance.pk).exists()


def test_a_signed_case_refuses_new_records(site_a, site_pi_a, data_entry_a):
    case = signed_case(site_a, site_pi_a)
    with pytest.raises(ApplicationError) as refused:
        services.record_create(
            model=AdverseEvent,
            data={
                "patient": case.patient,
                "ctcae_term": "hepatitis",
                "grade": 2,
                "onset_date": dt.date(2024, 6, 1),
                "management": "corticosteroids",
                "episode": case.episode,
            },
            user=data_entry_a,
            channel="web",
        )
    _assert_signed_refusal(refused, case, site_pi_a)
    assert AdverseEvent.objects.filter(patient=case.patient).count() == 1


def test_a_record_does_not_move_into_a_signed_case(site_a, site_pi_a, data_entry_a):
    case = signed_case(site_a, site_pi_a)
    other = complete_case(site_a, complete=False)
    with pytest.raises(ApplicationError) as refused:
        services.record_update(instance=other.irae, data={"patient": case.patient}, user=data_entry_a, channel="web")
    _assert_signed_refusal(refused, case, site_pi_a)
    assert AdverseEvent.objects.get(pk=other.irae.pk).patient_id == other.patient.pk


def test_a_signed_case_is_not_transferred(site_a, site_b, site_pi_a, coordinator):
    case = signed_case(site_a, site_pi_a)
    with pytest.raises(ApplicationError) as refused:
        services.patient_transfer(patient=case.patient, to_site=site_b, user=coordinator, reason="moved")
    _assert_signed_refusal(refused, case, site_pi_a)
    assert Patient.objects.get(pk=case.patient.pk).site_id == site_a.pk


def test_an_episode_of_a_signed_case_is_not_enrolled(site_a, site_pi_a, data_entry_a):
    case = complete_case(site_a)
    second = RechallengeEpisodeFactory(
        patient=case.patient, sequence_number=2, start_date=dt.date(2025, 3, 1), is_complete=True
    )
    signoff.case_sign(patient=case.patient, user=site_pi_a, password=PASSWORD)
    case.refreshed()
    with pytest.raises(ApplicationError) as refused:
        episode_enroll(episode=second, user=data_entry_a)
    _assert_signed_refusal(refused, case, site_pi_a)
    second.refresh_from_db()
    assert second.enrolled_at is None


def test_a_batch_refuses_a_record_of_a_signed_case_of_an_earlier_batch(site_a, site_pi_a, data_entry_a):
    case = signed_case(site_a, site_pi_a)
    batch = services.records_create_batch(site=site_a, user=data_entry_a, channel="import", reason="Bulk")
    with pytest.raises(ApplicationError) as refused, batch as open_batch:
        open_batch.create(
            model=AdverseEvent,
            data={
                "patient": case.patient,
                "ctcae_term": "hepatitis",
                "grade": 2,
                "onset_date": dt.date(2023, 6, 1),
                "management": "corticosteroids",
            },
        )
    _assert_signed_refusal(refused, case, site_pi_a)
    assert AdverseEvent.objects.filter(patient=case.patient).count() == 1


def test_an_unsigned_case_of_the_same_site_is_still_written(site_a, site_pi_a, data_entry_a):
    signed_case(site_a, site_pi_a)
    other = complete_case(site_a)
    services.record_update(instance=other.irae, data={"grade": 3}, user=data_entry_a, channel="web", reason="fix")
    assert AdverseEvent.objects.get(pk=other.irae.pk).grade == 3
