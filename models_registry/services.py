"""Write-side operations on the registry: selections, enabling, configuration import."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from models_registry.models import ModelEntry, Task, TaskType

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
