"""The worker side of the inference app: serving the work items waiting on this worker's
device (batches model by model, task inferences, loads), storing each result once."""

from __future__ import annotations

from inference.run.batches import batch_claim, batch_items_run, batch_run
from inference.run.items import (
    BY_ARRIVAL,
    BY_MODEL,
    ORDERS,
    batch_serve,
    group_claim,
    inference_serve,
    item_claim,
    items_recover,
    items_serve,
    load_serve,
    preempted,
    round_next,
)
from inference.run.requests import inference_run, model_release, model_warm

__all__ = [
    "BY_ARRIVAL",
    "BY_MODEL",
    "ORDERS",
    "batch_claim",
    "batch_items_run",
    "batch_run",
    "batch_serve",
    "group_claim",
    "inference_run",
    "inference_serve",
    "item_claim",
    "items_recover",
    "items_serve",
    "load_serve",
    "model_release",
    "model_warm",
    "preempted",
    "round_next",
]
