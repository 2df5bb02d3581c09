"""Celery tasks of the GPU workers: thin, taking ids, each calling one service.

Every task is idempotent (running it twice does no harm), acknowledged late and
rejected back to the queue if its worker dies, and has a time limit sized for model
loads, not for web requests.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import task_postrun, worker_process_init, worker_process_shutdown
from django.conf import settings

from inference import services
from inference.engine.manager import ManagerError
from inference.worker import lifecycle
from inference.worker.zoo import model_zoo

logger = logging.getLogger(__name__)

LOAD_LIMITS = {
    "soft_time_limit": settings.ZOO_TASK_SOFT_TIME_LIMIT_S,
    "time_limit": settings.ZOO_TASK_SOFT_TIME_LIMIT_S + 60,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@worker_process_init.connect
def _serve_device(**_: Any) -> None:
    """In each pool child: bind to the worker's device (the parent never touches it)."""
    device = settings.ZOO_WORKER_DEVICE
    if device:
        lifecycle.start_serving(device, total_memory_mb=settings.ZOO_DEVICE_TOTAL_MEMORY_MB or None)


@worker_process_shutdown.connect
def _release_device(**_: Any) -> None:
    if settings.ZOO_WORKER_DEVICE:
        lifecycle.stop_serving()


@task_postrun.connect
def _store_latency(**_: Any) -> None:
    """A task's latency samples are stored before Celery acknowledges its message."""
    lifecycle.flush_latency()


@shared_task(name="zoo.load_model", **LOAD_LIMITS)
def load_model(model_name: str) -> dict[str, Any]:
    """Make sure a model is in memory on this worker's device (loading it if needed)."""
    try:
        with model_zoo.load_sync(model_name) as lease:
            return {"model": model_name, "device": lease.device, "cold": lease.cold}
    except ManagerError as exc:
        logger.warning("load %s: %s", model_name, exc)
        return {"model": model_name, "error": str(exc)}


@shared_task(name="zoo.unload_model", **LOAD_LIMITS)
def unload_model(model_name: str, wait_s: float = 0.0) -> dict[str, Any]:
    """Unload a model from this worker's device once nobody uses it."""
    try:
        unloaded = model_zoo.manager.unload(model_name, wait_s=wait_s)
    except ManagerError as exc:
        return {"model": model_name, "error": str(exc)}
    return {"model": model_name, "unloaded": unloaded}


@shared_task(name="zoo.enrich_batch", **LOAD_LIMITS)
def enrich_batch(batch_id: str) -> str:
    """Run the models an enrichment batch triggers; idempotent (see services.batch_run)."""
    return services.batch_run(batch_id=batch_id, zoo=model_zoo)


@shared_task(name="zoo.run_inference", **LOAD_LIMITS)
def run_inference(request_id: str) -> str:
    """Run a task inference (``POST /api/models/infer``) on this worker's device."""
    return services.inference_run(request_id=request_id, zoo=model_zoo)
