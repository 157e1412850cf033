"""REST endpoint of the sites a user may read (``/api/v1/sites/``), e.g. to pick a site code."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from apps.core.viewsets import INVALID, NOT_FOUND, UNAUTHENTICATED, RecordPagination
from registry.text import contains_nul

from .models import Site
from .selectors import site_list_for_user


class SiteSerializer(serializers.ModelSerializer):
    """A participating center."""

    class Meta:
        model = Site
        fields = ("code", "name", "country", "active", "ethics_approval_reference", "ethics_approval_date")
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        summary="List the sites you may read",
        tags=["sites"],
        responses={200: SiteSerializer, 400: INVALID, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    ),
    retrieve=extend_schema(
        summary="Read a site", tags=["sites"], responses={200: SiteSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND}
    ),
)
class SiteViewSet(viewsets.ReadOnlyModelViewSet):
    """Sites by code: center staff see their own sites, coordinators every site."""

    serializer_class = SiteSerializer
    pagination_class = RecordPagination
    filter_backends: list = []
    lookup_field = "code"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Site]:
        return site_list_for_user(user=self.request.user).order_by("code")

    def get_object(self) -> Site:
        if contains_nul(str(self.kwargs.get(self.lookup_field, ""))):  # PostgreSQL text cannot hold NUL
            raise Http404
        return super().get_object()
