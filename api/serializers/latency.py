"""Serializers of the latency history (Model Zoo document, field for field)."""

from __future__ import annotations

from rest_framework import serializers

from latency import sketch
from latency.selectors import Snapshot

PERCENTILE_NOTE = (
    "Nearest-rank percentile: the smallest latency with at least p% of the bucket's "
    "samples at or below it (numpy method='inverted_cdf', PostgreSQL percentile_disc). "
    "For bucket sizes that are a multiple of 10 s it is read from logarithmic roll-ups "
    f"and is within {sketch.ALPHA:.1%} of the exact value; other bucket sizes are computed "
    "exactly from the raw samples."
)


class LatencyStatsSerializer(serializers.Serializer):
    avg_ms = serializers.FloatField(help_text="Average latency in milliseconds (exact).")
    p50_ms = serializers.FloatField(help_text="50th percentile (median). " + PERCENTILE_NOTE)
    p95_ms = serializers.FloatField(help_text="95th percentile. " + PERCENTILE_NOTE)
    sample_count = serializers.IntegerField(help_text="Number of samples in this time bucket.")


class LatencySnapshotSerializer(serializers.Serializer):
    timestamp = serializers.SerializerMethodField(
        help_text="Start of the bucket: a multiple of bucket_seconds since the epoch, UTC."
    )
    stats = LatencyStatsSerializer(
        allow_null=True, help_text="null when no inference ran during the bucket."
    )

    def get_timestamp(self, snapshot: Snapshot) -> str:
        return snapshot.start.isoformat()


class LatencyHistorySerializer(serializers.Serializer):
    model_name = serializers.CharField(help_text="Model identifier")
    display_name = serializers.CharField(help_text="Human-readable display name")
    snapshots = LatencySnapshotSerializer(
        many=True,
        help_text=(
            "Chronologically ordered, clock-aligned buckets from the one holding the "
            "window's start to the (partial) one holding now."
        ),
    )
    window_minutes = serializers.IntegerField(help_text="Time window covered by the history")
    bucket_seconds = serializers.IntegerField(help_text="Bucket size used for aggregation")
    has_data = serializers.BooleanField(
        help_text="Whether any latency data exists for this model in the window"
    )
    timestamp = serializers.DateTimeField(
        source="taken_at", help_text="Timestamp when history was retrieved"
    )
