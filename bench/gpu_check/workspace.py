"""What the check runs on: a SQLite database in a throwaway folder, the bootstrap's
checkpoint for the warm-up model, full-size random checkpoints of three zoo models, the
real manager with its database state sink on the device, and the budgets it is given."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.support import setup_sqlite

# The first load of a process pays for imports and the device libraries' start-up
# (cuBLAS, cuDNN): the warm-up model takes it, so the figures below are the models' own.
WARMUP = "pet-classifier"


@dataclass(frozen=True)
class Subject:
    """A zoo model the check loads, at the registry's size class.

    Each is a ViT (ViT-L width on the GPU) of random fp32 weights sized to just under
    its registry estimate, in the transformers format the entry's loader serves: a
    classifier for the two classification entries, the same checkpoint read as an
    image embedder for ``clip-vit-l``. Full size on the GPU; ``sim_mb`` in simulate
    mode, where the registry estimate still counts (admission takes the larger of the
    estimate and the measure)."""

    name: str
    estimate_mb: int
    sim_mb: int

    def checkpoint_mb(self, simulate: bool) -> int:
        return self.sim_mb if simulate else self.estimate_mb - 48  # one ViT-L layer under


# Largest first: the admission scenario relies on this order.
SUBJECTS = (
    Subject("vehicle-segment-classification", 1500, 15),
    Subject("clip-vit-l", 800, 8),
    Subject("weather-classification", 200, 2),
)
SIM_TOTAL_MB = 8 * 1024  # the simulated device's memory


def say(text: str) -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(f"==> {text}", file=sys.stderr, flush=True)


def prepare(data_dir: Path, *, simulate: bool) -> dict[str, dict[str, Any]]:
    """Django on a fresh SQLite database in ``data_dir``, the warm-up model bootstrapped,
    the three subjects' checkpoints built and the registry pointed at them. Returns each
    subject's checkpoint (path, MB on disk, build seconds)."""
    say(f"database and bootstrap in {data_dir}")
    setup_sqlite(data_dir)
    from django.core.management import call_command

    from inference.bootstrap import build_large_checkpoint
    from models_registry import services

    call_command("zoo_bootstrap", "--only", WARMUP, verbosity=0, stdout=sys.stderr)
    built: dict[str, dict[str, Any]] = {}
    for subject in SUBJECTS:
        size = subject.checkpoint_mb(simulate)
        say(f"building a {size} MB checkpoint for {subject.name}")
        started = time.perf_counter()
        folder = build_large_checkpoint(
            data_dir / "full-size" / subject.name, min_mb=size, width=128 if simulate else 1024
        )
        services.model_set_path(name=subject.name, path=str(folder))
        built[subject.name] = {
            "path": str(folder),
            "files": [str(path) for path in sorted(folder.glob("*.safetensors"))],
            "disk_mb": round(sum(p.stat().st_size for p in folder.iterdir()) / 2**20, 1),
            "build_s": round(time.perf_counter() - started, 2),
        }
    return built


def start_zoo(device: str, *, simulate: bool) -> Any:
    """The process's zoo bound to ``device`` (the simulated one in simulate mode), as a
    worker or ``zoo_run`` binds it: the real manager and its database state sink."""
    from inference.runtime.zoo import ModelZoo

    zoo = ModelZoo()
    if simulate:
        zoo.configure("sim:0", total_memory_mb=SIM_TOTAL_MB, worker="gpu-check")
    else:
        zoo.configure(device, worker="gpu-check")
    return zoo


def set_budget(manager: Any, budget_mb: int) -> None:
    """The device budget (total × ``offload_threshold``) and the zoo pool, both
    ``budget_mb``; policy ``lru``, no CPU fallback. The threshold is written straight
    to the settings row (an operator's form refuses one under 0.05: a check's budget of
    a few GB on a 140 GB card is below that)."""
    from models_registry.models import InferenceSettings

    total = manager.backend.total_memory_mb
    threshold = min(1.0, (budget_mb + 0.5) / total)
    InferenceSettings.objects.filter(pk=1).update(
        offload_threshold=threshold,
        zoo_vram_budget_mb=budget_mb,
        eviction_policy="lru",
        cpu_fallback=False,
    )
    manager.refresh()
    assert manager.backend.budget_mb(threshold) == min(budget_mb, total), "budget rounding"


def image() -> Any:
    """The image every predict reads: 224 x 224, seeded noise."""
    return np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)


def state_row(zoo: Any, name: str) -> dict[str, Any]:
    """The model's state row on the zoo's device, as the APIs read it."""
    from fleet.models import ModelState

    row = ModelState.objects.filter(device=zoo.device, model__name=name).first()
    if row is None:
        return {"status": "unloaded", "last_error": "", "measured_mb": None}
    return {"status": row.status, "last_error": row.last_error, "measured_mb": row.measured_mb}


def event_mark(zoo: Any) -> int:
    """The newest decision-log entry's id: events after it are a scenario's."""
    from fleet.models import ModelEvent

    last = ModelEvent.objects.filter(device=zoo.device).order_by("-id").first()
    return last.pk if last else 0


def events_since(zoo: Any, mark: int, kind: str) -> list[dict[str, Any]]:
    from fleet.models import ModelEvent

    rows = ModelEvent.objects.filter(device=zoo.device, pk__gt=mark, kind=kind).order_by("pk")
    return [{"model": row.model_name, "reason": row.reason, "mb": row.memory_mb} for row in rows]
