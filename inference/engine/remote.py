"""Remote models: a server-run option's OpenAI-compatible endpoint (sglang, vllm), or an
external provider's API through its official SDK (Anthropic, OpenAI, Google Gemini).

Plain Python, like the rest of the engine: the caller says where to call and with what
key (``inference.runtime.remote`` reads the registry and the settings), and records the
latency. Every call is bounded by the target's timeout and is not retried, so the
timeout is the bound. A failure is one of two kinds, each with a message for people:
``RemoteUnavailable`` (nothing answered in time: connection refused, timeout, the
provider overloaded) and ``RemoteFailed`` (it answered, with an error).
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SERVER = "server"  # an OpenAI-compatible server of our own (sglang, vllm)
PROVIDERS = ("anthropic", "openai", "google")

DEFAULT_PROMPT = "These are frames of one video clip, in order. Summarize what happens in the clip."
MAX_TOKENS = 1024
# Answers that mean "not now" rather than "no": the caller may try again later.
_BUSY = {408, 429, 502, 503, 504, 529}


@dataclass(frozen=True)
class RemoteTarget:
    """Where a remote model is called: ``provider`` is ``SERVER`` or one of ``PROVIDERS``;
    ``base_url`` "" means the SDK's own default."""

    name: str
    provider: str
    model: str
    base_url: str
    api_key: str
    timeout_s: float

    @property
    def where(self) -> str:
        return self.base_url or f"the {self.provider} API"


class RemoteError(Exception):
    """A remote call that gave no summary; the message says why, for people."""


class RemoteUnavailable(RemoteError):
    """Nothing answered in time (refused, unreachable, timed out, overloaded)."""


class RemoteFailed(RemoteError):
    """The server or provider answered with an error."""


def mime_of(data: bytes) -> str:
    """The MIME type of a JPEG, PNG or WebP image (the formats the API accepts)."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


def summarize(
    target: RemoteTarget, frames: list[bytes], prompt: str = "", max_tokens: int = MAX_TOKENS
) -> dict[str, Any]:
    """The remote model's summary of ``frames`` (in order) under ``prompt``, in at most
    ``max_tokens`` tokens."""
    call = _CALLS[target.provider]
    text = call(target, frames, prompt or DEFAULT_PROMPT, max_tokens)
    return {
        "summary": text,
        "frames": len(frames),
        "model": target.model,
        "provider": target.provider,
    }


def _failure(target: RemoteTarget, status: int | None, message: str) -> RemoteError:
    if status is None or status in _BUSY:
        what = f"answered {status}" if status else "did not answer"
        return RemoteUnavailable(f"{target.name} at {target.where} {what}: {message}")
    return RemoteFailed(f"{target.name} at {target.where} answered {status}: {message}")


def _data_url(data: bytes) -> str:
    return f"data:{mime_of(data)};base64,{base64.b64encode(data).decode()}"


def _openai_compatible(
    target: RemoteTarget, frames: list[bytes], prompt: str, max_tokens: int
) -> str:
    import openai

    client = openai.OpenAI(
        api_key=target.api_key or "not-needed",  # our own servers usually take none
        base_url=target.base_url or None,
        timeout=target.timeout_s,
        max_retries=0,
    )
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    content += [{"type": "image_url", "image_url": {"url": _data_url(f)}} for f in frames]
    messages: Any = [{"role": "user", "content": content}]  # the SDK's own TypedDicts
    try:
        answer = client.chat.completions.create(
            model=target.model,
            messages=messages,
            max_tokens=max_tokens,
        )
    except openai.APIStatusError as exc:
        raise _failure(target, exc.status_code, exc.message) from None
    except openai.APIError as exc:  # connection refused, timeout
        raise _failure(target, None, str(exc) or type(exc).__name__) from None
    finally:
        client.close()
    if not answer.choices:
        raise RemoteFailed(f"{target.name} at {target.where} answered with no choice")
    return answer.choices[0].message.content or ""


def _anthropic(target: RemoteTarget, frames: list[bytes], prompt: str, max_tokens: int) -> str:
    import anthropic

    client = anthropic.Anthropic(
        api_key=target.api_key,
        base_url=target.base_url or None,
        timeout=target.timeout_s,
        max_retries=0,
    )
    content: list[dict[str, Any]] = [
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": mime_of(f),
                "data": base64.b64encode(f).decode(),
            },
        }
        for f in frames
    ]
    content.append({"type": "text", "text": prompt})
    messages: Any = [{"role": "user", "content": content}]  # the SDK's own TypedDicts
    try:
        answer = client.messages.create(
            model=target.model,
            max_tokens=max_tokens,
            messages=messages,
        )
    except anthropic.APIStatusError as exc:
        raise _failure(target, exc.status_code, exc.message) from None
    except anthropic.APIError as exc:
        raise _failure(target, None, str(exc) or type(exc).__name__) from None
    finally:
        client.close()
    return "".join(getattr(block, "text", "") for block in answer.content)


def _gemini(target: RemoteTarget, frames: list[bytes], prompt: str, max_tokens: int) -> str:
    from google import genai
    from google.genai import errors, types

    options = types.HttpOptions(
        base_url=target.base_url or None, timeout=int(target.timeout_s * 1000)
    )
    config = types.GenerateContentConfig(max_output_tokens=max_tokens)
    client = genai.Client(api_key=target.api_key, http_options=options)
    parts: list[Any] = [types.Part.from_bytes(data=f, mime_type=mime_of(f)) for f in frames]
    try:
        answer = client.models.generate_content(
            model=target.model, contents=[*parts, prompt], config=config
        )
    except errors.APIError as exc:
        raise _failure(target, exc.code, exc.message or str(exc)) from None
    except Exception as exc:
        if not _transport_error(exc):
            raise
        raise _failure(target, None, str(exc) or type(exc).__name__) from None
    finally:
        client.close()
    return answer.text or ""


def _transport_error(exc: Exception) -> bool:
    """An error of the HTTP transport (no answer): the SDK passes them on as they are,
    from httpx or its successor, whichever it was built with."""
    return isinstance(exc, OSError) or type(exc).__module__.startswith("httpx")


_CALLS: dict[str, Callable[[RemoteTarget, list[bytes], str, int], str]] = {
    SERVER: _openai_compatible,
    "openai": _openai_compatible,
    "anthropic": _anthropic,
    "google": _gemini,
}


def server_answers(base_url: str, timeout_s: float = 3.0) -> bool:
    """Whether an OpenAI-compatible server answers its cheapest call (``GET <base>/models``)."""
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/models", timeout=timeout_s) as r:
            return bool(200 <= r.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False
