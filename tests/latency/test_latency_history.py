"""GET /api/system/model-zoo/latency/history: parameters, clock-aligned buckets, and
statistics that match numpy on known data."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latency import selectors, services, sketch
from latency.models import SampleKind
from latency.services import Sample
from models_registry.models import ModelEntry

URL = "/api/system/model-zoo/latency/history"
NOW = datetime(2026, 1, 4, 10, 30, 15, tzinfo=UTC)


def record(model: ModelEntry, at: datetime, *durations_ms: float) -> None:
    services.samples_record(
        samples=[
            Sample(model.pk, model.name, SampleKind.INFERENCE, at, ms / 1000) for ms in durations_ms
        ]
    )


def history(model: ModelEntry, since: int = 60, bucket: int = 60, now: datetime = NOW):
    return selectors.latency_history(
        model=model, since_minutes=since, bucket_seconds=bucket, now=now
    )


@pytest.fixture
def plate(db) -> ModelEntry:
    return ModelEntry.objects.get(name="yolo11-license-plate")


# --- parameters ------------------------------------------------------------------------


# The home-security backend refuses these with a 422 (its tests assert it for a missing
# model; its query declarations bound since and bucket_seconds): so does this API.
@pytest.mark.parametrize(
    "query, message, value",
    [
        ("", "Missing required query parameter: model", None),
        ("model=yolo11-face&since=0", "since must be between 1 and 1440, got 0", "0"),
        ("model=yolo11-face&since=1441", "since must be between 1 and 1440, got 1441", "1441"),
        ("model=yolo11-face&since=-5", "since must be between 1 and 1440, got -5", "-5"),
        ("model=yolo11-face&since=abc", "since must be an integer, got 'abc'", "abc"),
        ("model=yolo11-face&since=1.5", "since must be an integer, got '1.5'", "1.5"),
        (
            "model=yolo11-face&bucket_seconds=9",
            "bucket_seconds must be between 10 and 3600, got 9",
            "9",
        ),
        (
            "model=yolo11-face&bucket_seconds=3601",
            "bucket_seconds must be between 10 and 3600, got 3601",
            "3601",
        ),
        (
            "model=yolo11-face&bucket_seconds=1e3",
            "bucket_seconds must be an integer, got '1e3'",
            "1e3",
        ),
    ],
)
def test_it_refuses_bad_values_with_the_originals_422(api, db, query, message, value):
    response = api.get(f"{URL}?{query}")

    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == message
    field = "query." + (query.rsplit("&", 1)[-1].split("=")[0] if "&" in query else "model")
    assert body["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "Request validation failed",
        "errors": [{"field": field, "message": message, "value": value}],
    }


@pytest.mark.parametrize(
    "query, message",
    [
        ("model=", "Query parameter without a value: model"),
        ("model=yolo11-face&window=5", "Unknown query parameter: window"),
        ("model=yolo11-face&model=yolo11-face", "Query parameter given more than once: model"),
    ],
)
def test_it_refuses_malformed_query_strings_with_a_json_400(api, db, query, message):
    response = api.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert response.json() == {"detail": message}


def test_an_unknown_model_is_a_404_with_a_json_body(api, db):
    response = api.get(f"{URL}?model=no-such-model")
    assert response.status_code == 404
    assert response.json() == {"detail": "Model 'no-such-model' not found in registry"}


@pytest.mark.parametrize(
    "since, bucket, buckets", [(1, 10, 7), (1440, 3600, 25), (1, 3600, 1), (60, 60, 61)]
)
def test_it_accepts_the_boundaries_and_returns_the_documented_fields(
    api, plate, since, bucket, buckets
):
    response = api.get(f"{URL}?model={plate.name}&since={since}&bucket_seconds={bucket}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "model_name", "display_name", "snapshots", "window_minutes", "bucket_seconds",
        "has_data", "timestamp",
    }  # fmt: skip
    assert body["model_name"] == "yolo11-license-plate"
    assert body["display_name"] == "YOLO11 License Plate"
    assert (body["window_minutes"], body["bucket_seconds"]) == (since, bucket)
    assert body["has_data"] is False
    # The window may straddle one more bucket boundary than it spans.
    assert len(body["snapshots"]) in (buckets, buckets + 1)
    assert all(snapshot["stats"] is None for snapshot in body["snapshots"])


def test_the_defaults_are_an_hour_in_minute_buckets(api, plate):
    body = api.get(f"{URL}?model={plate.name}").json()
    assert (body["window_minutes"], body["bucket_seconds"]) == (60, 60)
    assert len(body["snapshots"]) == 61


def test_a_recorded_inference_shows_in_the_current_bucket_through_the_api(api, plate):
    record(plate, datetime.now(UTC), 42.0, 58.0)
    body = api.get(f"{URL}?model={plate.name}&since=5&bucket_seconds=10").json()
    assert body["has_data"] is True
    last = body["snapshots"][-1]
    assert last["timestamp"].endswith("+00:00")
    started = datetime.fromisoformat(last["timestamp"])
    assert started.second % 10 == 0 and started.microsecond == 0
    assert last["stats"]["sample_count"] == 2
    assert last["stats"]["avg_ms"] == 50.0
    assert body["timestamp"].endswith("Z")


# --- buckets ---------------------------------------------------------------------------


def test_buckets_are_aligned_to_the_clock_and_in_time_order(plate):
    result = history(plate, since=60, bucket=300)
    starts = [snapshot.start for snapshot in result.snapshots]
    assert starts[0] == datetime(2026, 1, 4, 9, 30, tzinfo=UTC)
    assert starts[-1] == datetime(2026, 1, 4, 10, 30, tzinfo=UTC)  # holds 10:30:15
    assert all(b - a == timedelta(seconds=300) for a, b in itertools.pairwise(starts))


def test_the_current_partial_bucket_is_returned_with_its_samples(plate):
    record(plate, NOW - timedelta(seconds=5), 30.0)  # 10:30:10, in the bucket of 10:30
    last = history(plate).snapshots[-1]
    assert last.start == datetime(2026, 1, 4, 10, 30, tzinfo=UTC)
    assert last.stats is not None and last.stats.sample_count == 1


def test_a_window_shorter_than_a_bucket_gets_the_bucket_that_holds_it(plate):
    record(plate, NOW - timedelta(minutes=20), 12.0)  # 10:10:15
    one = history(plate, since=1, bucket=3600)
    assert [s.start for s in one.snapshots] == [datetime(2026, 1, 4, 10, tzinfo=UTC)]
    assert one.snapshots[0].stats is not None and one.snapshots[0].stats.sample_count == 1
    # Just after the hour, a minute's window straddles two hourly buckets.
    straddling = history(
        plate, since=1, bucket=3600, now=datetime(2026, 1, 4, 10, 0, 30, tzinfo=UTC)
    )
    assert [s.start.hour for s in straddling.snapshots] == [9, 10]


def test_empty_buckets_have_null_stats_and_has_data_says_whether_any_has_data(plate):
    record(plate, NOW - timedelta(minutes=10), 20.0)  # 10:20:15
    result = history(plate, since=30, bucket=60)
    filled = [s for s in result.snapshots if s.stats is not None]
    assert [s.start for s in filled] == [datetime(2026, 1, 4, 10, 20, tzinfo=UTC)]
    assert len(result.snapshots) == 31 and result.has_data
    assert history(plate, since=5, bucket=60).has_data is False  # the sample is older


def test_samples_outside_the_window_and_of_other_models_and_loads_are_left_out(plate):
    face = ModelEntry.objects.get(name="yolo11-face")
    record(plate, NOW - timedelta(hours=2), 500.0)
    record(face, NOW - timedelta(minutes=1), 500.0)
    services.samples_record(
        samples=[Sample(plate.pk, plate.name, SampleKind.LOAD, NOW - timedelta(minutes=1), 2.0)]
    )
    assert not history(plate).has_data


# --- statistics against numpy ----------------------------------------------------------


def exact(values: list[float], q: int) -> float:
    return float(np.percentile(values, q, method="inverted_cdf"))


def within_alpha(reported: float, expected: float) -> bool:
    """The sketch's promise: at most ALPHA relative error (reached at a bin's edge),
    plus the API's rounding to a thousandth of a millisecond."""
    return abs(reported - expected) <= sketch.ALPHA * expected * (1 + 1e-9) + 0.0005


@pytest.mark.parametrize("bucket", [60, 15])  # one minute roll-up; 10 s and seconds
def test_statistics_match_numpy_on_known_data(plate, bucket):
    values = [10.0, 20.0, 30.0, 40.0]
    record(plate, datetime(2026, 1, 4, 10, 29, 1, tzinfo=UTC), *values)
    stats = next(s.stats for s in history(plate, bucket=bucket).snapshots if s.stats)
    assert stats.sample_count == 4
    assert stats.avg_ms == pytest.approx(np.mean(values))
    assert within_alpha(stats.p50_ms, exact(values, 50))  # 20, not 25
    assert within_alpha(stats.p95_ms, exact(values, 95))


def test_many_samples_across_buckets_match_numpy_per_bucket(plate):
    rng = np.random.default_rng(7)
    by_minute = {}
    for minute in range(10):
        values = list(rng.lognormal(mean=3.5, sigma=0.6, size=200 + 37 * minute))
        at = datetime(2026, 1, 4, 10, 10 + minute, 5, tzinfo=UTC)
        record(plate, at, *values)
        by_minute[at.replace(second=0)] = values
    for bucket in (60, 20):  # from the minute roll-ups, from the 10 s ones
        filled = [s for s in history(plate, bucket=bucket).snapshots if s.stats is not None]
        assert [s.start for s in filled] == list(by_minute)
        for snapshot in filled:
            values = by_minute[snapshot.start]
            assert snapshot.stats is not None
            assert snapshot.stats.sample_count == len(values)
            assert snapshot.stats.avg_ms == pytest.approx(np.mean(values), abs=1e-3)
            assert within_alpha(snapshot.stats.p50_ms, exact(values, 50))
            assert within_alpha(snapshot.stats.p95_ms, exact(values, 95))


def test_a_bucket_size_no_coarse_grain_divides_is_tiled_with_seconds_at_its_edges(plate):
    rng = np.random.default_rng(11)
    values = [float(v) for v in rng.lognormal(mean=2.0, sigma=1.0, size=301)]
    # 10:29:49 starts a 17 s bucket: its samples are in the bucket's first second, and
    # in a 10 s roll-up (10:29:40) that straddles the bucket's edge.
    record(plate, datetime(2026, 1, 4, 10, 29, 49, tzinfo=UTC), *values)
    stats = next(s.stats for s in history(plate, bucket=17).snapshots if s.stats)
    assert stats.sample_count == 301
    assert stats.avg_ms == pytest.approx(np.mean(values), abs=1e-3)
    assert within_alpha(stats.p50_ms, exact(values, 50))
    assert within_alpha(stats.p95_ms, exact(values, 95))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.floats(min_value=0.05, max_value=60_000), min_size=1, max_size=120))
def test_rolled_up_percentiles_are_within_alpha_of_exact_for_any_data(plate, values):
    from latency.models import LatencyRollup

    LatencyRollup.objects.all().delete()
    record(plate, datetime(2026, 1, 4, 10, 29, 59, tzinfo=UTC), *values)
    stats = next(s.stats for s in history(plate, bucket=60).snapshots if s.stats)
    assert stats.sample_count == len(values)
    assert within_alpha(stats.p50_ms, exact(values, 50))
    assert within_alpha(stats.p95_ms, exact(values, 95))
