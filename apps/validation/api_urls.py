"""Routes of the validation API, included under ``/api/v1/`` by ``config.api_urls``."""

from rest_framework.routers import SimpleRouter

from .apis import ValidationRunViewSet

router = SimpleRouter()
router.register("validation-runs", ValidationRunViewSet, basename="validation-run")

urlpatterns = router.urls
