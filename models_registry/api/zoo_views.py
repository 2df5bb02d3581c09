"""The Model Zoo API (``/api/system/...``): registry, one model, compact status."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet import selectors as fleet_selectors
from fleet.models import EventKind
from models_registry.api.errors import ApiError
from models_registry.api.params import int_param, query_params
from models_registry.api.serializers import (
    DetailErrorSerializer,
    ModelEventPageSerializer,
    ModelEventSerializer,
    ZooCompactStatusSerializer,
    ZooModelSerializer,
    ZooRegistrySerializer,
)

ZOO_TAG = ["Model Zoo"]
NON_EMPTY = {"type": "string", "minLength": 1}
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
        return Response(ZooRegistrySerializer(fleet_selectors.zoo_snapshot()).data)


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
        row = fleet_selectors.zoo_model_row(name=model_name)
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
        return Response(ZooCompactStatusSerializer(fleet_selectors.zoo_compact_status()).data)


class EventCursor(CursorPagination):
    """Newest first; a cursor stays stable while new events arrive."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class ZooEventsView(ZooView):
    @extend_schema(
        tags=ZOO_TAG,
        operation_id="zoo_events",
        summary="The manager's decision log: loads, unloads, evictions, refusals, failures",
        parameters=[
            OpenApiParameter("model", NON_EMPTY, OpenApiParameter.QUERY, description="Model name"),
            OpenApiParameter(
                "kind", str, OpenApiParameter.QUERY, enum=[k.value for k in EventKind]
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 500},
                OpenApiParameter.QUERY,
                description="Page size (1-500, default 50)",
            ),
            OpenApiParameter("cursor", NON_EMPTY, OpenApiParameter.QUERY, description="Next page"),
        ],
        responses={200: ModelEventPageSerializer, 400: BAD_QUERY, 401: DENIED},
    )
    def get(self, request: Request) -> Response:
        params = query_params(request, optional=("model", "kind", "limit", "cursor"))
        kind = params.get("kind")
        if kind and kind not in EventKind.values:
            raise ApiError(f"kind must be one of {', '.join(EventKind.values)}, got {kind!r}")
        if "limit" in params:
            int_param(params, "limit", default=50, minimum=1, maximum=500)
        paginator = EventCursor()
        events = fleet_selectors.model_events(model=params.get("model"), kind=kind)
        try:
            page = paginator.paginate_queryset(events, request, view=self)
        except NotFound:  # DRF's word for a cursor it cannot decode: bad input, not absence
            raise ApiError("cursor is not one this API gave out") from None
        return paginator.get_paginated_response(ModelEventSerializer(page, many=True).data)
