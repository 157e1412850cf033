from django.apps import AppConfig


class QualityConfig(AppConfig):
    """Data quality for coordinators: rules, the nightly sweep, queries, sign-off, source verification."""

    name = "apps.quality"
    label = "quality"
    verbose_name = "Data quality"

    def ready(self) -> None:
        from apps.clinical.panels import patient_panel_register

        from .panels import QUERY_PANEL

        patient_panel_register(QUERY_PANEL)  # queries: the patient's open queries, "Raise a query" links

        from apps.clinical.hooks import on_records_written

        from .on_save import quality_on_records_written

        on_records_written(quality_on_records_written)  # rules: the on-save warning rules open and close queries

        from apps.clinical.panels import patient_list_column_register

        from .dashboard import OPEN_QUERIES_COLUMN, dashboard_records_written

        on_records_written(dashboard_records_written)  # dashboard: a write forgets its sites' cached figures
        patient_list_column_register(OPEN_QUERIES_COLUMN)  # dashboard: the patient list's open-queries column

        from .panels import open_query_counts_on_write

        on_records_written(open_query_counts_on_write)  # after the on-save rules: the list's stored counts

        from .sdv import source_verification_clear
        from .signoff_views import CASE_STATUS_PANEL

        patient_panel_register(CASE_STATUS_PANEL)  # sign-off: case status, signature, sign / unlock / SDV links
        on_records_written(source_verification_clear)  # sign-off: a change after source verification clears it

        from . import tasks  # noqa: F401  (registers the Celery tasks; a write schedules the dashboard's warming by name)
