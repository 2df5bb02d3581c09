"""Requests per second of the status endpoints under a loopback load generator, as a
ratio to a minimal DRF endpoint served by the same server, at 18 and at 500 registry
models; SQL statements per request counted by PostgreSQL itself.

Run from the repository root (needs the local PostgreSQL and ``wrk``, which
``scripts/bench`` installs from Debian's packages)::

    .venv/bin/python -m bench.api_throughput [--seconds 8] [--rounds 2] [--json out.json]

It creates its own PostgreSQL database (``model_zoo_bench_api``; ``--database-url``),
migrates it (the catalog's 18 zoo models and the three tasks), registers a live
simulated device holding a few loaded models, and starts gunicorn as ``scripts/run``
does (production settings, ``WEB_CONCURRENCY`` processes, default 2) with
``ZOO_BENCH_BASELINE=1``, which adds ``/api/bench/baseline``: a DRF view that returns a
constant through the same middleware, authentication and renderer. ``wrk`` then loads
each URL in turn (rounds alternate the order); the figure is each endpoint's requests
per second over the baseline's. Query counts come from Django's test client on the same
database's own statistics (``pg_stat_database.xact_commit``: the server runs in
autocommit, so each statement is one transaction, the connection health check's
``SELECT 1`` included), as the difference of two runs of different lengths, each on a
server started for it, so that connection set-up cancels out. Goals (issue 13): every
status endpoint at >= 0.7x the baseline at 18 models, >= 0.5x at 500.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.support import finish, fresh_postgres
from bench.wrk import wrk

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/model_zoo_bench_api"
ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 16  # wrk's
ENDPOINTS = {
    "baseline": "/api/bench/baseline",
    "zoo models": "/api/system/models",
    "zoo status": "/api/system/model-zoo/status",
    "models config": "/api/models/config",
    "models status": "/api/models/status",
}


def live_device_with_models() -> None:
    """A live device with three loaded models, so status has something to say."""
    from django.utils import timezone

    from fleet.models import Device, ModelState, ModelStatus
    from models_registry.models import ModelEntry

    device = Device.objects.create(
        host="bench", name="sim:0", kind="sim", total_memory_mb=24576, budget_mb=19660,
        worker="bench", heartbeat_at=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    for name in ("yolo11-face", "violence-detection", "yolov8n"):
        ModelState.objects.create(
            model=ModelEntry.objects.get(name=name), device=device, status=ModelStatus.LOADED,
            measured_mb=100, loaded_at=timezone.now(), load_count=0,
        )  # fmt: skip


def registry_grow(models: int) -> None:
    """Add zoo models (and task options) until ``models`` zoo models are registered."""
    from models_registry.models import ModelEntry, Task, TaskOption

    have = ModelEntry.objects.filter(in_zoo=True).count()
    entries = ModelEntry.objects.bulk_create(
        ModelEntry(
            name=f"bench-model-{index}",
            display_name=f"Bench {index}",
            category="detection",
            loader="ultralytics",
            vram_mb=100,
            in_zoo=True,
            path=f"/models/bench-{index}.pt",
        )
        for index in range(max(0, models - have))
    )
    detection = Task.objects.get(name="object_detection")
    TaskOption.objects.bulk_create(
        TaskOption(task=detection, model=entry, position=1000 + index)
        for index, entry in enumerate(entries)
    )


def _commits(database_url: str) -> int:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as db:
        row = db.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            [name],
        ).fetchone()
    return int(row[0]) if row else 0


def statements_per_request(
    database_url: str, url: str, *, short: int = 20, long: int = 120
) -> float:
    """Statements PostgreSQL ran per request of ``url``: two runs of ``short`` and
    ``long`` sequential requests, each on a fresh one-thread server (whose backends flush
    their statistics when it stops), differenced."""
    counts = []
    for requests in (short, long):
        before = _commits(database_url)
        with served(database_url, workers=1, threads=1) as base:
            for _ in range(requests):
                urllib.request.urlopen(base + url, timeout=10).read()
        time.sleep(1.5)  # the backends' statistics reach the shared counters
        counts.append(_commits(database_url) - before)
    return round((counts[1] - counts[0]) / (long - short), 2)


def _wrk(url: str, seconds: int, connections: int) -> float:
    run = wrk(url, seconds=seconds, connections=connections, threads=2)
    if run.failed:
        raise RuntimeError(f"{url}: {run.failed} failed requests\n{run.report}")
    return run.requests_per_second


@contextlib.contextmanager
def served(
    database_url: str, *, workers: int, threads: int = 32, extra: dict[str, str] | None = None
) -> Iterator[str]:
    """gunicorn as ``scripts/run`` starts it (with the baseline route) on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="zoo_project.settings.base", DATABASE_URL=database_url,
        ALLOWED_HOSTS="127.0.0.1", ZOO_BENCH_BASELINE="1", LOG_LEVEL="WARNING",
        WEB_THREADS=str(threads), **(extra or {}),
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "zoo_project/gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def collect_static() -> None:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "zoo_project.settings.base"}, check=True,
    )  # fmt: skip


def throughput(database_url: str, seconds: int, rounds: int, workers: int) -> dict[str, Any]:
    """Each endpoint's requests/s as a ratio to the baseline measured right before it:
    every run of an endpoint is paired with its own baseline run, so a slow stretch of
    a shared machine weighs on both sides of a ratio; the figure is the median of the
    rounds' ratios (rounds alternate the endpoints' order)."""
    # gunicorn lets whichever process wakes first accept every connection wrk opens at
    # once: a run would measure one process or both by chance (ratios from 0.3 to 1.8
    # were seen). Capping each process at its share spreads them evenly.
    share = f"--worker-connections {max(1, CONNECTIONS // workers)}"
    with served(database_url, workers=workers, extra={"GUNICORN_CMD_ARGS": share}) as base:
        for url in ENDPOINTS.values():  # warm every process's connections and documents
            _wrk(base + url, 2, CONNECTIONS)
        rps: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
        ratios: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
        names = [name for name in ENDPOINTS if name != "baseline"]
        for round_ in range(rounds):
            for name in names if round_ % 2 == 0 else reversed(names):
                baseline = _wrk(base + ENDPOINTS["baseline"], seconds, CONNECTIONS)
                measured = _wrk(base + ENDPOINTS[name], seconds, CONNECTIONS)
                rps["baseline"].append(baseline)
                rps[name].append(measured)
                ratios[name].append(measured / baseline)
    ratios["baseline"] = [1.0]
    return {
        "workers": workers,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "requests_per_second": {
            name: round(statistics.median(values), 1) for name, values in rps.items()
        },
        "ratio_to_baseline": {
            name: round(statistics.median(values), 3) for name, values in ratios.items()
        },
        "ratio_range": {
            name: [round(min(values), 3), round(max(values), 3)] for name, values in ratios.items()
        },
    }


def measure(database_url: str, seconds: int, rounds: int, workers: int) -> dict[str, Any]:
    """Throughput and statements at 18 zoo models, then the same at 500."""
    result: dict[str, Any] = {}
    for models in (18, 500):
        registry_grow(models)
        result[f"throughput_{models}"] = throughput(database_url, seconds, rounds, workers)
        result[f"statements_{models}"] = {
            name: statements_per_request(database_url, url) for name, url in ENDPOINTS.items()
        }
    return result


GOALS = {18: 0.7, 500: 0.5}


def markdown(result: dict[str, Any]) -> str:
    tp = result["throughput_18"]
    lines = [
        f"API throughput: gunicorn with {tp['workers']} processes of 32 threads on PostgreSQL, "
        f"wrk on loopback ({CONNECTIONS} connections, spread evenly); each endpoint's run "
        f"of {tp['seconds_per_run']} s paired with a baseline run just before it, ratio = "
        f"median over {tp['rounds']} rounds (lowest-highest in brackets); statements per "
        "request counted by PostgreSQL",
        "",
        "| endpoint | models | requests/s | ratio to baseline | goal | statements/request |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for models, goal in GOALS.items():
        tp, statements = result[f"throughput_{models}"], result[f"statements_{models}"]
        for name in ENDPOINTS:
            ratio = tp["ratio_to_baseline"][name]
            verdict = (
                ""
                if name == "baseline"
                else (f">= {goal}: " + ("met" if ratio >= goal else "MISSED"))
            )
            low, high = tp["ratio_range"][name]
            spread = "" if name == "baseline" else f" ({low}-{high})"
            lines.append(
                f"| {name} | {models} | {tp['requests_per_second'][name]} | {ratio}{spread} "
                f"| {verdict} | {statements[name]} |"
            )
    return "\n".join(lines)


def missed(result: dict[str, Any]) -> list[str]:
    return [
        f"{name} at {models} models"
        for models, goal in GOALS.items()
        for name, ratio in result[f"throughput_{models}"]["ratio_to_baseline"].items()
        if name != "baseline" and ratio < goal
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_API_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is missing: run scripts/bench, which installs it", file=sys.stderr)
        return 2
    os.environ["ZOO_BENCH_BASELINE"] = "1"
    with fresh_postgres(args.database_url):
        live_device_with_models()
        collect_static()
        result = measure(args.database_url, args.seconds, args.rounds, args.workers)
    finish(markdown(result), result, args.json)
    return 1 if missed(result) else 0


if __name__ == "__main__":
    sys.exit(main())
