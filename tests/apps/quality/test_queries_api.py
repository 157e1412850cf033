"""``/api/v1/queries/``: the list with real values, its filters and scoping, a query's thread, and each step."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.quality import services
from apps.quality.models import DataQuery
from tests.apps.clinical.api_support import token_client_for, verified_session_client_for
from tests.apps.quality.queries_support import automatic_query
from tests.factories import PatientFactory, RechallengeEpisodeFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/queries/"


@pytest.fixture
def episode_a(site_a):
    return RechallengeEpisodeFactory(patient=PatientFactory(site=site_a), albumin_g_per_l=decimal.Decimal("3.9"))


@pytest.fixture
def episode_b(site_b):
    return RechallengeEpisodeFactory(patient=PatientFactory(site=site_b), albumin_g_per_l=decimal.Decimal("4.1"))


@pytest.fixture
def query_a(episode_a):
    query = automatic_query(episode_a, message="Albumin 3.9 g/L is implausible.")
    DataQuery.objects.filter(pk=query.pk).update(opened_at=timezone.now() - dt.timedelta(days=12, hours=1))
    query.refresh_from_db()
    return query


@pytest.fixture
def query_b(episode_b):
    return automatic_query(episode_b, message="Albumin 4.1 g/L is implausible.")


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_the_list_gives_each_query_with_its_real_values(query_a, episode_a, data_entry_a, site_a):
    (row,) = rows(token_client_for(data_entry_a).get(URL))
    assert row == {
        "id": query_a.pk,
        "rule_id": "implausible_value",
        "rule_title": "Implausible value",
        "status": "open",
        "resolution": "",
        "site": "AAA",
        "patient": episode_a.patient.registry_id,
        "record_type": "episode",
        "record_id": episode_a.pk,
        "field": "albumin_g_per_l",
        "field_label": row["field_label"],
        "message": "Albumin 3.9 g/L is implausible.",
        "value_seen": "3.9",
        "coordinators_only": False,
        "opened_at": row["opened_at"],
        "answered_at": None,
        "closed_at": None,
        "age_days": 12,
        "reopened_count": 0,
        "record_url": f"/patients/{episode_a.patient.registry_id}/#episode-{episode_a.pk}",
    }
    assert row["field_label"].startswith("Albumin")
    assert dt.datetime.fromisoformat(row["opened_at"].replace("Z", "+00:00")) == query_a.opened_at


def test_center_staff_list_their_sites_queries_only_and_not_those_kept_for_coordinators(
    query_a, query_b, episode_a, data_entry_a, site_pi_a
):
    hidden = automatic_query(episode_a, rule_id="duplicate_patient", field="", coordinators_only=True)
    for client in (token_client_for(data_entry_a), verified_session_client_for(site_pi_a)):
        assert [row["id"] for row in rows(client.get(URL))] == [query_a.pk]
        assert client.get(f"{URL}{query_b.pk}/").status_code == 404
        assert client.get(f"{URL}{hidden.pk}/").status_code == 404


def test_coordinators_list_every_query_and_filter_it(query_a, query_b, episode_b, coordinator):
    client = verified_session_client_for(coordinator)
    assert {row["id"] for row in rows(client.get(URL))} == {query_a.pk, query_b.pk}
    assert [row["id"] for row in rows(client.get(URL, {"site": "BBB"}))] == [query_b.pk]
    assert [row["id"] for row in rows(client.get(URL, {"patient": episode_b.patient.registry_id}))] == [query_b.pk]
    assert rows(client.get(URL, {"rule_id": "date_order"})) == []
    assert len(rows(client.get(URL, {"rule_id": "implausible_value", "record_type": "episode"}))) == 2
    services.query_close(query=query_b, user=coordinator)
    assert [row["id"] for row in rows(client.get(URL, {"status": "closed"}))] == [query_b.pk]
    bad = client.get(URL, {"status": "pending", "record_type": "nope"})
    assert bad.status_code == 400
    assert set(bad.json()) >= {"status", "record_type"}


def test_investigators_reach_no_query(query_a, investigator):
    client = verified_session_client_for(investigator)
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}{query_a.pk}/").status_code == 404


def test_a_hidden_field_s_value_is_shown_to_its_site_only(site_a, data_entry_a, coordinator):
    patient = PatientFactory(site=site_a)
    query = automatic_query(patient, rule_id="required_missing", field="date_of_birth")
    DataQuery.objects.filter(pk=query.pk).update(value_seen="1958-03-04")
    staff = token_client_for(data_entry_a).get(f"{URL}{query.pk}/").json()
    assert staff["value_seen"] == "1958-03-04"
    seen = verified_session_client_for(coordinator).get(f"{URL}{query.pk}/")
    assert seen.json()["value_seen"] == ""
    assert "1958-03-04" not in seen.content.decode()


def test_the_list_costs_the_same_few_queries_for_one_row_or_thirty(episode_a, data_entry_a, site_a):
    client = token_client_for(data_entry_a)
    automatic_query(episode_a)
    client.get(URL)
    with CaptureQueriesContext(connection) as one:
        assert len(rows(client.get(URL))) == 1
    for number in range(29):
        automatic_query(episode_a, rule_id="required_missing", field=f"f{number}")
    with CaptureQueriesContext(connection) as thirty:
        assert len(rows(client.get(URL))) == 30
    assert len(thirty.captured_queries) == len(one.captured_queries) <= 6


def test_a_coordinator_raises_a_query_through_the_api(episode_a, coordinator):
    client = verified_session_client_for(coordinator)
    body = {"record_type": "episode", "record_id": episode_a.pk, "field": "albumin_g_per_l", "message": "g/dL?"}
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    made = response.json()
    assert (made["status"], made["site"], made["rule_id"], made["value_seen"]) == ("open", "AAA", "", "3.9")
    assert made["comments"] == [
        {"action": "opened", "author": "coordinator", "text": "g/dL?", "created_at": made["comments"][0]["created_at"]}
    ]
    refused = client.post(URL, {**body, "field": "nonsense"}, format="json")
    assert refused.status_code == 400 and "field" in refused.json()


def test_center_staff_cannot_raise_queries(episode_a, data_entry_a):
    body = {"record_type": "episode", "record_id": episode_a.pk, "message": "?"}
    assert token_client_for(data_entry_a).post(URL, body, format="json").status_code == 403


def test_the_site_answers_and_the_coordinator_closes_through_the_api(query_a, data_entry_a, coordinator):
    staff, desk = token_client_for(data_entry_a), verified_session_client_for(coordinator)
    answered = staff.post(
        f"{URL}{query_a.pk}/answer/", {"text": "Lab sheet says 3.9", "confirmed": True}, format="json"
    )
    assert answered.status_code == 200, answered.content
    assert (answered.json()["status"], answered.json()["resolution"]) == ("answered", "confirmed")
    assert answered.json()["answered_by"] == "entry_a"
    again = staff.post(f"{URL}{query_a.pk}/answer/", {"text": "x"}, format="json")
    assert again.status_code == 409 and "status" in again.json()
    assert desk.post(f"{URL}{query_a.pk}/answer/", {"text": "x"}, format="json").status_code == 403
    assert staff.post(f"{URL}{query_a.pk}/close/", {}, format="json").status_code == 403
    closed = desk.post(f"{URL}{query_a.pk}/close/", {"resolution": "confirmed", "text": "ok"}, format="json")
    assert closed.status_code == 200, closed.content
    body = closed.json()
    assert (body["status"], body["resolution"], body["closed_by"]) == ("closed", "confirmed", "coordinator")
    assert [step["action"] for step in body["comments"]] == ["opened", "answered", "closed"]
    reopened = desk.post(f"{URL}{query_a.pk}/reopen/", {"text": "Please recheck the unit"}, format="json")
    assert (reopened.status_code, reopened.json()["status"], reopened.json()["reopened_count"]) == (200, "open", 1)
    assert desk.post(f"{URL}{query_a.pk}/reopen/", {"text": "x"}, format="json").status_code == 409
    commented = staff.post(f"{URL}{query_a.pk}/comment/", {"text": "Will do"}, format="json")
    assert commented.status_code == 200 and commented.json()["comments"][-1]["text"] == "Will do"
    assert staff.post(f"{URL}{query_a.pk}/comment/", {"text": ""}, format="json").status_code == 400


def test_steps_on_another_site_s_query_answer_404(query_b, data_entry_a):
    client = token_client_for(data_entry_a)
    for step in ("answer", "comment"):
        assert client.post(f"{URL}{query_b.pk}/{step}/", {"text": "x"}, format="json").status_code == 404
    query_b.refresh_from_db()
    assert query_b.status == "open" and query_b.comments.count() == 1


def test_a_malformed_or_huge_id_answers_a_json_404(data_entry_a):
    client = token_client_for(data_entry_a)
    for key in ("abc", str(2**70), "0"):
        response = client.get(f"{URL}{key}/")
        assert response.status_code == 404 and response["Content-Type"].startswith("application/json"), key
    assert client.get(URL, {"page": 99}).status_code == 404
