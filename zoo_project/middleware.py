"""Requests no view should see, bodies too large to read, and headers every answer
carries."""

from __future__ import annotations

import gc
from collections.abc import Callable
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from api.errors import json_error


class RejectNulBytes:
    """A NUL character in the path or the query string is a 400 with a JSON body.

    Nothing legitimate contains one, and PostgreSQL refuses it in text, so letting it
    through would turn a client's mistake into a server error.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or "\x00" in unquote(request.META.get("QUERY_STRING", "")):
            return json_error(request, "NUL characters are not allowed in URLs", 400)
        return self.get_response(request)


class LimitRequestBodies:
    """A body larger than ``ZOO_MAX_REQUEST_BYTES`` (by its Content-Length) is a 413
    with a JSON body before a byte of it is read. A large body that was read is
    released for good by a full garbage collection at the start of the process's next
    request: a DRF request and its view refer to each other, so what they hold (the
    parsed document, the errors that name it) is freed only by a collection, and with
    a large heap Python's own full collections come rarely (thirty refused 64 MB
    batches held 1.4 GB)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.collect_due = False

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.collect_due:  # the large request before this one is garbage by now
            self.collect_due = False
            gc.collect()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            return json_error(request, f"Request body larger than {limit} bytes", 413)
        if length > RELEASE_AFTER_BYTES:
            self.collect_due = True
        return self.get_response(request)


# Bodies this large are released as soon as their answer is sent.
RELEASE_AFTER_BYTES = 1024 * 1024


class ContentSecurityPolicy:
    """The ``Content-Security-Policy`` header of ``ZOO_CSP`` on every answer that has
    none (empty: no header). The Swagger UI page carries one inline style block, so
    it alone also allows inline styles."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.ZOO_CSP
        if policy and "Content-Security-Policy" not in response:
            if request.path.startswith(DOCS_PATH):
                policy = policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
            response["Content-Security-Policy"] = policy
        return response


DOCS_PATH = "/api/docs/"
