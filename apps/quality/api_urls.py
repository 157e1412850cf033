"""API of data quality: queries, sign-off and source verification."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .apis import DataQueryViewSet
from .signoff_apis import CaseSignView, CaseStatusView, CaseUnlockView, SourceVerificationViewSet

router = SimpleRouter()
router.register("queries", DataQueryViewSet, basename="query")  # queries (the Data Resolution Workflow)

router.register("source-verifications", SourceVerificationViewSet, basename="source-verification")  # SDV marks

urlpatterns: list = [
    # Sign-off: paths of this app under patients/ (the clinical router's patient routes never match them).
    path("patients/<str:registry_id>/case-status/", CaseStatusView.as_view(), name="case-status"),
    path("patients/<str:registry_id>/sign/", CaseSignView.as_view(), name="case-sign"),
    path("patients/<str:registry_id>/unlock/", CaseUnlockView.as_view(), name="case-unlock"),
    path("", include(router.urls)),
]
