"""Read side of latency: the history API's buckets and the Prometheus totals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone

from latency import sketch
from latency.models import LatencyCell, LatencySample, LatencyTotal, SampleKind
from latency.services import GRAINS
from models_registry.models import ModelEntry

PERCENTILES = (50, 95)


@dataclass(frozen=True)
class BucketStats:
    avg_ms: float
    p50_ms: float
    p95_ms: float
    sample_count: int


@dataclass(frozen=True)
class Snapshot:
    start: datetime
    stats: BucketStats | None


@dataclass(frozen=True)
class History:
    model_name: str
    display_name: str
    snapshots: list[Snapshot]
    window_minutes: int
    bucket_seconds: int
    taken_at: datetime
    source: str  # "rollup" or "raw"

    @property
    def has_data(self) -> bool:
        return any(snapshot.stats is not None for snapshot in self.snapshots)


def grain_for(bucket_seconds: int) -> int | None:
    """The coarsest roll-up grain that tiles buckets of this size, if any."""
    return next((grain for grain in GRAINS if bucket_seconds % grain == 0), None)


def latency_history(
    *, model: ModelEntry, since_minutes: int, bucket_seconds: int, now: datetime | None = None
) -> History:
    """Clock-aligned buckets covering the last ``since_minutes`` up to now.

    Buckets start at multiples of ``bucket_seconds`` since the epoch (UTC); the first is
    the one holding the window's start, the last the one holding now (partial), so a
    window shorter than a bucket still gets the bucket that holds it. Each bucket
    counts every inference in it, including the part before the window's start.
    """
    now = now or timezone.now()
    end = int(now.timestamp())
    first = (end - since_minutes * 60) // bucket_seconds * bucket_seconds
    last = end // bucket_seconds * bucket_seconds
    grain = grain_for(bucket_seconds)
    if grain is not None:
        stats = _from_cells(model.pk, grain, bucket_seconds, first, last + bucket_seconds)
    else:
        stats = _from_samples(model.pk, bucket_seconds, first, last + bucket_seconds)
    snapshots = [
        Snapshot(datetime.fromtimestamp(start, UTC), stats.get(start))
        for start in range(first, last + 1, bucket_seconds)
    ]
    return History(
        model_name=model.name,
        display_name=model.display_name,
        snapshots=snapshots,
        window_minutes=since_minutes,
        bucket_seconds=bucket_seconds,
        taken_at=now,
        source="rollup" if grain is not None else "raw",
    )


# Percentiles inside the database: per bucket, the running count over bins in order;
# the nearest-rank percentile is the first bin whose running count reaches
# ceil(n * p / 100), written with integer arithmetic so PostgreSQL and SQLite agree.
_CELLS_SQL = """
SELECT bucket, n, total,
       MIN(CASE WHEN running >= (n + 1) / 2 THEN bin END),
       MIN(CASE WHEN running >= (95 * n + 99) / 100 THEN bin END)
FROM (
    SELECT bucket, bin, n, total,
           SUM(cnt) OVER (PARTITION BY bucket ORDER BY bin) AS running
    FROM (
        SELECT bucket, bin, cnt,
               CAST(SUM(cnt) OVER (PARTITION BY bucket) AS BIGINT) AS n,
               SUM(ms) OVER (PARTITION BY bucket) AS total
        FROM (
            SELECT ({start} - %(first)s) / %(size)s AS bucket, {bin} AS bin,
                   SUM({count}) AS cnt, SUM({total_ms}) AS ms
            FROM {table}
            WHERE {model_id} = %(model)s AND {grain} = %(grain)s
              AND {start} >= %(first)s AND {start} < %(end)s
            GROUP BY 1, 2
        ) AS per_bin
    ) AS with_totals
) AS with_running
GROUP BY bucket, n, total
"""


def _from_cells(
    model_id: int, grain: int, size: int, first: int, end: int
) -> dict[int, BucketStats]:
    quote = connection.ops.quote_name
    columns = {name: quote(name) for name in ("start", "bin", "count", "total_ms", "grain")}
    sql = _CELLS_SQL.format(
        table=quote(LatencyCell._meta.db_table), model_id=quote("model_id"), **columns
    )
    params = {"model": model_id, "grain": grain, "first": first, "end": end, "size": size}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {
        first + int(bucket) * size: BucketStats(
            avg_ms=round(float(total) / int(n), 3),
            p50_ms=round(sketch.value_of(int(p50)), 3),
            p95_ms=round(sketch.value_of(int(p95)), 3),
            sample_count=int(n),
        )
        for bucket, n, total, p50, p95 in rows
    }


def _from_samples(model_id: int, size: int, first: int, end: int) -> dict[int, BucketStats]:
    """Exact statistics from the raw samples, for bucket sizes no roll-up tiles."""
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
        stats[start] = BucketStats(
            avg_ms=round(sum(values) / len(values), 3),
            p50_ms=round(sketch.percentile_exact(values, 50), 3),
            p95_ms=round(sketch.percentile_exact(values, 95), 3),
            sample_count=len(values),
        )
    return stats


def latency_totals() -> list[tuple[str, int, int, int, float]]:
    """Every (model name, kind, histogram bucket index, count, total seconds)."""
    return list(
        LatencyTotal.objects.order_by("model_name", "kind", "le_index").values_list(
            "model_name", "kind", "le_index", "count", "total_s"
        )
    )
