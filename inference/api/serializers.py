"""Enrichment batches in and out. Input is checked whole before anything is stored:
images must decode, boxes must lie inside their image, paths must stay under the media
root, and every message says which frame and detection it is about."""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

from django.conf import settings
from PIL import Image
from rest_framework import serializers

from inference.services import FrameIn
from models_registry.api.serializers import StrictSerializer

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
        data, path = self._read(attrs)
        try:
            width, height = _image_size(data, path)
        except ValueError as exc:
            field = "path" if path else ("file" if "file" in attrs else "image")
            raise serializers.ValidationError({field: [str(exc)]}) from None
        for index, detection in enumerate(attrs["detections"]):
            x1, y1, x2, y2 = detection["bbox"]
            if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
                where = {index: {"bbox": [f"outside the {width}x{height} image"]}}
                raise serializers.ValidationError({"detections": where})  # type: ignore[dict-item]
        return {
            "frame": FrameIn(
                width=width,
                height=height,
                detections=attrs["detections"],
                data=data,
                path=str(path.relative_to(settings.ZOO_MEDIA_ROOT)) if path else "",
            )
        }

    def _read(self, attrs: dict[str, Any]) -> tuple[bytes | None, Path | None]:
        if "image" in attrs:
            try:
                return _decoded(attrs["image"]), None
            except ValueError as exc:
                raise serializers.ValidationError({"image": [str(exc)]}) from None
        if "file" in attrs:
            upload = self.context.get("files", {}).get(attrs["file"])
            if upload is None:
                raise serializers.ValidationError(
                    {"file": [f"no uploaded file part named {attrs['file']!r}"]}
                )
            if upload.size > settings.ZOO_MAX_IMAGE_BYTES:
                raise serializers.ValidationError({"file": [_too_large(upload.size)]})
            return upload.read(), None
        return None, _media_path(attrs["path"])


def _too_large(size: int) -> str:
    return f"is {size} bytes, more than the {settings.ZOO_MAX_IMAGE_BYTES} allowed"


def _decoded(value: str) -> bytes:
    """Base64 image bytes within ZOO_MAX_IMAGE_BYTES, else a ValueError saying why."""
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None
    if len(data) > settings.ZOO_MAX_IMAGE_BYTES:
        raise ValueError(_too_large(len(data)))
    return data


def _media_path(relative: str) -> Path:
    """A file under the media root; anything that resolves elsewhere is refused."""
    root = Path(settings.ZOO_MEDIA_ROOT).resolve()
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise serializers.ValidationError({"path": ["must be relative to the media root"]})
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root):
        raise serializers.ValidationError({"path": ["must stay under the media root"]})
    if not resolved.is_file():
        raise serializers.ValidationError({"path": [f"no file {relative} under the media root"]})
    if resolved.stat().st_size > settings.ZOO_MAX_IMAGE_BYTES:
        raise serializers.ValidationError({"path": [_too_large(resolved.stat().st_size)]})
    return resolved


def _image_size(data: bytes | None, path: Path | None) -> tuple[int, int]:
    """Width and height of an image that really decodes, else a ValueError saying why."""
    try:
        with Image.open(path if path else io.BytesIO(data or b"")) as image:
            width, height = image.size
            if width * height > settings.ZOO_MAX_IMAGE_PIXELS:
                raise ValueError(f"is {width}x{height}, more pixels than allowed")
            image.verify()
    except ValueError:
        raise
    except Exception as exc:  # PIL raises many types for undecodable data
        raise ValueError(f"is not a decodable image ({type(exc).__name__})") from None
    return width, height


class BatchInSerializer(StrictSerializer):
    frames = FrameInSerializer(many=True)

    def validate_frames(self, frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not frames:
            raise serializers.ValidationError("at least one frame")
        if len(frames) > settings.ZOO_MAX_FRAMES_PER_BATCH:
            raise serializers.ValidationError(
                f"at most {settings.ZOO_MAX_FRAMES_PER_BATCH} frames per batch"
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


class InferInSerializer(StrictSerializer):
    image = serializers.CharField(help_text="The image, base64-encoded (or a multipart part)")
    options = serializers.DictField(
        required=False, default=dict, help_text="Passed to the model's predict"
    )

    def validate_image(self, value: str) -> bytes:
        try:
            data = _decoded(value)
            _image_size(data, None)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return data


class InferResultSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    task_type = serializers.CharField()
    model_name = serializers.CharField()
    model_id = serializers.CharField()
    device = serializers.CharField(allow_null=True)
    cold = serializers.BooleanField(allow_null=True, help_text="Whether this call paid a load")
    load_time = serializers.FloatField(allow_null=True, help_text="Seconds to acquire the model")
    inference_time = serializers.FloatField(allow_null=True, help_text="Seconds of predict")
    result = serializers.JSONField(help_text="The model's output")
