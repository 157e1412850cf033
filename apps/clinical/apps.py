from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    """The case report form: patients, ICI courses, irAEs, rechallenge episodes and outcomes."""

    name = "apps.clinical"
    label = "clinical"
    verbose_name = "Clinical records"

    def ready(self) -> None:
        from apps.core.records import register

        from .records import RECORD_TYPES

        register(*RECORD_TYPES)
