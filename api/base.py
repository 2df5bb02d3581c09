"""What every view of both APIs shares, done once: the error envelope of its document
(``error_key``) and the strict check of the query parameters it accepts, run before
the handler (after authentication and permissions, as DRF's ``initial`` orders them).
"""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import OpenApiResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import management_error_body
from api.params import query_params
from api.serializers.common import DetailErrorSerializer, ErrorSerializer


class ApiView(APIView):
    error_key: ClassVar[str] = "detail"
    query_required: ClassVar[tuple[str, ...]] = ()
    query_optional: ClassVar[tuple[str, ...]] = ()
    params: dict[str, str]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.params = query_params(
            request, required=self.query_required, optional=self.query_optional
        )


class ZooView(ApiView):
    """A view of the Model Zoo API: errors are ``{"detail": ...}``."""

    error_key = "detail"


class ManagementView(ApiView):
    """A view of the Model Management API: errors are ``{"error": ...}``, with the same
    message under ``detail`` too (see ``api.errors.management_error_body``)."""

    error_key = "error"

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and isinstance(response.data, dict):
            response.data = management_error_body(response.data)
        return super().finalize_response(request, response, *args, **kwargs)


def zoo_error(description: str) -> OpenApiResponse:
    return OpenApiResponse(DetailErrorSerializer, description=description)


def management_error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


ZOO_TAG = ["Model Zoo"]
MANAGEMENT_TAG = ["Model Management"]
NON_EMPTY = {"type": "string", "minLength": 1}
BAD_QUERY = zoo_error("Unknown or malformed query")
DENIED = zoo_error("Reads need a login (setting)")
BAD_MANAGEMENT_QUERY = management_error("Unknown, missing or malformed query")
DENIED_MANAGEMENT_READ = management_error("Reads need a login (setting)")
