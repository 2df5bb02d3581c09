"""Work items: a batch, an inference or a load turned into per-model items on a device.

Both sides write here: the web side creates and moves items (dispatch, sweeping), the
worker claims and finishes them (``inference.run``). Nothing here runs a model.
"""

from __future__ import annotations

import uuid

from django.db.models import Max
from django.utils import timezone

from inference import selectors
from inference.models import Detection, WorkItem, WorkKind, WorkStatus
from inference.planning import batch_plan, stage_of
from models_registry.models import Task

UNFINISHED = selectors.UNFINISHED
# An explicit load of a model no task selects: ahead of enrichment backlog (0), behind
# every task's own work.
LOAD_PRIORITY = 1


def batch_work(batch_id: uuid.UUID) -> list[tuple[str, int, list[list[int | None]]]]:
    """A stored batch's plan (``batch_plan``): (model, stage, targets) in plan order,
    each target a [frame index, detection index or None] pair."""
    every_frame, by_label = selectors.trigger_table()
    rows = Detection.objects.filter(frame__batch_id=batch_id).values_list(
        "frame__index", "index", "label"
    )
    frames = selectors.frame_count(batch_id)
    labels: list[list[str]] = [[] for _ in range(frames)]
    for frame, _, label in sorted(rows):
        labels[frame].append(label)
    plan, categories = batch_plan(labels, every_frame, by_label, selectors.model_categories)
    return [
        (name, stage_of(categories.get(name, "")), [[f, d] for f, d in targets])
        for name, targets in plan.items()
    ]


def batch_items_create(*, batch_id: uuid.UUID, device_id: int | None) -> int:
    """The batch's items on a device (none twice); how many the batch has."""
    now = timezone.now()
    WorkItem.objects.bulk_create(
        [
            WorkItem(
                kind=WorkKind.BATCH,
                model_name=name,
                device_id=device_id,
                batch_id=batch_id,
                targets=targets,
                position=position,
                stage=stage,
                created_at=now,
            )
            for position, (name, stage, targets) in enumerate(batch_work(batch_id))
        ],
        ignore_conflicts=True,
    )
    return WorkItem.objects.filter(batch_id=batch_id).count()


def items_move(*, to: int, **where: object) -> int:
    """Give unfinished items (chosen by ``where``) to device ``to``, queued again; how
    many moved."""
    return WorkItem.objects.filter(status__in=UNFINISHED, **where).update(
        device_id=to, status=WorkStatus.QUEUED, worker="", started_at=None
    )


def task_priority(task_type: str) -> int:
    return Task.objects.filter(name=task_type).values_list("priority", flat=True).first() or 0


def load_priority(model_name: str) -> int:
    """An explicit load goes at the highest priority of the tasks selecting the model."""
    found = Task.objects.filter(selected__name=model_name).aggregate(top=Max("priority"))["top"]
    return LOAD_PRIORITY if found is None else max(found, LOAD_PRIORITY)


def load_item_create(*, model_name: str, device_id: int) -> WorkItem:
    """An explicit load waiting on a device (one per model and device is enough)."""
    waiting = WorkItem.objects.filter(
        kind=WorkKind.LOAD, model_name=model_name, device_id=device_id, status=WorkStatus.QUEUED
    ).first()
    return waiting or WorkItem.objects.create(
        kind=WorkKind.LOAD,
        model_name=model_name,
        device_id=device_id,
        priority=load_priority(model_name),
    )


def inference_item_create(*, request_id: uuid.UUID, model_name: str, task_type: str,
                          device_id: int) -> WorkItem:  # fmt: skip
    return WorkItem.objects.create(
        kind=WorkKind.INFERENCE,
        model_name=model_name,
        device_id=device_id,
        request_id=request_id,
        priority=task_priority(task_type),
    )
