"""Requests no view should see."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

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
