"""Pages of data quality: the query inbox, sign-off and source verification, the dashboards."""

from django.urls import path

from . import dashboard_views, signoff_views, views

app_name = "quality"

urlpatterns: list = [
    # Sign-off and source-data verification (issue #10 item 5): the site PI signs, a coordinator unlocks and verifies.
    path("patients/<str:registry_id>/sign/", signoff_views.case_sign, name="case-sign"),
    path("patients/<str:registry_id>/unlock/", signoff_views.case_unlock, name="case-unlock"),
    path("patients/<str:registry_id>/verify/", signoff_views.case_verify, name="case-verify"),
    # Queries (the Data Resolution Workflow): the inbox, a query's thread and its steps, raising one.
    path("queries/", views.query_list, name="query-list"),
    path("queries/<int:pk>/", views.query_detail, name="query-detail"),
    path("queries/<int:pk>/answer/", views.query_answer, name="query-answer"),
    path("queries/<int:pk>/close/", views.query_close, name="query-close"),
    path("queries/<int:pk>/reopen/", views.query_reopen, name="query-reopen"),
    path("queries/<int:pk>/comment/", views.query_comment, name="query-comment"),
    path("queries/raise/<slug:model>/<int:pk>/", views.query_raise, name="query-raise"),
    # Dashboard (issue #10 item 6): figures per site, and the records behind each figure.
    path("", dashboard_views.dashboard, name="dashboard"),
    path("drilldown/<slug:metric>/", dashboard_views.drilldown, name="drilldown"),
]
