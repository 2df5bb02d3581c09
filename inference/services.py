"""Write-side operations of the inference app: submitting, dispatching, claiming and
running enrichment batches, and sweeping up work whose worker died.

Nothing is lost: a batch is a row before it is a message. A message can be lost with
its worker (or its broker); the sweeper, run by every live worker's heartbeat, sends
again any batch that is queued with no message in flight or running on a dead worker.
Running a batch twice is harmless: results already stored are kept and not recomputed.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from PIL import Image

from inference import selectors
from inference.engine.manager import NOT_LOCAL, ManagerError
from inference.models import (
    Detection,
    EnrichmentBatch,
    EnrichmentResult,
    Frame,
    InferenceRequest,
    WorkStatus,
)
from models_registry.models import Category, ModelEntry

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
    """Send the batch to the best live worker's queue (after commit).

    ``previous`` is the ``dispatched_at`` the caller saw: the send happens only if no one
    dispatched it meanwhile, so two sweepers never both send it. Returns whether a
    message was (or will be, at commit) sent; False when no worker is alive: the batch
    stays queued and the first worker to heartbeat sends it.
    """
    from inference.tasks import enrich_batch
    from inference.worker.lifecycle import queue_for

    every_frame, by_label = selectors.trigger_table()
    labels = Detection.objects.filter(frame__batch_id=batch_id).values_list("label", flat=True)
    wanted = set(every_frame).union(*(by_label.get(label, []) for label in set(labels)))
    chosen = selectors.route(wanted)
    if chosen is None:
        return False
    claimed = EnrichmentBatch.objects.filter(pk=batch_id, dispatched_at=previous).update(
        dispatched_at=timezone.now()
    )
    if not claimed:
        return False
    queue = queue_for(chosen.device.host, chosen.device.name)
    transaction.on_commit(lambda: enrich_batch.apply_async(args=[str(batch_id)], queue=queue))
    logger.info("Batch %s → %s (%d of its models there)", batch_id, queue, chosen.loaded)
    return True


# --- Claiming and running ---------------------------------------------------------------


def batch_claim(*, batch_id: uuid.UUID | str, device_id: int, worker: str) -> bool:
    """Take a batch for this worker; False if it is finished or a live worker has it."""
    with transaction.atomic():
        batch = (
            EnrichmentBatch.objects.select_for_update(of=("self",)).select_related("device")
            .filter(pk=batch_id).first()
        )  # fmt: skip
        if batch is None or batch.status in (WorkStatus.DONE, WorkStatus.FAILED):
            return False
        if (
            batch.status == WorkStatus.RUNNING
            and batch.worker != worker
            and selectors.owner_alive(batch.device, batch.worker)
        ):
            return False
        if batch.attempts >= settings.ZOO_BATCH_MAX_ATTEMPTS:
            batch.status = WorkStatus.FAILED
            batch.error = f"gave up after {batch.attempts} attempts: the workers running it stopped"
            batch.finished_at = timezone.now()
            batch.save()
            return False
        batch.status = WorkStatus.RUNNING
        batch.device_id = device_id
        batch.worker = worker
        batch.attempts += 1
        batch.started_at = timezone.now()
        batch.save()
        return True


@dataclass(frozen=True)
class WorkItem:
    frame: Frame
    detection: Detection | None


def _plan(batch_id: uuid.UUID) -> tuple[dict[str, list[WorkItem]], dict[str, str]]:
    """Model → the frames and detections it must see, grouped so each model is loaded
    once per batch. All-frames models first, then per-label models in trigger order;
    OCR models after the detectors whose boxes they read. Also each model's category."""
    every_frame, by_label = selectors.trigger_table()
    frames = list(
        Frame.objects.filter(batch_id=batch_id).order_by("index").prefetch_related("detections")
    )
    plan: dict[str, list[WorkItem]] = {}
    for frame in frames:
        for name in every_frame:
            plan.setdefault(name, []).append(WorkItem(frame, None))
    for frame in frames:
        for detection in frame.detections.all():
            for name in by_label.get(detection.label, []):
                plan.setdefault(name, []).append(WorkItem(frame, detection))
    categories = dict(ModelEntry.objects.filter(name__in=plan).values_list("name", "category"))
    order = sorted(plan, key=lambda name: categories.get(name) == Category.OCR)
    return {name: plan[name] for name in order}, categories


class _Images:
    """Decoded frame images of one batch, each decoded once."""

    def __init__(self) -> None:
        self._cache: dict[int, Image.Image] = {}

    def of(self, frame: Frame) -> Image.Image:
        if frame.pk not in self._cache:
            if frame.path:
                source: Any = Path(settings.ZOO_MEDIA_ROOT) / frame.path
            else:
                data = Frame.objects.values_list("data", flat=True).get(pk=frame.pk)
                source = io.BytesIO(bytes(data or b""))
            image = Image.open(source)
            image.load()
            self._cache[frame.pk] = image.convert("RGB")
        return self._cache[frame.pk]


def _crop(image: Image.Image, bbox: list[float]) -> Image.Image:
    x1, y1, x2, y2 = (round(v) for v in bbox)
    return image.crop((x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)))


def _run_item(
    predict: Callable[..., dict[str, Any]],
    category: str,
    item: WorkItem,
    images: _Images,
    boxes_from: dict[int, list[list[float]]],
) -> dict[str, Any]:
    """One model on one frame or detection, fed the way its category needs."""
    image = images.of(item.frame)
    if item.detection is None:
        return predict(image)
    bbox = item.detection.bbox
    if category == Category.POSE:
        return predict(image, boxes=[bbox])
    if category == Category.OCR:
        plates = boxes_from.get(item.detection.pk, [])
        readings = [{"box": box, **predict(image, box=box)} for box in plates]
        return {"plates": readings}
    output = predict(_crop(image, bbox))
    if category == Category.DETECTION:  # its boxes are what the OCR that follows reads
        boxes_from.setdefault(item.detection.pk, []).extend(_in_frame(output, bbox))
    return output


def _in_frame(output: dict[str, Any] | None, bbox: list[float]) -> list[list[float]]:
    """Boxes a detector found inside a detection's crop, in frame coordinates."""
    x, y = bbox[0], bbox[1]
    found = (output or {}).get("detections", [])
    return [[d["box"][0] + x, d["box"][1] + y, d["box"][2] + x, d["box"][3] + y] for d in found]


def batch_run(*, batch_id: uuid.UUID | str, zoo: Any) -> str:
    """Run a claimed-or-claimable batch on this process's device; returns its status.

    Each triggered model is acquired once for the whole batch; results already stored
    (from an attempt cut short) are kept. A model that cannot be loaded gives each of its
    items an error result with the reason; the batch still completes.
    """
    batch_id = uuid.UUID(str(batch_id))
    if not batch_claim(batch_id=batch_id, device_id=zoo.device.pk, worker=zoo.worker):
        status = EnrichmentBatch.objects.filter(pk=batch_id).values_list("status", flat=True)
        return status.first() or "missing"  # a message for a batch this database lacks
    plan, categories = _plan(batch_id)
    done = set(
        EnrichmentResult.objects.filter(batch_id=batch_id).values_list(
            "frame_id", "detection_id", "model_name"
        )
    )
    # Boxes an earlier, interrupted attempt's detectors found, for the OCR still to run.
    boxes_from: dict[int, list[list[float]]] = {}
    detectors = [name for name, category in categories.items() if category == Category.DETECTION]
    earlier = EnrichmentResult.objects.filter(
        batch_id=batch_id, error="", model_name__in=detectors, detection__isnull=False
    ).select_related("detection")
    for stored in earlier:
        assert stored.detection is not None
        boxes_from.setdefault(stored.detection_id or 0, []).extend(
            _in_frame(stored.output, stored.detection.bbox)
        )
    images = _Images()
    batch_key = str(batch_id)
    try:
        for name, items in plan.items():
            todo = [i for i in items if (i.frame.pk, _det_id(i), name) not in done]
            if todo:
                _run_model(zoo, batch_key, name, categories.get(name, ""), todo, images,
                           boxes_from)  # fmt: skip
    finally:
        zoo.manager.end_batch(batch_key)
    EnrichmentBatch.objects.filter(pk=batch_id, worker=zoo.worker).update(
        status=WorkStatus.DONE, finished_at=timezone.now()
    )
    return WorkStatus.DONE


def _det_id(item: WorkItem) -> int | None:
    return item.detection.pk if item.detection is not None else None


def _run_model(
    zoo: Any,
    batch_key: str,
    name: str,
    category: str,
    items: list[WorkItem],
    images: _Images,
    boxes_from: dict[int, list[list[float]]],
) -> None:
    try:
        lease = zoo.manager.acquire(name, batch=batch_key)
    except ManagerError as exc:
        _store(batch_key, name, [(item, None, f"{name}: {exc}", None) for item in items])
        return
    rows: list[tuple[WorkItem, dict[str, Any] | None, str, float | None]] = []
    try:
        for item in items:
            started = time.perf_counter()
            try:
                output = _run_item(lease.predict, category, item, images, boxes_from)
                rows.append((item, output, "", time.perf_counter() - started))
            except ManagerError as exc:  # the model failed for good (out of memory)
                rows.append((item, None, f"{name}: {exc}", None))
                break
            except Exception as exc:  # one bad crop must not sink the batch
                logger.exception("%s failed on %s", name, item)
                rows.append((item, None, f"{name}: {type(exc).__name__}: {exc}", None))
    finally:
        lease.release()
        _store(batch_key, name, rows)


def _store(
    batch_key: str,
    name: str,
    rows: list[tuple[WorkItem, dict[str, Any] | None, str, float | None]],
) -> None:
    for item, output, error, duration in rows:
        try:
            with transaction.atomic():
                EnrichmentResult.objects.create(
                    batch_id=batch_key,
                    frame=item.frame,
                    detection=item.detection,
                    model_name=name,
                    output=output,
                    error=error,
                    duration_s=duration,
                )
        except IntegrityError:
            pass  # stored by an earlier attempt: keep it


# --- Sweeping -----------------------------------------------------------------------------


def work_sweep() -> int:
    """Dispatch again the batches that lost their message or their worker. Returns how
    many were sent."""
    grace = timezone.now() - timedelta(seconds=settings.ZOO_REDISPATCH_AFTER_S)
    sent = 0
    stuck = EnrichmentBatch.objects.filter(
        Q(status=WorkStatus.QUEUED, dispatched_at__isnull=True)
        | Q(status=WorkStatus.QUEUED, dispatched_at__lt=grace)
        | Q(status=WorkStatus.RUNNING, dispatched_at__lt=grace)
    ).select_related("device")[:100]
    for batch in stuck:
        if batch.status == WorkStatus.RUNNING and selectors.owner_alive(batch.device, batch.worker):
            continue
        with transaction.atomic():
            sent += batch_dispatch(batch_id=batch.pk, previous=batch.dispatched_at)
    return sent


# --- Task inference ----------------------------------------------------------------------


def inference_dispatch(*, request_id: uuid.UUID, model_name: str) -> bool:
    """Send an inference to the live worker best placed for its model (after commit)."""
    from inference.tasks import run_inference
    from inference.worker.lifecycle import queue_for

    chosen = selectors.route([model_name])
    if chosen is None:
        return False
    InferenceRequest.objects.filter(pk=request_id).update(dispatched_at=timezone.now())
    queue = queue_for(chosen.device.host, chosen.device.name)
    transaction.on_commit(lambda: run_inference.apply_async(args=[str(request_id)], queue=queue))
    return True


def inference_submit(
    *, task_type: str, model_name: str, image: bytes, options: dict[str, Any]
) -> tuple[InferenceRequest, bool]:
    """Store an inference request and dispatch it; (request, whether a worker took it)."""
    with transaction.atomic():
        request = InferenceRequest.objects.create(
            task_type=task_type, model_name=model_name, image=image, options=options
        )
        sent = inference_dispatch(request_id=request.pk, model_name=model_name)
        if not sent:
            request.status = WorkStatus.FAILED
            request.error = "no live worker"
            request.finished_at = timezone.now()
            request.save()
    return request, sent


def inference_run(*, request_id: uuid.UUID | str, zoo: Any) -> str:
    """Run one inference on this worker (idempotent: a finished request is left alone)."""
    claimed = InferenceRequest.objects.filter(
        pk=request_id, status__in=[WorkStatus.QUEUED, WorkStatus.RUNNING]
    ).update(status=WorkStatus.RUNNING, worker=zoo.worker, device=zoo.device)
    if not claimed:
        return "skipped"
    request = InferenceRequest.objects.get(pk=request_id)
    started = time.perf_counter()
    try:
        with zoo.load_sync(request.model_name) as lease:
            loaded = time.perf_counter()
            image = Image.open(io.BytesIO(bytes(request.image)))
            image.load()
            result = lease.predict(image.convert("RGB"), **request.options)
            done = time.perf_counter()
            fields: dict[str, Any] = {
                "status": WorkStatus.DONE,
                "result": {"output": result, "device": lease.device, "cold": lease.cold},
                "load_s": loaded - started,
                "inference_s": done - loaded,
            }
    except ManagerError as exc:
        fields = {
            "status": WorkStatus.FAILED,
            "error": f"Failed to load model: {exc}",
            "out_of_memory": bool(getattr(exc, "out_of_memory", False)),
        }
    except Exception as exc:  # a bad option or an image the model rejects
        logger.exception("Inference %s failed", request_id)
        fields = {"status": WorkStatus.FAILED, "error": f"Inference failed: {exc}"}
    InferenceRequest.objects.filter(pk=request_id).update(finished_at=timezone.now(), **fields)
    return str(fields["status"])


# --- Explicit control ---------------------------------------------------------------------


def model_load_dispatch(*, model_name: str) -> Any:
    """Ask the best-placed live worker to load a model; its device, or None if no worker."""
    from inference.tasks import load_model
    from inference.worker.lifecycle import queue_for

    chosen = selectors.route([model_name])
    if chosen is None:
        return None
    queue = queue_for(chosen.device.host, chosen.device.name)
    transaction.on_commit(lambda: load_model.apply_async(args=[model_name], queue=queue))
    return chosen.device


def model_unload_dispatch(*, model_name: str, wait_s: float) -> list[Any]:
    """Ask every live worker holding the model to unload it once released; their devices."""
    from inference.tasks import unload_model
    from inference.worker.lifecycle import queue_for

    devices = selectors.devices_holding(model_name)
    queues = [queue_for(device.host, device.name) for device in devices]

    def send() -> None:
        for queue in queues:
            unload_model.apply_async(args=[model_name, wait_s], queue=queue)

    transaction.on_commit(send)
    return devices


def selection_warm(*, previous: ModelEntry | None, entry: ModelEntry) -> None:
    """Load a task's newly selected model on a worker when the old one was loaded, or
    when warmup is on (the document's "model selection change" loading trigger)."""
    from fleet.selectors import is_loaded
    from models_registry.selectors import inference_settings

    if entry.loader in NOT_LOCAL or (previous is not None and previous.pk == entry.pk):
        return
    was_loaded = previous is not None and is_loaded(model_id=previous.pk)
    if was_loaded or inference_settings().warmup_on_startup:
        model_load_dispatch(model_name=entry.name)
