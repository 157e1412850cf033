"""Routes of the clinical record API, included under ``/api/v1/`` by ``config.api_urls``."""

from rest_framework.routers import SimpleRouter

from . import apis

router = SimpleRouter()
router.register("patients", apis.PatientViewSet, basename="patient")
router.register("initial-courses", apis.InitialCourseViewSet, basename="initial-course")
router.register("episodes", apis.EpisodeViewSet, basename="episode")
router.register("adverse-events", apis.AdverseEventViewSet, basename="adverse-event")
router.register("responses", apis.ResponseViewSet, basename="response")
router.register("follow-ups", apis.FollowUpViewSet, basename="follow-up")

urlpatterns = router.urls
