"""Status documents served from the read model (``fleet.snapshots``): the body is built
and rendered once per change of the data behind it, then served as bytes.

A document may carry one field that is "now" on every answer (the compact status's
``timestamp``, the time of the snapshot it vouches for): the rendered body keeps a hole
there, filled per request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from rest_framework.fields import DateTimeField
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

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


def document_response(
    request: Request, key: str, build: Callable[[], dict[str, Any]], now_field: str | None = None
) -> HttpResponse:
    """The answer of a status endpoint: the kept document's bytes for plain JSON, else
    a DRF response for the negotiated renderer (the browsable API, an indented JSON)."""
    rendered = snapshots.get(key, lambda: Rendered.of(build(), now_field))
    if request.accepted_media_type == JSONRenderer.media_type:
        return HttpResponse(rendered.body(), content_type=JSONRenderer.media_type)
    return Response(rendered.current())
