"""The order of a batch's work, in plain Python (no database): which models a batch
triggers, on which of its frames and detections, and in which order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

# The category whose models read what the detectors before them found (plates).
READS_DETECTIONS = "ocr"

# (position of a frame in its batch, position of a detection in that frame, or None for
# the whole frame)
PlanItem = tuple[int, int | None]


def batch_plan(
    labels: Sequence[Sequence[str]],
    every_frame: Sequence[str],
    by_label: Mapping[str, Sequence[str]],
    categories_of: Callable[[list[str]], Mapping[str, str]],
) -> tuple[dict[str, list[PlanItem]], dict[str, str]]:
    """Which models a batch runs, in which order, on which items.

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
    order = sorted(plan, key=lambda name: stage_of(categories.get(name, "")))
    return {name: plan[name] for name in order}, categories


def stage_of(category: str) -> int:
    """0 for a model that reads frames and detections, 1 for one that reads what the
    stage-0 models found (it waits until they are done)."""
    return 1 if category == READS_DETECTIONS else 0
