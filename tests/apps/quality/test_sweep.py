"""The nightly sweep finds every planted problem, opens one query per problem, opens nothing on a second run,
and closes queries once their problem is fixed (through the clinical services, as a site would fix it)."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.assessments.models import Assessment, BlindingSetting
from apps.clinical import services
from apps.clinical.models import AdverseEvent, FollowUp, ResponseAssessment
from apps.core.models import AuditChannel
from apps.quality import tasks
from apps.quality.models import DataQuery, QueryComment
from apps.quality.sweep import quality_sweep
from registry.quality import RULES
from tests.apps.quality.sweep_support import complete_patient, days_ago, open_keys, plant_every_rule

pytestmark = pytest.mark.django_db


def planted_keys(planted: dict) -> set[tuple]:
    return set().union(*(keys for rule_id, keys in planted.items() if rule_id != "_records"))


def test_complete_patients_raise_no_query(site_a):
    for _ in range(3):
        complete_patient(site_a)
    assert quality_sweep() | {"seconds": 0} == {"opened": 0, "closed": 0, "open_total": 0, "seconds": 0}


def test_the_sweep_finds_every_planted_problem_once_and_a_second_run_opens_nothing(site_a):
    for _ in range(3):
        complete_patient(site_a)
    planted = plant_every_rule(site_a)
    assert set(planted) - {"_records"} == {rule.id for rule in RULES}  # one plant per rule

    first = quality_sweep()

    assert open_keys() == planted_keys(planted)
    assert first["opened"] == first["open_total"] == len(planted_keys(planted)) == 11
    assert first["closed"] == 0
    second = quality_sweep()
    assert (second["opened"], second["closed"], second["open_total"]) == (0, 0, 11)
    assert DataQuery.objects.count() == 11
    # Each query as the site reads it: the site, the patient, the message, and the system's "opened" note.
    query = DataQuery.objects.get(rule_id="implausible_value")
    episode = planted["_records"]["implausible_value"]
    assert (query.site_id, query.patient_id, query.record_id, query.value_seen) == (
        site_a.pk,
        episode.patient_id,
        episode.pk,
        "3.9",
    )
    assert query.message.startswith("Albumin (g/L) 3.9 g/L is outside the plausible range 15–60")
    assert query.opened_by is None and query.status == DataQuery.Status.OPEN
    comment = query.comments.get()
    assert (comment.action, comment.author, comment.text) == (
        QueryComment.Action.OPENED,
        None,
        "Opened automatically by the data-quality rule 'Implausible value'.",
    )
    duplicates = DataQuery.objects.filter(rule_id="duplicate_patient")
    other = planted["_records"]["duplicate_patient"]
    assert {query.message for query in duplicates} >= {
        f"This patient may be a duplicate of {other.registry_id}: same sex, year of birth, tumour type and ICI-1 start."
    }
    assert not any(other.local_identifier in query.message for query in DataQuery.objects.all())


def test_queries_close_themselves_once_the_site_fixes_the_data(site_a, data_entry_a):
    planted = plant_every_rule(site_a)
    quality_sweep()
    records = planted["_records"]

    def fix(record, **data):
        services.record_update(instance=record, data=data, user=data_entry_a, channel=AuditChannel.WEB)

    fix(records["required_missing"], albumin_g_per_l=38)
    fix(records["implausible_value"], albumin_g_per_l=39)
    scan = records["date_order"]
    fix(scan, assessment_date=scan.episode.start_date + dt.timedelta(days=40))
    fix(records["after_death"], onset_date=days_ago(30))
    fix(records["toxicity_stop_without_irae"], led_to_discontinuation=True)
    services.record_create(
        model=FollowUp,
        data={
            "episode": records["grade5_without_death"].episode,
            "follow_up_date": days_ago(5),
            "vital_status": "dead",
            "death_date": days_ago(6),
        },
        user=data_entry_a,
        channel=AuditChannel.WEB,
    )
    fix(records["contraindicated_without_justification"], clinical_justification="Discussed at the tumour board.")
    services.record_create(
        model=FollowUp,
        data={
            "episode": records["follow_up_overdue"],
            "follow_up_date": days_ago(3),
            "vital_status": "alive",
            "last_known_alive_date": days_ago(3),
        },
        user=data_entry_a,
        channel=AuditChannel.WEB,
    )
    services.record_create(
        model=ResponseAssessment,
        data={"episode": records["outcome_missing"], "assessment_date": days_ago(100), "category": "SD"},
        user=data_entry_a,
        channel=AuditChannel.WEB,
    )
    fix(records["duplicate_patient"], year_of_birth=1921)

    result = quality_sweep()

    assert open_keys() == set()
    assert result["opened"] == 0 and result["open_total"] == 0
    closed = DataQuery.objects.filter(status=DataQuery.Status.CLOSED)
    assert closed.count() == 11
    assert set(closed.values_list("resolution", flat=True)) == {DataQuery.Resolution.FIXED}
    assert all(query.closed_at is not None and query.closed_by is None for query in closed)
    today = timezone.localdate().isoformat()
    notes = QueryComment.objects.filter(action=QueryComment.Action.AUTO_CLOSED)
    assert notes.count() == 11
    assert set(notes.values_list("text", flat=True)) == {f"Closed automatically: the problem was fixed on {today}."}
    # The on-save warning rules closed theirs at the save; the sweep closed the others.
    on_save = {"required_missing", "implausible_value", "toxicity_stop_without_irae", "grade5_without_death"}
    assert result["closed"] == 11 - len(on_save) == 7  # both members of the duplicate pair among them
    assert quality_sweep()["opened"] == 0


def test_a_value_confirmed_as_entered_is_not_asked_about_again_until_it_changes(site_a):
    episode = complete_patient(site_a)
    episode.albumin_g_per_l = 3.9
    episode.save()
    quality_sweep()
    query = DataQuery.objects.get()
    DataQuery.objects.filter(pk=query.pk).update(
        status=DataQuery.Status.CLOSED, resolution=DataQuery.Resolution.CONFIRMED, closed_at=timezone.now()
    )

    assert quality_sweep()["opened"] == 0

    episode.albumin_g_per_l = 4.1
    episode.save()
    assert quality_sweep()["opened"] == 1
    reopened = DataQuery.objects.exclude(status=DataQuery.Status.CLOSED).get()
    assert (reopened.value_seen, reopened.field) == ("4.1", "albumin_g_per_l")


def test_an_answered_query_whose_problem_persists_stays_answered(site_a, data_entry_a):
    episode = complete_patient(site_a)
    episode.albumin_g_per_l = 3.9
    episode.save()
    quality_sweep()
    DataQuery.objects.update(status=DataQuery.Status.ANSWERED, answered_at=timezone.now(), answered_by=data_entry_a)

    assert quality_sweep() | {"seconds": 0} == {"opened": 0, "closed": 0, "open_total": 1, "seconds": 0}
    assert DataQuery.objects.get().status == DataQuery.Status.ANSWERED


def test_a_query_about_a_deleted_record_closes_as_record_deleted(site_a):
    episode = complete_patient(site_a)
    scan = ResponseAssessment.objects.create(
        episode=episode, assessment_date=episode.start_date - dt.timedelta(days=1), category="SD"
    )
    quality_sweep()
    assert open_keys() == {("date_order", "response", scan.pk, "assessment_date")}
    ResponseAssessment.objects.filter(pk=scan.pk).delete()  # bypassing the services: only the sweep can tell

    assert quality_sweep()["closed"] == 1
    query = DataQuery.objects.get()
    assert (query.status, query.resolution) == (DataQuery.Status.CLOSED, DataQuery.Resolution.RECORD_DELETED)
    assert query.comments.last().text == f"Closed automatically: the record was deleted on {timezone.localdate()}."


def test_a_missing_data_code_answers_a_required_field(site_a):
    episode = complete_patient(site_a)
    episode.albumin_g_per_l = None
    episode.missing_answers = {"albumin_g_per_l": "not_done"}
    episode.save()
    assert quality_sweep()["opened"] == 0


@pytest.mark.parametrize("blinded", [True, False], ids=["blinded", "open"])
def test_a_missing_justification_is_for_coordinators_only_while_blinding_is_on(site_a, blinded):
    from tests.apps.quality.sweep_support import lock_assessment

    BlindingSetting.objects.create(pk=1, blind_category_to_site_staff=blinded)
    lock_assessment(complete_patient(site_a), "contraindicated")
    quality_sweep()
    assert DataQuery.objects.get().coordinators_only is blinded

    BlindingSetting.objects.filter(pk=1).update(blind_category_to_site_staff=not blinded)
    quality_sweep()
    assert DataQuery.objects.get().coordinators_only is (not blinded)


def test_the_latest_reassessment_decides_whether_the_episode_is_contraindicated(site_a):
    from tests.apps.quality.sweep_support import lock_assessment

    episode = complete_patient(site_a)
    lock = lock_assessment(episode, "favourable")

    def reassess(category: str) -> None:
        Assessment.objects.create(
            episode=episode,
            model_version=lock.model_version,
            model_hash=lock.model_hash,
            inputs=lock.inputs,
            factors={},
            category=category,
            score=0,
            is_reassessment=True,
            supersedes=lock,
        )

    assert quality_sweep()["opened"] == 0
    reassess("contraindicated")
    assert quality_sweep()["opened"] == 1
    reassess("intermediate")
    assert quality_sweep()["closed"] == 1


def test_the_sweep_can_be_restricted_to_rules_and_patients(site_a):
    high = complete_patient(site_a)
    high.albumin_g_per_l = 3.9
    high.save()
    overdue = complete_patient(site_a)
    overdue.follow_ups.update(follow_up_date=days_ago(200))

    assert quality_sweep(rule_ids=["follow_up_overdue"])["opened"] == 1
    assert quality_sweep(patient_ids=[high.patient_id])["opened"] == 1
    assert open_keys() == {
        ("follow_up_overdue", "episode", overdue.pk, ""),
        ("implausible_value", "episode", high.pk, "albumin_g_per_l"),
    }
    with pytest.raises(ValueError, match="no_such_rule"):
        quality_sweep(rule_ids=["no_such_rule"])


def test_the_follow_up_interval_is_a_setting(site_a, settings):
    episode = complete_patient(site_a)
    episode.follow_ups.update(follow_up_date=days_ago(100))
    settings.QUALITY_FOLLOW_UP_INTERVAL_DAYS = 120
    assert quality_sweep()["opened"] == 0
    settings.QUALITY_FOLLOW_UP_INTERVAL_DAYS = 90
    assert quality_sweep()["opened"] == 1
    assert DataQuery.objects.get().message == (
        "No follow-up has been recorded for 100 days (the registry asks for one every 90 days)."
    )


def test_the_command_prints_one_json_line(site_a):
    episode = complete_patient(site_a)
    AdverseEvent.objects.filter(patient=episode.patient).update(led_to_discontinuation=False)
    out = io.StringIO()
    call_command("quality_sweep", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert set(summary) == {"opened", "closed", "open_total", "seconds"}
    assert (summary["opened"], summary["closed"], summary["open_total"]) == (1, 0, 1)
    assert isinstance(summary["seconds"], float)


def test_the_celery_task_runs_the_sweep_and_is_scheduled_nightly_in_the_admin(site_a, settings):
    complete_patient(site_a).follow_ups.update(follow_up_date=days_ago(200))
    assert tasks.sweep.name == "quality.sweep"
    assert tasks.sweep.apply().get()["opened"] == 1

    from django_celery_beat.models import PeriodicTask

    call_command("setup_schedules", stdout=io.StringIO())
    entry = PeriodicTask.objects.get(task="quality.sweep")
    assert entry.name == "Nightly data-quality sweep"
    assert (entry.crontab.minute, entry.crontab.hour, str(entry.crontab.timezone)) == ("0", "2", "UTC")
