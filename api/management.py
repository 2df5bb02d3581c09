"""The Model Management API (``/api/models/...``): config, status, select, validate,
and the task inference this service adds (``infer``).

Every error here, authentication failures included, is ``{"error": "..."}``.
"""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import (
    BAD_MANAGEMENT_QUERY,
    DENIED_MANAGEMENT_READ,
    MANAGEMENT_TAG,
    ManagementView,
    management_error,
)
from api.documents import DocumentView
from api.errors import ApiError
from api.params import bool_param
from api.parsers import StrictJSONParser, json_document
from api.permissions import ReadOnlyPost, SelectOpenOrStaff
from api.serializers.management import (
    BudgetValidationSerializer,
    InferInSerializer,
    InferResultSerializer,
    ManagementConfigSerializer,
    ManagementStatusSerializer,
    SelectResultSerializer,
)
from fleet import selectors as fleet_selectors
from fleet.validation import budget_validation
from inference import selectors as inference_selectors
from inference import services as inference_services
from inference.models import InferenceRequest, WorkStatus
from models_registry import selectors as registry_selectors
from models_registry.models import TaskType

TASK_TYPE = OpenApiParameter(
    "task_type", str, OpenApiParameter.QUERY, required=True, enum=TaskType.values
)

FORCE = OpenApiParameter(
    "force",
    bool,
    OpenApiParameter.QUERY,
    description=(
        "true (or 1, yes): select the model even when it is larger than the whole budget "
        "of every live device it could load on; it is then not loaded, and the 200's "
        "message says why. Default false."
    ),
)
LOAD_FAILED = management_error(
    "Failed to load model: <reason>; e.g. Out of memory: the model is larger than every "
    "device's budget (the selection unchanged), or the worker's reason for a failed load "
    "(the previous selection restored)"
)


class ConfigView(DocumentView, ManagementView):
    @extend_schema(
        tags=MANAGEMENT_TAG,
        operation_id="models_config",
        summary="Available models for all tasks and the selected ones",
        responses={
            200: ManagementConfigSerializer,
            400: BAD_MANAGEMENT_QUERY,
            401: DENIED_MANAGEMENT_READ,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        return self.answer(request)

    def document_key(self, public: bool) -> str:
        return "models-config"

    def document_build(self, public: bool) -> dict[str, Any]:
        return ManagementConfigSerializer(fleet_selectors.management_config()).data


class StatusView(DocumentView, ManagementView):
    now_field = "timestamp"

    @extend_schema(
        tags=MANAGEMENT_TAG,
        operation_id="models_status",
        summary="Loaded models, memory usage and device",
        responses={
            200: ManagementStatusSerializer,
            400: BAD_MANAGEMENT_QUERY,
            401: DENIED_MANAGEMENT_READ,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        return self.answer(request)

    def document_key(self, public: bool) -> str:
        return "models-status"

    def document_build(self, public: bool) -> dict[str, Any]:
        return ManagementStatusSerializer(fleet_selectors.management_status()).data


class SelectView(ManagementView):
    permission_classes = [SelectOpenOrStaff]
    query_required = ("task_type", "model_name")
    query_optional = ("force",)

    @extend_schema(
        tags=MANAGEMENT_TAG,
        operation_id="models_select",
        summary="Select the model of a task (staff only); waits for the load it triggers",
        description=(
            "Needs a staff user, unless ZOO_OPEN_SELECT opens it to every caller (a "
            "deployment behind the annotation tool's own server). "
            "Persisted at once. When the previous selection was loaded, or warmup is on, "
            "a worker loads the new one and the request waits up to ZOO_INFER_WAIT_S for "
            "it: a failed load answers 500 with the worker's reason (the previous "
            "selection restored); a load still running answers 503 (the selection kept, "
            "the load going on). A model larger than the whole budget of every live "
            "device it could load on is refused with a 500 before anything changes, unless "
            "force=true, or unless CPU fallback would place it (cpu_fallback, on by default: "
            "it is then selected and loaded on the CPU)."
        ),
        request=None,
        parameters=[
            TASK_TYPE,
            OpenApiParameter(
                "model_name",
                {"type": "string", "minLength": 1},
                OpenApiParameter.QUERY,
                required=True,
                description='Model name from the configuration, e.g. "yolov8n"',
            ),
            FORCE,
        ],
        responses={
            200: SelectResultSerializer,
            400: management_error("Invalid task_type or bad query"),
            401: management_error("Not authenticated"),
            403: management_error("Not a staff user, or no CSRF"),
            404: management_error("Model not found for the task"),
            500: LOAD_FAILED,
            503: management_error("Model service timeout during model loading"),
        },
    )
    def post(self, request: Request) -> Response:
        task_type = self.params["task_type"]
        try:
            selection = inference_services.task_select_loaded(
                task_type=task_type,
                model_name=self.params["model_name"],
                force=bool_param(self.params, "force"),
            )
        except inference_services.SelectionRefused as exc:
            hint = "; selection unchanged (force=true selects it anyway)"
            raise ApiError(f"{exc}{hint}", 500) from None
        entry, too_large = selection.entry, selection.too_large
        body = {
            "status": "success",
            "task_type": task_type,
            "selected_model": entry.name,
            "model_id": entry.model_id or entry.name,
            "message": "Model selection updated"
            + (f" (forced; not loaded: {too_large})" if too_large else ""),
        }
        return Response(SelectResultSerializer(body).data)


class ValidateView(ManagementView):
    permission_classes = [ReadOnlyPost]

    @extend_schema(
        tags=MANAGEMENT_TAG,
        operation_id="models_validate",
        summary="Check whether the selected models fit the device's memory",
        description=(
            "max_allowed_gb = total_vram_gb × offload_threshold. Valid when the selected "
            "models' requirements add up to no more than max_allowed_gb and none exceeds "
            "max_memory_per_model (in VRAM, whatever CPU fallback would do); with "
            "cpu_fallback on, an invalid selection's warnings say that what does not fit "
            "the GPU runs on the CPU instead of failing. Changes nothing."
        ),
        request=None,
        responses={
            200: BudgetValidationSerializer,
            400: BAD_MANAGEMENT_QUERY,
            401: DENIED_MANAGEMENT_READ,
        },
    )
    def post(self, request: Request) -> Response:
        return Response(BudgetValidationSerializer(budget_validation()).data)


class InferView(ManagementView):
    """``POST /api/models/infer?task_type=...``: the task's selected model on one image,
    or (``video_summarization``) on several frames of a clip."""

    parser_classes = [StrictJSONParser, MultiPartParser]
    query_required = ("task_type",)

    @extend_schema(
        tags=MANAGEMENT_TAG,
        operation_id="models_infer",
        summary="Run the task's selected model on one image or a clip's frames (staff)",
        description=(
            "The image as a multipart file part `image` (with an optional JSON field "
            '`options`), or JSON `{"image": <base64>, "options": {...}}`. '
            "video_summarization takes several frames instead: JSON "
            '`{"frames": [<base64>, ...], "prompt": "..."}` or repeated multipart parts '
            "`frames` with a `prompt` field; a server-run option (sglang, vllm) or an "
            "external API (Anthropic, OpenAI, Gemini) answers `result` = "
            '`{"summary", "frames", "model", "provider"}`. Waits up to '
            "ZOO_INFER_WAIT_S for a worker: a load that takes longer answers 503 while the "
            "work goes on (its result is then at the URL in the Location header)."
        ),
        parameters=[TASK_TYPE],
        request=InferInSerializer,
        responses={
            200: InferResultSerializer,
            400: management_error("Invalid task_type, no selection, a bad image or frames"),
            401: management_error("Not authenticated"),
            403: management_error("Not a staff user"),
            413: management_error("A file part or the whole request over its limit"),
            500: management_error(
                "Failed to load model: <reason> (e.g. Out of memory), or the remote "
                "model's error: Inference failed: <its message>"
            ),
            503: management_error(
                "Model service timeout during model loading, no worker, a remote model not "
                "configured (the message names the variable to set), or its server or "
                "provider not answering within ZOO_REMOTE_TIMEOUT_S"
            ),
        },
    )
    def post(self, request: Request) -> Response:
        task_type = self.params["task_type"]
        entry = inference_services.infer_target(task_type=task_type)
        serializer = InferInSerializer(
            data=self._document(request), context={"task_type": task_type}
        )
        serializer.is_valid(raise_exception=True)
        inference, finished = inference_services.task_infer(
            task_type=task_type,
            entry=entry,
            frames=serializer.validated_data["frames"],
            options=serializer.validated_data["options"],
            user=request.user,
        )
        if not finished:
            response = Response({"error": "Model service timeout during model loading"}, 503)
            response["Location"] = f"/api/models/infer/{inference.pk}"
            return response
        return _inference_response(inference, entry.model_id or entry.name)

    @staticmethod
    def _document(request: Request) -> Any:
        if not request.content_type.startswith("multipart/"):
            return request.data
        form: Any = request.data
        document: dict[str, Any] = {
            "options": json_document(form.get("options") or "{}", where="options")
        }
        if "prompt" in form:
            document["prompt"] = form["prompt"]
        if "image" in request.FILES or "frames" not in request.FILES:
            document["image"] = _part_b64("image", request.FILES.get("image"))
        if "frames" in request.FILES:
            document["frames"] = [_part_b64("frames", f) for f in request.FILES.getlist("frames")]
        return document


def _part_b64(name: str, upload: Any) -> str:
    """A multipart file part as the JSON form has it (base64), within ZOO_MAX_IMAGE_BYTES."""
    if upload is None:
        return ""
    if upload.size > settings.ZOO_MAX_IMAGE_BYTES:
        raise ApiError(f"{name}: is {upload.size} bytes, more than allowed")
    return base64.b64encode(upload.read()).decode()


def _inference_response(inference: InferenceRequest, model_id: str) -> Response:
    if inference.status == WorkStatus.DONE:
        result = inference.result or {}
        body = {
            "request_id": inference.pk,
            "task_type": inference.task_type,
            "model_name": inference.model_name,
            "model_id": model_id,
            "device": result.get("device"),
            "cold": result.get("cold"),
            "load_time": inference.load_s,
            "inference_time": inference.inference_s,
            "result": result.get("output"),
        }
        return Response(InferResultSerializer(body).data)
    if inference.out_of_memory:
        return Response({"error": "Failed to load model: Out of memory"}, status=500)
    if inference.unavailable:
        return Response({"error": inference.error or "Model service unavailable"}, status=503)
    return Response({"error": inference.error or "Inference failed"}, status=500)


class InferDetailView(ManagementView):
    """``GET /api/models/infer/{id}``: an inference's outcome, once finished."""

    @extend_schema(
        tags=MANAGEMENT_TAG,
        operation_id="models_infer_retrieve",
        summary="The outcome of an inference that outlived its request",
        description=(
            "Only the user who asked for the inference and staff read it; to anyone else "
            "it is a 404, like one that does not exist."
        ),
        responses={
            200: InferResultSerializer,
            202: management_error("Still running"),
            404: management_error("No such inference, or not yours"),
            500: management_error("Failed to load model: <reason>"),
            503: management_error("A remote model's server or provider did not answer"),
        },
    )
    def get(self, request: Request, request_id: str) -> Response:
        inference = inference_selectors.inference_request(request_id, reader=request.user)
        if inference is None:
            raise ApiError(f"Inference {request_id} not found", 404)
        if inference.status in (WorkStatus.QUEUED, WorkStatus.RUNNING):
            return Response({"error": f"Inference {request_id} is {inference.status}"}, 202)
        entry = registry_selectors.model_entry(name=inference.model_name)
        model_id = (entry.model_id if entry else "") or inference.model_name
        return _inference_response(inference, model_id)
