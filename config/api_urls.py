"""The REST API, version 1: every app registers its routes here."""

from django.urls import include, path

urlpatterns = [
    path("", include("apps.accounts.api_urls")),
    path("", include("apps.clinical.api_urls")),
    path("", include("apps.assessments.api_urls")),
    path("", include("apps.validation.api_urls")),
    path("", include("apps.quality.api_urls")),
    path("", include("apps.exports.api_urls")),
]
