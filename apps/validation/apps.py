from django.apps import AppConfig


class ValidationConfig(AppConfig):
    """Validation of the decision model against observed outcomes: immutable runs, the job and its API."""

    name = "apps.validation"
    label = "validation"
    verbose_name = "Validation of the decision model"
