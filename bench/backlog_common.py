"""What every row of the backlog benchmark (``bench.backlog``) shares, whichever code
serves it: the device, the figures of one run (``PathRun``), and driving a running
server and worker over HTTP: the task model loaded, the batches posted, the task
inferences sent while they drain, the wait for the last batch, and the device's queue
emptied. Today's execution paths (``bench.backlog``) and the older commit's worker
(``bench.backlog_before``) run exactly this, each on its own database."""

from __future__ import annotations

import base64
import importlib
import io
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.backlog_report import busy_seconds, percentiles

DEVICE = "sim:0"
DEVICE_TOTAL_MB = 24 * 1024  # × offload 0.8 = 19,660 MB: only the 1,650 MB zoo pool binds
INFER_TASK = "object_detection"
INFER_EVERY_S = 1.5  # between one answer and the next call
WIDTH, HEIGHT = 640, 480  # of every generated frame, and of the inferences' image


@dataclass
class PathRun:
    """What one execution path did with the backlog."""

    path: str
    submitted: int
    done: int
    failed: int
    unfinished: int
    loads: int
    evictions: int
    models_used: int
    load_seconds: float
    predict_seconds: float  # the results' predict durations added up
    item_seconds: float  # time the worker spent serving batch items (overlaps counted once)
    result_errors: int  # results that are {"error": ...}: a model that could not run
    messages_left: int  # still queued at the end: messages only wake, so about 0
    submit_seconds: float  # posting every batch
    span_seconds: float  # first batch created → last batch finished
    batches_per_minute: float
    wait_s: dict[str, float]  # p50, p95, max over the batches done
    load_sequence: list[str]  # the zoo models loaded, in order (the decision log)
    infer: dict[str, Any] | None = None  # task inferences during the backlog (``probe``)


@dataclass
class Drive:
    """One backlog driven through a server: the batches' ids, how long posting them took,
    the task inferences' answers (``probe``) and when the last batch finished."""

    ids: list[uuid.UUID]
    submit_seconds: float
    finished: float  # time.monotonic() when every batch had finished (or the wait ended)
    answers: list[tuple[int, float, Any, float]] = field(default_factory=list)


def path_run(
    path: str, *, batches: Sequence[tuple[str, Any, Any]], loaded: Sequence[tuple[str, Any]],
    evictions: int, results: Sequence[tuple[str, Any, str]], spans: Sequence[tuple[Any, Any]],
    left: int, submit_seconds: float,
) -> PathRun:  # fmt: skip
    """One path's figures from what its database holds: each batch's (status, created_at,
    finished_at); the zoo models loaded on the device since the first batch, in order,
    with each load's duration; its evictions; each result's (model, predict seconds,
    error); the (start, end) spans the worker spent serving batch work; the messages
    left in the queue; and how long posting the batches took."""
    first = min(created for _, created, _ in batches)
    done = [(created, end) for status, created, end in batches if status == "done" and end]
    waits = [(end - created).total_seconds() for created, end in done]
    last = max((end for _, end in done), default=datetime.now(UTC))
    span = max((last - first).total_seconds(), 1e-9)
    failed = sum(1 for status, _, _ in batches if status == "failed")
    return PathRun(
        path=path,
        submitted=len(batches),
        done=len(done),
        failed=failed,
        unfinished=len(batches) - len(done) - failed,
        loads=len(loaded),
        evictions=evictions,
        models_used=len({model for model, _, _ in results}),
        load_seconds=round(sum(d or 0.0 for _, d in loaded), 1),
        predict_seconds=round(sum(d or 0.0 for _, d, _ in results), 1),
        item_seconds=round(busy_seconds([(s, e) for s, e in spans if s and e]), 1),
        result_errors=sum(1 for _, _, error in results if error),
        messages_left=left,
        submit_seconds=round(submit_seconds, 1),
        span_seconds=round(span, 1),
        batches_per_minute=round(60 * len(done) / span, 2),
        wait_s=percentiles(waits, (50, 95), digits=1, maximum=True)
        or {"p50": 0.0, "p95": 0.0, "max": 0.0},
        load_sequence=[name for name, _ in loaded],
    )


def image_b64(width: int, height: int, *, seed: int) -> str:
    """A random JPEG of that size, base64-encoded as clients send it: the same image as the
    tests' ``tests.traffic.image_b64`` for the same seed, made without Django."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


def servers() -> Any:
    """``tests.servers``: the test suite's real gunicorn and worker processes. Imported by
    name so that type-checking ``bench`` does not take in ``tests/``, which is not held
    to mypy."""
    return importlib.import_module("tests.servers")


def drive(
    base: str, token: str, documents: Sequence[dict[str, Any]], *, worker: subprocess.Popen,
    finished: Callable[[Sequence[uuid.UUID]], int], timeout_s: float, inferences: int = 0,
    task_model: str = "",
) -> Drive:  # fmt: skip
    """Load ``task_model`` (when ``inferences``), post every document, send ``inferences``
    task inferences while they drain, and wait until ``finished(ids)`` counts them all,
    the worker is gone or ``timeout_s`` has passed."""
    if inferences:
        load_model(base, token, task_model)
    started = time.monotonic()
    ids = submit(base, token, documents)
    submit_seconds = time.monotonic() - started
    drained, answers = threading.Event(), list[tuple[int, float, Any, float]]()
    prober = threading.Thread(
        target=probe, args=(base, token, inferences, drained, answers), daemon=True
    )
    prober.start()
    wait(lambda: finished(ids), len(ids), worker, started + timeout_s)
    done = time.monotonic()
    drained.set()
    prober.join()
    return Drive(ids, submit_seconds, done, answers)


def submit(base: str, token: str, documents: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
    ids = []
    for number, document in enumerate(documents):
        status, body = servers().http("POST", f"{base}/api/enrichment/batches", token, document)
        if status != 202:
            raise RuntimeError(f"batch {number} was answered {status}: {body}")
        ids.append(uuid.UUID(body["id"]))
    return ids


def load_model(base: str, token: str, name: str) -> None:
    """Load the task's model on the worker (through the API) before the backlog."""
    status, body = servers().http("POST", f"{base}/api/system/models/{name}/load", token)
    if status != 200 or body.get("status") != "loaded":
        raise RuntimeError(f"loading {name} was answered {status}: {body}")


def probe(base: str, token: str, count: int, drained: threading.Event, answers: list) -> None:
    """Up to ``count`` task inferences, one after the other, ``INFER_EVERY_S`` apart,
    until the backlog is drained; each answer is appended to ``answers``: (status, wall
    seconds, the body, monotonic time of the answer)."""
    url = f"{base}/api/models/infer?task_type={INFER_TASK}"
    data = json.dumps({"image": image_b64(WIDTH, HEIGHT, seed=11)}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    for _ in range(count):
        if drained.wait(INFER_EVERY_S):
            return
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except OSError as error:  # no answer at all
            status, raw = 0, json.dumps({"error": str(error)}).encode()
        answered = time.monotonic()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"error": raw[:200].decode(errors="replace")}
        answers.append((status, answered - started, body, answered))


def wait(
    finished: Callable[[], int], total: int, worker: subprocess.Popen, deadline: float
) -> None:
    """Until ``finished()`` (batches done or failed) reaches ``total``, the worker is
    gone, or the deadline passes; says how far it is every 30 s."""
    started = told = time.monotonic()
    while True:
        count = finished()
        now = time.monotonic()
        if count == total or now > deadline or worker.poll() is not None:
            return
        if now - told >= 30:
            print(f"  {count}/{total} finished after {now - started:.0f} s", file=sys.stderr)
            told = now
        time.sleep(1)


def empty_queue(broker: str, queue: str) -> int:
    """Empty the device's ``queue`` (its priority lists too): how many messages it held."""
    import redis

    client = redis.Redis.from_url(broker)
    keys = list(client.scan_iter(match=f"{queue}*"))
    held = sum(int(client.llen(key)) for key in keys if client.type(key) == b"list")
    if keys:
        client.delete(*keys)
    client.close()
    return held
