"""Write side of latency: store measured samples (raw, rolled up, totalled) and prune.

``samples_record`` is called by the worker's buffered recorder with everything measured
since its last flush: one transaction inserts the raw rows in bulk and adds the same
samples into the roll-ups and the Prometheus totals, so the three always agree.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.db import UPSERT_CHUNK, upsert_add
from latency import sketch
from latency.models import LatencyRollup, LatencySample, LatencyTotal, SampleKind
from latency.storage import FINE_GRAIN_LIMIT, FINE_GRAIN_RETENTION, GRAINS, le_index
from models_registry.models import ModelEntry

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured call, as the recorder buffers it."""

    model_id: int
    model_name: str
    kind: int  # SampleKind
    at: datetime
    duration_s: float
    cold: bool = False
    device_id: int | None = None
    worker: str = ""


def samples_record(*, samples: Sequence[Sample]) -> int:
    """Store samples: raw rows, roll-ups and running totals, in one transaction."""
    if not samples:
        return 0
    totals: dict[tuple[str, int, int], list[float]] = defaultdict(lambda: [0, 0.0])
    for sample in samples:
        total = totals[(sample.model_name, sample.kind, le_index(sample.duration_s))]
        total[0] += 1
        total[1] += sample.duration_s
    inference = [s for s in samples if s.kind == SampleKind.INFERENCE]
    rollups = _intervals(
        np.array([s.model_id for s in inference], np.int64),
        np.array([int(s.at.timestamp()) for s in inference], np.int64),
        np.array([s.duration_s * 1000.0 for s in inference], np.float64),
    )
    with transaction.atomic():
        LatencySample.objects.bulk_create(
            [
                LatencySample(
                    model_id=s.model_id,
                    kind=s.kind,
                    recorded_at=s.at,
                    duration_ms=s.duration_s * 1000.0,
                    cold=s.cold,
                    device_id=s.device_id,
                    worker=s.worker[:160],
                )
                for s in samples
            ],
            batch_size=1000,
        )
        _merge_rollups(rollups)
        # Sorted keys: concurrent workers lock shared rows in one order (no deadlocks).
        upsert_add(
            LatencyTotal._meta.db_table,
            ("model_name", "kind", "le_index"),
            ("count", "total_s"),
            sorted((*key, int(n), total) for key, (n, total) in totals.items()),
        )
    return len(samples)


@dataclass(frozen=True, slots=True)
class _Interval:
    """One roll-up's worth of new samples, before it is merged into its row."""

    count: int
    total_ms: float
    sketch: bytes


_Key = tuple[int, int, int]  # model id, grain, start


def _intervals(
    model_ids: npt.NDArray[np.int64],
    epochs: npt.NDArray[np.int64],
    durations_ms: npt.NDArray[np.float64],
    grains: Sequence[int] = GRAINS,
) -> dict[_Key, _Interval]:
    """Inference samples (model, whole epoch second, ms) summed into their intervals of
    each grain: one sort per grain groups them by (model, start, bin)."""
    if not len(model_ids):
        return {}
    bins = sketch.bins_of(durations_ms)
    found: dict[_Key, _Interval] = {}
    for grain in grains:
        keys = np.stack([model_ids, epochs - epochs % grain, bins], axis=1)
        distinct, where = np.unique(keys, axis=0, return_inverse=True)
        where = where.ravel()
        counts = np.bincount(where)
        sums = np.bincount(where, weights=durations_ms)
        # Where a new (model, start) begins among the sorted (model, start, bin) rows.
        heads = np.flatnonzero(
            np.r_[True, np.any(distinct[1:, :2] != distinct[:-1, :2], axis=1)]
        ).tolist()
        for head, end in zip(heads, [*heads[1:], len(distinct)], strict=True):
            key = (int(distinct[head, 0]), grain, int(distinct[head, 1]))
            found[key] = _Interval(
                int(counts[head:end].sum()),
                float(sums[head:end].sum()),
                sketch.encode(distinct[head:end, 2], counts[head:end]),
            )
    return found


def _merge_rollups(rollups: dict[_Key, _Interval]) -> None:
    """Add new samples into their roll-up rows, in key order so that concurrent
    workers lock shared rows in one order (no deadlocks): an interval without a row is
    inserted whole (most second and 10 s intervals are new), a concurrent creator
    winning harmlessly; the rows that exist are locked, their sketches merged, and
    written back. Plain SQL: the ORM's per-row expressions cost more than the merge."""
    keys = sorted(rollups)
    table = LatencyRollup._meta.db_table
    whole = connection.features.can_return_columns_from_insert
    created: set[_Key] = set()
    with connection.cursor() as cursor:
        for chunk in _chunks(keys):
            values = [(*k, *(_as_row(rollups[k]) if whole else (0, 0.0, b""))) for k in chunk]
            cursor.execute(
                f"INSERT INTO {table} (model_id, grain, start, count, total_ms, sketch) "
                f"VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(chunk))} "
                "ON CONFLICT (model_id, grain, start) DO NOTHING"
                + (" RETURNING model_id, grain, start" if whole else ""),
                [value for row in values for value in row],
            )
            if whole:
                created.update(tuple(row) for row in cursor.fetchall())
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        updates = []
        for chunk in _chunks([key for key in keys if key not in created]):
            cursor.execute(
                f"SELECT id, model_id, grain, start, count, total_ms, sketch FROM {table} "
                f"WHERE (model_id, grain, start) IN "
                f"(VALUES {', '.join(['(%s, %s, %s)'] * len(chunk))}) "
                f"ORDER BY model_id, grain, start{lock}",
                [value for key in chunk for value in key],
            )
            for row_id, *key, count, total_ms, blob in cursor.fetchall():
                new = rollups[(key[0], key[1], key[2])]
                merged = sketch.merge(blob, new.sketch) if len(blob) else new.sketch
                updates.append((count + new.count, total_ms + new.total_ms, merged, row_id))
        cursor.executemany(
            f"UPDATE {table} SET count = %s, total_ms = %s, sketch = %s WHERE id = %s", updates
        )


def _as_row(interval: _Interval) -> tuple[int, float, bytes]:
    return interval.count, interval.total_ms, interval.sketch


def _chunks(keys: list[_Key]) -> list[list[_Key]]:
    return [keys[offset : offset + UPSERT_CHUNK] for offset in range(0, len(keys), UPSERT_CHUNK)]


REBUILD_SQL = """
INSERT INTO latency_latencyrollup (model_id, grain, start, count, total_ms, sketch)
SELECT model_id, %(grain)s, start, sum(n), sum(ms),
       string_agg(int4send(bin) || int4send(n::int), ''::bytea ORDER BY bin)
FROM (
    SELECT model_id,
           floor(extract(epoch FROM recorded_at) / %(grain)s)::bigint * %(grain)s AS start,
           least(ceil(ln(greatest(duration_ms, %(min)s)) / %(log_gamma)s), %(max)s)::int AS bin,
           count(*) AS n, sum(duration_ms) AS ms
    FROM latency_latencysample
    WHERE kind = %(kind)s AND recorded_at >= %(since)s AND recorded_at < %(until)s
    GROUP BY 1, 2, 3
) AS per_bin
GROUP BY model_id, start
ON CONFLICT (model_id, grain, start) DO NOTHING
"""


def rollups_rebuild(*, grains: Sequence[int], since: datetime, until: datetime) -> None:
    """Build the roll-ups of ``grains`` from the raw samples recorded in
    ``[since, until)``, binned exactly as the recorder bins; intervals that already
    have a row are left as they are. For a grain added after samples were recorded
    (the migration that added seconds) and for the benchmark's fill.

    PostgreSQL does it in one statement per grain; elsewhere the samples are read and
    grouped with numpy (the embedded database holds few)."""
    if rebuild_in_sql():
        with connection.cursor() as cursor:
            for grain in grains:
                cursor.execute(
                    REBUILD_SQL,
                    {"grain": grain, "min": sketch.MIN_MS, "log_gamma": sketch.LOG_GAMMA,
                     "max": sketch.MAX_BIN, "kind": SampleKind.INFERENCE,
                     "since": since, "until": until},
                )  # fmt: skip
        return
    rows = list(
        LatencySample.objects.filter(
            kind=SampleKind.INFERENCE, recorded_at__gte=since, recorded_at__lt=until
        ).values_list("model_id", "recorded_at", "duration_ms")
    )
    found = _intervals(
        np.array([model_id for model_id, _, _ in rows], np.int64),
        np.array([int(at.timestamp()) for _, at, _ in rows], np.int64),
        np.array([ms for _, _, ms in rows], np.float64),
        grains,
    )
    LatencyRollup.objects.bulk_create(
        [
            LatencyRollup(model_id=m, grain=g, start=s, count=i.count, total_ms=i.total_ms,
                          sketch=i.sketch)
            for (m, g, s), i in sorted(found.items())
        ],
        ignore_conflicts=True,
        batch_size=500,
    )  # fmt: skip


def rebuild_in_sql() -> bool:
    """Whether the database builds sketches itself (PostgreSQL's ``int4send``)."""
    return connection.vendor == "postgresql"


def samples_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete raw samples and roll-ups past their retention; returns rows deleted."""
    now = now or timezone.now()
    raw_cutoff = now - timedelta(days=settings.ZOO_LATENCY_RAW_RETENTION_DAYS)
    rollup_cutoff = now - timedelta(days=settings.ZOO_LATENCY_ROLLUP_RETENTION_DAYS)
    deleted = {"samples": 0, "rollups": 0}
    # The registry's models, and those deleted since that still have roll-ups.
    model_ids = set(ModelEntry.objects.values_list("id", flat=True)) | set(
        LatencyRollup.objects.filter(grain=GRAINS[0]).values_list("model_id", flat=True).distinct()
    )
    for model_id in sorted(model_ids):  # one model at a time: short transactions
        for kind in SampleKind.values:
            count, _ = LatencySample.objects.filter(
                model_id=model_id, kind=kind, recorded_at__lt=raw_cutoff
            ).delete()
            deleted["samples"] += count
        for grain in GRAINS:
            cutoff = now - FINE_GRAIN_RETENTION if grain < FINE_GRAIN_LIMIT else rollup_cutoff
            count, _ = LatencyRollup.objects.filter(
                model_id=model_id, grain=grain, start__lt=int(cutoff.timestamp())
            ).delete()
            deleted["rollups"] += count
    if any(deleted.values()):
        logger.info("Pruned latency data: %s", deleted)
    return deleted
