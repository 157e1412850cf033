"""Celery tasks of data quality: thin wrappers around ``apps.quality.sweep`` and ``apps.quality.dashboard``."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from .dashboard import WARM_SCHEDULED_KEY, dashboard_warm
from .sweep import quality_sweep


@shared_task(name="quality.sweep", acks_late=True, soft_time_limit=1800, time_limit=1900)
def sweep() -> dict:
    """Nightly (``settings.PERIODIC_TASKS``, editable in the admin): every rule over the whole registry; the
    queries of new problems open, those of fixed problems close. A second delivery is harmless (idempotent;
    a sweep waits for one already running)."""
    return quality_sweep()


@shared_task(name="quality.warm_dashboard", acks_late=True, soft_time_limit=600, time_limit=660)
def warm_dashboard() -> list[int]:
    """Every five minutes (``settings.PERIODIC_TASKS``): the dashboard's clinical figures of the sites whose
    cached entry a write dropped, computed before a coordinator asks for them, and 10 s after a write
    (``dashboard_warm_soon``). Idempotent."""
    cache.delete(WARM_SCHEDULED_KEY)  # writes from now on schedule the next one
    return dashboard_warm()
