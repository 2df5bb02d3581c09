"""Images as the API takes them: base64 within the size limit, files under the media
root, and their pixel size checked by decoding the header (never the whole image)."""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path

from django.conf import settings
from PIL import Image
from rest_framework import serializers


def too_large(size: int) -> str:
    return f"is {size} bytes, more than the {settings.ZOO_MAX_IMAGE_BYTES} allowed"


def decoded_image(value: str) -> bytes:
    """Base64 image bytes within ZOO_MAX_IMAGE_BYTES, else a ValueError saying why."""
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None
    if len(data) > settings.ZOO_MAX_IMAGE_BYTES:
        raise ValueError(too_large(len(data)))
    return data


def media_path(relative: str) -> Path:
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
        raise serializers.ValidationError({"path": [too_large(resolved.stat().st_size)]})
    return resolved


def image_size(data: bytes | None, path: Path | None) -> tuple[int, int]:
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
