"""Validation runs as records: deterministic metrics, the data hash, immutability, claims, the command."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import socket
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.clinical.models import FollowUp
from apps.core.errors import ApplicationError
from apps.validation import plots, services
from apps.validation.models import ValidationRun, ValidationRunFigure

from .cohorts import cut_now

pytestmark = pytest.mark.django_db

Status = ValidationRun.Status
Trigger = ValidationRun.Trigger


# --- byte-identical metrics, data hash -----------------------------------------------------------------


def test_rerunning_on_an_unchanged_data_cut_gives_byte_identical_metrics_and_one_outcome_changes_the_data_hash(
    lung,
):
    cut = cut_now()
    first = services.validation_run_command(model_version="1.1", data_cut=cut)
    second = services.validation_run_command(model_version="1.1", data_cut=cut)

    assert first.pk != second.pk
    assert first.status == second.status == Status.SUCCEEDED
    assert first.metrics_json.encode() == second.metrics_json.encode()
    assert first.data_hash == second.data_hash == first.metrics["run"]["data_hash"]
    assert len(first.data_hash) == 64

    follow_up = FollowUp.objects.filter(death_date__isnull=False).order_by("pk").first()
    FollowUp.objects.filter(pk=follow_up.pk).update(death_date=follow_up.death_date - dt.timedelta(days=1))
    changed = services.validation_run_command(model_version="1.1", data_cut=cut)

    assert changed.data_hash != first.data_hash
    assert changed.metrics_json != first.metrics_json


def test_the_metrics_text_is_canonical_json_with_sorted_keys(lung_run):
    text = lung_run.metrics_json
    assert text == services.metrics_text(json.loads(text))
    assert "NaN" not in text and "Infinity" not in text


def test_a_run_records_its_versions_runtime_and_progress(lung_run):
    assert lung_run.progress == 100
    assert lung_run.runtime_seconds is not None and lung_run.runtime_seconds > 0
    assert lung_run.code_version
    assert set(lung_run.library_versions) >= {
        "numpy",
        "pandas",
        "scipy",
        "lifelines",
        "scikit-survival",
        "statsmodels",
        "registry",
        "metrics_format",
    }
    assert lung_run.library_versions["lifelines"]
    assert (lung_run.trigger, lung_run.started_by, lung_run.attempts) == (Trigger.COMMAND, None, 1)
    assert lung_run.finished_at >= lung_run.started_at >= lung_run.created_at


def test_records_created_after_the_data_cut_are_left_out(lung):
    before = services.validation_run_command(model_version="1.1", data_cut=timezone.now() - dt.timedelta(days=1))
    assert before.status == Status.SUCCEEDED
    assert before.metrics["populations"]["primary"]["n"] == 0
    assert before.metrics["run"]["rows"] == 0


def test_demo_data_mark_the_run_synthetic(site_a, monkeypatch):
    from apps.assessments.demo import demo_registry_seed

    demo_registry_seed(sites=2, patients=40, seed=3)
    run = services.validation_run_command(data_cut=cut_now())
    assert run.status == Status.SUCCEEDED, run.message
    assert run.is_synthetic
    assert run.metrics["populations"]["all_locked"]["n"] > 0


# --- immutability ---------------------------------------------------------------------------------------


def test_a_finished_run_cannot_be_changed_or_deleted_by_the_model_or_the_queryset(lung_run):
    lung_run.message = "edited"
    with pytest.raises(PermissionError):
        lung_run.save()
    with pytest.raises(PermissionError):
        lung_run.save(update_fields=["message"])
    with pytest.raises(PermissionError):
        ValidationRun.objects.filter(pk=lung_run.pk).update(message="edited")
    with pytest.raises(PermissionError):
        lung_run.delete()
    with pytest.raises(PermissionError):
        ValidationRun.objects.filter(pk=lung_run.pk).delete()
    assert ValidationRun.objects.get(pk=lung_run.pk).message != "edited"


def test_a_finished_runs_figures_cannot_be_changed_or_deleted(lung_run):
    figure = lung_run.figures.get(population="primary", name="km-pfs2")
    figure.svg = "<svg/>"
    with pytest.raises(PermissionError):
        figure.save()
    with pytest.raises(PermissionError):
        figure.delete()
    with pytest.raises(PermissionError):
        ValidationRunFigure.objects.filter(pk=figure.pk).update(svg="<svg/>")
    with pytest.raises(PermissionError):
        ValidationRunFigure.objects.filter(run=lung_run).delete()
    assert ValidationRunFigure.objects.get(pk=figure.pk).svg.startswith("<?xml")


def test_a_run_stores_its_figures_in_the_transaction_that_marks_it_succeeded(lung, no_enqueue, monkeypatch):
    seen = []
    finish = services._finish

    def checked_finish(run, **fields):
        # Inside the same transaction: the figures are written, the run is not yet marked succeeded.
        seen.append((connection.in_atomic_block, run.figures.count(), fields["status"]))
        finish(run, **fields)

    monkeypatch.setattr(services, "_finish", checked_finish)
    run = services.validation_run_command(model_version="1.1", data_cut=cut_now())

    assert seen == [(True, 8, Status.SUCCEEDED)]
    assert run.figures.count() == 8
    assert {f.plot_format for f in run.figures.all()} == {plots.PLOT_FORMAT}


def test_a_run_whose_figures_fail_is_stored_without_them_and_logged(lung, no_enqueue, monkeypatch, caplog):
    monkeypatch.setattr(plots, "run_figures_draw", lambda *a, **k: 1 / 0)
    run = services.validation_run_command(model_version="1.1", data_cut=cut_now())
    assert run.status == Status.SUCCEEDED and run.metrics is not None
    assert not run.figures.exists()
    assert "the figures could not be drawn" in caplog.text and "ZeroDivisionError" in caplog.text


def test_a_run_in_progress_changes_only_its_progress_fields(no_enqueue, coordinator):
    run = services.validation_run_create(user=coordinator, trigger=Trigger.MANUAL)
    run.progress = 10
    run.save(update_fields=["progress"])  # a progress field: allowed
    run.model_version = "1.0"
    with pytest.raises(PermissionError):
        run.save(update_fields=["model_version"])
    with pytest.raises(PermissionError):
        run.save()


postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the trigger is PostgreSQL's")


@postgresql_only
def test_the_database_refuses_sql_changes_to_a_finished_run(lung_run):
    table = ValidationRun._meta.db_table
    for statement in (
        f"UPDATE {table} SET message = 'edited' WHERE id = %s",
        f"UPDATE {table} SET metrics_json = '{{}}' WHERE id = %s",
        f"DELETE FROM {table} WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="finished"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [lung_run.pk])
    assert ValidationRun.objects.get(pk=lung_run.pk).metrics_json == lung_run.metrics_json


@postgresql_only
def test_the_database_refuses_sql_changes_to_a_runs_figures_and_new_figures_for_a_finished_run(lung_run):
    table = ValidationRunFigure._meta.db_table
    figure = lung_run.figures.get(population="primary", name="km-pfs2")
    for statement, params in (
        (f"UPDATE {table} SET svg = '<svg/>' WHERE id = %s", [figure.pk]),
        (f"DELETE FROM {table} WHERE id = %s", [figure.pk]),
        (
            f"INSERT INTO {table} (run_id, population, name, svg, sha256, plot_format) "
            "VALUES (%s, 'primary', 'extra', '<svg/>', '', '')",
            [lung_run.pk],
        ),
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
    assert ValidationRunFigure.objects.get(pk=figure.pk).svg == figure.svg
    assert lung_run.figures.count() == 8


@postgresql_only
def test_the_database_refuses_to_change_what_a_running_run_validates(no_enqueue, coordinator):
    run = services.validation_run_create(user=coordinator, trigger=Trigger.MANUAL)
    table = ValidationRun._meta.db_table
    with pytest.raises(DatabaseError, match="cannot be changed"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET model_version = '1.0' WHERE id = %s", [run.pk])
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET progress = 50 WHERE id = %s", [run.pk])
    assert ValidationRun.objects.get(pk=run.pk).progress == 50


# --- creating, claiming, recovering ---------------------------------------------------------------------


def test_only_coordinators_start_a_run_by_hand(no_enqueue, data_entry_a, investigator, coordinator, admin_user):
    for user in (data_entry_a, investigator, None):
        with pytest.raises(ApplicationError) as refused:
            services.validation_run_create(user=user, trigger=Trigger.MANUAL)
        assert refused.value.status == 403
    for user in (coordinator, admin_user):
        run = services.validation_run_create(user=user, trigger=Trigger.MANUAL)
        assert (run.status, run.started_by, run.model_version) == (Status.PENDING, user, "1.1")


def test_an_unknown_model_version_is_refused(no_enqueue, coordinator):
    with pytest.raises(ApplicationError) as refused:
        services.validation_run_create(model_version="9.9", user=coordinator, trigger=Trigger.MANUAL)
    assert "model_version" in refused.value.field_errors


def test_a_manual_run_is_enqueued_when_committed(coordinator, monkeypatch, django_capture_on_commit_callbacks):
    enqueued = []
    monkeypatch.setattr(services, "_enqueue", enqueued.append)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.validation_run_create(user=coordinator, trigger=Trigger.MANUAL)
    assert enqueued == [run.pk]


def test_the_nightly_job_makes_one_run_per_model_version_with_locked_assessments_on_one_cut(
    lung, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.assessments.models import Assessment
    from registry.decision import get_spec

    episode = Assessment.objects.order_by("pk").first().episode
    spec = get_spec("1.0")
    Assessment.objects.create(
        episode=episode,
        model_version=spec.version,
        model_hash=spec.hash,
        inputs={},
        factors=[],
        category="favourable",
        score=5,
        is_retrospective=True,
    )
    enqueued = []
    monkeypatch.setattr(services, "_enqueue", enqueued.append)
    with django_capture_on_commit_callbacks(execute=True):
        from apps.validation.tasks import nightly_validation

        ids = nightly_validation()
    runs = list(ValidationRun.objects.filter(pk__in=ids).order_by("model_version"))
    assert [run.model_version for run in runs] == ["1.0", "1.1"]
    assert {run.trigger for run in runs} == {Trigger.SCHEDULE}
    assert runs[0].data_cut == runs[1].data_cut
    assert sorted(enqueued) == sorted(ids)


def test_executing_a_run_twice_does_no_harm(lung, no_enqueue, coordinator):
    run = services.validation_run_create(user=coordinator, trigger=Trigger.MANUAL, data_cut=cut_now())
    first = services.validation_run_execute(run_id=run.pk)
    again = services.validation_run_execute(run_id=run.pk)
    assert first.status == again.status == Status.SUCCEEDED
    assert (again.attempts, again.metrics_json, again.finished_at) == (1, first.metrics_json, first.finished_at)
    assert services.validation_run_execute(run_id=10**9) is None


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])  # noqa: S607
    process.wait()
    return process.pid


sqlite_only = pytest.mark.skipif(
    "connection.vendor != 'sqlite'", reason="on PostgreSQL a live worker is one holding the lease"
)


def test_a_run_whose_worker_died_is_recovered_and_taken_over(lung, no_enqueue, coordinator, monkeypatch):
    run = services.validation_run_create(user=coordinator, trigger=Trigger.MANUAL, data_cut=cut_now())
    ValidationRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING, claimed_by=f"{socket.gethostname()}:{_dead_pid()}", attempts=1
    )
    enqueued = []
    monkeypatch.setattr(services, "_enqueue", enqueued.append)
    assert services.validation_runs_recover() == [run.pk] == enqueued
    taken_over = services.validation_run_execute(run_id=run.pk)
    assert (taken_over.status, taken_over.attempts) == (Status.SUCCEEDED, 2)


@sqlite_only
def test_a_run_a_live_worker_holds_is_left_alone(no_enqueue, coordinator):
    run = services.validation_run_create(user=coordinator, trigger=Trigger.MANUAL)
    ValidationRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING, claimed_by=f"{socket.gethostname()}:{os.getpid()}", attempts=1
    )
    assert services.validation_runs_recover() == []
    assert services.validation_run_execute(run_id=run.pk).status == Status.RUNNING


def test_a_run_that_keeps_losing_its_worker_fails_after_three_attempts(no_enqueue, coordinator):
    run = services.validation_run_create(user=coordinator, trigger=Trigger.MANUAL)
    ValidationRun.objects.filter(pk=run.pk).update(attempts=services.MAX_ATTEMPTS)
    stopped = services.validation_run_execute(run_id=run.pk)
    assert stopped.status == Status.FAILED
    assert "stopped 3 times" in stopped.message


def test_an_error_fails_the_run_with_a_message_and_is_logged(lung, no_enqueue, coordinator, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("statistics exploded")

    monkeypatch.setattr(services, "validation_metrics", broken)
    run = services.validation_run_create(user=coordinator, trigger=Trigger.MANUAL, data_cut=cut_now())
    failed = services.validation_run_execute(run_id=run.pk)
    assert failed.status == Status.FAILED
    assert failed.message == services.UNEXPECTED_ERROR
    assert failed.metrics_json == "" and failed.metrics is None
    assert "statistics exploded" in caplog.text


# --- the command ------------------------------------------------------------------------------------------

CATEGORY_KEYS = {
    "n",
    "events",
    "median_pfs2_months",
    "median_pfs2_ci",
    "pfs2_6m",
    "pfs2_12m",
    "median_os_months",
    "orr",
    "dcr",
}


def test_the_command_stores_a_run_and_prints_its_metrics_json(lung):
    out, err = io.StringIO(), io.StringIO()
    call_command("run_validation", "--model-version", "1.1", stdout=out, stderr=err)
    printed = json.loads(out.getvalue())
    run = ValidationRun.objects.get()

    assert printed["run"]["id"] == run.pk
    assert {key: printed["run"][key] for key in ("model_version", "model_hash", "data_cut", "data_hash")} == {
        "model_version": run.model_version,
        "model_hash": run.model_hash,
        "data_cut": run.data_cut.isoformat(),
        "data_hash": run.data_hash,
    }
    assert run.trigger == Trigger.COMMAND
    assert set(printed["populations"]) >= {"primary", "all_locked"}
    for population in ("primary", "all_locked"):
        a = printed["populations"][population]
        assert isinstance(a["n"], int)
        assert isinstance(a["excluded"], dict) and all(isinstance(n, int) for n in a["excluded"].values())
        assert set(a["categories"]) == {"favourable", "intermediate", "unfavourable"}
        for values in a["categories"].values():
            assert set(values) >= CATEGORY_KEYS
        assert {"chi2", "df", "p"} <= set(a["logrank"])
        assert set(a["cox"]) == {"intermediate", "unfavourable"}
        assert {"hr", "ci", "p"} <= set(a["cox"]["unfavourable"])
        assert {"harrell", "uno"} <= set(a["c_index"])
        assert "auc_6m" in a
    assert a["categories"]["intermediate"]["median_pfs2_months"] is None  # nobody: null, not a number
    assert f"#{run.pk}" in err.getvalue()


def test_the_command_refuses_an_unknown_model_version():
    with pytest.raises(CommandError, match="Unknown model version"):
        call_command("run_validation", "--model-version", "7", stdout=io.StringIO())
    assert not ValidationRun.objects.exists()


def test_the_command_takes_a_data_cut(lung):
    out = io.StringIO()
    call_command("run_validation", "--data-cut", "2020-01-01T00:00:00Z", stdout=out, stderr=io.StringIO())
    printed = json.loads(out.getvalue())
    assert printed["run"]["data_cut"] == "2020-01-01T00:00:00+00:00"
    assert printed["populations"]["primary"]["n"] == 0  # every record was entered after that cut
