"""Which model a worker serves next: the policy of model-major execution.

Work waiting on a device is grouped by model (every pending item of a model is served
in one go while it is loaded), and the next model is chosen by, in order:

1. **bounded waiting** — a model whose oldest item has waited ``max_wait_s`` or more is
   served next, the longest-waiting first, whether it is resident or not (no item
   starves behind a stream of work for resident models);
2. **priority** — interactive work (task inference, explicit loads of a critical task)
   before enrichment backlog;
3. **residency** — a model already in memory before one that needs a load, so loads
   and evictions follow models, not messages;
4. **volume** — the model with the most pending items, then the oldest.

Plain Python (no database): the worker's scheduler feeds it what is pending.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Pending:
    """What waits for one model on one device."""

    model: str
    items: int
    oldest: datetime
    priority: int = 0


def next_model(
    pending: Iterable[Pending], *, resident: Collection[str], now: datetime, max_wait_s: float
) -> str | None:
    """The model to serve next, or None when nothing waits."""
    waiting = [p for p in pending if p.items > 0]
    if not waiting:
        return None
    overdue = [p for p in waiting if (now - p.oldest).total_seconds() >= max_wait_s]
    if overdue:
        return min(overdue, key=lambda p: p.oldest).model
    return min(
        waiting,
        key=lambda p: (-p.priority, p.model not in resident, -p.items, p.oldest),
    ).model
