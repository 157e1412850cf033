"""Sign-off and source verification in the API.

- ``GET /api/v1/patients/{registry_id}/case-status/``: the case's status and signature;
- ``POST /api/v1/patients/{registry_id}/sign/``: the site PI signs (``password``, ``meaning``);
- ``POST /api/v1/patients/{registry_id}/unlock/``: a coordinator unlocks (``reason``);
- ``/api/v1/source-verifications/``: list (coordinators every site's, center staff their sites'), read, mark
  (coordinators, ``POST``) and remove a mark (coordinators, ``DELETE``).

A patient or mark out of reach is 404; within reach, a role that may not act gets 403; a wrong body 400
(a wrong password: ``password``); the case's state 409. The paths under ``patients/`` are this app's own
(``apps.quality.api_urls``); the clinical router's patient routes (``patients/{registry_id}/`` and its
``transfer/`` action) never match them.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.selectors import access_for_user
from apps.clinical.selectors import patient_get_for_user
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
from registry.text import NUL_MESSAGE, contains_nul

from . import signoff
from .signoff_selectors import case_summary, verification_list_for_user
from .signoff_serializers import (
    CaseSignSerializer,
    CaseStatusSerializer,
    CaseUnlockSerializer,
    SourceVerificationCreateSerializer,
    SourceVerificationSerializer,
)
from .signoff_views import TOO_MANY_ATTEMPTS, signing_failed, signing_locked_out

CHANNEL = AuditChannel.API
TAGS = ["sign-off"]
WRONG_STATE = OpenApiResponse(
    ErrorSerializer, description="The case's state does not allow this (signed, not signed, incomplete, open queries)."
)
REGISTRY_ID = OpenApiParameter(
    "registry_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The patient's registry ID."
)


def _case_response(patient) -> Response:
    return Response(CaseStatusSerializer(case_summary(patient=patient)).data)


class CaseStatusView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Read a case's status and signature",
        description="Draft, complete (every record marked complete) or signed; once signed, the signer's name, the "
        "time (UTC) and the meaning of the signature (21 CFR Part 11 §11.50).",
        tags=TAGS,
        parameters=[REGISTRY_ID],
        responses={200: CaseStatusSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    )
    def get(self, request: Request, registry_id: str) -> Response:
        return _case_response(patient_get_for_user(user=request.user, registry_id=registry_id))


class CaseSignView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Sign a case (the site PI)",
        description="The site PI of the patient's site signs a complete case without open queries, re-entering "
        "their password. A wrong password signs nothing (400 on `password`) and counts as a failed sign-in. A "
        "signed case accepts no change on any channel until a coordinator unlocks it.",
        tags=TAGS,
        parameters=[REGISTRY_ID],
        request=CaseSignSerializer,
        responses={
            200: CaseStatusSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: WRONG_STATE,
            415: UNSUPPORTED,
        },
    )
    def post(self, request: Request, registry_id: str) -> Response:
        patient = patient_get_for_user(user=request.user, registry_id=registry_id)
        body = CaseSignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if signing_locked_out(request._request, request.user):
            raise ApplicationError(TOO_MANY_ATTEMPTS, field_errors={"password": [TOO_MANY_ATTEMPTS]}, status=403)
        try:
            signed = signoff.case_sign(
                patient=patient,
                user=request.user,
                password=body.validated_data["password"],
                meaning=body.validated_data.get("meaning", ""),
                channel=CHANNEL,
            )
        except ApplicationError as error:
            if error.message == signoff.WRONG_PASSWORD:
                signing_failed(request._request, request.user)
            raise
        return _case_response(signed)


class CaseUnlockView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Unlock a signed case (coordinators)",
        description="Clears the signature, with a reason kept in the audit trail; the case accepts changes again.",
        tags=TAGS,
        parameters=[REGISTRY_ID],
        request=CaseUnlockSerializer,
        responses={
            200: CaseStatusSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: WRONG_STATE,
            415: UNSUPPORTED,
        },
    )
    def post(self, request: Request, registry_id: str) -> Response:
        patient = patient_get_for_user(user=request.user, registry_id=registry_id)
        body = CaseUnlockSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        unlocked = signoff.case_unlock(
            patient=patient, user=request.user, reason=body.validated_data["reason"], channel=CHANNEL
        )
        return _case_response(unlocked)


class VerificationAccess(permissions.BasePermission):
    """Lists for center staff and coordinators; marking and removing marks for coordinators."""

    def has_permission(self, request, view) -> bool:
        access = access_for_user(request.user)
        if view.action in ("create", "destroy"):
            self.message = signoff.ONLY_COORDINATORS_VERIFY
            return access.is_coordinator
        if view.action == "list":
            self.message = "Your role does not give access to record-level data."
            return access.reaches_records
        return True


VERIFICATION_FILTERS = [
    OpenApiParameter("patient", OpenApiTypes.STR, description="The patient's registry ID."),
    OpenApiParameter("record_type", OpenApiTypes.STR, description="The record type's slug (patient, episode, …)."),
    OpenApiParameter("record_id", OpenApiTypes.INT, description="The record's id (with `record_type`)."),
    OpenApiParameter("site", OpenApiTypes.STR, description="The site's code."),
]


@extend_schema_view(
    list=extend_schema(
        summary="List source-data verification marks",
        description="Coordinators: every site's; center staff: their sites'. Newest first.",
        tags=TAGS,
        parameters=VERIFICATION_FILTERS,
        responses={
            200: SourceVerificationSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: OpenApiResponse(ErrorSerializer, description="No such page."),
        },
    ),
    retrieve=extend_schema(
        summary="Read a source-data verification mark",
        tags=TAGS,
        responses={200: SourceVerificationSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    ),
    create=extend_schema(
        summary="Mark a record or field source-data-verified (coordinators)",
        description="`field` empty: the whole record. A later change to the record clears the marks of the fields "
        "changed and the whole-record mark. An existing mark answers 409.",
        tags=TAGS,
        request=SourceVerificationCreateSerializer,
        responses={
            201: SourceVerificationSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            409: OpenApiResponse(ErrorSerializer, description="Already verified."),
            415: UNSUPPORTED,
        },
    ),
    destroy=extend_schema(
        summary="Remove a source-data verification mark (coordinators)",
        tags=TAGS,
        responses={204: None, 401: UNAUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
)
class SourceVerificationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Source-data verification marks within the user's reach."""

    permission_classes = [permissions.IsAuthenticated, VerificationAccess]
    pagination_class = RecordPagination
    serializer_class = SourceVerificationSerializer
    filter_backends: list = []
    lookup_value_regex = "[^/]+"  # any value reaches the view, so a malformed one answers a JSON 404

    def get_queryset(self):
        marks = verification_list_for_user(user=self.request.user)
        if self.action != "list":
            return marks
        params = self.request.query_params
        nul = {name: [NUL_MESSAGE] for name in ("patient", "record_type", "site") if contains_nul(params.get(name, ""))}
        if nul:
            raise exceptions.ValidationError(nul)
        if params.get("patient"):
            marks = marks.filter(patient__registry_id=params["patient"])
        if params.get("record_type"):
            marks = marks.filter(record_type=params["record_type"])
        if params.get("record_id"):
            if not params["record_id"].isdigit():
                raise exceptions.ValidationError({"record_id": ["Give a record id (a whole number)."]})
            marks = marks.filter(record_id=int(params["record_id"]))
        if params.get("site"):
            marks = marks.filter(site__code=params["site"])
        return marks

    def get_serializer_class(self):
        return SourceVerificationCreateSerializer if self.action == "create" else SourceVerificationSerializer

    def create(self, request: Request, *args, **kwargs) -> Response:
        body = SourceVerificationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        mark = signoff.record_verify(user=request.user, channel=CHANNEL, **body.validated_data)
        mark = verification_list_for_user(user=request.user).get(pk=mark.pk)
        return Response(SourceVerificationSerializer(mark).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        signoff.record_unverify(user=request.user, mark=self.get_object(), channel=CHANNEL)
        return Response(status=status.HTTP_204_NO_CONTENT)
