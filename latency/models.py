"""Latency tables: every sample as it was measured, and the roll-ups that answer history.

Raw samples are kept for ``ZOO_LATENCY_RAW_RETENTION_DAYS``; roll-ups much longer
(``ZOO_LATENCY_ROLLUP_RETENTION_DAYS``). Model and device are plain ids without a
database constraint: a sample outlives the registry entry or device row it names
(deleting a model must not wait on ten million rows), and is pruned with its age.
"""

from __future__ import annotations

from django.db import models

from latency.sketch import as_dict


class SampleKind(models.IntegerChoices):
    INFERENCE = 1, "inference"
    LOAD = 2, "load"


class LatencySample(models.Model):
    """One measured call on a worker: an inference (``predict``) or a model load."""

    id = models.BigAutoField(primary_key=True)
    model = models.ForeignKey(
        "models_registry.ModelEntry",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    kind = models.PositiveSmallIntegerField(choices=SampleKind.choices)
    recorded_at = models.DateTimeField(help_text="When the call finished (UTC).")
    duration_ms = models.FloatField()
    cold = models.BooleanField(
        default=False, help_text="The call paid for a load (the model was not in memory)."
    )
    device = models.ForeignKey(
        "fleet.Device",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    worker = models.CharField(max_length=160, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["model", "kind", "recorded_at"], name="sample_model_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.get_kind_display()} {self.duration_ms:.1f} ms"


class LatencyRollup(models.Model):
    """The inferences of one model in one clock-aligned interval of ``grain`` seconds:
    their count, summed duration, and a sketch of their durations (``sketch``: how many
    fell in each logarithmic bin, as packed integer pairs, see ``latency.sketch``).

    Merging intervals is adding their counts, so any history bucket that roll-ups tile
    (every bucket does: the finest grain is a second) gets exact counts and averages,
    and percentiles within ``sketch.ALPHA`` of the exact ones. One row per interval
    keeps a day of 5-minute buckets at 288 rows per model, however many samples they
    hold.
    """

    id = models.BigAutoField(primary_key=True)
    model = models.ForeignKey(
        "models_registry.ModelEntry",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    grain = models.PositiveIntegerField(help_text="Interval length in seconds.")
    start = models.BigIntegerField(help_text="Interval start, seconds since the epoch (UTC).")
    count = models.BigIntegerField(default=0)
    total_ms = models.FloatField(default=0.0)
    sketch = models.BinaryField(
        default=b"", help_text="Samples per log bin: (bin, count) pairs, big-endian int32."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model", "grain", "start"], name="unique_latency_rollup"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}@{self.start}/{self.grain}s: {self.count}"

    @property
    def bins(self) -> dict[int, int]:
        """The sketch as ``{bin: count}``, for reading by people."""
        return as_dict(self.sketch)


class LatencyTotal(models.Model):
    """Running totals per model and kind since the service began, in the fixed
    buckets of the Prometheus histograms; never pruned, so the counters only grow."""

    model_name = models.CharField(max_length=100)
    kind = models.PositiveSmallIntegerField(choices=SampleKind.choices)
    le_index = models.PositiveSmallIntegerField(
        help_text="Index into storage.HISTOGRAM_BUCKETS of the smallest bound >= duration."
    )
    count = models.BigIntegerField(default=0)
    total_s = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_name", "kind", "le_index"], name="unique_latency_total"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.get_kind_display()} le#{self.le_index}: {self.count}"
