"""Enrolling an episode: a confirmation page shows the inputs the model will lock, nothing is stored until
the user confirms, an episode with outcome data is locked as retrospective (with a warning), and a closed
site enrolls nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from apps.assessments import services
from apps.assessments.models import Assessment
from apps.clinical.services import record_update
from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

START = dt.date(2024, 5, 2)


@pytest.fixture
def episode(site_a):
    """ICI-1 of 9 months stopped for a grade-2 colitis that resolved; rechallenge 6.5 months later, no outcome yet."""
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(
        patient=patient, start_date=dt.date(2023, 1, 15), stop_date=dt.date(2023, 10, 15), stop_reason="toxicity"
    )
    AdverseEventFactory(patient=patient, ctcae_term="colitis", grade=2, resolved_to_grade=0)
    return RechallengeEpisodeFactory(patient=patient, start_date=START, ecog_at_rechallenge=1)


def _enroll_url(episode) -> str:
    return reverse("assessments:episode-enroll", kwargs={"pk": episode.pk})


def _close(site) -> None:
    site.active = False
    site.save(update_fields=["active"])


# --- outcome data make the lock retrospective -----------------------------------------------------------

OUTCOMES = {
    "a response assessment": lambda episode: ResponseAssessmentFactory(episode=episode, category="SD"),
    "a follow-up with progression": lambda episode: FollowUpFactory(
        episode=episode, follow_up_date=dt.date(2024, 8, 1), progression_date=dt.date(2024, 7, 20)
    ),
    "a follow-up with a death": lambda episode: FollowUpFactory(
        episode=episode,
        follow_up_date=dt.date(2024, 8, 1),
        vital_status="dead",
        death_date=dt.date(2024, 7, 30),
        last_known_alive_date=None,
    ),
    "a rechallenge stop date": lambda episode: FollowUpFactory(
        episode=episode,
        follow_up_date=dt.date(2024, 8, 1),
        rechallenge_stopped_date=dt.date(2024, 7, 1),
        rechallenge_stop_reason="toxicity",
    ),
    "an irAE during the rechallenge": lambda episode: AdverseEventFactory(
        patient=episode.patient,
        episode=episode,
        onset_date=dt.date(2024, 6, 1),
        resolution_date=None,
        resolved_to_grade=None,
        recurrence_status="new",
    ),
}


@pytest.mark.parametrize("outcome", OUTCOMES, ids=str)
def test_an_episode_with_outcome_data_is_locked_as_retrospective(episode, data_entry_a, outcome):
    OUTCOMES[outcome](episode)
    assessment = services.episode_enroll(episode=episode, user=data_entry_a)
    assert assessment.is_retrospective is True
    entry = AuditEntry.objects.filter(model_label="clinical.rechallengeepisode", object_id=str(episode.pk)).latest("id")
    assert entry.reason.startswith("Enrolled retrospectively (outcome data already recorded); decision model")


def test_an_episode_without_outcome_data_is_locked_as_prospective(episode, data_entry_a):
    FollowUpFactory(episode=episode, follow_up_date=dt.date(2024, 6, 1), vital_status="alive")  # alive, nothing else
    assessment = services.episode_enroll(episode=episode, user=data_entry_a)
    assert assessment.is_retrospective is False
    entry = AuditEntry.objects.filter(model_label="clinical.rechallengeepisode", object_id=str(episode.pk)).latest("id")
    assert entry.reason.startswith("Enrolled prospectively; decision model")


def test_the_preview_names_the_outcome_data_it_found(episode):
    ResponseAssessmentFactory(episode=episode, assessment_date=dt.date(2024, 7, 1), category="PR")
    ResponseAssessmentFactory(episode=episode, assessment_date=dt.date(2024, 8, 5), category="PR")
    preview = services.enrollment_preview(episode=episode)
    assert preview.is_retrospective
    assert preview.outcome_data == ("2 response assessment(s) recorded (2024-07-01, 2024-08-05)",)


def test_a_correction_after_a_retrospective_enrollment_is_reassessed_and_stays_retrospective(episode, data_entry_a):
    ResponseAssessmentFactory(episode=episode)
    original = services.episode_enroll(episode=episode, user=data_entry_a)
    episode.refresh_from_db()
    record_update(
        instance=episode, data={"ecog_at_rechallenge": 2}, user=data_entry_a, channel="web", reason="ECOG mistyped"
    )
    latest = Assessment.objects.filter(episode=episode).latest("id")
    assert (latest.is_reassessment, latest.is_retrospective, latest.supersedes_id) == (True, True, original.pk)
    assert latest.inputs["ecog"] == 2


# --- a closed site enrolls nothing -------------------------------------------------------------------------


def test_an_episode_of_a_closed_site_is_not_enrolled(episode, data_entry_a, site_a):
    _close(site_a)
    with pytest.raises(ApplicationError) as error:
        services.episode_enroll(episode=episode, user=data_entry_a)
    assert (error.value.status, error.value.message, error.value.field_errors) == (
        409,
        "Site AAA is closed to new data.",
        {},
    )
    episode.refresh_from_db()
    assert (episode.enrolled_at, episode.version) == (None, 1)
    assert not Assessment.objects.exists()


def test_inputs_changed_since_they_were_confirmed_store_nothing(episode, data_entry_a):
    confirmed = services.enrollment_preview(episode=episode).digest
    episode.ecog_at_rechallenge = 2
    episode.save()
    with pytest.raises(ApplicationError) as error:
        services.episode_enroll(episode=episode, user=data_entry_a, confirmed_digest=confirmed)
    assert error.value.status == 409
    assert "changed since you checked the inputs" in error.value.message
    assert not Assessment.objects.exists()
    episode.refresh_from_db()
    assert episode.enrolled_at is None


def test_a_response_recorded_since_the_confirmation_stores_nothing(episode, data_entry_a):
    """The user confirmed a prospective lock; it must not silently become a retrospective one."""
    confirmed = services.enrollment_preview(episode=episode).digest
    ResponseAssessmentFactory(episode=episode)
    with pytest.raises(ApplicationError):
        services.episode_enroll(episode=episode, user=data_entry_a, confirmed_digest=confirmed)
    assert not Assessment.objects.exists()


# --- the confirmation page ---------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, data_entry_a):
    client.force_login(data_entry_a)
    return client


def test_the_confirmation_page_shows_the_inputs_with_labels_and_stores_nothing(staff_client, episode):
    audit_before = AuditEntry.objects.count()
    response = staff_client.get(_enroll_url(episode))
    assert response.status_code == 200
    rows = {row.label: row for row in response.context["preview"].rows}
    assert rows["ECOG performance status at rechallenge"].value == "ECOG 1"
    assert rows["Why the preceding course stopped"].value == "irAE / toxicity"
    assert rows["Planned rechallenge regimen"].value == "ICI monotherapy"
    assert rows["irAEs during the preceding course"].value.startswith("Colitis, grade 2, resolved to grade 0")
    # ICI-1 stop 2023-10-15 → rechallenge 2024-05-02: 6 calendar months and 17 of the 30 days to 2024-05-15
    # (6.567); as days, 200 / 30.4375 = 6.571. Either reading rounds to 6.57.
    assert rows["Treatment-free interval (months)"].value == "6.57"
    page = response.content.decode()
    assert "Inputs the model will lock" in page
    assert "ECOG performance status at rechallenge" in page
    assert 'name="inputs_digest"' in page
    assert "retrospective" not in page
    assert not Assessment.objects.exists()
    episode.refresh_from_db()
    assert (episode.enrolled_at, episode.version) == (None, 1)
    assert AuditEntry.objects.count() == audit_before


def test_inputs_that_are_not_recorded_are_marked_missing(staff_client, site_a):
    episode = RechallengeEpisodeFactory(patient=PatientFactory(site=site_a))  # ICI-1 not recorded
    response = staff_client.get(_enroll_url(episode))
    preview = response.context["preview"]
    missing = set(preview.missing)
    assert {
        "PFS on the preceding ICI course (months)",
        "Treatment-free interval (months)",
        "Why the preceding course stopped",
    } <= missing
    assert "ECOG performance status at rechallenge" not in missing
    page = response.content.decode()
    assert "Missing" in page
    assert "Not recorded: PFS on the preceding ICI course (months)" in page


def test_confirming_enrolls_the_episode_prospectively(staff_client, episode):
    digest = services.enrollment_preview(episode=episode).digest
    response = staff_client.post(_enroll_url(episode), {"inputs_digest": digest}, follow=True)
    assessment = Assessment.objects.get(episode=episode)
    assert assessment.is_retrospective is False
    assert "Episode enrolled. Decision model" in response.content.decode()
    episode.refresh_from_db()
    assert episode.enrolled_at == assessment.assessed_at


def test_the_page_warns_before_and_after_a_retrospective_enrollment(staff_client, episode):
    ResponseAssessmentFactory(episode=episode, assessment_date=dt.date(2024, 7, 1), category="PR")
    page = staff_client.get(_enroll_url(episode)).content.decode()
    assert "This enrollment will be retrospective" in page
    assert "1 response assessment(s) recorded (2024-07-01)" in page
    assert "Enroll retrospectively and lock" in page
    assert not Assessment.objects.exists()

    digest = services.enrollment_preview(episode=episode).digest
    response = staff_client.post(_enroll_url(episode), {"inputs_digest": digest}, follow=True)
    assert Assessment.objects.get(episode=episode).is_retrospective is True
    messages = [str(message) for message in response.context["messages"]]
    assert len(messages) == 1
    assert messages[0].startswith("Episode enrolled retrospectively: outcome data were already recorded.")
    # The card's label: an enrollment after outcomes, not a retrospective evaluation of another model version.
    card = response.content.decode()
    assert "Locked at enrollment after outcome data were recorded (retrospective)" in card
    assert "Retrospective evaluation" not in card


def test_a_post_without_the_confirmed_inputs_goes_back_to_the_confirmation_page(staff_client, episode):
    response = staff_client.post(_enroll_url(episode), {})
    assert (response.status_code, response["Location"]) == (302, _enroll_url(episode))
    assert not Assessment.objects.exists()


def test_a_confirmation_of_stale_inputs_is_refused_with_a_message(staff_client, episode):
    digest = services.enrollment_preview(episode=episode).digest
    ResponseAssessmentFactory(episode=episode)
    response = staff_client.post(_enroll_url(episode), {"inputs_digest": digest}, follow=True)
    assert not Assessment.objects.exists()
    page = response.content.decode()
    assert "changed since you checked the inputs" in page
    assert "This enrollment will be retrospective" in page  # shown again, as it now stands


def test_a_closed_site_is_refused_on_the_page_with_nothing_stored(staff_client, episode, site_a):
    digest = services.enrollment_preview(episode=episode).digest
    _close(site_a)
    page = staff_client.get(_enroll_url(episode)).content.decode()
    assert "Site AAA is closed to new data." in page
    assert 'name="inputs_digest"' not in page
    response = staff_client.post(_enroll_url(episode), {"inputs_digest": digest}, follow=True)
    assert "Site AAA is closed to new data." in response.content.decode()
    assert not Assessment.objects.exists()
    episode.refresh_from_db()
    assert episode.enrolled_at is None


def test_an_enrolled_episode_shows_no_second_confirmation(staff_client, episode, data_entry_a):
    services.episode_enroll(episode=episode, user=data_entry_a)
    page = staff_client.get(_enroll_url(episode)).content.decode()
    assert "already enrolled" in page
    assert 'name="inputs_digest"' not in page


def test_staff_of_another_site_get_404_on_the_confirmation_page(client, episode, data_entry_b):
    client.force_login(data_entry_b)
    assert client.get(_enroll_url(episode)).status_code == 404
    assert client.post(_enroll_url(episode), {"inputs_digest": "x"}).status_code == 404
    assert not Assessment.objects.exists()
