"""On save: the on-save warning rules open and close the written patient's queries in the write's transaction,
for a handful of queries whatever the registry's size."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.clinical import services
from apps.clinical.hooks import RecordWrite
from apps.clinical.models import AdverseEvent
from apps.core.models import AuditChannel
from apps.quality.models import DataQuery, QueryComment
from apps.quality.on_save import ON_SAVE_RULES, quality_on_records_written
from tests.apps.quality.sweep_support import complete_patient, days_ago, open_keys

pytestmark = pytest.mark.django_db

#: On PostgreSQL the check first takes the written patients' query lock (one statement).
LOCK = 1 if connection.vendor == "postgresql" else 0


def test_the_on_save_rules_are_the_warning_rules_that_run_on_save():
    assert ON_SAVE_RULES == (
        "required_missing",
        "implausible_value",
        "toxicity_stop_without_irae",
        "grade5_without_death",
    )


def test_an_implausible_value_saved_opens_a_query_and_its_correction_closes_it(site_a, data_entry_a):
    episode = complete_patient(site_a)

    services.record_update(
        instance=episode, data={"albumin_g_per_l": Decimal("3.9")}, user=data_entry_a, channel=AuditChannel.WEB
    )

    query = DataQuery.objects.get()
    assert (query.rule_id, query.record_type, query.record_id, query.field, query.value_seen) == (
        "implausible_value",
        "episode",
        episode.pk,
        "albumin_g_per_l",
        "3.9",
    )
    assert (query.status, query.site_id, query.patient_id) == (DataQuery.Status.OPEN, site_a.pk, episode.patient_id)
    assert query.comments.get().action == QueryComment.Action.OPENED

    services.record_update(instance=episode, data={"albumin_g_per_l": 39}, user=data_entry_a, channel=AuditChannel.WEB)

    query.refresh_from_db()
    assert (query.status, query.resolution) == (DataQuery.Status.CLOSED, DataQuery.Resolution.FIXED)
    assert [comment.action for comment in query.comments.all()] == ["opened", "auto_closed"]


def test_a_record_created_with_a_blank_required_field_gets_a_query(site_a, data_entry_a):
    episode = complete_patient(site_a)
    from apps.clinical.models import FollowUp

    services.record_create(
        model=FollowUp,
        data={
            "episode": episode,
            "follow_up_date": days_ago(1),
            "vital_status": "alive",
            "last_known_alive_date": None,
        },
        user=data_entry_a,
        channel=AuditChannel.WEB,
    )
    follow_up = FollowUp.objects.latest("pk")
    assert open_keys() == {("required_missing", "follow-up", follow_up.pk, "last_known_alive_date")}


def test_an_irae_no_longer_leading_to_the_stop_raises_the_toxicity_query(site_a, data_entry_a):
    episode = complete_patient(site_a)
    irae = episode.patient.adverse_events.get()

    services.record_update(instance=irae, data={"led_to_discontinuation": False}, user=data_entry_a, channel="web")

    course = episode.patient.initial_course
    assert open_keys() == {("toxicity_stop_without_irae", "initial-course", course.pk, "stop_reason")}


def test_a_new_response_assessment_raises_no_on_save_check(site_a):
    episode = complete_patient(site_a)
    scan = episode.responses.get()
    write = RecordWrite("create", "response", scan.pk, episode.patient_id, site_a.pk, frozenset({"assessment_date"}))

    assert _queries_of(write) == []  # no on-save rule reads responses


def test_sweep_only_rules_and_error_rules_do_not_run_on_save(site_a, data_entry_a):
    episode = complete_patient(site_a)
    episode.follow_ups.update(follow_up_date=days_ago(200), last_known_alive_date=days_ago(200))  # overdue
    episode.responses.update(assessment_date=episode.start_date.replace(year=episode.start_date.year - 1))

    services.record_update(instance=episode, data={"albumin_g_per_l": 40}, user=data_entry_a, channel="web")

    assert DataQuery.objects.count() == 0


def _queries_of(*writes: RecordWrite) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        quality_on_records_written(writes=list(writes), user=None, channel="web")
    return [query["sql"] for query in captured]


def test_a_change_to_a_field_of_one_record_costs_two_queries(site_a):
    """A record rule (required, plausible) reads the patient's rows of the written table and their queries."""
    episode = complete_patient(site_a)
    write = RecordWrite("update", "episode", episode.pk, episode.patient_id, site_a.pk, frozenset({"albumin_g_per_l"}))

    assert len(_queries_of(write)) == 2 + LOCK


def test_a_new_irae_costs_four_queries_and_two_more_when_it_opens_queries(site_a):
    """The patient rules (toxicity stop, grade 5) read the patient's ICI-1 course, irAEs and follow-ups (with their
    episode joined), then the patient's queries; opening writes the queries and their "opened" notes."""
    episode = complete_patient(site_a)
    irae = episode.patient.adverse_events.get()
    write = RecordWrite("create", "adverse-event", irae.pk, episode.patient_id, site_a.pk, frozenset({"grade"}))

    assert len(_queries_of(write)) == 4 + LOCK

    AdverseEvent.objects.filter(pk=irae.pk).update(grade=5, resolution_date=None, resolved_to_grade=None)
    assert len(_queries_of(write)) == 4 + 2 + LOCK
    assert open_keys() == {("grade5_without_death", "adverse-event", irae.pk, "grade")}


def test_one_import_batch_is_checked_at_once_for_all_its_patients(site_a):
    episodes = [complete_patient(site_a) for _ in range(3)]
    writes = [
        RecordWrite("create", "episode", e.pk, e.patient_id, site_a.pk, frozenset({"albumin_g_per_l"}))
        for e in episodes
    ]

    assert len(_queries_of(*writes)) == 2 + LOCK


def test_a_change_no_on_save_rule_reads_costs_no_query(site_a):
    episode = complete_patient(site_a)
    write = RecordWrite(
        "update", "patient", episode.patient_id, episode.patient_id, site_a.pk, frozenset({"histology"})
    )

    assert _queries_of(write) == []


def test_deleting_a_record_closes_its_queries_as_record_deleted(site_a, data_entry_a):
    episode = complete_patient(site_a)
    from tests.factories import FollowUpFactory

    follow_up = FollowUpFactory(episode=episode, follow_up_date=days_ago(2), last_known_alive_date=None)
    services.record_update(instance=follow_up, data={"vital_status": "unknown"}, user=data_entry_a, channel="web")
    assert DataQuery.objects.filter(status="open").count() == 1

    services.record_delete(instance=follow_up, user=data_entry_a, channel="web")

    query = DataQuery.objects.get()
    assert (query.status, query.resolution) == (DataQuery.Status.CLOSED, DataQuery.Resolution.RECORD_DELETED)
    assert query.comments.last().action == QueryComment.Action.AUTO_CLOSED


def test_a_transferred_patient_takes_the_open_queries_to_the_new_site(site_a, site_b, data_entry_a, coordinator):
    episode = complete_patient(site_a)
    services.record_update(instance=episode, data={"albumin_g_per_l": Decimal("3.9")}, user=data_entry_a, channel="web")

    services.patient_transfer(patient=episode.patient, to_site=site_b, user=coordinator, reason="Moved to B.")

    assert DataQuery.objects.get().site_id == site_b.pk
