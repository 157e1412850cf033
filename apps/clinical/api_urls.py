"""Routes of the clinical record API, included under ``/api/v1/`` by ``config.api_urls``."""

from rest_framework.routers import SimpleRouter

from . import apis

router = SimpleRouter()
for viewset in apis.VIEWSETS:
    router.register(viewset.record_type.api_route, viewset, basename=viewset.record_type.slug)

urlpatterns = router.urls
