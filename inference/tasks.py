"""Celery tasks of the GPU workers: interfaces only. Each takes ids, imports its
service inside its body and calls exactly one (``inference.run``); the web side's
``inference.services`` imports these and sends them on commit.

The work itself waits in the database as work items on the device; a message wakes the
device's scheduler (``inference.worker.scheduler``), which serves them model by model.
An inference or a load whose model is already loaded is served by the message at once.

Every task is idempotent (running it twice does no harm), acknowledged late and
rejected back to the queue if its worker dies, and runs under the worker's own time
limit, sized for model loads, not for web requests. The worker process's signals live
with the Celery app (``zoo_project.celery``).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

# No time limits here: they would travel in each message from the sender's settings.
# The worker applies its own (``zoo_worker`` starts Celery with ZOO_TASK_SOFT_TIME_LIMIT_S).
TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="zoo.load_model", **TASK_OPTIONS)
def load_model(model_name: str) -> dict[str, Any]:
    """Make sure a model is in memory on this worker's device (loading it if needed)."""
    from inference.run import load_serve

    return load_serve(model_name=model_name)


@shared_task(name="zoo.unload_model", **TASK_OPTIONS)
def unload_model(model_name: str, wait_s: float = 0.0, worker: str = "") -> dict[str, Any]:
    """Unload a model from this worker's device once nobody uses it (only if this is the
    ``worker`` it was sent to, when one is named)."""
    from inference.run import model_release

    return model_release(model_name=model_name, wait_s=wait_s, for_worker=worker)


@shared_task(name="zoo.enrich_batch", **TASK_OPTIONS)
def enrich_batch(batch_id: str) -> str:
    """Wake the scheduler for a batch's items (idempotent: results are stored once)."""
    from inference.run import batch_serve

    return batch_serve(batch_id=batch_id)


@shared_task(name="zoo.run_inference", **TASK_OPTIONS)
def run_inference(request_id: str) -> str:
    """Run a task inference (``POST /api/models/infer``) on this worker's device."""
    from inference.run import inference_serve

    return inference_serve(request_id=request_id)
