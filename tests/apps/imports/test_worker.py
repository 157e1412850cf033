"""The large-file path end to end: the job is committed, enqueued on commit, and a real worker imports it."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.clinical.models import Patient
from apps.core.models import AuditEntry
from apps.imports import services
from apps.imports.models import ImportJob
from apps.imports.tasks import run_import_job
from tests.apps.core.test_celery_worker import worker_queue  # noqa: F401 - the worker fixture

from .data import csv_bytes, three_rows


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_imports_a_job_enqueued_on_commit(worker_queue, site_a, data_entry_a, monkeypatch):  # noqa: F811
    monkeypatch.setattr(
        services, "_enqueue", lambda job_id: run_import_job.apply_async(args=[job_id], queue=worker_queue)
    )
    upload = SimpleUploadedFile("episodes.csv", csv_bytes(three_rows()))

    job = services.import_job_create(user=data_entry_a, site=site_a, upload=upload, run_inline=False)
    try:
        deadline = time.monotonic() + 90
        while job.is_running and time.monotonic() < deadline:
            time.sleep(0.5)
            job.refresh_from_db()

        assert (job.status, job.processed_rows, job.total_rows) == (ImportJob.Status.SUCCEEDED, 3, 3), job.message
        assert Patient.objects.filter(site=site_a).count() == 2
        assert set(AuditEntry.objects.values_list("channel", flat=True)) == {"import"}
    finally:
        job.file.delete(save=False)
