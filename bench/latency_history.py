"""Latency history at scale, and what recording costs an inference.

Run from the repository root (needs the local PostgreSQL; it creates and drops its own
database, ``model_zoo_bench`` by default)::

    .venv/bin/python -m bench.latency_history [--samples 10000000] [--json out.json]

1. **Fill**: ``--samples`` inference samples spread evenly over the registry's zoo
   models and over the last 24 hours, log-normal durations (a median of 20-60 ms per
   model), written by SQL straight into the raw table; the roll-ups of every grain are
   built from them by ``latency.services.rollups_rebuild`` (SQL that bins exactly as
   the recorder does; recording 10 million samples through the Python recorder would
   take most of an hour).
2. **History** of one model over 24 hours at 10, 60, 305 and 3600-second buckets
   (``latency.selectors.latency_history``), each against the previous approach on the
   same samples (``bench.latency_previous``: JSON roll-ups merged bin by bin, or the
   raw samples in a Python loop for 305 s), alternated, median of several runs each,
   against the goal of 100 ms. The accuracy check compares every bucket with
   ``percentile_disc`` over the raw rows (the same nearest-rank definition): counts
   and averages must be equal, percentiles within ``sketch.ALPHA``.
3. **Recording**: acquire → predict → release through a real ``ModelManager`` on a
   simulated device with a model that does nothing, with and without the latency
   recorder attached (its hook appends to a buffer) — the worst case, since any real
   model's predict takes far longer; and the background flush's cost per sample,
   measured inside a transaction that is rolled back.

Nothing is left behind beyond the fill: the previous approach's table is temporary and
dropped, the flushed samples are rolled back, and the run checks that the raw,
roll-up and total tables hold what the fill put there (``left_behind``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.support import finish, fresh_postgres

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/model_zoo_bench"
GOAL_MS = 100.0
TARGET_MODEL = "yolo11-license-plate"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fill(samples: int, *, chunk: int = 1_000_000) -> dict[str, Any]:
    """Raw samples over the zoo's models and the last day, then roll-ups and totals."""
    from django.db import connection
    from django.utils import timezone

    from latency import services
    from latency.storage import GRAINS
    from models_registry.models import ModelEntry

    ids = list(ModelEntry.objects.filter(in_zoo=True).order_by("id").values_list("id", flat=True))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        for offset in range(0, samples, chunk):
            size = min(chunk, samples - offset)
            # Box-Muller for a log-normal duration; each model has its own median.
            cursor.execute(
                """
                INSERT INTO latency_latencysample
                    (model_id, kind, recorded_at, duration_ms, cold, device_id, worker)
                SELECT ids[1 + g %% cardinality(ids)], 1,
                       now() - random() * interval '24 hours',
                       exp(ln(20 + 2 * (g %% cardinality(ids)))
                           + 0.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())),
                       false, NULL, 'bench'
                FROM generate_series(%s, %s) AS g, (SELECT %s::bigint[] AS ids) AS m
                """,
                [offset, offset + size - 1, ids],
            )
            _say(f"  filled {offset + size:,} / {samples:,} raw samples")
        raw_s = time.perf_counter() - started
        now = timezone.now()
        for grain in GRAINS:
            services.rollups_rebuild(
                grains=(grain,), since=now - timedelta(days=2), until=now + timedelta(hours=1)
            )
            _say(f"  rolled up the {grain} s grain")
        cursor.execute("ANALYZE")
        cursor.execute("SELECT count(*) FROM latency_latencyrollup")
        (rollups,) = cursor.fetchone()
    return {
        "samples": samples,
        "models": len(ids),
        "rollups": rollups,
        "fill_raw_s": round(raw_s, 1),
        "fill_total_s": round(time.perf_counter() - started, 1),
    }


SIZES = (10, 60, 305, 3600)
WINDOW_MINUTES = 1440

EXACT_SQL = """
SELECT floor(extract(epoch FROM recorded_at) / %(size)s)::bigint * %(size)s AS bucket,
       count(*), avg(duration_ms),
       percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms),
       percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms)
FROM latency_latencysample
WHERE model_id = %(model)s AND kind = 1 AND recorded_at >= to_timestamp(%(first)s)
GROUP BY 1 ORDER BY 1
"""


def history_race(rounds: int, sizes: Sequence[int] = SIZES) -> list[dict[str, Any]]:
    """Each bucket size: ours against the previous approach, alternated; accuracy."""
    from latency import selectors, sketch
    from models_registry.models import ModelEntry

    from . import latency_previous as previous

    model = ModelEntry.objects.get(name=TARGET_MODEL)
    previous.build(model.pk)
    try:
        rows = []
        for size in sizes:
            _say(f"  {size} s buckets")
            ours_ms, previous_ms = _race(model, size, rounds)
            accuracy = _accuracy(model, size)
            ours, before = statistics.median(ours_ms), statistics.median(previous_ms)
            tiles = selectors.tiling(0, size, WINDOW_MINUTES * 60 // size + 1)
            rows.append(
                {
                    "bucket_seconds": size,
                    "buckets": accuracy["buckets"],
                    "rollups_tiling_a_day": sum(len(starts) for starts in tiles.values()),
                    "previous_path": "json roll-ups" if size % 10 == 0 else "raw samples",
                    "samples_in_window": accuracy["samples"],
                    "rounds": rounds,
                    "ours_ms": round(ours, 2),
                    "previous_ms": round(before, 1),
                    "ratio_ours_to_previous": round(ours / before, 3),
                    "goal_ms": GOAL_MS,
                    "goal_met": ours < GOAL_MS,
                    "max_rel_error_p50": round(accuracy["worst"]["p50"], 5),
                    "max_rel_error_p95": round(accuracy["worst"]["p95"], 5),
                    "alpha": sketch.ALPHA,
                    "percentiles_outside_bound": accuracy["outside"],
                    "count_or_avg_mismatches": accuracy["mismatched_counts"],
                }
            )
        return rows
    finally:
        previous.drop()


def _race(model: Any, size: int, rounds: int) -> tuple[list[float], list[float]]:
    """Milliseconds per call of the history API and of the previous code, alternated."""
    from django.utils import timezone

    from latency import selectors

    from . import latency_previous as previous

    ours_ms: list[float] = []
    previous_ms: list[float] = []

    def ours() -> object:
        return selectors.latency_history(
            model=model, since_minutes=WINDOW_MINUTES, bucket_seconds=size
        )

    def before() -> object:
        return previous.history(model.pk, WINDOW_MINUTES, size, timezone.now())

    for round_ in range(rounds):
        paths: list[tuple[list[float], Callable[[], object]]] = [
            (ours_ms, ours), (previous_ms, before),
        ]  # fmt: skip
        if round_ % 2:
            paths.reverse()
        for times, call in paths:
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
    return ours_ms, previous_ms


def _accuracy(model: Any, size: int) -> dict[str, Any]:
    """Every bucket of the history API against percentile_disc over the raw rows."""
    from django.db import connection
    from django.utils import timezone

    from latency import selectors, sketch

    now = timezone.now()
    first = (int(now.timestamp()) - WINDOW_MINUTES * 60) // size * size
    history = selectors.latency_history(
        model=model, since_minutes=WINDOW_MINUTES, bucket_seconds=size, now=now
    )
    with connection.cursor() as cursor:
        cursor.execute(EXACT_SQL, {"size": size, "model": model.pk, "first": first})
        exact = {int(row[0]): row for row in cursor.fetchall()}
    worst = {"p50": 0.0, "p95": 0.0}
    mismatched_counts = outside = samples = 0
    for snapshot in history.snapshots:
        row = exact.get(int(snapshot.start.timestamp()))
        if snapshot.stats is None or row is None:
            mismatched_counts += (snapshot.stats is None) != (row is None)
            continue
        _, count, avg, p50, p95 = row
        samples += count
        mismatched_counts += count != snapshot.stats.sample_count
        mismatched_counts += not math.isclose(float(avg), snapshot.stats.avg_ms, abs_tol=1e-3)
        for key, reported, truth in (
            ("p50", snapshot.stats.p50_ms, p50),
            ("p95", snapshot.stats.p95_ms, p95),
        ):
            worst[key] = max(worst[key], abs(reported - truth) / truth)
            # The sketch's bound, plus the API's rounding to a thousandth of a ms.
            outside += abs(reported - truth) > sketch.ALPHA * truth * (1 + 1e-9) + 0.0005
    return {
        "buckets": len(history.snapshots),
        "samples": samples,
        "worst": worst,
        "outside": outside,
        "mismatched_counts": mismatched_counts,
    }


def footprint() -> dict[str, int]:
    """What the latency tables hold: compared after the run with what the fill left."""
    from django.db.models import Count, Sum

    from latency.models import LatencyRollup, LatencySample, LatencyTotal

    rollups = LatencyRollup.objects.aggregate(rows=Count("id"), samples=Sum("count"))
    return {
        "raw_samples": LatencySample.objects.count(),
        "rollup_rows": rollups["rows"],
        "rollup_samples": rollups["samples"] or 0,
        "total_samples": LatencyTotal.objects.aggregate(n=Sum("count"))["n"] or 0,
    }


def recording_cost(calls: int, rounds: int) -> dict[str, Any]:
    """acquire → predict → release with and without the recorder's hook; flush cost."""

    from bench.swaps import IMAGE, zoo_sizes, zoo_specs
    from inference.engine.devices import SimulatedBackend
    from inference.engine.manager import ModelManager
    from inference.engine.specs import ManagerSettings
    from latency.recorder import LatencyRecorder
    from models_registry.models import ModelEntry
    from tests.fakes import DictSpecs, FakeLoader, MemorySink

    specs = zoo_specs()
    entry = ModelEntry.objects.get(name=TARGET_MODEL)
    specs[TARGET_MODEL] = dataclasses.replace(specs[TARGET_MODEL], id=entry.pk)
    settings = ManagerSettings(policy="lru", zoo_pool_mb=1650, offload_threshold=0.85)
    recorder = LatencyRecorder(max_buffered=calls * rounds + 1)

    def manager(with_recorder: bool) -> ModelManager:
        loader = FakeLoader()
        loader.sizes = zoo_sizes()
        return ModelManager(
            SimulatedBackend("sim:0", 24576),
            specs=DictSpecs.of(specs, settings),
            sink=MemorySink(),
            loader=loader,
            on_inference=recorder.inference if with_recorder else None,
        )

    managers = {"plain": manager(False), "recorded": manager(True)}
    per_call: dict[str, list[float]] = {"plain": [], "recorded": []}
    for name in managers:  # load once, outside the timing
        with managers[name].acquire(TARGET_MODEL) as lease:
            lease.predict(IMAGE)
    for round_ in range(rounds):
        order = ["plain", "recorded"] if round_ % 2 == 0 else ["recorded", "plain"]
        for name in order:
            mgr = managers[name]
            started = time.perf_counter()
            for _ in range(calls):
                with mgr.acquire(TARGET_MODEL) as lease:
                    lease.predict(IMAGE)
            per_call[name].append((time.perf_counter() - started) / calls * 1e6)
    plain, recorded = statistics.median(per_call["plain"]), statistics.median(per_call["recorded"])

    buffered = recorder.pending
    flush_us = _flush_us_per_sample(recorder)
    return {
        "calls_per_round": calls,
        "rounds": rounds,
        "plain_us_per_inference": round(plain, 2),
        "recorded_us_per_inference": round(recorded, 2),
        "hook_us": round(recorded - plain, 2),
        "ratio_recorded_to_plain": round(recorded / plain, 3),
        "flush_us_per_sample_background": round(flush_us, 2),
        "flushed_samples": buffered,
    }


def _flush_us_per_sample(recorder: Any) -> float:
    """The recorder's flush of everything it buffered, per sample, timed inside a
    transaction rolled back afterwards (the flush's own becomes a savepoint), so that
    the bench leaves no samples behind; the commit is not timed."""
    from django.db import transaction

    buffered = recorder.pending
    with transaction.atomic():
        started = time.perf_counter()
        recorder.flush()
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed / buffered * 1e6


def report(result: dict[str, Any]) -> str:
    fill_, rec = result["fill"], result["recording"]
    lines = [
        f"# Latency history: {fill_['samples']:,} samples over {fill_['models']} models "
        f"({fill_['rollups']:,} roll-up rows)",
        "",
        "| 24 h of one model at | ours | previous approach | ours / previous | "
        "goal < 100 ms | max error p50 / p95 vs percentile_disc | count/avg mismatches |",
        "| --- | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for row in result["history"]:
        lines.append(
            f"| {row['bucket_seconds']} s ({row['buckets']:,} buckets, "
            f"{row['samples_in_window']:,} samples, {row['rollups_tiling_a_day']:,} roll-ups) | "
            f"{row['ours_ms']} ms | {row['previous_ms']} ms ({row['previous_path']}) | "
            f"{row['ratio_ours_to_previous']}x | {'met' if row['goal_met'] else 'MISSED'} | "
            f"{row['max_rel_error_p50']:.3%} / {row['max_rel_error_p95']:.3%} "
            f"({row['percentiles_outside_bound']} outside {row['alpha']:.1%}) | "
            f"{row['count_or_avg_mismatches']} |"
        )
    left = result["left_behind"]
    lines += [
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| inference through the manager, without / with recorder | "
        f"{rec['plain_us_per_inference']} / {rec['recorded_us_per_inference']} µs |",
        f"| **recording overhead ratio** (no-op model: worst case) | "
        f"**{rec['ratio_recorded_to_plain']}x** (+{rec['hook_us']} µs per inference) |",
        f"| background flush per sample ({rec['flushed_samples']:,} samples, rolled back) | "
        f"{rec['flush_us_per_sample_background']} µs |",
        f"| left behind beyond the fill (raw / roll-up rows / roll-up samples / totals) | "
        f"{left['raw_samples']} / {left['rollup_rows']} / {left['rollup_samples']} / "
        f"{left['total_samples']} |",
    ]
    return "\n".join(lines)


def run(samples: int, rounds: int, calls: int = 2000) -> dict[str, Any]:
    """Fill, then every measurement; on the database Django is set up on."""
    _say(f"==> filling {samples:,} samples")
    result: dict[str, Any] = {"fill": fill(samples)}
    filled = footprint()
    _say("==> history: ours vs the previous approach")
    result["history"] = history_race(rounds)
    _say("==> recording overhead")
    result["recording"] = recording_cost(calls=calls, rounds=rounds)
    after = footprint()
    result["left_behind"] = {key: after[key] - filled[key] for key in filled}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)

    _say(f"==> creating {args.database_url}")
    with fresh_postgres(args.database_url, keep=args.keep):
        result = run(args.samples, args.rounds)
    finish(report(result), result, args.json)
    fast = all(row["goal_met"] for row in result["history"])
    exact_enough = not any(
        row["count_or_avg_mismatches"] or row["percentiles_outside_bound"]
        for row in result["history"]
    )
    clean = not any(result["left_behind"].values())
    return 0 if fast and exact_enough and clean else 1


if __name__ == "__main__":
    sys.exit(main())
