from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Base models, the audit trail and the application error shared by every app."""

    name = "apps.core"
    label = "core"
    verbose_name = "Core"
