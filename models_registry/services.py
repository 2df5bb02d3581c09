"""Write-side operations on the registry: selections, enabling, configuration import."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from models_registry.models import (
    Category,
    Device,
    EventTally,
    InferenceSettings,
    Loader,
    MemoryUnit,
    ModelEntry,
    ModelEvent,
    ModelState,
    ModelStatus,
    Task,
    TaskOption,
    TaskType,
)
from zoo_project.db import upsert_add

logger = logging.getLogger(__name__)


class InvalidTaskType(ValueError):
    def __init__(self, task_type: str):
        super().__init__(f"Invalid task_type: {task_type}")


class ModelNotFoundForTask(LookupError):
    def __init__(self, model_name: str, task_type: str):
        super().__init__(f"Model '{model_name}' not found for task '{task_type}'")


@transaction.atomic
def task_select(*, task_type: str, model_name: str) -> tuple[Task, ModelEntry]:
    """Make ``model_name`` the selected model of ``task_type``, persisted at once.

    The task row is locked so concurrent selections apply one after the other.
    """
    if task_type not in TaskType.values:
        raise InvalidTaskType(task_type)
    task, _ = Task.objects.select_for_update().get_or_create(name=task_type)
    entry = ModelEntry.objects.filter(task_options__task=task, name=model_name).first()
    if entry is None:
        raise ModelNotFoundForTask(model_name, task_type)
    if task.selected_id != entry.pk:
        previous = task.selected_id
        task.selected = entry
        task.save(update_fields=["selected", "updated_at"])
        logger.info("Task %s: selected %s (was model id %s)", task_type, entry.name, previous)
    return task, entry


def models_set_enabled(*, names: Iterable[str], enabled: bool, reason: str = "") -> int:
    """Enable or disable registry models; a disable may say why. Returns rows changed."""
    fields = {
        "enabled": enabled,
        "disabled_reason": "" if enabled else reason,
        "updated_at": timezone.now(),
    }
    with transaction.atomic():
        return ModelEntry.objects.filter(name__in=list(names)).update(**fields)


_TASK_CATEGORY = {
    TaskType.VIDEO_SUMMARIZATION: Category.VISION_LANGUAGE,
    TaskType.OBJECT_DETECTION: Category.DETECTION,
    TaskType.OBJECT_TRACKING: Category.TRACKING,
}
_SERVER_FRAMEWORKS = {"sglang", "vllm"}
_EXTERNAL_FRAMEWORKS = {"anthropic", "openai", "google", "external", "external_api"}


def _loader_for(option: dict[str, Any]) -> str:
    framework = option.get("framework", "").lower()
    if framework in _SERVER_FRAMEWORKS:
        return Loader.SERVER
    if framework in _EXTERNAL_FRAMEWORKS:
        return Loader.EXTERNAL
    if "yolo" in option["model_id"].lower() or framework == "ultralytics":
        return Loader.ULTRALYTICS
    return Loader.TRANSFORMERS


def _option_fields(option: dict[str, Any]) -> dict[str, Any]:
    """Registry fields from a models.yaml option; only what the file gives."""
    fields: dict[str, Any] = {"model_id": option["model_id"]}
    if "vram_gb" in option:
        fields["vram_mb"] = round(option["vram_gb"] * 1024)
        fields["vram_unit"] = MemoryUnit.GB
    else:
        fields["vram_mb"] = option["vram_mb"]
        fields["vram_unit"] = MemoryUnit.MB
    for key in ("framework", "speed", "description", "fps"):
        if key in option:
            fields[key] = option[key]
    return fields


@transaction.atomic
def config_import(*, document: dict[str, Any]) -> dict[str, int]:
    """Merge a validated models.yaml document into the registry, all or nothing.

    Options are created or updated by name and linked to their task; the selection and
    the inference settings are set as the file says. Models and options the file does
    not mention are left as they are. Returns counts of what changed.
    """
    counts = {"created": 0, "updated": 0, "selections": 0}
    for task_name, task_doc in document.get("tasks", {}).items():
        task, _ = Task.objects.select_for_update().get_or_create(name=task_name)
        next_position = task.task_options.count()
        for name, option in task_doc["options"].items():
            fields = _option_fields(option)
            entry = ModelEntry.objects.filter(name=name).first()
            if entry is None:
                external = _loader_for(option) == Loader.EXTERNAL
                entry = ModelEntry(
                    name=name,
                    display_name=name,
                    category=Category.EXTERNAL_API if external else _TASK_CATEGORY[task_name],
                    loader=_loader_for(option),
                    **fields,
                )
                entry.full_clean()
                entry.save()
                counts["created"] += 1
            elif any(getattr(entry, key) != value for key, value in fields.items()):
                for key, value in fields.items():
                    setattr(entry, key, value)
                entry.full_clean()
                entry.save()
                counts["updated"] += 1
            _, linked = TaskOption.objects.get_or_create(
                task=task, model=entry, defaults={"position": next_position}
            )
            next_position += linked
        if "selected" in task_doc:
            selected = task_doc["selected"]
            task.selected = ModelEntry.objects.get(name=selected) if selected else None
            task.save(update_fields=["selected", "updated_at"])
            counts["selections"] += 1
    if "inference" in document:
        row = InferenceSettings.load()
        for key, value in document["inference"].items():
            setattr(row, key, value)
        row.full_clean()
        row.save()
    return counts


# --- Runtime state, written by the workers -------------------------------------------


def device_register(
    *, host: str, name: str, kind: str, total_memory_mb: int, budget_mb: int, worker: str
) -> Device:
    """Create or refresh the row of a device, heartbeating it now (no ownership check:
    for tools and tests; workers use ``device_claim``)."""
    device, _ = Device.objects.update_or_create(
        host=host,
        name=name,
        defaults={
            "kind": kind,
            "total_memory_mb": total_memory_mb,
            "budget_mb": budget_mb,
            "worker": worker,
            "heartbeat_at": timezone.now(),
        },
    )
    return device


def device_claim(
    *,
    host: str,
    name: str,
    kind: str,
    total_memory_mb: int,
    budget_mb: int,
    worker: str,
    stale_after_s: float,
    take_over: bool = False,
) -> Device | None:
    """Make ``worker`` the one owner of a device, or None if another live worker owns it.

    Two workers never both think they own one device's budget: the row is locked, and a
    device whose owner heartbeated within ``stale_after_s`` is refused unless
    ``take_over`` (the caller knows that owner is dead). The new owner holds nothing yet,
    so whatever a previous process left "loaded", "loading" or leased is reset.
    """
    now = timezone.now()
    with transaction.atomic():
        device, created = Device.objects.select_for_update().get_or_create(
            host=host,
            name=name,
            defaults={
                "kind": kind,
                "total_memory_mb": total_memory_mb,
                "budget_mb": budget_mb,
                "worker": worker,
                "heartbeat_at": now,
            },
        )
        if not created:
            live = device.heartbeat_at is not None and (
                (now - device.heartbeat_at).total_seconds() < stale_after_s
            )
            if live and device.worker not in ("", worker) and not take_over:
                return None
            device.kind = kind
            device.total_memory_mb = total_memory_mb
            device.budget_mb = budget_mb
            device.worker = worker
            device.heartbeat_at = now
            device.save()
        states = ModelState.objects.filter(device=device)
        states.filter(status__in=[ModelStatus.LOADED, ModelStatus.LOADING]).update(
            status=ModelStatus.UNLOADED, on_cpu_fallback=False, updated_at=now
        )
        states.exclude(load_count=0).update(load_count=0, updated_at=now)
    return device


def device_heartbeat(*, device_id: int, worker: str | None = None) -> bool:
    """Refresh a device's heartbeat; with ``worker``, only while that worker owns it.
    Returns whether the heartbeat was written."""
    rows = Device.objects.filter(pk=device_id)
    if worker is not None:
        rows = rows.filter(worker=worker)
    return rows.update(heartbeat_at=timezone.now()) == 1


def device_release(*, device_id: int, worker: str) -> None:
    """The owner lets the device go (clean shutdown): its models stop counting at once."""
    Device.objects.filter(pk=device_id, worker=worker).update(heartbeat_at=None)


def model_state_write(*, device_id: int, model_id: int, **fields: Any) -> None:
    """Record what a worker did with a model on its device (one row per pair).

    ``error_count_increment`` adds to the error count instead of setting it.
    """
    increment = fields.pop("error_count_increment", 0)
    fields["updated_at"] = timezone.now()
    with transaction.atomic():
        state, created = ModelState.objects.select_for_update().get_or_create(
            model_id=model_id, device_id=device_id, defaults=fields
        )
        if not created:
            for key, value in fields.items():
                setattr(state, key, value)
        state.error_count += increment
        state.save()


def model_event_record(
    *,
    device_id: int | None,
    model_id: int | None,
    model_name: str,
    kind: str,
    reason: str,
    memory_mb: int | None = None,
    duration_s: float | None = None,
    cause: str = "",
) -> ModelEvent:
    """Log one decision of a manager and count it in the tallies, together."""
    with transaction.atomic():
        event = ModelEvent.objects.create(
            device_id=device_id,
            model_id=model_id,
            model_name=model_name,
            kind=kind,
            reason=reason,
            memory_mb=memory_mb,
            duration_s=duration_s,
            cause=cause,
        )
        upsert_add(
            EventTally._meta.db_table, ("model_name", "kind", "cause"), ("count",),
            [(model_name, kind, cause, 1)],
        )  # fmt: skip
    return event


def events_prune(*, now: datetime | None = None) -> int:
    """Delete decision-log entries older than ``ZOO_EVENT_RETENTION_DAYS``; returns how
    many. The Prometheus counters read ``EventTally``, so they never go down."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ZOO_EVENT_RETENTION_DAYS)
    deleted, _ = ModelEvent.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("Pruned %s decision-log entries older than %s", deleted, cutoff)
    return deleted


def model_set_path(*, name: str, path: str) -> bool:
    """Point a registry entry at its weights (a file or folder). Returns whether the
    entry exists; an entry already pointing there is left as it is."""
    with transaction.atomic():
        entry = ModelEntry.objects.select_for_update().filter(name=name).first()
        if entry is None:
            return False
        if entry.path != path:
            entry.path = path
            entry.save(update_fields=["path", "updated_at"])
            logger.info("Model %s now points at %s", name, path)
        return True
