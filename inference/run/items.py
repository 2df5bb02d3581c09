"""Serving the work items waiting on this worker's device, model by model.

The device's scheduler (``inference.worker.scheduler``) asks ``round_next`` which items
to serve next and hands them to ``items_serve``; a Celery message only wakes it. A task
inference or a load whose model is already resident does not wait for the scheduler:
the message's own thread serves it at once (``inference_serve``, ``load_serve``),
beside whatever the scheduler runs (the manager allows concurrent leases).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.utils import timezone

from inference import selectors
from inference.engine.manager import NOT_LOCAL
from inference.engine.vocabulary import ModelStatus
from inference.models import InferenceRequest, WorkItem, WorkKind, WorkStatus
from inference.run.batches import batch_items_run, batch_run
from inference.run.requests import inference_run, item_take, model_warm
from inference.runtime.zoo import ModelZoo, model_zoo
from inference.scheduling import next_model
from models_registry.models import ModelEntry

logger = logging.getLogger(__name__)

# The orders a scheduler can serve its device's items in.
BY_MODEL = "model"  # model-major (``inference.scheduling``)
BY_ARRIVAL = "arrival"  # one item at a time, oldest first: a batch's models in turn
ORDERS = (BY_MODEL, BY_ARRIVAL)

# The most items of one model served in one round before the order is decided again.
ROUND_ITEMS = 500
# The most batch items of one model served together (their targets share batched passes).
GROUP_ITEMS = 8


def resident(zoo: ModelZoo) -> set[str]:
    """The models in memory (or on their way) on this worker's device."""
    return {
        name for name, view in zoo.manager.snapshot().items()
        if view.status in (ModelStatus.LOADED, ModelStatus.LOADING)
    }  # fmt: skip


def round_next(zoo: ModelZoo, *, order: str, max_wait_s: float) -> list[int]:
    """The ids of the items to serve next, in order: every ready item of the model the
    policy chooses (``BY_MODEL``), or the single oldest ready item (``BY_ARRIVAL``)."""
    device_id = zoo.device.pk
    if order == BY_ARRIVAL:
        first = selectors.first_ready(device_id)
        return [first.pk] if first else []
    model = next_model(
        selectors.pending_by_model(device_id),
        resident=resident(zoo),
        now=timezone.now(),
        max_wait_s=max_wait_s,
    )
    if model is None:
        return []
    ready = selectors.ready_of(device_id, model)
    return list(ready.values_list("pk", flat=True)[:ROUND_ITEMS])


def preempted(zoo: ModelZoo, item: WorkItem) -> bool:
    """Whether work of a higher priority than ``item``'s waits for another model."""
    return (
        selectors.ready_items(zoo.device.pk)
        .filter(priority__gt=item.priority).exclude(model_name=item.model_name).exists()
    )  # fmt: skip


def item_claim(zoo: ModelZoo, item_id: int) -> WorkItem | None:
    """The item, now running here; None if another thread or worker took it first."""
    if not item_take(zoo, pk=item_id, device=zoo.device):
        return None
    return WorkItem.objects.get(pk=item_id)


def group_claim(zoo: ModelZoo, ids: list[int]) -> tuple[list[WorkItem], list[int]]:
    """Claim the next items of ``ids`` to serve together, and the ids left: up to
    ``GROUP_ITEMS`` batch items in a row, or one inference or load alone."""
    kinds = dict(WorkItem.objects.filter(pk__in=ids).values_list("pk", "kind"))
    group: list[WorkItem] = []
    rest = list(ids)
    while rest and len(group) < GROUP_ITEMS:
        alone = kinds.get(rest[0]) != WorkKind.BATCH
        if alone and group:
            break
        item = item_claim(zoo, rest.pop(0))
        if item is not None:
            group.append(item)
            if alone:
                break
    return group, rest


def items_serve(zoo: ModelZoo, items: list[WorkItem]) -> None:
    """Serve items this worker claimed: an inference or a load, or batch items of one
    model together. Any left unfinished (the database went away, an unexpected error)
    is queued again for the next round."""
    try:
        first = items[0]
        if first.kind == WorkKind.BATCH:
            batch_items_run(zoo, items)
        elif first.kind == WorkKind.INFERENCE:
            assert first.request_id is not None and len(items) == 1
            inference_run(request_id=first.request_id, zoo=zoo, taken=True)
        else:
            model_warm(model_name=first.model_name, zoo=zoo)
    finally:
        WorkItem.objects.filter(
            pk__in=[item.pk for item in items], status=WorkStatus.RUNNING
        ).update(status=WorkStatus.QUEUED, worker="", started_at=None)


def items_recover(zoo: ModelZoo) -> int:
    """At start-up: the items left running on this device by a process that is gone are
    queued again (nothing else can be running them). How many."""
    return WorkItem.objects.filter(device=zoo.device, status=WorkStatus.RUNNING).update(
        status=WorkStatus.QUEUED, worker="", started_at=None
    )


def _ready_now(zoo: ModelZoo, model_name: str) -> bool:
    """Loaded here, or served outside this process (nothing to load: called at once)."""
    view = zoo.manager.snapshot().get(model_name)
    if view is not None and view.status == ModelStatus.LOADED:
        return True
    return ModelEntry.objects.filter(name=model_name, loader__in=NOT_LOCAL).exists()


def inference_serve(*, request_id: uuid.UUID | str, zoo: ModelZoo | None = None) -> str:
    """A message for an inference: run it at once if its model is loaded (or no scheduler
    listens in this process), else wake the scheduler, which serves it by priority."""
    zoo = zoo or model_zoo
    name = InferenceRequest.objects.filter(pk=request_id).values_list("model_name", flat=True)
    model_name = name.first()
    if model_name is None:
        return "missing"
    if _ready_now(zoo, model_name) or not zoo.notify_work():
        return inference_run(request_id=request_id, zoo=zoo)
    return "scheduled"


def load_serve(*, model_name: str, zoo: ModelZoo | None = None) -> dict[str, Any]:
    """A message for a load: done at once if the model is loaded (or no scheduler
    listens), else the scheduler serves the waiting load item by priority."""
    zoo = zoo or model_zoo
    if _ready_now(zoo, model_name) or not zoo.notify_work():
        return model_warm(model_name=model_name, zoo=zoo)
    return {"model": model_name, "scheduled": True}


def batch_serve(*, batch_id: uuid.UUID | str, zoo: ModelZoo | None = None) -> str:
    """A message for a batch: wake the scheduler, or run the batch here if none listens."""
    zoo = zoo or model_zoo
    if zoo.notify_work():
        return "scheduled"
    return batch_run(batch_id=batch_id, zoo=zoo)
