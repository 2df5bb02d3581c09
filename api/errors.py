"""Error bodies, one shape per API, for every error including the unexpected ones.

The Model Zoo API answers errors as ``{"detail": "..."}`` (DRF's own shape); the Model
Management API as ``{"error": "..."}``, which its document's client code reads as
``error.error``, with the same message under ``detail`` too: the annotation tool's own
server forwards ``detail`` to its users. A view says which by its ``error_key``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from api.uploads import UploadTooLarge
from core.errors import ServiceError
from core.serializers import flatten

logger = logging.getLogger(__name__)

MANAGEMENT_PREFIX = "/api/models/"


class ApiError(exceptions.APIException):
    """An error with an exact message and status, as the documents spell them."""

    def __init__(self, message: str, status_code: int = status.HTTP_400_BAD_REQUEST):
        super().__init__(detail=message)
        self.status_code = status_code


class QueryValueError(ApiError):
    """A missing or invalid query value that the home-security backend, whose client
    the Model Zoo API serves, refuses with a 422: its body carries the document's
    ``detail`` and that backend's validation envelope (``error.errors``)."""

    def __init__(self, message: str, *, field: str, value: str | None):
        super().__init__(message, status.HTTP_422_UNPROCESSABLE_ENTITY)
        self.field = field
        self.value = value

    def body(self, key: str) -> dict[str, Any]:
        problem = {"field": f"query.{self.field}", "message": str(self.detail), "value": self.value}
        envelope = {"code": "VALIDATION_ERROR", "message": "Request validation failed"}
        return {key: str(self.detail), "error": {**envelope, "errors": [problem]}}


def error_key_for(path: str, view: Any = None) -> str:
    key = getattr(view, "error_key", None)
    if key:
        return key
    return "error" if path.startswith(MANAGEMENT_PREFIX) else "detail"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's handler, with the per-API error key and a JSON body for unexpected errors."""
    request = context.get("request")
    key = error_key_for(request.path if request else "", context.get("view"))
    if isinstance(exc, UploadTooLarge):
        return Response({key: str(exc)}, status=413)
    if isinstance(exc, TooManyFilesSent | TooManyFieldsSent):
        what = "file parts" if isinstance(exc, TooManyFilesSent) else "form fields"
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        if isinstance(exc, TooManyFieldsSent):
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Response({key: f"Request has more than {limit} {what}"}, status=413)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response({key: f"Request body larger than {limit} bytes"}, status=413)
    if isinstance(exc, SuspiciousOperation):
        return Response({key: "Bad request"}, status=400)
    if isinstance(exc, ServiceError):
        return Response({key: str(exc)}, status=exc.status)
    if isinstance(exc, QueryValueError):
        return Response(exc.body(key), status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", request.path if request else "a view")
        return Response({key: "Internal server error"}, status=500)
    message = flatten(response.data)
    response.data = {key: message}
    return response


def management_error_body(body: dict[str, Any]) -> dict[str, Any]:
    """A Model Management error body with its message under ``detail`` as well; any
    other body unchanged."""
    if isinstance(body.get("error"), str) and "detail" not in body:
        return {**body, "detail": body["error"]}
    return body


def json_error(request: HttpRequest, message: str, status_code: int) -> JsonResponse:
    key = error_key_for(request.path)
    return JsonResponse(management_error_body({key: message}), status=status_code)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 404 for paths no route matches: JSON, like every other API error."""
    return json_error(request, f"Not found: {request.path}", 404)


def server_error(request: HttpRequest) -> JsonResponse:
    return json_error(request, "Internal server error", 500)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, "Bad request", 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, "Permission denied", 403)
