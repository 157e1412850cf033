from django.apps import AppConfig


class QualityConfig(AppConfig):
    """Data quality for coordinators: rules, the nightly sweep, queries, sign-off, source verification."""

    name = "apps.quality"
    label = "quality"
    verbose_name = "Data quality"
