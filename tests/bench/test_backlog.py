"""The backlog benchmark (``python -m bench.backlog``): a small backlog run for real
(gunicorn, one zoo_worker, PostgreSQL, Redis) finishes every batch with figures that add
up; the generated batches follow their seed; a second path gets ratios to the first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings

from bench import backlog
from bench.__main__ import ROWS
from tests.servers import ROOT


def bench_database_url() -> str | None:
    """A database beside the test database, on the same PostgreSQL server; None when the
    tests run on SQLite."""
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        return None
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    where = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{auth}@{where}/{db['NAME']}_backlog_bench"


def redis_db() -> int | None:
    """The Redis database of the tests' own broker: the tests own it."""
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        return None
    tail = broker.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


@pytest.mark.subprocess
@pytest.mark.timeout(900)
def test_a_small_backlog_finishes_every_batch_with_figures_that_add_up(checkpoints, tmp_path):
    url, db = bench_database_url(), redis_db()
    if url is None or db is None:
        pytest.skip("needs the tests on PostgreSQL and a Redis broker (DATABASE_URL, "
                    "CELERY_BROKER_URL)")  # fmt: skip
    folder = os.path.commonpath([path for path in checkpoints.values() if path])
    out = tmp_path / "backlog.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.backlog", "--batches", "4", "--seed", "3",
         "--database-url", url, "--redis-db", str(db), "--checkpoints", folder,
         "--timeout", "600", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=840,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-4000:]
    figures = json.loads(out.read_text())
    run = figures["paths"]["per-message"]
    assert run["submitted"] == run["done"] == 4
    assert run["failed"] == run["unfinished"] == run["result_errors"] == 0
    assert run["messages_left"] >= 0
    assert run["loads"] >= run["models_used"] > 0
    assert run["evictions"] <= run["loads"]
    wait = run["wait_s"]
    assert 0 < wait["p50"] <= wait["p95"] <= wait["max"] <= run["span_seconds"]
    assert run["batches_per_minute"] > 0
    assert figures["seed"] == 3 and figures["machine"]["cores"]
    assert figures["setup"]["zoo_pool_mb"] == 1650 and figures["ratios"] == {}
    assert "| per-message | 4/4 |" in done.stdout
    assert "generated from seed 3 (not replayed)" in done.stdout


def test_the_same_seed_gives_the_same_batches_of_the_mix():
    first, again = backlog.make_batches(60, 5), backlog.make_batches(60, 5)

    assert first == again and first != backlog.make_batches(60, 6)
    mix = backlog.mix(first)
    assert set(mix["labels"]) <= {"person", "car", "truck", "dog", "cat"}
    assert mix["batches_without_detections"] > 0 and mix["busy_batches"] > 0
    assert all(mix["batches_with"][kind] > 0 for kind in ("person", "vehicle", "animal"))
    for batch in first:
        assert 1 <= len(batch.frames) <= backlog.MAX_FRAMES
        for detection in (d for frame in batch.frames for d in frame):
            x1, y1, x2, y2 = detection["bbox"]
            assert 0 <= x1 < x2 <= backlog.WIDTH and 0 <= y1 < y2 <= backlog.HEIGHT


def test_wait_percentiles_are_nearest_rank():
    waits = [float(n) for n in range(1, 21)]  # 1..20

    assert backlog.nearest_rank(waits, 50) == 10.0
    assert backlog.nearest_rank(waits, 95) == 19.0
    assert backlog.nearest_rank([3.0], 95) == 3.0


def figures(path: str, loads: int, per_minute: float, p95: float) -> dict[str, Any]:
    return {
        "path": path, "submitted": 10, "done": 10, "failed": 0, "unfinished": 0,
        "loads": loads, "evictions": loads - 5, "models_used": 5, "load_seconds": 1.0,
        "result_errors": 0, "messages_left": 0, "submit_seconds": 1.0, "span_seconds": 60.0,
        "batches_per_minute": per_minute, "wait_s": {"p50": 20.0, "p95": p95, "max": 60.0},
    }  # fmt: skip


def test_a_second_path_is_printed_with_its_ratios_to_the_first(monkeypatch):
    monkeypatch.setitem(backlog.PATHS, "by-model", {})
    paths = {"per-message": figures("per-message", 40, 10.0, 50.0)}
    paths["by-model"] = figures("by-model", 10, 20.0, 25.0)
    result = {
        "batches": 10, "seed": 1, "baseline": "per-message", "paths": paths,
        "mix": backlog.mix(backlog.make_batches(10, 1)),
        "machine": {"cpu": "cpu", "cores": 2, "memory_gb": 4.0, "commit": "abc"},
        "setup": {"device": "sim:0", "zoo_pool_mb": 1650, "device_budget_mb": 19660,
                  "eviction_policy": "lru", "redis_db": 15},
        "ratios": backlog.ratios(paths),
    }  # fmt: skip

    assert result["ratios"]["by-model"]["loads"] == 0.25
    assert result["ratios"]["by-model"]["batches_per_minute"] == 2.0
    table = backlog.markdown(result)
    assert "| ratio to per-message | loads |" in table
    assert "| by-model | 0.25x | 0.143x | 2.0x | 1.0x | 0.5x | 1.0x |" in table
    rows = ROWS["backlog"](result)
    assert [row[3] for row in rows] == ["", "2.0x batches/min"]
