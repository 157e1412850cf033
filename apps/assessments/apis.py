"""Decision-model API: list the versions, evaluate inputs (nothing stored)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from registry.decision import available_versions, get_spec

from . import services
from .serializers import DecisionModelSerializer, EvaluateRequestSerializer, EvaluateResponseSerializer


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
        responses={200: EvaluateResponseSerializer, 400: OpenApiResponse(description="Field-level errors")},
        summary="Evaluate the decision model on given inputs",
    )
    @action(detail=False, methods=["post"])
    def evaluate(self, request: Request) -> Response:
        serializer = EvaluateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.decision_evaluate(
            inputs=services.decision_inputs_from_payload(data), version=data.get("model_version")
        )
        body = result.as_dict()
        body["factors"] = [{key: f[key] for key in ("factor", "level", "reason", "points")} for f in body["factors"]]
        return Response(EvaluateResponseSerializer(body).data)
