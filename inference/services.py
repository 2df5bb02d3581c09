"""The web side of the inference app: submitting work and dispatching it to the worker
best placed for it, explicit loads and unloads, selection warm-up, and sweeping up
work whose worker died. What a worker does with a message is ``inference.run``'s.

Nothing is lost: work is rows before it is a message. Dispatching chooses a device and
writes the work's per-model items there (``inference.work``); the message that follows
only wakes that device's worker, whose scheduler reads what waits on its device from the
database, so a lost message delays nothing for long. The sweeper, run by every live
worker's heartbeat, moves the unfinished items of a device whose worker died to a live
one, and dispatches a batch that no worker was alive to take. Nothing is sent again
because it still waits. Running work twice is harmless: stored results are kept.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.errors import Conflict, Failed, NotFound, ServiceError, Unavailable
from fleet import selectors as fleet_selectors
from fleet import services as fleet_services
from fleet.models import Device, EventCause, EventKind, ModelState, ModelStatus
from fleet.selectors import is_loaded
from inference import retention, selectors, work
from inference.engine.manager import NOT_LOCAL
from inference.models import (
    Detection,
    EnrichmentBatch,
    Frame,
    InferenceFrame,
    InferenceRequest,
    WorkItem,
    WorkStatus,
)
from inference.runtime.remote import remote_unconfigured
from inference.tasks import enrich_batch as enrich_batch_task
from inference.tasks import load_model as load_model_task
from inference.tasks import run_inference as run_inference_task
from inference.tasks import unload_model as unload_model_task
from latency import services as latency_services
from models_registry import selectors as registry_selectors
from models_registry import services as registry_services
from models_registry.models import ModelEntry, TaskType
from models_registry.selectors import inference_settings

logger = logging.getLogger(__name__)

# --- Submitting ------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameIn:
    """A validated frame: its bytes (or media path), size and detections."""

    width: int
    height: int
    detections: list[dict[str, Any]]
    data: bytes | None = None
    path: str = ""


@transaction.atomic
def batch_submit(*, frames: list[FrameIn], user: Any = None) -> EnrichmentBatch:
    """Store a validated batch and dispatch it to a worker once the transaction commits."""
    batch = EnrichmentBatch.objects.create(
        submitted_by=user if user is not None and user.is_authenticated else None
    )
    for index, frame_in in enumerate(frames):
        frame = Frame.objects.create(
            batch=batch,
            index=index,
            data=frame_in.data,
            path=frame_in.path,
            width=frame_in.width,
            height=frame_in.height,
        )
        Detection.objects.bulk_create(
            Detection(
                frame=frame,
                index=number,
                label=d["label"],
                x1=d["bbox"][0],
                y1=d["bbox"][1],
                x2=d["bbox"][2],
                y2=d["bbox"][3],
                confidence=d["confidence"],
            )
            for number, d in enumerate(frame_in.detections)
        )
    batch_dispatch(batch_id=batch.pk)
    return batch


def batch_dispatch(*, batch_id: uuid.UUID, previous: Any = None) -> bool:
    """Give the batch's work to the best live device and wake its worker (after commit).

    Its items are created there, or its unfinished items move there (a batch whose
    worker died). ``previous`` is the ``dispatched_at`` the caller saw: the batch moves
    only if no one dispatched it meanwhile, so two sweepers never both move it. Returns
    whether it went to a device; False when no worker is alive: it stays queued and the
    first worker to heartbeat dispatches it.
    """
    work_of = work.batch_work(batch_id)
    chosen = selectors.route({name for name, _, _ in work_of})
    if chosen is None:
        return False
    claimed = EnrichmentBatch.objects.filter(pk=batch_id, dispatched_at=previous).update(
        dispatched_at=timezone.now(), device=chosen.device
    )
    if not claimed:
        return False
    device = chosen.device
    moved = work.items_move(to=device.pk, batch_id=batch_id)
    if not moved:
        work.batch_items_create(batch_id=batch_id, device_id=device.pk)
        if not selectors.batch_unfinished(batch_id):  # no model triggered, or all served
            now = timezone.now()
            EnrichmentBatch.objects.filter(pk=batch_id).update(
                status=WorkStatus.DONE, started_at=Coalesce("started_at", Value(now)),
                finished_at=now,
            )  # fmt: skip
            work.batch_images_release(batch_id=batch_id)
            return True
    queue = selectors.queue_for(device.host, device.name)
    transaction.on_commit(lambda: enrich_batch_task.apply_async(args=[str(batch_id)], queue=queue))
    logger.info("Batch %s → %s (%d of its models there, %d items waiting)", batch_id, queue,
                chosen.loaded, chosen.pending)  # fmt: skip
    return True


# --- Sweeping -----------------------------------------------------------------------------


def work_sweep() -> int:
    """Move the work of dead workers to live ones, and dispatch the batches no worker was
    alive to take. Returns how many pieces of work moved."""
    moved = 0
    never_sent = EnrichmentBatch.objects.filter(status=WorkStatus.QUEUED, dispatched_at=None)
    for batch_id in never_sent.values_list("pk", flat=True)[:100]:
        with transaction.atomic():
            moved += batch_dispatch(batch_id=batch_id)
    # Sent as a message alone, before work items existed (an upgrade): dispatched again.
    itemless = (
        EnrichmentBatch.objects.filter(status__in=selectors.UNFINISHED)
        .exclude(dispatched_at=None).exclude(items__status__in=selectors.UNFINISHED)
    )  # fmt: skip
    for batch_id, sent_at in itemless.values_list("pk", "dispatched_at")[:100]:
        with transaction.atomic():
            moved += batch_dispatch(batch_id=batch_id, previous=sent_at)
    orphans = selectors.orphaned_items().select_related("batch")[:500]
    batches = {item.batch_id: item.batch for item in orphans if item.batch_id}
    for batch_id, batch in batches.items():
        with transaction.atomic():
            moved += batch_dispatch(batch_id=batch_id, previous=batch and batch.dispatched_at)
    for item in orphans:
        if item.batch_id is None:
            with transaction.atomic():
                moved += item_redispatch(item=item)
    return moved


def item_redispatch(*, item: WorkItem) -> bool:
    """Move an inference or a load to the best live device, if it is still where it was."""
    chosen = selectors.route([item.model_name])
    if chosen is None:
        return False
    if not work.items_move(to=chosen.device.pk, pk=item.pk, device=item.device_id):
        return False
    if item.request_id is not None:
        InferenceRequest.objects.filter(pk=item.request_id).update(
            status=WorkStatus.QUEUED, device=chosen.device, dispatched_at=timezone.now()
        )
    _wake(chosen.device, item)
    return True


def _wake(device: Device, item: WorkItem) -> None:
    """Wake the device's worker for one item (after commit)."""
    queue = selectors.queue_for(device.host, device.name)
    if item.request_id is not None:
        args: list[Any] = [str(item.request_id)]
        transaction.on_commit(lambda: run_inference_task.apply_async(args=args, queue=queue))
    else:
        args = [item.model_name]
        transaction.on_commit(lambda: load_model_task.apply_async(args=args, queue=queue))


# --- Task inference ----------------------------------------------------------------------


def inference_dispatch(*, request_id: uuid.UUID, model_name: str, task_type: str = "") -> bool:
    """Give an inference to the live device best placed for its model, at its task's
    priority, and wake its worker (after commit)."""
    chosen = selectors.route([model_name])
    if chosen is None:
        return False
    InferenceRequest.objects.filter(pk=request_id).update(
        dispatched_at=timezone.now(), device=chosen.device
    )
    item = work.inference_item_create(
        request_id=request_id, model_name=model_name, task_type=task_type,
        device_id=chosen.device.pk,
    )  # fmt: skip
    _wake(chosen.device, item)
    return True


def inference_submit(
    *, task_type: str, model_name: str, image: bytes, options: dict[str, Any], user: Any = None,
    more_frames: list[bytes] | None = None,
) -> tuple[InferenceRequest, bool]:  # fmt: skip
    """Store an inference request (owned by ``user``): its image, and for a
    several-frame inference the frames after it; dispatch it; (request, whether a
    worker took it)."""
    with transaction.atomic():
        request = InferenceRequest.objects.create(
            task_type=task_type, model_name=model_name, image=image, options=options,
            submitted_by=user if user is not None and user.is_authenticated else None,
        )  # fmt: skip
        InferenceFrame.objects.bulk_create(
            InferenceFrame(request=request, index=index, data=data)
            for index, data in enumerate(more_frames or [], start=1)
        )
        sent = inference_dispatch(request_id=request.pk, model_name=model_name, task_type=task_type)
        if not sent:
            request.status = WorkStatus.FAILED
            request.error = "no live worker"
            request.finished_at = timezone.now()
            request.image = b""  # finished: nothing will read it (or its frames) again
            request.save()
            request.frames.all().delete()
    return request, sent


def infer_target(*, task_type: str) -> ModelEntry:
    """The model a task inference would run: the task's selection. One served outside
    this service (a server-run or external API option) must be callable: one nobody
    configured is ``Unavailable``, naming what to set, before anything is queued."""
    if task_type not in TaskType.values:
        raise ServiceError(f"Invalid task_type: {task_type}")
    entry = registry_selectors.task_selected(task=task_type)
    if entry is None:
        raise ServiceError(f"No model selected for task '{task_type}'")
    if entry.loader in NOT_LOCAL and (unconfigured := remote_unconfigured(entry)):
        raise Unavailable(unconfigured)
    return entry


def task_infer(
    *, task_type: str, entry: ModelEntry, frames: list[bytes], options: dict[str, Any],
    user: Any = None,
) -> tuple[InferenceRequest, bool]:  # fmt: skip
    """Run ``entry`` (the task's ``infer_target``) on one image, or on several frames in
    order (a remote model), through a worker, waiting up to ``ZOO_INFER_WAIT_S``: (the
    request, whether it finished in time). ``user`` owns the request."""
    if len(frames) > 1 and entry.loader not in NOT_LOCAL:
        raise ServiceError(
            f"Model '{entry.name}' runs here on one image; {len(frames)} frames need a "
            "server-run or external API option"
        )
    request, sent = inference_submit(
        task_type=task_type, model_name=entry.name, image=frames[0], options=options,
        user=user, more_frames=frames[1:],
    )  # fmt: skip
    if not sent:
        raise Unavailable("Model service unavailable: no worker is running")
    finished = selectors.wait_for(
        lambda: selectors.inference_finished(request.pk), settings.ZOO_INFER_WAIT_S
    )
    return finished or request, finished is not None


# --- Explicit control ---------------------------------------------------------------------


def model_load_dispatch(*, model_name: str) -> Any:
    """Ask the best-placed live worker to load a model (an item at the priority of the
    tasks selecting it); its device, or None if no worker is alive."""
    chosen = selectors.route([model_name])
    if chosen is None:
        return None
    item = work.load_item_create(model_name=model_name, device_id=chosen.device.pk)
    _wake(chosen.device, item)
    return chosen.device


@dataclass(frozen=True)
class UnloadSent:
    """Where an unload was sent: devices whose worker is live, and devices whose rows
    still hold the model but whose worker has stopped heartbeating (frozen, or dead)."""

    live: list[Device]
    silent: list[Device]

    def silent_reason(self, model_name: str) -> str:
        """Why the unload is not done on the silent devices ("" when there are none)."""
        if not self.silent:
            return ""
        now = timezone.now()
        where = ", ".join(
            f"{device} (no heartbeat for {(now - device.heartbeat_at).total_seconds():.0f} s)"
            if device.heartbeat_at else f"{device} (never heartbeated)"
            for device in self.silent
        )  # fmt: skip
        return (
            f"{model_name} is still held on {where}, whose worker is not answering: it is "
            "unloaded there if that worker answers again (a restarted worker holds nothing)"
        )


def model_unload_dispatch(*, model_name: str, wait_s: float) -> UnloadSent:
    """Ask every worker whose device holds the model to unload it once released. A worker
    that stopped heartbeating gets the message too, addressed to it by id: if it was only
    frozen it unloads when it resumes; a new worker on that device ignores it."""
    sent = UnloadSent(
        live=selectors.devices_holding(model_name),
        silent=selectors.devices_holding(model_name, live=False),
    )
    messages = [
        (selectors.queue_for(device.host, device.name), device.worker)
        for device in sent.live + sent.silent
    ]

    def send() -> None:
        for queue, worker in messages:
            unload_model_task.apply_async(args=[model_name, wait_s, worker], queue=queue)

    transaction.on_commit(send)
    return sent


class SelectionRefused(Failed):
    """A model no device could ever hold: refused before the selection changes."""


@dataclass(frozen=True)
class Selection:
    """A selection made, and the load it asked a worker for, if the caller should wait."""

    entry: ModelEntry
    previous: ModelEntry | None
    load_asked_at: datetime | None = None  # when a load to wait for was asked
    too_large: str = ""  # why no device could hold it (selected with ``force``, not loaded)


def task_select_warm(*, task_type: str, model_name: str, force: bool = False) -> Selection:
    """Select a task's model (persisted at once), then load it on a worker when the old
    selection was loaded, or when warmup is on (the document's "model selection change"
    loading trigger).

    A model no live device could ever hold is refused first (``SelectionRefused``, the
    document's "Failed to load model"), nothing changed; with ``force`` it is selected
    and not loaded (a worker would refuse it)."""
    option = registry_selectors.task_option(task=task_type, model_name=model_name)
    too_large = ""
    if option is not None and option.loader not in NOT_LOCAL:
        too_large = selectors.too_large_reason(option)
    if too_large and not force:
        raise SelectionRefused(f"Failed to load model: Out of memory: {too_large}")
    previous = registry_selectors.task_selected(task=task_type)
    _, entry = registry_services.task_select(task_type=task_type, model_name=model_name)
    selection = Selection(entry=entry, previous=previous, too_large=too_large)
    if too_large or entry.loader in NOT_LOCAL or not entry.enabled or previous == entry:
        return selection
    was_loaded = previous is not None and is_loaded(model_id=previous.pk)
    if not (was_loaded or inference_settings().warmup_on_startup):
        return selection
    asked_at = None if is_loaded(model_id=entry.pk) else timezone.now()
    if model_load_dispatch(model_name=entry.name) is None:  # no worker: warmup loads it
        return selection
    return Selection(entry=entry, previous=previous, load_asked_at=asked_at)


def task_select_loaded(*, task_type: str, model_name: str, force: bool = False) -> Selection:
    """``task_select_warm``, then wait up to ``ZOO_INFER_WAIT_S`` for the load it asked
    for: a load that fails is ``Failed`` with the worker's reason, the previous
    selection restored; one still running is ``Unavailable``, the selection kept and
    the load going on."""
    selection = task_select_warm(task_type=task_type, model_name=model_name, force=force)
    if selection.load_asked_at is None:
        return selection
    outcome = _load_outcome(selection.entry.name, selection.load_asked_at)
    if outcome is None:
        raise Unavailable("Model service timeout during model loading")
    if outcome.status == ModelStatus.ERROR:
        registry_services.task_select_undo(
            task_type=task_type, selected=selection.entry, previous=selection.previous
        )
        raise Failed(f"Failed to load model: {outcome.last_error}")
    return selection


def _load_outcome(model_name: str, since: datetime) -> ModelState | None:
    """The model's state once a worker wrote it loaded or in error after ``since``;
    None when ``ZOO_INFER_WAIT_S`` passed first."""
    return selectors.wait_for(
        lambda: selectors.model_outcome(model_name, since, {"loaded", "error"}),
        settings.ZOO_INFER_WAIT_S,
    )


def selections_warm_up(*, device_id: int) -> list[str]:
    """With ``warmup_on_startup``, a load of each task's selected model waiting on one
    worker's device (its scheduler serves them at their tasks' priority, inside the
    budget, one at a time)."""
    if not inference_settings().warmup_on_startup:
        return []
    names = registry_selectors.selected_local_models()
    for name in names:
        work.load_item_create(model_name=name, device_id=device_id)
    return names


def _controllable(model_name: str) -> ModelEntry:
    entry = registry_selectors.model_entry(name=model_name)
    if entry is None:
        raise NotFound(f"Model '{model_name}' not found in registry")
    if entry.loader in NOT_LOCAL:
        raise Conflict(f"Model '{model_name}' runs outside this service")
    return entry


def model_load(*, model_name: str) -> bool:
    """Load a model on the best-placed worker; whether it finished within
    ``ZOO_INFER_WAIT_S`` (a failed load is a Conflict with the worker's reason)."""
    entry = _controllable(model_name)
    if not entry.enabled:
        raise Conflict(f"Model '{entry.name}' is disabled: {entry.disabled_reason}")
    model_fit_check(entry=entry)
    since = timezone.now()
    if model_load_dispatch(model_name=entry.name) is None:
        raise Unavailable("Model service unavailable: no worker is running")
    outcome = _load_outcome(entry.name, since)
    if outcome is not None and outcome.status == "error":
        raise Conflict(f"{entry.name}: {outcome.last_error}")
    return outcome is not None


def model_fit_check(*, entry: ModelEntry) -> None:
    """Refuse (Conflict) a load of a model no live device could ever hold, before any
    worker is asked: the refusal is logged as an event and the model's state is left as
    it is (unloaded), since not fitting is a property of the model, not a failure."""
    if too_large := selectors.too_large_reason(entry):
        fleet_services.model_event_record(
            device_id=None, model_id=entry.pk, model_name=entry.name, kind=EventKind.REFUSE,
            reason=f"{too_large}; not loaded", memory_mb=entry.vram_mb, cause=EventCause.REFUSED,
        )  # fmt: skip
        raise Conflict(f"{entry.name} cannot be loaded: {too_large}")


def model_unload(*, model_name: str) -> bool:
    """Unload a model everywhere once released (True) and say so only once no live
    device holds it. Refused, saying what really happened: a model loaded nowhere is a
    Conflict (nothing to unload); one still in use (or loading) after
    ``ZOO_UNLOAD_WAIT_S`` a Conflict naming its leases; one held on a device whose
    worker stopped heartbeating is Unavailable (asked to unload there when it answers)."""
    entry = _controllable(model_name)
    wait_s = settings.ZOO_UNLOAD_WAIT_S
    sent = model_unload_dispatch(model_name=entry.name, wait_s=wait_s)
    if not sent.live and not sent.silent:
        raise Conflict(f"{entry.name} is not loaded on any worker; nothing to unload")
    if sent.live:
        devices = [device.pk for device in sent.live]
        released = selectors.wait_for(
            lambda: selectors.released_on(entry.name, devices), wait_s + 5
        )
        if released is None:
            row = fleet_selectors.model_row(name=entry.name)
            if row is not None and row.status == ModelStatus.LOADING:
                raise Conflict(f"{entry.name} is loading; unload it once it is loaded")
            held = row.load_count if row else 0
            raise Conflict(
                f"{entry.name} is in use ({held} lease(s)); it is unloaded only once released"
            )
    if sent.silent:
        raise Unavailable(sent.silent_reason(entry.name))
    return True


def retention_prune() -> dict[str, int]:
    """Delete what is past its retention: raw latency samples and roll-ups (latency's
    settings), decision-log entries (``ZOO_EVENT_RETENTION_DAYS``), and finished
    batches, inferences and loads (``inference.retention``). Run by every worker's
    heartbeat and by ``manage.py zoo_prune``."""
    deleted = latency_services.samples_prune()
    return {**deleted, "events": fleet_services.events_prune(), **retention.work_prune()}
