"""A batch's share of the work on this worker: one model on a batch's frames or
detections (a work item), each result stored once.

Serving an item twice is harmless: results already stored are kept and not recomputed.
A batch is claimed by the first of its items this process serves (counting an attempt)
and is done when its last item is.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image

from inference import selectors
from inference.engine.manager import Lease, ManagerError
from inference.models import (
    Detection,
    EnrichmentBatch,
    EnrichmentResult,
    Frame,
    WorkItem,
    WorkStatus,
)
from inference.run.frames import FrameImages
from inference.run.requests import time_limit_reason, time_limited
from inference.runtime.zoo import ModelZoo, model_zoo
from inference.work import UNFINISHED, batch_images_release, batch_items_create
from models_registry.models import Category

logger = logging.getLogger(__name__)


def batch_claim(*, batch_id: uuid.UUID, device_id: int, worker: str) -> bool:
    """Take a batch for this worker; False if it is finished or a live worker has it.

    A batch whose workers keep dying fails after ``ZOO_BATCH_MAX_ATTEMPTS`` claims,
    with its unfinished items.
    """
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
        now = timezone.now()
        if batch.attempts >= settings.ZOO_BATCH_MAX_ATTEMPTS:
            batch.status = WorkStatus.FAILED
            batch.error = f"gave up after {batch.attempts} attempts: the workers running it stopped"
            batch.finished_at = now
            batch.save()
            WorkItem.objects.filter(batch_id=batch_id, status__in=UNFINISHED).update(
                status=WorkStatus.FAILED, error=batch.error, finished_at=now
            )
            batch_images_release(batch_id=batch_id)
            return False
        batch.status = WorkStatus.RUNNING
        batch.device_id = device_id
        batch.worker = worker
        batch.attempts += 1
        batch.started_at = now
        batch.save()
        return True


def _claimed_here(zoo: ModelZoo, batch_id: uuid.UUID) -> bool:
    """Whether this process holds the batch, claiming it on its first item here (a
    process that restarted claims again: one more attempt)."""
    if batch_id in zoo.claimed_batches:
        still = EnrichmentBatch.objects.filter(
            pk=batch_id, status=WorkStatus.RUNNING, worker=zoo.worker
        ).exists()
        if still:
            return True
        zoo.claimed_batches.discard(batch_id)
    if batch_claim(batch_id=batch_id, device_id=zoo.device.pk, worker=zoo.worker):
        zoo.claimed_batches.add(batch_id)
        return True
    return False


@dataclass(frozen=True)
class Target:
    """What one model reads of a batch: a whole frame, or one detection in it."""

    frame: Frame
    detection: Detection | None

    @property
    def key(self) -> tuple[int, int | None]:
        return self.frame.pk, self.detection.pk if self.detection is not None else None


def _targets(batch_id: uuid.UUID, pairs: list[list[int | None]]) -> list[Target]:
    frames = {
        frame.index: frame
        for frame in Frame.objects.filter(batch_id=batch_id).defer("data")
        .prefetch_related("detections")
    }  # fmt: skip
    found: list[Target] = []
    for frame_index, detection_index in pairs:
        frame = frames[frame_index or 0]
        detections = {d.index: d for d in frame.detections.all()}
        found.append(
            Target(frame, None if detection_index is None else detections[detection_index])
        )
    return found


def _crop(image: Image.Image, bbox: list[float]) -> Image.Image:
    x1, y1, x2, y2 = (round(v) for v in bbox)
    return image.crop((x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)))


def _run_target(
    predict: Callable[..., dict[str, Any]],
    category: str,
    target: Target,
    images: FrameImages,
    plates: dict[int, list[list[float]]],
) -> dict[str, Any]:
    """One model on one frame or detection, fed the way its category needs."""
    image = images.of(target.frame)
    if target.detection is None:
        return predict(image)
    bbox = target.detection.bbox
    if category == Category.POSE:
        return predict(image, boxes=[bbox])
    if category == Category.OCR:
        boxes = plates.get(target.detection.pk, [])
        if not boxes:
            return {"plates": []}
        readings = predict(image, boxes=boxes)["readings"]  # every plate in one pass
        return {"plates": [{"box": box, **read} for box, read in zip(boxes, readings, strict=True)]}
    return predict(_crop(image, bbox))


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


def _plates_found(batch_id: uuid.UUID) -> dict[int, list[list[float]]]:
    """The plate boxes the batch's detectors stored, per detection, for its OCR."""
    detectors = [
        name for name, category in selectors.model_categories(
            list(EnrichmentResult.objects.filter(batch_id=batch_id).values_list(
                "model_name", flat=True).distinct())
        ).items() if category == Category.DETECTION
    ]  # fmt: skip
    stored = EnrichmentResult.objects.filter(
        batch_id=batch_id, error="", model_name__in=detectors, detection__isnull=False
    ).select_related("detection")
    plates: dict[int, list[list[float]]] = {}
    for result in stored:
        assert result.detection is not None
        plates.setdefault(result.detection.pk, []).extend(
            _plates(result.output, result.detection.bbox)
        )
    return plates


def batch_run(*, batch_id: uuid.UUID | str, zoo: ModelZoo | None = None) -> str:
    """Run a whole batch here and now, item after item in plan order (``zoo_run``, tests,
    and a worker with no scheduler); returns its status.

    Claims the batch (an attempt) unless a live worker has it or it is finished; items
    it lacks are created on this device. A model that cannot be loaded gives each of its
    targets an error result with the reason; the batch still completes.
    """
    zoo = zoo or model_zoo
    batch_id = uuid.UUID(str(batch_id))
    zoo.claimed_batches.discard(batch_id)  # every run here is an attempt of its own
    if not _claimed_here(zoo, batch_id):
        status = EnrichmentBatch.objects.filter(pk=batch_id).values_list("status", flat=True)
        return status.first() or "missing"  # a message for a batch this database lacks
    if not batch_items_create(batch_id=batch_id, device_id=zoo.device.pk):
        EnrichmentBatch.objects.filter(pk=batch_id).update(
            status=WorkStatus.DONE, finished_at=timezone.now()
        )
        batch_images_release(batch_id=batch_id)
    items = WorkItem.objects.filter(batch_id=batch_id)
    items.update(status=WorkStatus.QUEUED, device=zoo.device)  # each is looked at again
    for item in items.order_by("position"):
        WorkItem.objects.filter(pk=item.pk).update(
            status=WorkStatus.RUNNING, worker=zoo.worker, device=zoo.device,
            started_at=timezone.now(),
        )  # fmt: skip
        batch_items_run(zoo, [item])
    status = EnrichmentBatch.objects.filter(pk=batch_id).values_list("status", flat=True)
    return status.first() or "missing"


Row = tuple[Target, dict[str, Any] | None, str, float | None]


def batch_items_run(zoo: ModelZoo, items: list[WorkItem]) -> None:
    """Serve batch items of one model this process claimed, together: the model on every
    target of theirs still without a result, the frames and crops of several batches
    sharing batched passes. A time limit ends them with the reason on each target left."""
    name = items[0].model_name
    category = selectors.model_categories([name]).get(name, "")
    work: list[tuple[WorkItem, list[Target]]] = []
    for item in items:
        assert item.batch_id is not None and item.model_name == name
        if _claimed_here(zoo, item.batch_id):
            work.append((item, _todo(item)))
        else:
            _item_finish(zoo, item, error="its batch is finished or another worker has it")
    pairs = [(str(item.batch_id), target) for item, todo in work for target in todo]
    try:
        if pairs:
            plates: dict[int, list[list[float]]] = {}
            if category == Category.OCR:
                for key in dict.fromkeys(key for key, _ in pairs):
                    plates.update(_plates_found(uuid.UUID(key)))
            _run_model(zoo, name, category, pairs, plates)
    except SoftTimeLimitExceeded:
        reason = f"{name}: {time_limit_reason()}"
        for item, todo in work:
            _store(str(item.batch_id), name, [(t, None, reason, None) for t in todo])
            _item_finish(zoo, item, error=reason)
        return
    for item, _ in work:
        _item_finish(zoo, item)


def _todo(item: WorkItem) -> list[Target]:
    """The item's targets without a stored result of its model."""
    batch_id = item.batch_id
    assert batch_id is not None
    done = set(
        EnrichmentResult.objects.filter(batch_id=batch_id, model_name=item.model_name)
        .values_list("frame_id", "detection_id")
    )  # fmt: skip
    return [t for t in _targets(batch_id, item.targets) if t.key not in done]


def _item_finish(zoo: ModelZoo, item: WorkItem, *, error: str = "") -> None:
    """The item is done; its batch too when it was the last unfinished one."""
    batch_key = item.batch_id
    assert batch_key is not None
    with transaction.atomic():
        WorkItem.objects.filter(pk=item.pk).exclude(status=WorkStatus.FAILED).update(
            status=WorkStatus.DONE, error=error, finished_at=timezone.now()
        )
        last = not selectors.batch_unfinished(batch_key)
        if last:
            EnrichmentBatch.objects.filter(pk=batch_key, worker=zoo.worker).exclude(
                status=WorkStatus.FAILED
            ).update(status=WorkStatus.DONE, finished_at=timezone.now())
    if last:
        batch_images_release(batch_id=batch_key)  # results kept, image bytes no longer
        zoo.claimed_batches.discard(batch_key)
        zoo.manager.end_batch(str(batch_key))


def _run_model(
    zoo: ModelZoo,
    name: str,
    category: str,
    work: list[tuple[str, Target]],
    plates: dict[int, list[list[float]]],
) -> None:
    """The model on (batch, target) pairs, under one lease per batch (``after_batch``
    counts each batch's use); each batch's results stored, whatever happens."""
    keys = list(dict.fromkeys(key for key, _ in work))
    leases: list[Lease] = []
    try:
        for key in keys:
            leases.append(zoo.manager.acquire(name, batch=key))
    except ManagerError as exc:
        for lease in leases:
            lease.release()
        if time_limited(exc):
            raise SoftTimeLimitExceeded() from exc
        for key in keys:
            _store(key, name, [(t, None, f"{name}: {exc}", None) for k, t in work if k == key])
        return
    except BaseException:
        for lease in leases:
            lease.release()
        raise
    images = FrameImages()
    rows: list[tuple[str, Row]] = []
    # Models fed whole frames or crops take up to ZOO_PREDICT_BATCH of them in one pass.
    size = 1 if category in (Category.POSE, Category.OCR) else max(settings.ZOO_PREDICT_BATCH, 1)
    try:
        for start in range(0, len(work), size):
            chunk = work[start : start + size]
            targets = [target for _, target in chunk]
            try:
                found = _run_chunk(leases[0], name, category, targets, images, plates)
            except ManagerError as exc:  # the model failed for good (out of memory)
                rows.extend((key, (t, None, f"{name}: {exc}", None)) for key, t in chunk)
                break
            rows.extend((key, row) for (key, _), row in zip(chunk, found, strict=True))
    finally:
        for lease in leases:
            lease.release()
        for key in keys:
            _store(key, name, [row for k, row in rows if k == key])


def _run_chunk(
    lease: Lease,
    name: str,
    category: str,
    chunk: list[Target],
    images: FrameImages,
    plates: dict[int, list[list[float]]],
) -> list[Row]:
    """Results for a few targets: in one batched call, or (one target, a category that
    reads boxes, or a batch that failed) one call each, so one bad crop sinks nothing
    else."""
    if len(chunk) > 1:
        started = time.perf_counter()
        try:
            outputs = lease.predict_many([_input(target, images) for target in chunk])
            share = (time.perf_counter() - started) / len(chunk)
            return [(t, out, "", share) for t, out in zip(chunk, outputs, strict=True)]
        except (ManagerError, SoftTimeLimitExceeded):
            raise
        except Exception:
            logger.warning("%s failed on a batch of %d; trying one at a time", name, len(chunk))
    rows: list[Row] = []
    for target in chunk:
        started = time.perf_counter()
        try:
            output = _run_target(lease.predict, category, target, images, plates)
            rows.append((target, output, "", time.perf_counter() - started))
        except (ManagerError, SoftTimeLimitExceeded):
            raise
        except Exception as exc:  # one bad crop must not sink the batch
            logger.exception("%s failed on %s", name, target)
            rows.append((target, None, f"{name}: {type(exc).__name__}: {exc}", None))
    return rows


def _input(target: Target, images: FrameImages) -> Image.Image:
    """What a model fed frames or crops reads of a target."""
    image = images.of(target.frame)
    return image if target.detection is None else _crop(image, target.detection.bbox)


def _store(batch_key: str, name: str, rows: list[Row]) -> None:
    for target, output, error, duration in rows:
        try:
            with transaction.atomic():
                EnrichmentResult.objects.create(
                    batch_id=batch_key,
                    frame=target.frame,
                    detection=target.detection,
                    model_name=name,
                    output=output,
                    error=error,
                    duration_s=duration,
                )
        except IntegrityError:
            pass  # stored by an earlier attempt: keep it
