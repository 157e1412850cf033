"""A job is claimed by one worker at a time; one whose worker died is taken over, a bounded number of times."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from apps.clinical.models import Patient
from apps.imports import services
from apps.imports.models import ImportJob

from .data import csv_bytes, three_rows

Status = ImportJob.Status


@pytest.fixture
def pending_job(site_a, data_entry_a, monkeypatch) -> ImportJob:
    monkeypatch.setattr(services, "_enqueue", lambda job_id: None)
    upload = SimpleUploadedFile("episodes.csv", csv_bytes(three_rows()))
    return services.import_job_create(user=data_entry_a, site=site_a, upload=upload, run_inline=False)


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])  # noqa: S607
    process.wait()
    return process.pid


def _mark_running(job: ImportJob, *, claimed_by: str, attempts: int = 1) -> None:
    ImportJob.objects.filter(pk=job.pk).update(status=Status.IMPORTING, claimed_by=claimed_by, attempts=attempts)


sqlite_only = pytest.mark.skipif(
    "connection.vendor != 'sqlite'", reason="on PostgreSQL a live worker is one holding the lease (test below)"
)


def test_a_claimed_job_records_its_worker_and_counts_the_attempt(pending_job):
    services.import_job_run(job_id=pending_job.pk)
    pending_job.refresh_from_db()
    assert pending_job.status == Status.SUCCEEDED
    assert (pending_job.claimed_by, pending_job.attempts) == (f"{socket.gethostname()}:{os.getpid()}", 1)


def test_a_running_job_whose_worker_process_is_gone_is_taken_over(pending_job):
    _mark_running(pending_job, claimed_by=f"{socket.gethostname()}:{_dead_pid()}")
    assert services.import_jobs_recover() == [pending_job.pk]
    services.import_job_run(job_id=pending_job.pk)
    pending_job.refresh_from_db()
    assert (pending_job.status, pending_job.attempts) == (Status.SUCCEEDED, 2)
    assert Patient.objects.count() == 2


@sqlite_only
def test_a_running_job_whose_worker_is_alive_is_left_alone(pending_job):
    _mark_running(pending_job, claimed_by=f"{socket.gethostname()}:{os.getpid()}")
    assert services.import_jobs_recover() == []
    services.import_job_run(job_id=pending_job.pk)
    pending_job.refresh_from_db()
    assert (pending_job.status, pending_job.attempts) == (Status.IMPORTING, 1)
    assert Patient.objects.count() == 0


def test_a_job_whose_worker_died_three_times_fails_with_a_message_instead_of_looping(pending_job):
    _mark_running(pending_job, claimed_by=f"{socket.gethostname()}:{_dead_pid()}", attempts=services.MAX_ATTEMPTS)
    services.import_job_run(job_id=pending_job.pk)
    pending_job.refresh_from_db()
    assert pending_job.status == Status.FAILED
    assert "stopped 3 times" in pending_job.message
    assert Patient.objects.count() == 0


def test_a_job_still_waiting_for_a_worker_after_the_grace_period_is_enqueued_again(pending_job):
    assert services.import_jobs_recover() == []  # just uploaded: its message is on its way
    ImportJob.objects.filter(pk=pending_job.pk).update(
        created_at=timezone.now() - dt.timedelta(seconds=services.PENDING_GRACE_SECONDS + 1)
    )
    assert services.import_jobs_recover() == [pending_job.pk]


def test_on_postgresql_a_job_leased_by_a_live_session_is_not_claimed_again(pending_job):
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite uses process ids (tests above)")
    import psycopg

    db = connection.settings_dict
    other = psycopg.connect(dbname=db["NAME"], host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"])
    namespace, key = services_lock_keys(pending_job.pk)
    other.execute("SELECT pg_advisory_lock(%s, %s)", [namespace, key])
    try:
        _mark_running(pending_job, claimed_by="elsewhere:1")
        assert services.import_jobs_recover() == []
        services.import_job_run(job_id=pending_job.pk)
        pending_job.refresh_from_db()
        assert pending_job.status == Status.IMPORTING
    finally:
        other.close()  # the session ends: the lease is gone
    assert services.import_jobs_recover() == [pending_job.pk]


def services_lock_keys(job_id: int) -> tuple[int, int]:
    from apps.core.jobs import _lock_keys

    return _lock_keys(services.JOB_KIND, job_id)
