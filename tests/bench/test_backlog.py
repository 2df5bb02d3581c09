"""The backlog benchmark (``python -m bench.backlog``): a small backlog run for real on
both paths (gunicorn, one zoo_worker, PostgreSQL, Redis) finishes every batch with
figures that add up, and the task inferences sent meanwhile are answered 200 by a
resident model; the generated batches follow their seed; a later path gets ratios to
the first, checked against the issue's goals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings

from bench import backlog, backlog_report
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
         "--inferences", "3", "--database-url", url, "--redis-db", str(db), "--before", "none",
         "--checkpoints", folder, "--timeout", "600", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=840,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-4000:]
    figures = json.loads(out.read_text())
    assert list(figures["paths"]) == ["per-message", "model-major"]
    for run in figures["paths"].values():
        assert run["submitted"] == run["done"] == 4
        assert run["failed"] == run["unfinished"] == run["result_errors"] == 0
        assert run["messages_left"] == 0  # messages only wake the scheduler
        assert run["loads"] == len(run["load_sequence"]) >= run["models_used"] > 0
        assert run["evictions"] <= run["loads"]
        wait = run["wait_s"]
        assert 0 < wait["p50"] <= wait["p95"] <= wait["max"] <= run["span_seconds"]
        assert run["batches_per_minute"] > 0
        assert 0 < run["predict_seconds"] <= run["item_seconds"] <= run["span_seconds"]
        infer = run["infer"]
        assert infer["non_200"] == 0 and infer["statuses"] in ({}, {"200": infer["sent"]})
        assert infer["during_backlog"] <= infer["sent"] <= 3 and infer["cold"] == 0
    assert figures["seed"] == 3 and figures["machine"]["cores"]
    assert figures["setup"]["zoo_pool_mb"] == 1650
    assert figures["setup"]["task_model"]["name"] == "yolov8n"
    assert set(figures["ratios"]) == set(figures["goals"]) == {"per-message"}
    assert set(figures["ratios"]["per-message"]) == {"model-major"}
    assert set(figures["goals"]["per-message"]) == {"loads", "batches_per_minute", "max"}
    assert figures["before"] is None
    assert "| per-message | 4/4 |" in done.stdout and "| model-major | 4/4 |" in done.stdout
    assert "generated from seed 3 (not replayed)" in done.stdout
    assert "model-major against the goals, to per-message: loads" in done.stdout


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

    assert backlog_report.nearest_rank(waits, 50) == 10.0
    assert backlog_report.nearest_rank(waits, 95) == 19.0
    assert backlog_report.nearest_rank([3.0], 95) == 3.0
    assert backlog_report.percentiles(waits, (50, 95), digits=1, maximum=True) == {
        "p50": 10.0, "p95": 19.0, "max": 20.0
    }  # fmt: skip
    assert backlog_report.percentiles([], (50,), digits=1) == {}


MODEL = {"task": "object_detection", "name": "yolov8n", "vram_mb": 512, "every_s": 1.5}


def figures(path: str, loads: int, per_minute: float, p95: float) -> dict[str, Any]:
    return {
        "path": path, "submitted": 10, "done": 10, "failed": 0, "unfinished": 0,
        "loads": loads, "evictions": loads - 5, "models_used": 5, "load_seconds": 1.0,
        "predict_seconds": 30.0, "item_seconds": 40.0,
        "result_errors": 0, "messages_left": 0, "submit_seconds": 1.0, "span_seconds": 60.0,
        "batches_per_minute": per_minute, "wait_s": {"p50": 20.0, "p95": p95, "max": 60.0},
        "load_sequence": ["pet-classifier"] * loads, "infer": None,
    }  # fmt: skip


def answer(status: int, wall: float, predict: float, at: float) -> tuple:
    body = {"inference_time": predict, "cold": False} if status == 200 else {"error": "no"}
    return status, wall, body, at


def test_the_inferences_figures_count_the_answers_during_the_backlog_and_every_failure():
    answers = [answer(200, 0.1 * n, 0.05 * n, at=n) for n in range(1, 21)]
    answers += [answer(200, 9.0, 0.1, at=30.0), answer(503, 30.0, 0.0, at=31.0)]

    f = backlog_report.infer_figures(answers, 25.0, MODEL)  # the backlog ended at 25 s

    assert f["sent"] == 22 and f["during_backlog"] == 20 and f["cold"] == 0
    assert f["statuses"] == {"200": 21, "503": 1} and f["non_200"] == 1
    assert f["response_s"] == {"p50": 1.0, "p95": 1.9, "max": 2.0}
    assert f["predict_s"]["p95"] == 0.95 and f["ratio_p95"] == 2.0
    assert f["met"] is False  # the ratio is within the goal, but one answer was a 503
    only_200 = backlog_report.infer_figures(answers[:20], 25.0, MODEL)
    assert only_200["met"] is True and only_200["goal"] == backlog_report.INFER_GOAL
    assert backlog_report.infer_figures([], 25.0, MODEL)["ratio_p95"] is None


def test_a_second_path_is_printed_with_its_ratios_to_the_first_and_the_goals():
    assert list(backlog.PATHS) == ["per-message", "model-major"]
    assert backlog.PATHS["per-message"] == {"ZOO_WORK_ORDER": "arrival"}
    assert backlog.PATHS["model-major"] == {"ZOO_WORK_ORDER": "model"}
    paths = {"per-message": figures("per-message", 40, 10.0, 50.0)}
    paths["model-major"] = figures("model-major", 8, 45.0, 25.0)
    answers = [answer(200, 0.2, 0.15, at=1.0), answer(200, 0.3, 0.2, at=2.0)]
    paths["model-major"]["infer"] = backlog_report.infer_figures(answers, 5.0, MODEL)
    ratios = backlog.ratios(paths)
    result = {
        "batches": 10, "seed": 1, "baseline": "per-message", "paths": paths,
        "mix": backlog.mix(backlog.make_batches(10, 1)),
        "machine": {"cpu": "cpu", "cores": 2, "memory_gb": 4.0, "commit": "abc"},
        "setup": {"device": "sim:0", "zoo_pool_mb": 1650, "device_budget_mb": 19660,
                  "eviction_policy": "lru", "redis_db": 15, "max_wait_s": 300.0,
                  "task_model": MODEL},
        "ratios": ratios, "goals": backlog.goals(ratios),
    }  # fmt: skip

    assert result["ratios"]["per-message"]["model-major"]["loads"] == 0.2
    assert result["ratios"]["per-message"]["model-major"]["batches_per_minute"] == 4.5
    verdicts = result["goals"]["per-message"]
    assert verdicts["loads"] == {"ratio": 0.2, "goal": "≤ 0.2x", "met": True}
    assert verdicts["batches_per_minute"]["met"] is True
    assert verdicts["max"] == {"ratio": 1.0, "goal": "≤ 0.5x", "met": False}
    table = backlog.markdown(result)
    assert "| ratio to per-message | loads |" in table
    assert "| model-major | 0.2x | 0.086x | 4.5x | 1.0x | 0.5x | 1.0x |" in table
    assert "| goal for model-major | ≤ 0.2x |  | ≥ 4.0x |  |  | ≤ 0.5x |" in table
    assert (
        "model-major against the goals, to per-message: loads 0.2x ≤ 0.2x: met; batches/min "
        "4.5x ≥ 4.0x: met; wait max 1.0x ≤ 0.5x: MISSED." in table
    )
    assert "main-before" not in table
    assert "| model-major | 2 | 2 | 0 | 0 | 0.2 s | 0.3 s | 0.15 s | 0.2 s | 1.5x |" in table
    rows = ROWS["backlog"](result)
    assert [row[3] for row in rows] == ["", "4.5x batches/min"]
