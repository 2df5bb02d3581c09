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

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.db import upsert_add
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
    rollups: dict[tuple[int, int, int], _Interval] = defaultdict(_Interval)
    totals: dict[tuple[str, int, int], list[float]] = defaultdict(lambda: [0, 0.0])
    for sample in samples:
        total = totals[(sample.model_name, sample.kind, le_index(sample.duration_s))]
        total[0] += 1
        total[1] += sample.duration_s
        if sample.kind != SampleKind.INFERENCE:
            continue
        ms = sample.duration_s * 1000.0
        epoch = int(sample.at.timestamp())
        index = sketch.bin_of(ms)
        for grain in GRAINS:
            rollups[(sample.model_id, grain, epoch - epoch % grain)].add(index, ms)
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


class _Interval:
    """One roll-up's worth of new samples, before it is merged into its row."""

    __slots__ = ("bins", "count", "total_ms")

    def __init__(self) -> None:
        self.count = 0
        self.total_ms = 0.0
        self.bins: dict[int, int] = defaultdict(int)

    def add(self, index: int, ms: float) -> None:
        self.count += 1
        self.total_ms += ms
        self.bins[index] += 1


def _merge_rollups(rollups: dict[tuple[int, int, int], _Interval]) -> None:
    """Add new samples into their roll-up rows: create missing rows (a concurrent
    creator wins harmlessly), lock them in key order, merge the sketches, write back."""
    keys = sorted(rollups)
    LatencyRollup.objects.bulk_create(
        [LatencyRollup(model_id=m, grain=g, start=s) for m, g, s in keys],
        ignore_conflicts=True,
    )
    wanted = Q()
    for model_id, grain, start in keys:
        wanted |= Q(model_id=model_id, grain=grain, start=start)
    rows = list(
        LatencyRollup.objects.select_for_update()
        .filter(wanted)
        .order_by("model_id", "grain", "start")
    )
    for row in rows:
        new = rollups[(row.model_id, row.grain, row.start)]
        row.count += new.count
        row.total_ms += new.total_ms
        bins = row.bins
        for index, count in new.bins.items():
            bins[str(index)] = bins.get(str(index), 0) + count
    LatencyRollup.objects.bulk_update(rows, ["count", "total_ms", "bins"], batch_size=500)


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
