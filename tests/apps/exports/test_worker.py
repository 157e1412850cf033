"""A real Celery worker process (filesystem broker on SQLite, Redis on PostgreSQL) builds an approved export."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from apps.accounts.models import Role
from apps.assessments.demo import demo_registry_seed
from apps.exports import services
from apps.exports.models import ExportRequest
from apps.exports.tasks import build_export
from tests.apps.core.test_celery_worker import worker_queue  # noqa: F401 - the worker fixture
from tests.factories import user_with_role


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_builds_an_export_enqueued_on_approval(worker_queue, project, member, settings, monkeypatch):  # noqa: F811
    # The worker reads the settings of its own environment: the bundle and the key go where it puts them.
    settings.EXPORTS_DIR = settings.VAR_DIR / "exports"
    settings.EXPORTS_KEY_FILE = settings.VAR_DIR / "export-pseudonym.key"
    monkeypatch.setattr(services, "_enqueue", lambda pk: build_export.apply_async(args=[pk], queue=worker_queue))
    demo_registry_seed(sites=3, patients=30, seed=4)
    coordinator = user_with_role(Role.COORDINATOR)
    request = services.export_request_create(user=member, project=project, datasets=["analysis"], formats=["parquet"])
    services.export_request_approve(request=request, user=coordinator)

    deadline = time.monotonic() + 120
    while request.status != ExportRequest.Status.READY and time.monotonic() < deadline:
        if request.status == ExportRequest.Status.FAILED:
            break
        time.sleep(0.5)
        request = ExportRequest.objects.get(pk=request.pk)

    assert request.status == ExportRequest.Status.READY, request.message
    assert request.progress == 100 and request.attempts == 1
    assert request.claimed_by and not request.claimed_by.endswith(f":{os.getpid()}")  # another process
    path = services.exports_dir() / request.file_path
    try:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == request.sha256
        # The worker's bundle is the one this process builds on the same cut: same key, same bytes.
        ExportRequest.objects.filter(pk=request.pk).update(status=ExportRequest.Status.APPROVED)
        inline = services.export_request_build(request_id=request.pk)
        assert inline.sha256 == request.sha256
    finally:
        path.unlink(missing_ok=True)
