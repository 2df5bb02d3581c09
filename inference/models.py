"""Work for the GPU workers: enrichment batches (frames with detections, and the results
of every model they triggered), task-inference requests, and the per-model work items a
device's scheduler serves them by.

Frame images live in the database (or, for frames given by path, under the configured
media root), so any worker on any machine sharing the database can run any batch.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from fleet.models import Device


class WorkStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class EnrichmentBatch(models.Model):
    """A batch of frames with detections, enriched by the zoo models they trigger.

    ``worker`` names the process that claimed it: if that process dies (its device's
    owner changes or its heartbeat goes stale) the batch is dispatched again, and the
    results already stored are kept. ``submitted_by`` owns it: only that user and staff
    read it (a batch without one, from before owners were kept, is staff's alone).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=10, choices=WorkStatus.choices, default=WorkStatus.QUEUED)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="batches"
    )
    worker = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "enrichment batches"
        indexes = [
            models.Index(fields=["status", "dispatched_at"]),
            models.Index(fields=["finished_at"], name="batch_finished_at"),  # pruning
        ]

    def __str__(self) -> str:
        return f"batch {self.id} ({self.status})"


class Frame(models.Model):
    """One image of a batch: its bytes, or a path under the media root."""

    batch = models.ForeignKey(EnrichmentBatch, on_delete=models.CASCADE, related_name="frames")
    index = models.PositiveIntegerField()
    data = models.BinaryField(null=True, blank=True)
    path = models.CharField(max_length=500, blank=True, help_text="Relative to ZOO_MEDIA_ROOT.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Meta:
        ordering = ["batch", "index"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "index"], name="unique_frame_index"),
        ]

    def __str__(self) -> str:
        return f"frame {self.index} of {self.batch_id}"


class Detection(models.Model):
    """A detection the pipeline found in a frame: label, box in pixels, confidence."""

    frame = models.ForeignKey(Frame, on_delete=models.CASCADE, related_name="detections")
    index = models.PositiveIntegerField()
    label = models.CharField(max_length=100)
    x1 = models.FloatField()
    y1 = models.FloatField()
    x2 = models.FloatField()
    y2 = models.FloatField()
    confidence = models.FloatField()

    class Meta:
        ordering = ["frame", "index"]
        constraints = [
            models.UniqueConstraint(fields=["frame", "index"], name="unique_detection_index"),
        ]

    def __str__(self) -> str:
        return f"{self.label} in {self.frame}"

    @property
    def bbox(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]


class EnrichmentResult(models.Model):
    """What one model said about one detection (or, for all-frames models, one frame)."""

    batch = models.ForeignKey(EnrichmentBatch, on_delete=models.CASCADE, related_name="results")
    frame = models.ForeignKey(Frame, on_delete=models.CASCADE, related_name="results")
    detection = models.ForeignKey(
        Detection, null=True, blank=True, on_delete=models.CASCADE, related_name="results"
    )
    model_name = models.CharField(max_length=100)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["detection", "model_name"],
                condition=Q(detection__isnull=False),
                name="unique_detection_result",
            ),
            models.UniqueConstraint(
                fields=["frame", "model_name"],
                condition=Q(detection__isnull=True),
                name="unique_frame_result",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} on {self.detection or self.frame}"


class InferenceRequest(models.Model):
    """A task inference (``POST /api/models/infer``): the task's model run on one image.

    ``submitted_by`` owns it: only that user and staff read it (one without an owner,
    from before owners were kept, is staff's alone). The image is released once the
    request is finished.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task_type = models.CharField(max_length=40)
    model_name = models.CharField(max_length=100)
    image = models.BinaryField()
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=WorkStatus.choices, default=WorkStatus.QUEUED)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="inferences"
    )
    worker = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    out_of_memory = models.BooleanField(default=False)
    unavailable = models.BooleanField(
        default=False,
        help_text="Failed because a remote model's server or provider did not answer (a 503).",
    )
    load_s = models.FloatField(null=True, blank=True)
    inference_s = models.FloatField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["finished_at"], name="inference_finished_at")]

    def __str__(self) -> str:
        return f"{self.task_type} inference {self.id} ({self.status})"


class InferenceFrame(models.Model):
    """A further frame of a several-frame inference (``video_summarization``): the first
    is the request's ``image``, these follow it by ``index`` (1, 2, ...). Their bytes are
    released with the image when the request finishes."""

    request = models.ForeignKey(InferenceRequest, on_delete=models.CASCADE, related_name="frames")
    index = models.PositiveSmallIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["request", "index"]
        constraints = [
            models.UniqueConstraint(fields=["request", "index"], name="unique_inference_frame"),
        ]

    def __str__(self) -> str:
        return f"frame {self.index} of {self.request_id}"


class WorkKind(models.TextChoices):
    BATCH = "batch", "One model on one batch's frames or detections"
    INFERENCE = "inference", "A task inference"
    LOAD = "load", "An explicit load"


class WorkItem(models.Model):
    """One model's share of a piece of work, waiting on (or served by) one device.

    A batch becomes one item per model it triggers ("run pet-classifier on these 4 crops
    of batch A"), a task inference or an explicit load one item. The device's worker
    serves its items model by model (``inference.scheduling``): every pending item of a
    model while it is loaded. An item of ``stage`` 1 (OCR, which reads the plates the
    detectors found) waits until its batch's stage-0 items are finished.

    ``targets`` lists the item's (frame index, detection index or null) pairs; a batch
    is done when its last item is. If the device's worker dies, its unfinished items
    move to a live device (the sweeper); results already stored are kept.
    """

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=10, choices=WorkKind.choices)
    model_name = models.CharField(max_length=100)
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="work_items"
    )
    batch = models.ForeignKey(
        EnrichmentBatch, null=True, blank=True, on_delete=models.CASCADE, related_name="items"
    )
    request = models.ForeignKey(
        InferenceRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="items"
    )
    targets = models.JSONField(default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in its batch's plan.")
    stage = models.PositiveSmallIntegerField(default=0)
    priority = models.SmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=WorkStatus.choices, default=WorkStatus.QUEUED)
    worker = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "position"]
        indexes = [models.Index(fields=["device", "status"], name="workitem_device_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "model_name"],
                condition=Q(batch__isnull=False),
                name="unique_batch_model_item",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.kind} item {self.pk} ({self.status})"
