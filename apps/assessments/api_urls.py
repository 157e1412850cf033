"""Routes of the decision-model API, included under ``/api/v1/`` by ``config.api_urls``."""

from rest_framework.routers import SimpleRouter

from .apis import AssessmentViewSet, DecisionModelViewSet, EpisodeEnrollViewSet

router = SimpleRouter()
router.register("decision-models", DecisionModelViewSet, basename="decision-model")
router.register("assessments", AssessmentViewSet, basename="assessment")
# Only the detail action ``episodes/{id}/enroll/``: the episode records themselves are the clinical router's.
router.register("episodes", EpisodeEnrollViewSet, basename="episode-enrollment")

urlpatterns = router.urls
