"""A task inference by a model served outside this process: a server-run option's
OpenAI-compatible endpoint or an external provider's API (``inference.engine.remote``),
called from the worker like any model's predict, its latency recorded the same way.
Nothing is loaded into the device's memory for it."""

from __future__ import annotations

import time
from typing import Any

from inference.engine.remote import MAX_TOKENS, RemoteFailed, RemoteUnavailable, summarize
from inference.models import InferenceFrame, InferenceRequest, WorkStatus
from inference.runtime.remote import Unconfigured, remote_target
from inference.runtime.specs import spec_of
from inference.runtime.zoo import ModelZoo
from models_registry.models import ModelEntry


def request_frames(request: InferenceRequest) -> list[bytes]:
    """The request's frames in order: its image, then its further frames."""
    rest = InferenceFrame.objects.filter(request=request).order_by("index")
    return [bytes(request.image), *(bytes(data) for data in rest.values_list("data", flat=True))]


def remote_run(zoo: ModelZoo, request: InferenceRequest, entry: ModelEntry) -> dict[str, Any]:
    """Call ``entry`` on the request's frames and prompt: the fields of the finished
    request. A server or provider that does not answer in ``ZOO_REMOTE_TIMEOUT_S``
    fails it as ``unavailable`` (a 503); one that answers with an error fails it with
    its message (a 500)."""
    if not entry.enabled:
        reason = f": {entry.disabled_reason}" if entry.disabled_reason else ""
        return {"status": WorkStatus.FAILED, "error": f"{entry.name} is disabled{reason}"}
    try:
        target = remote_target(entry)
    except Unconfigured as exc:
        return {"status": WorkStatus.FAILED, "error": str(exc), "unavailable": True}
    options = request.options or {}
    started = time.perf_counter()
    try:
        output = summarize(
            target,
            request_frames(request),
            str(options.get("prompt") or ""),
            int(options.get("max_new_tokens") or MAX_TOKENS),
        )
    except RemoteUnavailable as exc:
        error = f"Model service unavailable: {exc}"
        return {"status": WorkStatus.FAILED, "error": error, "unavailable": True}
    except RemoteFailed as exc:
        return {"status": WorkStatus.FAILED, "error": f"Inference failed: {exc}"}
    seconds = time.perf_counter() - started
    zoo.record_remote(spec_of(entry), seconds)
    return {
        "status": WorkStatus.DONE,
        "result": {"output": output, "device": entry.server_device or "remote", "cold": False},
        "load_s": 0.0,
        "inference_s": seconds,
    }
