"""``/api/v1/validation-runs/``: the runs (read-only, metrics in the detail) and a coordinator's "run now".

Who reads what is the selectors' rule: coordinators, administrators and investigators every run whole,
center staff every run with the per-site rows of their own sites only, anyone else nothing (a list
answers 403, a detail 404). Starting a run is for coordinators (and administrators): it answers 202
with the pending run, which a Celery worker then computes.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.selectors import access_for_user
from apps.core.viewsets import (
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    UNAUTHENTICATED,
    UNSUPPORTED,
    ErrorSerializer,
    RecordPagination,
)

from . import services
from .models import ValidationRun
from .selectors import validation_reach_for_user, validation_run_get_for_user, validation_run_list_for_user
from .serializers import ValidationRunDetailSerializer, ValidationRunSerializer, ValidationRunStartSerializer


class ReadsValidationRuns(permissions.BasePermission):
    """Lists for those who read runs; starting one for coordinators. A detail answers 404 to anyone else."""

    def has_permission(self, request, view) -> bool:
        action = getattr(view, "action", None)
        if action == "create":
            self.message = services.ONLY_COORDINATORS
            return access_for_user(request.user).is_coordinator
        if action == "list":
            self.message = "Your role does not give access to validation reports."
            return validation_reach_for_user(user=request.user).reads_runs
        return True


@extend_schema_view(
    list=extend_schema(
        summary="List the validation runs",
        description="Newest first, without their metrics (read a run for those). Center staff, coordinators and "
        "investigators.",
        tags=["validation"],
        responses={
            200: ValidationRunSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    ),
    retrieve=extend_schema(
        summary="Read a validation run with its metrics",
        description="Center staff get the registry-wide figures and their own sites' per-site rows only.",
        tags=["validation"],
        responses={200: ValidationRunDetailSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    ),
    create=extend_schema(
        summary="Start a validation run now",
        description="Coordinators only. Stores a pending run on a data cut taken now and hands it to a Celery "
        "worker; read it back for its progress and, when it has succeeded, its metrics.",
        tags=["validation"],
        request=ValidationRunStartSerializer,
        responses={
            202: ValidationRunDetailSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: OpenApiResponse(ErrorSerializer, description="Only coordinators start validation runs."),
            415: UNSUPPORTED,
        },
    ),
)
class ValidationRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Validation runs: read-only records, and "run now" for coordinators."""

    permission_classes = [permissions.IsAuthenticated, ReadsValidationRuns]
    pagination_class = RecordPagination
    filter_backends: list = []
    lookup_value_regex = "[^/]+"  # any value reaches the view, so a malformed one answers a JSON 404

    def get_queryset(self) -> QuerySet[ValidationRun]:
        return validation_run_list_for_user(user=self.request.user)

    def get_object(self) -> ValidationRun:
        return validation_run_get_for_user(user=self.request.user, run_id=self.kwargs[self.lookup_field])

    def get_serializer_class(self):
        if self.action == "list":
            return ValidationRunSerializer
        if self.action == "create":
            return ValidationRunStartSerializer
        return ValidationRunDetailSerializer

    def create(self, request: Request, *args, **kwargs) -> Response:
        start = ValidationRunStartSerializer(data=request.data)
        start.is_valid(raise_exception=True)
        run = services.validation_run_create(
            model_version=start.validated_data.get("model_version"),
            user=request.user,
            trigger=ValidationRun.Trigger.MANUAL,
        )
        body = ValidationRunDetailSerializer(run, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_202_ACCEPTED)
