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

        from .hooks import on_records_written
        from .summaries import patient_summaries_on_write

        on_records_written(patient_summaries_on_write)  # the patient list's stored values follow every write
