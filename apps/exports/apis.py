"""``/api/v1/exports/``: export requests — list, ask, read, approve, refuse, download.

Investigators list and read the requests of their projects, ask for new ones and download ready
bundles; coordinators (and administrators) list and read every request and approve or refuse it, but
do not download (they take no data out). Center staff and anyone else: 403 on the list and on asking,
404 on a request. A download after the link expired answers 410; every download is logged.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import ApplicationError
from apps.core.models import AuditChannel
from apps.core.viewsets import (
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    UNAUTHENTICATED,
    UNSUPPORTED,
    ErrorSerializer,
    RecordPagination,
)

from . import selectors, services
from .models import ExportRequest
from .serializers import ExportDecisionSerializer, ExportRequestCreateSerializer, ExportRequestSerializer

GONE = OpenApiResponse(ErrorSerializer, description="The download link has expired (the file is deleted).")
NOT_WAITING = OpenApiResponse(ErrorSerializer, description="The request is not waiting for a decision (or not ready).")


class ExportAccess(permissions.BasePermission):
    """Listing for investigators and coordinators; asking and downloading for investigators; deciding for
    coordinators. A request out of reach answers 404 (the selector)."""

    def has_permission(self, request, view) -> bool:
        action_name = getattr(view, "action", None)
        if action_name in ("create", "download"):
            self.message = services.ONLY_INVESTIGATORS
            return selectors.can_request_exports(user=request.user)
        if action_name in ("approve", "refuse"):
            self.message = services.ONLY_COORDINATORS
            return selectors.export_reach(user=request.user) == "all"
        if action_name == "list":
            self.message = "Your role does not give access to exports."
            return bool(selectors.export_reach(user=request.user))
        return True


@extend_schema_view(
    list=extend_schema(
        summary="List export requests",
        description="Investigators: their projects' requests; coordinators: every request. Newest first.",
        tags=["exports"],
        responses={200: ExportRequestSerializer, 401: UNAUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
    retrieve=extend_schema(
        summary="Read an export request (status, progress, manifest)",
        tags=["exports"],
        responses={200: ExportRequestSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    ),
    create=extend_schema(
        summary="Request a de-identified export",
        description="Investigators who are members of the project. It waits for a coordinator's approval when the "
        "registry requires one (the default), then a worker builds it.",
        tags=["exports"],
        request=ExportRequestCreateSerializer,
        responses={
            201: ExportRequestSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            415: UNSUPPORTED,
        },
    ),
)
class ExportRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Export requests of the projects the user may see."""

    permission_classes = [permissions.IsAuthenticated, ExportAccess]
    pagination_class = RecordPagination
    serializer_class = ExportRequestSerializer
    filter_backends: list = []
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.request_list_for_user(user=self.request.user)

    def get_object(self) -> ExportRequest:
        return selectors.request_get_for_user(user=self.request.user, pk=self.kwargs[self.lookup_field])

    def create(self, request: Request, *args, **kwargs) -> Response:
        body = ExportRequestCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        project = selectors.project_list_for_user(user=request.user).filter(pk=data["project"]).first()
        if project is None:
            raise ApplicationError("No such project among yours.", field_errors={"project": ["No such project."]})
        created = services.export_request_create(
            user=request.user,
            project=project,
            datasets=data["datasets"],
            formats=data["formats"],
            profile=data["profile"],
            filters=dict(data.get("filters") or {}),
            purpose=data.get("purpose", ""),
        )
        return Response(ExportRequestSerializer(created).data, status=status.HTTP_201_CREATED)

    def _decide(self, request: Request, decide: Callable[..., ExportRequest]) -> Response:
        """Approve or refuse: the same body (an optional reason) and the same answer, only the service differs."""
        export = self.get_object()  # out of reach answers 404 before the body is judged
        body = ExportDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decided = decide(
            request=export, user=request.user, reason=body.validated_data.get("reason", ""), channel=AuditChannel.API
        )
        return Response(ExportRequestSerializer(decided).data)

    @extend_schema(
        summary="Approve an export request (coordinators)",
        description="Fixes the data cut now and hands the build to a Celery worker.",
        tags=["exports"],
        request=ExportDecisionSerializer,
        responses={
            200: ExportRequestSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: NOT_WAITING,
            415: UNSUPPORTED,
        },
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, *args, **kwargs) -> Response:
        return self._decide(request, services.export_request_approve)

    @extend_schema(
        summary="Refuse an export request with a reason (coordinators)",
        tags=["exports"],
        request=ExportDecisionSerializer,
        responses={
            200: ExportRequestSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: NOT_WAITING,
            415: UNSUPPORTED,
        },
    )
    @action(detail=True, methods=["post"])
    def refuse(self, request: Request, *args, **kwargs) -> Response:
        return self._decide(request, services.export_request_refuse)

    @extend_schema(
        summary="Download the bundle (zip) of a ready export (investigators of the project)",
        description="Every download is logged (who, when, which request, SHA-256). 410 once the link expired.",
        tags=["exports"],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The zip bundle."),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: NOT_WAITING,
            410: GONE,
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, *args, **kwargs):
        export = self.get_object()
        path = services.export_download(request=export, user=request.user, channel="api")
        return zip_response(path, export)


def zip_response(path, export: ExportRequest) -> FileResponse:
    response = FileResponse(
        path.open("rb"), as_attachment=True, filename=f"{export.export_id.lower()}.zip", content_type="application/zip"
    )
    response["X-Content-SHA256"] = export.sha256
    response["Cache-Control"] = "private, no-store"
    return response
