"""The catalog: models, tasks and their selections, settings, trigger rules — what
operators edit. What workers do with these models is ``fleet``'s.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q


class Category(models.TextChoices):
    """Registry categories, as the Model Zoo document names them, plus the task kinds."""

    DETECTION = "detection", "Detection"
    CLASSIFICATION = "classification", "Classification"
    SEGMENTATION = "segmentation", "Segmentation"
    POSE = "pose", "Pose"
    DEPTH = "depth-estimation", "Depth Estimation"
    EMBEDDING = "embedding", "Embedding"
    OCR = "ocr", "OCR"
    ACTION_RECOGNITION = "action-recognition", "Action Recognition"
    TRACKING = "tracking", "Tracking"
    VISION_LANGUAGE = "vision-language", "Vision-Language"
    QUALITY = "quality", "Image Quality"
    EXTERNAL_API = "external-api", "External API"


class Loader(models.TextChoices):
    """How the worker turns a registry entry into a model in memory."""

    ULTRALYTICS = "ultralytics", "Ultralytics"
    TRANSFORMERS = "transformers", "Transformers"
    TORCH = "torch", "PyTorch / safetensors"
    EXTERNAL = "external", "External API (no local weights)"
    SERVER = "server", "Separate inference server (sglang, vllm)"


class Speed(models.TextChoices):
    FAST = "fast", "Fast"
    MEDIUM = "medium", "Medium"
    SLOW = "slow", "Slow"


class MemoryUnit(models.TextChoices):
    """The unit a task option's requirement is published in (``vram_mb`` or ``vram_gb``)."""

    MB = "mb", "MB"
    GB = "gb", "GB"


class TaskType(models.TextChoices):
    """The Model Management document's three tasks."""

    VIDEO_SUMMARIZATION = "video_summarization", "Video summarization"
    OBJECT_DETECTION = "object_detection", "Object detection"
    OBJECT_TRACKING = "object_tracking", "Object tracking"


class ModelEntry(models.Model):
    """One model of the registry, whether an enrichment-zoo model, a task option, or both.

    ``vram_mb`` is the registry's estimate; what a worker measured after a load lives in
    ``ModelState.measured_mb`` beside it, and admission counts the larger of the two.
    """

    name = models.CharField(
        max_length=100,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                "Letters, digits, dots, dashes and underscores; no spaces or slashes.",
            )
        ],
    )
    display_name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=32, choices=Category.choices)
    model_id = models.CharField(
        max_length=300, blank=True, help_text="Hugging Face model id or local name."
    )
    path = models.CharField(
        max_length=500, blank=True, help_text="Local weights file or folder, or a hub path."
    )
    loader = models.CharField(max_length=20, choices=Loader.choices)
    framework = models.CharField(
        max_length=50, blank=True, help_text="Inference framework, as the task option shows it."
    )
    vram_mb = models.PositiveIntegerField(help_text="Estimated memory when loaded, in MB.")
    vram_unit = models.CharField(
        max_length=2,
        choices=MemoryUnit.choices,
        default=MemoryUnit.MB,
        help_text="Whether the Model Management API shows vram_mb or vram_gb.",
    )
    server_url = models.CharField(
        max_length=500,
        blank=True,
        help_text=(
            "A server-run option's OpenAI-compatible base URL, e.g. http://gpu-box:30000/v1 "
            "(ZOO_SERVER_URL_<NAME> in the environment wins over it); for an external API "
            "option, its provider's base URL override."
        ),
    )
    server_device = models.CharField(
        max_length=20,
        blank=True,
        help_text=(
            "The device of this service's fleet its server runs on (cpu, cuda:N, sim:N): "
            "that device's worker reserves vram_mb there while the server answers."
        ),
    )
    speed = models.CharField(max_length=10, choices=Speed.choices, blank=True)
    fps = models.FloatField(null=True, blank=True)
    in_zoo = models.BooleanField(
        default=False, help_text="Part of the enrichment zoo (listed by the Model Zoo API)."
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    pinned = models.BooleanField(
        default=False, help_text="Never evicted to make room for another model."
    )
    priority = models.IntegerField(default=0, help_text="Higher priority models are evicted last.")
    position = models.PositiveIntegerField(
        default=0, help_text="Order within the registry, as the documents list the models."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = "model"
        verbose_name_plural = "models"

    def __str__(self) -> str:
        return self.name


class Task(models.Model):
    """A task of the Model Management API and the model selected for it.

    The selection lives here, in the database, so it survives restarts.
    """

    name = models.CharField(max_length=40, primary_key=True, choices=TaskType.choices)
    selected = models.ForeignKey(
        ModelEntry,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="selected_for",
    )
    options = models.ManyToManyField(ModelEntry, through="TaskOption", related_name="tasks")
    priority = models.PositiveSmallIntegerField(
        default=10,
        help_text=(
            "How soon a worker serves this task's work: its inferences and the loads of "
            "its selected model go before work of a lower priority (enrichment backlog "
            "is 0); the most critical task gets the highest number."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TaskOption(models.Model):
    """A model offered for a task, in the order the configuration lists it."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="task_options")
    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="task_options")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["task", "position", "model__name"]
        constraints = [
            models.UniqueConstraint(fields=["task", "model"], name="unique_task_option"),
        ]

    def __str__(self) -> str:
        return f"{self.task_id}: {self.model}"


class EvictionPolicy(models.TextChoices):
    """When idle models leave memory.

    All three evict idle models, least recently used and lowest priority first, when a
    load needs room; they differ in what happens to a model nobody is using.
    """

    LRU = "lru", "LRU: stay resident until the room is needed"
    AFTER_BATCH = "after_batch", "After batch: unload when the batch that used it ends"
    KEEP_ALIVE = "keep_alive", "Keep alive: unload after keep_alive_s idle seconds"


class InferenceSettings(models.Model):
    """The global inference settings: a single row (pk 1), edited in the admin."""

    max_memory_per_model = models.FloatField(
        default=24.0, validators=[MinValueValidator(0.0)], help_text="GB."
    )
    offload_threshold = models.FloatField(
        default=0.8,
        validators=[MinValueValidator(0.05), MaxValueValidator(1.0)],
        help_text="Share of a device's memory that models may use.",
    )
    warmup_on_startup = models.BooleanField(default=True)
    default_batch_size = models.PositiveIntegerField(default=1)
    max_batch_size = models.PositiveIntegerField(default=8)
    zoo_vram_budget_mb = models.PositiveIntegerField(
        default=1650, help_text="The enrichment zoo's pool on each device, in MB."
    )
    # The Model Management document's "graceful degradation: falls back to CPU if GPU is
    # full" is for its task models; the zoo's budget is the Model Zoo document's, which
    # has no CPU, so the zoo stays on the GPU unless an operator says otherwise.
    cpu_fallback = models.BooleanField(
        default=True,
        help_text=(
            "Task models (the Model Management API's): place one that does not fit on the "
            "GPU on the CPU instead of refusing it."
        ),
    )
    zoo_cpu_fallback = models.BooleanField(
        default=False,
        help_text=(
            "Zoo models (enrichment): place one that does not fit the zoo pool or the GPU "
            "on the CPU instead of refusing it."
        ),
    )
    eviction_policy = models.CharField(
        max_length=20,
        choices=EvictionPolicy.choices,
        default=EvictionPolicy.LRU,
        help_text="Which idle models make room, and when idle models are unloaded.",
    )
    keep_alive_s = models.PositiveIntegerField(
        default=300, help_text="With the keep_alive policy: unload a model idle this long."
    )
    catalog_version = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="The built-in catalog last installed; it is installed once, never again.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "inference settings"
        verbose_name_plural = "inference settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(default_batch_size__lte=models.F("max_batch_size")),
                name="default_batch_within_max",
            ),
        ]

    def __str__(self) -> str:
        return "Inference settings"

    @classmethod
    def load(cls) -> InferenceSettings:
        """The settings row, created with the defaults if it does not exist yet."""
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class TriggerRule(models.Model):
    """A detection label that triggers a zoo model; label ``*`` means every frame."""

    ALL_FRAMES = "*"

    label = models.CharField(max_length=100, help_text="Detection label, or * for all frames.")
    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="triggers")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "label", "model__name"]
        constraints = [
            models.UniqueConstraint(fields=["label", "model"], name="unique_trigger"),
        ]

    def __str__(self) -> str:
        label = "all frames" if self.label == self.ALL_FRAMES else self.label
        return f"{label} → {self.model}"
