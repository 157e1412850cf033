"""The patient list: stored status columns kept exact by every write, sorting, prefix search and keyset pages."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.clinical.models import Patient, PatientSummary
from apps.clinical.selectors import BadCursor, patient_keyset_cursor, patient_list_cursor, patient_list_page
from apps.clinical.services import patient_transfer, record_delete
from apps.clinical.summaries import patient_summaries_refresh
from apps.quality.models import PatientOpenQueries, PatientSiteOpenQueries
from apps.quality.panels import open_query_counts_refresh
from apps.quality.services import query_close, query_raise
from tests.apps.clinical.api_support import (
    EPISODES,
    FOLLOW_UPS,
    INITIAL_COURSES,
    PATIENTS,
    client_for,
    verified_session_client_for,
)
from tests.apps.clinical.test_views_pages import page, sign_in
from tests.factories import FollowUpFactory, InitialCourseFactory, PatientFactory, RechallengeEpisodeFactory

LIST = "clinical:patient-list"


def summary(registry_id: str) -> PatientSummary:
    return PatientSummary.objects.get(patient__registry_id=registry_id)


# --- The stored values follow every write ---------------------------------------------------------------------


def test_a_patient_registered_through_the_api_has_a_draft_summary(site_a, data_entry_a):
    created = client_for(data_entry_a).post(PATIENTS.list_url(), PATIENTS.payload(site_a), format="json")
    stored = summary(created.json()["registry_id"])

    assert (stored.site_id, stored.registry_id) == (site_a.pk, created.json()["registry_id"])
    assert (stored.has_initial_course, stored.episode_count, stored.enrolled) == (False, 0, False)
    assert stored.last_follow_up_date is None and stored.status.value == "draft"


def test_ici1_an_episode_and_a_follow_up_show_in_the_summary_as_they_are_written(site_a, data_entry_a):
    client = client_for(data_entry_a)
    course = client.post(INITIAL_COURSES.list_url(), INITIAL_COURSES.payload(site_a), format="json").json()
    assert summary(course["patient"]).has_initial_course

    follow_up = client.post(FOLLOW_UPS.list_url(), FOLLOW_UPS.payload(site_a), format="json").json()
    stored = summary(follow_up["patient"])
    assert (stored.episode_count, stored.last_follow_up_date) == (1, dt.date(2024, 9, 1))

    episode = client.post(EPISODES.list_url(), EPISODES.payload(site_a), format="json").json()
    assert summary(episode["patient"]).episode_count == 1


def test_deleting_a_follow_up_recounts_the_last_follow_up(site_a, data_entry_a):
    episode = RechallengeEpisodeFactory(patient=PatientFactory(site=site_a))
    FollowUpFactory(episode=episode, follow_up_date=dt.date(2024, 3, 1), last_known_alive_date=dt.date(2024, 3, 1))
    latest = FollowUpFactory(
        episode=episode, follow_up_date=dt.date(2024, 9, 1), last_known_alive_date=dt.date(2024, 9, 1)
    )
    patient_summaries_refresh(patient_ids=[episode.patient_id])
    assert summary(episode.patient.registry_id).last_follow_up_date == dt.date(2024, 9, 1)

    record_delete(instance=latest, user=data_entry_a, channel="web", reason="Entered twice")
    assert summary(episode.patient.registry_id).last_follow_up_date == dt.date(2024, 3, 1)


def test_a_transfer_moves_the_summary_to_the_new_site_and_a_deleted_patient_takes_it_along(
    site_a, site_b, coordinator, data_entry_a
):
    patient = PatientFactory(site=site_a)
    patient_summaries_refresh(patient_ids=[patient.pk])
    moved = patient_transfer(patient=patient, to_site=site_b, user=coordinator, reason="Followed up at B")
    assert summary(moved.registry_id).site_id == site_b.pk

    other = PatientFactory(site=site_a)
    patient_summaries_refresh(patient_ids=[other.pk])
    record_delete(instance=other, user=data_entry_a, channel="web", reason="Registered by mistake")
    assert not PatientSummary.objects.filter(patient_id=other.pk).exists()


def test_the_case_status_is_signed_complete_or_draft_as_the_case_status_rule_says(site_a):
    signed = PatientFactory(site=site_a, signed_at=timezone.now())
    complete = PatientFactory(site=site_a, is_complete=True)
    InitialCourseFactory(patient=complete, is_complete=True)
    half = PatientFactory(site=site_a, is_complete=True)
    InitialCourseFactory(patient=half, is_complete=False)
    bare = PatientFactory(site=site_a, is_complete=True)
    patient_summaries_refresh(patient_ids=None)

    assert [summary(p.registry_id).status.value for p in (signed, complete, half, bare)] == [
        "signed",
        "complete",
        "draft",
        "draft",  # nothing recorded beyond the patient: no case yet
    ]


def test_open_query_counts_follow_raising_and_closing_and_hide_queries_kept_for_coordinators(site_a, coordinator):
    patient = PatientFactory(site=site_a)
    shown = query_raise(user=coordinator, record_type="patient", record_id=patient.pk, message="Check the sex.")
    query_raise(
        user=coordinator, record_type="patient", record_id=patient.pk, message="Blinded.", coordinators_only=True
    )
    assert PatientOpenQueries.objects.get(patient=patient).count == 2
    assert PatientSiteOpenQueries.objects.get(patient=patient).count == 1

    query_close(query=shown, user=coordinator, text="Fine.")
    assert PatientOpenQueries.objects.get(patient=patient).count == 1
    assert not PatientSiteOpenQueries.objects.filter(patient=patient).exists()


# --- Sorting and keyset pages -----------------------------------------------------------------------------------


@pytest.fixture
def cohort(site_a, site_b):
    """23 patients at AAA and 7 at BBB with a spread of ICI-1, episodes, follow-ups and open queries."""
    patients = []
    for n in range(30):
        site = site_a if n < 23 else site_b
        patient = PatientFactory(site=site, registry_id=f"{site.code}-{n:06d}")
        if n % 3:
            InitialCourseFactory(patient=patient)
        for sequence in range(n % 4 if n % 3 else 0):
            episode = RechallengeEpisodeFactory(
                patient=patient, sequence_number=sequence + 1, start_date=dt.date(2024, 1 + sequence, 1)
            )
            if n % 2:
                day = dt.date(2024, 1 + n % 12, 1 + sequence)
                FollowUpFactory(episode=episode, follow_up_date=day, last_known_alive_date=day)
        patients.append(patient)
    patient_summaries_refresh(patient_ids=None)
    open_query_counts_refresh(patient_ids=None)
    return patients


def _walk(user, sort: str, size: int = 4, **filters) -> list[str]:
    """Every row of the list in ``sort`` order, read page by page through the "Next" cursors."""
    seen: list[str] = []
    page_ = patient_list_page(user=user, sort=sort, size=size, **filters)
    while True:
        seen += [patient.registry_id for patient in page_.rows]
        if page_.next_cursor is None:
            return seen
        page_ = patient_list_page(user=user, sort=sort, size=size, after=page_.next_cursor, **filters)


def _expected(patients, key, *, descending: bool, empty_last: bool = True) -> list[str]:
    """The list's order: by ``key`` (empty values last unless said otherwise), registry IDs ascending within."""
    valued = [p for p in patients if key(p) is not None]
    empty = sorted(p.registry_id for p in patients if key(p) is None)
    ordered = sorted(valued, key=lambda p: p.registry_id)
    ordered = [p.registry_id for p in sorted(ordered, key=key, reverse=descending)]
    return ordered + empty if empty_last else empty + ordered


def _stored(patient, name):
    return getattr(PatientSummary.objects.get(patient=patient), name)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize(
    ("sort", "field"),
    [
        ("status", "case_status"),
        ("initial_course", "has_initial_course"),
        ("episodes", "episode_count"),
        ("enrolled", "enrolled"),
        ("last_follow_up", "last_follow_up_date"),
    ],
)
def test_every_keyset_page_continues_the_order_where_the_last_one_ended(cohort, coordinator, sort, field, descending):
    expected = _expected(cohort, lambda p: _stored(p, field), descending=descending)

    assert _walk(coordinator, f"-{sort}" if descending else sort) == expected


@pytest.mark.parametrize("sort", ["registry_id", "-registry_id", "site", "-site"])
def test_registry_id_and_site_orders_page_through_every_patient_once(cohort, coordinator, sort):
    by_id = sorted(p.registry_id for p in cohort)
    expected = {
        "registry_id": by_id,
        "-registry_id": by_id[::-1],
        "site": by_id,  # AAA's patients, then BBB's
        "-site": [r for r in by_id if r.startswith("BBB")] + [r for r in by_id if r.startswith("AAA")],
    }[sort]

    assert _walk(coordinator, sort) == expected


@pytest.mark.parametrize("descending", [False, True])
def test_open_queries_sort_none_as_the_fewest_and_count_only_what_the_user_sees(
    cohort, coordinator, data_entry_a, descending
):
    for n, patient in enumerate(cohort[:6]):
        for _ in range(1 + n % 3):
            query_raise(user=coordinator, record_type="patient", record_id=patient.pk, message="Check.")
    query_raise(
        user=coordinator, record_type="patient", record_id=cohort[9].pk, message="Blinded.", coordinators_only=True
    )

    def open_count(patient, table):
        row = table.objects.filter(patient=patient).first()
        return row.count if row else None

    sort = "-open_queries" if descending else "open_queries"
    for user, table, patients in (
        (coordinator, PatientOpenQueries, cohort),
        (data_entry_a, PatientSiteOpenQueries, cohort[:23]),
    ):
        expected = _expected(
            patients, lambda p, t=table: open_count(p, t), descending=descending, empty_last=descending
        )
        assert _walk(user, sort) == expected


def test_previous_goes_back_one_page_and_the_first_page_comes_back_whole(cohort, coordinator):
    first = patient_list_page(user=coordinator, sort="-episodes", size=4)
    second = patient_list_page(user=coordinator, sort="-episodes", size=4, after=first.next_cursor)
    third = patient_list_page(user=coordinator, sort="-episodes", size=4, after=second.next_cursor)

    back = patient_list_page(user=coordinator, sort="-episodes", size=4, before=third.previous_cursor)
    assert back.rows == second.rows and not back.is_first
    again = patient_list_page(user=coordinator, sort="-episodes", size=4, before=second.previous_cursor)
    assert again.rows == first.rows and again.is_first and again.previous_cursor is None


def test_a_cursor_of_another_order_or_an_edited_one_is_refused_and_the_page_shows_the_first_rows(
    client, cohort, coordinator
):
    cursor = patient_list_page(user=coordinator, sort="status", size=4).next_cursor
    for bad in (cursor, "not-a-cursor", "W10"):
        with pytest.raises(BadCursor):
            patient_list_page(user=coordinator, sort="-episodes", after=bad)
    response = sign_in(client, coordinator).get(reverse(LIST), {"sort": "-episodes", "after": cursor})
    assert response.status_code == 200 and response.context["page"].is_first


def _queries_of(client, sort: str, after: str | None = None) -> int:
    params = {"sort": sort} | ({"after": after} if after else {})
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse(LIST), params).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("sort", ["registry_id", "-status", "last_follow_up", "-open_queries", "open_queries", "site"])
def test_a_deep_page_costs_the_queries_of_the_first(client, cohort, data_entry_a, sort):
    sign_in(client, data_entry_a)
    _queries_of(client, sort)  # the session's first request
    deep = patient_list_page(user=data_entry_a, sort=sort, size=4)
    deep = patient_list_page(user=data_entry_a, sort=sort, size=4, after=deep.next_cursor)

    first = _queries_of(client, sort)
    assert first <= 16
    # at most the rest of the cursor's value, the values beyond it and the empty ones: one index range each
    assert _queries_of(client, sort, deep.next_cursor) <= first + 2


def test_the_page_links_next_previous_and_the_first_page(client, cohort, data_entry_a, monkeypatch):
    monkeypatch.setattr("apps.clinical.views.PAGE_SIZE", 10)
    sign_in(client, data_entry_a)
    first = client.get(reverse(LIST), {"sort": "-episodes", "q": "AAA"})
    html = first.content.decode()
    assert "23 patients" in html and "Next ›" in html and "‹ Previous" not in html and "First page" not in html
    second = client.get(reverse(LIST), {"sort": "-episodes", "q": "AAA", "after": first.context["page"].next_cursor})
    html = second.content.decode()
    assert "‹ Previous" in html and "« First page" in html and "Next ›" in html
    assert "q=AAA" in html.split("Next ›")[0].rsplit("href=", 1)[1]  # the search and the order are kept
    back = client.get(
        reverse(LIST), {"sort": "-episodes", "q": "AAA", "before": second.context["page"].previous_cursor}
    )
    assert [row.registry_id for row in back.context["rows"]] == [row.registry_id for row in first.context["rows"]]


# --- Search -------------------------------------------------------------------------------------------------------


def test_search_matches_the_start_of_a_registry_id_in_any_case_and_never_its_middle(client, cohort, coordinator):
    sign_in(client, coordinator)
    rows = client.get(reverse(LIST), {"q": "aaa-00001"}).context["rows"]
    assert [row.registry_id for row in rows] == [f"AAA-{n:06d}" for n in range(10, 20)]
    assert client.get(reverse(LIST), {"q": "00001"}).context["page"].count == 0


def test_a_local_identifier_is_found_by_its_start_at_ones_own_sites_only(client, site_a, site_b, data_entry_a):
    mine = PatientFactory(site=site_a, local_identifier="MRN-77120")
    theirs = PatientFactory(site=site_b, local_identifier="MRN-77121")
    sign_in(client, data_entry_a)

    found = client.get(reverse(LIST), {"q": "mrn-771"}).context["rows"]
    assert [row.registry_id for row in found] == [mine.registry_id]
    assert theirs.registry_id not in page(client, f"{reverse(LIST)}?q=MRN-77121")


def test_coordinators_search_by_registry_id_only(client, site_a, coordinator):
    PatientFactory(site=site_a, local_identifier="MRN-55501")
    sign_in(client, coordinator)
    assert client.get(reverse(LIST), {"q": "MRN-555"}).context["page"].count == 0


def test_the_list_sorted_by_a_status_column_shows_patients_the_services_wrote(client, site_a, data_entry_a):
    created = client_for(data_entry_a).post(PATIENTS.list_url(), PATIENTS.payload(site_a), format="json").json()
    sign_in(client, data_entry_a)
    rows = client.get(reverse(LIST), {"sort": "-status"}).context["rows"]
    assert [row.registry_id for row in rows] == [created["registry_id"]]
    assert Patient.objects.count() == 1


# --- The API's cursor pages -----------------------------------------------------------------------------------------


def test_the_api_pages_by_cursor_through_every_patient_once_and_back(cohort, coordinator):
    client = verified_session_client_for(coordinator)
    seen, url = [], f"{PATIENTS.list_url()}?cursor=&page_size=7"
    pages = []
    while url:
        body = client.get(url).json()
        assert body["count"] == 30
        pages.append(body)
        seen += [row["registry_id"] for row in body["results"]]
        url = body["next"]
    assert seen == sorted(p.registry_id for p in cohort)
    assert pages[0]["previous"] is None
    back = client.get(pages[2]["previous"]).json()
    assert back["results"] == pages[1]["results"]


def test_the_api_keeps_its_numbered_pages_and_refuses_a_bad_cursor_with_a_field_error(cohort, coordinator):
    client = verified_session_client_for(coordinator)
    numbered = client.get(PATIENTS.list_url(), {"page": 2, "page_size": 7}).json()
    assert [row["registry_id"] for row in numbered["results"]] == sorted(p.registry_id for p in cohort)[7:14]
    assert "page=3" in numbered["next"]

    refused = client.get(PATIENTS.list_url(), {"cursor": "nonsense"})
    assert refused.status_code == 400 and "cursor" in refused.json()


def test_the_api_search_matches_the_start_of_a_registry_id(cohort, coordinator):
    client = verified_session_client_for(coordinator)
    body = client.get(PATIENTS.list_url(), {"search": "bbb-00002"}).json()
    assert [row["registry_id"] for row in body["results"]] == [f"BBB-{n:06d}" for n in range(23, 30)]


def test_a_nul_in_a_search_or_a_cursor_finds_nothing_rather_than_failing(client, cohort, coordinator):
    sign_in(client, coordinator)
    assert client.get(reverse(LIST), {"q": "AAA\x00"}).context["page"].count == 0
    nul_cursor = base64.urlsafe_b64encode(json.dumps(["status", 0, "AAA\x00"]).encode()).decode()
    with pytest.raises(BadCursor):
        patient_list_page(user=coordinator, sort="status", after=nul_cursor)
    refused = verified_session_client_for(coordinator).get(
        PATIENTS.list_url(), {"cursor": patient_keyset_cursor(registry_id="AAA\x00")}
    )
    assert refused.status_code == 400


def test_a_link_to_the_page_after_any_patient_starts_right_after_them(cohort, coordinator):
    for sort in ("-open_queries", "open_queries", "-last_follow_up", "site"):
        order = _walk(coordinator, sort, size=50)
        for patient in (cohort[0], cohort[17], cohort[29]):
            cursor = patient_list_cursor(user=coordinator, sort=sort, patient=patient)
            rows = patient_list_page(user=coordinator, sort=sort, size=3, after=cursor).rows
            at = order.index(patient.registry_id)
            assert [row.registry_id for row in rows] == order[at + 1 : at + 4], (sort, patient.registry_id)
