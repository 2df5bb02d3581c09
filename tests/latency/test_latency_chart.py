"""The server-drawn latency chart: gaps break the lines, single buckets still show,
values land inside the plot on a round scale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from latency.charts import history_chart
from latency.selectors import BucketStats, History, Snapshot

START = datetime(2026, 1, 4, 10, tzinfo=UTC)


def history(*stats: BucketStats | None) -> History:
    return History(
        model_name="m",
        display_name="M",
        snapshots=[Snapshot(START + timedelta(minutes=i), s) for i, s in enumerate(stats)],
        window_minutes=len(stats),
        bucket_seconds=60,
        taken_at=START,
        source="rollup",
    )


def stats(ms: float) -> BucketStats:
    return BucketStats(avg_ms=ms, p50_ms=ms * 0.9, p95_ms=ms * 1.5, sample_count=3)


def test_an_empty_bucket_breaks_the_line_and_every_bucket_with_data_gets_a_dot():
    chart = history_chart(history(stats(10), None, stats(20), stats(30)))
    p50 = next(series for series in chart.series if series.key == "p50")
    assert len(p50.dots) == 3
    assert len(p50.segments) == 1 and len(p50.segments[0].split()) == 2  # buckets 2 and 3
    assert not chart.empty


def test_values_fall_inside_the_plot_under_a_round_ceiling():
    chart = history_chart(history(stats(30), stats(40)))
    left, top, right, bottom = chart.plot
    assert [label for _, label in chart.y_ticks] == ["0 ms", "25 ms", "50 ms", "75 ms", "100 ms"]
    for series in chart.series:
        for x, y in series.dots:
            assert left <= x <= right and top <= y <= bottom
    p95 = next(series for series in chart.series if series.key == "p95")
    assert p95.dots[1][1] == round(bottom - (bottom - top) * 60 / 100, 1)  # 60 ms of 100
    assert [anchor for _, _, anchor in chart.x_ticks] == ["start", "end"]


def test_a_window_without_data_is_marked_empty():
    chart = history_chart(history(None, None))
    assert chart.empty and all(not s.dots and not s.segments for s in chart.series)
