"""The Model Zoo API (``/api/system/...``): registry, one model, compact status."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from models_registry import selectors
from models_registry.api.errors import ApiError
from models_registry.api.params import query_params
from models_registry.api.serializers import (
    DetailErrorSerializer,
    ZooCompactStatusSerializer,
    ZooModelSerializer,
    ZooRegistrySerializer,
)

ZOO_TAG = ["Model Zoo"]
BAD_QUERY = OpenApiResponse(DetailErrorSerializer, description="Unknown or malformed query")
DENIED = OpenApiResponse(DetailErrorSerializer, description="Reads need a login (setting)")


class ZooView(APIView):
    error_key = "detail"


class ZooRegistryView(ZooView):
    @extend_schema(
        tags=ZOO_TAG,
        operation_id="zoo_models_list",
        summary="The Model Zoo registry with every model's status",
        responses={200: ZooRegistrySerializer, 400: BAD_QUERY, 401: DENIED},
    )
    def get(self, request: Request) -> Response:
        query_params(request)
        return Response(ZooRegistrySerializer(selectors.zoo_snapshot()).data)


class ZooModelDetailView(ZooView):
    @extend_schema(
        tags=ZOO_TAG,
        operation_id="zoo_models_retrieve",
        summary="Status of one Model Zoo model",
        responses={
            200: ZooModelSerializer,
            400: BAD_QUERY,
            401: DENIED,
            404: OpenApiResponse(DetailErrorSerializer, description="Model not found in registry"),
        },
    )
    def get(self, request: Request, model_name: str) -> Response:
        query_params(request)
        row = selectors.zoo_model_row(name=model_name)
        if row is None:
            raise ApiError(f"Model '{model_name}' not found in registry", 404)
        return Response(ZooModelSerializer(row).data)


class ZooStatusView(ZooView):
    @extend_schema(
        tags=ZOO_TAG,
        operation_id="zoo_status",
        summary="Compact status of every zoo model, sorted for UI display",
        description=(
            "Models sorted by UI category in the order Detection, Classification, "
            "Segmentation, Pose, Depth, Embedding, OCR, Action Recognition, Other; "
            "disabled models last, under Other."
        ),
        responses={200: ZooCompactStatusSerializer, 400: BAD_QUERY, 401: DENIED},
    )
    def get(self, request: Request) -> Response:
        query_params(request)
        return Response(ZooCompactStatusSerializer(selectors.zoo_compact_status()).data)
