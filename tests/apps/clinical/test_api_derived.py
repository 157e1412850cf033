"""Episodes in the API carry a read-only ``derived`` object, computed by the same code as the patient page.

The expected values are worked out by hand below: PFS1 and the treatment-free interval in calendar months,
PFS2, OS and irAE times in days / 30.4375.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.clinical import derived
from apps.clinical.selectors import patient_timeline
from registry.derive import derive_patient
from tests.apps.clinical.api_support import API, fresh_client_for, if_match
from tests.factories import (
    AdverseEventFactory,
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
    ResponseAssessmentFactory,
)

pytestmark = pytest.mark.django_db

DAYS_PER_MONTH = 30.4375


@pytest.fixture
def treated(site_a):
    """ICI-1 2024-01-10 → stopped for toxicity 2024-03-10, no progression; rechallenge 2024-08-10 with a PR
    confirmed 35 days later, progression 2025-02-01 and death 2025-05-20."""
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(
        patient=patient,
        start_date=dt.date(2024, 1, 10),
        stop_date=dt.date(2024, 3, 10),
        progression_date=None,
        stop_reason="toxicity",
    )
    episode = RechallengeEpisodeFactory(patient=patient, start_date=dt.date(2024, 8, 10))
    for day, category in ((dt.date(2024, 10, 5), "PR"), (dt.date(2024, 11, 9), "PR"), (dt.date(2025, 2, 1), "PD")):
        ResponseAssessmentFactory(episode=episode, assessment_date=day, category=category)
    FollowUpFactory(
        episode=episode,
        follow_up_date=dt.date(2025, 6, 1),
        vital_status="dead",
        death_date=dt.date(2025, 5, 20),
        last_known_alive_date=None,
    )
    return episode


def _derived(client, episode) -> dict:
    response = client.get(f"{API}/episodes/{episode.pk}/")
    assert response.status_code == 200, response.content
    return response.json()["derived"]


def test_the_derived_values_of_an_episode_match_the_hand_computed_ones(treated, data_entry_a):
    values = _derived(fresh_client_for(data_entry_a), treated)
    # PFS1: no progression on ICI-1, censored at the rechallenge start: 2024-01-10 → 2024-08-10 is 7 calendar months.
    assert (values["pfs1_months"], values["pfs1_event"]) == (7.0, False)
    # TFI: ICI-1 stop 2024-03-10 → rechallenge 2024-08-10 is 5 calendar months.
    assert values["tfi_months"] == 5.0
    assert values["preceding_course"] == "ICI-1"
    # PR on 2024-10-05 confirmed by a PR 35 days later (≥ 28); the PD after it ends the window.
    assert values["best_overall_response"] == "PR"
    assert (values["objective_response"], values["disease_control"]) == (True, True)
    # PFS2: 2024-08-10 → PD 2025-02-01 = 21 + 30 + 31 + 30 + 31 + 31 + 1 = 175 days; 175 / 30.4375 = 5.7495.
    assert (values["pfs2_months"], values["pfs2_event"]) == (5.75, True)
    # OS: 2024-08-10 → death 2025-05-20 = 175 - 1 + 28 + 31 + 30 + 20 = 283 days; 283 / 30.4375 = 9.2977.
    assert (values["os_months"], values["os_event"]) == (9.30, True)
    # No irAE during the rechallenge: the time to one ends with the competing death.
    assert (values["recurrence_any_grade"], values["recurrence_any_grade_event"]) == (False, "death")
    assert values["recurrence_any_grade_months"] == 9.30
    assert values["imputed"] == []


def test_a_month_precision_start_is_named_in_imputed(site_a, data_entry_a):
    patient = PatientFactory(site=site_a)
    InitialCourseFactory(
        patient=patient,
        start_date=dt.date(2024, 1, 15),  # typed as "2024-01": the mid-month rule
        start_date_precision="month",
        stop_date=dt.date(2024, 3, 10),
        stop_reason="toxicity",
    )
    episode = RechallengeEpisodeFactory(patient=patient, start_date=dt.date(2024, 8, 10))
    values = _derived(fresh_client_for(data_entry_a), episode)
    # 2024-01-15 → 2024-07-15 is 6 calendar months, then 26 of the 31 days to 2024-08-15: 6.8387.
    assert values["pfs1_months"] == 6.84
    assert values["tfi_months"] == 5.0
    assert values["imputed"] == ["pfs1_months"]
    # Nothing recorded after the rechallenge: no response (a non-responder among all treated); PFS2 without an
    # adequate assessment is censored at the rechallenge start (0 months); OS has no last contact to censor at.
    assert (values["best_overall_response"], values["objective_response"]) == (None, False)
    assert (values["pfs2_months"], values["pfs2_event"]) == (0.0, False)
    assert (values["os_months"], values["os_event"]) == (None, None)


def test_the_api_says_what_the_patient_page_computes(treated, coordinator):
    """The same derivation, value for value: the page's adapter output against the API's object."""
    page_values = derive_patient(derived.patient_records(patient_timeline(patient=treated.patient)))
    assert _derived(fresh_client_for(coordinator), treated) == page_values.episodes[treated.pk].api_dict()


def test_the_list_carries_the_same_derived_values_as_the_detail(treated, data_entry_a):
    client = fresh_client_for(data_entry_a)
    [row] = client.get(f"{API}/episodes/").json()["results"]
    assert row["derived"] == _derived(client, treated)


def test_derived_is_read_only_and_follows_a_change(treated, data_entry_a):
    client = fresh_client_for(data_entry_a)
    response = client.patch(
        f"{API}/episodes/{treated.pk}/",
        {"start_date": "2024-09-10", "derived": {"pfs1_months": 99}},
        format="json",
        **if_match(treated),
    )
    assert response.status_code == 200, response.content
    # ICI-1 stop 2024-03-10 → 2024-09-10: 6 calendar months; the PFS1 censoring moves to 2024-09-10: 8 months.
    assert (response.json()["derived"]["tfi_months"], response.json()["derived"]["pfs1_months"]) == (6.0, 8.0)


def test_the_schema_documents_every_key_the_api_sends(treated, data_entry_a):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = schema["components"]["schemas"]["EpisodeDerived"]["properties"]
    assert set(documented) == set(_derived(fresh_client_for(data_entry_a), treated))
    assert {
        "pfs1_months",
        "pfs1_event",
        "tfi_months",
        "best_overall_response",
        "objective_response",
        "disease_control",
        "pfs2_months",
        "pfs2_event",
        "os_months",
        "os_event",
        "imputed",
    } <= set(documented)


# --- a page costs the same queries at any size ---------------------------------------------------------

ROWS = 50
#: The request's own: a token (center staff: token, savepoint and its release) or a verified session (coordinator:
#: session, user, TOTP device, savepoint and release, and the session saved in a second savepoint); then
#: memberships, count and page; then every record of the page's patients at once: ICI-1 courses, episodes,
#: their responses and follow-ups, irAEs. The same at 5 rows and at 50.
EPISODE_LIST_QUERIES = {"data_entry_a": 3 + 3 + 5, "coordinator": 5 + 3 + 3 + 5}


def _full_cases(site) -> None:
    for _ in range(ROWS):
        episode = RechallengeEpisodeFactory(patient=InitialCourseFactory(patient__site=site).patient)
        AdverseEventFactory(patient=episode.patient)
        ResponseAssessmentFactory(episode=episode)
        FollowUpFactory(episode=episode)


@pytest.mark.parametrize("user", ["data_entry_a", "coordinator"])
def test_a_page_of_episodes_with_derived_values_costs_a_fixed_number_of_queries(site_a, user, request):
    _full_cases(site_a)
    client = fresh_client_for(request.getfixturevalue(user))
    for size in (5, ROWS):
        with CaptureQueriesContext(connection) as queries:
            rows = client.get(f"{API}/episodes/", {"page_size": size}).json()["results"]
        assert len(rows) == size
        assert all(row["derived"]["best_overall_response"] is not None for row in rows)
        assert len(queries.captured_queries) == EPISODE_LIST_QUERIES[user], [q["sql"] for q in queries]
