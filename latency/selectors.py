"""Read side of latency: the history API's buckets and the Prometheus totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

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


# Named tuples, not dataclasses: a day in 10 s buckets makes 8,640 of each, and a frozen
# dataclass costs several times a tuple to build.
class BucketStats(NamedTuple):
    avg_ms: float
    p50_ms: float
    p95_ms: float
    sample_count: int


class Snapshot(NamedTuple):
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
    start, step = datetime.fromtimestamp(first, UTC), timedelta(seconds=bucket_seconds)
    snapshots = [Snapshot(start + step * i, stats[i]) for i in range(count)]
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


def _from_rollups(model_id: int, first: int, size: int, count: int) -> list[BucketStats | None]:
    """Read the tiling's roll-ups and merge them per bucket: counts and sums added,
    sketches merged by ``sketch.grouped_percentiles`` (vectorised, no loop per bin).
    Figures are rounded to a microsecond, as the API shows them."""
    read = [_read(model_id, grain, starts) for grain, starts in tiling(first, size, count).items()]
    stats: list[BucketStats | None] = [None] * count
    rows = np.concatenate([rows for rows, _ in read])
    if not len(rows):
        return stats
    pairs = np.frombuffer(b"".join(blob for _, blob in read), sketch.PAIR).reshape(-1, 2)
    buckets, group = np.unique((rows["start"] - first) // size, return_inverse=True)
    totals = np.bincount(group, weights=rows["count"]).astype(np.int64)
    averages = np.bincount(group, weights=rows["total_ms"]) / totals
    found = sketch.grouped_percentiles(group, rows["pairs"], pairs, totals, PERCENTILES)
    figures = zip(
        buckets.tolist(),
        np.round(averages, 3).tolist(),
        np.round(found, 3).tolist(),
        totals.tolist(),
        strict=True,
    )
    for bucket, avg, (p50, p95), n in figures:
        stats[bucket] = BucketStats(avg, p50, p95, n)
    return stats


# A roll-up row's figures as PostgreSQL packs them (int8send, float8send, int4send):
# its start, count, summed duration and number of (bin, count) pairs (8 bytes each).
ROW = np.dtype([("start", ">i8"), ("count", ">i8"), ("total_ms", ">f8"), ("pairs", ">i4")])

PACKED_SQL = f"""
SELECT string_agg(int8send(start) || int8send(count) || float8send(total_ms)
                  || int4send(length(sketch) / 8), ''::bytea),
       string_agg(sketch, ''::bytea)
FROM {LatencyRollup._meta.db_table}
WHERE model_id = %s AND grain = %s AND count > 0 AND
"""

Read = tuple[npt.NDArray[np.void], bytes]  # the rows' figures (ROW), their sketches


def _read(model_id: int, grain: int, starts: Ints) -> Read:
    """The model's non-empty roll-ups of ``grain`` at ``starts`` (ascending): their
    figures and their sketches end to end, in start order. PostgreSQL packs all of
    them into two byte strings: one row to transfer and decode, not thousands. The
    wanted intervals are a range when they are every interval of a span, else each
    one is looked up."""
    low, high = int(starts[0]), int(starts[-1])
    span = (high - low) // grain + 1 == len(starts)
    if connection.vendor != "postgresql":
        return _read_rows(model_id, grain, starts, span)
    params: list[int | str]
    if span:
        where, params = "start >= %s AND start <= %s", [low, high]
    else:
        where, params = "start = ANY(%s::bigint[])", ["{" + ",".join(map(str, starts)) + "}"]
    # The two aggregates see the rows in one order (whichever the scan gives: the
    # reader sorts what needs sorting), so figures and sketches line up.
    figures, blob = _fetch_binary(PACKED_SQL + where, [model_id, grain, *params])
    return np.frombuffer(figures or b"", ROW), bytes(blob or b"")


def _fetch_binary(sql: str, params: list[int | str]) -> tuple[bytes | None, bytes | None]:
    """One row, in PostgreSQL's binary format: byte strings arrive as they are, where
    the text format Django's cursors use doubles them in hex (a day of 10 s sketches is
    about 4 MB: half the history's time went into hex). Django's cursors bind client-side,
    which psycopg serves in text only: this is a plain psycopg cursor on Django's
    connection, in its transaction, wrapped as Django wraps its own cursors: the statement
    goes through the execute wrappers and the query log (tests count it) and its errors
    are Django's. (django-prometheus counts statements in Django's cursor class, which
    this is not: its database series miss this one statement per history read.)"""
    import psycopg

    connection.ensure_connection()
    raw: Any = psycopg.Cursor(connection.connection)
    raw.format = psycopg.pq.Format.BINARY
    wrapped = (
        connection.make_debug_cursor(raw)
        if connection.queries_logged
        else connection.make_cursor(raw)
    )
    with wrapped as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    assert row is not None  # an aggregate always answers
    return row[0], row[1]


def _read_rows(model_id: int, grain: int, starts: Ints, span: bool) -> Read:
    """``_read`` elsewhere (SQLite): row by row, the starts in chunks of ``IN``."""
    if span:
        lookups = [("start >= %s AND start <= %s", [int(starts[0]), int(starts[-1])])]
    else:
        chunks = [starts[i : i + IN_CHUNK].tolist() for i in range(0, len(starts), IN_CHUNK)]
        lookups = [(f"start IN ({', '.join(['%s'] * len(c))})", c) for c in chunks]
    rows = []
    with connection.cursor() as cursor:
        for where, params in lookups:
            cursor.execute(
                f"SELECT start, count, total_ms, sketch FROM {LatencyRollup._meta.db_table} "
                f"WHERE model_id = %s AND grain = %s AND count > 0 AND {where} ORDER BY start",
                [model_id, grain, *params],
            )
            rows.extend(cursor.fetchall())
    figures = [(start, n, total, len(blob) // 8) for start, n, total, blob in rows]
    return np.array(figures, dtype=ROW), b"".join(bytes(blob) for *_, blob in rows)


def latency_totals() -> list[tuple[str, int, int, int, float]]:
    """Every (model name, kind, histogram bucket index, count, total seconds)."""
    return list(
        LatencyTotal.objects.order_by("model_name", "kind", "le_index").values_list(
            "model_name", "kind", "le_index", "count", "total_s"
        )
    )
