"""A real Celery worker process (filesystem broker on SQLite, Redis on PostgreSQL) computes and stores a run."""

from __future__ import annotations

import os
import time

import pytest

from apps.validation import services
from apps.validation.models import ValidationRun
from apps.validation.tasks import run_validation
from tests.apps.core.test_celery_worker import worker_queue  # noqa: F401 - the worker fixture

from .cohorts import cut_now


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_runs_a_validation_enqueued_on_commit(worker_queue, lung, coordinator, monkeypatch):  # noqa: F811
    monkeypatch.setattr(
        services, "_enqueue", lambda run_id: run_validation.apply_async(args=[run_id], queue=worker_queue)
    )
    run = services.validation_run_create(
        model_version="1.1", user=coordinator, trigger=ValidationRun.Trigger.MANUAL, data_cut=cut_now()
    )

    deadline = time.monotonic() + 120
    while run.is_running and time.monotonic() < deadline:
        time.sleep(0.5)
        run = ValidationRun.objects.get(pk=run.pk)

    assert run.status == ValidationRun.Status.SUCCEEDED, run.message
    assert run.progress == 100 and run.attempts == 1
    assert run.claimed_by and not run.claimed_by.endswith(f":{os.getpid()}")  # another process
    assert run.metrics["populations"]["primary"]["n"] == 228
    assert run.figures.count() == 8  # drawn by the worker, stored with the run
    # The worker's metrics are the ones the test process computes on the same cut.
    inline = services.validation_run_command(model_version="1.1", data_cut=run.data_cut)
    assert inline.metrics_json == run.metrics_json
