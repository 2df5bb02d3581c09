"""Work items: a batch, an inference or a load turned into per-model items on a device.

Both sides write here: the web side creates and moves items (dispatch, sweeping), the
worker claims and finishes them (``inference.run``). Nothing here runs a model.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from django.db.models import Max
from django.utils import timezone

from inference import selectors
from inference.models import (
    Detection,
    EnrichmentResult,
    Frame,
    WorkItem,
    WorkKind,
    WorkStatus,
)
from inference.planning import batch_plan, stage_of
from models_registry.models import ModelEntry, Task

UNFINISHED = selectors.UNFINISHED
FINISHED = (WorkStatus.DONE, WorkStatus.FAILED)
# An explicit load of a model no task selects: ahead of enrichment backlog (0), behind
# every task's own work.
LOAD_PRIORITY = 1


def _labels(batch_id: uuid.UUID) -> list[list[str]]:
    """Each frame's detection labels, frames and detections in index order."""
    rows = Detection.objects.filter(frame__batch_id=batch_id).values_list(
        "frame__index", "index", "label"
    )
    labels: list[list[str]] = [[] for _ in range(selectors.frame_count(batch_id))]
    for frame, _, label in sorted(rows):
        labels[frame].append(label)
    return labels


def batch_work(batch_id: uuid.UUID) -> list[tuple[str, int, list[list[int | None]]]]:
    """A stored batch's plan (``batch_plan``): (model, stage, targets) in plan order,
    each target a [frame index, detection index or None] pair."""
    every_frame, by_label = selectors.trigger_table()
    labels = _labels(batch_id)
    plan, categories = batch_plan(labels, every_frame, by_label, selectors.model_categories)
    return [
        (name, stage_of(categories.get(name, "")), [[f, d] for f, d in targets])
        for name, targets in plan.items()
    ]


def disabled_results_create(*, batch_id: uuid.UUID) -> int:
    """For each model a trigger rule names that is disabled in the registry, a result on
    every frame or detection it would have read, saying so (and why): the batch shows
    the model was not run, rather than leaving it out. None twice; how many it wrote."""
    every_frame, by_label, reasons = selectors.disabled_trigger_table()
    if not reasons:
        return 0
    plan, _ = batch_plan(_labels(batch_id), every_frame, by_label, lambda names: {})
    why = {
        name: f"{name} is disabled in the registry" + (f": {reason}" if reason else "")
        for name, reason in reasons.items()
    }
    return not_run_results_create(batch_id=batch_id, plan=plan, why=why)


def not_run_results_create(
    *, batch_id: uuid.UUID, plan: Mapping[str, Sequence[Sequence[int | None]]], why: dict[str, str]
) -> int:
    """For each model of ``plan`` that ``why`` names, a result on every frame or
    detection it would have read, saying why it was not run. None twice; how many."""
    if not any(name in why for name in plan):
        return 0
    frames = dict(Frame.objects.filter(batch_id=batch_id).values_list("index", "pk"))
    detections = {
        (frame, index): pk
        for pk, frame, index in Detection.objects.filter(frame__batch_id=batch_id)
        .values_list("pk", "frame__index", "index")
    }  # fmt: skip
    rows = [
        EnrichmentResult(
            batch_id=batch_id,
            frame_id=frames[frame or 0],
            detection_id=None if detection is None else detections[(frame or 0, detection)],
            model_name=name,
            error=f"{why[name]}; not run",
        )
        for name, targets in plan.items()
        if name in why
        for frame, detection in targets
    ]
    EnrichmentResult.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def batch_items_create(*, batch_id: uuid.UUID, device_id: int | None) -> int:
    """The batch's items on a device (none twice), and the results of the disabled
    models its triggers name; how many items the batch has."""
    disabled_results_create(batch_id=batch_id)
    planned = batch_work(batch_id)
    # A model no device here could ever hold (larger than the zoo pool, say) is not
    # queued to be refused on every batch: its results say why at once.
    too_large = selectors.too_large_reasons(
        ModelEntry.objects.filter(name__in=[name for name, _, _ in planned]), device_id=device_id
    )
    not_run_results_create(
        batch_id=batch_id,
        plan={name: targets for name, _, targets in planned},
        why=too_large,
    )
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
            for position, (name, stage, targets) in enumerate(planned)
            if name not in too_large
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


def batch_images_release(*, batch_id: uuid.UUID) -> int:
    """Drop the image bytes of a finished batch's frames (its results and the frames'
    sizes and detections stay): nothing reads them once the batch is done or failed.
    Does nothing while the batch is unfinished; returns how many frames it released."""
    return Frame.objects.filter(
        batch_id=batch_id, batch__status__in=FINISHED, data__isnull=False
    ).update(data=None)
