"""Every benchmark in one run, one table of ratios measured side by side.

    scripts/bench            # installs what it needs, then: python -m bench
    .venv/bin/python -m bench [--quick] [--only swaps,latency] [--out var/bench]

Each benchmark runs in its own process (each sets up its own database) and writes its
figures as JSON; this command gathers them into ``<out>/results.md`` and
``<out>/results.json`` with the machine and the versions they were measured on, and
prints the Markdown. Every figure is a ratio of two things measured in the same run.
``--quick`` shrinks the expensive ones (1 M latency samples instead of 10 M, shorter
load runs, a backlog of 4 batches instead of 50) to check the command itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# name: (module, arguments, quick arguments)
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "swaps": ("bench.swaps", [], []),
    "overhead": ("bench.manager_overhead", [], ["--rounds", "3", "--calls", "5"]),
    "load": ("bench.load_throughput", [], ["--rounds", "2"]),
    "eviction": ("bench.eviction_cost", [], ["--rounds", "3"]),
    "api": ("bench.api_throughput", [], ["--seconds", "2", "--rounds", "2"]),
    "waits": ("bench.web_waits", [], ["--seconds", "2", "--waiting", "20"]),
    "latency": ("bench.latency_history", [], ["--samples", "1000000", "--rounds", "5"]),
    "backlog": ("bench.backlog", [], ["--batches", "4"]),
}

Row = tuple[str, str, str, str, str]  # figure, ours, compared with, ratio, goal


def _swaps(r: dict[str, Any]) -> list[Row]:
    p = r["policies"]
    per = "loads per 1,000 batches"
    return [
        (
            "swaps: lru vs offline optimum",
            f"{p['lru']['loads_per_1000_batches']} {per}",
            f"{p['optimum']['loads_per_1000_batches']} (exact optimum)",
            f"{p['lru']['ratio_to_optimum']}x",
            "≤ 1.2x",
        ),
        (
            "swaps: unload after every batch vs optimum",
            f"{p['after_batch']['loads_per_1000_batches']} {per}",
            f"{p['optimum']['loads_per_1000_batches']}",
            f"{p['after_batch']['ratio_to_optimum']}x",
            "",
        ),
    ]


def _overhead(r: dict[str, Any]) -> list[Row]:
    ms = r["median_ms"]
    rows = [
        (
            f"manager overhead ({r['model']}): zoo vs direct",
            f"{ms['zoo']} ms/call",
            f"{ms['direct']} ms/call",
            f"{r['ratio_zoo_to_direct']}x",
            "≤ 1.05x",
        ),
    ]
    if r.get("ratio_zoo_to_library"):
        rows.append(
            (
                "manager overhead: zoo vs bare library call",
                f"{ms['zoo']} ms/call",
                f"{ms['library']} ms/call",
                f"{r['ratio_zoo_to_library']}x",
                "",
            )
        )
    return rows


def _load(r: dict[str, Any]) -> list[Row]:
    s, rate = r["seconds"], r["mb_per_s"]
    rows: list[Row] = [
        (
            f"load {r['checkpoint_mb']} MB checkpoint until ready to serve (weights resident) "
            "vs copying its bytes from the page cache",
            f"{s['ready']} s ({rate['ready']} MB/s)",
            f"{s['copy']} s ({rate['copy']} MB/s)",
            f"{r['ratio_copy_to_ready']}x copy/ready",
            f"≥ {r['goal']['ratio_copy_to_ready']}x",
        ),
        (
            "unload of that checkpoint (timed apart from the load)",
            f"{s['unload']} s",
            "",
            "",
            "",
        ),
    ]
    if r["cold"]:
        rows.append(
            (
                "load until ready from disk vs reading the files from disk (dropped from cache)",
                f"{s['cold_ready']} s ({rate['cold_ready']} MB/s)",
                f"{s['cold_read']} s ({rate['cold_read']} MB/s)",
                f"{round(s['cold_read'] / s['cold_ready'], 3)}x read/ready",
                "",
            )
        )
    return rows


def _eviction(r: dict[str, Any]) -> list[Row]:
    ms = r["median_ms"]
    return [
        (
            f"eviction of {r['model']} ({r['tracked_objects']:,} objects tracked): "
            "release vs two full collections (previous main)",
            f"{ms['release']} ms",
            f"{ms['collect']} ms",
            f"{r['ratio_release_to_collect']}x",
            "≤ 5 ms",
        ),
    ]


def _api(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for models, goal in ((18, "≥ 0.7x"), (500, "≥ 0.5x")):
        tp, statements = r[f"throughput_{models}"], r[f"statements_{models}"]
        base = tp["requests_per_second"]["baseline"]
        for name, rps in tp["requests_per_second"].items():
            if name == "baseline":
                continue
            rows.append(
                (
                    f"API {name}, {models} models: requests/s vs minimal DRF endpoint "
                    f"({statements[name]} statements/request at the database)",
                    f"{rps} req/s",
                    f"{base} req/s",
                    f"{tp['ratio_to_baseline'][name]}x",
                    goal,
                )
            )
    return rows


def _waits(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for server, run in r["servers"].items():
        for name, ratio in run["ratio"].items():
            idle, loaded = run["idle"][name], run["loaded"][name]
            rows.append(
                (
                    f"status p99 with {r['waiting']} inferences waiting, {server}: {name}",
                    f"{loaded['p99_ms']} ms ({loaded['answered']} answered, "
                    f"{loaded['failed']} failed)",
                    f"{idle['p99_ms']} ms idle",
                    "-" if ratio is None else f"{ratio}x",
                    "≤ 3x, none failed" if server == "threads" else "",
                )
            )
    return rows


def _latency(r: dict[str, Any]) -> list[Row]:
    history, rec = r["history"], r["recording"]
    rows: list[Row] = [
        (
            f"latency history, 24 h at {h['bucket_seconds']} s over {r['fill']['samples']:,} "
            f"samples: ours vs previous ({h['previous_path']})",
            f"{h['ours_ms']} ms",
            f"{h['previous_ms']} ms",
            f"{h['ratio_ours_to_previous']}x",
            "< 100 ms",
        )
        for h in history
    ]
    worst = max(max(h["max_rel_error_p50"], h["max_rel_error_p95"]) for h in history)
    mismatches = sum(h["count_or_avg_mismatches"] for h in history)
    rows += [
        (
            "latency percentiles: max error vs exact (percentile_disc), all bucket sizes",
            f"{worst:.3%} ({mismatches} count/avg mismatches)",
            "exact",
            "",
            "≤ 0.5% (+ rounding to 0.001 ms)",
        ),
        (
            "recording overhead: manager call with vs without recorder (no-op model)",
            f"{rec['recorded_us_per_inference']} µs",
            f"{rec['plain_us_per_inference']} µs",
            f"{rec['ratio_recorded_to_plain']}x",
            "",
        ),
    ]
    return rows


def _backlog(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    runs, base = r["paths"], r["baseline"]

    def figures(run: dict[str, Any]) -> str:
        w = run["wait_s"]
        return (
            f"{run['batches_per_minute']} batches/min, {run['loads']} loads, "
            f"wait p50/p95/max {w['p50']}/{w['p95']}/{w['max']} s"
        )

    for name, run in runs.items():
        ratio = r["ratios"].get(base, {}).get(name, {}).get("batches_per_minute")
        rows.append(
            (
                f"backlog of {run['submitted']} batches, one worker: {name} ({run['done']} done)",
                figures(run),
                "" if name == base else f"{base}: {figures(runs[base])}",
                "" if ratio is None else f"{ratio}x batches/min",
                "",
            )
        )
    return rows


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "swaps": _swaps,
    "overhead": _overhead,
    "load": _load,
    "eviction": _eviction,
    "api": _api,
    "waits": _waits,
    "latency": _latency,
    "backlog": _backlog,
}


def machine() -> dict[str, Any]:
    """Where and with what the figures were measured."""
    from importlib.metadata import PackageNotFoundError, version

    def cpu() -> str:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or "unknown"

    def memory_gb() -> float | None:
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
        except OSError:
            pass
        return None

    packages: dict[str, str | None] = {}
    for name in (
        "django",
        "djangorestframework",
        "torch",
        "transformers",
        "ultralytics",
        "celery",
        "psycopg",
        "gunicorn",
    ):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    postgres = (
        subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
        if shutil.which("psql")
        else None
    )
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "cpu": cpu(),
        "cores": os.cpu_count(),
        "memory_gb": memory_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "packages": packages,
    }


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Benchmarks of commit {m['commit']} on {m['when']}: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gb']} GB; Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
        + (f"; {m['postgresql']}" if m["postgresql"] else "")
        + ("; quick mode" if results["quick"] else ""),
        "",
        "| figure | ours | compared with | ratio | goal |",
        "|---|---|---|---:|---|",
    ]
    for name, figures in results["benchmarks"].items():
        if "error" in figures:
            lines.append(f"| {name} | failed: {figures['error']} | | | |")
            continue
        lines += [f"| {' | '.join(row)} |" for row in ROWS[name](figures)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, to check the command")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHES)}")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(BENCHES)
    unknown = sorted(set(chosen) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "benchmarks": {}}
    failed = False
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as folder:
        for name in chosen:
            module, arguments, quick = BENCHES[name]
            output = Path(folder) / f"{name}.json"
            command = [
                sys.executable,
                "-m",
                module,
                *(quick if args.quick else arguments),
                "--json",
                str(output),
            ]
            print(f"==> {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
            started = time.perf_counter()
            # Its table goes to stderr after it ends (stdout is for the summary table).
            done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            print(done.stdout, file=sys.stderr, flush=True)
            seconds = round(time.perf_counter() - started, 1)
            if done.returncode != 0 and not output.exists():
                failed = True
                results["benchmarks"][name] = {"error": f"exit code {done.returncode}"}
                continue
            results["benchmarks"][name] = json.loads(output.read_text()) | {"seconds": seconds}
            failed |= done.returncode != 0  # ran, but missed its goal
    table = markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(table + "\n")
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table)
    print(f"\n(written to {args.out}/results.md and results.json)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
