"""Enrollment and the locked assessments through the API: ``POST /episodes/{id}/enroll/`` and the
read-only, site-scoped ``/assessments/`` (blinding respected)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.assessments import services
from apps.assessments.models import Assessment
from tests.apps.clinical.api_support import API, fresh_client_for
from tests.factories import (
    AdverseEventFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

pytestmark = pytest.mark.django_db

BLINDED = {"category", "score", "factors"}


def _episode(site):
    patient = PatientFactory(site=site)
    InitialCourseFactory(
        patient=patient, start_date=dt.date(2023, 1, 15), stop_date=dt.date(2023, 10, 15), stop_reason="toxicity"
    )
    AdverseEventFactory(patient=patient, ctcae_term="colitis", grade=2, resolved_to_grade=0)
    return RechallengeEpisodeFactory(patient=patient, start_date=dt.date(2024, 5, 2), ecog_at_rechallenge=1)


def _enroll(client, episode):
    return client.post(f"{API}/episodes/{episode.pk}/enroll/", format="json")


@pytest.fixture
def blinded(coordinator):
    services.blinding_set(blinded=True, user=coordinator, reason="validation period")


# --- POST /episodes/{id}/enroll/ ---------------------------------------------------------------------------


def test_enrolling_answers_201_with_the_locked_assessment(site_a, coordinator):
    episode = _episode(site_a)
    response = _enroll(fresh_client_for(coordinator), episode)
    assert response.status_code == 201
    body = response.json()
    assessment = Assessment.objects.get(episode=episode)
    assert (body["id"], body["episode"], body["site"]) == (assessment.pk, episode.pk, "AAA")
    assert (body["category"], body["score"], body["blinded"]) == (assessment.category, assessment.score, False)
    assert (body["is_retrospective"], body["is_reassessment"], body["supersedes"]) == (False, False, None)
    assert body["inputs"]["ecog"] == 1
    episode.refresh_from_db()
    assert episode.enrolled_at is not None


def test_while_blinded_center_staff_get_the_assessment_without_category_score_or_factors(site_a, data_entry_a, blinded):
    response = _enroll(fresh_client_for(data_entry_a), _episode(site_a))
    assert response.status_code == 201
    body = response.json()
    assert BLINDED.isdisjoint(body)
    assert body["blinded"] is True
    assert body["inputs"]["ecog"] == 1  # the site's own data stay visible


def test_an_episode_with_a_response_is_enrolled_retrospectively(site_a, data_entry_a):
    episode = _episode(site_a)
    ResponseAssessmentFactory(episode=episode)
    response = _enroll(fresh_client_for(data_entry_a), episode)
    assert (response.status_code, response.json()["is_retrospective"]) == (201, True)


def test_enrolling_twice_answers_409_and_keeps_one_assessment(site_a, data_entry_a):
    episode = _episode(site_a)
    client = fresh_client_for(data_entry_a)
    assert _enroll(client, episode).status_code == 201
    response = _enroll(client, episode)
    assert response.status_code == 409
    assert response.json() == {"detail": "This episode is already enrolled; its assessment is locked."}
    assert Assessment.objects.filter(episode=episode).count() == 1


def test_a_closed_site_answers_409_with_a_field_less_error_and_changes_nothing(site_a, data_entry_a):
    episode = _episode(site_a)
    site_a.active = False
    site_a.save(update_fields=["active"])
    response = _enroll(fresh_client_for(data_entry_a), episode)
    assert response.status_code == 409
    assert response.json() == {"detail": "Site AAA is closed to new data."}
    episode.refresh_from_db()
    assert (episode.enrolled_at, episode.version) == (None, 1)
    assert not Assessment.objects.exists()


@pytest.mark.parametrize("user", ["data_entry_b", "investigator"])
def test_an_episode_out_of_reach_answers_404(site_a, user, request):
    episode = _episode(site_a)
    response = _enroll(fresh_client_for(request.getfixturevalue(user)), episode)
    assert response.status_code == 404
    assert not Assessment.objects.exists()


@pytest.mark.parametrize("key", ["999999", "abc", "9" * 30])
def test_an_episode_that_does_not_exist_answers_404(data_entry_a, key):
    assert fresh_client_for(data_entry_a).post(f"{API}/episodes/{key}/enroll/").status_code == 404


def test_enrolling_needs_a_signed_in_user(site_a):
    from rest_framework.test import APIClient

    assert _enroll(APIClient(), _episode(site_a)).status_code == 401


# --- GET /assessments/ -------------------------------------------------------------------------------------


@pytest.fixture
def locked(site_a, site_b):
    """One enrolled episode per site."""
    return {
        code: services.episode_enroll(episode=_episode(site), user=None)
        for code, site in (("AAA", site_a), ("BBB", site_b))
    }


def _rows(client, **params):
    response = client.get(f"{API}/assessments/", params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_center_staff_list_only_their_own_sites_assessments(locked, data_entry_a):
    rows = _rows(fresh_client_for(data_entry_a))
    assert [(row["id"], row["site"]) for row in rows] == [(locked["AAA"].pk, "AAA")]


def test_coordinators_list_every_sites_assessments(locked, coordinator):
    rows = _rows(fresh_client_for(coordinator))
    assert {row["id"] for row in rows} == {locked["AAA"].pk, locked["BBB"].pk}


def test_while_blinded_the_list_hides_category_score_and_factors_from_center_staff_only(
    locked, data_entry_a, coordinator, blinded
):
    [row] = _rows(fresh_client_for(data_entry_a))
    assert BLINDED.isdisjoint(row)
    assert row["blinded"] is True
    detail = fresh_client_for(data_entry_a).get(f"{API}/assessments/{locked['AAA'].pk}/").json()
    assert BLINDED.isdisjoint(detail)
    for row in _rows(fresh_client_for(coordinator)):
        assert row["category"] == locked[row["site"]].category
        assert row["blinded"] is False
        assert len(row["factors"]) == len(locked[row["site"]].factors)


def test_without_blinding_center_staff_see_the_category(locked, data_entry_a):
    [row] = _rows(fresh_client_for(data_entry_a))
    assert (row["category"], row["score"], row["blinded"]) == (locked["AAA"].category, locked["AAA"].score, False)


def test_another_sites_assessment_answers_404(locked, data_entry_a):
    assert fresh_client_for(data_entry_a).get(f"{API}/assessments/{locked['BBB'].pk}/").status_code == 404


def test_investigators_reach_no_assessment(locked, investigator):
    client = fresh_client_for(investigator)
    assert client.get(f"{API}/assessments/").status_code == 403
    assert client.get(f"{API}/assessments/{locked['AAA'].pk}/").status_code == 404


def test_filtering_by_another_sites_episode_finds_nothing(locked, data_entry_a, coordinator):
    episode_b = locked["BBB"].episode_id
    assert _rows(fresh_client_for(data_entry_a), episode=episode_b) == []
    assert [row["id"] for row in _rows(fresh_client_for(coordinator), episode=episode_b)] == [locked["BBB"].pk]


#: The request's own: a token (center staff: token, savepoint and its release) or a verified session (coordinator:
#: session, user, TOTP device, savepoint and release, and the session saved in a second savepoint); then
#: memberships, count and page; center staff also read the blinding setting. The same at 5 rows and at 50.
ASSESSMENT_LIST_QUERIES = {"data_entry_a": 3 + 3 + 1, "coordinator": 5 + 3 + 3}


@pytest.mark.parametrize("user", ["data_entry_a", "coordinator"])
def test_a_page_of_assessments_costs_the_same_queries_for_5_and_50_rows(site_a, user, request, blinded):
    for _ in range(50):
        services.episode_enroll(episode=_episode(site_a), user=None)
    client = fresh_client_for(request.getfixturevalue(user))
    for size in (5, 50):
        with CaptureQueriesContext(connection) as queries:
            assert len(_rows(client, page_size=size)) == size
        assert len(queries.captured_queries) == ASSESSMENT_LIST_QUERIES[user], [q["sql"] for q in queries]
