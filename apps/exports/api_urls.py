"""Routes of the exports API, included under ``/api/v1/`` by ``config.api_urls``."""

from rest_framework.routers import SimpleRouter

from .apis import ExportRequestViewSet

router = SimpleRouter()
router.register("exports", ExportRequestViewSet, basename="export")

urlpatterns = router.urls
