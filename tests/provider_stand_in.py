"""A local stand-in for the remote models' endpoints (the real ones are unreachable
here): one HTTP server in a thread that speaks, on their paths, an OpenAI-compatible
server's ``GET /v1/models`` and ``POST /v1/chat/completions``, Anthropic's
``POST /v1/messages`` and Gemini's ``POST /v1beta/models/<model>:generateContent``.
It records every request (path, headers, JSON body) and answers with ``summary``, or
with ``status`` and an error body in the provider's shape, after ``delay_s``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.servers import local_http


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class StandIn:
    url: str = ""  # http://127.0.0.1:<port>
    summary: str = "A person walks to the door, opens it and leaves."
    status: int = 200
    error: str = "something went wrong"
    delay_s: float = 0.0
    seen: list[Seen] = field(default_factory=list)

    def calls(self, suffix: str) -> list[Seen]:
        return [request for request in self.seen if request.path.endswith(suffix)]

    def answer(self, path: str, body: Any) -> Any:
        """The body a provider would answer ``path`` with (``status`` 200)."""
        if path.endswith("/models"):
            return {"object": "list", "data": [{"id": "served", "object": "model"}]}
        if path.endswith("/chat/completions"):
            return {
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                "model": body.get("model", ""),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": self.summary}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 9, "total_tokens": 19},
            }  # fmt: skip
        if path.endswith("/messages"):
            return {
                "id": "msg_1", "type": "message", "role": "assistant",
                "model": body.get("model", ""), "stop_reason": "end_turn",
                "stop_sequence": None,
                "content": [{"type": "text", "text": self.summary}],
                "usage": {"input_tokens": 10, "output_tokens": 9},
            }  # fmt: skip
        if ":generateContent" in path:
            return {
                "candidates": [{"index": 0, "finishReason": "STOP",
                                "content": {"role": "model", "parts": [{"text": self.summary}]}}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 9},
            }  # fmt: skip
        return None

    def error_body(self, path: str) -> Any:
        if path.endswith("/messages"):
            return {"type": "error", "error": {"type": "invalid_request_error",
                                               "message": self.error}}  # fmt: skip
        if ":generateContent" in path:
            return {"error": {"code": self.status, "message": self.error,
                              "status": "INVALID_ARGUMENT"}}  # fmt: skip
        return {"error": {"message": self.error, "type": "invalid_request_error"}}


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path = self.path.split("?")[0]
            headers = {name.lower(): value for name, value in self.headers.items()}
            stand_in.seen.append(Seen(self.command, path, headers, body))
            time.sleep(stand_in.delay_s)
            answer = stand_in.answer(path, body or {})
            status = 404 if answer is None else stand_in.status
            if status != 200:
                answer = stand_in.error_body(path)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve

    return Handler


@contextmanager
def provider_stand_in() -> Iterator[StandIn]:
    """A running stand-in on a free local port, shut down on exit."""
    stand_in = StandIn()
    with local_http(_handler(stand_in)) as stand_in.url:
        yield stand_in
