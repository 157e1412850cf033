"""List endpoints cost a fixed number of queries, whatever the page size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.apps.clinical.api_support import (
    ADVERSE_EVENTS,
    EPISODES,
    FOLLOW_UPS,
    INITIAL_COURSES,
    PATIENTS,
    RESPONSES,
    fresh_client_for,
    patient_with_course,
)
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

pytestmark = pytest.mark.django_db

ROWS = 50


def _patients(site):
    PatientFactory.create_batch(ROWS, site=site)


def _initial_courses(site):
    InitialCourseFactory.create_batch(ROWS, patient__site=site)


def _episodes(site):
    for _ in range(ROWS):
        RechallengeEpisodeFactory(patient=patient_with_course(site))


def _adverse_events(site):
    AdverseEventFactory.create_batch(ROWS, patient=PatientFactory(site=site))


def _responses(site):
    ResponseAssessmentFactory.create_batch(ROWS, episode=RechallengeEpisodeFactory(patient=patient_with_course(site)))


def _follow_ups(site):
    FollowUpFactory.create_batch(ROWS, episode=RechallengeEpisodeFactory(patient=patient_with_course(site)))


FILLS = [
    (PATIENTS, _patients),
    (INITIAL_COURSES, _initial_courses),
    (EPISODES, _episodes),
    (ADVERSE_EVENTS, _adverse_events),
    (RESPONSES, _responses),
    (FOLLOW_UPS, _follow_ups),
]


@pytest.mark.parametrize(("kind", "fill"), [pytest.param(kind, fill, id=kind.route) for kind, fill in FILLS])
@pytest.mark.parametrize("user", ["data_entry_a", "coordinator"])
def test_a_page_of_fifty_costs_as_many_queries_as_a_page_of_five(
    kind, fill, user, request, site_a, django_assert_num_queries
):
    fill(site_a)
    client = fresh_client_for(request.getfixturevalue(user))
    with CaptureQueriesContext(connection) as small_page:
        assert len(client.get(kind.list_url(), {"page_size": 5}).json()["results"]) == 5
    with django_assert_num_queries(len(small_page.captured_queries)):
        assert len(client.get(kind.list_url(), {"page_size": ROWS}).json()["results"]) == ROWS
