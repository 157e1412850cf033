"""URL map: pages, the API under /api/v1/, its schema and docs, and the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.health, name="health"),
    path("accounts/", include("apps.accounts.urls")),
    path("patients/", include("apps.clinical.urls")),
    path("decision/", include("apps.assessments.urls")),
    path("imports/", include("apps.imports.urls")),
    path("validation/", include("apps.validation.urls")),
    path("quality/", include("apps.quality.urls")),
    path("exports/", include("apps.exports.urls")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
