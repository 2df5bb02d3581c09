"""Status documents served from the read model (``fleet.snapshots``): the body is built
and rendered once per change of the data behind it, then served as bytes.

A document may carry one field that is "now" on every answer (the compact status's
``timestamp``, the time of the snapshot it vouches for): the rendered body keeps a hole
there, filled per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from rest_framework.fields import DateTimeField
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiView
from fleet.snapshots import snapshots

_HOLE = "\x00now\x00"
_renderer = JSONRenderer()
_time = DateTimeField()  # built once: a DRF field costs more to make than to use


def _now() -> str:
    return _time.to_representation(timezone.now())


@dataclass(frozen=True)
class Rendered:
    data: dict[str, Any]
    parts: tuple[bytes, ...]
    now_field: str | None

    @classmethod
    def of(cls, data: dict[str, Any], now_field: str | None = None) -> Rendered:
        if now_field is None:
            return cls(data, (_renderer.render(data),), None)
        body = _renderer.render({**data, now_field: _HOLE})
        parts = tuple(body.split(_renderer.render(_HOLE)))
        if len(parts) != 2:  # the marker also stands in the data: no hole, render per answer
            return cls(data, (), now_field)
        return cls(data, parts, now_field)

    def current(self) -> dict[str, Any]:
        """The data as of now, for a renderer other than plain JSON."""
        return self.data if self.now_field is None else {**self.data, self.now_field: _now()}

    def body(self) -> bytes:
        if not self.parts:
            return _renderer.render(self.current())
        if self.now_field is None:
            return self.parts[0]
        return _renderer.render(_now()).join(self.parts)


# What a caller sends that DRF's content negotiation answers with plain JSON.
_PLAIN_ACCEPT = frozenset(("", "*/*", JSONRenderer.media_type))


def plain_anonymous_read(request: HttpRequest) -> bool:
    """Whether DRF would answer ``request`` as an anonymous reader's plain-JSON GET with
    no query: no credentials of either kind (token header, session cookie), reads open
    to anonymous callers, and an ``Accept`` that negotiates to JSON."""
    return (
        request.method == "GET"
        and not request.META.get("QUERY_STRING")
        and "HTTP_AUTHORIZATION" not in request.META
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and not settings.ZOO_READS_REQUIRE_AUTH
        and request.META.get("HTTP_ACCEPT", "").strip() in _PLAIN_ACCEPT
    )


class DocumentView(ApiView):
    """A status endpoint whose GET answers a kept document (``document_key``, built by
    ``document_build``).

    The most common call (an anonymous plain-JSON GET with no query: dashboards,
    monitors, the originals' clients) is answered before DRF wraps the request, with
    the bytes and headers DRF would send: the document costs the status version read
    and nothing else. Every other call (credentials, a query to check, another
    renderer) goes through DRF as usual, as does any error on the short path.
    """

    now_field: str | None = None

    def document_key(self, public: bool) -> str:
        raise NotImplementedError

    def document_build(self, public: bool) -> dict[str, Any]:
        raise NotImplementedError

    def answer(self, request: Request) -> HttpResponse:
        """The GET handler's answer (each view's ``get`` carries its schema): the kept
        document's bytes for plain JSON, else a DRF response for the negotiated renderer
        (the browsable API, an indented JSON)."""
        rendered = self._rendered(public=not request.user.is_authenticated)
        if request.accepted_media_type == JSONRenderer.media_type:
            return HttpResponse(rendered.body(), content_type=JSONRenderer.media_type)
        return Response(rendered.current())

    def _rendered(self, *, public: bool) -> Rendered:
        return snapshots.get(
            self.document_key(public),
            lambda: Rendered.of(self.document_build(public), self.now_field),
        )

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if self.query_required or not plain_anonymous_read(request):
            return super().dispatch(request, *args, **kwargs)
        try:
            rendered = self._rendered(public=True)
        except Exception:  # answered (and reported) the usual way
            return super().dispatch(request, *args, **kwargs)
        response = HttpResponse(rendered.body(), content_type=JSONRenderer.media_type)
        headers = dict(self.default_response_headers)
        vary = [headers.pop("Vary")] if "Vary" in headers else []
        for name, value in headers.items():
            response[name] = value
        # DRF's session read marks the answer as varying by cookie; this one does too
        # (a signed-in reader's cookie takes it down the other path).
        patch_vary_headers(response, [*vary, "Cookie"])
        return response
