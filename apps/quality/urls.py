"""Pages of data quality: the query inbox, sign-off and source verification, the dashboards."""

from django.urls import path  # noqa: F401  (each area adds its pages below)

app_name = "quality"

urlpatterns: list = []
