"""Read side of latency: the history API's buckets and the Prometheus totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from django.db import connection
from django.utils import timezone

from latency import sketch
from latency.models import LatencyRollup, LatencyTotal
from latency.storage import GRAINS
from models_registry.models import ModelEntry

PERCENTILES = (50, 95)
IN_CHUNK = 500  # interval starts per statement where there are no arrays (SQLite)
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Bounds:
    default: int
    minimum: int
    maximum: int

    def schema(self) -> dict[str, object]:
        """The OpenAPI schema of a parameter within these bounds."""
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum,
                "default": self.default}  # fmt: skip


# The history's choices, as the Model Zoo document gives them.
SINCE_MINUTES = Bounds(default=60, minimum=1, maximum=1440)
BUCKET_SECONDS = Bounds(default=60, minimum=10, maximum=3600)


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
    source: str = "rollup"  # every bucket size is read from roll-ups

    @property
    def has_data(self) -> bool:
        return any(snapshot.stats is not None for snapshot in self.snapshots)


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
    count = (last - first) // bucket_seconds + 1
    stats = _from_rollups(model.pk, first, bucket_seconds, count)
    snapshots = [
        Snapshot(datetime.fromtimestamp(first + i * bucket_seconds, UTC), stats.get(i))
        for i in range(count)
    ]
    return History(
        model_name=model.name,
        display_name=model.display_name,
        snapshots=snapshots,
        window_minutes=since_minutes,
        bucket_seconds=bucket_seconds,
        taken_at=now,
    )


def tiling(first: int, size: int, count: int) -> dict[int, Ints]:
    """The roll-up intervals that tile ``count`` buckets of ``size`` seconds from
    ``first``: ``{grain: interval starts}``, each bucket covered exactly once.

    Coarsest first: a bucket takes the intervals of the first grain that fits inside
    it, then each finer grain fills the gaps left at its two edges, down to seconds
    (each grain divides the coarser ones, so the gaps are whole intervals). A 305 s
    bucket is one 5-minute interval and five seconds, or minutes and 10 s intervals
    around them, never 305 seconds.
    """
    starts = first + size * np.arange(count, dtype=np.int64)
    ends = starts + size
    low = high = np.full(count, -1, dtype=np.int64)  # the covered part; none yet
    found: dict[int, Ints] = {}
    for grain in GRAINS:
        inner_low = -(-starts // grain) * grain
        inner_high = ends // grain * grain
        covered = high >= 0
        fits = ~covered & (inner_low < inner_high)
        # New intervals: the whole inner span of a bucket this grain is the first to
        # fit, or the gaps between the inner span and the part covered so far.
        spans = [
            (inner_low[fits], inner_high[fits]),
            (inner_low[covered], low[covered]),
            (high[covered], inner_high[covered]),
        ]
        pieces = np.concatenate([_steps(a, b, grain) for a, b in spans])
        if len(pieces):
            found[grain] = np.sort(pieces)
        low = np.where(fits | covered, inner_low, low)
        high = np.where(fits | covered, inner_high, high)
    return found


def _steps(lows: Ints, highs: Ints, step: int) -> Ints:
    """Every ``low + k * step`` below ``high``, for each pair."""
    counts = (highs - lows) // step
    offsets = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(counts) - counts, counts
    )
    return np.repeat(lows, counts) + offsets * step


def _from_rollups(model_id: int, first: int, size: int, count: int) -> dict[int, BucketStats]:
    """Read the tiling's roll-ups and merge them per bucket: counts and sums added,
    sketches merged by ``sketch.grouped_percentiles`` (vectorised, no loop per bin)."""
    rows = [
        row for grain, starts in tiling(first, size, count).items()
        for row in _rollup_rows(model_id, grain, starts)
    ]  # fmt: skip
    if not rows:
        return {}
    starts, counts, sums, blobs = zip(*rows, strict=True)
    bucket_of = (np.array(starts, np.int64) - first) // size
    order = np.argsort(bucket_of, kind="stable")
    buckets, group = np.unique(bucket_of[order], return_inverse=True)
    totals = np.bincount(group, weights=np.array(counts, np.float64)[order]).astype(np.int64)
    summed = np.bincount(group, weights=np.array(sums, np.float64)[order])
    found = sketch.grouped_percentiles(
        group, [blobs[i] for i in order.tolist()], totals, PERCENTILES
    )
    return {
        bucket: _stats(n, total, p50, p95)
        for bucket, n, total, (p50, p95) in zip(
            buckets.tolist(), totals.tolist(), summed.tolist(), found.tolist(), strict=True
        )
    }


def _rollup_rows(
    model_id: int, grain: int, starts: Ints
) -> list[tuple[int, int, float, bytes | memoryview]]:
    """(start, count, total_ms, sketch) of the model's non-empty roll-ups of ``grain``
    at ``starts`` (ascending): a range scan when they are every interval of a span,
    else a lookup of each (an array on PostgreSQL, chunks of ``IN`` elsewhere)."""
    table = LatencyRollup._meta.db_table
    head = (
        f"SELECT start, count, total_ms, sketch FROM {table} "
        "WHERE model_id = %s AND grain = %s AND count > 0 AND "
    )
    low, high = int(starts[0]), int(starts[-1])
    with connection.cursor() as cursor:
        if (high - low) // grain + 1 == len(starts):
            cursor.execute(head + "start >= %s AND start <= %s", [model_id, grain, low, high])
            return cursor.fetchall()
        if connection.vendor == "postgresql":
            cursor.execute(head + "start = ANY(%s)", [model_id, grain, starts.tolist()])
            return cursor.fetchall()
        rows = []
        for offset in range(0, len(starts), IN_CHUNK):
            chunk = starts[offset : offset + IN_CHUNK].tolist()
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(head + f"start IN ({marks})", [model_id, grain, *chunk])
            rows.extend(cursor.fetchall())
        return rows


def _stats(count: int, total_ms: float, p50_ms: float, p95_ms: float) -> BucketStats:
    """A bucket's figures, rounded to a microsecond as the API shows them."""
    return BucketStats(
        avg_ms=round(total_ms / count, 3),
        p50_ms=round(p50_ms, 3),
        p95_ms=round(p95_ms, 3),
        sample_count=count,
    )


def latency_totals() -> list[tuple[str, int, int, int, float]]:
    """Every (model name, kind, histogram bucket index, count, total seconds)."""
    return list(
        LatencyTotal.objects.order_by("model_name", "kind", "le_index").values_list(
            "model_name", "kind", "le_index", "count", "total_s"
        )
    )
