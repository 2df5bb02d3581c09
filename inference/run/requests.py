"""Task inferences and explicit loads and unloads on this worker's device."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from core.images import decoded_rgb
from inference.engine.manager import NOT_LOCAL, ManagerError
from inference.models import InferenceFrame, InferenceRequest, WorkItem, WorkKind, WorkStatus
from inference.run.remote import remote_run
from inference.runtime.zoo import ModelZoo, model_zoo
from models_registry.models import ModelEntry

logger = logging.getLogger(__name__)


def time_limited(exc: BaseException) -> bool:
    """Whether the worker's time limit caused ``exc`` (the manager reports a load the
    limit interrupted as a failed load, the interrupt as its cause)."""
    return isinstance(exc, SoftTimeLimitExceeded) or isinstance(
        exc.__cause__, SoftTimeLimitExceeded
    )


def time_limit_reason() -> str:
    return f"stopped at the worker's time limit ({settings.ZOO_TASK_SOFT_TIME_LIMIT_S} s)"


def item_take(zoo: ModelZoo, **where: Any) -> bool:
    """Claim the queued items chosen by ``where`` for this worker; whether any was."""
    return bool(
        WorkItem.objects.filter(status=WorkStatus.QUEUED, **where).update(
            status=WorkStatus.RUNNING, worker=zoo.worker, started_at=timezone.now()
        )
    )


def items_done(*, error: str = "", **where: Any) -> None:
    """The items chosen by ``where`` are done (those failed stay failed)."""
    WorkItem.objects.filter(**where).exclude(status=WorkStatus.FAILED).update(
        status=WorkStatus.DONE, error=error, finished_at=timezone.now()
    )


def inference_run(
    *, request_id: uuid.UUID | str, zoo: ModelZoo | None = None, taken: bool = False
) -> str:
    """Run one inference on this worker now (idempotent: a finished request, or one whose
    item another thread took, is left alone). ``taken``: the caller claimed its item."""
    zoo = zoo or model_zoo
    request_id = uuid.UUID(str(request_id))
    has_item = WorkItem.objects.filter(request_id=request_id).exists()
    if has_item and not taken and not item_take(zoo, request_id=request_id):
        return "skipped"
    claimed = InferenceRequest.objects.filter(
        pk=request_id, status__in=[WorkStatus.QUEUED, WorkStatus.RUNNING]
    ).update(status=WorkStatus.RUNNING, worker=zoo.worker, device=zoo.device)
    if not claimed:
        items_done(request_id=request_id)
        return "skipped"
    request = InferenceRequest.objects.get(pk=request_id)
    entry = ModelEntry.objects.filter(name=request.model_name).first()
    try:
        if entry is not None and entry.loader in NOT_LOCAL:
            fields = remote_run(zoo, request, entry)
        else:
            fields = _local_run(zoo, request)
    except SoftTimeLimitExceeded:
        fields = {"status": WorkStatus.FAILED, "error": f"Inference {time_limit_reason()}"}
    # Finished: the frames are released (nothing reads them again); the result is kept.
    InferenceRequest.objects.filter(pk=request_id).update(
        finished_at=timezone.now(), image=b"", **fields
    )
    InferenceFrame.objects.filter(request_id=request_id).delete()
    items_done(request_id=request_id)
    return str(fields["status"])


def _local_run(zoo: ModelZoo, request: InferenceRequest) -> dict[str, Any]:
    """Run the request's model here on its image: the fields of the finished request."""
    started = time.perf_counter()
    try:
        with zoo.load_sync(request.model_name) as lease:
            loaded = time.perf_counter()
            image = decoded_rgb(bytes(request.image), settings.ZOO_MAX_IMAGE_PIXELS)
            result = lease.predict(image, **request.options)
            done = time.perf_counter()
            return {
                "status": WorkStatus.DONE,
                "result": {"output": result, "device": lease.device, "cold": lease.cold},
                "load_s": loaded - started,
                "inference_s": done - loaded,
            }
    except ManagerError as exc:
        return {
            "status": WorkStatus.FAILED,
            "error": f"Inference {time_limit_reason()}"
            if time_limited(exc)
            else f"Failed to load model: {exc}",
            "out_of_memory": bool(getattr(exc, "out_of_memory", False)),
        }
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # a bad option or an image the model rejects
        logger.exception("Inference %s failed", request.pk)
        return {"status": WorkStatus.FAILED, "error": f"Inference failed: {exc}"}


def model_warm(*, model_name: str, zoo: ModelZoo | None = None) -> dict[str, Any]:
    """Make sure a model is in memory on this worker's device (loading it if needed);
    the load items waiting for it here are done."""
    zoo = zoo or model_zoo
    loads = {"kind": WorkKind.LOAD, "model_name": model_name, "device": zoo.device}
    item_take(zoo, **loads)
    error = ""
    try:
        with zoo.load_sync(model_name) as lease:
            return {"model": model_name, "device": lease.device, "cold": lease.cold}
    except (ManagerError, SoftTimeLimitExceeded) as exc:
        error = f"load {time_limit_reason()}" if time_limited(exc) else str(exc)
        logger.warning("load %s: %s", model_name, error)
        return {"model": model_name, "error": error}
    finally:
        items_done(**loads, status=WorkStatus.RUNNING, worker=zoo.worker, error=error)


def model_release(
    *, model_name: str, wait_s: float, for_worker: str = "", zoo: ModelZoo | None = None
) -> dict[str, Any]:
    """Unload a model from this worker's device once nobody uses it. A message sent to
    another worker (``for_worker``: one that had stopped answering, and was replaced
    since on this device) is not for this one: what this one holds was loaded after."""
    zoo = zoo or model_zoo
    if for_worker and for_worker != zoo.worker:
        return {"model": model_name, "unloaded": False, "skipped": f"sent to {for_worker}"}
    try:
        unloaded = zoo.manager.unload(model_name, wait_s=wait_s)
    except ManagerError as exc:
        return {"model": model_name, "error": str(exc)}
    return {"model": model_name, "unloaded": unloaded}
