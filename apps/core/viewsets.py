"""Base pieces for record-level API endpoints: conflict protection, paging, errors and schema.

Site scoping needs the user's sites, which core does not know: the scoped viewset mixin lives in
``apps.clinical.scoping`` and reads each record type's site path from ``apps.core.records``.

Conflict protection: every record carries a ``version``; responses send it as a strong entity tag,
``ETag: "<version>"``, and PUT, PATCH and DELETE must send it back in ``If-Match``: missing or
malformed → 428, invalid body → 400, stale → 412 (the service compares it under a row lock).
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Model
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination

# --- Paging ---------------------------------------------------------------------------------------


class RecordPagination(PageNumberPagination):
    """Pages of 50 by default; ``?page_size=`` asks for 1–200 (larger values are capped at 200)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise exceptions.ValidationError({self.page_size_query_param: ["Give a whole number from 1 to 200."]})
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = "Rows per page: 50 by default, at most 200 (larger values are capped)."
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


# --- Errors ---------------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """The one error shape: ``detail`` and/or ``{field: [messages]}`` (``non_field_errors`` for the record)."""

    detail = serializers.CharField(required=False)


class ErrorSerializerExtension(OpenApiSerializerExtension):
    """Documents the field-level error mapping, which a plain serializer cannot express."""

    target_class = ErrorSerializer

    def map_serializer(self, auto_schema, direction) -> dict[str, Any]:
        return {
            "type": "object",
            "description": (
                "A refused request. `detail` says why in one sentence; field errors map a field name "
                "(or `non_field_errors`) to its messages."
            ),
            "properties": {"detail": {"type": "string"}},
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        }


class PreconditionRequired(exceptions.APIException):
    """A write that did not say which version of the record it changes."""

    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = (
        'Send the record\'s ETag in an If-Match header (e.g. If-Match: "3", from the last GET) '
        "so that you cannot overwrite someone else's change."
    )
    default_code = "precondition_required"


# --- Entity tags ----------------------------------------------------------------------------------


def etag_for(instance: Model) -> str:
    """The strong entity tag of a record's current version, e.g. ``"3"``."""
    return f'"{instance.version}"'


#: One entity tag as this API sends it (``"3"``); the weak form (``W/"3"``) is accepted too.
ENTITY_TAG = re.compile(r'^(?:W/)?"([0-9]{1,18})"$')  # also the schema's ECMA-262 pattern


def if_match_version(request) -> int:
    """The version named by ``If-Match`` (428 when missing or not an entity tag).

    The caller hands it to the service, which compares it with the stored version under a row lock
    and refuses a stale one with 412 — after the body was validated, so bad input answers 400 first.
    """
    header = request.headers.get("If-Match", "").strip()
    match = ENTITY_TAG.match(header)
    if match is None:
        if header:
            raise PreconditionRequired(
                f'If-Match must be one entity tag of this API, such as "3" (not {header[:40]!r}): '
                "send the ETag of your last GET."
            )
        raise PreconditionRequired()
    return int(match[1])


# --- Schema ---------------------------------------------------------------------------------------

IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": ENTITY_TAG.pattern},
    OpenApiParameter.HEADER,
    required=True,
    description=(
        'The record\'s ETag from its last GET, e.g. `"3"`. Missing or not an entity tag → 428; '
        "not the current version → 412."
    ),
)
ETAG = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    response=[200, 201],
    description='The record\'s version as a strong entity tag, e.g. `"3"`; send it back in If-Match to change it.',
)
DELETE_REASON = OpenApiParameter(
    "reason",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="Why the record is deleted; required once a record is marked complete. May also be sent in the body.",
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


UNAUTHENTICATED = _error("Not signed in: no or an invalid token or session.")
FORBIDDEN = _error("Your role or site does not allow this.")
NOT_FOUND = _error("No such record within your sites.")
INVALID = _error("Field-level errors; nothing was changed.")
STALE = _error("If-Match is not the record's current version: reload it and try again.")
NO_IF_MATCH = _error("If-Match is missing or is not an entity tag.")
UNSUPPORTED = _error("The body is not JSON.")
CONFLICT = _error(
    "The record cannot be deleted (an enrolled episode's locked assessment depends on it), or its site is "
    "closed to new data."
)
CLOSED_OR_CONFLICT = _error(
    'The site is closed to new data ("Site CODE is closed to new data."), or the change conflicts with another record.'
)


class RecordAutoSchema(AutoSchema):
    """Schema of a scoped record viewset: input/output serializers, ETag/If-Match and error responses."""

    def _serializers(self) -> tuple[Any, Any]:
        return self.view.input_serializer_class, self.view.output_serializer_class

    def get_request_serializer(self) -> Any:
        action = getattr(self.view, "action", None)
        if action in ("create", "update", "partial_update"):
            return self._serializers()[0]
        if action == "destroy":
            return None
        return super().get_request_serializer()

    def get_response_serializers(self) -> Any:
        action = getattr(self.view, "action", None)
        output = self._serializers()[1]
        writes = {400: INVALID, 401: UNAUTHENTICATED, 403: FORBIDDEN, 409: CLOSED_OR_CONFLICT, 415: UNSUPPORTED}
        detail = {401: UNAUTHENTICATED, 404: NOT_FOUND}
        by_action = {
            "list": {200: output, 400: INVALID, 401: UNAUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
            "retrieve": {200: output, **detail},
            "create": {201: output, **writes},
            "update": {200: output, **writes, 404: NOT_FOUND, 412: STALE, 428: NO_IF_MATCH},
            "partial_update": {200: output, **writes, 404: NOT_FOUND, 412: STALE, 428: NO_IF_MATCH},
            "destroy": {
                204: OpenApiResponse(description="Deleted."),
                **writes,
                404: NOT_FOUND,
                409: CONFLICT,
                412: STALE,
                428: NO_IF_MATCH,
            },
        }
        return by_action.get(action) or super().get_response_serializers()

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        action = getattr(self.view, "action", None)
        if action in ("update", "partial_update", "destroy"):
            parameters.append(IF_MATCH)
        if action in ("retrieve", "create", "update", "partial_update"):
            parameters.append(ETAG)
        if action == "destroy":
            parameters.append(DELETE_REASON)
        return parameters
