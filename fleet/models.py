"""Runtime truth: the devices workers serve, what each model is doing on each of them,
and the decision log of the managers.

Only workers write these rows (through ``fleet.services``); the web process reads them
(through ``fleet.selectors``). The tables keep the names they had when they lived in
``models_registry``, so moving them here changed no data.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from models_registry.models import ModelEntry


class DeviceKind(models.TextChoices):
    CPU = "cpu", "CPU"
    CUDA = "cuda", "CUDA GPU"
    SIMULATED = "sim", "Simulated GPU"


class Device(models.Model):
    """A device a worker serves (``cpu``, ``cuda:0``, ``sim:0`` on a host).

    The worker bound to it heartbeats here; a device whose heartbeat is older than
    ``ZOO_WORKER_HEARTBEAT_TIMEOUT_S`` no longer counts as holding any model.
    """

    host = models.CharField(max_length=255)
    name = models.CharField(max_length=32, help_text="PyTorch device string, e.g. cuda:0.")
    kind = models.CharField(max_length=4, choices=DeviceKind.choices)
    total_memory_mb = models.PositiveIntegerField()
    budget_mb = models.PositiveIntegerField(help_text="Memory models may use on this device.")
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "models_registry_device"
        ordering = ["host", "name"]
        constraints = [
            models.UniqueConstraint(fields=["host", "name"], name="unique_device_per_host"),
        ]

    def __str__(self) -> str:
        return f"{self.host}/{self.name}"


class ModelStatus(models.TextChoices):
    """Status values of the Model Zoo document."""

    LOADED = "loaded", "Loaded"
    UNLOADED = "unloaded", "Unloaded"
    DISABLED = "disabled", "Disabled"
    LOADING = "loading", "Loading"
    ERROR = "error", "Error"


class ModelState(models.Model):
    """What one worker really did with one model on one device.

    ``load_count`` is the current number of leases (the document's reference count);
    ``load_duration_s`` is a duration in seconds, not a timestamp.
    """

    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="states")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="states")
    status = models.CharField(
        max_length=10, choices=ModelStatus.choices, default=ModelStatus.UNLOADED
    )
    load_count = models.PositiveIntegerField(default=0)
    measured_mb = models.PositiveIntegerField(null=True, blank=True)
    loaded_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    load_duration_s = models.FloatField(null=True, blank=True)
    on_cpu_fallback = models.BooleanField(default=False)
    last_error = models.TextField(blank=True)
    error_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "models_registry_modelstate"
        constraints = [
            models.UniqueConstraint(fields=["model", "device"], name="unique_state_per_device"),
        ]

    def __str__(self) -> str:
        return f"{self.model} on {self.device}: {self.status}"


class EventKind(models.TextChoices):
    LOAD = "load", "Loaded"
    UNLOAD = "unload", "Unloaded"
    EVICT = "evict", "Evicted"
    REFUSE = "refuse", "Refused"
    FAIL = "fail", "Failed"
    CPU_FALLBACK = "cpu_fallback", "Placed on the CPU"


class EventCause(models.TextChoices):
    """Why an event happened, in a word a metric can carry as a label."""

    LOADED = "loaded", "Loaded"
    MAKE_ROOM = "make_room", "Evicted to make room"
    AFTER_BATCH = "after_batch", "Its batch finished (after_batch)"
    KEEP_ALIVE = "keep_alive", "Idle past keep_alive"
    REGISTRY = "registry", "Disabled or deleted in the registry"
    REQUEST = "request", "Unloaded on request"
    SHUTDOWN = "shutdown", "Worker shutting down"
    FAULT = "fault", "Unloaded after a fault"
    REFUSED = "refused", "Refused at admission"
    LOAD_ERROR = "load_error", "The load failed"
    OUT_OF_MEMORY = "out_of_memory", "Out of memory while loading"
    INFERENCE_FAULT = "inference_fault", "Failed while running"


class ModelEvent(models.Model):
    """The manager's decision log: every load, unload, eviction, refusal and failure,
    with the reason a person can read ("evicted yolo11-face (lru, idle 14 min, 200 MB)
    to fit vitpose-small")."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    model = models.ForeignKey(
        ModelEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    model_name = models.CharField(max_length=100, help_text="Kept if the model is deleted.")
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    reason = models.TextField(blank=True)
    memory_mb = models.PositiveIntegerField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    cause = models.CharField(max_length=20, choices=EventCause.choices, blank=True)

    class Meta:
        db_table = "models_registry_modelevent"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["model_name", "-created_at"], name="models_regi_model_n_7cb439_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.kind} {self.model_name}"


class EventTally(models.Model):
    """How many events of each kind and cause each model has had, ever: the counters
    Prometheus reads (``model_zoo_evictions_total`` ...). Kept apart from the log so
    that pruning old events never makes a counter go down."""

    model_name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    cause = models.CharField(max_length=20, choices=EventCause.choices, blank=True)
    count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "models_registry_eventtally"
        constraints = [
            models.UniqueConstraint(
                fields=["model_name", "kind", "cause"], name="unique_event_tally"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.kind}/{self.cause}: {self.count}"


class StatusVersion(models.Model):
    """One row whose ``version`` changes in the same transaction as every write to the
    tables the status documents are built from (the catalog's models, tasks, options and
    settings; devices; model states).

    Database triggers keep it (migration ``0002_status_version``), so a bulk update, the
    admin or a raw statement bumps it as surely as a service does. On PostgreSQL the
    trigger runs at commit and takes a fresh value of a sequence, so a version never
    repeats, even after a rollback; on SQLite it takes a random 64-bit value. A web
    process keeps each status document under the version it was built at
    (``fleet.snapshots``): a request costs one read of this row.
    """

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"status version {self.version}"


# The state machine of a model on a device, as the Model Zoo document draws it, plus the
# refusal at admission (a load refused before it starts goes straight to error) and the
# unload of a model left in error by a fault. "disabled" is not a row state: it is read
# from the registry. The manager writes nothing else; the property tests hold it to this.
LEGAL_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (ModelStatus.UNLOADED, ModelStatus.LOADING),
        (ModelStatus.ERROR, ModelStatus.LOADING),  # retried on the next use
        (ModelStatus.LOADING, ModelStatus.LOADED),
        (ModelStatus.LOADING, ModelStatus.ERROR),
        (ModelStatus.LOADED, ModelStatus.UNLOADED),
        (ModelStatus.LOADED, ModelStatus.ERROR),  # a fault while running
        (ModelStatus.UNLOADED, ModelStatus.ERROR),  # refused at admission
        (ModelStatus.ERROR, ModelStatus.ERROR),  # refused or failed again
    }
)
