from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    """The case report form: patients, ICI courses, irAEs, rechallenge episodes and outcomes."""

    name = "apps.clinical"
    label = "clinical"
    verbose_name = "Clinical records"
