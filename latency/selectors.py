"""Read side of latency: the history API's buckets and the Prometheus totals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils import timezone

from latency import sketch
from latency.models import LatencyRollup, LatencySample, LatencyTotal, SampleKind
from latency.storage import GRAINS
from models_registry.models import ModelEntry

PERCENTILES = (50, 95)


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
        stats = _from_rollups(model.pk, grain, bucket_seconds, first, last + bucket_seconds)
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


def _from_rollups(
    model_id: int, grain: int, size: int, first: int, end: int
) -> dict[int, BucketStats]:
    """Merge the roll-ups of each bucket (``size // grain`` of them) and read it off."""
    merged: dict[int, tuple[int, float, dict[int, int]]] = {}
    rows = LatencyRollup.objects.filter(
        model_id=model_id, grain=grain, start__gte=first, start__lt=end, count__gt=0
    ).values_list("start", "count", "total_ms", "bins")
    for start, count, total_ms, bins in rows:
        bucket = start - (start - first) % size
        if bucket not in merged:
            merged[bucket] = (count, total_ms, {int(k): v for k, v in bins.items()})
            continue
        n, total, into = merged[bucket]
        for key, value in bins.items():
            into[int(key)] = into.get(int(key), 0) + value
        merged[bucket] = (n + count, total + total_ms, into)
    return {
        bucket: _stats(n, total, *sketch.percentiles(bins, n, PERCENTILES))
        for bucket, (n, total, bins) in merged.items()
    }


def _stats(count: int, total_ms: float, p50_ms: float, p95_ms: float) -> BucketStats:
    """A bucket's figures, rounded to a microsecond as the API shows them."""
    return BucketStats(
        avg_ms=round(total_ms / count, 3),
        p50_ms=round(p50_ms, 3),
        p95_ms=round(p95_ms, 3),
        sample_count=count,
    )


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
        stats[start] = _stats(
            len(values),
            sum(values),
            sketch.percentile_exact(values, 50),
            sketch.percentile_exact(values, 95),
        )
    return stats


def latency_totals() -> list[tuple[str, int, int, int, float]]:
    """Every (model name, kind, histogram bucket index, count, total seconds)."""
    return list(
        LatencyTotal.objects.order_by("model_name", "kind", "le_index").values_list(
            "model_name", "kind", "le_index", "count", "total_s"
        )
    )
