"""Decision-model API: list the versions, evaluate inputs (nothing stored), enroll an episode, and read
the locked assessments of one's sites (blinding respected)."""

from __future__ import annotations

import django_filters as filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from apps.clinical.filters import EPISODE_HELP, REGISTRY_ID_HELP, SITE_HELP, IdFilter
from apps.clinical.models import RechallengeEpisode
from apps.clinical.scoping import ReachesRecords, ScopedViewSetMixin
from apps.core.errors import ApplicationError
from apps.core.models import AuditChannel
from apps.core.viewsets import (
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    UNAUTHENTICATED,
    ErrorSerializer,
    RecordPagination,
)
from registry.decision import available_versions, get_spec

from . import services
from .models import Assessment
from .selectors import assessment_list_for_user
from .serializers import (
    AssessmentSerializer,
    DecisionModelSerializer,
    EvaluateRequestSerializer,
    EvaluateResponseSerializer,
)


class ValidationErrorSerializer(drf_serializers.Serializer):
    detail = drf_serializers.CharField(required=False)


class DecisionModelViewSet(viewsets.ViewSet):
    """Versions of the decision model (specification as data, with content hash) and an evaluator."""

    @extend_schema(responses=DecisionModelSerializer(many=True), summary="List decision-model versions")
    def list(self, request: Request) -> Response:
        active = services.active_model_version()
        body = [
            {
                "version": spec.version,
                "hash": spec.hash,
                "active": spec.version == active,
                "specification": spec.to_dict(),
            }
            for spec in (get_spec(version) for version in available_versions())
        ]
        return Response(DecisionModelSerializer(body, many=True).data)

    @extend_schema(
        request=EvaluateRequestSerializer,
        responses={
            200: EvaluateResponseSerializer,
            400: OpenApiResponse(description="Field-level errors"),
            403: OpenApiResponse(
                ErrorSerializer, description="Center staff while blinding is on (`BLINDING_CLOSES_CALCULATOR`)."
            ),
        },
        summary="Evaluate the decision model on given inputs",
        description="Nothing is stored. Closed to center staff while blinding is on, like the calculator page.",
    )
    @action(detail=False, methods=["post"])
    def evaluate(self, request: Request) -> Response:
        if not services.calculator_open_to(user=request.user):
            raise ApplicationError(services.CALCULATOR_CLOSED, status=403)
        serializer = EvaluateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.decision_evaluate(
            inputs=services.decision_inputs_from_payload(data), version=data.get("model_version")
        )
        body = result.as_dict()
        body["factors"] = [
            {key: f[key] for key in ("factor", "level", "reason", "points", "source")} for f in body["factors"]
        ]
        return Response(EvaluateResponseSerializer(body).data)


# --- Enrollment and locked assessments ------------------------------------------------------------

ENROLL_CONFLICT = OpenApiResponse(
    ErrorSerializer, description="Already enrolled, or the episode's site is closed to new data; nothing changed."
)


class EpisodeEnrollViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    """``POST /episodes/{id}/enroll/``: the clinical record viewset's episodes, one action of the assessments app."""

    scope_model = RechallengeEpisode
    permission_classes = [IsAuthenticated, ReachesRecords]
    lookup_value_regex = "[^/]+"  # any value reaches the view, so a malformed one answers a JSON 404
    serializer_class = AssessmentSerializer

    def safely_get_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("patient__site")

    @extend_schema(
        request=None,
        responses={
            201: AssessmentSerializer,
            400: OpenApiResponse(ErrorSerializer, description="The recorded data cannot be assessed."),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: ENROLL_CONFLICT,
        },
        summary="Enroll a rechallenge episode and lock its decision-model assessment",
        description=(
            "Locks the active model version's assessment on the episode's recorded data, once. If outcome data "
            "are already recorded (a response assessment, progression, death, a stop of the rechallenge or an irAE "
            "during it) the assessment is locked with `is_retrospective: true`. Category, score and factors are "
            "left out for center staff while blinding is on."
        ),
        tags=["episodes"],
    )
    @action(detail=True, methods=["post"])
    def enroll(self, request: Request, pk: str | None = None) -> Response:
        episode = self.get_object()
        assessment = services.episode_enroll(episode=episode, user=request.user, channel=AuditChannel.API)
        context = {**self.get_serializer_context(), "show_category": services.category_visible_to(user=request.user)}
        return Response(AssessmentSerializer(assessment, context=context).data, status=status.HTTP_201_CREATED)


class AssessmentFilter(filters.FilterSet):
    episode = IdFilter(field_name="episode_id", label=EPISODE_HELP)
    patient = filters.CharFilter(field_name="episode__patient__registry_id", label=REGISTRY_ID_HELP)
    site = filters.CharFilter(field_name="episode__patient__site__code", label=SITE_HELP)

    class Meta:
        model = Assessment
        fields = ("episode", "patient", "site")


@extend_schema_view(
    list=extend_schema(
        summary="List the locked assessments of your sites",
        tags=["assessments"],
        responses={200: AssessmentSerializer, 400: INVALID, 401: UNAUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
    retrieve=extend_schema(
        summary="Read a locked assessment",
        tags=["assessments"],
        responses={200: AssessmentSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    ),
)
class AssessmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Locked assessments, read-only: center staff see their own sites', coordinators every site's.

    Scoped like the site list: the queryset comes from ``assessment_list_for_user``, which starts from the
    user's scoped episodes.
    """

    serializer_class = AssessmentSerializer
    permission_classes = [IsAuthenticated, ReachesRecords]
    pagination_class = RecordPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = AssessmentFilter
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Assessment]:
        return assessment_list_for_user(user=self.request.user).select_related("episode__patient__site").order_by("pk")

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        context["show_category"] = services.category_visible_to(user=self.request.user)
        return context
