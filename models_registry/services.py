"""Write-side operations on the registry: selections, enabling, configuration import."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import NotFound, ServiceError
from models_registry.models import (
    Category,
    InferenceSettings,
    Loader,
    MemoryUnit,
    ModelEntry,
    Task,
    TaskOption,
    TaskType,
)

logger = logging.getLogger(__name__)


class InvalidTaskType(ServiceError, ValueError):
    def __init__(self, task_type: str):
        super().__init__(f"Invalid task_type: {task_type}")


class ModelNotFoundForTask(NotFound, LookupError):
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


def task_select_undo(*, task_type: str, selected: ModelEntry, previous: ModelEntry | None) -> bool:
    """Put ``previous`` back as the task's selection if ``selected`` is still it (a
    selection whose model failed to load); whether it was put back. A selection made
    meanwhile by someone else is left alone."""
    undone = Task.objects.filter(name=task_type, selected=selected).update(
        selected=previous, updated_at=timezone.now()
    )
    if undone:
        was = previous.name if previous else "no model"
        logger.info("Task %s: back to %s (%s failed to load)", task_type, was, selected.name)
    return bool(undone)


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
