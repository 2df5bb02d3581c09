"""Recording: the worker's buffered writer stores every sample in bulk, off the
inference path, and old raw samples are pruned while roll-ups stay."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection

from inference.engine.specs import ModelSpec
from latency import services
from latency.models import LatencyRollup, LatencySample, LatencyTotal, SampleKind
from latency.recorder import LatencyRecorder
from latency.services import Sample
from latency.storage import GRAINS
from models_registry.models import ModelEntry
from tests.factories import DeviceFactory
from tests.servers import wait_for


def spec_of(name: str) -> ModelSpec:
    from inference.runtime.specs import SpecSource

    return SpecSource().spec(name)


@pytest.fixture
def face(db) -> ModelEntry:
    return ModelEntry.objects.get(name="yolo11-face")


def test_a_flush_stores_raw_samples_roll_ups_for_every_grain_and_totals(face):
    at = datetime(2026, 1, 4, 10, 0, 7, tzinfo=UTC)
    services.samples_record(
        samples=[
            Sample(face.pk, face.name, SampleKind.INFERENCE, at, 0.040, cold=True, worker="w1"),
            Sample(face.pk, face.name, SampleKind.INFERENCE, at, 0.060),
            Sample(face.pk, face.name, SampleKind.LOAD, at, 2.0, cold=True),
        ]
    )
    assert LatencySample.objects.count() == 3
    cold = LatencySample.objects.get(worker="w1")
    assert (cold.duration_ms, cold.cold, cold.kind) == (40.0, True, SampleKind.INFERENCE)
    for grain in GRAINS:  # loads are not in the inference roll-ups
        rollup = LatencyRollup.objects.get(model_id=face.pk, grain=grain)
        assert rollup.start == int(at.timestamp()) // grain * grain
        assert (rollup.count, rollup.total_ms) == (2, pytest.approx(100.0))
        assert sorted(rollup.bins.values()) == [1, 1]  # 40 ms and 60 ms: two bins
    inference = LatencyTotal.objects.filter(model_name=face.name, kind=SampleKind.INFERENCE)
    assert sum(t.count for t in inference) == 2
    assert sum(t.total_s for t in inference) == pytest.approx(0.1)
    assert LatencyTotal.objects.get(model_name=face.name, kind=SampleKind.LOAD).count == 1


def test_later_flushes_add_to_the_same_roll_ups_and_totals(face):
    at = datetime(2026, 1, 4, 10, 0, 7, tzinfo=UTC)
    for _ in range(3):
        services.samples_record(
            samples=[Sample(face.pk, face.name, SampleKind.INFERENCE, at, 0.05)]
        )
    rollup = LatencyRollup.objects.get(model_id=face.pk, grain=10)
    assert (rollup.count, rollup.total_ms) == (3, pytest.approx(150.0))
    assert list(rollup.bins.values()) == [3]
    total = LatencyTotal.objects.get(model_name=face.name, kind=SampleKind.INFERENCE)
    assert total.count == 3


def test_the_hooks_only_buffer_and_a_flush_stores_in_order(face):
    recorder = LatencyRecorder(worker="w", device_id=None)
    spec = spec_of(face.name)
    for ms in (1, 2, 3):
        recorder.inference(spec, "sim:0", ms / 1000, False)
    recorder.load(spec, "sim:0", 1.5)
    assert LatencySample.objects.count() == 0 and recorder.pending == 4
    assert recorder.flush() == 4
    assert recorder.pending == 0
    rows = list(LatencySample.objects.order_by("id").values_list("kind", "duration_ms", "cold"))
    assert rows == [(1, 1.0, False), (1, 2.0, False), (1, 3.0, False), (2, 1500.0, True)]


def test_a_full_buffer_drops_its_oldest_samples_and_counts_them(face):
    recorder = LatencyRecorder(max_buffered=3)
    spec = spec_of(face.name)
    for ms in range(5):
        recorder.inference(spec, "cpu", ms / 1000, False)
    assert (recorder.pending, recorder.dropped) == (3, 2)
    recorder.flush()
    assert sorted(LatencySample.objects.values_list("duration_ms", flat=True)) == [2.0, 3.0, 4.0]


def test_samples_the_database_refuses_are_dropped_and_do_not_block_later_ones(face):
    recorder = LatencyRecorder()
    spec = spec_of(face.name)
    recorder.inference(spec, "cpu", 0.01, False)
    recorder._add(spec, -1, 0.01, False)  # a kind the table's check constraint refuses
    with pytest.raises(IntegrityError):
        recorder.flush()
    assert (recorder.pending, recorder.dropped) == (0, 2)
    recorder.inference(spec, "cpu", 0.02, False)
    assert recorder.flush() == 1


def test_the_background_thread_stores_samples_within_about_a_second(
    django_db_serialized_rollback, transactional_db
):
    face = ModelEntry.objects.get(name="yolo11-face")
    device = DeviceFactory()
    recorder = LatencyRecorder(worker="bg", device_id=device.pk, interval=0.2)
    recorder.start()
    try:
        spec = spec_of(face.name)
        threads = [
            threading.Thread(target=recorder.inference, args=(spec, "sim:0", 0.01, False))
            for _ in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_for(lambda: LatencySample.objects.filter(worker="bg").count() == 20, timeout=10)
    finally:
        recorder.stop()
    assert set(LatencySample.objects.values_list("device_id", flat=True)) == {device.pk}
    connection.close()


def test_pruning_drops_old_raw_samples_and_fine_roll_ups_but_keeps_coarse_ones(face, settings):
    settings.ZOO_LATENCY_RAW_RETENTION_DAYS = 7
    settings.ZOO_LATENCY_ROLLUP_RETENTION_DAYS = 90
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    for age in (timedelta(hours=1), timedelta(days=3), timedelta(days=8), timedelta(days=91)):
        services.samples_record(
            samples=[Sample(face.pk, face.name, SampleKind.INFERENCE, now - age, 0.02)]
        )
    deleted = services.samples_prune(now=now)

    kept = sorted(now - at for at in LatencySample.objects.values_list("recorded_at", flat=True))
    assert kept == [timedelta(hours=1), timedelta(days=3)]
    ages = {
        grain: sorted(
            (now.timestamp() - start) // 86400
            for start in LatencyRollup.objects.filter(grain=grain).values_list("start", flat=True)
        )
        for grain in GRAINS
    }
    assert ages[1] == ages[10] == ages[60] == [0]  # two days for the fine grains
    assert ages[300] == [0, 3, 8]
    assert ages[3600] == [0, 3, 8]
    assert deleted == {"samples": 2, "rollups": 3 * 3 + 2 * 1}  # fine: 3 each; coarse: 1 each
    # Totals feed counters: never pruned.
    assert LatencyTotal.objects.get(model_name=face.name, kind=SampleKind.INFERENCE).count == 4


def test_the_prune_command_says_what_it_deleted(face):
    from io import StringIO

    from django.core.management import call_command

    old = datetime.now(UTC) - timedelta(days=30)
    services.samples_record(samples=[Sample(face.pk, face.name, SampleKind.INFERENCE, old, 0.02)])
    out = StringIO()
    call_command("zoo_prune", stdout=out)
    assert out.getvalue().startswith("Deleted 1 raw samples (older than 7 days) and 3 roll-up")
    assert not LatencySample.objects.exists()
