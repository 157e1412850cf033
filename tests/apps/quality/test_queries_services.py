"""The Data Resolution Workflow's state machine: every allowed step and every refused one, who may take it,
and what each step leaves behind (who and when on the query, a step in its thread, an audit entry)."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from apps.core.errors import ApplicationError
from apps.core.models import AuditEntry
from apps.quality import services
from apps.quality.models import DataQuery, QueryComment
from tests.apps.quality.queries_support import automatic_query
from tests.factories import PatientFactory, RechallengeEpisodeFactory

pytestmark = pytest.mark.django_db

Status = DataQuery.Status
Action = QueryComment.Action


@pytest.fixture
def episode(site_a):
    return RechallengeEpisodeFactory(
        patient=PatientFactory(site=site_a), albumin_g_per_l=decimal.Decimal("3.9"), start_date=dt.date(2024, 5, 2)
    )


@pytest.fixture
def implausible(episode):
    """An automatic query whose value may be confirmed as entered."""
    return automatic_query(episode, rule_id="implausible_value", field="albumin_g_per_l")


@pytest.fixture
def raised(episode, coordinator):
    return services.query_raise(
        user=coordinator, record_type="episode", record_id=episode.pk, field="ecog_at_rechallenge", message="ECOG 1?"
    )


def refused(call, *, status: int, field: str | None = None) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call()
    assert caught.value.status == status, caught.value.message
    if field is not None:
        assert field in caught.value.field_errors, caught.value.field_errors
    return caught.value


def thread(query: DataQuery) -> list[tuple[str, str | None, str]]:
    return [
        (comment.action, comment.author.username if comment.author else None, comment.text)
        for comment in query.comments.select_related("author").order_by("created_at", "id")
    ]


def audit_of(query: DataQuery) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(model_label="quality.dataquery", object_id=str(query.pk)).order_by("sequence")
    )


# --- raising ------------------------------------------------------------------------------------------------


def test_a_coordinator_raises_a_query_on_a_field_and_the_site_and_patient_come_from_the_record(
    episode, coordinator, site_a
):
    query = services.query_raise(
        user=coordinator,
        record_type="episode",
        record_id=episode.pk,
        field="albumin_g_per_l",
        message="  Is albumin 3.9 in g/dL?  ",
    )
    query.refresh_from_db()
    assert (query.status, query.rule_id, query.site, query.patient) == (Status.OPEN, "", site_a, episode.patient)
    assert (query.record_type, query.record_id, query.field) == ("episode", episode.pk, "albumin_g_per_l")
    assert query.message == "Is albumin 3.9 in g/dL?"
    assert query.value_seen == "3.9"
    assert query.opened_by == coordinator and query.opened_at is not None
    assert thread(query) == [(Action.OPENED, "coordinator", "Is albumin 3.9 in g/dL?")]
    (entry,) = audit_of(query)
    assert (entry.action, entry.user, entry.site_id, entry.channel) == ("create", coordinator, site_a.pk, "web")
    assert entry.changes["status"] == [None, "open"]


def test_a_query_on_the_whole_record_has_no_field(episode, coordinator):
    query = services.query_raise(user=coordinator, record_type="episode", record_id=episode.pk, message="Check it")
    assert (query.field, query.value_seen) == ("", "")


def test_the_value_of_a_field_hidden_from_coordinators_is_not_kept(site_a, coordinator):
    patient = PatientFactory(site=site_a, date_of_birth=dt.date(1958, 3, 4))
    query = services.query_raise(
        user=coordinator, record_type="patient", record_id=patient.pk, field="date_of_birth", message="Check it"
    )
    assert query.value_seen == ""


@pytest.mark.parametrize("role", ["data_entry_a", "site_pi_a", "investigator"])
def test_only_coordinators_raise_queries(request, role, episode):
    user = request.getfixturevalue(role)
    refused(
        lambda: services.query_raise(user=user, record_type="episode", record_id=episode.pk, message="?"), status=403
    )
    assert not DataQuery.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"record_type": "nonsense"}, "record_type"),
        ({"record_id": 987654}, "record_id"),
        ({"record_id": "x"}, "record_id"),
        ({"field": "no_such_field"}, "field"),
        ({"field": "version"}, "field"),
        ({"message": "   "}, "message"),
        ({"message": "x" * 4001}, "message"),
    ],
    ids=["record type", "missing record", "not an id", "unknown field", "bookkeeping field", "blank", "too long"],
)
def test_a_query_with_bad_input_is_refused_field_by_field(episode, coordinator, changes, field):
    body = {"record_type": "episode", "record_id": episode.pk, "field": "albumin_g_per_l", "message": "?", **changes}
    refused(lambda: services.query_raise(user=coordinator, **body), status=400, field=field)
    assert not DataQuery.objects.exists()


# --- answering ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["data_entry_a", "site_pi_a"])
def test_center_staff_of_the_site_answer_an_open_query(request, role, raised, site_a):
    user = request.getfixturevalue(role)
    answered = services.query_answer(query=raised, user=user, text=" ECOG was 1, checked. ")
    answered.refresh_from_db()
    assert (answered.status, answered.answered_by, answered.resolution) == (Status.ANSWERED, user, "")
    assert answered.answered_at is not None
    assert thread(answered)[-1] == (Action.ANSWERED, user.username, "ECOG was 1, checked.")
    entry = audit_of(answered)[-1]
    assert (entry.action, entry.user, entry.site_id, entry.reason) == (
        "update",
        user,
        site_a.pk,
        "ECOG was 1, checked.",
    )
    assert entry.changes == {"status": ["open", "answered"]}


def test_an_answer_needs_a_comment(raised, data_entry_a):
    refused(lambda: services.query_answer(query=raised, user=data_entry_a, text="  "), status=400, field="text")
    raised.refresh_from_db()
    assert raised.status == Status.OPEN


@pytest.mark.parametrize("role", ["data_entry_b", "coordinator", "investigator"])
def test_only_staff_of_the_query_s_site_answer(request, role, raised):
    refused(lambda: services.query_answer(query=raised, user=request.getfixturevalue(role), text="x"), status=403)
    raised.refresh_from_db()
    assert raised.status == Status.OPEN and raised.comments.count() == 1


def test_an_answered_or_closed_query_cannot_be_answered(raised, data_entry_a, coordinator):
    services.query_answer(query=raised, user=data_entry_a, text="done")
    error = refused(
        lambda: services.query_answer(query=raised, user=data_entry_a, text="again"), status=409, field="status"
    )
    assert error.message == "This query is answered by the site: it cannot be answered."
    services.query_close(query=raised, user=coordinator)
    refused(lambda: services.query_answer(query=raised, user=data_entry_a, text="again"), status=409, field="status")


def test_a_site_confirms_an_implausible_value_as_entered(implausible, data_entry_a):
    answered = services.query_answer(query=implausible, user=data_entry_a, text="Checked the lab sheet", confirmed=True)
    assert (answered.status, answered.resolution) == (Status.ANSWERED, DataQuery.Resolution.CONFIRMED)
    assert thread(answered)[-1] == (Action.ANSWERED, "entry_a", "Confirmed as entered. Checked the lab sheet")


def test_only_a_rule_that_allows_it_takes_confirmed_as_entered(raised, data_entry_a):
    refused(
        lambda: services.query_answer(query=raised, user=data_entry_a, text="fine", confirmed=True),
        status=400,
        field="confirmed",
    )


def test_staff_cannot_answer_a_query_kept_for_coordinators(episode, data_entry_a):
    hidden = automatic_query(episode, coordinators_only=True)
    refused(lambda: services.query_answer(query=hidden, user=data_entry_a, text="x"), status=404)


# --- closing ------------------------------------------------------------------------------------------------


def test_a_coordinator_closes_an_answered_query_as_resolved_with_an_optional_comment(raised, data_entry_a, coordinator):
    services.query_answer(query=raised, user=data_entry_a, text="done")
    closed = services.query_close(query=raised, user=coordinator, text="Thanks")
    closed.refresh_from_db()
    assert (closed.status, closed.resolution, closed.closed_by) == (Status.CLOSED, "resolved", coordinator)
    assert closed.closed_at is not None
    assert [step[0] for step in thread(closed)] == [Action.OPENED, Action.ANSWERED, Action.CLOSED]
    assert thread(closed)[-1] == (Action.CLOSED, "coordinator", "Thanks")
    assert audit_of(closed)[-1].changes == {"status": ["answered", "closed"], "resolution": ["", "resolved"]}


def test_a_coordinator_may_close_an_open_query(raised, coordinator):
    closed = services.query_close(query=raised, user=coordinator, resolution="fixed")
    assert (closed.status, closed.resolution, closed.answered_at) == (Status.CLOSED, "fixed", None)


def test_closing_as_confirmed_keeps_the_value_confirmed(implausible, episode, data_entry_a, coordinator):
    episode.albumin_g_per_l = decimal.Decimal("3.8")  # changed after the query opened
    episode.save(update_fields=["albumin_g_per_l"])
    services.query_answer(query=implausible, user=data_entry_a, text="Right as entered", confirmed=True)
    closed = services.query_close(query=implausible, user=coordinator, resolution="confirmed")
    closed.refresh_from_db()
    assert (closed.status, closed.resolution, closed.value_seen) == (Status.CLOSED, "confirmed", "3.8")


def test_only_a_rule_that_allows_it_closes_as_confirmed(raised, coordinator):
    refused(
        lambda: services.query_close(query=raised, user=coordinator, resolution="confirmed"),
        status=400,
        field="resolution",
    )
    refused(
        lambda: services.query_close(query=raised, user=coordinator, resolution="record_deleted"),
        status=400,
        field="resolution",
    )
    raised.refresh_from_db()
    assert raised.status == Status.OPEN


@pytest.mark.parametrize("role", ["data_entry_a", "site_pi_a", "investigator"])
def test_only_coordinators_close(request, role, raised):
    refused(lambda: services.query_close(query=raised, user=request.getfixturevalue(role)), status=403)


def test_a_closed_query_cannot_be_closed_again(raised, coordinator):
    services.query_close(query=raised, user=coordinator)
    refused(lambda: services.query_close(query=raised, user=coordinator), status=409, field="status")


# --- re-opening ---------------------------------------------------------------------------------------------


def test_a_coordinator_reopens_a_closed_query_with_a_reason(raised, data_entry_a, coordinator):
    services.query_answer(query=raised, user=data_entry_a, text="done")
    services.query_close(query=raised, user=coordinator)
    reopened = services.query_reopen(query=raised, user=coordinator, text="The source says ECOG 2")
    reopened.refresh_from_db()
    assert (reopened.status, reopened.reopened_count, reopened.resolution) == (Status.OPEN, 1, "")
    assert (reopened.closed_at, reopened.closed_by, reopened.answered_at, reopened.answered_by) == (
        None,
        None,
        None,
        None,
    )
    assert thread(reopened)[-1] == (Action.REOPENED, "coordinator", "The source says ECOG 2")
    # The site answers again, the coordinator closes again.
    services.query_answer(query=raised, user=data_entry_a, text="Corrected to 2")
    assert services.query_close(query=raised, user=coordinator).status == Status.CLOSED


def test_a_coordinator_reopens_an_answered_query(raised, data_entry_a, coordinator):
    services.query_answer(query=raised, user=data_entry_a, text="done")
    assert services.query_reopen(query=raised, user=coordinator, text="Not yet").status == Status.OPEN


def test_an_open_query_cannot_be_reopened_and_a_reason_is_required(raised, data_entry_a, coordinator):
    refused(lambda: services.query_reopen(query=raised, user=coordinator, text="why"), status=409, field="status")
    services.query_answer(query=raised, user=data_entry_a, text="done")
    refused(lambda: services.query_reopen(query=raised, user=coordinator, text=""), status=400, field="text")
    raised.refresh_from_db()
    assert (raised.status, raised.reopened_count) == (Status.ANSWERED, 0)


@pytest.mark.parametrize("role", ["data_entry_a", "site_pi_a", "investigator"])
def test_only_coordinators_reopen(request, role, raised, coordinator):
    services.query_close(query=raised, user=coordinator)
    refused(lambda: services.query_reopen(query=raised, user=request.getfixturevalue(role), text="x"), status=403)


# --- comments -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["data_entry_a", "site_pi_a", "coordinator"])
def test_everyone_who_sees_a_query_comments_on_it_in_any_state(request, role, raised, coordinator):
    user = request.getfixturevalue(role)
    services.query_comment(query=raised, user=user, text="A note")
    services.query_close(query=raised, user=coordinator)
    services.query_comment(query=raised, user=user, text="After closing")
    raised.refresh_from_db()
    assert raised.status == Status.CLOSED
    assert thread(raised)[-3] == (Action.COMMENTED, user.username, "A note")
    assert thread(raised)[-1] == (Action.COMMENTED, user.username, "After closing")


@pytest.mark.parametrize("role", ["data_entry_b", "investigator"])
def test_those_who_do_not_see_a_query_cannot_comment(request, role, raised):
    refused(lambda: services.query_comment(query=raised, user=request.getfixturevalue(role), text="x"), status=404)
    assert raised.comments.count() == 1


def test_a_comment_needs_text_and_staff_cannot_comment_on_a_query_kept_for_coordinators(raised, episode, data_entry_a):
    refused(lambda: services.query_comment(query=raised, user=data_entry_a, text=" "), status=400, field="text")
    hidden = automatic_query(episode, coordinators_only=True)
    refused(lambda: services.query_comment(query=hidden, user=data_entry_a, text="x"), status=404)


def test_the_audit_trail_holds_every_change_of_state_in_the_site_s_chain(raised, data_entry_a, coordinator, site_a):
    services.query_answer(query=raised, user=data_entry_a, text="done")
    services.query_comment(query=raised, user=coordinator, text="note")  # a comment changes no state
    services.query_reopen(query=raised, user=coordinator, text="again")
    services.query_answer(query=raised, user=data_entry_a, text="done now")
    services.query_close(query=raised, user=coordinator)
    entries = audit_of(raised)
    assert [entry.changes["status"] for entry in entries] == [
        [None, "open"],
        ["open", "answered"],
        ["answered", "open"],
        ["open", "answered"],
        ["answered", "closed"],
    ]
    assert {entry.chain for entry in entries} == {f"site:{site_a.pk}"}
    assert [entry.user.username for entry in entries] == [
        "coordinator",
        "entry_a",
        "coordinator",
        "entry_a",
        "coordinator",
    ]
