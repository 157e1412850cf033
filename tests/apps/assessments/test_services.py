"""Locking the model's output at enrollment, re-assessment after corrections, and blinding."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.assessments import services
from apps.assessments.models import Assessment
from apps.clinical.services import record_update
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from registry.decision import get_spec
from tests.factories import AdverseEventFactory, InitialCourseFactory, PatientFactory, RechallengeEpisodeFactory


@pytest.fixture
def episode(site_a):
    """ICI-1 of 9 months stopped for a grade-2 colitis that resolved; rechallenge 6.5 months later."""
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(
        patient=patient, start_date=dt.date(2023, 1, 15), stop_date=dt.date(2023, 10, 15), stop_reason="toxicity"
    )
    AdverseEventFactory(patient=patient, ctcae_term="colitis", grade=2, resolved_to_grade=0, steroid_refractory=False)
    return RechallengeEpisodeFactory(patient=patient, start_date=dt.date(2024, 5, 2), ecog_at_rechallenge=1)


def test_enrolling_locks_an_assessment_of_the_active_model_with_inputs_and_reasons(episode, data_entry_a, settings):
    settings.DECISION_MODEL_VERSION = "1.0"
    assessment = services.episode_enroll(episode=episode, user=data_entry_a)
    spec = get_spec("1.0")
    assert (assessment.model_version, assessment.model_hash) == ("1.0", spec.hash)
    assert assessment.inputs["pfs1_months"] == pytest.approx(473 / 30.4375, abs=0.005)  # censored at rechallenge start
    assert assessment.inputs["tfi_months"] == pytest.approx(200 / 30.4375, abs=0.005)  # 200 days
    assert assessment.inputs["stop_reason"] == "toxicity"
    assert assessment.category == "favourable"
    assert assessment.assessed_by == data_entry_a
    reasons = {factor["factor"]: factor["reason"] for factor in assessment.factors}
    assert reasons["tfi"] == "Treatment-free interval 6.57 months: ≥ 6 months is favourable"
    episode.refresh_from_db()
    assert episode.enrolled_at == assessment.assessed_at


def test_an_episode_cannot_be_enrolled_twice(episode, data_entry_a):
    services.episode_enroll(episode=episode, user=data_entry_a)
    with pytest.raises(ApplicationError):
        services.episode_enroll(episode=episode, user=data_entry_a)
    assert Assessment.objects.count() == 1


def test_staff_of_another_site_cannot_enroll(episode, data_entry_b):
    with pytest.raises(ApplicationError) as error:
        services.episode_enroll(episode=episode, user=data_entry_b)
    assert error.value.status == 403
    assert not Assessment.objects.exists()


def test_a_locked_assessment_cannot_be_changed_or_deleted_through_the_application(episode, data_entry_a):
    assessment = services.episode_enroll(episode=episode, user=data_entry_a)
    assessment.category = "unfavourable"
    with pytest.raises(PermissionError):
        assessment.save()
    with pytest.raises(PermissionError):
        assessment.delete()
    with pytest.raises(PermissionError):
        Assessment.objects.filter(pk=assessment.pk).update(category="unfavourable")
    with pytest.raises(PermissionError):
        Assessment.objects.filter(pk=assessment.pk).delete()
    assert Assessment.objects.get(pk=assessment.pk).category == "favourable"


def test_an_enrolled_episode_cannot_be_deleted_from_under_its_assessment(episode, data_entry_a):
    from apps.clinical.services import record_delete

    services.episode_enroll(episode=episode, user=data_entry_a)
    with pytest.raises(ApplicationError) as error:
        record_delete(instance=episode, user=data_entry_a, channel="web", reason="mistake")
    assert error.value.status == 409
    assert Assessment.objects.count() == 1


def test_a_later_data_correction_yields_a_reassessment_beside_the_original(episode, data_entry_a):
    original = services.episode_enroll(episode=episode, user=data_entry_a)
    episode.refresh_from_db()
    record_update(
        instance=episode, data={"ecog_at_rechallenge": 3}, user=data_entry_a, channel="web", reason="ECOG mistyped"
    )
    assessments = list(Assessment.objects.filter(episode=episode).order_by("id"))
    assert len(assessments) == 2
    first, second = assessments
    assert (first.pk, first.category, first.inputs["ecog"], first.is_reassessment) == (
        original.pk,
        "favourable",
        1,
        False,
    )
    assert (second.inputs["ecog"], second.is_reassessment, second.supersedes_id) == (3, True, original.pk)
    assert second.reason == "ECOG mistyped"


def test_a_change_that_leaves_the_inputs_alone_makes_no_reassessment(episode, data_entry_a):
    services.episode_enroll(episode=episode, user=data_entry_a)
    episode.refresh_from_db()
    record_update(instance=episode, data={"albumin_g_per_l": 38}, user=data_entry_a, channel="web")
    assert Assessment.objects.filter(episode=episode).count() == 1


def test_correcting_a_prior_irae_reassesses_the_enrolled_episode(episode, data_entry_a):
    services.episode_enroll(episode=episode, user=data_entry_a)
    irae = episode.patient.adverse_events.get()
    record_update(instance=irae, data={"grade": 3, "resolved_to_grade": 1}, user=data_entry_a, channel="api")
    latest = Assessment.objects.filter(episode=episode).latest("id")
    assert latest.is_reassessment
    assert latest.inputs["prior_iraes"][0]["grade"] == 3


def test_only_coordinators_switch_blinding_and_every_switch_is_audited(data_entry_a, coordinator):
    with pytest.raises(ApplicationError):
        services.blinding_set(blinded=True, user=data_entry_a, reason="try")
    services.blinding_set(blinded=True, user=coordinator, reason="prospective validation period starts")
    entry = AuditEntry.objects.get(model_label="assessments.blindingsetting")
    assert (entry.action, entry.user, entry.changes) == (
        "setting",
        coordinator,
        {"blind_category_to_site_staff": [False, True]},
    )
    assert services.blinding_state_at() is True


def test_blinding_hides_the_category_from_center_staff_but_not_coordinators(data_entry_a, coordinator):
    services.blinding_set(blinded=True, user=coordinator, reason="validation period")
    assert services.category_visible_to(user=data_entry_a) is False
    assert services.category_visible_to(user=coordinator) is True
