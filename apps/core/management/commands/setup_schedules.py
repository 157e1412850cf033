"""Create or update the periodic tasks of ``settings.PERIODIC_TASKS`` in the beat database (idempotent)."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django_celery_beat.models import CrontabSchedule, PeriodicTask


class Command(BaseCommand):
    help = "Write the registry's periodic jobs into django-celery-beat's schedule tables."

    def handle(self, *args, **options) -> None:
        for schedule in settings.PERIODIC_TASKS:
            crontab, _ = CrontabSchedule.objects.get_or_create(timezone="UTC", **schedule["crontab"])
            PeriodicTask.objects.update_or_create(
                name=schedule["name"],
                defaults={"task": schedule["task"], "crontab": crontab, "description": schedule["description"]},
            )
        self.stdout.write(f"{len(settings.PERIODIC_TASKS)} periodic task(s) registered.")
