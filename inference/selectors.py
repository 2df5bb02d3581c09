"""Read-side queries of the inference app: where work should go, what waits on a device,
and what a batch holds."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import Count, Exists, Max, Min, OuterRef, Prefetch, Q, QuerySet

from fleet.models import Device, ModelState, ModelStatus
from fleet.pools import device_room
from fleet.selectors import counted_mb, heartbeat_cutoff, live_devices, primary_device
from inference import waiting
from inference.models import (
    Detection,
    EnrichmentBatch,
    EnrichmentResult,
    Frame,
    InferenceRequest,
    WorkItem,
    WorkStatus,
)
from inference.scheduling import Pending
from models_registry.models import ModelEntry, TriggerRule
from models_registry.selectors import inference_settings

T = TypeVar("T")

UNFINISHED = (WorkStatus.QUEUED, WorkStatus.RUNNING)


def queue_for(host: str, device: str) -> str:
    """The Celery queue of one device on one host: ``zoo.<host>.<device>``."""
    return "zoo." + re.sub(r"[^A-Za-z0-9_-]+", "-", f"{host}.{device}")


@dataclass(frozen=True)
class Route:
    device: Device
    loaded: int  # how many of the wanted models it holds already
    free_mb: int
    pending: int = 0  # unfinished work items waiting on it


# What one missing model weighs against work already waiting, in work items, when
# choosing a device: a device holding the models wins unless its queue is that much
# longer, so a flood spreads over every live worker.
LOAD_COST_ITEMS = 4


def route(model_names: Iterable[str]) -> Route | None:
    """The live device for work needing ``model_names``: the least pending work plus
    ``LOAD_COST_ITEMS`` per wanted model it lacks, then the most wanted models held,
    then the most free budget. None when no worker is alive."""
    wanted = set(model_names)
    devices = live_devices()
    if not devices:
        return None
    states = ModelState.objects.filter(
        device__in=devices, status__in=[ModelStatus.LOADED, ModelStatus.LOADING]
    ).values("device_id", "model__name", "model__vram_mb", "measured_mb", "on_cpu_fallback")
    loaded: dict[int, int] = {d.pk: 0 for d in devices}
    held: dict[int, int] = {d.pk: 0 for d in devices}
    for state in states:
        if state["model__name"] in wanted:
            loaded[state["device_id"]] += 1
        held[state["device_id"]] += counted_mb(
            estimate_mb=state["model__vram_mb"],
            measured_mb=state["measured_mb"],
            on_cpu=state["on_cpu_fallback"],
        )
    pending = dict(
        WorkItem.objects.filter(device__in=devices, status__in=UNFINISHED)
        .values("device_id").annotate(n=Count("id")).values_list("device_id", "n")
    )  # fmt: skip

    def cost(d: Device) -> tuple[int, int, int, int]:
        waiting = pending.get(d.pk, 0) + LOAD_COST_ITEMS * (len(wanted) - loaded[d.pk])
        return waiting, -loaded[d.pk], held[d.pk] - d.budget_mb, d.pk

    best = min(devices, key=cost)
    return Route(
        device=best,
        loaded=loaded[best.pk],
        free_mb=best.budget_mb - held[best.pk],
        pending=pending.get(best.pk, 0),
    )


def too_large_reason(entry: ModelEntry) -> str:
    """Why ``entry`` could never load on any live device (``too_large_reasons``); ""
    when some device could take it."""
    return too_large_reasons([entry]).get(entry.name, "")


def too_large_reasons(
    entries: Iterable[ModelEntry], *, device_id: int | None = None
) -> dict[str, str]:
    """Why each of ``entries`` that could never load on any live device (or on device
    ``device_id`` alone) could not, as a worker's admission would refuse it: larger than
    the device's whole budget (or, for a zoo model, than the zoo pool), at the larger of
    its estimate and the size measured there, with no CPU fallback for its kind
    (``cpu_fallback`` for a task model, ``zoo_cpu_fallback`` for a zoo model; on, it
    takes any model a GPU cannot). Entries that fit somewhere are left out. With no live
    worker, the device the Management API reports is judged (its memory ×
    ``offload_threshold``). A fixed number of queries, whatever the number of entries."""
    entries = list(entries)
    if not entries:
        return {}
    row = inference_settings()
    devices = live_devices() if device_id is None else list(Device.objects.filter(pk=device_id))
    places = [(d.pk, d.name, d.kind, d.budget_mb) for d in devices]
    if not places:  # no device row: nothing was measured (id 0)
        probe = primary_device()
        places = [(0, probe.name, probe.kind, int(probe.total_memory_mb * row.offload_threshold))]
    measured = {
        (model_id, device): mb
        for model_id, device, mb in ModelState.objects.filter(
            model__in=entries, device__in=devices, measured_mb__isnull=False
        ).values_list("model_id", "device_id", "measured_mb")
    }
    reasons: dict[str, str] = {}
    for entry in entries:
        fallback = row.zoo_cpu_fallback if entry.in_zoo else row.cpu_fallback
        refusals = []
        for place, name, kind, budget in places:
            need = max(entry.vram_mb, measured.get((entry.pk, place)) or 0)
            pool = device_room(in_zoo=entry.in_zoo, budget=budget, cap=row.zoo_vram_budget_mb)
            if need <= pool or (fallback and kind != "cpu"):
                break
            what = "zoo pool" if pool < budget else "budget"
            refusals.append(f"{need} MB, more than the whole {what} of {pool} MB on {name}")
        else:
            reasons[entry.name] = f"{entry.name} needs " + "; ".join(refusals)
    return reasons


def owner_alive(device: Device | None, worker: str) -> bool:
    """Whether ``worker`` still owns ``device`` and heartbeats: its claimed work is live."""
    return bool(
        device is not None
        and worker
        and device.worker == worker
        and device.heartbeat_at is not None
        and device.heartbeat_at >= heartbeat_cutoff()
    )


def trigger_table() -> tuple[list[str], dict[str, list[str]]]:
    """The persisted trigger rules of enabled zoo models: (all-frames models, label → models),
    each in rule order."""
    rules = TriggerRule.objects.filter(model__enabled=True, model__in_zoo=True).values_list(
        "label", "model__name"
    )
    every_frame: list[str] = []
    by_label: dict[str, list[str]] = {}
    for label, name in rules:
        target = every_frame if label == TriggerRule.ALL_FRAMES else by_label.setdefault(label, [])
        if name not in target:
            target.append(name)
    return every_frame, by_label


OwnedT = TypeVar("OwnedT", EnrichmentBatch, InferenceRequest)


def readable_by(work: QuerySet[OwnedT], reader: Any) -> QuerySet[OwnedT]:
    """The batches or inferences ``reader`` may read: staff every one, any other signed-in
    user those they submitted, an anonymous caller none (so another's id reads as
    unknown, never as forbidden)."""
    if reader is None or not reader.is_authenticated or not reader.is_active:
        return work.none()
    return work if reader.is_staff else work.filter(submitted_by=reader)


def disabled_trigger_table() -> tuple[list[str], dict[str, list[str]], dict[str, str]]:
    """The trigger rules naming disabled zoo models, as ``trigger_table`` gives the
    enabled ones, and each such model's reason for being disabled."""
    rules = TriggerRule.objects.filter(model__enabled=False, model__in_zoo=True).values_list(
        "label", "model__name", "model__disabled_reason"
    )
    every_frame: list[str] = []
    by_label: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    for label, name, reason in rules:
        target = every_frame if label == TriggerRule.ALL_FRAMES else by_label.setdefault(label, [])
        if name not in target:
            target.append(name)
        reasons[name] = reason
    return every_frame, by_label, reasons


def batch_with_everything(
    batch_id: uuid.UUID | str, *, reader: Any = None, any_reader: bool = False
) -> EnrichmentBatch | None:
    """A batch with its frames, detections and results, in a fixed number of queries;
    None unless ``reader`` may read it (``readable_by``), or ``any_reader`` (the
    worker's own reads and tests)."""
    detections = Detection.objects.order_by("index")
    frames = Frame.objects.order_by("index").defer("data")
    results: QuerySet[EnrichmentResult] = EnrichmentResult.objects.order_by("id")
    batches = EnrichmentBatch.objects.filter(pk=batch_id)
    if not any_reader:
        batches = readable_by(batches, reader)
    return (
        batches.select_related("device")
        .prefetch_related(
            Prefetch("frames", queryset=frames),
            Prefetch("frames__detections", queryset=detections),
            Prefetch("results", queryset=results),
        )
        .first()
    )


def batch_document(batch: EnrichmentBatch) -> dict[str, object]:
    """A batch as the API shows it: per frame the all-frames models' outputs, per
    detection each triggered model's output (or ``{"error": reason}``)."""
    by_detection: dict[int, dict[str, object]] = {}
    by_frame: dict[int, dict[str, object]] = {}
    for result in batch.results.all():
        value = {"error": result.error} if result.error else result.output
        if result.detection_id is not None:
            by_detection.setdefault(result.detection_id, {})[result.model_name] = value
        else:
            by_frame.setdefault(result.frame_id, {})[result.model_name] = value
    frames = [
        {
            "index": frame.index,
            "width": frame.width,
            "height": frame.height,
            "results": by_frame.get(frame.pk, {}),
            "detections": [
                {
                    "index": detection.index,
                    "label": detection.label,
                    "bbox": detection.bbox,
                    "confidence": detection.confidence,
                    "results": by_detection.get(detection.pk, {}),
                }
                for detection in frame.detections.all()
            ],
        }
        for frame in batch.frames.all()
    ]
    return {
        "id": batch.pk,
        "status": batch.status,
        "created_at": batch.created_at,
        "started_at": batch.started_at,
        "finished_at": batch.finished_at,
        "attempts": batch.attempts,
        "device": str(batch.device) if batch.device else None,
        "error": batch.error,
        "frames": frames,
    }


def wait_for(read: Callable[[], T | None], timeout_s: float) -> T | None:
    """Read the database until ``read()`` gives something, or None after ``timeout_s``:
    woken by the database when work changes, holding no connection while it sleeps
    (``inference.waiting``)."""
    return waiting.wait_for(read, timeout_s)


def inference_finished(request_id: uuid.UUID | str) -> InferenceRequest | None:
    """The request if a worker finished it (done or failed)."""
    finished = [WorkStatus.DONE, WorkStatus.FAILED]
    requests = InferenceRequest.objects.filter(pk=request_id, status__in=finished)
    return requests.defer("image").first()


def inference_request(request_id: uuid.UUID | str, *, reader: Any) -> InferenceRequest | None:
    """The inference, if ``reader`` may read it (``readable_by``)."""
    requests = readable_by(InferenceRequest.objects.filter(pk=request_id), reader)
    return requests.defer("image").first()


HOLDING = (ModelStatus.LOADED, ModelStatus.LOADING)


def devices_holding(model_name: str, *, live: bool = True) -> list[Device]:
    """Devices whose rows say the model is loaded or loading: those of live workers, or
    (``live=False``) those whose worker has stopped heartbeating (frozen or dead)."""
    cutoff = heartbeat_cutoff()
    devices = Device.objects.filter(states__model__name=model_name, states__status__in=HOLDING)
    if live:
        devices = devices.filter(heartbeat_at__gte=cutoff)
    else:
        devices = devices.filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
    return list(devices.distinct().order_by("host", "name"))


def released_on(model_name: str, device_ids: list[int]) -> bool | None:
    """True once none of these devices holds the model (loaded or loading); else None
    (``wait_for``'s "not yet")."""
    holding = ModelState.objects.filter(
        model__name=model_name, device_id__in=device_ids, status__in=HOLDING
    )
    return None if holding.exists() else True


def model_outcome(model_name: str, since: datetime, want: set[str]) -> ModelState | None:
    """The model's state on a live device, once written after ``since`` with a status in
    ``want``."""
    return (
        ModelState.objects.filter(
            model__name=model_name,
            device__heartbeat_at__gte=heartbeat_cutoff(),
            updated_at__gte=since,
            status__in=want,
        )
        .order_by("-updated_at")
        .first()
    )


# --- Work items ----------------------------------------------------------------------------


def frame_count(batch_id: uuid.UUID) -> int:
    return Frame.objects.filter(batch_id=batch_id).count()


def model_categories(names: list[str]) -> dict[str, str]:
    return dict(ModelEntry.objects.filter(name__in=names).values_list("name", "category"))


def ready_items(device_id: int) -> QuerySet[WorkItem]:
    """Queued items of a device that can run now: a stage-1 item (OCR) once no stage-0
    item of its batch is unfinished."""
    blocking = WorkItem.objects.filter(
        batch_id=OuterRef("batch_id"), stage__lt=OuterRef("stage"), status__in=UNFINISHED
    )
    return WorkItem.objects.filter(device_id=device_id, status=WorkStatus.QUEUED).filter(
        Q(stage=0) | ~Exists(blocking)
    )


def pending_by_model(device_id: int) -> list[Pending]:
    """What is ready on a device, per model: how many items, the oldest, the top priority."""
    rows = (
        ready_items(device_id).order_by().values("model_name")
        .annotate(items=Count("id"), oldest=Min("created_at"), priority=Max("priority"))
    )  # fmt: skip
    return [
        Pending(model=r["model_name"], items=r["items"], oldest=r["oldest"], priority=r["priority"])
        for r in rows
    ]


def first_ready(device_id: int) -> WorkItem | None:
    """The ready item of any model that arrived first (a batch's items in plan order)."""
    return ready_items(device_id).order_by("created_at", "position", "id").first()


def ready_of(device_id: int, model_name: str) -> QuerySet[WorkItem]:
    """The ready items of one model, in serving order: highest priority, then oldest,
    then in plan order."""
    return (
        ready_items(device_id)
        .filter(model_name=model_name)
        .order_by("-priority", "created_at", "position", "id")
    )


def orphaned_items() -> QuerySet[WorkItem]:
    """Unfinished items whose device no live worker serves (or that lost their device)."""
    return WorkItem.objects.filter(status__in=UNFINISHED).filter(
        Q(device__isnull=True) | Q(device__heartbeat_at__lt=heartbeat_cutoff())
        | Q(device__heartbeat_at__isnull=True)
    )  # fmt: skip


def batch_unfinished(batch_id: uuid.UUID) -> bool:
    return WorkItem.objects.filter(batch_id=batch_id, status__in=UNFINISHED).exists()
