"""Routes of the accounts API, included under ``/api/v1/`` by ``config.api_urls``."""

from rest_framework.routers import SimpleRouter

from . import apis

router = SimpleRouter()
router.register("sites", apis.SiteViewSet, basename="site")

urlpatterns = router.urls
