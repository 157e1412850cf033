"""Celery tasks of validation runs: thin, idempotent wrappers around ``services``."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(
    name="validation.run",
    acks_late=True,
    # A worker process killed mid-run puts the task back; the run's claim makes a second delivery harmless.
    reject_on_worker_lost=True,
    soft_time_limit=services.SOFT_TIME_LIMIT,
    time_limit=services.TIME_LIMIT,
)
def run_validation(run_id: int) -> str | None:
    """Compute and store one run; a run that is already running or finished is not run again."""
    run = services.validation_run_execute(run_id=run_id)
    return run.status if run is not None else None


@shared_task(name="validation.nightly", acks_late=True, soft_time_limit=120, time_limit=180)
def nightly_validation() -> list[int]:
    """Nightly: one run per model version with locked assessments, on one data cut, each run by a worker."""
    return [run.pk for run in services.validation_runs_create(trigger=services.Trigger.SCHEDULE)]


@shared_task(name="validation.recover_stalled_runs", acks_late=True)
def recover_stalled_runs() -> list[int]:
    """Every few minutes: start again the runs whose worker died or whose message was lost."""
    return services.validation_runs_recover()
