"""``/api/v1/queries/``: data queries — list, read, raise, answer, close, re-open, comment.

Center staff list and read their sites' queries (not those kept for coordinators) and answer them; coordinators
(and administrators) list and read every query, raise new ones, close and re-open them. Everyone who sees a
query comments on it. Investigators and strangers: 403 on the list, 404 on a query. The role is checked first
(403), then the query's reach (404), then the body (400), then its state (409).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.selectors import access_for_user
from apps.core.models import AuditChannel
from apps.core.records import record_types
from apps.core.viewsets import (
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    UNAUTHENTICATED,
    UNSUPPORTED,
    ErrorSerializer,
    RecordPagination,
)
from registry.text import NUL_MESSAGE, contains_nul

from . import selectors, services
from .models import DataQuery
from .serializers import (
    DataQueryDetailSerializer,
    DataQuerySerializer,
    QueryAnswerSerializer,
    QueryCloseSerializer,
    QueryRaiseSerializer,
    QueryTextSerializer,
)

CHANNEL = AuditChannel.API
WRONG_STATE = OpenApiResponse(ErrorSerializer, description="The query is not in a state that allows this step.")
TAGS = ["queries"]


class QueryAccess(permissions.BasePermission):
    """Lists for center staff and coordinators; raising, closing and re-opening for coordinators; answering for
    center staff. A query out of reach answers 404 (the scoped queryset)."""

    def has_permission(self, request, view) -> bool:
        access = access_for_user(request.user)
        name = getattr(view, "action", None)
        if name in ("create", "close", "reopen"):
            self.message = services.ONLY_COORDINATORS_RAISE if name == "create" else services.ONLY_COORDINATORS_DECIDE
            return access.is_coordinator
        if name == "answer":
            self.message = services.ONLY_SITE_STAFF_ANSWER
            return access.is_site_staff
        if name == "list":
            self.message = "Your role does not give access to data queries."
            return access.reaches_records
        return True


FILTERS = [
    OpenApiParameter(
        "status", OpenApiTypes.STR, enum=[value for value, _ in DataQuery.Status.choices], description="Its state."
    ),
    OpenApiParameter("site", OpenApiTypes.STR, description="The site's code."),
    OpenApiParameter("rule_id", OpenApiTypes.STR, description="The rule's id; `manual` for queries raised by people."),
    OpenApiParameter("record_type", OpenApiTypes.STR, description="The record type's slug (patient, episode, …)."),
    OpenApiParameter("patient", OpenApiTypes.STR, description="The patient's registry ID."),
]


def _step(summary: str, request_serializer, *, description: str = "", created: bool = False) -> Any:
    code = 201 if created else 200
    return extend_schema(
        summary=summary,
        description=description,
        tags=TAGS,
        request=request_serializer,
        responses={
            code: DataQueryDetailSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: WRONG_STATE,
            415: UNSUPPORTED,
        },
    )


@extend_schema_view(
    list=extend_schema(
        summary="List data queries",
        description="Center staff: their sites' queries; coordinators: every query. Newest first.",
        tags=TAGS,
        parameters=FILTERS,
        # 404: a page past the last one.
        responses={200: DataQuerySerializer, 400: INVALID, 401: UNAUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
    retrieve=extend_schema(
        summary="Read a data query with its thread",
        tags=TAGS,
        responses={200: DataQueryDetailSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    ),
)
class DataQueryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Data queries within the user's reach."""

    permission_classes = [permissions.IsAuthenticated, QueryAccess]
    pagination_class = RecordPagination
    serializer_class = DataQuerySerializer
    filter_backends: list = []
    lookup_value_regex = "[^/]+"  # any value reaches the view, so a malformed one answers a JSON 404

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "access": access_for_user(self.request.user)}

    def get_serializer_class(self):
        return DataQuerySerializer if self.action == "list" else DataQueryDetailSerializer

    def get_queryset(self):
        params = self.request.query_params
        errors: dict[str, list[str]] = {}
        wanted = params.get("status", "")
        if wanted and wanted not in DataQuery.Status.values:
            errors["status"] = [f"Choose one of {', '.join(DataQuery.Status.values)}."]
        kind = params.get("record_type", "")
        slugs = [record_type.slug for record_type in record_types()]
        if kind and kind not in slugs:
            errors["record_type"] = [f"Choose one of {', '.join(slugs)}."]
        for name in ("site", "rule_id", "patient"):
            if contains_nul(params.get(name, "")):
                errors[name] = [NUL_MESSAGE]
        if errors:
            raise exceptions.ValidationError(errors)
        return selectors.query_list_for_user(
            user=self.request.user,
            status=wanted,
            site_code=params.get("site", ""),
            rule_id=params.get("rule_id", ""),
            record_type=kind,
            registry_id=params.get("patient", ""),
        )

    def get_object(self) -> DataQuery:
        return selectors.query_get_for_user(user=self.request.user, pk=self.kwargs[self.lookup_field])

    def _answer(self, query: DataQuery, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.query_get_for_user(user=self.request.user, pk=query.pk)
        return Response(DataQueryDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    @_step(
        "Raise a query on a field of a record (coordinators)",
        QueryRaiseSerializer,
        description="The site and the patient come from the record; the site sees it in its inbox.",
        created=True,
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        body = QueryRaiseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        raised = services.query_raise(user=request.user, channel=CHANNEL, **body.validated_data)
        return self._answer(raised, status.HTTP_201_CREATED)

    @_step(
        "Answer a query (center staff of its site)",
        QueryAnswerSerializer,
        description="Open or re-opened → answered. `confirmed`: the value is right as entered (implausible values).",
    )
    @action(detail=True, methods=["post"])
    def answer(self, request: Request, *args, **kwargs) -> Response:
        query = self.get_object()
        body = QueryAnswerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._answer(
            services.query_answer(query=query, user=request.user, channel=CHANNEL, **body.validated_data)
        )

    @_step(
        "Close a query with a resolution (coordinators)",
        QueryCloseSerializer,
        description="Answered or open → closed: resolved, fixed, or confirmed as entered (implausible values).",
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, *args, **kwargs) -> Response:
        query = self.get_object()
        body = QueryCloseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._answer(
            services.query_close(query=query, user=request.user, channel=CHANNEL, **body.validated_data)
        )

    @_step("Re-open a query with the reason (coordinators)", QueryTextSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, *args, **kwargs) -> Response:
        query = self.get_object()
        body = QueryTextSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._answer(
            services.query_reopen(query=query, user=request.user, channel=CHANNEL, **body.validated_data)
        )

    @_step("Comment on a query (anyone who sees it)", QueryTextSerializer)
    @action(detail=True, methods=["post"])
    def comment(self, request: Request, *args, **kwargs) -> Response:
        query = self.get_object()
        body = QueryTextSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.query_comment(query=query, user=request.user, channel=CHANNEL, **body.validated_data)
        return self._answer(query)
