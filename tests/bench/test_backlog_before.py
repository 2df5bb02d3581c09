"""The backlog benchmark's main-before row (``bench.backlog_before``), in pieces: the
older commit's worktree is made at that commit and removed whatever happens, Ctrl-C
included; its processes import the tree's own code; its scratch database is dropped
even when the run fails; a path's figures add up from its rows; and the report sets
the three rows side by side with the scheduler's ratios to both older ones.

The row run for real costs over a minute of CPU even at two batches (building the older
tree's checkpoints, migrating, starting its server and worker), so it is not run here:
``python -m bench.backlog --batches 2`` runs it."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench import backlog, backlog_before, backlog_report
from bench.__main__ import ROWS
from bench.backlog_common import path_run
from bench.support import scratch_postgres
from tests.bench.test_backlog import MODEL, bench_database_url
from tests.servers import ROOT


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def worktrees() -> list[str]:
    listed = git("worktree", "list", "--porcelain").splitlines()
    return [line.removeprefix("worktree ") for line in listed if line.startswith("worktree ")]


needs_git = pytest.mark.skipif(
    subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode != 0,
    reason="not a git checkout",
)


@needs_git
def test_the_worktree_holds_the_commit_and_is_removed_even_on_ctrl_c():
    head = git("rev-parse", "HEAD")

    with pytest.raises(KeyboardInterrupt), backlog_before.worktree("HEAD") as (tree, commit):
        assert commit == head
        assert git("rev-parse", "HEAD", cwd=tree) == head
        assert (tree / "manage.py").is_file() and (tree / "bench" / "backlog.py").is_file()
        assert str(tree) in worktrees()
        raise KeyboardInterrupt  # what Ctrl-C raises in the bench's main thread

    assert not tree.exists() and not tree.parent.exists()
    assert str(tree) not in worktrees()


@needs_git
def test_a_revision_that_names_no_commit_is_refused_before_anything_is_made():
    before = worktrees()

    with (
        pytest.raises(ValueError, match=r"names no commit .*--before none skips"),
        backlog_before.worktree("no-such-revision-anywhere"),
    ):
        pytest.fail("no worktree should be made")

    assert worktrees() == before


@needs_git
@pytest.mark.subprocess
def test_the_older_trees_processes_import_its_own_code_not_this_checkouts():
    with backlog_before.worktree("HEAD") as (tree, commit):
        before = backlog_before.Before(
            "HEAD", commit, tree, tree.parent / "data", "sqlite:///unused.sqlite3",
            "redis://127.0.0.1:6379/0", "not-a-secret",
        )  # fmt: skip
        backlog_before.check_imports(before)  # raises when it imports this checkout's
        found = backlog_before.manage(before, "shell", "-c", "import bench; print(bench.__file__)")

    assert Path(found.strip().splitlines()[-1]).is_relative_to(tree)


def test_the_scratch_database_is_dropped_even_when_the_run_fails():
    url = bench_database_url()
    if url is None:
        pytest.skip("needs the tests on PostgreSQL")
    url += "_scratch"
    base, _, name = url.rpartition("/")

    def exists() -> bool:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return found.fetchone() is not None

    with pytest.raises(RuntimeError, match="the run failed"), scratch_postgres(url):
        assert exists()
        raise RuntimeError("the run failed")

    assert not exists()


T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_paths_figures_add_up_from_its_rows():
    run = path_run(
        "main-before",
        batches=[("done", at(0), at(30)), ("done", at(1), at(61)), ("failed", at(2), at(40)),
                 ("queued", at(3), None)],
        loaded=[("segformer-b2-clothes", 1.5), ("vitpose-small", 2.0),
                ("segformer-b2-clothes", 1.0)],
        evictions=2,
        results=[("segformer-b2-clothes", 3.0, ""), ("vitpose-small", 1.0, "out of memory"),
                 ("segformer-b2-clothes", 2.0, "")],
        spans=[(at(0), at(30)), (at(20), at(40)), (at(50), at(61)), (at(3), None)],
        left=3,
        submit_seconds=0.04,
    )  # fmt: skip

    assert (run.submitted, run.done, run.failed, run.unfinished) == (4, 2, 1, 1)
    assert run.loads == 3 and run.evictions == 2 and run.models_used == 2
    assert run.load_seconds == 4.5 and run.predict_seconds == 6.0 and run.result_errors == 1
    assert run.item_seconds == 51.0  # 0–40 and 50–61: the overlap once, the open span not
    assert run.span_seconds == 61.0 and run.batches_per_minute == round(60 * 2 / 61, 2)
    assert run.wait_s == {"p50": 30.0, "p95": 60.0, "max": 60.0}
    assert run.load_sequence == ["segformer-b2-clothes", "vitpose-small", "segformer-b2-clothes"]
    assert run.messages_left == 3 and run.submit_seconds == 0.0


def figures(path: str, loads: int, per_minute: float, wait_max: float) -> dict[str, Any]:
    return {
        "path": path, "submitted": 50, "done": 50, "failed": 0, "unfinished": 0,
        "loads": loads, "evictions": loads - 10, "models_used": 10, "load_seconds": 4.0,
        "predict_seconds": 100.0, "item_seconds": 110.0, "result_errors": 0,
        "messages_left": 0, "submit_seconds": 2.0, "span_seconds": wait_max,
        "batches_per_minute": per_minute,
        "wait_s": {"p50": wait_max / 2, "p95": wait_max, "max": wait_max},
        "load_sequence": [], "infer": None,
    }  # fmt: skip


def test_three_rows_give_the_scheduler_its_ratios_to_main_before_and_to_per_message_order():
    paths = {
        "main-before": figures("main-before", 200, 6.0, 500.0),
        "per-message": figures("per-message", 175, 18.0, 160.0),
        "model-major": figures("model-major", 10, 27.0, 110.0),
    }
    ratios = backlog.ratios(paths)
    result = {
        "batches": 50, "seed": 7, "baseline": "main-before", "paths": paths,
        "mix": backlog.mix(backlog.make_batches(50, 7)),
        "machine": {"cpu": "cpu", "cores": 2, "memory_gb": 4.0, "commit": "abc"},
        "setup": {"device": "sim:0", "zoo_pool_mb": 1650, "device_budget_mb": 19660,
                  "eviction_policy": "lru", "redis_db": 15, "max_wait_s": 300.0,
                  "task_model": MODEL},
        "before": {"rev": "519a77a", "commit": "519a77a0d6ff", "redis_db": 14,
                   "zoo_pool_mb": 1650, "device_budget_mb": 19660, "eviction_policy": "lru"},
        "ratios": ratios, "goals": backlog.goals(ratios),
    }  # fmt: skip

    assert set(ratios) == {"main-before", "per-message"}
    assert set(ratios["main-before"]) == {"per-message", "model-major"}
    assert ratios["main-before"]["model-major"]["loads"] == 0.05
    assert ratios["main-before"]["model-major"]["batches_per_minute"] == 4.5
    assert ratios["main-before"]["model-major"]["max"] == 0.22
    assert ratios["per-message"]["model-major"]["batches_per_minute"] == 1.5
    assert result["goals"]["main-before"]["batches_per_minute"]["met"] is True
    assert result["goals"]["per-message"]["batches_per_minute"]["met"] is False
    table = backlog_report.markdown(result)
    assert "main-before = commit 519a77a, the worker and server of main before" in table
    assert "Redis db 14" in table
    for row in ("| main-before | 50/50 | 200 |", "| per-message | 50/50 | 175 |"):
        assert row in table
    assert "| ratio to main-before | loads |" in table and "| ratio to per-message |" in table
    assert "| per-message | 0.875x | 0.868x | 3.0x | 0.32x | 0.32x | 0.32x |" in table
    assert "| model-major | 0.05x | 0.0x | 4.5x | 0.22x | 0.22x | 0.22x |" in table
    assert (
        "model-major against the goals, to main-before: loads 0.05x ≤ 0.2x: met; batches/min "
        "4.5x ≥ 4.0x: met; wait max 0.22x ≤ 0.5x: met." in table
    )
    assert "model-major against the goals, to per-message: loads 0.057x" in table
    assert "per-message against the goals" not in table  # the goals are the scheduler's
    rows = ROWS["backlog"](result)
    assert [row[3] for row in rows] == ["", "3.0x batches/min", "4.5x batches/min"]
    assert rows[2][2].startswith("main-before: 6.0 batches/min, 200 loads")
