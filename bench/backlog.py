"""A backlog of enrichment batches drained by one real worker, per execution path:
loads, evictions, batches per minute and how long each batch waited; and, while it
drains, how fast a task inference on a resident model is answered.

Run from the repository root (needs the local PostgreSQL and Redis)::

    .venv/bin/python -m bench.backlog [--batches 50] [--seed 7] [--path model-major]
                                      [--inferences 30] [--redis-db 15] [--json out.json]
                                      [--before 519a77a|none] [--before-redis-db 14]

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
database, server and worker. First of all, unless ``--before none``, the same batches
go to an older commit's own server and worker (``main-before``: main before the
scheduler, one Celery message per batch; ``bench.backlog_before`` runs it from a git
worktree, on its own database and broker). Each row's figures are printed as ratios to
every earlier row's, and the last row's (model-major's) against the issue's goals
(``GOALS``), to each.

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
import os
import random
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.backlog_before import BEFORE, DEFAULT_REV, measure_before
from bench.backlog_common import (
    DEVICE,
    DEVICE_TOTAL_MB,
    HEIGHT,
    INFER_EVERY_S,
    INFER_TASK,
    WIDTH,
    PathRun,
    drive,
    empty_queue,
    image_b64,
    path_run,
    servers,
)
from bench.backlog_report import goals, infer_figures, markdown, ratios
from bench.support import finish, fresh_postgres

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/model_zoo_bench_backlog"
DEFAULT_REDIS_DB = 15
DEFAULT_BEFORE_REDIS_DB = 14  # the main-before row's broker: its own
# path → the environment its worker and server get on top of the bench's own
PATHS: dict[str, dict[str, str]] = {
    "per-message": {"ZOO_WORK_ORDER": "arrival"},
    "model-major": {"ZOO_WORK_ORDER": "model"},
}

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
        from inference.selectors import queue_for

        documents = [batch.document() for batch in batches]  # before the clock starts
        token, setup = _prepare()
        queue = queue_for(socket.gethostname(), DEVICE)
        empty_queue(broker, queue)
        env = PATHS[path]
        with (
            servers().web_server(workers=1, **env) as base,
            servers().worker_process(DEVICE, total_memory_mb=DEVICE_TOTAL_MB, **env) as worker,
        ):
            drove = drive(
                base, token, documents, worker=worker, finished=_finished,
                timeout_s=timeout_s, inferences=inferences, task_model=setup["task_model"]["name"],
            )  # fmt: skip
            run = _figures(path, drove.ids, drove.submit_seconds, empty_queue(broker, queue))
            if inferences:
                run.infer = infer_figures(drove.answers, drove.finished, setup["task_model"])
            return run, setup | {"redis_db": redis_db}


def _prepare() -> tuple[str, dict[str, Any]]:
    """Bootstrap checkpoints, warm-up off, a staff token: (the token, the set-up)."""
    from django.conf import settings as django_settings
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from models_registry.models import InferenceSettings, Task

    built = subprocess.run(
        [sys.executable, "manage.py", "zoo_bootstrap", "--verbosity", "0"],
        cwd=ROOT, env=servers().child_env(), capture_output=True, text=True,
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


def _finished(ids: Sequence[uuid.UUID]) -> int:
    """How many of the batches are done or failed."""
    from inference.models import EnrichmentBatch, WorkStatus

    finished = (WorkStatus.DONE, WorkStatus.FAILED)
    return EnrichmentBatch.objects.filter(pk__in=ids, status__in=finished).count()


def _figures(path: str, ids: Sequence[uuid.UUID], submit_seconds: float, left: int) -> PathRun:
    from fleet.models import EventKind, ModelEvent
    from inference.models import EnrichmentBatch, EnrichmentResult, WorkItem

    batches = EnrichmentBatch.objects.filter(pk__in=ids)
    rows = list(batches.values_list("status", "created_at", "finished_at"))
    first = min(created for _, created, _ in rows)
    events = ModelEvent.objects.filter(
        device__name=DEVICE, model__in_zoo=True, created_at__gte=first
    ).order_by("created_at", "pk")
    results = EnrichmentResult.objects.filter(batch_id__in=ids)
    items = WorkItem.objects.filter(batch_id__in=ids)
    return path_run(
        path,
        batches=rows,
        loaded=list(events.filter(kind=EventKind.LOAD).values_list("model__name", "duration_s")),
        evictions=events.filter(kind=EventKind.EVICT).count(),
        results=list(results.values_list("model_name", "duration_s", "error")),
        spans=list(items.values_list("started_at", "finished_at")),
        left=left,
        submit_seconds=submit_seconds,
    )


def run(
    *, batches: int, seed: int, paths: Sequence[str], database_url: str, redis_db: int,
    timeout_s: float, inferences: int = 0, before: str | None = None,
    before_redis_db: int = DEFAULT_BEFORE_REDIS_DB,
) -> dict[str, Any]:  # fmt: skip
    """Every path on the same generated batches, the commit ``before``'s worker first when
    given (``bench.backlog_before``): the figures the table and JSON show."""
    from bench.__main__ import machine

    generated = make_batches(batches, seed)
    result: dict[str, Any] = {
        "batches": batches, "seed": seed, "machine": machine(), "mix": mix(generated),
        "baseline": BEFORE if before else paths[0], "paths": {}, "before": None,
    }  # fmt: skip
    if before:
        print(f"==> {BEFORE} ({before}): {batches} batches", file=sys.stderr, flush=True)
        figures, result["before"] = measure_before(
            before, [batch.document() for batch in generated], database_url=database_url,
            redis_db=before_redis_db, timeout_s=timeout_s, inferences=inferences,
        )  # fmt: skip
        result["paths"][BEFORE] = asdict(figures)
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
    parser.add_argument(
        "--before", default=DEFAULT_REV, metavar="REV",
        help=f"also run commit REV's own server and worker from a git worktree, as the first "
        f"row ({BEFORE}; default {DEFAULT_REV}: main before the scheduler); none: skip it",
    )  # fmt: skip
    parser.add_argument("--before-redis-db", type=int, default=DEFAULT_BEFORE_REDIS_DB)
    parser.add_argument("--timeout", type=float, default=1200, help="seconds to wait, per path")
    parser.add_argument("--checkpoints", type=Path, help="bootstrap checkpoint folder to reuse")
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.batches < 1 or args.inferences < 0:
        parser.error("--batches must be at least 1, --inferences at least 0")
    if args.checkpoints:
        os.environ["ZOO_CHECKPOINT_DIR"] = str(args.checkpoints.resolve())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as on Ctrl-C
    result = run(
        batches=args.batches, seed=args.seed, paths=list(dict.fromkeys(args.paths or PATHS)),
        database_url=args.database_url, redis_db=args.redis_db, timeout_s=args.timeout,
        inferences=args.inferences, before=None if args.before == "none" else args.before,
        before_redis_db=args.before_redis_db,
    )  # fmt: skip
    finish(markdown(result), result, args.json)
    complete = all(r["done"] == r["submitted"] for r in result["paths"].values())
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
