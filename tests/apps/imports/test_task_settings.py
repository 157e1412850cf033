"""The import task reads its time limits from the settings, and the services enqueue it by name."""

from __future__ import annotations

from celery import current_app

from apps.imports import services
from apps.imports.tasks import run_import_job


def test_the_import_task_runs_under_the_time_limits_of_the_settings(settings):
    assert (run_import_job.time_limit, run_import_job.soft_time_limit) == (
        settings.CELERY_TASK_TIME_LIMIT,
        settings.CELERY_TASK_SOFT_TIME_LIMIT,
    )


def test_a_running_job_is_stale_five_minutes_after_the_hard_time_limit(settings):
    settings.CELERY_TASK_TIME_LIMIT = 600
    assert services.stale_after_seconds() == 900


def test_the_services_name_the_task_the_worker_registers():
    assert current_app.tasks[services.RUN_TASK].name == run_import_job.name == "imports.run_import_job"
