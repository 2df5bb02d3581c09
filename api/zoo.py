"""The Model Zoo API (``/api/system/...``): registry, one model, compact status, the
decision log, latency history, and staff load/unload of one model."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import BAD_QUERY, DENIED, NON_EMPTY, ZOO_TAG, ZooView, zoo_error
from api.documents import DocumentView
from api.errors import ApiError, QueryValueError
from api.params import int_param
from api.serializers.common import QueryValidationErrorSerializer
from api.serializers.latency import PERCENTILE_NOTE, LatencyHistorySerializer
from api.serializers.zoo import (
    PUBLIC,
    ModelEventPageSerializer,
    ModelEventSerializer,
    ZooCompactStatusSerializer,
    ZooModelDetailSerializer,
    ZooModelSerializer,
    ZooRegistrySerializer,
)
from fleet import selectors as fleet_selectors
from fleet.models import EventKind
from inference import services as inference_services
from latency import selectors as latency_selectors
from latency.selectors import BUCKET_SECONDS, SINCE_MINUTES
from models_registry import selectors as registry_selectors

NOT_IN_REGISTRY = zoo_error("Model not found in registry")


class ZooRegistryView(DocumentView, ZooView):
    @extend_schema(
        tags=ZOO_TAG,
        operation_id="zoo_models_list",
        summary="The Model Zoo registry with every model's status",
        responses={200: ZooRegistrySerializer, 400: BAD_QUERY, 401: DENIED},
    )
    def get(self, request: Request) -> HttpResponse:
        return self.answer(request)

    # Anonymous readers get their own document (no local paths): two kept documents, so
    # one reader's view is never served to the other.
    def document_key(self, public: bool) -> str:
        return "zoo-models:public" if public else "zoo-models"

    def document_build(self, public: bool) -> dict[str, Any]:
        snapshot = fleet_selectors.zoo_snapshot()
        return ZooRegistrySerializer(snapshot, context={PUBLIC: public}).data


class ZooModelDetailView(ZooView):
    @extend_schema(
        tags=ZOO_TAG,
        operation_id="zoo_models_retrieve",
        summary="Status of one Model Zoo model (and why it is disabled, if it is)",
        responses={
            200: ZooModelDetailSerializer,
            400: BAD_QUERY,
            401: DENIED,
            404: NOT_IN_REGISTRY,
        },
    )
    def get(self, request: Request, model_name: str) -> Response:
        row = fleet_selectors.zoo_model_row(name=model_name)
        if row is None:
            raise ApiError(f"Model '{model_name}' not found in registry", 404)
        public = not request.user.is_authenticated
        return Response(ZooModelDetailSerializer(row, context={PUBLIC: public}).data)


class ZooStatusView(DocumentView, ZooView):
    now_field = "timestamp"

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
    def get(self, request: Request) -> HttpResponse:
        return self.answer(request)

    def document_key(self, public: bool) -> str:
        return "zoo-status"

    def document_build(self, public: bool) -> dict[str, Any]:
        return ZooCompactStatusSerializer(fleet_selectors.zoo_compact_status()).data


class EventCursor(CursorPagination):
    """Newest first; a cursor stays stable while new events arrive."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500

    def decode_cursor(self, request: Any) -> Any:
        """DRF's cursor, refused like an undecodable one when its position is not a
        time (it would reach the database's comparison as text: a 500)."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                valid = parse_datetime(str(cursor.position)) is not None
            except ValueError:
                valid = False
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor


class ZooEventsView(ZooView):
    query_optional = ("model", "kind", "limit", "cursor")

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
        kind = self.params.get("kind")
        if kind and kind not in EventKind.values:
            raise ApiError(f"kind must be one of {', '.join(EventKind.values)}, got {kind!r}")
        if "limit" in self.params:
            int_param(self.params, "limit", default=50, minimum=1, maximum=500)
        paginator = EventCursor()
        events = fleet_selectors.model_events(model=self.params.get("model"), kind=kind)
        try:
            page = paginator.paginate_queryset(events, request, view=self)
        except NotFound:  # DRF's word for a cursor it cannot decode: bad input, not absence
            raise ApiError("cursor is not one this API gave out") from None
        public = not request.user.is_authenticated
        events_out = ModelEventSerializer(page, many=True, context={PUBLIC: public})
        return paginator.get_paginated_response(events_out.data)


class LatencyHistoryView(ZooView):
    """A missing ``model`` and out-of-range or non-integer ``since``/``bucket_seconds``
    are a 422, as the home-security backend answers them (its tests assert it); unknown,
    repeated or empty parameters stay a 400, like everywhere else here."""

    query_optional = ("model", "since", "bucket_seconds")

    @extend_schema(
        tags=ZOO_TAG,
        operation_id="zoo_latency_history",
        summary="Latency history of one model, in clock-aligned buckets",
        description=(
            "Time series for charting: one snapshot per bucket of `bucket_seconds`, "
            "aligned to the clock (multiples of the bucket size since the epoch, UTC), "
            "from the bucket holding the window's start to the partial bucket holding "
            "now. A bucket counts every inference recorded in it. " + PERCENTILE_NOTE
        ),
        parameters=[
            OpenApiParameter(
                "model",
                NON_EMPTY,
                required=True,
                description="Model name (e.g., `yolo11-license-plate`)",
            ),
            OpenApiParameter(
                "since",
                SINCE_MINUTES.schema(),
                description="Minutes of history to return (1-1440, default: 60)",
            ),
            OpenApiParameter(
                "bucket_seconds",
                BUCKET_SECONDS.schema(),
                description="Bucket size in seconds (10-3600, default: 60)",
            ),
        ],
        responses={
            200: LatencyHistorySerializer,
            400: BAD_QUERY,
            401: DENIED,
            404: NOT_IN_REGISTRY,
            422: OpenApiResponse(
                QueryValidationErrorSerializer,
                description="model missing, or since/bucket_seconds not an integer in range",
            ),
        },
    )
    def get(self, request: Request) -> Response:
        if "model" not in self.params:
            message = "Missing required query parameter: model"
            raise QueryValueError(message, field="model", value=None)
        since = int_param(self.params, "since", unprocessable=True, **vars(SINCE_MINUTES))
        bucket = int_param(
            self.params, "bucket_seconds", unprocessable=True, **vars(BUCKET_SECONDS)
        )
        model = registry_selectors.model_entry(name=self.params["model"])
        if model is None:
            raise ApiError(f"Model '{self.params['model']}' not found in registry", 404)
        history = latency_selectors.latency_history(
            model=model, since_minutes=since, bucket_seconds=bucket
        )
        return Response(LatencyHistorySerializer(history).data)


def _control_schema(action: str) -> Any:
    return extend_schema(
        tags=ZOO_TAG,
        operation_id=f"zoo_model_{action}",
        summary=f"{action.title()} a model (staff); answers with its new state",
        request=None,
        responses={
            200: ZooModelSerializer,
            202: OpenApiResponse(ZooModelSerializer, description="Still in progress"),
            401: zoo_error("Not authenticated"),
            403: zoo_error("Not a staff user"),
            404: NOT_IN_REGISTRY,
            409: zoo_error("Refused: in use, disabled, too large, or its weights failed"),
            503: zoo_error("No live worker"),
        },
    )


def _model_state(model_name: str, finished: bool) -> Response:
    row = fleet_selectors.model_row(name=model_name)
    code = status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED
    return Response(ZooModelSerializer(row).data, status=code)


class ModelLoadView(ZooView):
    """Staff: load one model on the best-placed worker, answering with its new state."""

    @_control_schema("load")
    def post(self, request: Request, model_name: str) -> Response:
        finished = inference_services.model_load(model_name=model_name)
        return _model_state(model_name, finished)


class ModelUnloadView(ZooView):
    """Staff: unload one model everywhere once released, answering with its new state."""

    @_control_schema("unload")
    def post(self, request: Request, model_name: str) -> Response:
        finished = inference_services.model_unload(model_name=model_name)
        return _model_state(model_name, finished)
