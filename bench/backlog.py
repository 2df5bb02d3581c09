"""A backlog of enrichment batches drained by one real worker: loads, evictions,
batches per minute and how long each batch waited, per execution path.

Run from the repository root (needs the local PostgreSQL and Redis)::

    .venv/bin/python -m bench.backlog [--batches 50] [--seed 7] [--redis-db 15] [--json out.json]

Everything is real: a throwaway PostgreSQL database (``--database-url``, created and
dropped by ``bench.support.fresh_postgres``), the bootstrap checkpoints (``manage.py
zoo_bootstrap``, reused from ``--checkpoints`` or ``ZOO_CHECKPOINT_DIR`` when built
before), gunicorn serving the API (``tests.servers.web_server``) and ONE ``zoo_worker``
process (``tests.servers.worker_process``) on a simulated device of 24,576 MB, whose
budget (× 0.8) leaves the zoo's own pool, 1,650 MB by default, as the only limit; the
real loaders run the checkpoints on the CPU. Celery's broker is Redis database
``--redis-db`` on 127.0.0.1 (the device's queue is emptied first). Warm-up at start is
switched off, so the queue holds the batches and nothing else.

The batches are generated from ``--seed`` (nothing recorded is replayed): each draws a
scene (``SCENES``: nothing, person, vehicle — car or truck —, animal — dog or cat —, or
two of them), 1–4 frames of 640×480, and one or two detections of each of the scene's
kinds a frame; ``BUSY_SHARE`` of the non-empty batches carry many (a crowd, a car park).
Scenes are drawn independently, as from several cameras feeding one worker. All the
batches are posted at once, one after the other, to ``POST /api/enrichment/batches``
with a staff token; the bench then waits until every batch is done or failed, for at
most ``--timeout`` seconds, and reports what finished.

Figures, for each execution path measured (``--path``):

- **loads** and **evictions**: the decision log's ``load`` and ``evict`` events of zoo
  models on the device since the first batch was created (``fleet.models.ModelEvent``);
  **models used**: distinct models with a result; **load time**: the loads' durations.
- **batches per minute**: batches done over the span from the first batch's
  ``created_at`` to the last one's ``finished_at``.
- **wait**: each done batch's ``finished_at − created_at`` (from its POST to done),
  nearest-rank p50, p95 and the maximum. Everything is queued at once, so a batch's wait
  is mostly the time to drain the batches ahead of it: the maximum is close to the whole
  run, and the median says how soon half the backlog is served.
- **left queued**: messages still in the device's queue at the end; with every batch
  done, each is a copy the sweeper re-sent (``ZOO_REDISPATCH_AFTER_S``) of a waiting batch.

An execution path is a way for the worker to run what is queued. Today there is one,
``per-message``: each Celery message is one batch, run to its end before the next (its
models acquired once each for the batch, in ``inference.run.batch_plan``'s order). A
path is a name in ``PATHS`` with the environment its processes get; every path runs the
same batches on its own fresh database, server and worker, and when more than one ran
the table adds each one's ratios to the first.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.support import finish, fresh_postgres

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/model_zoo_bench_backlog"
DEFAULT_REDIS_DB = 15
DEVICE = "sim:0"
DEVICE_TOTAL_MB = 24 * 1024  # × offload 0.8 = 19,660 MB: only the 1,650 MB zoo pool binds
# path → the environment its worker and server get on top of the bench's own
PATHS: dict[str, dict[str, str]] = {"per-message": {}}
BASELINE = "per-message"

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
    result_errors: int  # results that are {"error": ...}: a model that could not run
    messages_left: int  # still queued at the end: re-sent copies of batches run since
    submit_seconds: float  # posting every batch
    span_seconds: float  # first batch created → last batch finished
    batches_per_minute: float
    wait_s: dict[str, float]  # p50, p95, max over the batches done


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """The smallest value with at least ``percent``% of ``values`` at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def measure(
    path: str, batches: Sequence[Batch], *, database_url: str, redis_db: int, timeout_s: float
) -> tuple[PathRun, dict[str, Any]]:
    """Run ``batches`` through ``path`` on a fresh database, server and worker: its
    figures, and the set-up it ran on."""
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
            started = time.monotonic()
            ids = _submit(base, token, documents)
            submit_seconds = time.monotonic() - started
            _wait(ids, worker, started + timeout_s)
            left = _empty_queue(broker)
            return _figures(path, ids, submit_seconds, left), setup | {"redis_db": redis_db}


def _servers() -> Any:
    """``tests.servers``: the test suite's real gunicorn and worker processes. Imported by
    name so that type-checking ``bench`` does not take in ``tests/``, which is not held
    to mypy."""
    return importlib.import_module("tests.servers")


def _prepare() -> tuple[str, dict[str, Any]]:
    """Bootstrap checkpoints, warm-up off, a staff token: (the token, the set-up)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from models_registry.models import InferenceSettings

    built = subprocess.run(
        [sys.executable, "manage.py", "zoo_bootstrap", "--verbosity", "0"],
        cwd=ROOT, env=_servers().child_env(), capture_output=True, text=True,
    )  # fmt: skip
    if built.returncode != 0:
        raise RuntimeError(f"zoo_bootstrap failed:\n{built.stdout[-2000:]}{built.stderr[-2000:]}")
    InferenceSettings.objects.filter(pk=1).update(warmup_on_startup=False)
    settings = InferenceSettings.objects.get(pk=1)
    user = get_user_model().objects.create_user("bench-backlog", is_staff=True)
    setup = {
        "device": DEVICE,
        "device_total_mb": DEVICE_TOTAL_MB,
        "device_budget_mb": int(DEVICE_TOTAL_MB * settings.offload_threshold),
        "zoo_pool_mb": settings.zoo_vram_budget_mb,
        "eviction_policy": settings.eviction_policy,
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
    from inference.models import EnrichmentBatch, EnrichmentResult, WorkStatus

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
    loads = list(events.filter(kind=EventKind.LOAD).values_list("duration_s", flat=True))
    results = EnrichmentResult.objects.filter(batch_id__in=ids)
    failed = sum(1 for status, _, _ in rows if status == WorkStatus.FAILED)
    return PathRun(
        path=path,
        submitted=len(ids),
        done=len(done),
        failed=failed,
        unfinished=len(ids) - len(done) - failed,
        loads=len(loads),
        evictions=events.filter(kind=EventKind.EVICT).count(),
        models_used=results.values("model_name").distinct().count(),
        load_seconds=round(sum(d or 0.0 for d in loads), 1),
        result_errors=results.exclude(error="").count(),
        messages_left=left,
        submit_seconds=round(submit_seconds, 1),
        span_seconds=round(span, 1),
        batches_per_minute=round(60 * len(done) / span, 2),
        wait_s={
            "p50": round(nearest_rank(waits, 50), 1) if waits else 0.0,
            "p95": round(nearest_rank(waits, 95), 1) if waits else 0.0,
            "max": round(max(waits), 1) if waits else 0.0,
        },
    )


# --- the report ---------------------------------------------------------------------------

RATIO_FIGURES = ("loads", "evictions", "batches_per_minute", "p50", "p95", "max")


def ratios(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each later path's figures over the first path's; none when one path ran."""

    def figures(run: dict[str, Any]) -> list[float]:
        return [float(run["wait_s"].get(key, run.get(key))) for key in RATIO_FIGURES]

    base = figures(next(iter(runs.values())))
    return {
        name: {
            key: round(value / first, 3) if first else None
            for key, value, first in zip(RATIO_FIGURES, figures(run), base, strict=True)
        }
        for name, run in list(runs.items())[1:]
    }


def markdown(result: dict[str, Any]) -> str:
    m, mx, s = result["machine"], result["mix"], result["setup"]
    with_ = mx["batches_with"]
    lines = [
        f"Backlog: {result['batches']} enrichment batches ({mx['frames']} frames, "
        f"{mx['detections']} detections), generated from seed {result['seed']} (not replayed): "
        f"person in {with_['person']}, vehicle in {with_['vehicle']}, animal in "
        f"{with_['animal']}, no detection in {mx['batches_without_detections']}, "
        f"{mx['busy_batches']} busy (many detections).",
        f"Posted at once over HTTP to gunicorn; one zoo_worker on "
        f"{s['device']} (zoo pool {s['zoo_pool_mb']:,} MB of a {s['device_budget_mb']:,} MB "
        f"budget, policy {s['eviction_policy']}) running the bootstrap checkpoints on the CPU; "
        f"PostgreSQL, Redis db {s['redis_db']}.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, commit {m['commit']}.",
        "",
        "| path | done | loads | evictions | models used | load time | batches/min "
        "| wait p50 | wait p95 | wait max | total | left queued |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in result["paths"].items():
        w = run["wait_s"]
        lines.append(
            f"| {name} | {run['done']}/{run['submitted']} | {run['loads']} | {run['evictions']} "
            f"| {run['models_used']} | {run['load_seconds']} s | {run['batches_per_minute']} "
            f"| {w['p50']} s | {w['p95']} s | {w['max']} s | {run['span_seconds']} s "
            f"| {run['messages_left']} |"
        )
    lines += _ratio_lines(result["ratios"], next(iter(result["paths"])))
    lines += _shortfall_lines(result["paths"])
    lines += [
        "",
        "Wait: from a batch's POST (created_at) to done (finished_at), nearest-rank, over the "
        "batches done; every batch is queued at once, so the wait is mostly the backlog ahead "
        "of it. Total: first batch created to last batch done. Left queued: messages still in "
        "the device's queue then, copies the sweeper re-sent of batches that were waiting.",
    ]
    return "\n".join(lines)


def _ratio_lines(table: dict[str, dict[str, float | None]], base: str) -> list[str]:
    if not table:
        return []
    lines = [
        "",
        f"| ratio to {base} | loads | evictions | batches/min | wait p50 | wait p95 | wait max |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in table.items():
        cells = " | ".join("–" if figures[k] is None else f"{figures[k]}x" for k in RATIO_FIGURES)
        lines.append(f"| {name} | {cells} |")
    return lines


def _shortfall_lines(runs: dict[str, dict[str, Any]]) -> list[str]:
    return [
        f"\n{name}: {run['failed']} failed, {run['unfinished']} unfinished when it stopped."
        for name, run in runs.items()
        if run["failed"] or run["unfinished"]
    ]


def run(
    *, batches: int, seed: int, paths: Sequence[str], database_url: str, redis_db: int,
    timeout_s: float,
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
            path, generated, database_url=database_url, redis_db=redis_db, timeout_s=timeout_s
        )
        result["paths"][path] = asdict(figures)
        result["setup"] = setup
    result["ratios"] = ratios(result["paths"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--path", action="append", choices=list(PATHS), dest="paths",
        help=f"execution path to measure, repeatable (default: {BASELINE})",
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
    if args.batches < 1:
        parser.error("--batches must be at least 1")
    if args.checkpoints:
        os.environ["ZOO_CHECKPOINT_DIR"] = str(args.checkpoints.resolve())
    result = run(
        batches=args.batches, seed=args.seed, paths=list(dict.fromkeys(args.paths or [BASELINE])),
        database_url=args.database_url, redis_db=args.redis_db, timeout_s=args.timeout,
    )  # fmt: skip
    finish(markdown(result), result, args.json)
    complete = all(r["done"] == r["submitted"] for r in result["paths"].values())
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
