"""Celery task of bulk imports: a thin, idempotent wrapper around ``services.import_job_run``."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(
    name="imports.run_import_job",
    acks_late=True,
    soft_time_limit=services.SOFT_TIME_LIMIT,
    time_limit=services.TIME_LIMIT,
)
def run_import_job(job_id: int) -> str | None:
    """Validate and import one job; a job that is already running or finished is not run again."""
    job = services.import_job_run(job_id=job_id)
    return job.status if job is not None else None
