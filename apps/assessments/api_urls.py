from rest_framework.routers import SimpleRouter

from .apis import DecisionModelViewSet

router = SimpleRouter()
router.register("decision-models", DecisionModelViewSet, basename="decision-model")

urlpatterns = router.urls
