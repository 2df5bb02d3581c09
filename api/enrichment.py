"""``/api/enrichment/batches``: submit frames with detections, read their enrichment."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ZooView, zoo_error
from api.errors import ApiError
from api.parsers import StrictJSONParser, json_document
from api.serializers.enrichment import (
    BatchAcceptedSerializer,
    BatchInSerializer,
    BatchOutSerializer,
)
from inference import selectors, services

TAG = ["Enrichment"]


class BatchListView(ZooView):
    """Submit a batch (staff)."""

    parser_classes = [StrictJSONParser, MultiPartParser]

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
            400: zoo_error("Bad batch: the message names the frame, detection and problem"),
            401: zoo_error("Not authenticated"),
            403: zoo_error("Not a staff user, or no CSRF token"),
            413: zoo_error("Upload larger than allowed"),
        },
    )
    def post(self, request: Request) -> Response:
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
            return json_document(raw, where="batch"), dict(request.FILES.items())
        return request.data, {}


class BatchDetailView(ZooView):
    @extend_schema(
        tags=TAG,
        operation_id="enrichment_batch_retrieve",
        summary="A batch's status and, per detection, the results of each triggered model",
        description=(
            "Only the user who submitted the batch and staff read it; to anyone else it "
            "is a 404, like a batch that does not exist."
        ),
        responses={200: BatchOutSerializer, 404: zoo_error("No such batch, or not yours")},
    )
    def get(self, request: Request, batch_id: str) -> Response:
        batch = selectors.batch_with_everything(batch_id, reader=request.user)
        if batch is None:
            raise ApiError(f"Batch {batch_id} not found", 404)
        return Response(BatchOutSerializer(selectors.batch_document(batch)).data)
