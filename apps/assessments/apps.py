from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    """Locked decision-model assessments made at enrollment, and the calculator."""

    name = "apps.assessments"
    label = "assessments"
    verbose_name = "Decision-model assessments"

    def ready(self) -> None:
        from apps.clinical.hooks import on_enrolled_patient_change
        from apps.clinical.panels import episode_panel_register

        from . import checks  # noqa: F401  (registers the system checks)
        from .panels import ASSESSMENT_PANEL
        from .services import episodes_reassess_for_patient

        episode_panel_register(ASSESSMENT_PANEL)
        # A correction to an enrolled patient's data re-assesses their enrolled episodes, in the write's transaction.
        on_enrolled_patient_change(episodes_reassess_for_patient)
