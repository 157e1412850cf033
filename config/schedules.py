"""Periodic jobs, declared once; ``manage.py setup_schedules`` writes them into django-celery-beat."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    crontab: dict[str, str]
    description: str


SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        name="Clear expired sessions",
        task="core.sessions_clear_expired",
        crontab={"minute": "17", "hour": "*/1"},
        description="Hourly: remove expired sign-in sessions.",
    ),
    Schedule(
        name="Recover stalled imports",
        task="imports.recover_stalled_jobs",
        crontab={"minute": "*"},
        description="Every minute: start again the imports whose worker died or whose message was lost.",
    ),
)
