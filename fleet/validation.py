"""``POST /api/models/validate``: whether the selected task models fit the device, by
the Model Management document's sums, and what would happen when they do not."""

from __future__ import annotations

from fleet.hardware import DeviceInfo
from fleet.selectors import primary_device
from models_registry.models import InferenceSettings, ModelEntry, Task
from models_registry.selectors import gb, inference_settings, tasks_with_options


def _requirement(entry: ModelEntry, need_gb: float) -> dict[str, object]:
    """A selected model's line of ``model_requirements``: the document's name and size,
    and its ``model_id``, which the annotation tool's client reads."""
    return {"model_name": entry.name, "model_id": entry.model_id or entry.name, "vram_gb": need_gb}


def budget_validation(
    *,
    selection: dict[str, ModelEntry] | None = None,
    tasks: list[Task] | None = None,
    device: DeviceInfo | None = None,
    row: InferenceSettings | None = None,
) -> dict[str, object]:
    """``POST /api/models/validate``: do the selected models fit, by the document's sums.

    ``max_allowed_gb = total_vram_gb × offload_threshold``; the selection is valid when
    the selected models' requirements add up to no more than that (in VRAM, as the
    document has it, whatever CPU fallback would do; with ``cpu_fallback`` on, an
    invalid selection's warnings say that what does not fit runs on the CPU instead
    of failing). ``selection`` replaces
    the selection of the tasks it names (what-if, for "validate before select"); the
    other arguments save queries when checking many selections.
    """
    device = device or primary_device()
    row = row or inference_settings()
    tasks = tasks_with_options() if tasks is None else tasks
    chosen = {task.name: task.selected for task in tasks} | (selection or {})
    total_gb = gb(device.total_memory_mb)
    max_allowed = round(total_gb * row.offload_threshold, 2)
    requirements: dict[str, object] = {}
    warnings: list[str] = []
    required = 0.0
    for task in tasks:
        entry = chosen.get(task.name)
        if entry is None:
            continue
        need = gb(entry.vram_mb)
        required += need
        requirements[task.name] = _requirement(entry, need)
        if need > row.max_memory_per_model:
            warnings.append(
                f"{entry.name} needs {need:.1f} GB, more than max_memory_per_model "
                f"({row.max_memory_per_model:.1f} GB)"
            )
    required = round(required, 2)
    valid = required <= max_allowed and not warnings
    warnings = _total_warnings(required, total_gb, max_allowed, row) + warnings
    if not valid and row.cpu_fallback:
        # What would really happen: the document's "graceful degradation".
        warnings.append(
            "CPU fallback is on: a selected model that does not fit the GPU when it loads "
            "runs on the CPU, more slowly, instead of failing"
        )
    if not valid:
        warnings.append("Consider selecting smaller models or reducing simultaneous tasks")
    return {
        "valid": valid,
        "total_vram_gb": total_gb,
        "total_required_gb": required,
        "threshold": row.offload_threshold,
        "max_allowed_gb": max_allowed,
        "model_requirements": requirements,
        "warnings": warnings,
    }


def _total_warnings(
    required: float, total_gb: float, max_allowed: float, row: InferenceSettings
) -> list[str]:
    """The document's first warning, when the sum exceeds the device or the threshold."""
    if required > total_gb:
        return [
            f"Total required VRAM ({required:.1f} GB) exceeds available VRAM ({total_gb:.1f} GB)"
        ]
    if required > max_allowed:
        return [
            f"Total required VRAM ({required:.1f} GB) exceeds the allowed "
            f"{row.offload_threshold:.0%} of available VRAM ({max_allowed:.1f} GB)"
        ]
    return []
