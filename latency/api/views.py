"""``GET /api/system/model-zoo/latency/history`` (Model Zoo document)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from latency import selectors
from latency.api.serializers import PERCENTILE_NOTE, LatencyHistorySerializer
from latency.selectors import BUCKET_SECONDS, SINCE_MINUTES
from models_registry.api.errors import ApiError
from models_registry.api.params import int_param, query_params
from models_registry.api.serializers import DetailErrorSerializer
from models_registry.api.zoo_views import BAD_QUERY, DENIED, NON_EMPTY, ZOO_TAG, ZooView
from models_registry.models import ModelEntry


class LatencyHistoryView(ZooView):
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
            404: OpenApiResponse(DetailErrorSerializer, description="Model not found in registry"),
        },
    )
    def get(self, request: Request) -> Response:
        params = query_params(request, required=["model"], optional=["since", "bucket_seconds"])
        since = int_param(params, "since", **vars(SINCE_MINUTES))
        bucket = int_param(params, "bucket_seconds", **vars(BUCKET_SECONDS))
        model = ModelEntry.objects.filter(name=params["model"]).first()
        if model is None:
            raise ApiError(f"Model '{params['model']}' not found in registry", 404)
        history = selectors.latency_history(model=model, since_minutes=since, bucket_seconds=bucket)
        return Response(LatencyHistorySerializer(history).data)
