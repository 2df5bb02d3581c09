"""History at any bucket size the API accepts: every bucket is tiled with roll-ups
(seconds at the edges where no coarser grain fits), so counts and averages equal the
raw samples' and percentiles stay within the sketch's error; sketches are packed pairs
that SQL and Python build alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from latency import selectors, services, sketch
from latency.models import LatencyRollup, SampleKind
from latency.services import Sample
from latency.storage import GRAINS
from models_registry.models import ModelEntry

NOW = datetime(2026, 1, 4, 10, 30, 15, tzinfo=UTC)


@pytest.fixture
def plate(db) -> ModelEntry:
    return ModelEntry.objects.get(name="yolo11-license-plate")


def within_alpha(reported: float, expected: float) -> bool:
    """The sketch's bound plus the API's rounding to a thousandth of a millisecond."""
    return abs(reported - expected) <= sketch.ALPHA * expected * (1 + 1e-9) + 0.0005


def spread(model: ModelEntry, seed: int, count: int, hours: float = 2.0) -> list[Sample]:
    """``count`` inferences at random instants of the last ``hours`` before NOW,
    log-normal durations, stored through the recorder's service."""
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(0, hours * 3600, size=count)
    durations = rng.lognormal(mean=3.0, sigma=0.8, size=count)
    samples = [
        Sample(model.pk, model.name, SampleKind.INFERENCE, NOW - timedelta(seconds=o), ms / 1000)
        for o, ms in zip(offsets.tolist(), durations.tolist(), strict=True)
    ]
    for offset in range(0, count, 500):  # several flushes, as a worker makes them
        services.samples_record(samples=samples[offset : offset + 500])
    return samples


def raw_buckets(samples: list[Sample], size: int) -> dict[datetime, list[float]]:
    found: dict[datetime, list[float]] = {}
    for sample in samples:
        epoch = int(sample.at.timestamp())
        start = datetime.fromtimestamp(epoch - epoch % size, UTC)
        found.setdefault(start, []).append(sample.duration_s * 1000.0)
    return found


@pytest.mark.parametrize("size", [13, 305, 17, 3599, 10, 60, 3600])
def test_counts_and_averages_equal_the_raw_samples_at_any_bucket_size(plate, size):
    samples = spread(plate, seed=size, count=2000)
    result = selectors.latency_history(model=plate, since_minutes=130, bucket_seconds=size, now=NOW)
    expected = raw_buckets(samples, size)
    filled = {s.start: s.stats for s in result.snapshots if s.stats is not None}
    assert set(filled) == set(expected)
    for start, values in expected.items():
        stats = filled[start]
        assert stats.sample_count == len(values), start
        assert stats.avg_ms == pytest.approx(round(float(np.mean(values)), 3), abs=1e-3)
        for percent, reported in ((50, stats.p50_ms), (95, stats.p95_ms)):
            truth = float(np.percentile(values, percent, method="inverted_cdf"))
            assert within_alpha(reported, truth), (start, percent, reported, truth)


def test_a_sample_on_a_bucket_edge_counts_once_in_the_bucket_that_holds_it(plate):
    # 13 s buckets: one starts at 10:30:01, inside the 10 s roll-up of 10:30:00.
    edge = datetime(2026, 1, 4, 10, 30, 1, tzinfo=UTC)
    assert int(edge.timestamp()) % 13 == 0
    for at, ms in ((edge - timedelta(seconds=1), 10.0), (edge, 20.0), (edge, 40.0)):
        services.samples_record(
            samples=[Sample(plate.pk, plate.name, SampleKind.INFERENCE, at, ms / 1000)]
        )
    result = selectors.latency_history(model=plate, since_minutes=1, bucket_seconds=13, now=NOW)
    filled = {s.start: s.stats for s in result.snapshots if s.stats is not None}
    assert [(start, stats.sample_count, stats.avg_ms) for start, stats in filled.items()] == [
        (edge - timedelta(seconds=13), 1, 10.0),
        (edge, 2, 30.0),
    ]


@given(
    size=st.integers(min_value=10, max_value=3600),
    first_bucket=st.integers(min_value=0, max_value=10**6),
    count=st.integers(min_value=1, max_value=40),
)
def test_the_tiling_covers_every_bucket_exactly_once_with_aligned_intervals(
    size, first_bucket, count
):
    first = first_bucket * size
    covered = np.zeros(count * size, dtype=np.int64)
    for grain, starts in selectors.tiling(first, size, count).items():
        assert grain in GRAINS
        assert np.all(starts % grain == 0)  # a stored interval, clock-aligned
        # Each interval lies inside one bucket.
        assert np.all((starts - first) // size == (starts + grain - 1 - first) // size)
        for start in starts.tolist():
            covered[start - first : start - first + grain] += 1
    assert np.all(covered == 1)


def test_an_hour_bucket_is_one_roll_up_and_a_305_second_one_a_few():
    hours = selectors.tiling(0, 3600, 24)
    assert list(hours) == [3600] and len(hours[3600]) == 24
    odd = selectors.tiling(305 * 1000, 305, 284)
    rows = sum(len(starts) for starts in odd.values())
    assert rows < 284 * 20  # not 305 seconds each
    assert len(odd[1]) == 284 * 5  # five seconds at one edge of each bucket


# --- the stored sketch -----------------------------------------------------------------


@given(st.lists(st.floats(min_value=1e-4, max_value=1e7), min_size=1, max_size=200))
def test_a_merged_sketch_holds_every_sample_of_its_parts(values):
    half = len(values) // 2
    merged = sketch.merge(sketch.of_durations(values[:half]), sketch.of_durations(values[half:]))
    assert merged == sketch.of_durations(values)
    bins = sketch.as_dict(merged)
    assert sum(bins.values()) == len(values)
    assert list(bins) == sorted(bins)
    assert bins == {b: list(map(sketch.bin_of, values)).count(b) for b in bins}


def test_grouped_percentiles_merge_the_sketches_of_each_group():
    rng = np.random.default_rng(3)
    groups = [rng.lognormal(3, 1, size=n).tolist() for n in (1, 7, 120, 33)]
    # Group 2 is split over three sketches, given out of order; the others are one each.
    parts = [groups[0], groups[1], groups[2][:50], groups[2][50:60], groups[2][60:], groups[3]]
    owner = np.array([0, 1, 2, 2, 2, 3])
    order = [4, 0, 2, 1, 3, 5]
    blobs = [sketch.of_durations(parts[i]) for i in order]
    found = sketch.grouped_percentiles(
        owner[order],
        np.array([len(blob) // 8 for blob in blobs]),
        np.frombuffer(b"".join(blobs), sketch.PAIR).reshape(-1, 2),
        np.array([len(g) for g in groups]),
        (50, 95),
    )
    for values, (p50, p95) in zip(groups, found.tolist(), strict=True):
        for percent, reported in ((50, p50), (95, p95)):
            truth = float(np.percentile(values, percent, method="inverted_cdf"))
            assert within_alpha(reported, truth)


@pytest.mark.parametrize("in_sql", [True, False], ids=["sql", "numpy"])
def test_rebuilding_roll_ups_from_raw_samples_gives_what_the_recorder_stored(
    plate, monkeypatch, in_sql
):
    if in_sql and not services.rebuild_in_sql():
        pytest.skip("SQL rebuild is PostgreSQL's")
    monkeypatch.setattr(services, "rebuild_in_sql", lambda: in_sql)
    spread(plate, seed=5, count=800, hours=0.5)
    fields = ("model_id", "grain", "start", "count", "total_ms", "sketch")
    recorded = {r[:3]: r[3:] for r in LatencyRollup.objects.values_list(*fields)}
    LatencyRollup.objects.all().delete()
    services.rollups_rebuild(grains=GRAINS, since=NOW - timedelta(days=1), until=NOW)
    rebuilt = {r[:3]: r[3:] for r in LatencyRollup.objects.values_list(*fields)}
    assert set(rebuilt) == set(recorded)
    for key, (count, total, blob) in recorded.items():
        assert rebuilt[key][0] == count
        assert rebuilt[key][1] == pytest.approx(total)
        assert bytes(rebuilt[key][2]) == bytes(blob)


def test_every_statement_of_a_history_read_is_in_djangos_query_log(plate):
    """The binary-format read goes through Django's cursor wrapper like any other, so
    query counts (and execute wrappers) see it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    spread(plate, seed=3, count=200)
    seen: list[str] = []

    def watch(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(watch):
        result = selectors.latency_history(
            model=plate, since_minutes=130, bucket_seconds=60, now=NOW
        )

    assert sum(s.stats.sample_count for s in result.snapshots if s.stats) == 200
    logged = [query["sql"] for query in captured.captured_queries]
    assert any("latency_latencyrollup" in sql for sql in logged), logged
    assert len(seen) == len(logged)
