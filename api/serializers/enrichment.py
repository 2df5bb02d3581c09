"""Enrichment batches in and out. Input is checked whole before anything is stored:
images must decode (JPEG, PNG or WebP), boxes must lie inside their image, paths must
name a regular file under the media root (read here, once: the worker runs the bytes
checked), the batch's pixels must stay within ZOO_MAX_REQUEST_PIXELS, and every message
says which frame and detection it is about."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from api.serializers.images import decoded_image, image_size, media_file, too_large
from core.serializers import StrictSerializer
from inference.services import FrameIn

LABEL_HELP = "Detection label, e.g. person, car, dog"


class DetectionInSerializer(StrictSerializer):
    label = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$", help_text=LABEL_HELP)  # type: ignore[assignment]
    bbox = serializers.ListField(
        child=serializers.FloatField(),
        min_length=4,
        max_length=4,
        help_text="[x1, y1, x2, y2] in pixels, inside the image",
    )
    confidence = serializers.FloatField(min_value=0.0, max_value=1.0)

    def validate_bbox(self, bbox: list[float]) -> list[float]:
        x1, y1, x2, y2 = bbox
        if not (x1 < x2 and y1 < y2):
            raise serializers.ValidationError("must be [x1, y1, x2, y2] with x1 < x2, y1 < y2")
        return bbox


class FrameInSerializer(StrictSerializer):
    image = serializers.CharField(required=False, help_text="The image, base64-encoded")
    path = serializers.CharField(
        required=False, help_text="An image file under the media root (ZOO_MEDIA_ROOT)"
    )
    file = serializers.CharField(
        required=False, help_text="Multipart only: the name of the uploaded file part"
    )
    detections = DetectionInSerializer(many=True, required=False, default=list)

    def validate_detections(self, detections: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(detections) > settings.ZOO_MAX_DETECTIONS_PER_FRAME:
            raise serializers.ValidationError(
                f"at most {settings.ZOO_MAX_DETECTIONS_PER_FRAME} detections per frame"
            )
        return detections

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [key for key in ("image", "path", "file") if attrs.get(key)]
        if len(given) != 1:
            raise serializers.ValidationError("give exactly one of image, path or file")
        field, data = given[0], self._read(attrs)
        try:
            width, height = image_size(data)
        except ValueError as exc:
            raise serializers.ValidationError({field: [str(exc)]}) from None
        for index, detection in enumerate(attrs["detections"]):
            x1, y1, x2, y2 = detection["bbox"]
            if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
                where = {index: {"bbox": [f"outside the {width}x{height} image"]}}
                raise serializers.ValidationError({"detections": where})  # type: ignore[dict-item]
        frame = FrameIn(width, height, attrs["detections"], data, attrs.get("path", ""))
        return {"frame": frame}

    def _read(self, attrs: dict[str, Any]) -> bytes:
        if "image" in attrs:
            try:
                return decoded_image(attrs["image"])
            except ValueError as exc:
                raise serializers.ValidationError({"image": [str(exc)]}) from None
        if "file" in attrs:
            upload = self.context.get("files", {}).get(attrs["file"])
            if upload is None:
                raise serializers.ValidationError(
                    {"file": [f"no uploaded file part named {attrs['file']!r}"]}
                )
            if upload.size > settings.ZOO_MAX_IMAGE_BYTES:
                raise serializers.ValidationError({"file": [too_large(upload.size)]})
            return upload.read()
        return media_file(attrs["path"])


class BatchInSerializer(StrictSerializer):
    frames = FrameInSerializer(many=True)

    def to_internal_value(self, data: Any) -> Any:
        frames = data.get("frames") if isinstance(data, dict) else None
        if isinstance(frames, list) and len(frames) > settings.ZOO_MAX_FRAMES_PER_BATCH:
            # Refused before any frame is read or decoded.
            raise serializers.ValidationError(
                {"frames": [f"at most {settings.ZOO_MAX_FRAMES_PER_BATCH} frames per batch"]}
            )
        return super().to_internal_value(data)

    def validate_frames(self, frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not frames:
            raise serializers.ValidationError("at least one frame")
        pixels = sum(item["frame"].width * item["frame"].height for item in frames)
        if pixels > settings.ZOO_MAX_REQUEST_PIXELS:
            raise serializers.ValidationError(
                f"{pixels} pixels in all, more than the {settings.ZOO_MAX_REQUEST_PIXELS} "
                "allowed in one request (ZOO_MAX_REQUEST_PIXELS)"
            )
        return frames


class BatchAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    frames = serializers.IntegerField()
    url = serializers.CharField()


class DetectionOutSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]
    bbox = serializers.ListField(child=serializers.FloatField())
    confidence = serializers.FloatField()
    results = serializers.DictField(
        help_text="Model name → its output, or {'error': reason} where it failed"
    )


class FrameOutSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    results = serializers.DictField(help_text="All-frames models (depth, weather) → output")
    detections = DetectionOutSerializer(many=True)


class BatchOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField(help_text="queued, running, done or failed")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    device = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_blank=True)  # type: ignore[assignment]
    frames = FrameOutSerializer(many=True)
