"""Requests per second of the status endpoints under a loopback load generator, as a
ratio to a minimal DRF endpoint served by the same server; SQL queries per request at
18 and at 500 registry models.

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
database, before and after growing the registry to 500 models.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.support import finish, fresh_postgres

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/model_zoo_bench_api"
ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = {
    "baseline": "/api/bench/baseline",
    "zoo status": "/api/system/model-zoo/status",
    "models config": "/api/models/config",
    "models status": "/api/models/status",
}


def _prepare() -> None:
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


def query_counts(models: int) -> dict[str, int]:
    """Queries per request of each endpoint with ``models`` zoo models registered."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from models_registry.models import ModelEntry

    have = ModelEntry.objects.filter(in_zoo=True).count()
    ModelEntry.objects.bulk_create(
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
    client = Client(HTTP_HOST="127.0.0.1")
    counts = {}
    for name, url in ENDPOINTS.items():
        client.get(url)  # warm: content types, settings row
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200, url
        counts[name] = len(captured)
    return counts


def _wrk(url: str, seconds: int, connections: int) -> float:
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed responses\n{output}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{output}")
    return float(found.group(1))


def throughput(database_url: str, seconds: int, rounds: int, workers: int) -> dict[str, Any]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="zoo_project.settings.base", DATABASE_URL=database_url,
        ALLOWED_HOSTS="127.0.0.1", ZOO_BENCH_BASELINE="1", LOG_LEVEL="WARNING",
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env,
        check=True,
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
        for url in ENDPOINTS.values():  # warm every process's connections and caches
            _wrk(base + url, 2, 8)
        rps: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
        names = list(ENDPOINTS)
        for round_ in range(rounds):
            for name in names if round_ % 2 == 0 else reversed(names):
                rps[name].append(_wrk(base + ENDPOINTS[name], seconds, 16))
    finally:
        server.terminate()
        server.wait(timeout=30)
    medians = {name: statistics.median(values) for name, values in rps.items()}
    return {
        "workers": workers,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "requests_per_second": {name: round(value, 1) for name, value in medians.items()},
        "ratio_to_baseline": {
            name: round(value / medians["baseline"], 3) for name, value in medians.items()
        },
    }


def markdown(result: dict[str, Any]) -> str:
    tp, q18, q500 = result["throughput"], result["queries_18"], result["queries_500"]
    lines = [
        f"API throughput: gunicorn with {tp['workers']} processes on PostgreSQL, wrk on "
        f"loopback (16 connections), median of {tp['rounds']} runs of {tp['seconds_per_run']} s",
        "",
        "| endpoint | requests/s | ratio to baseline | queries at 18 models | at 500 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ENDPOINTS:
        lines.append(
            f"| {name} | {tp['requests_per_second'][name]} | {tp['ratio_to_baseline'][name]} "
            f"| {q18[name]} | {q500[name]} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_API_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is missing: run scripts/bench, which installs it", file=sys.stderr)
        return 2
    os.environ["ZOO_BENCH_BASELINE"] = "1"
    with fresh_postgres(args.database_url):
        _prepare()
        result = {
            "throughput": throughput(args.database_url, args.seconds, args.rounds, args.workers)
        }
        result["queries_18"] = query_counts(18)
        result["queries_500"] = query_counts(500)
    finish(markdown(result), result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
