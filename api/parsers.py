"""JSON from callers, parsed strictly wherever it arrives (a request body, or a JSON
field of a multipart form): no NaN or Infinity, no NUL character in any string (the
database refuses both), and at most ``MAX_DEPTH`` levels of nesting. Each is a 400 that
names where the document came from, never a RecursionError or a database error."""

from __future__ import annotations

import codecs
import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# The deepest document either API takes is a batch: body, frames, frame, detections,
# detection, bbox (6). Options are flat. Anything far deeper is a mistake or an attack.
MAX_DEPTH = 32


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_document(text: str | bytes, *, where: str) -> Any:
    """``text`` parsed; a ParseError (400) starting with ``where`` if it is refused."""
    try:
        document = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise ParseError(f"{where}: JSON nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # JSONDecodeError and the constants, bad UTF-8 too
        raise ParseError(f"{where}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
    problem = _problem(document)
    if problem:
        raise ParseError(f"{where}: {problem}")
    return document


def _problem(document: Any) -> str:
    """What is wrong with a parsed document, walked without recursion; '' if nothing."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            values = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            values = value
        elif isinstance(value, str) and "\x00" in value:
            return "strings must not contain NUL characters (\\u0000)"
        else:
            continue
        if depth > MAX_DEPTH:
            return f"JSON nested more than {MAX_DEPTH} levels deep"
        stack.extend((item, depth + 1) for item in values)
    return ""


class StrictJSONParser(JSONParser):
    """DRF's JSON parser held to ``json_document``'s rules."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            text = codecs.getreader(encoding)(stream).read()
        except UnicodeDecodeError:
            raise ParseError(f"request body: not valid {encoding} text") from None
        return json_document(text, where="request body")
