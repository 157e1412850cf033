"""Crash-safe background jobs: who is running a job, and whether that worker is still alive.

A job (an import, and later a sweep, a validation run or an export) is a database row that a worker
*claims* before running it. If the worker dies mid-way (killed, out of memory, machine lost), its
transaction rolls back and the row still says "running". Another worker may then take the job over,
but only once it is sure the first one is gone, so a job never runs twice at the same time:

- **PostgreSQL**: the running worker holds a session-level advisory lock on the job; the database
  drops it the moment that worker's connection dies, whatever machine it was on.
- **SQLite** (the embedded default, one machine): the claim records the worker's host and process
  id; the process is gone if the operating system no longer knows that id.
"""

from __future__ import annotations

import logging
import os
import socket
import zlib
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import TypeVar

from celery import current_app
from django.db import connection, transaction
from django.db.models import Model, QuerySet

log = logging.getLogger(__name__)

J = TypeVar("J", bound=Model)


def worker_identity() -> str:
    """``host:pid`` of this process, stored on the job it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _lock_keys(kind: str, job_id: int) -> tuple[int, int]:
    return zlib.crc32(kind.encode()) & 0x7FFFFFFF, int(job_id)


@contextmanager
def job_lease(kind: str, job_id: int) -> Iterator[bool]:
    """Hold the liveness lock of one job while the block runs; yields False if a live worker holds it.

    On SQLite there is no lock to take (yields True); liveness comes from :func:`claimant_is_gone`.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    namespace, key = _lock_keys(kind, job_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])


def claimant_is_gone(kind: str, job_id: int, claimed_by: str) -> bool:
    """Whether the worker that claimed a running job has died (so the job may be taken over)."""
    if connection.vendor == "postgresql":
        with job_lease(kind, job_id) as acquired:
            return acquired
    host, _, pid = claimed_by.rpartition(":")
    if not claimed_by or host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's process cannot be checked from here; the stale-job timeout applies
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    """A killed child not yet reaped by its parent still has an id; it runs nothing."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def job_enqueue(task_name: str, job_id: int) -> None:
    """Hand a job to the workers through its task's registered name (``imports.run_import_job``).

    The task module imports the service that runs the job; by naming the task the service enqueues
    it without importing that module back. The owning app imports its task module when it is ready,
    so the name is registered in every process.
    """
    current_app.tasks[task_name].delay(job_id)


def job_claim(
    jobs: QuerySet[J],
    job_id: int,
    *,
    kind: str,
    noun: str,
    waiting: str,
    running: Collection[str],
    max_attempts: int,
    give_up: Callable[[J], None],
    start: Callable[[J, str], None],
) -> J | None:
    """Make the job this worker's, if it waits or its previous worker is gone; else None (someone else runs it).

    One rule for imports, validation runs and exports: ``kind`` names the liveness lock (:func:`job_lease`),
    ``noun`` the job in the log, ``waiting`` and ``running`` its statuses.

    The row is locked while it is decided. A job already started ``max_attempts`` times is handed to
    ``give_up`` (which marks it failed) instead: a worker that keeps dying on it must not loop forever.
    ``start(job, worker)`` marks it running for ``worker`` (``host:pid``), counting the attempt.
    """
    with transaction.atomic():
        job = jobs.select_for_update().filter(pk=job_id).first()
        if job is None:
            return None
        taken_over = job.status in running
        if job.status != waiting and not (taken_over and claimant_is_gone(kind, job.pk, job.claimed_by)):
            return None
        if job.attempts >= max_attempts:
            give_up(job)
            return None
        start(job, worker_identity())
    if taken_over:
        log.warning("%s %s taken over after its worker stopped (attempt %s)", noun, job.pk, job.attempts)
    return job
