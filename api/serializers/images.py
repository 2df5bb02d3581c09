"""Images as the API takes them: base64 within the size limit, files under the media
root read once without following links (core.images), and their pixel size checked
from the header of a JPEG, PNG or WebP (never the whole image, never another format)."""

from __future__ import annotations

import base64
import binascii

from django.conf import settings
from rest_framework import serializers

from core import images


def too_large(size: int) -> str:
    return f"is {size} bytes, more than the {settings.ZOO_MAX_IMAGE_BYTES} allowed"


def decoded_image(value: str) -> bytes:
    """Base64 image bytes within ZOO_MAX_IMAGE_BYTES, else a ValueError saying why."""
    if len(value) > (settings.ZOO_MAX_IMAGE_BYTES + 2) // 3 * 4 + 4:
        raise ValueError(too_large(len(value) * 3 // 4))  # refused before decoding
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None
    if len(data) > settings.ZOO_MAX_IMAGE_BYTES:
        raise ValueError(too_large(len(data)))
    return data


def media_file(relative: str) -> bytes:
    """The bytes of a regular file under the media root, read now, once: the worker
    runs these very bytes, whatever happens to the file afterwards."""
    try:
        return images.read_media_file(
            settings.ZOO_MEDIA_ROOT, relative, settings.ZOO_MAX_IMAGE_BYTES
        )
    except images.ImageRefused as exc:
        raise serializers.ValidationError({"path": [str(exc)]}) from None


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height of an image that really decodes, else a ValueError saying why."""
    return images.image_size(data, settings.ZOO_MAX_IMAGE_PIXELS)
