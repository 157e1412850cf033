from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    """Locked decision-model assessments made at enrollment, and the calculator."""

    name = "apps.assessments"
    label = "assessments"
    verbose_name = "Decision-model assessments"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
