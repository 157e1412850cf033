"""A worker killed in the middle of a large import: another worker takes the job over, and it lands exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.clinical.models import InitialCourse, Patient
from apps.core.models import AuditEntry
from apps.imports import services
from apps.imports.models import ImportJob
from apps.imports.tasks import run_import_job
from tests.apps.core.test_celery_worker import ROOT, _broker_reachable, _worker_env

from .data import csv_bytes, row

ROWS = 3000  # enough rows that the import is still writing when the worker is killed


def _start_worker(queue: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", queue]
    command += ["--loglevel=INFO", "--without-heartbeat", "--without-mingle", "--without-gossip"]
    # Its own session, so the whole worker can be killed as a machine failure would.
    return subprocess.Popen(  # noqa: S603
        command,
        cwd=ROOT,
        env=_worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_for(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def queue():
    if not _broker_reachable():
        message = "the Celery broker is not reachable"
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    return f"crash-{uuid.uuid4().hex[:8]}"


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_import_is_replaced_and_the_import_lands_exactly_once(
    queue, site_a, data_entry_a, monkeypatch
):
    monkeypatch.setattr(services, "_enqueue", lambda job_id: run_import_job.apply_async(args=[job_id], queue=queue))
    rows = [row(local_identifier=f"MRN-{number:04d}") for number in range(ROWS)]
    first = _start_worker(queue)
    second = None
    job = services.import_job_create(
        user=data_entry_a, site=site_a, upload=SimpleUploadedFile("big.csv", csv_bytes(rows)), run_inline=False
    )
    try:
        _wait_for(
            lambda: ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.IMPORTING,
            seconds=180,
            what="the first worker to start writing",
        )
        time.sleep(1.5)  # well inside the import's transaction
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)

        job.refresh_from_db()
        assert job.status == ImportJob.Status.IMPORTING, "the import finished before the worker was killed"
        assert Patient.objects.filter(site=site_a).count() == 0  # the killed transaction left nothing behind

        second = _start_worker(queue)
        assert services.import_jobs_recover() == [job.pk]
        _wait_for(lambda: not ImportJob.objects.get(pk=job.pk).is_running, seconds=300, what="the second worker")

        job.refresh_from_db()
        assert (job.status, job.attempts) == (ImportJob.Status.SUCCEEDED, 2), job.message
        assert Patient.objects.filter(site=site_a).count() == ROWS
        assert InitialCourse.objects.filter(patient__site=site_a).count() == ROWS
        patient_ids = {str(pk) for pk in Patient.objects.filter(site=site_a).values_list("pk", flat=True)}
        creates = AuditEntry.objects.filter(model_label="clinical.patient", action="create")
        assert sorted(creates.values_list("object_id", flat=True)) == sorted(patient_ids)  # one entry per patient
        assert AuditEntry.objects.filter(channel="import").count() == sum(job.created_counts.values())
        assert services.import_jobs_recover() == []  # nothing left to pick up
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=30)
        job.file.delete(save=False)
