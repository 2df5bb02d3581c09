"""The migration to packed sketches: every JSON sketch keeps its bins and counts, the
second roll-ups of the last two days are built from the raw samples, and it reverses."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from latency import sketch
from latency.models import LatencyRollup
from models_registry.models import ModelEntry

BEFORE = [("latency", "0003_le_index_help_text")]
AFTER = [("latency", "0004_rollup_sketch_arrays")]

OLD_SKETCHES = [
    (3600, 1_767_520_800, 10, 250.0, {"310": 7, "-5": 2, "12": 1}),  # keys out of order
    (10, 1_767_522_610, 1, 40.0, {"368": 1}),
    (60, 1_767_522_600, 0, 0.0, {}),
]


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.mark.parametrize("in_sql", [True, False], ids=["sql", "python"])
def test_json_sketches_become_pairs_without_losing_a_sample_and_seconds_are_added(
    django_db_serialized_rollback, transactional_db, monkeypatch, in_sql
):
    if in_sql and connection.vendor != "postgresql":
        pytest.skip("the SQL conversion is PostgreSQL's")
    migration = importlib.import_module("latency.migrations.0004_rollup_sketch_arrays")
    monkeypatch.setattr(migration, "_in_sql", lambda connection: in_sql)
    model_id = ModelEntry.objects.get(name="yolo11-face").pk
    now = timezone.now()
    try:
        old = migrate(BEFORE)
        Rollup = old.get_model("latency", "LatencyRollup")
        Sample = old.get_model("latency", "LatencySample")
        for grain, start, count, total, bins in OLD_SKETCHES:
            Rollup.objects.create(
                model_id=model_id, grain=grain, start=start, count=count, total_ms=total, bins=bins
            )
        second = now.replace(microsecond=0) - timedelta(minutes=5)
        for at, ms in (
            (second, 20.0),
            (second + timedelta(microseconds=5), 30.0),
            (second + timedelta(seconds=1), 25.0),
            (now - timedelta(days=3), 9.0),
        ):
            Sample.objects.create(model_id=model_id, kind=1, recorded_at=at, duration_ms=ms)

        migrate(AFTER)
        for grain, start, count, total, bins in OLD_SKETCHES:
            row = LatencyRollup.objects.get(model_id=model_id, grain=grain, start=start)
            assert (row.count, row.total_ms) == (count, total)
            assert row.bins == {int(k): v for k, v in bins.items()}
            assert list(row.bins) == sorted(row.bins)  # stored in bin order
        seconds = LatencyRollup.objects.filter(grain=1).order_by("start")
        epoch = int(second.timestamp())
        assert [(r.start, r.count, r.total_ms) for r in seconds] == [
            (epoch, 2, 50.0),
            (epoch + 1, 1, 25.0),
        ]  # the sample three days old is past the fine grains' retention
        assert seconds[0].bins == {sketch.bin_of(20.0): 1, sketch.bin_of(30.0): 1}

        back = migrate(BEFORE).get_model("latency", "LatencyRollup")
        assert not back.objects.filter(grain=1).exists()
        assert {(r.grain, r.start): r.bins for r in back.objects.all()} == {
            (grain, start): bins for grain, start, _, _, bins in OLD_SKETCHES
        }
    finally:
        migrate(AFTER)
