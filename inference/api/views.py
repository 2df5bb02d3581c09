"""``/api/enrichment/batches``: submit frames with detections, read their enrichment."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet import selectors as fleet_selectors
from inference import selectors, services
from inference.api.serializers import (
    BatchAcceptedSerializer,
    BatchInSerializer,
    BatchOutSerializer,
    InferInSerializer,
    InferResultSerializer,
)
from inference.engine.manager import NOT_LOCAL
from inference.models import InferenceRequest, WorkStatus
from models_registry import selectors as registry_selectors
from models_registry.api.errors import ApiError
from models_registry.api.params import query_params
from models_registry.api.serializers import (
    DetailErrorSerializer,
    ErrorSerializer,
    ZooModelSerializer,
)
from models_registry.models import ModelEntry, TaskType

TAG = ["Enrichment"]


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(DetailErrorSerializer, description=description)


def _err(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


class BatchListView(APIView):
    """Submit a batch (staff)."""

    error_key = "detail"
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        tags=TAG,
        operation_id="enrichment_batch_create",
        summary="Submit frames with detections for enrichment (staff)",
        description=(
            'JSON: `{"frames": [{"image": <base64> | "path": <under ZOO_MEDIA_ROOT>, '
            '"detections": [{"label", "bbox": [x1, y1, x2, y2], "confidence"}]}]}`. '
            "Multipart: the same document in the field `batch`, frames naming their "
            'uploaded part with `"file"`. Answers 202 at once; the models each label '
            "triggers run on a worker, each loaded at most once for the batch."
        ),
        request=BatchInSerializer,
        responses={
            202: BatchAcceptedSerializer,
            400: _error("Bad batch: the message names the frame, detection and problem"),
            401: _error("Not authenticated"),
            403: _error("Not a staff user, or no CSRF token"),
            413: _error("Upload larger than allowed"),
        },
    )
    def post(self, request: Request) -> Response:
        query_params(request)
        document, files = self._document(request)
        serializer = BatchInSerializer(data=document, context={"files": files})
        serializer.is_valid(raise_exception=True)
        frames = [item["frame"] for item in serializer.validated_data["frames"]]
        batch = services.batch_submit(frames=frames, user=request.user)
        body = {
            "id": batch.pk,
            "status": batch.status,
            "frames": len(frames),
            "url": f"/api/enrichment/batches/{batch.pk}",
        }
        return Response(BatchAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _document(request: Request) -> tuple[Any, dict[str, Any]]:
        if request.content_type.startswith("multipart/"):
            form: Any = request.data
            raw = form.get("batch")
            if not raw:
                raise ApiError("multipart batches carry their document in the field 'batch'")
            try:
                return json.loads(raw), dict(request.FILES.items())
            except json.JSONDecodeError as exc:
                raise ApiError(f"batch: not valid JSON ({exc.msg})") from None
        return request.data, {}


class BatchDetailView(APIView):
    error_key = "detail"

    @extend_schema(
        tags=TAG,
        operation_id="enrichment_batch_retrieve",
        summary="A batch's status and, per detection, the results of each triggered model",
        responses={200: BatchOutSerializer, 404: _error("No such batch")},
    )
    def get(self, request: Request, batch_id: str) -> Response:
        query_params(request)
        batch = selectors.batch_with_everything(batch_id)
        if batch is None:
            raise ApiError(f"Batch {batch_id} not found", 404)
        return Response(BatchOutSerializer(selectors.batch_document(batch)).data)


class InferView(APIView):
    """``POST /api/models/infer?task_type=...``: the task's selected model on one image."""

    error_key = "error"
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        tags=["Model Management"],
        operation_id="models_infer",
        summary="Run the task's selected model on one image (staff); loads it lazily",
        description=(
            "The image as a multipart file part `image` (with an optional JSON field "
            '`options`), or JSON `{"image": <base64>, "options": {...}}`. Waits up to '
            "ZOO_INFER_WAIT_S for a worker: a load that takes longer answers 503 while the "
            "work goes on (its result is then at the URL in the Location header)."
        ),
        parameters=[
            OpenApiParameter(
                "task_type", str, OpenApiParameter.QUERY, required=True, enum=TaskType.values
            )
        ],
        request=InferInSerializer,
        responses={
            200: InferResultSerializer,
            400: _err("Invalid task_type, no selection, or a bad image"),
            401: _err("Not authenticated"),
            403: _err("Not a staff user"),
            409: _err("The selected model does not run in this service (external API)"),
            500: _err("Failed to load model: <reason> (e.g. Out of memory)"),
            503: _err("Model service timeout during model loading, or no live worker"),
        },
    )
    def post(self, request: Request) -> Response:
        params = query_params(request, required=("task_type",))
        task_type = params["task_type"]
        if task_type not in TaskType.values:
            raise ApiError(f"Invalid task_type: {task_type}")
        entry = registry_selectors.task_selected(task=task_type)
        if entry is None:
            raise ApiError(f"No model selected for task '{task_type}'")
        if entry.loader in NOT_LOCAL:
            where = entry.framework or entry.loader
            raise ApiError(f"Model '{entry.name}' runs outside this service ({where})", 409)
        serializer = InferInSerializer(data=self._document(request))
        serializer.is_valid(raise_exception=True)
        inference, sent = services.inference_submit(
            task_type=task_type,
            model_name=entry.name,
            image=serializer.validated_data["image"],
            options=serializer.validated_data["options"],
        )
        if not sent:
            raise ApiError("Model service unavailable: no worker is running", 503)
        finished = selectors.inference_wait(inference.pk, settings.ZOO_INFER_WAIT_S)
        location = f"/api/models/infer/{inference.pk}"
        if finished is None:
            response = Response({"error": "Model service timeout during model loading"}, 503)
            response["Location"] = location
            return response
        return _inference_response(finished, entry.model_id or entry.name)

    @staticmethod
    def _document(request: Request) -> Any:
        if request.content_type.startswith("multipart/"):
            form: Any = request.data
            upload = request.FILES.get("image")
            options = form.get("options") or "{}"
            try:
                parsed = json.loads(options)
            except json.JSONDecodeError as exc:
                raise ApiError(f"options: not valid JSON ({exc.msg})") from None
            data = upload.read() if upload and upload.size <= settings.ZOO_MAX_IMAGE_BYTES else None
            if upload and data is None:
                raise ApiError(f"image: is {upload.size} bytes, more than allowed")
            return {"image": base64.b64encode(data).decode() if data else "", "options": parsed}
        return request.data


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
    return Response({"error": inference.error or "Inference failed"}, status=500)


class InferDetailView(APIView):
    """``GET /api/models/infer/{id}``: an inference's outcome, once finished."""

    error_key = "error"

    @extend_schema(
        tags=["Model Management"],
        operation_id="models_infer_retrieve",
        summary="The outcome of an inference that outlived its request",
        responses={
            200: InferResultSerializer,
            202: _err("Still running"),
            404: _err("No such inference"),
            500: _err("Failed to load model: <reason>"),
        },
    )
    def get(self, request: Request, request_id: str) -> Response:
        query_params(request)
        inference = InferenceRequest.objects.filter(pk=request_id).first()
        if inference is None:
            raise ApiError(f"Inference {request_id} not found", 404)
        if inference.status in (WorkStatus.QUEUED, WorkStatus.RUNNING):
            return Response({"error": f"Inference {request_id} is {inference.status}"}, 202)
        entry = ModelEntry.objects.filter(name=inference.model_name).first()
        model_id = (entry.model_id if entry else "") or inference.model_name
        return _inference_response(inference, model_id)


class ModelControlView(APIView):
    """Staff control of one model: load it on a worker, or unload it everywhere."""

    error_key = "detail"
    action = ""

    def post(self, request: Request, model_name: str) -> Response:
        query_params(request)
        entry = ModelEntry.objects.filter(name=model_name).first()
        if entry is None:
            raise ApiError(f"Model '{model_name}' not found in registry", 404)
        if entry.loader in NOT_LOCAL:
            raise ApiError(f"Model '{model_name}' runs outside this service", 409)
        finished = self._load(entry) if self.action == "load" else self._unload(entry)
        row = fleet_selectors.model_row(name=model_name)
        code = status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED
        return Response(ZooModelSerializer(row).data, status=code)

    def _load(self, entry: ModelEntry) -> bool:
        """Whether the load finished within the wait (a failure is a 409)."""
        if not entry.enabled:
            raise ApiError(f"Model '{entry.name}' is disabled: {entry.disabled_reason}", 409)
        since = timezone.now()
        if services.model_load_dispatch(model_name=entry.name) is None:
            raise ApiError("Model service unavailable: no worker is running", 503)
        outcome = wait_until(
            lambda: selectors.model_outcome(entry.name, since, {"loaded", "error"}),
            settings.ZOO_INFER_WAIT_S,
        )
        if outcome is not None and outcome.status == "error":
            raise ApiError(f"{entry.name}: {outcome.last_error}", 409)
        return outcome is not None

    def _unload(self, entry: ModelEntry) -> bool:
        """Unloaded everywhere within the wait; a model still in use is a 409."""
        since = timezone.now()
        wait_s = settings.ZOO_UNLOAD_WAIT_S
        if not services.model_unload_dispatch(model_name=entry.name, wait_s=wait_s):
            return True  # no live worker holds it
        outcome = wait_until(
            lambda: selectors.model_outcome(entry.name, since, {"unloaded", "error"}),
            wait_s + 5,
        )
        if outcome is None:
            row = fleet_selectors.model_row(name=entry.name)
            held = row.load_count if row else 0
            raise ApiError(
                f"{entry.name} is in use ({held} lease(s)); it is unloaded only once released",
                409,
            )
        return True


def wait_until(predicate: Any, timeout_s: float) -> Any:
    """Poll the database until ``predicate()`` gives something, or None at the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value is not None or time.monotonic() >= deadline:
            return value
        time.sleep(0.1)


def _control_schema(action: str) -> Any:
    return extend_schema(
        tags=["Model Zoo"],
        operation_id=f"zoo_model_{action}",
        summary=f"{action.title()} a model (staff); answers with its new state",
        request=None,
        responses={
            200: ZooModelSerializer,
            202: OpenApiResponse(ZooModelSerializer, description="Still in progress"),
            401: _error("Not authenticated"),
            403: _error("Not a staff user"),
            404: _error("Model not found in registry"),
            409: _error("Refused: in use, disabled, too large, or its weights failed"),
            503: _error("No live worker"),
        },
    )


class ModelLoadView(ModelControlView):
    action = "load"

    @_control_schema("load")
    def post(self, request: Request, model_name: str) -> Response:
        return super().post(request, model_name)


class ModelUnloadView(ModelControlView):
    action = "unload"

    @_control_schema("unload")
    def post(self, request: Request, model_name: str) -> Response:
        return super().post(request, model_name)
