"""Celery tasks of exports: thin, idempotent wrappers around ``services``."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(
    name="exports.build",
    acks_late=True,
    # A worker killed mid-build puts the task back; the request's claim makes a second delivery harmless.
    reject_on_worker_lost=True,
    soft_time_limit=services.SOFT_TIME_LIMIT,
    time_limit=services.TIME_LIMIT,
)
def build_export(request_id: int) -> str | None:
    """Build one approved export; a ready one, or one a live worker builds, is not built again."""
    request = services.export_request_build(request_id=request_id)
    return request.status if request is not None else None


@shared_task(name="exports.housekeeping", acks_late=True, soft_time_limit=120, time_limit=180)
def housekeeping() -> dict[str, list[int]]:
    """Every few minutes: restart builds whose worker died, expire bundles whose link ran out."""
    return {"recovered": services.exports_recover(), "expired": services.exports_expire()}
