"""A backlog of enrichment batches drained by one real worker, per execution path:
loads, evictions, batches per minute and how long each batch waited; and, while it
drains, how fast a task inference on a resident model is answered.

Run from the repository root (needs the local PostgreSQL and Redis)::

    .venv/bin/python -m bench.backlog [--batches 50] [--seed 7] [--path model-major]
                                      [--inferences 30] [--redis-db 15] [--json out.json]

Everything is real: a throwaway PostgreSQL database per path (``bench.support.
fresh_postgres``), the bootstrap checkpoints (``manage.py zoo_bootstrap``), gunicorn
(``tests.servers.web_server``) and ONE ``zoo_worker`` (``tests.servers.worker_process``)
on a simulated device of 24,576 MB, whose budget (× 0.8) leaves the zoo's 1,650 MB pool
as the only limit of zoo models; the real loaders run the checkpoints on the CPU. Celery's
broker is Redis database ``--redis-db`` (the device's queue is emptied first); warm-up
is off. The batches are generated from ``--seed`` (``SCENES``, ``LABELS``; nothing is
replayed) and posted at once to ``POST /api/enrichment/batches``.

An execution path is the order the worker's scheduler serves the work items waiting on
its device (``ZOO_WORK_ORDER``; ``PATHS``): ``per-message`` (``arrival``: one item at a
time, oldest first, a batch's models in turn, in ``inference.planning.batch_plan``'s
order: exactly the old order of one Celery message after another) is the baseline, and
``model-major`` (``model``: ``inference.scheduling.next_model`` picks a model, and every
ready item of it is served in one round). Each path runs the same batches on a fresh
database, server and worker; the later paths' figures are printed as ratios to the
first, beside the issue's goals (``GOALS``).

Figures per path (``bench/README.md`` says how to read them; ``bench.backlog_report``
computes the ratios and prints the tables): **loads** and **evictions** of zoo models on
the device since the first batch (the decision log, ``fleet.models.ModelEvent``), the
loads', predicts' and items' times added up, **batches/min** over first created → last
finished, **wait** p50/p95/max (``finished_at − created_at``, nearest rank), and **left
queued**: messages still in the device's queue at the end (messages only wake the
scheduler and are consumed at once, and the sweeper never re-sends waiting work: 0).

**Task inference during the backlog.** Before the batches, the task ``INFER_TASK``'s
selected model (not a zoo model: it counts against the device budget, not the zoo pool,
so the backlog never evicts it) is loaded through ``POST /api/system/models/<name>/load``;
while the batches drain, ``--inferences`` calls of ``POST /api/models/infer`` are sent one
after the other, ``INFER_EVERY_S`` apart. Each answer's wall time is set against the
``inference_time`` it reports (the worker's predict); the goal is p95 of the first at
most ``INFER_GOAL``× p95 of the second, over the answers received while batches were
unfinished, and no answer but 200.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.backlog_report import busy_seconds, goals, infer_figures, markdown, percentiles, ratios
from bench.support import finish, fresh_postgres

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/model_zoo_bench_backlog"
DEFAULT_REDIS_DB = 15
DEVICE = "sim:0"
DEVICE_TOTAL_MB = 24 * 1024  # × offload 0.8 = 19,660 MB: only the 1,650 MB zoo pool binds
# path → the environment its worker and server get on top of the bench's own
PATHS: dict[str, dict[str, str]] = {
    "per-message": {"ZOO_WORK_ORDER": "arrival"},
    "model-major": {"ZOO_WORK_ORDER": "model"},
}
INFER_TASK = "object_detection"
INFER_EVERY_S = 1.5  # between one answer and the next call

# (scene, share of batches, kinds of object in it)
SCENES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("empty", 0.30, ()),
    ("person", 0.28, ("person",)),
    ("vehicle", 0.18, ("vehicle",)),
    ("animal", 0.08, ("animal",)),
    ("person+vehicle", 0.10, ("person", "vehicle")),
    ("person+animal", 0.06, ("person", "animal")),
)
# kind → (detection label, its share within the kind)
LABELS: dict[str, tuple[tuple[str, float], ...]] = {
    "person": (("person", 1.0),),
    "vehicle": (("car", 0.75), ("truck", 0.25)),
    "animal": (("dog", 0.6), ("cat", 0.4)),
}
# kind → (width range, height range) of its boxes, in pixels
BOXES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "person": ((40, 140), (100, 320)),
    "vehicle": ((120, 320), (70, 200)),
    "animal": ((40, 140), (40, 120)),
}
BUSY_SHARE = 0.15  # of the batches with detections: many of them (a crowd, a car park)
BUSY_PER_FRAME = (4, 8)  # detections of each kind per frame in a busy batch
MAX_FRAMES = 4
WIDTH, HEIGHT = 640, 480


# --- the batches --------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """One generated batch: its scene and each frame's detections."""

    index: int
    scene: str
    busy: bool
    frames: tuple[tuple[dict[str, Any], ...], ...]
    image_seeds: tuple[int, ...]

    @property
    def labels(self) -> set[str]:
        return {d["label"] for frame in self.frames for d in frame}

    def document(self) -> dict[str, Any]:
        """The body of its POST: each frame a random 640×480 JPEG with its detections."""
        from tests.traffic import image_b64

        return {
            "frames": [
                {"image": image_b64(WIDTH, HEIGHT, seed=seed), "detections": list(detections)}
                for seed, detections in zip(self.image_seeds, self.frames, strict=True)
            ]
        }


def make_batches(count: int, seed: int) -> list[Batch]:
    """``count`` batches drawn from ``SCENES``; the same seed gives the same batches."""
    rng = random.Random(seed)
    weights = [share for _, share, _ in SCENES]
    batches = []
    for index in range(count):
        scene, _, kinds = rng.choices(SCENES, weights)[0]
        busy = bool(kinds) and rng.random() < BUSY_SHARE
        frames: list[list[dict[str, Any]]] = [[] for _ in range(rng.randint(1, MAX_FRAMES))]
        for kind in kinds:
            for frame in frames:
                many = rng.randint(*BUSY_PER_FRAME) if busy else rng.choice((0, 1, 1, 2))
                frame.extend(_detection(rng, kind) for _ in range(many))
            if not any(_kind_of(d["label"]) == kind for frame in frames for d in frame):
                rng.choice(frames).append(_detection(rng, kind))  # seen at least once
        for frame in frames:
            rng.shuffle(frame)
        seeds = tuple(rng.randrange(2**31) for _ in frames)
        batches.append(Batch(index, scene, busy, tuple(map(tuple, frames)), seeds))
    return batches


def _kind_of(label: str) -> str:
    return next(kind for kind, labels in LABELS.items() if label in dict(labels))


def _detection(rng: random.Random, kind: str) -> dict[str, Any]:
    names, shares = zip(*LABELS[kind], strict=True)
    (w_low, w_high), (h_low, h_high) = BOXES[kind]
    width, height = rng.uniform(w_low, w_high), rng.uniform(h_low, h_high)
    x, y = rng.uniform(0, WIDTH - width), rng.uniform(0, HEIGHT - height)
    return {
        "label": rng.choices(names, shares)[0],
        "bbox": [round(x, 1), round(y, 1), round(x + width, 1), round(y + height, 1)],
        "confidence": round(rng.uniform(0.5, 0.95), 2),
    }


def mix(batches: Sequence[Batch]) -> dict[str, Any]:
    """What the generated batches hold, for the caption and the JSON."""
    kinds = Counter(kind for b in batches for kind in {_kind_of(label) for label in b.labels})
    return {
        "scenes": dict(Counter(batch.scene for batch in batches)),
        "batches_with": {kind: kinds[kind] for kind in LABELS},
        "batches_without_detections": sum(1 for batch in batches if not batch.labels),
        "busy_batches": sum(batch.busy for batch in batches),
        "frames": sum(len(batch.frames) for batch in batches),
        "detections": sum(len(frame) for batch in batches for frame in batch.frames),
        "labels": dict(Counter(d["label"] for b in batches for f in b.frames for d in f)),
    }


# --- one execution path -------------------------------------------------------------------


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
    infer: dict[str, Any] | None = None  # task inferences during the backlog (``_probe``)


def measure(
    path: str, batches: Sequence[Batch], *, database_url: str, redis_db: int, timeout_s: float,
    inferences: int = 0,
) -> tuple[PathRun, dict[str, Any]]:  # fmt: skip
    """Run ``batches`` through ``path`` on a fresh database, server and worker, with
    ``inferences`` task inferences while they drain: its figures, and the set-up."""
    if path not in PATHS:
        raise ValueError(f"unknown execution path {path!r}; known: {', '.join(PATHS)}")
    broker = f"redis://127.0.0.1:6379/{redis_db}"
    os.environ["CELERY_BROKER_URL"] = broker  # the children's environment starts from ours
    with fresh_postgres(database_url):
        servers = _servers()
        documents = [batch.document() for batch in batches]  # before the clock starts
        token, setup = _prepare()
        _empty_queue(broker)
        env = PATHS[path]
        with (
            servers.web_server(workers=1, **env) as base,
            servers.worker_process(DEVICE, total_memory_mb=DEVICE_TOTAL_MB, **env) as worker,
        ):
            if inferences:
                _load(base, token, setup["task_model"]["name"])
            started = time.monotonic()
            ids = _submit(base, token, documents)
            submit_seconds = time.monotonic() - started
            drained, answers = threading.Event(), list[tuple[int, float, Any, float]]()
            prober = threading.Thread(
                target=_probe, args=(base, token, inferences, drained, answers), daemon=True
            )
            prober.start()
            _wait(ids, worker, started + timeout_s)
            finished = time.monotonic()
            drained.set()
            prober.join()
            left = _empty_queue(broker)
            run = _figures(path, ids, submit_seconds, left)
            if inferences:
                run.infer = infer_figures(answers, finished, setup["task_model"])
            return run, setup | {"redis_db": redis_db}


def _servers() -> Any:
    """``tests.servers``: the test suite's real gunicorn and worker processes. Imported by
    name so that type-checking ``bench`` does not take in ``tests/``, which is not held
    to mypy."""
    return importlib.import_module("tests.servers")


def _prepare() -> tuple[str, dict[str, Any]]:
    """Bootstrap checkpoints, warm-up off, a staff token: (the token, the set-up)."""
    from django.conf import settings as django_settings
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from models_registry.models import InferenceSettings, Task

    built = subprocess.run(
        [sys.executable, "manage.py", "zoo_bootstrap", "--verbosity", "0"],
        cwd=ROOT, env=_servers().child_env(), capture_output=True, text=True,
    )  # fmt: skip
    if built.returncode != 0:
        raise RuntimeError(f"zoo_bootstrap failed:\n{built.stdout[-2000:]}{built.stderr[-2000:]}")
    InferenceSettings.objects.filter(pk=1).update(warmup_on_startup=False)
    settings = InferenceSettings.objects.get(pk=1)
    user = get_user_model().objects.create_user("bench-backlog", is_staff=True)
    budget = int(DEVICE_TOTAL_MB * settings.offload_threshold)
    model = Task.objects.select_related("selected").get(name=INFER_TASK).selected
    if model is None or model.in_zoo or model.vram_mb > budget - settings.zoo_vram_budget_mb:
        raise RuntimeError(
            f"{INFER_TASK}'s model {model} would not stay resident beside the zoo pool: "
            "select a task model outside the zoo that fits"
        )
    setup = {
        "device": DEVICE,
        "device_total_mb": DEVICE_TOTAL_MB,
        "device_budget_mb": budget,
        "zoo_pool_mb": settings.zoo_vram_budget_mb,
        "eviction_policy": settings.eviction_policy,
        "max_wait_s": django_settings.ZOO_MAX_WAIT_S,
        "task_model": {
            "task": INFER_TASK,
            "name": model.name,
            "vram_mb": model.vram_mb,
            "every_s": INFER_EVERY_S,
        },
    }
    return Token.objects.create(user=user).key, setup


def _empty_queue(broker: str) -> int:
    """Empty this device's queue (its priority lists too): how many messages it held."""
    import redis

    from inference.selectors import queue_for

    client = redis.Redis.from_url(broker)
    keys = list(client.scan_iter(match=f"{queue_for(socket.gethostname(), DEVICE)}*"))
    held = sum(int(client.llen(key)) for key in keys if client.type(key) == b"list")
    if keys:
        client.delete(*keys)
    client.close()
    return held


def _submit(base: str, token: str, documents: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
    ids = []
    for number, document in enumerate(documents):
        status, body = _servers().http("POST", f"{base}/api/enrichment/batches", token, document)
        if status != 202:
            raise RuntimeError(f"batch {number} was answered {status}: {body}")
        ids.append(uuid.UUID(body["id"]))
    return ids


def _load(base: str, token: str, name: str) -> None:
    """Load the task's model on the worker (through the API) before the backlog."""
    status, body = _servers().http("POST", f"{base}/api/system/models/{name}/load", token)
    if status != 200 or body.get("status") != "loaded":
        raise RuntimeError(f"loading {name} was answered {status}: {body}")


def _probe(base: str, token: str, count: int, drained: threading.Event, answers: list) -> None:
    """Up to ``count`` task inferences, one after the other, ``INFER_EVERY_S`` apart,
    until the backlog is drained; each answer is appended to ``answers``: (status, wall
    seconds, the body, monotonic time of the answer)."""
    from tests.traffic import image_b64

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


def _wait(ids: Sequence[uuid.UUID], worker: subprocess.Popen, deadline: float) -> None:
    """Until every batch is done or failed, the worker is gone, or the deadline passes."""
    from inference.models import EnrichmentBatch, WorkStatus

    finished_states = (WorkStatus.DONE, WorkStatus.FAILED)
    started = told = time.monotonic()
    while True:
        finished = EnrichmentBatch.objects.filter(pk__in=ids, status__in=finished_states).count()
        now = time.monotonic()
        if finished == len(ids) or now > deadline or worker.poll() is not None:
            return
        if now - told >= 30:
            print(f"  {finished}/{len(ids)} finished after {now - started:.0f} s", file=sys.stderr)
            told = now
        time.sleep(1)


def _figures(path: str, ids: Sequence[uuid.UUID], submit_seconds: float, left: int) -> PathRun:
    from django.utils import timezone

    from fleet.models import EventKind, ModelEvent
    from inference.models import EnrichmentBatch, EnrichmentResult, WorkItem, WorkStatus

    rows = list(EnrichmentBatch.objects.filter(pk__in=ids).values_list(
        "status", "created_at", "finished_at"
    ))  # fmt: skip
    first = min(created for _, created, _ in rows)
    done = [(created, end) for status, created, end in rows if status == WorkStatus.DONE and end]
    waits = [(end - created).total_seconds() for created, end in done]
    last = max((end for _, end in done), default=timezone.now())
    span = max((last - first).total_seconds(), 1e-9)
    events = ModelEvent.objects.filter(
        device__name=DEVICE, model__in_zoo=True, created_at__gte=first
    )
    loaded = list(
        events.filter(kind=EventKind.LOAD).order_by("created_at", "pk")
        .values_list("model__name", "duration_s")
    )  # fmt: skip
    results = EnrichmentResult.objects.filter(batch_id__in=ids)
    predicts = results.values_list("duration_s", flat=True)
    ran = WorkItem.objects.filter(batch_id__in=ids).values_list("started_at", "finished_at")
    failed = sum(1 for status, _, _ in rows if status == WorkStatus.FAILED)
    return PathRun(
        path=path,
        submitted=len(ids),
        done=len(done),
        failed=failed,
        unfinished=len(ids) - len(done) - failed,
        loads=len(loaded),
        evictions=events.filter(kind=EventKind.EVICT).count(),
        models_used=results.values("model_name").distinct().count(),
        load_seconds=round(sum(d or 0.0 for _, d in loaded), 1),
        predict_seconds=round(sum(d or 0.0 for d in predicts), 1),
        item_seconds=round(busy_seconds([(s, e) for s, e in ran if s and e]), 1),
        result_errors=results.exclude(error="").count(),
        messages_left=left,
        submit_seconds=round(submit_seconds, 1),
        span_seconds=round(span, 1),
        batches_per_minute=round(60 * len(done) / span, 2),
        wait_s=percentiles(waits, (50, 95), digits=1, maximum=True)
        or {"p50": 0.0, "p95": 0.0, "max": 0.0},
        load_sequence=[name for name, _ in loaded],
    )


def run(
    *, batches: int, seed: int, paths: Sequence[str], database_url: str, redis_db: int,
    timeout_s: float, inferences: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Every path on the same generated batches: the figures the table and JSON show."""
    from bench.__main__ import machine

    generated = make_batches(batches, seed)
    result: dict[str, Any] = {
        "batches": batches, "seed": seed, "machine": machine(), "mix": mix(generated),
        "baseline": paths[0], "paths": {},
    }  # fmt: skip
    for path in paths:
        print(f"==> {path}: {batches} batches", file=sys.stderr, flush=True)
        figures, setup = measure(
            path, generated, database_url=database_url, redis_db=redis_db, timeout_s=timeout_s,
            inferences=inferences,
        )  # fmt: skip
        result["paths"][path] = asdict(figures)
        result["setup"] = setup
    result["ratios"] = ratios(result["paths"])
    result["goals"] = goals(result["ratios"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--path", action="append", choices=list(PATHS), dest="paths",
        help=f"execution path to measure, repeatable; the first is the baseline (default: "
        f"{', '.join(PATHS)})",
    )  # fmt: skip
    parser.add_argument(
        "--inferences", type=int, default=30,
        help=f"task inferences sent while the backlog drains, {INFER_EVERY_S} s apart (0: none)",
    )  # fmt: skip
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_BACKLOG_DATABASE_URL", DEFAULT_URL),
        help="a PostgreSQL database to create and drop",
    )  # fmt: skip
    parser.add_argument("--redis-db", type=int, default=DEFAULT_REDIS_DB)
    parser.add_argument("--timeout", type=float, default=1200, help="seconds to wait, per path")
    parser.add_argument("--checkpoints", type=Path, help="bootstrap checkpoint folder to reuse")
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.batches < 1 or args.inferences < 0:
        parser.error("--batches must be at least 1, --inferences at least 0")
    if args.checkpoints:
        os.environ["ZOO_CHECKPOINT_DIR"] = str(args.checkpoints.resolve())
    result = run(
        batches=args.batches, seed=args.seed, paths=list(dict.fromkeys(args.paths or PATHS)),
        database_url=args.database_url, redis_db=args.redis_db, timeout_s=args.timeout,
        inferences=args.inferences,
    )  # fmt: skip
    finish(markdown(result), result, args.json)
    complete = all(r["done"] == r["submitted"] for r in result["paths"].values())
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
