"""The latency history as it was answered before packed sketches and the second grain
(commit ae40202), kept so that ``bench.latency_history`` can time it side by side on
the same samples.

Then: roll-ups of 3600, 300, 60 and 10 s with their sketches as JSON objects
(``{"bin": count}``), merged bin by bin in Python, for bucket sizes one of those grains
divides; every other size (305 s) was computed from the raw samples in a Python loop.
``build`` makes those JSON roll-ups for one model in a temporary table, from the raw
samples, with the bins the recorder used (the same as now); ``drop`` removes it. The
code below is the old selector's, reading the table through a plain cursor and decoding
each sketch as the ORM's JSONField did (the ORM's other per-row costs are left out:
the previous figures are if anything low).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

TABLE = "bench_previous_rollup"
GRAINS = (3600, 300, 60, 10)

BUILD_SQL = f"""
INSERT INTO {TABLE} (model_id, grain, start, count, total_ms, bins)
SELECT model_id, %(grain)s, start, sum(n), sum(ms), jsonb_object_agg(bin, n)
FROM (
    SELECT model_id,
           floor(extract(epoch FROM recorded_at) / %(grain)s)::bigint * %(grain)s AS start,
           ceil(ln(greatest(duration_ms, %(min)s)) / %(log_gamma)s)::int AS bin,
           count(*) AS n, sum(duration_ms) AS ms
    FROM latency_latencysample WHERE kind = 1 AND model_id = %(model)s GROUP BY 1, 2, 3
) AS per_bin
GROUP BY model_id, start
"""


def build(model_id: int) -> None:
    """The previous roll-ups of one model, in a temporary table of this connection."""
    from django.db import connection

    from latency import sketch

    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {TABLE} (model_id bigint, grain int, start bigint, "
            "count bigint, total_ms double precision, bins jsonb, "
            "PRIMARY KEY (model_id, grain, start))"
        )
        for grain in GRAINS:
            cursor.execute(
                BUILD_SQL,
                {"grain": grain, "min": sketch.MIN_MS, "log_gamma": sketch.LOG_GAMMA,
                 "model": model_id},
            )  # fmt: skip
        cursor.execute(f"ANALYZE {TABLE}")


def drop() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def history(model_id: int, since_minutes: int, size: int, now: datetime) -> dict[int, Any]:
    """The previous selector's buckets: ``{start: (count, avg, p50, p95)}``."""
    end = int(now.timestamp())
    first = (end - since_minutes * 60) // size * size
    last = end // size * size
    grain = next((grain for grain in GRAINS if size % grain == 0), None)
    if grain is not None:
        return _from_rollups(model_id, grain, size, first, last + size)
    return _from_samples(model_id, size, first, last + size)


def _from_rollups(
    model_id: int, grain: int, size: int, first: int, end: int
) -> dict[int, tuple[int, float, float, float]]:
    from django.db import connection

    merged: dict[int, tuple[int, float, dict[int, int]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT start, count, total_ms, bins FROM {TABLE} WHERE model_id = %s "
            "AND grain = %s AND start >= %s AND start < %s AND count > 0",
            [model_id, grain, first, end],
        )
        rows = cursor.fetchall()
    for start, count, total_ms, text in rows:
        bins = json.loads(text)  # what the ORM's JSONField did on every row
        bucket = start - (start - first) % size
        if bucket not in merged:
            merged[bucket] = (count, total_ms, {int(k): v for k, v in bins.items()})
            continue
        n, total, into = merged[bucket]
        for key, value in bins.items():
            into[int(key)] = into.get(int(key), 0) + value
        merged[bucket] = (n + count, total + total_ms, into)
    return {
        bucket: _stats(n, total, *_percentiles(bins, n, (50, 95)))
        for bucket, (n, total, bins) in merged.items()
    }


def _percentiles(bins: dict[int, int], count: int, percents: tuple[int, ...]) -> list[float]:
    from latency import sketch

    wanted = [sketch.rank(percent, count) for percent in percents]
    found: list[float] = []
    seen = 0
    for index in sorted(bins):
        seen += bins[index]
        while len(found) < len(wanted) and seen >= wanted[len(found)]:
            found.append(sketch.value_of(index))
        if len(found) == len(wanted):
            break
    return found


def _stats(count: int, total: float, p50: float, p95: float) -> tuple[int, float, float, float]:
    return count, round(total / count, 3), round(p50, 3), round(p95, 3)


def _from_samples(
    model_id: int, size: int, first: int, end: int
) -> dict[int, tuple[int, float, float, float]]:
    from latency import sketch
    from latency.models import LatencySample, SampleKind

    durations: dict[int, list[float]] = defaultdict(list)
    samples = LatencySample.objects.filter(
        model_id=model_id,
        kind=SampleKind.INFERENCE,
        recorded_at__gte=datetime.fromtimestamp(first, UTC),
        recorded_at__lt=datetime.fromtimestamp(end, UTC),
    ).values_list("recorded_at", "duration_ms")
    for at, ms in samples.iterator(chunk_size=10_000):
        durations[first + (int(at.timestamp()) - first) // size * size].append(ms)
    stats = {}
    for start, values in durations.items():
        values.sort()
        stats[start] = _stats(
            len(values),
            sum(values),
            sketch.percentile_exact(values, 50),
            sketch.percentile_exact(values, 95),
        )
    return stats
