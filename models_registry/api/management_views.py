"""The Model Management API (``/api/models/...``): config, status, select, validate.

Every error here, authentication failures included, is ``{"error": "..."}``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet import selectors as fleet_selectors
from inference.services import selection_warm
from models_registry import selectors, services
from models_registry.api.errors import ApiError
from models_registry.api.params import query_params
from models_registry.api.permissions import ReadOnlyPost
from models_registry.api.serializers import (
    BudgetValidationSerializer,
    ErrorSerializer,
    ManagementConfigSerializer,
    ManagementStatusSerializer,
    SelectResultSerializer,
)
from models_registry.models import TaskType

TAG = ["Model Management"]
BAD_QUERY = OpenApiResponse(ErrorSerializer, description="Unknown, missing or malformed query")
DENIED_READ = OpenApiResponse(ErrorSerializer, description="Reads need a login (setting)")


class ManagementView(APIView):
    error_key = "error"


class ConfigView(ManagementView):
    @extend_schema(
        tags=TAG,
        operation_id="models_config",
        summary="Available models for all tasks and the selected ones",
        responses={200: ManagementConfigSerializer, 400: BAD_QUERY, 401: DENIED_READ},
    )
    def get(self, request: Request) -> Response:
        query_params(request)
        return Response(ManagementConfigSerializer(fleet_selectors.management_config()).data)


class StatusView(ManagementView):
    @extend_schema(
        tags=TAG,
        operation_id="models_status",
        summary="Loaded models, memory usage and device",
        responses={200: ManagementStatusSerializer, 400: BAD_QUERY, 401: DENIED_READ},
    )
    def get(self, request: Request) -> Response:
        query_params(request)
        return Response(ManagementStatusSerializer(fleet_selectors.management_status()).data)


class SelectView(ManagementView):
    @extend_schema(
        tags=TAG,
        operation_id="models_select",
        summary="Select the model of a task (staff only)",
        description=(
            "Persisted at once. When the previous selection was loaded, or warmup is on, "
            "a worker loads the new one in the background."
        ),
        request=None,
        parameters=[
            OpenApiParameter(
                "task_type", str, OpenApiParameter.QUERY, required=True, enum=TaskType.values
            ),
            OpenApiParameter(
                "model_name",
                {"type": "string", "minLength": 1},
                OpenApiParameter.QUERY,
                required=True,
                description='Model name from the configuration, e.g. "yolov8n"',
            ),
        ],
        responses={
            200: SelectResultSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Invalid task_type or bad query"),
            401: OpenApiResponse(ErrorSerializer, description="Not authenticated"),
            403: OpenApiResponse(ErrorSerializer, description="Not a staff user, or no CSRF"),
            404: OpenApiResponse(ErrorSerializer, description="Model not found for the task"),
        },
    )
    def post(self, request: Request) -> Response:
        params = query_params(request, required=("task_type", "model_name"))
        previous = selectors.task_selected(task=params["task_type"])
        try:
            _, entry = services.task_select(
                task_type=params["task_type"], model_name=params["model_name"]
            )
        except services.InvalidTaskType as exc:
            raise ApiError(str(exc), 400) from exc
        except services.ModelNotFoundForTask as exc:
            raise ApiError(str(exc), 404) from exc
        selection_warm(previous=previous, entry=entry)
        body = {
            "status": "success",
            "task_type": params["task_type"],
            "selected_model": entry.name,
            "model_id": entry.model_id or entry.name,
            "message": "Model selection updated",
        }
        return Response(SelectResultSerializer(body).data)


class ValidateView(ManagementView):
    permission_classes = [ReadOnlyPost]

    @extend_schema(
        tags=TAG,
        operation_id="models_validate",
        summary="Check whether the selected models fit the device's memory",
        description=(
            "max_allowed_gb = total_vram_gb × offload_threshold. Valid when the selected "
            "models' requirements add up to no more than max_allowed_gb and none exceeds "
            "max_memory_per_model. Changes nothing."
        ),
        request=None,
        responses={200: BudgetValidationSerializer, 400: BAD_QUERY, 401: DENIED_READ},
    )
    def post(self, request: Request) -> Response:
        query_params(request)
        return Response(BudgetValidationSerializer(fleet_selectors.budget_validation()).data)
