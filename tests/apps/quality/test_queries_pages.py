"""The query pages: the inbox (what waits first, age, rule, record and field linked to the patient page,
filters, pages of fifty), a query's thread with the steps as forms, raising a query from the patient page,
the patient page's panel, and the count in the navigation bar (one COUNT)."""

from __future__ import annotations

import datetime as dt
import decimal
import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.quality import services
from apps.quality.models import DataQuery
from tests.apps.quality.queries_support import automatic_query, sign_in
from tests.factories import AdverseEventFactory, PatientFactory, RechallengeEpisodeFactory

pytestmark = pytest.mark.django_db

INBOX = "/quality/queries/"


@pytest.fixture
def episode_a(site_a):
    return RechallengeEpisodeFactory(patient=PatientFactory(site=site_a), albumin_g_per_l=decimal.Decimal("3.9"))


@pytest.fixture
def episode_b(site_b):
    return RechallengeEpisodeFactory(patient=PatientFactory(site=site_b))


def aged(query: DataQuery, days: int) -> DataQuery:
    DataQuery.objects.filter(pk=query.pk).update(opened_at=timezone.now() - dt.timedelta(days=days, hours=1))
    query.refresh_from_db()
    return query


def text_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def inbox_ids(response) -> list[int]:
    return [query.pk for query in (row["query"] for row in response.context["rows"])]


# --- the inbox ----------------------------------------------------------------------------------------------


def test_center_staff_see_their_open_queries_first_oldest_first_with_age_rule_and_record(
    client, episode_a, episode_b, data_entry_a, coordinator
):
    young = aged(automatic_query(episode_a, message="Young"), 2)
    old = aged(automatic_query(episode_a, rule_id="required_missing", field="ldh_u_per_l", message="Old"), 40)
    answered = aged(automatic_query(episode_a, rule_id="date_order", field="start_date", message="Answered"), 90)
    services.query_answer(query=answered, user=data_entry_a, text="done")
    closed = automatic_query(episode_a, rule_id="after_death", field="start_date", message="Closed")
    services.query_close(query=closed, user=coordinator)
    foreign = automatic_query(episode_b, message="Foreign")
    hidden = automatic_query(episode_a, rule_id="duplicate_patient", field="", coordinators_only=True)

    response = sign_in(client, data_entry_a).get(INBOX)
    assert inbox_ids(response) == [old.pk, young.pk, answered.pk]  # waiting for the site first; closed not by default
    page = text_of(response)
    assert "Required field not answered" in page and "Implausible value" in page
    anchor = f"/patients/{episode_a.patient.registry_id}/#episode-{episode_a.pk}"
    assert f'href="{anchor}"' in page
    first = response.context["rows"][0]
    assert (first["age"], first["rule"], first["record"]) == (
        40,
        "Required field not answered",
        f"Rechallenge episode #{episode_a.pk}",
    )
    assert first["field"].startswith("LDH")
    for absent in (foreign, hidden):
        assert f"/quality/queries/{absent.pk}/" not in page
    assert episode_b.patient.registry_id not in page
    assert inbox_ids(client.get(INBOX, {"status": "closed"})) == [closed.pk]
    assert inbox_ids(client.get(INBOX, {"status": "all"})) == [old.pk, young.pk, answered.pk, closed.pk]
    assert inbox_ids(client.get(INBOX, {"rule": "date_order"})) == [answered.pk]


def test_coordinators_see_answered_queries_first_and_filter_by_site(
    client, episode_a, episode_b, data_entry_a, coordinator
):
    open_a = aged(automatic_query(episode_a), 30)
    answered_a = aged(automatic_query(episode_a, rule_id="required_missing", field="ldh_u_per_l"), 3)
    services.query_answer(query=answered_a, user=data_entry_a, text="done")
    open_b = aged(automatic_query(episode_b), 5)
    sign_in(client, coordinator)
    assert inbox_ids(client.get(INBOX)) == [answered_a.pk, open_a.pk, open_b.pk]
    assert inbox_ids(client.get(INBOX, {"site": "BBB"})) == [open_b.pk]
    assert 'name="site"' in text_of(client.get(INBOX))


def test_the_inbox_pages_by_fifty_in_a_fixed_number_of_queries(client, episode_a, data_entry_a):
    for number in range(55):
        automatic_query(episode_a, rule_id="required_missing", field=f"field_{number}")
    sign_in(client, data_entry_a)
    client.get(INBOX)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(INBOX)
    assert len(response.context["rows"]) == 50
    assert "Page 1 of 2" in text_of(response)
    query_sql = [q["sql"] for q in queries.captured_queries if "quality_dataquery" in q["sql"]]
    assert len(query_sql) == 3, query_sql  # the paginator's COUNT, the page, the nav bar's COUNT
    assert len(text_of(client.get(INBOX, {"page": 2})).split('data-query="')) == 6


def test_investigators_have_no_inbox(client, investigator):
    assert sign_in(client, investigator).get(INBOX).status_code == 403


# --- the navigation bar -------------------------------------------------------------------------------------


def test_the_nav_bar_counts_the_site_s_open_queries_for_staff_and_answered_ones_for_coordinators(
    client, episode_a, episode_b, data_entry_a, coordinator
):
    first = automatic_query(episode_a)
    automatic_query(episode_a, rule_id="required_missing", field="ldh_u_per_l")
    automatic_query(episode_a, rule_id="duplicate_patient", field="", coordinators_only=True)
    automatic_query(episode_b)
    services.query_answer(query=first, user=data_entry_a, text="done")

    sign_in(client, data_entry_a)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("home"))
    assert response.context["query_count"] == 1
    assert 'id="nav-query-count"' in response.content.decode()
    counts = [q["sql"] for q in queries.captured_queries if "quality_dataquery" in q["sql"]]
    assert len(counts) == 1 and "COUNT(" in counts[0].upper()

    client.logout()
    sign_in(client, coordinator)
    assert client.get(reverse("home")).context["query_count"] == 1  # the one answered query waits for them


def test_the_nav_bar_runs_no_count_for_investigators(client, investigator):
    sign_in(client, investigator)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("home"))
    assert response.context["query_count"] is None
    assert not any("quality_dataquery" in q["sql"] for q in queries.captured_queries)


# --- one query: the thread and its steps --------------------------------------------------------------------


def test_the_site_answers_on_the_thread_page_and_the_coordinator_closes_it(
    client, episode_a, data_entry_a, coordinator
):
    query = automatic_query(episode_a, message="Albumin 3.9 g/L?")
    url = reverse("quality:query-detail", args=[query.pk])
    sign_in(client, data_entry_a)
    page = text_of(client.get(url))
    assert 'id="answer-form"' in page and 'name="confirmed"' in page
    assert 'id="close-form"' not in page and 'id="reopen-form"' not in page
    refused = client.post(reverse("quality:query-answer", args=[query.pk]), {"text": ""})
    assert refused.status_code == 200 and refused.context["forms"]["answer"].errors["text"]
    done = client.post(reverse("quality:query-answer", args=[query.pk]), {"text": "Lab sheet: 3.9", "confirmed": "on"})
    assert done.status_code == 302 and done["Location"] == url
    query.refresh_from_db()
    assert (query.status, query.resolution, query.answered_by) == ("answered", "confirmed", data_entry_a)
    assert client.post(reverse("quality:query-close", args=[query.pk]), {"resolution": "resolved"}).status_code == 403

    client.logout()
    sign_in(client, coordinator)
    page = text_of(client.get(url))
    assert "Confirmed as entered" in page and 'id="close-form"' in page and 'id="answer-form"' not in page
    closed = client.post(reverse("quality:query-close", args=[query.pk]), {"resolution": "confirmed", "text": "Thanks"})
    assert closed.status_code == 302
    query.refresh_from_db()
    assert (query.status, query.resolution, query.closed_by) == ("closed", "confirmed", coordinator)
    page = text_of(client.get(url))
    assert 'id="reopen-form"' in page and 'id="close-form"' not in page
    assert [c.action for c in page_comments(client, url)] == ["opened", "answered", "closed"]
    reopen = client.post(reverse("quality:query-reopen", args=[query.pk]), {"text": ""})
    assert reopen.status_code == 200 and reopen.context["forms"]["reopen"].errors["text"]
    client.post(reverse("quality:query-reopen", args=[query.pk]), {"text": "Check the unit"})
    query.refresh_from_db()
    assert (query.status, query.reopened_count) == ("open", 1)


def page_comments(client, url):
    return client.get(url).context["comments"]


def test_a_step_in_the_wrong_state_comes_back_with_the_reason(client, episode_a, coordinator):
    query = automatic_query(episode_a)
    services.query_close(query=query, user=coordinator)
    sign_in(client, coordinator)
    response = client.post(reverse("quality:query-close", args=[query.pk]), {"resolution": "resolved"})
    assert response.status_code == 200
    assert "This query is closed: it cannot be closed again." in text_of(response)


def test_another_site_s_query_is_404_on_every_page(client, episode_b, data_entry_a):
    query = automatic_query(episode_b)
    sign_in(client, data_entry_a)
    assert client.get(reverse("quality:query-detail", args=[query.pk])).status_code == 404
    for step in ("answer", "comment"):
        assert client.post(reverse(f"quality:query-{step}", args=[query.pk]), {"text": "x"}).status_code == 404
    assert query.comments.count() == 1


def test_everyone_who_sees_a_query_comments(client, episode_a, site_pi_a):
    query = automatic_query(episode_a)
    sign_in(client, site_pi_a)
    assert client.post(reverse("quality:query-comment", args=[query.pk]), {"text": "On it"}).status_code == 302
    assert query.comments.last().text == "On it"


# --- raising a query from the patient page ------------------------------------------------------------------


def test_a_coordinator_raises_a_query_from_the_patient_page(client, episode_a, coordinator):
    irae = AdverseEventFactory(patient=episode_a.patient, episode=episode_a)
    sign_in(client, coordinator)
    patient_page = text_of(client.get(episode_a.patient.get_absolute_url()))
    raise_url = reverse("quality:query-raise", kwargs={"model": "adverse-event", "pk": irae.pk})
    assert f'href="{raise_url}"' in patient_page
    form_page = client.get(raise_url)
    choices = dict(form_page.context["form"].fields["field"].choices)
    assert "grade" in choices and "version" not in choices and "patient" not in choices
    assert choices["grade"] == "Grade: Grade 2"
    response = client.post(raise_url, {"field": "grade", "message": "Grade 2 colitis with hospitalisation?"})
    query = DataQuery.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("quality:query-detail", args=[query.pk])
    assert (query.record_type, query.record_id, query.field, query.value_seen) == (
        "adverse-event",
        irae.pk,
        "grade",
        "Grade 2",
    )
    refused = client.post(raise_url, {"field": "grade", "message": ""})
    assert refused.status_code == 200 and refused.context["form"].errors["message"]


def test_the_raise_form_shows_no_identifier_to_a_coordinator(client, site_a, coordinator):
    patient = PatientFactory(site=site_a, local_identifier="MRN-SECRET-1", date_of_birth=dt.date(1958, 3, 4))
    sign_in(client, coordinator)
    page = text_of(client.get(reverse("quality:query-raise", kwargs={"model": "patient", "pk": patient.pk})))
    assert "MRN-SECRET-1" not in page and "1958-03-04" not in page


def test_center_staff_and_investigators_cannot_raise_queries(client, episode_a, data_entry_a, investigator):
    url = reverse("quality:query-raise", kwargs={"model": "episode", "pk": episode_a.pk})
    for user in (data_entry_a, investigator):
        sign_in(client, user)
        assert client.get(url).status_code == 403
        assert client.post(url, {"message": "?"}).status_code == 403
        client.logout()
    assert not DataQuery.objects.exists()


def test_the_patient_page_lists_its_open_queries_for_the_site(client, episode_a, data_entry_a, coordinator):
    open_query = automatic_query(episode_a, message="Please check albumin")
    closed = automatic_query(episode_a, rule_id="required_missing", field="ldh_u_per_l", message="Closed one")
    services.query_close(query=closed, user=coordinator)
    sign_in(client, data_entry_a)
    page = text_of(client.get(episode_a.patient.get_absolute_url()))
    assert 'id="patient-queries"' in page
    assert "Please check albumin" in page and "Closed one" not in page
    assert reverse("quality:query-detail", args=[open_query.pk]) in page
    assert 'id="raise-query-links"' not in page  # center staff raise no queries


def test_the_admin_shows_queries_and_their_threads_read_only(client, episode_a, admin_user, coordinator):
    query = services.query_raise(
        user=coordinator, record_type="episode", record_id=episode_a.pk, field="albumin_g_per_l", message="Units?"
    )
    sign_in(client, admin_user)
    assert f"/admin/quality/dataquery/{query.pk}/change/" in text_of(client.get("/admin/quality/dataquery/?q=Units"))
    change = text_of(client.get(f"/admin/quality/dataquery/{query.pk}/change/"))
    assert "Units?" in change and 'name="_save"' not in change
    assert client.get("/admin/quality/dataquery/add/").status_code == 403
