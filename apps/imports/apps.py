from django.apps import AppConfig


class ImportsConfig(AppConfig):
    """Bulk import of existing episodes from a site's CSV file, validated all-or-nothing."""

    name = "apps.imports"
    label = "imports"
    verbose_name = "Bulk imports"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registers the Celery tasks, which the services enqueue by name)
