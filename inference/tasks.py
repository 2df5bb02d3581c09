"""Celery tasks of the GPU workers: interfaces only. Each takes ids, imports its
service inside its body and calls exactly one (``inference.run``); the web side's
``inference.services`` imports these and sends them on commit.

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
    from inference.run import model_warm

    return model_warm(model_name=model_name)


@shared_task(name="zoo.unload_model", **TASK_OPTIONS)
def unload_model(model_name: str, wait_s: float = 0.0) -> dict[str, Any]:
    """Unload a model from this worker's device once nobody uses it."""
    from inference.run import model_release

    return model_release(model_name=model_name, wait_s=wait_s)


@shared_task(name="zoo.enrich_batch", **TASK_OPTIONS)
def enrich_batch(batch_id: str) -> str:
    """Run the models an enrichment batch triggers; idempotent (see run.batch_run)."""
    from inference.run import batch_run

    return batch_run(batch_id=batch_id)


@shared_task(name="zoo.run_inference", **TASK_OPTIONS)
def run_inference(request_id: str) -> str:
    """Run a task inference (``POST /api/models/infer``) on this worker's device."""
    from inference.run import inference_run

    return inference_run(request_id=request_id)
