"""The latency history benchmark, run small: every bucket size it races is exact against
the raw rows, and it leaves its database holding only what its fill put there."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Sum

from latency.models import LatencyRollup, LatencySample, LatencyTotal
from latency.storage import GRAINS


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bench fills by PostgreSQL")
def test_the_bench_races_each_bucket_size_and_leaves_nothing_beyond_its_fill(db):
    from bench import latency_history as bench

    result = bench.run(samples=3000, rounds=1, calls=20)

    assert [row["bucket_seconds"] for row in result["history"]] == [10, 60, 305, 3600]
    for row in result["history"]:
        assert row["count_or_avg_mismatches"] == row["percentiles_outside_bound"] == 0
        assert row["samples_in_window"] > 0 and row["previous_ms"] > 0
    assert result["history"][2]["previous_path"] == "raw samples"
    assert result["recording"]["flushed_samples"] == 20 + 1  # one round, and the warm-up
    assert set(result["left_behind"].values()) == {0}
    # Checked apart from the bench's own accounting: the fill writes no running totals,
    # and every grain's roll-ups hold the filled samples once.
    assert LatencySample.objects.count() == 3000
    assert not LatencyTotal.objects.exists()
    for grain in GRAINS:
        filled = LatencyRollup.objects.filter(grain=grain).aggregate(n=Sum("count"))["n"]
        assert filled == 3000, grain
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_previous_rollup')")
        assert cursor.fetchone() == (None,)
