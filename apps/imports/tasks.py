"""Celery tasks of bulk imports: thin, idempotent wrappers around ``services``, which enqueues them by name."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(
    name=services.RUN_TASK,
    acks_late=True,
    # A worker process killed mid-task puts the task back; the job's claim makes a second run harmless.
    reject_on_worker_lost=True,
    # Its time limits are the project's, CELERY_TASK_SOFT_TIME_LIMIT and CELERY_TASK_TIME_LIMIT (settings).
)
def run_import_job(job_id: int) -> str | None:
    """Validate and import one job; a job that is already running or finished is not run again."""
    job = services.import_job_run(job_id=job_id)
    return job.status if job is not None else None


@shared_task(name="imports.recover_stalled_jobs", acks_late=True)
def recover_stalled_jobs() -> list[int]:
    """Every minute: start again the jobs whose worker died or whose message was lost."""
    return services.import_jobs_recover()
