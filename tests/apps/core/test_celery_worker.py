"""A real Celery worker process, on the configured broker, runs a task whose effect lands in the database."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from apps.core.tasks import sessions_clear_expired

ROOT = Path(__file__).resolve().parents[3]


def _broker_reachable() -> bool:
    if not settings.REDIS_URL:
        return True  # the embedded filesystem broker needs no server
    import redis

    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping())
    except redis.exceptions.ConnectionError:
        return False


def _worker_env() -> dict[str, str]:
    """The worker must use the *test* database the test process writes to."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = (
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        env["SQLITE_PATH"] = str(db["NAME"])
    return env


@pytest.fixture
def worker_queue():
    if not _broker_reachable():
        message = f"Celery broker {settings.REDIS_URL} is not reachable"
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    queue = f"test-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--loglevel=INFO",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=_worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield queue
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_clears_expired_sessions_in_the_database(worker_queue):
    now = timezone.now()
    Session.objects.create(
        session_key="expired" + "x" * 25, session_data="e30", expire_date=now - dt.timedelta(hours=1)
    )
    Session.objects.create(
        session_key="current" + "y" * 25, session_data="e30", expire_date=now + dt.timedelta(hours=1)
    )

    sessions_clear_expired.apply_async(queue=worker_queue)

    deadline = time.monotonic() + 90
    while Session.objects.filter(session_key__startswith="expired").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert list(Session.objects.values_list("session_key", flat=True)) == ["current" + "y" * 25]
