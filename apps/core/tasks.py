"""Housekeeping tasks run by Celery beat."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="core.sessions_clear_expired", acks_late=True, soft_time_limit=540, time_limit=600)
def sessions_clear_expired() -> int:
    """Remove expired sessions so idle sign-ins cannot be revived; idempotent."""
    return services.sessions_clear_expired()
