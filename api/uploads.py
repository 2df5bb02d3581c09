"""Multipart uploads held to the limits as their bytes arrive, before anything is
spooled to memory or disk: the first upload handler refuses a file part larger than
``ZOO_MAX_IMAGE_BYTES`` and a body larger than ``ZOO_MAX_REQUEST_BYTES`` with a 413
that names the part (Django's own limits count fields and files: DATA_UPLOAD_MAX_*)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler


class UploadTooLarge(RequestDataTooBig):
    """An upload past a limit; the message names the part and the limit (a 413)."""


class LimitedUploadHandler(FileUploadHandler):
    """Counts each file part's bytes and passes them on to the next handler."""

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: Any = None
    ) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and content_length > limit:
            raise UploadTooLarge(f"Request body larger than {limit} bytes")

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.ZOO_MAX_IMAGE_BYTES:
            raise UploadTooLarge(
                f"{self.field_name}: file part larger than {settings.ZOO_MAX_IMAGE_BYTES} "
                "bytes (ZOO_MAX_IMAGE_BYTES)"
            )
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler keeps the file
