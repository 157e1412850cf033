"""The dashboard's pages, who reaches them, and the patient list's status columns and sorting."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from apps.clinical.models import Patient
from apps.clinical.services import record_update
from apps.clinical.summaries import patient_summaries_refresh
from apps.quality.dashboard import CACHE_PREFIX, dashboard_for_user
from apps.quality.models import DataQuery
from apps.quality.panels import open_query_counts_refresh
from tests.apps.quality.queries_support import automatic_query, sign_in
from tests.factories import (
    FollowUpFactory,
    InitialCourseFactory,
    PatientFactory,
    RechallengeEpisodeFactory,
)

UTC = dt.UTC


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cases(site_a, site_b):
    """At AAA: a draft with an enrolled rechallenge and two follow-ups, a complete case, a signed one, a bare
    patient; at BBB: one patient with an open query."""
    draft = PatientFactory(site=site_a, registry_id="AAA-000010", local_identifier="SECRET-DRAFT")
    InitialCourseFactory(patient=draft)
    episode = RechallengeEpisodeFactory(patient=draft, enrolled_at=dt.datetime(2026, 3, 2, tzinfo=UTC))
    FollowUpFactory(episode=episode, follow_up_date=dt.date(2024, 8, 1), last_known_alive_date=dt.date(2024, 8, 1))
    FollowUpFactory(episode=episode, follow_up_date=dt.date(2025, 2, 1), last_known_alive_date=dt.date(2025, 2, 1))
    complete = PatientFactory(site=site_a, registry_id="AAA-000020", is_complete=True)
    InitialCourseFactory(patient=complete, is_complete=True)
    signed = PatientFactory(site=site_a, registry_id="AAA-000030", signed_at=timezone.now())
    InitialCourseFactory(patient=signed)
    bare = PatientFactory(site=site_a, registry_id="AAA-000040", is_complete=True)
    other = PatientFactory(site=site_b, registry_id="BBB-000010")
    InitialCourseFactory(patient=other)
    automatic_query(episode, field="albumin_g_per_l")
    automatic_query(episode, rule_id="follow_up_overdue", field="")
    automatic_query(episode, rule_id="required_missing", field="ldh_above_uln", coordinators_only=True)
    automatic_query(other.initial_course, rule_id="required_missing", field="iraes_during_course")
    # the factories bypass the services that keep the list's stored values
    patient_summaries_refresh(patient_ids=None)
    open_query_counts_refresh(patient_ids=None)
    return {"draft": draft, "complete": complete, "signed": signed, "bare": bare, "other": other, "episode": episode}


def _list(client, **params):
    response = client.get(reverse("clinical:patient-list"), params)
    assert response.status_code == 200
    return response


# --- Who reaches the dashboard -------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in_and_investigators_are_refused(client, cases, investigator):
    for url in (reverse("quality:dashboard"), reverse("quality:drilldown", args=["patients"])):
        assert client.get(url).status_code == 302
    sign_in(client, investigator)
    for url in (reverse("quality:dashboard"), reverse("quality:drilldown", args=["patients"])):
        assert client.get(url).status_code == 403


def test_center_staff_see_their_site_only_and_never_another_site_s_records(client, cases, data_entry_a):
    sign_in(client, data_entry_a)
    html = client.get(reverse("quality:dashboard")).text

    assert 'data-site="AAA"' in html and 'data-site="BBB"' not in html and "Site B" not in html
    assert client.get(reverse("quality:drilldown", args=["patients"]), {"site": "BBB"}).status_code == 404
    assert client.get(reverse("quality:drilldown", args=["nonsense"])).status_code == 404
    listed = client.get(reverse("quality:drilldown", args=["open-queries"])).text
    assert "BBB-000010" not in listed
    assert listed.count("<tr>") - 1 == 2  # AAA's two queries; the one kept for coordinators is not among them


def test_a_coordinator_sees_every_site_pseudonymised_with_each_figure_linked_to_its_records(client, cases, coordinator):
    sign_in(client, coordinator)
    html = client.get(reverse("quality:dashboard")).text

    assert 'data-site="AAA"' in html and 'data-site="BBB"' in html and 'data-site="total"' in html
    row = re.search(r'<tr data-site="AAA">(.*?)</tr>', html, re.S).group(1)
    patients = re.search(r'data-figure="patients"><a href="([^"]+)">(\d+)</a>', row)
    assert patients.groups() == (reverse("quality:drilldown", args=["patients"]) + "?site=AAA", "4")
    assert re.search(r'data-figure="open_queries"><a href="[^"]+open-queries/\?site=AAA">3</a>', row)
    assert re.search(r'data-figure="overdue"><a href="[^"]+overdue/\?site=AAA">1</a>', row)
    assert re.search(r'data-figure="signed"><a [^>]*>25\.0%</a>', row)
    assert "SECRET-DRAFT" not in html
    assert "How the figures are computed" in html and "missing-data code" in html
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and 'data-month="2026-03"' in html

    drilled = client.get(reverse("quality:drilldown", args=["patients"]), {"site": "AAA"}).text
    assert re.findall(r">(AAA-\d+)</a>", drilled) == [
        "AAA-000010",
        "AAA-000020",
        "AAA-000030",
        "AAA-000040",
    ]
    assert "SECRET-DRAFT" not in drilled and "BBB-000010" not in drilled


def test_the_dashboard_page_runs_a_fixed_number_of_queries(client, cases, coordinator, django_assert_max_num_queries):
    sign_in(client, coordinator)
    client.get(reverse("quality:dashboard"))  # fills the cache
    # session, user, roles, the navigation's query count; sites, queries, signatures, SDV marks (the clinical
    # figures come from the cache); the same whatever the number of sites or records
    with django_assert_max_num_queries(14):
        assert client.get(reverse("quality:dashboard")).status_code == 200


def test_a_clinical_write_refreshes_its_site_s_figures_once_committed(
    client, cases, data_entry_a, django_capture_on_commit_callbacks
):
    key = f"{CACHE_PREFIX}{cases['complete'].site_id}"
    assert dashboard_for_user(user=data_entry_a).total.required_applicable == 25
    InitialCourseFactory(patient=cases["bare"])  # not through the services: the cached figures do not know yet
    assert dashboard_for_user(user=data_entry_a).total.required_applicable == 25
    complete = Patient.objects.get(pk=cases["complete"].pk)

    with django_capture_on_commit_callbacks(execute=True):
        record_update(
            instance=complete, data={"histology": "adenocarcinoma"}, user=data_entry_a, channel="web", reason="typo"
        )
        assert cache.get(key) is not None  # forgotten only once the write commits

    assert cache.get(key) is None
    assert dashboard_for_user(user=data_entry_a).total.required_applicable == 29  # the new ICI-1's four fields


# --- The patient list's status columns -----------------------------------------------------------------------


def test_the_patient_list_shows_each_case_s_status_enrollment_last_follow_up_and_open_queries(
    client, cases, data_entry_a
):
    sign_in(client, data_entry_a)
    rows = {row.registry_id: row for row in _list(client).context["rows"]}

    assert {key: row.case_status for key, row in rows.items()} == {
        "AAA-000010": "draft",
        "AAA-000020": "complete",
        "AAA-000030": "signed",
        "AAA-000040": "draft",  # nothing recorded beyond the patient: no case yet
    }
    assert [rows[key].enrolled for key in sorted(rows)] == [True, False, False, False]
    assert rows["AAA-000010"].last_follow_up == dt.date(2025, 2, 1)
    assert rows["AAA-000020"].last_follow_up is None
    # two open queries the site sees; the one kept for coordinators is not counted for it
    assert [rows[key].extra[0][0] for key in sorted(rows)] == [2, 0, 0, 0]


def test_coordinators_count_every_open_query(client, cases, coordinator):
    sign_in(client, coordinator)
    rows = {row.registry_id: row for row in _list(client).context["rows"]}

    assert rows["AAA-000010"].extra[0][0] == 3
    assert rows["BBB-000010"].extra[0][0] == 1


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("registry_id", ["AAA-000010", "AAA-000020", "AAA-000030", "AAA-000040"]),
        ("-registry_id", ["AAA-000040", "AAA-000030", "AAA-000020", "AAA-000010"]),
        ("status", ["AAA-000010", "AAA-000040", "AAA-000020", "AAA-000030"]),
        ("-status", ["AAA-000030", "AAA-000020", "AAA-000010", "AAA-000040"]),
        ("-enrolled", ["AAA-000010", "AAA-000020", "AAA-000030", "AAA-000040"]),
        ("enrolled", ["AAA-000020", "AAA-000030", "AAA-000040", "AAA-000010"]),
        ("-last_follow_up", ["AAA-000010", "AAA-000020", "AAA-000030", "AAA-000040"]),
        ("-open_queries", ["AAA-000010", "AAA-000020", "AAA-000030", "AAA-000040"]),
        ("open_queries", ["AAA-000020", "AAA-000030", "AAA-000040", "AAA-000010"]),
        ("nonsense", ["AAA-000010", "AAA-000020", "AAA-000030", "AAA-000040"]),
        ("-password", ["AAA-000010", "AAA-000020", "AAA-000030", "AAA-000040"]),
    ],
)
def test_the_patient_list_sorts_by_a_whitelisted_column(client, cases, data_entry_a, sort, expected):
    sign_in(client, data_entry_a)
    response = _list(client, sort=sort)

    assert [row.registry_id for row in response.context["rows"]] == expected
    assert response.context["sort"] == (sort if sort not in ("nonsense", "-password") else "registry_id")


def test_the_column_headers_link_to_the_sort_and_say_which_is_active(client, cases, data_entry_a):
    sign_in(client, data_entry_a)
    html = _list(client, sort="-last_follow_up", q="AAA").text

    # the active column reverses; a status column sorts the most first; the search is kept, the page is not
    assert 'aria-sort="descending"><a href="?sort=last_follow_up&amp;q=AAA">Last follow-up</a>' in html
    assert 'aria-sort="none"><a href="?sort=-open_queries&amp;q=AAA">Open queries</a>' in html
    assert 'aria-sort="none"><a href="?sort=registry_id&amp;q=AAA">Registry ID</a>' in html


def test_sorting_by_a_status_column_costs_the_same_queries(client, cases, data_entry_a, django_assert_max_num_queries):
    sign_in(client, data_entry_a)
    _list(client)
    for sort in ("registry_id", "-last_follow_up", "-open_queries", "status"):
        with django_assert_max_num_queries(16):
            _list(client, sort=sort)


def test_an_open_query_closed_leaves_the_count(client, cases, data_entry_a):
    DataQuery.objects.filter(rule_id="follow_up_overdue").update(status="closed", closed_at=timezone.now())
    sign_in(client, data_entry_a)
    rows = {row.registry_id: row for row in _list(client).context["rows"]}

    assert rows["AAA-000010"].extra[0][0] == 1
