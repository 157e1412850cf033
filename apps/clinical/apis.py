"""REST endpoints of the clinical records under ``/api/v1/``: one scoped viewset per record type.

Each viewset names its record type's declaration (``records``), which gives it its model,
serializers, filters, ordering and its operations' summaries and tag in the schema.

Reads come from the scoped queryset (``apps.clinical.scoping.ScopedViewSetMixin``), so a record of
another site answers 404 on every detail URL and never appears in a list. Writes go only through
``services.record_create`` / ``record_update`` / ``record_delete`` with channel ``api``: the
serializers check shape and type, the service validates the record (``full_clean``), checks the
site, compares the ``If-Match`` version under a row lock and writes the audit entry.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, generics, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from apps.core.models import AuditChannel
from apps.core.parsers import StrictJSONParser
from apps.core.records import RecordType
from apps.core.viewsets import (
    CLOSED_OR_CONFLICT,
    ETAG,
    FORBIDDEN,
    IF_MATCH,
    INVALID,
    NO_IF_MATCH,
    NOT_FOUND,
    STALE,
    UNAUTHENTICATED,
    UNSUPPORTED,
    RecordAutoSchema,
    RecordPagination,
    etag_for,
    if_match_version,
)
from registry.text import contains_nul

from . import records, serializers
from .scoping import ReachesRecords, ScopedViewSetMixin
from .selectors import BadCursor, episodes_derived, patient_keyset_page
from .services import (
    patient_transfer,
    patient_transfer_check_user,
    record_create,
    record_delete,
    record_lock,
    record_update,
)

WRITE_ACTIONS = frozenset({"create", "update", "partial_update"})
#: Actions that change the record named in the URL through ``record_update``.
CHANGE_ACTIONS = frozenset({"update", "partial_update"})


class ClinicalRecordViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    """List, read, create, change and delete one type of clinical record within the user's sites.

    A subclass names its ``record_type``; everything that differs between record types is read from it.
    """

    permission_classes = [IsAuthenticated, ReachesRecords]
    parser_classes = [StrictJSONParser]
    pagination_class = RecordPagination
    filter_backends = [DjangoFilterBackend]
    schema = RecordAutoSchema()
    lookup_value_regex = "[^/]+"  # any value reaches the view, so a malformed one answers a JSON 404

    record_type: ClassVar[RecordType]
    input_serializer_class: ClassVar[type[serializers.RecordInputSerializer]]
    output_serializer_class: ClassVar[type[serializers.RecordOutputSerializer]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Read the model, serializers, filters and lookup from the declaration, and describe the operations."""
        super().__init_subclass__(**kwargs)
        record_type = cls.__dict__.get("record_type")
        if record_type is None:
            return
        cls.scope_model = record_type.model
        cls.lookup_field = record_type.lookup_field
        cls.input_serializer_class = record_type.input_serializer
        cls.output_serializer_class = record_type.output_serializer
        cls.filterset_class = record_type.filterset
        _summaries(record_type)(cls)

    def safely_get_queryset(self, queryset: QuerySet) -> QuerySet:
        # The joins the output needs, so a list page costs the same number of queries at any size.
        return queryset.select_related(*self.record_type.related).order_by(*self.record_type.ordering)

    def get_serializer_class(self) -> type:
        return self.input_serializer_class if self.action in WRITE_ACTIONS else self.output_serializer_class

    def get_object(self) -> Any:
        """The record named in the URL, within reach; list filters do not apply to a detail URL."""
        value = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        if contains_nul(str(value)):  # PostgreSQL text cannot hold NUL
            raise Http404
        lookup = {self.lookup_field: value}
        if self.action in CHANGE_ACTIONS:
            # Locked here for the service, which then reads it no second time (ATOMIC_REQUESTS keeps the lock).
            try:
                instance = record_lock(self.get_queryset(), **lookup)
            except (ObjectDoesNotExist, TypeError, ValueError, ValidationError):  # as DRF's get_object_or_404
                raise Http404 from None
        else:
            instance = generics.get_object_or_404(self.get_queryset(), **lookup)
        self.check_object_permissions(self.request, instance)
        return instance

    def output_context(self, instances: list[Any]) -> dict[str, Any]:
        """The output serializer's context for these records (a page, or the one record answered)."""
        return self.get_serializer_context()

    def _respond(self, instance: Any, status_code: int = status.HTTP_200_OK) -> Response:
        output = self.output_serializer_class(instance, context=self.output_context([instance]))
        return Response(output.data, status=status_code, headers={"ETag": etag_for(instance)})

    @staticmethod
    def _split_reason(validated: dict[str, Any]) -> tuple[dict[str, Any], str]:
        data = dict(validated)
        return data, data.pop("reason", "")

    def list(self, request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        output = self.output_serializer_class(page, many=True, context=self.output_context(page))
        return self.get_paginated_response(output.data)

    def retrieve(self, request, *args: Any, **kwargs: Any) -> Response:
        return self._respond(self.get_object())

    def create(self, request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, reason = self._split_reason(serializer.validated_data)
        instance = record_create(
            model=self.scope_model, data=data, user=request.user, channel=AuditChannel.API, reason=reason
        )
        return self._respond(instance, status.HTTP_201_CREATED)

    def update(self, request, *args: Any, partial: bool = False, **kwargs: Any) -> Response:
        instance = self.get_object()
        version = if_match_version(request)
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data, reason = self._split_reason(serializer.validated_data)
        instance = record_update(
            instance=instance,
            data=data,
            user=request.user,
            channel=AuditChannel.API,
            reason=reason,
            expected_version=version,
        )
        return self._respond(instance)

    def partial_update(self, request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def destroy(self, request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        version = if_match_version(request)
        body = request.data if isinstance(request.data, dict) else {}
        reason_input = serializers.DeleteInputSerializer(
            data={"reason": request.query_params.get("reason") or body.get("reason") or ""}
        )
        reason_input.is_valid(raise_exception=True)
        record_delete(
            instance=instance,
            user=request.user,
            channel=AuditChannel.API,
            reason=reason_input.validated_data["reason"],
            expected_version=version,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _summaries(record_type: RecordType) -> Any:
    """Summaries and a tag for the six operations of a record viewset."""
    noun, plural, tag = record_type.noun, record_type.plural, record_type.api_route
    return extend_schema_view(
        list=extend_schema(summary=f"List {plural} of your sites", tags=[tag]),
        retrieve=extend_schema(summary=f"Read a {noun}", tags=[tag]),
        create=extend_schema(summary=f"Create a {noun}", tags=[tag]),
        update=extend_schema(summary=f"Replace a {noun} (If-Match required)", tags=[tag]),
        partial_update=extend_schema(summary=f"Change fields of a {noun} (If-Match required)", tags=[tag]),
        destroy=extend_schema(summary=f"Delete a {noun} (If-Match required)", tags=[tag]),
    )


class PatientPaginator(Paginator):
    """Reads a numbered page's registry IDs first, then those patients: a page deep in the list skips its
    offset in the registry-ID index alone (an index-only scan), not row by row through the table."""

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        keys = list(self.object_list.values_list("registry_id", flat=True)[bottom:top])
        rows = {patient.registry_id: patient for patient in self.object_list.filter(registry_id__in=keys)}
        return self._get_page([rows[key] for key in keys if key in rows], number, self)


class PatientPagination(RecordPagination):
    """Pages by number (``?page=``), as every list; or, with ``?cursor=`` (empty for the first page), by keyset in
    registry-ID order: ``next`` and ``previous`` then carry the cursor, and a deep page costs what the first does."""

    cursor_query_param = "cursor"
    django_paginator_class = PatientPaginator

    def paginate_queryset(self, queryset, request, view=None):
        self.keyset = None
        if self.cursor_query_param not in request.query_params:
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        try:
            self.keyset = patient_keyset_page(
                queryset, cursor=request.query_params[self.cursor_query_param], size=self.get_page_size(request)
            )
        except BadCursor:
            message = "Not a cursor of this list: follow `next` or `previous`, or start again with `cursor=`."
            raise exceptions.ValidationError({self.cursor_query_param: [message]}) from None
        return self.keyset.rows

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        return replace_query_param(url, self.cursor_query_param, cursor)

    def get_paginated_response(self, data) -> Response:
        if self.keyset is None:
            return super().get_paginated_response(data)
        return Response(
            {
                "count": self.keyset.count,
                "next": self._link(self.keyset.next_cursor),
                "previous": self._link(self.keyset.previous_cursor),
                "results": data,
            }
        )

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        parameters.append(
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "Pages by keyset instead of by number: send it empty for the first page, then follow `next` "
                    "and `previous`, which carry it. A page deep in the list costs what the first one does; "
                    "`page` is then ignored."
                ),
                "schema": {"type": "string"},
            }
        )
        return parameters


class PatientViewSet(ClinicalRecordViewSet):
    """Patients, looked up by registry ID; ``?search=`` matches the start of registry IDs and of own-site local
    identifiers; ``?cursor=`` pages by keyset (``PatientPagination``)."""

    record_type = records.PATIENT
    pagination_class = PatientPagination

    @extend_schema(
        summary="Transfer a patient, with all their records, to another site (coordinators; If-Match required)",
        description=(
            "The only way a patient changes site (a `site` in PUT or PATCH is refused). Coordinators and "
            "administrators only, with a reason; audited on the patient as site old → new. The identifiers "
            "then show to the new site's staff only; the registry ID keeps its prefix. A site closed to new "
            "data cannot receive patients (409)."
        ),
        tags=[records.PATIENT.api_route],
        request=serializers.PatientTransferInputSerializer,
        responses={
            200: serializers.PatientSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: CLOSED_OR_CONFLICT,
            412: STALE,
            415: UNSUPPORTED,
            428: NO_IF_MATCH,
        },
        parameters=[IF_MATCH, ETAG],
    )
    @action(detail=True, methods=["post"])
    def transfer(self, request, *args: Any, **kwargs: Any) -> Response:
        patient = self.get_object()
        patient_transfer_check_user(user=request.user)
        version = if_match_version(request)
        serializer = serializers.PatientTransferInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        moved = patient_transfer(
            patient=patient,
            to_site=serializer.validated_data["site"],
            user=request.user,
            reason=serializer.validated_data["reason"],
            channel=AuditChannel.API,
            expected_version=version,
        )
        return self._respond(moved)


class InitialCourseViewSet(ClinicalRecordViewSet):
    """The first ICI course (ICI-1) of each patient."""

    record_type = records.INITIAL_COURSE


class EpisodeViewSet(ClinicalRecordViewSet):
    """Rechallenge episodes, each with its read-only ``derived`` values."""

    record_type = records.EPISODE

    def output_context(self, instances: list[Any]) -> dict[str, Any]:
        """Adds the ``derived`` values of every episode answered, computed for the whole page at once."""
        return {**super().output_context(instances), "derived": episodes_derived(episodes=instances)}


class AdverseEventViewSet(ClinicalRecordViewSet):
    """Immune-related adverse events of the initial course and of rechallenges."""

    record_type = records.ADVERSE_EVENT


class ResponseViewSet(ClinicalRecordViewSet):
    """Tumour response assessments of rechallenge episodes."""

    record_type = records.RESPONSE


class FollowUpViewSet(ClinicalRecordViewSet):
    """Follow-up contacts of rechallenge episodes."""

    record_type = records.FOLLOW_UP


#: One viewset per record type, in the order of the case report form (and of the schema).
VIEWSETS: tuple[type[ClinicalRecordViewSet], ...] = (
    PatientViewSet,
    InitialCourseViewSet,
    EpisodeViewSet,
    AdverseEventViewSet,
    ResponseViewSet,
    FollowUpViewSet,
)
