"""API of data quality: queries, sign-off and source verification."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

router = SimpleRouter()

urlpatterns: list = [path("", include(router.urls))]
