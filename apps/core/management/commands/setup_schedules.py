"""Create or update the periodic tasks of ``config.schedules`` in the beat database (idempotent)."""

from django.core.management.base import BaseCommand
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from config.schedules import SCHEDULES


class Command(BaseCommand):
    help = "Write the registry's periodic jobs into django-celery-beat's schedule tables."

    def handle(self, *args, **options) -> None:
        for schedule in SCHEDULES:
            crontab, _ = CrontabSchedule.objects.get_or_create(timezone="UTC", **schedule.crontab)
            PeriodicTask.objects.update_or_create(
                name=schedule.name,
                defaults={"task": schedule.task, "crontab": crontab, "description": schedule.description},
            )
        self.stdout.write(f"{len(SCHEDULES)} periodic task(s) registered.")
