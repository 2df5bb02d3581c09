"""A batch's frames as the models read them: decoded once from the bytes stored when the
batch was submitted (a frame given by path was read then, under the media root, without
following links), JPEG, PNG or WebP only, each within ``ZOO_MAX_IMAGE_PIXELS``; and at
most ``ZOO_MAX_REQUEST_PIXELS`` held decoded at once for the batches served together
(the least recently used go first and are decoded again if needed)."""

from __future__ import annotations

from collections import OrderedDict

from django.conf import settings
from PIL import Image

from core.images import decoded_rgb, read_media_file
from inference.models import Frame


def frame_bytes(frame: Frame) -> bytes:
    """The frame's image bytes: those stored at submit; a frame stored before frames
    given by path were read at submit is read now, as safely."""
    data = Frame.objects.values_list("data", flat=True).get(pk=frame.pk)
    if data:
        return bytes(data)
    if frame.path:
        return read_media_file(settings.ZOO_MEDIA_ROOT, frame.path, settings.ZOO_MAX_IMAGE_BYTES)
    return b""


class FrameImages:
    """Decoded frames, each decoded once while the budget holds it."""

    def __init__(self, budget_pixels: int | None = None) -> None:
        self.budget = budget_pixels or settings.ZOO_MAX_REQUEST_PIXELS
        self._cache: OrderedDict[int, Image.Image] = OrderedDict()
        self.pixels = 0
        self.decodes = 0

    def of(self, frame: Frame) -> Image.Image:
        image = self._cache.get(frame.pk)
        if image is not None:
            self._cache.move_to_end(frame.pk)
            return image
        image = decoded_rgb(frame_bytes(frame), settings.ZOO_MAX_IMAGE_PIXELS)
        self.decodes += 1
        self._cache[frame.pk] = image
        self.pixels += image.width * image.height
        while self.pixels > self.budget and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self.pixels -= dropped.width * dropped.height
        return image
