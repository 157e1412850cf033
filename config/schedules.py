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
    Schedule(
        name="Nightly validation of the decision model",
        task="validation.nightly",
        crontab={"minute": "30", "hour": "2"},
        description="Nightly at 02:30 UTC: a validation run on a fresh data cut for every model version with "
        "locked assessments (each run by a worker; progress and results on the validation pages).",
    ),
    Schedule(
        name="Recover stalled validation runs",
        task="validation.recover_stalled_runs",
        crontab={"minute": "*/5"},
        description="Every five minutes: start again the validation runs whose worker died or whose message was lost.",
    ),
)
