"""The worker side of the inference app: claiming a batch or an inference, running its
models through this worker's zoo, storing each result once.

Running a batch twice is harmless: results already stored are kept and not recomputed.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image

from inference import selectors
from inference.engine.manager import ManagerError
from inference.models import (
    Detection,
    EnrichmentBatch,
    EnrichmentResult,
    Frame,
    InferenceRequest,
    WorkStatus,
)
from inference.runtime.zoo import ModelZoo, model_zoo
from models_registry.models import Category, ModelEntry

logger = logging.getLogger(__name__)


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


# (position of a frame in its batch, position of a detection in that frame, or None for
# the whole frame)
PlanItem = tuple[int, int | None]


def batch_plan(
    labels: Sequence[Sequence[str]],
    every_frame: Sequence[str],
    by_label: Mapping[str, Sequence[str]],
    categories_of: Callable[[list[str]], Mapping[str, str]],
) -> tuple[dict[str, list[PlanItem]], dict[str, str]]:
    """Which models a batch runs, in which order, on which items; no database.

    ``labels`` holds each frame's detection labels, frames and detections in index
    order; ``every_frame`` and ``by_label`` are the trigger table. Each model is listed
    once, so it is loaded once per batch: all-frames models first, then per-label
    models in order of first appearance (frame by frame, detection by detection, a
    label's models in trigger order); OCR models after everything else, since they
    read the boxes of the detectors before them. ``categories_of`` is asked once, for
    the planned models' categories, which come back with the plan.
    """
    plan: dict[str, list[PlanItem]] = {}
    for frame in range(len(labels)):
        for name in every_frame:
            plan.setdefault(name, []).append((frame, None))
    for frame, frame_labels in enumerate(labels):
        for detection, label in enumerate(frame_labels):
            for name in by_label.get(label, []):
                plan.setdefault(name, []).append((frame, detection))
    categories = dict(categories_of(list(plan)))
    order = sorted(plan, key=lambda name: categories.get(name) == Category.OCR)
    return {name: plan[name] for name in order}, categories


def _categories(names: list[str]) -> dict[str, str]:
    return dict(ModelEntry.objects.filter(name__in=names).values_list("name", "category"))


def _plan(batch_id: uuid.UUID) -> tuple[dict[str, list[WorkItem]], dict[str, str]]:
    """``batch_plan`` for a stored batch, with its frames and detections as work items;
    also each planned model's category."""
    every_frame, by_label = selectors.trigger_table()
    frames = list(
        Frame.objects.filter(batch_id=batch_id).order_by("index").prefetch_related("detections")
    )
    detections = [list(frame.detections.all()) for frame in frames]
    labels = [[detection.label for detection in found] for found in detections]
    plan, categories = batch_plan(labels, every_frame, by_label, _categories)
    items = {
        name: [
            WorkItem(frames[frame], None if detection is None else detections[frame][detection])
            for frame, detection in planned
        ]
        for name, planned in plan.items()
    }
    return items, categories


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
        if not plates:
            return {"plates": []}
        readings = predict(image, boxes=plates)["readings"]  # every plate in one pass
        return {
            "plates": [{"box": box, **read} for box, read in zip(plates, readings, strict=True)]
        }
    output = predict(_crop(image, bbox))
    if category == Category.DETECTION:  # its boxes are what the OCR that follows reads
        boxes_from.setdefault(item.detection.pk, []).extend(_plates(output, bbox))
    return output


def _plates(output: dict[str, Any] | None, bbox: list[float]) -> list[list[float]]:
    """The boxes a detector found inside a detection's crop that OCR should read, in
    frame coordinates: at most ``ZOO_OCR_MAX_PLATES`` of them, the most confident first,
    none under ``ZOO_OCR_MIN_SCORE`` (a detector may return up to 100 boxes per crop)."""
    x, y = bbox[0], bbox[1]
    found = [
        d for d in (output or {}).get("detections", [])
        if d.get("score", 1.0) >= settings.ZOO_OCR_MIN_SCORE
    ]  # fmt: skip
    found.sort(key=lambda d: -d.get("score", 1.0))
    return [
        [d["box"][0] + x, d["box"][1] + y, d["box"][2] + x, d["box"][3] + y]
        for d in found[: settings.ZOO_OCR_MAX_PLATES]
    ]


def batch_run(*, batch_id: uuid.UUID | str, zoo: ModelZoo | None = None) -> str:
    """Run a claimed-or-claimable batch on this process's device; returns its status.

    Each triggered model is acquired once for the whole batch; results already stored
    (from an attempt cut short) are kept. A model that cannot be loaded gives each of its
    items an error result with the reason; the batch still completes.
    """
    zoo = zoo or model_zoo
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
            _plates(stored.output, stored.detection.bbox)
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


def inference_run(*, request_id: uuid.UUID | str, zoo: ModelZoo | None = None) -> str:
    """Run one inference on this worker (idempotent: a finished request is left alone)."""
    zoo = zoo or model_zoo
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


def model_warm(*, model_name: str, zoo: ModelZoo | None = None) -> dict[str, Any]:
    """Make sure a model is in memory on this worker's device (loading it if needed)."""
    zoo = zoo or model_zoo
    try:
        with zoo.load_sync(model_name) as lease:
            return {"model": model_name, "device": lease.device, "cold": lease.cold}
    except ManagerError as exc:
        logger.warning("load %s: %s", model_name, exc)
        return {"model": model_name, "error": str(exc)}


def model_release(*, model_name: str, wait_s: float, zoo: ModelZoo | None = None) -> dict[str, Any]:
    """Unload a model from this worker's device once nobody uses it."""
    zoo = zoo or model_zoo
    try:
        unloaded = zoo.manager.unload(model_name, wait_s=wait_s)
    except ManagerError as exc:
        return {"model": model_name, "error": str(exc)}
    return {"model": model_name, "unloaded": unloaded}
