from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """De-identified exports for investigators: projects, requests, Celery builds, downloads."""

    name = "apps.exports"
    label = "exports"
    verbose_name = "De-identified exports"
